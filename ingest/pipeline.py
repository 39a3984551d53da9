"""One document through the pipeline: load -> clean -> structure -> pages -> split -> tag.

`process` is pure (file in, rows out); storing and indexing is `kb.build`'s job.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ingest import policies as policy_extract
from ingest.clean import clean_lines
from ingest.doctype import classify
from ingest.load import RawDocument, load
from ingest.pages import page_map
from ingest.split import split
from ingest.structure import assign_sections, build_blocks
from ingest.tag import region_scope, tag
from kb.errors import DocumentError
from kb.text import tidy

_CIP = re.compile(r"^(?P<title>.+?)\s*[.．]\s*(?P<part>[^/]{0,20}?)\s*/\s*(?P<author>[^/]+?)(?:编著|主编|编写|编|著)\s*[.．]\s*"
                  r"--\s*(?P<place>[^:：]+?)\s*[:：]\s*(?P<publisher>[^,，]+?)\s*[,，]\s*(?P<year>\d{4})")


@dataclass
class Processed:
    document: dict
    passages: list[dict]
    policies: list[dict]
    indicators: list[dict]
    sections: list[dict] = field(default_factory=list)
    raw: RawDocument | None = None


def document_meta(raw: RawDocument) -> dict:
    """Title, author, publisher, place, year: sidecar metadata, else the CIP record, else the first line."""
    meta = {k: v for k, v in raw.meta.items() if v}
    meta["cip"] = False
    if not {"title", "author"} <= meta.keys():
        for page in raw.pages:
            for line in page.text.splitlines():
                m = _CIP.match(tidy(line))
                if m:
                    part = m.group("part").strip()
                    title = m.group("title").strip() + (f"（{part}）" if part else "")
                    meta.setdefault("title", title)
                    meta.setdefault("author", m.group("author").strip())
                    meta.setdefault("place", m.group("place").strip())
                    meta.setdefault("publisher", m.group("publisher").strip())
                    meta.setdefault("year", int(m.group("year")))
                    meta["cip"] = True
                    break
    if "title" not in meta:
        first = next((line for line in _lines(raw) if not _NOT_TITLE.search(line)), "")
        meta["title"] = first.lstrip("# ")[:80] if first else raw.path.stem
    return meta


# lines at the top of a document that are not its title: a 文号, a "XX文件" letterhead, a secrecy mark
_NOT_TITLE = re.compile(r"^[\u4e00-\u9fff]{1,12}〔\s*\d{4}\s*〕\s*\d+\s*号$|文件$|^(?:密级|签发人|特急|加急|★)")


def _lines(raw: RawDocument) -> list[str]:
    return [t for page in raw.pages for t in (tidy(line) for line in page.text.splitlines()) if t]


def passage_id(doc_id: str, section: list[str], text: str, seq: int) -> str:
    digest = hashlib.sha1(("\x1f".join(section) + "\x1e" + text).encode("utf-8")).hexdigest()[:10]
    return f"{doc_id}-{digest}"


MAX_FILE_CHARS = 2_000_000       # defaults of Settings.max_file_chars / max_passages_per_doc
MAX_PASSAGES_PER_DOC = 5_000


def process(path: Path, min_chars: int = 150, max_chars: int = 600, max_file_chars: int = MAX_FILE_CHARS,
            max_passages: int = MAX_PASSAGES_PER_DOC) -> Processed:
    raw = load(path)
    return process_raw(raw, min_chars, max_chars, max_file_chars, max_passages)


def process_raw(raw: RawDocument, min_chars: int = 150, max_chars: int = 600, max_file_chars: int = MAX_FILE_CHARS,
                max_passages: int = MAX_PASSAGES_PER_DOC) -> Processed:
    chars = sum(len(p.text) for p in raw.pages)
    if max_file_chars and chars > max_file_chars:
        raise DocumentError(raw.path, f"too long: {chars:,} characters > {max_file_chars:,}",
                            hint="split the file, or raise KB_MAX_FILE_CHARS")
    meta = document_meta(raw)
    lines = clean_lines(raw)
    info = classify(meta, meta["title"], _lines(raw), has_toc=any(line.kind == "toc" for line in lines),
                    has_cip=meta["cip"])
    blocks = build_blocks(lines)
    assign_sections(blocks, body_title=meta["title"])
    offsets, pos = [], 0
    for block in blocks:
        offsets.append(pos)
        pos += len(block.text) + 1
    text = "\n".join(b.text for b in blocks)
    pmap = page_map(blocks, offsets, lines)
    pieces = split(blocks, offsets, min_chars, max_chars)
    if max_passages and len(pieces) > max_passages:
        raise DocumentError(raw.path, f"too many passages: {len(pieces):,} > {max_passages:,}",
                            hint="split the file, or raise KB_MAX_PASSAGES_PER_DOC")

    passages: list[dict] = []
    seen_ids: set[str] = set()
    for seq, piece in enumerate(pieces):
        pid = passage_id(raw.doc_id, piece.section, piece.text, seq)
        if pid in seen_ids:  # the same text twice in one section: keep ids unique and stable
            pid = f"{pid}-{seq}"
        seen_ids.add(pid)
        tags = tag(piece.text, piece.section, front=piece.front, doc_year=info.doc_year, doc_type=info.doc_type,
                   central=info.central)
        pages = None if piece.front else pmap.span(piece.start, piece.end)
        passages.append({
            "id": pid, "doc_id": raw.doc_id, "seq": seq, "text": piece.text, "section": piece.section,
            "pages": pages, "page_start": pages[0] if pages else None, "page_end": pages[1] if pages else None,
            "start": piece.start, "end": piece.end, "prev_id": None, "next_id": None,
            "kind": tags["kind"], "domain": tags["domain"], "region": tags["region"],
            "region_scope": region_scope(tags["region"]), "year": tags["year"], "instrument": tags["instrument"],
            "doc_year": info.doc_year, "doc_type": info.doc_type, "pages_estimated": int(pmap.estimated),
            "content_hash": hashlib.sha1(piece.text.encode("utf-8")).hexdigest(),
        })
    if not passages:
        raise DocumentError(raw.path, "no usable text left after cleaning (only a title page or page furniture?)")
    for a, b in zip(passages, passages[1:]):
        a["next_id"], b["prev_id"] = b["id"], a["id"]

    sections = []
    for block, off in zip(blocks, offsets):
        if block.kind == "heading":
            page = pmap.page_at(off)
            sections.append({"path": block.section, "rank": block.rank, "title": block.text, "page": page,
                             "start": off})
    own = policy_extract.policy_key(meta["title"])
    found = [p for p in policy_extract.extract(passages) if policy_extract.policy_key(p.title) != own]
    if info.doc_type == "policy_notice":  # the notice itself, with its own number and date
        found.insert(0, policy_extract.own_entry(meta["title"], info.issuer, info.number, info.date,
                                                 [passages[0]["id"]]))
    policies = [
        {"id": p.id, "doc_id": raw.doc_id, "title": p.title, "issuer": p.issuer, "number": p.number,
         "date": p.date, "level": p.level, "type": p.type, "region": p.region, "aliases": p.aliases,
         "passages": p.passages}
        for p in found
    ]
    indicators = _indicators(blocks, offsets, passages, raw.doc_id)
    document = {
        "doc_id": raw.doc_id, "path": str(raw.path), "source": raw.source, "title": meta["title"],
        "sha256": raw.sha256, "fmt": raw.fmt, "author": meta.get("author") or info.issuer,
        "publisher": meta.get("publisher"), "place": meta.get("place"), "year": meta.get("year"),
        "doc_year": info.doc_year, "doc_type": info.doc_type, "number": info.number, "date": info.date,
        "pages_estimated": int(pmap.estimated), "n_passages": len(passages), "text": text,
        "sections": sections, "attachments": info.attachments,
        "meta": {k: v for k, v in meta.items() if k not in ("title", "cip")},
    }
    return Processed(document=document, passages=passages, policies=policies, indicators=indicators,
                     sections=sections, raw=raw)


def _number(cell: str) -> float | None:
    m = re.search(r"-?\d+(?:\.\d+)?", cell.replace(",", ""))
    return float(m.group(0)) if m else None


def _indicators(blocks, offsets, passages, doc_id) -> list[dict]:
    rows = []
    for block, off in zip(blocks, offsets):
        if block.kind != "table" or len(block.rows) < 2:
            continue
        header = block.rows[0]
        holder = next((p["id"] for p in passages if p["start"] <= off + len(block.caption) + 1 <= p["end"] + 1), None)
        for row in block.rows[1:]:
            values = dict(zip(header[1:], row[1:]))
            unit = values.pop("单位", None) or values.pop("Unit", None)
            mean = next((_number(v) for k, v in values.items() if k in ("平均值", "均值", "Mean", "mean")), None)
            median = next((_number(v) for k, v in values.items() if k in ("中位值", "中位数", "Median", "median")), None)
            rows.append({"doc_id": doc_id, "passage_id": holder, "table_caption": block.caption,
                         "indicator": row[0].rstrip("*"), "unit": unit, "mean": mean, "median": median,
                         "values": values})
    return rows
