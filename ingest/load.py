"""Load source files into pages of raw text.

`.txt` and `.md` have no pages (page number None); `.pdf` keeps each page's
number. PDFs are parsed in a child process with a time and memory limit, so a
decompression bomb or a looping cross-reference table ends in a clear error
instead of a hung or killed ingest.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kb.errors import DocumentError
from kb.checksum import file_sha256

SUPPORTED = {".txt", ".md", ".markdown", ".pdf"}
MAX_FILE_BYTES = 200 * 1024 * 1024
PDF_TIMEOUT_S = 60
PDF_MEMORY_BYTES = 2 * 1024 ** 3
PDF_MAX_PAGE_CHARS = 200_000


@dataclass
class Page:
    number: int | None
    text: str


@dataclass(frozen=True)
class Source:
    """A file to ingest and the folder it was found under (the folder given to `kb ingest`, or the
    file's own folder when the file itself was named). `rel`, its path under that folder, is what a
    user recognises; the absolute path tells two files with the same name apart."""
    path: Path
    root: Path

    @classmethod
    def of(cls, path: Path, root: Path | None = None) -> "Source":
        path = Path(os.path.abspath(path))
        return cls(path=path, root=Path(os.path.abspath(root)) if root else path.parent)

    @property
    def rel(self) -> str:
        try:
            return self.path.relative_to(self.root).as_posix()
        except ValueError:
            return self.path.name


@dataclass
class RawDocument:
    path: Path
    doc_id: str
    sha256: str
    fmt: str
    pages: list[Page]
    meta: dict = field(default_factory=dict)
    source: str = ""   # path relative to the ingest root

    def to_json(self) -> str:
        """Everything needed to process the document again without its file."""
        return json.dumps({"path": str(self.path), "doc_id": self.doc_id, "sha256": self.sha256, "fmt": self.fmt,
                           "source": self.source, "meta": self.meta,
                           "pages": [[p.number, p.text] for p in self.pages]}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "RawDocument":
        d = json.loads(text)
        return cls(path=Path(d["path"]), doc_id=d["doc_id"], sha256=d["sha256"], fmt=d["fmt"],
                   pages=[Page(n, t) for n, t in d["pages"]], meta=d.get("meta") or {}, source=d.get("source", ""))


def doc_id_for(source: Source) -> str:
    """Readable and never shared by two files: the path under the ingest root as a slug, plus a short
    hash of the absolute path (two `report.txt` in two folders get two ids)."""
    stem = source.rel.rsplit(".", 1)[0].lower()
    slug = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")[:60].strip("-") or "doc"
    return f"{slug}-{hashlib.sha1(str(source.path).encode('utf-8')).hexdigest()[:6]}"


def find_sources(paths: list[Path]) -> tuple[list[Source], list[str]]:
    """Expand folders into supported files, in a stable order. A missing path, or a named path that is
    no regular file (a FIFO or a device would block the reader), is an error for that path alone."""
    found: list[Source] = []
    errors: list[str] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(Source.of(f, p) for f in sorted(p.rglob("*"))
                         if f.suffix.lower() in SUPPORTED and not f.name.lower().startswith("readme")
                         and _is_regular(f))
        elif not os.path.lexists(p):
            errors.append(f"{p}: no such file or folder")
        elif not _is_regular(p):
            errors.append(f"{p}: not a regular file (a FIFO, device or socket cannot be ingested)")
        else:
            found.append(Source.of(p))
    return found, errors


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def decode_text(data: bytes, path: Path) -> str:
    if not data.strip():
        raise DocumentError(path, "empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:4096]:
        raise DocumentError(path, "binary data, not text")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "gb18030" and not _looks_like_text(text):
            break
        return text
    raise DocumentError(path, "not UTF-8 or GBK/GB18030 text")


def _looks_like_text(text: str) -> bool:
    sample = text[:5000]
    if not sample:
        return False
    printable = sum(1 for ch in sample if ch.isprintable() or ch in "\n\r\t")
    return printable / len(sample) > 0.95


def load(source: Source | Path) -> RawDocument:
    source = source if isinstance(source, Source) else Source.of(Path(source))
    path = source.path
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise DocumentError(path, f"unsupported file type {suffix or '(none)'}; use .txt, .md or .pdf")
    size = path.stat().st_size
    if size == 0:
        raise DocumentError(path, "empty file")
    if size > MAX_FILE_BYTES:
        raise DocumentError(path, f"file too large ({size // 2**20} MiB > {MAX_FILE_BYTES // 2**20} MiB)")
    sha = file_sha256(path)
    meta = _sidecar_meta(path)
    if suffix == ".pdf":
        with open(path, "rb") as fh:
            head = fh.read(1024)
        if b"%PDF-" not in head:
            raise DocumentError(path, "not a PDF file (no %PDF header): a binary or renamed file?")
        pages, pdf_meta = _load_pdf(path)
        meta = {**pdf_meta, **meta}
        fmt = "pdf"
    else:
        text = decode_text(path.read_bytes(), path)
        pages = [Page(None, text)]
        fmt = "md" if suffix in {".md", ".markdown"} else "txt"
    if not any(p.text.strip() for p in pages):
        raise DocumentError(path, "no extractable text (a scanned PDF needs OCR first)")
    return RawDocument(path=path, doc_id=doc_id_for(source), sha256=sha, fmt=fmt, pages=pages, meta=meta,
                       source=source.rel)


SIDECAR_TEXT_FIELDS = ("title", "author", "publisher", "place", "doc_id", "doc_type", "source")
SIDECAR_MAX_CHARS = 1000


def _sidecar_meta(path: Path) -> dict:
    """Optional `<file>.meta.json` beside a document: title, author, publisher, year...
    A sidecar that is not an object, or has a wrongly typed field, is this document's error."""
    side = path.with_name(path.name + ".meta.json")
    if not side.exists():
        return {}
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DocumentError(side, f"unreadable metadata: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}") \
            from exc
    if not isinstance(meta, dict):
        raise DocumentError(side, f"metadata must be a JSON object, not {_json_type(meta)}")
    for key in SIDECAR_TEXT_FIELDS:
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            raise DocumentError(side, f"{key!r} must be a string, not {_json_type(value)}")
        if isinstance(value, str) and len(value) > SIDECAR_MAX_CHARS:
            raise DocumentError(side, f"{key!r} is longer than {SIDECAR_MAX_CHARS} characters")
    year = meta.get("year")
    if isinstance(year, str) and year.strip().isdigit():
        year = meta["year"] = int(year.strip())
    if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not 1000 <= year <= 9999):
        raise DocumentError(side, f"'year' must be a four-digit number, not {json.dumps(year, ensure_ascii=False)[:40]}")
    return meta


def _json_type(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _load_pdf(path: Path) -> tuple[list[Page], dict]:
    cmd = [sys.executable, "-m", "ingest.pdf_worker", str(path)]
    env = dict(os.environ, KB_PDF_MEMORY=str(PDF_MEMORY_BYTES), KB_PDF_MAX_PAGE_CHARS=str(PDF_MAX_PAGE_CHARS))
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=PDF_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise DocumentError(path, f"PDF took longer than {PDF_TIMEOUT_S}s to parse (looping or oversized structure)")
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = err[-1] if err else f"parser exited with code {proc.returncode}"
        if proc.returncode < 0 or "MemoryError" in reason:
            reason = "PDF needs more memory than allowed to parse (decompression bomb?)"
        raise DocumentError(path, reason.removeprefix("ERROR: "))
    try:
        data = json.loads(proc.stdout.decode("utf-8"))
    except ValueError:
        raise DocumentError(path, "PDF parser gave no readable output") from None
    return [Page(p["number"], p["text"]) for p in data["pages"]], data.get("meta", {})
