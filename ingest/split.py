"""Split a structured document into passages.

A passage never crosses a heading (section boundary) or a table; it ends on a
sentence end (。；！？); paragraphs shorter than `min_chars` are merged with the
next paragraph of the same section; longer than `max_chars` are cut between
sentences into near-equal pieces.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ingest.structure import Block

_SENTENCE = re.compile(r".+?(?:[。！？；!?;]+[”’」』）)]*|$)", re.S)


@dataclass
class Piece:
    text: str
    start: int        # offset in the cleaned document
    end: int
    section: list[str]
    front: bool
    table: bool = False


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.findall(text) if s]


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


def split(blocks: list[Block], offsets: list[int], min_chars: int, max_chars: int) -> list[Piece]:
    pieces: list[Piece] = []
    pending: Piece | None = None
    headings: list[tuple[str, int]] = []   # headings waiting for their section's first passage

    def flush():
        nonlocal pending
        if pending is not None:
            pieces.append(pending)
        pending = None

    for block, off in zip(blocks, offsets):
        if block.kind == "heading":
            flush()
            headings.append((block.text, off))
            continue
        if block.kind == "table":
            flush()
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
        cursor = off
        for part in _cut(block.text, max_chars):
            piece = Piece(part, cursor, cursor + len(part), block.section, block.front)
            cursor += len(part)
            if headings:
                # the first passage of a section carries its heading line(s): contiguous in the document
                head = "\n".join(text for text, _ in headings)
                piece = Piece(head + "\n" + piece.text, headings[0][1], piece.end, piece.section, piece.front)
                headings = []
            if pending is not None and pending.section == piece.section and len(pending.text) < min_chars \
                    and len(pending.text) + len(piece.text) <= max_chars * 1.5:
                pending = Piece(pending.text + "\n" + piece.text, pending.start, piece.end, pending.section, pending.front)
                continue
            flush()
            pending = piece
    flush()
    return pieces
