"""Page numbers for every block.

A PDF knows the page of each line. A `.txt` extracted from a book does not, but
its table of contents gives the printed page on which each section starts:
headings are matched to TOC entries in order, and offsets between two known
headings are interpolated (estimated pages are flagged as such).
"""
from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass, field

from ingest.clean import Line, _TOC_LINE
from ingest.structure import Block, parse_heading


@dataclass
class PageMap:
    anchors: list[tuple[int, int]]   # (document offset, page), sorted
    estimated: bool                  # True when interpolated from the TOC
    chars_per_page: float = 0.0
    opens_page: set[int] = field(default_factory=set)   # anchor offsets of chapters, which start a new page

    def page_at(self, offset: int) -> int | None:
        if not self.anchors or offset < self.anchors[0][0]:
            return None
        offsets = [a for a, _ in self.anchors]
        i = bisect.bisect_right(offsets, offset) - 1
        off, page = self.anchors[i]
        if not self.estimated:
            return page
        if i + 1 < len(self.anchors):
            nxt_off, nxt_page = self.anchors[i + 1]
            if nxt_page <= page or nxt_off == off:
                return page
            # linear between the two section starts. A chapter opens a new page, so the text before it
            # ends on the page before; a lower heading may start mid-page, after text on its own page.
            last = max(page, nxt_page - 1) if nxt_off in self.opens_page else nxt_page
            frac = (offset - off) / (nxt_off - off)
            return page + int(frac * (last - page + 0.999))
        if self.chars_per_page:
            return page + int((offset - off) / self.chars_per_page)
        return page

    def span(self, start: int, end: int) -> list[int] | None:
        first, last = self.page_at(start), self.page_at(max(start, end - 1))
        if first is None:
            return None
        return [first, max(first, last or first)]


def toc_entries(lines: list[Line]) -> list[tuple[str, int]]:
    entries = []
    for line in lines:
        if line.kind != "toc":
            continue
        m = _TOC_LINE.match(line.text) or re.match(r"^(?P<title>.+?)(?P<page>\d{1,4})$", line.text)
        if m:
            entries.append((m.group("title").strip(), int(m.group("page"))))
    return entries


def _key(title: str) -> str:
    heading = parse_heading(title)
    if heading:
        title = heading[2]
    title = unicodedata.normalize("NFKC", title)
    return re.sub(r"[\W_]+", "", title)


def page_map(blocks: list[Block], offsets: list[int], lines: list[Line]) -> PageMap:
    """Build the page map from PDF pages when present, else from the TOC."""
    if any(line.page is not None for line in lines):
        anchors = []
        for block, off in zip(blocks, offsets):
            for rel, page in block.marks:
                if page is not None:
                    anchors.append((off + rel, page))
        anchors.sort()
        return PageMap(anchors=anchors, estimated=False)
    entries = toc_entries(lines)
    anchors: list[tuple[int, int]] = []
    chapters: set[int] = set()
    pos = 0
    for block, off in zip(blocks, offsets):
        if block.kind != "heading":
            continue
        key = _key(block.text)
        for j in range(pos, min(pos + 8, len(entries))):
            if _key(entries[j][0]) == key:
                anchors.append((off, entries[j][1]))
                if block.rank == 1:
                    chapters.add(off)
                pos = j + 1
                break
    if len(anchors) < 2:
        return PageMap(anchors=anchors, estimated=True)
    span_chars = anchors[-1][0] - anchors[0][0]
    span_pages = anchors[-1][1] - anchors[0][1]
    cpp = span_chars / span_pages if span_pages > 0 else 0.0
    return PageMap(anchors=anchors, estimated=True, chars_per_page=cpp, opens_page=chapters)
