"""Split a structured document into passages.

A passage never crosses a heading (section boundary) or a table; it ends on a
sentence end (。；！？); paragraphs shorter than `min_chars` are merged with the
next paragraph of the same section; longer than `max_chars` are cut between
sentences into near-equal pieces. A run of tiny sections (a heading and a line,
over and over) is packed into passages of about `min_chars`, so a file of ten
thousand headings does not give ten thousand passages of a few characters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ingest.structure import Block
from kb.sentences import SENTENCE as _SENTENCE
from kb.sentences import sentences


@dataclass
class Piece:
    text: str
    start: int        # offset in the cleaned document
    end: int
    section: list[str]
    front: bool
    table: bool = False


def _cut(text: str, max_chars: int) -> list[str]:
    """Cut one long paragraph between sentences into about equal pieces <= max_chars."""
    if len(text) <= max_chars:
        return [text]
    sents = sentences(text)
    if len(sents) <= 1:
        return [text[i: i + max_chars] for i in range(0, len(text), max_chars)]
    parts = math.ceil(len(text) / max_chars)
    target = len(text) / parts
    pieces, current = [], ""
    for s in sents:
        if current and (len(current) + len(s) > max_chars or len(current) >= target):
            pieces.append(current)
            current = ""
        current += s
    if current:
        pieces.append(current)
    return pieces


def _units(text: str, max_chars: int) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`; sentences longer than `max_chars` are cut."""
    units = []
    for m in _SENTENCE.finditer(text):
        a, b = m.span()
        if a == b:
            continue
        while b - a > max_chars:
            units.append((a, a + max_chars))
            a += max_chars
        units.append((a, b))
    return units


def _pack(units: list[tuple[int, int]], min_chars: int, max_chars: int) -> list[tuple[int, int]]:
    """Group consecutive sentences into spans of near-equal size <= max_chars, none below
    min_chars unless the whole run is."""
    total = units[-1][1] - units[0][0]
    if total <= max_chars:
        return [(units[0][0], units[-1][1])]
    target = total / math.ceil(total / max_chars)
    groups: list[list[tuple[int, int]]] = [[]]
    for u in units:
        cur = groups[-1]
        if cur and (u[1] - cur[0][0] > max_chars or cur[-1][1] - cur[0][0] >= target):
            groups.append([])
        groups[-1].append(u)
    if len(groups) > 1 and groups[-1][-1][1] - groups[-1][0][0] < min_chars:
        # rebalance the last two groups
        both = groups[-2] + groups[-1]
        if both[-1][1] - both[0][0] <= max_chars:
            groups[-2:] = [both]
        else:
            best = None
            for k in range(1, len(both)):
                a = both[k - 1][1] - both[0][0]
                b = both[-1][1] - both[k][0]
                if a <= max_chars and b <= max_chars and (best is None or max(a, b) < best[0]):
                    best = (max(a, b), k)
            if best:
                groups[-2:] = [both[:best[1]], both[best[1]:]]
    return [(g[0][0], g[-1][1]) for g in groups]


def split(blocks: list[Block], offsets: list[int], min_chars: int, max_chars: int) -> list[Piece]:
    """Passages: the paragraphs of one section between two headings or tables are packed
    together, cut between sentences; a section's first passage carries its heading lines."""
    pieces: list[Piece] = []
    headings: list[tuple[str, int]] = []   # headings waiting for their section's first passage
    run: list[tuple[Block, int]] = []      # consecutive paragraphs of one section

    def flush_run():
        nonlocal headings
        if not run:
            return
        # paragraphs stay whole (long ones cut between sentences into near-equal parts);
        # a paragraph shorter than min_chars joins its neighbour when both fit in max_chars
        spans: list[tuple[int, int]] = []
        for block, off in run:
            units = _units(block.text, max_chars)
            if not units:
                continue
            for a, b in _pack(units, min_chars, max_chars):
                body = block.text[a:b]
                lead = len(body) - len(body.lstrip())
                body = body.strip()
                if body:
                    spans.append((off + a + lead, off + a + lead + len(body)))
        merged: list[tuple[int, int]] = []
        for a, b in spans:
            if merged:
                pa, pb = merged[-1]
                if (pb - pa < min_chars or b - a < min_chars) and b - pa <= max_chars:
                    merged[-1] = (pa, b)
                    continue
            merged.append((a, b))
        first_block, start = run[0]
        text = "\n".join(b.text for b, _ in run)
        for a, b in merged:
            piece = Piece(text[a - start:b - start], a, b, first_block.section, first_block.front)
            if headings:
                head = "\n".join(t for t, _ in headings)
                piece = Piece(head + "\n" + piece.text, headings[0][1], piece.end, piece.section, piece.front)
                headings = []
            pieces.append(piece)
        run.clear()

    for block, off in zip(blocks, offsets):
        if block.kind == "heading":
            flush_run()
            headings.append((block.text, off))
            continue
        if block.kind == "table":
            flush_run()
            headings = []
            start = off
            chunk: list[str] = []
            for row in block.text.split("\n"):
                if chunk and len("\n".join(chunk + [row])) > max_chars:
                    text = "\n".join(chunk)
                    pieces.append(Piece(text, start, start + len(text), block.section, block.front, table=True))
                    start += len(text) + 1
                    chunk = []
                chunk.append(row)
            text = "\n".join(chunk)
            pieces.append(Piece(text, start, start + len(text), block.section, block.front, table=True))
            continue
        if run and (run[-1][0].section != block.section or run[-1][0].front != block.front
                    or run[-1][1] + len(run[-1][0].text) + 1 != off):
            flush_run()
        run.append((block, off))
    flush_run()
    return merge_tiny(pieces, min_chars, max_chars)


def merge_tiny(pieces: list[Piece], min_chars: int, max_chars: int) -> list[Piece]:
    """Pack runs of two or more tiny passages (under a third of `min_chars`: a heading and a line)
    into passages of about `min_chars`; the packed passage keeps its first section. A lone short
    passage between normal ones stays as it is."""
    tiny = max(1, min_chars // 3)

    def is_tiny(p: Piece) -> bool:
        return len(p.text) < tiny and not p.table

    out: list[Piece] = []
    packing = False          # the last piece of `out` is a pack of tiny pieces still below min_chars
    for i, piece in enumerate(pieces):
        nxt = pieces[i + 1] if i + 1 < len(pieces) else None
        if is_tiny(piece) and out and packing and out[-1].front == piece.front \
                and len(out[-1].text) + 1 + len(piece.text) <= max_chars:
            last = out[-1]
            out[-1] = Piece(last.text + "\n" + piece.text, last.start, piece.end, last.section, last.front)
            packing = len(out[-1].text) < min_chars
            continue
        out.append(piece)
        packing = is_tiny(piece) and nxt is not None and is_tiny(nxt)
    return out
