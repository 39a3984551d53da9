"""Sentences and headings of Chinese policy text: a language resource shared by ingest and answers.

`sentences` cuts a paragraph after each sentence end (。！？；!?; with any closing quote or bracket).
`parse_heading` recognises a heading line: Chinese reports number their headings `一、` > `（一）` > `1.` >
`（1）` > `1）` > `一是`; regulations number articles `第十二条`; Markdown uses `#`.
"""
from __future__ import annotations

import re

SENTENCE = re.compile(r".+?(?:[。！？；!?;]+[”’」』）)]*|$)", re.DOTALL)

CN_NUM = "一二三四五六七八九十"
_PATTERNS = [
    (1, re.compile(rf"^(?P<num>[{CN_NUM}]+)、\s*(?P<rest>.+)$")),
    (1, re.compile(rf"^第(?P<num>[{CN_NUM}\d]+)[章部篇]\s*(?P<rest>.+)$")),
    (2, re.compile(rf"^[（(]\s*(?P<num>[{CN_NUM}]+)\s*[）)]\s*(?P<rest>.+)$")),
    (3, re.compile(r"^(?P<num>\d{1,2})\s*[.．、](?!\d)\s*(?P<rest>.+)$")),
    (4, re.compile(r"^[（(]\s*(?P<num>\d{1,2})\s*[）)]\s*(?P<rest>.+)$")),
    (5, re.compile(r"^(?P<num>\d{1,2})\s*[)）]\s*(?P<rest>.+)$")),
    (6, re.compile(rf"^(?P<num>[{CN_NUM}]{{1,2}})是(?P<rest>.+)$")),
]
# articles of a regulation or measure: "第十二条　text..." (the article is its own section, its text the body)
_ARTICLE = re.compile(rf"^第(?P<num>[{CN_NUM}百零〇\d]{{1,6}})条\s*(?P<rest>.*)$")
_MD_HEADING = re.compile(r"^(?P<hashes>#{1,6})\s*(?P<rest>[^#\s].*)$")
_LABEL = {1: "{num}、", 2: "（{num}）", 3: "{num}. ", 4: "（{num}）", 5: "{num}）", 6: "{num}是"}
MAX_HEADING_CHARS = 60
MAX_INLINE_TITLE_CHARS = 40


def sentences(text: str) -> list[str]:
    return [s for s in SENTENCE.findall(text) if s]


def parse_heading(text: str) -> tuple[int, str, str, str] | None:
    """(rank, label, title, inline body) for a heading line, else None."""
    m = _MD_HEADING.match(text)
    if m:
        inner = parse_heading(m.group("rest"))
        rank = len(m.group("hashes"))
        if inner:
            return rank, inner[1], inner[2], inner[3]
        return rank, "", m.group("rest").strip(), ""
    m = _ARTICLE.match(text)
    if m:
        label = f"第{m.group('num')}条"
        return 1.5, label, "", m.group("rest").strip()
    for rank, pattern in _PATTERNS:
        m = pattern.match(text)
        if not m:
            continue
        rest = m.group("rest").strip()
        label = _LABEL[rank].format(num=m.group("num")) if text[0] != "第" else text[: m.start("rest")].strip() + " "
        if len(rest) <= MAX_HEADING_CHARS and not re.search(r"[。！？]", rest[:-1]) and not _looks_like_sentence(rest):
            return rank, label, rest.rstrip("。"), ""
        cut = re.search(r"[。！？]", rest)
        if cut and cut.start() <= MAX_INLINE_TITLE_CHARS and rest[cut.end():].strip():
            return rank, label, rest[: cut.start()], rest[cut.end():].strip()
        if rank == 6 and cut and cut.start() <= MAX_INLINE_TITLE_CHARS:
            return rank, label, rest[: cut.start()], ""
        return None
    return None


def _looks_like_sentence(rest: str) -> bool:
    # a short line that ends a sentence with a number or unit is prose, not a title
    return bool(re.search(r"\d[%万亿吨个项家]*[。；]$", rest))
