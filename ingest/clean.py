"""Clean raw pages into classified lines.

Each physical line is tidied (see `kb.text.tidy`) and labelled: text, blank,
table row, figure caption, footnote, table-of-contents entry or page furniture.
Joining lines into paragraphs and finding headings is `structure`'s job.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.load import RawDocument
from kb.text import cjk_count, has_cjk, tidy

_TOC_LINE = re.compile(r"^(?P<title>\S.*?)(?:\s*[.·…]{2,}\s*|\t+\s*|\s{2,})(?P<page>\d{1,4})$")
_CAPTION = re.compile(r"^(图|Figure|Fig\.)\s*\d+(?![\d.．%,，])")
_TABLE_CAPTION = re.compile(r"^(表|Table)\s*\d+(?![\d.．%,，])")
_FOOTNOTE = re.compile(r"^\^?[①-⑳]")
_CONTINUED_TABLE = re.compile(r"^(续表|续上表|\(续\)|（续）)\s*\d*$")
_MD_NOISE = re.compile(r"^(\*\*|__)|(\*\*|__)$")


@dataclass
class Line:
    text: str
    page: int | None
    kind: str  # text | blank | table | caption | table_caption | footnote | toc | noise


def classify(raw: str, chinese_doc: bool) -> tuple[str, str]:
    stripped = raw.strip()
    if not stripped:
        return "blank", ""
    if "\t" in stripped and len([c for c in stripped.split("\t") if c.strip()]) >= 2 and not _TOC_LINE.match(stripped):
        cells = [tidy(c) for c in stripped.split("\t") if c.strip()]
        return "table", "\t".join(cells)
    text = tidy(_MD_NOISE.sub("", stripped))
    if not text:
        return "blank", ""
    if _TOC_LINE.match(stripped) and len(text) < 120:
        return "toc", text
    if _CONTINUED_TABLE.match(text):
        return "noise", text
    if _CAPTION.match(text):
        return "caption", text
    if _TABLE_CAPTION.match(text) and len(text) < 60:
        return "table_caption", text
    if _FOOTNOTE.match(text):
        return "footnote", text
    if chinese_doc and not has_cjk(text) and not text.startswith("#"):
        return "noise", text
    return "text", text


def clean_lines(doc: RawDocument) -> list[Line]:
    """Classify every line of every page; table-of-contents runs need 3+ entries."""
    raw_lines = [(line, page.number) for page in doc.pages for line in page.text.splitlines()]
    total_cjk = sum(cjk_count(l) for l, _ in raw_lines)
    chinese_doc = total_cjk > 0.3 * max(1, sum(len(l.strip()) for l, _ in raw_lines))
    lines = []
    for raw, page in raw_lines:
        kind, text = classify(raw, chinese_doc)
        lines.append(Line(text=text, page=page, kind=kind))
    _demote_isolated_toc(lines)
    return lines


def _demote_isolated_toc(lines: list[Line]) -> None:
    """A lone 'title  12' line is text, not a table of contents: TOC entries come in runs."""
    content = [i for i, l in enumerate(lines) if l.kind != "blank"]
    for pos, i in enumerate(content):
        if lines[i].kind != "toc":
            continue
        window = content[max(0, pos - 2): pos + 3]
        if sum(1 for j in window if lines[j].kind == "toc") < 3:
            lines[i].kind = "text"
