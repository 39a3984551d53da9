"""A word-by-word English gloss of short Chinese labels (section headings, indicator names).

Longest match first: the field glossary (Chinese → its first English phrase), the gazetteer's English
place names, then each remaining word's first CC-CEDICT sense. A gloss, not a translation: it tells an
English reader what a heading is about.
"""
from __future__ import annotations

import re
from functools import lru_cache

from kb.gazetteer import gazetteer
from kb.query import DATA
from kb.text import has_cjk

MAX_PHRASE = 10
SKIP = set("的和与及等之")
PUNCT = set("、，,：:（）()“”\"《》。；;")
_NUMBERING = re.compile(r"^\s*(?:[一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十\d]+[)）]|\d+[.．、)）])\s*")


@lru_cache(maxsize=1)
def _phrases() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (DATA / "glossary.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) >= 2:
            for zh in parts[1].split("|"):
                zh = zh.strip()
                if len(zh) >= 2:
                    out.setdefault(zh, parts[0].strip())
    for name, place in gazetteer().places.items():
        if place.en:
            out.setdefault(name, place.en)
    return out


@lru_cache(maxsize=1)
def _words() -> dict[str, str]:
    from kb.query import _cedict_glosses

    out: dict[str, str] = {}
    for simp, rank, gloss, note in _cedict_glosses():
        if not note and (simp not in out or rank == 0 and out[simp] is None):
            out.setdefault(simp, gloss)
    return out


@lru_cache(maxsize=4096)
def gloss(text: str) -> str:
    """English gloss of a Chinese label; '' when the label has no Chinese or nothing could be glossed."""
    if not text or not has_cjk(text):
        return ""
    text = _NUMBERING.sub("", text).strip()
    phrases, words = _phrases(), _words()
    out: list[str] = []
    glossed = 0
    i = 0
    while i < len(text):
        for n in range(min(MAX_PHRASE, len(text) - i), 1, -1):
            piece = text[i:i + n]
            if piece in phrases:
                out.append(phrases[piece])
                glossed += 1
                i += n
                break
        else:
            # no glossary phrase starts here: the longest dictionary word, else one character
            if has_cjk(text[i]):
                n = next((n for n in range(min(MAX_PHRASE, len(text) - i), 1, -1) if text[i:i + n] in words), 1)
            else:   # a run of digits or Latin letters stays whole
                n = next((j for j in range(i + 1, len(text)) if has_cjk(text[j]) or text[j] in PUNCT), len(text)) - i
            word = text[i:i + n]
            if has_cjk(word):
                en = words.get(word)
                if en and (n > 1 or word not in SKIP):
                    out.append(en)
                    glossed += 1
                elif word not in SKIP:
                    out.append(word)
            elif word.strip() and word not in PUNCT:
                out.append(word.strip())
            i += n
    if not glossed:
        return ""
    return re.sub(r"\s+", " ", " ".join(out)).strip()
