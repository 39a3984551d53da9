"""Recover the document's structure: paragraphs, headings, tables, sections.

Chinese policy reports number their headings `一、` > `（一）` > `1.` > `（1）` > `1）`
> `一是`; Markdown uses `#`. A line that repeats an open heading (a running head
printed at the top of a page) is dropped. Lines cut by a page break (a line
ending mid-sentence) are joined back, across blank lines, footnotes, figure
captions and running heads.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.clean import Line
from kb.sentences import parse_heading

_TERMINAL = set("。！？；…!?;：:")
_CLOSERS = set("”’）」』)】")
_BULLET = re.compile(r"^(?:[-•·▪●○◆■◇□※►▶✓√]|\*(?!\*))\s*\S")


@dataclass
class Block:
    kind: str                      # heading | para | table
    text: str
    marks: list[tuple[int, int | None]] = field(default_factory=list)  # (offset in text, page)
    rank: int = 0                  # headings
    label: str = ""                # headings: canonical numbering, e.g. "（一）"
    title: str = ""                # headings: title without numbering
    rows: list[list[str]] = field(default_factory=list)  # tables: header first
    caption: str = ""              # tables
    notes: list[str] = field(default_factory=list)       # tables
    section: list[str] = field(default_factory=list)     # filled by assign_sections
    front: bool = False            # text before the first heading


def is_terminated(text: str) -> bool:
    text = text.rstrip()
    if not text:
        return True
    if text[-1] in _TERMINAL:
        return True
    if text[-1] == "." and len(text) > 1 and (text[-2].isalpha() or text[-2] in ")]\"'"):
        return True  # an English sentence
    return text[-1] in _CLOSERS and len(text) > 1 and text[-2] in _TERMINAL


def build_blocks(lines: list[Line]) -> list[Block]:
    blocks: list[Block] = []
    para: Block | None = None
    footnotes: list[Block] = []
    open_headings: dict[int, str] = {}
    # a document without any heading is all body: nothing is front matter to filter out
    seen_heading = not any(l.kind == "text" and parse_heading(l.text) for l in lines)
    after_caption = False
    table: Block | None = None

    def close_para():
        nonlocal para
        if para is not None and para.text.strip():
            blocks.append(para)
        para = None
        while footnotes:
            blocks.append(footnotes.pop(0))

    def close_table():
        nonlocal table
        if table is not None:
            blocks.append(table)
        table = None

    def add_text(text: str, page: int | None, front: bool):
        nonlocal para
        if para is not None and not is_terminated(para.text):
            para.marks.append((len(para.text), page))
            para.text += text
        else:
            close_para()
            para = Block(kind="para", text=text, marks=[(0, page)], front=front)

    for line in lines:
        kind, text = line.kind, line.text
        if kind in ("blank", "toc", "noise"):
            continue
        if kind == "table":
            cells = text.split("\t")
            if table is None:
                close_para()
                caption = ""
                if blocks and blocks[-1].kind == "para" and blocks[-1].text.startswith(("表", "Table")) and len(blocks[-1].text) < 60:
                    caption = blocks.pop().text
                table = Block(kind="table", text="", marks=[(0, line.page)], rows=[cells], caption=caption)
            elif cells != table.rows[0]:
                table.rows.append(cells)
            continue
        if table is not None:
            if kind == "text" and re.match(r"^(资料来源|来源|注|数据来源|\*)", text):
                table.notes.append(text)
                continue
            close_table()
        if kind == "caption":
            after_caption = True
            continue
        if kind == "table_caption":
            close_para()
            blocks.append(Block(kind="para", text=text, marks=[(0, line.page)]))
            continue
        if kind == "footnote":
            footnotes.append(Block(kind="para", text=text, marks=[(0, line.page)], front=not seen_heading))
            continue
        heading = parse_heading(text)
        if heading:
            rank, label, title, body = heading
            if open_headings.get(rank) == title and not body:
                continue  # running head repeated at the top of a page
            after_caption = False
            close_para()
            seen_heading = True
            open_headings = {r: t for r, t in open_headings.items() if r < rank}
            open_headings[rank] = title
            blocks.append(Block(kind="heading", text=f"{label}{title}".strip(), marks=[(0, line.page)],
                                rank=rank, label=label, title=title))
            if body:
                para = Block(kind="para", text=body, marks=[(0, line.page)])
            continue
        short = len(text) < 30 and not is_terminated(text) and not _BULLET.match(text)
        if after_caption and short and (para is None or is_terminated(para.text)):
            continue  # second line of a wrapped figure caption
        after_caption = False
        if not seen_heading:
            # front matter: keep real prose (prefaces, summaries), drop title pages and imprint
            if len(text) >= 60 and "。" in text:
                add_text(text, line.page, front=True)
            continue
        if short and len(text) < 20 and (para is None or is_terminated(para.text)):
            continue  # page furniture (running titles, publisher lines)
        add_text(text, line.page, front=False)
    close_table()
    close_para()
    _render_tables(blocks)
    return blocks


def _render_tables(blocks: list[Block]) -> None:
    """Tables become readable text: one line per row, `name（unit）：col value，...`."""
    for block in blocks:
        if block.kind != "table":
            continue
        header, rows = block.rows[0], block.rows[1:]
        lines = [block.caption] if block.caption else []
        for row in rows:
            lines.append(render_row(header, row))
        lines.extend(block.notes)
        block.text = "\n".join(lines)


def render_row(header: list[str], row: list[str]) -> str:
    name = row[0]
    parts = []
    unit = ""
    for head, cell in zip(header[1:], row[1:]):
        if head in ("单位", "Unit", "unit"):
            unit = cell
            continue
        parts.append(f"{head}{cell}")
    label = f"{name}（{unit}）" if unit else name
    return f"{label}：{'，'.join(parts)}。"


def assign_sections(blocks: list[Block], front_title: str = "前言", body_title: str | None = None) -> None:
    """Section paths from the headings; text before the first heading is front matter. A
    document without headings is one section named `body_title` (its title), not front matter."""
    if body_title and not any(b.kind == "heading" for b in blocks):
        for block in blocks:
            block.section = [body_title]
            block.front = False
        return
    path: list[tuple[int, str]] = []
    for block in blocks:
        if block.kind == "heading":
            path = [p for p in path if p[0] < block.rank] + [(block.rank, block.text)]
            block.section = [t for _, t in path]
        elif block.front or not path:
            block.section = [front_title]
            block.front = True
        else:
            block.section = [t for _, t in path]
