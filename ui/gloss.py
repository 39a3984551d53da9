"""English glosses of short Chinese labels (section headings, indicator names) for English readers.

The words come from `kb.gist` (gazetteer, field glossary, CC-CEDICT, figures), the same gist the answers
give their statements; here a heading's numbering (一、 （二） 2.) is dropped first and the punctuation
left by untranslated pieces is tidied. A gloss, not a translation: it tells what a heading is about.
"""
from __future__ import annotations

import re
from functools import lru_cache

from kb.gist import gist
from kb.text import has_cjk

_NUMBERING = re.compile(r"^\s*(?:[一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十\d]+[)）]|\d+[.．、)）])\s*")
_EMPTY = re.compile(r"\(\s*\)|\"\s*\"|“\s*”")


@lru_cache(maxsize=4096)
def gloss(text: str) -> str:
    """English gloss of a Chinese label; '' when the label has no Chinese or nothing could be glossed."""
    if not text or not has_cjk(text):
        return ""
    g = gist(_NUMBERING.sub("", text).strip())
    en = _EMPTY.sub("", g.en)
    en = re.sub(r"\s+", " ", re.sub(r"^[\s,.;:]+|[\s,;:]+$", "", en)).strip()
    return en if g.coverage > 0 and re.search("[A-Za-z]", en) else ""
