"""Text normalisation and Chinese segmentation, shared by ingest and search.

Two normal forms:
- `tidy` is for stored, displayed text: full-width letters and digits become
  half-width, stray spaces inside Chinese text and numbers go, Chinese
  punctuation stays Chinese.
- `fold` is for matching: NFKC, lower case, no zero-width characters, single
  spaces. Index and query go through the same `fold` and the same tokenizer.
"""
from __future__ import annotations

import logging
import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"

CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_PUNCT = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65\u2014\u2018\u2019\u201c\u201d\u2026\u00b7"
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_CJK_CHAR = re.compile(f"[{CJK}]")


def has_cjk(text: str) -> bool:
    return bool(_CJK_CHAR.search(text))


def cjk_count(text: str) -> int:
    return len(_CJK_CHAR.findall(text))


def _halfwidth_alnum(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if 0xFF10 <= code <= 0xFF19 or 0xFF21 <= code <= 0xFF3A or 0xFF41 <= code <= 0xFF5A:
            out.append(chr(code - 0xFEE0))
        elif ch == "\u3000":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


_SPACE_NEAR_CJK = re.compile(f"(?<=[{CJK}{CJK_PUNCT}])[ \t]+|[ \t]+(?=[{CJK}{CJK_PUNCT}])")
_DIGIT_GROUP = re.compile(r"(?<=\d) (?=\d{3}(?!\d))|(?<=\.\d{3}) (?=\d)")
_SPACE_AROUND_OP = re.compile(r"(?<=[\d%A-Za-z.]) *([~/～]) *(?=[\d.A-Za-z])")
_CJK_PAREN = re.compile(r"\(([^()]*[" + CJK + r"][^()]*)\)")
_ASCII_PUNCT_CJK = re.compile(f"(?<=[{CJK}\\d%”）])\\s*([,;:])\\s*(?=[{CJK}\\d“（《])")
_FULL = {",": "，", ";": "；", ":": "："}


def tidy(text: str) -> str:
    """Normalise text for storage and display (keeps Chinese punctuation)."""
    text = _ZERO_WIDTH.sub("", text)
    text = _halfwidth_alnum(text)
    text = text.replace("\xa0", " ")
    text = re.sub(r"\^(?=[①-⑳*])", "", text)
    text = _DIGIT_GROUP.sub("", text)
    text = _SPACE_AROUND_OP.sub(r"\1", text)
    text = _SPACE_NEAR_CJK.sub("", text)
    text = _ASCII_PUNCT_CJK.sub(lambda m: _FULL[m.group(1)], text)
    text = _CJK_PAREN.sub(r"（\1）", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    return text.strip()


def fold(text: str) -> str:
    """Normal form for matching: NFKC, lower case, no zero-width, single spaces."""
    text = unicodedata.normalize("NFKC", _ZERO_WIDTH.sub("", text or ""))
    return re.sub(r"\s+", " ", text).strip().lower()


def squash(text: str) -> str:
    """NFKC without any whitespace: the form anchors are matched in."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))


# ---------------------------------------------------------------- tokenizer

@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    words = set()
    for line in (DATA / "stopwords.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.add(fold(line))
    return frozenset(words)


def _read_terms() -> list[str]:
    """Domain terms for jieba: the field's terms list only. Glossary forms are not added: each would
    change how the whole index is segmented, and adding them all measured worse on the English tuning
    queries and no better on the held-out set (eval/RESULTS.md, "Lexicon")."""
    terms = []
    for line in (DATA / "terms.txt").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            terms.append(line)
    return terms


class Segmenter:
    """jieba with the domain dictionary, loaded once per process."""

    _lock = threading.Lock()

    def __init__(self, extra_terms: list[str] | None = None):
        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        for term in _read_terms() + list(extra_terms or []):
            term = fold(term).replace(" ", "")
            if len(term) >= 2 and has_cjk(term):
                self._jieba.add_word(term, freq=max(2000, 200 * len(term)))
        self.stop = stopwords()

    def words(self, text: str) -> list[str]:
        """Whole words (longest dictionary matches), folded, no stop words."""
        with self._lock:
            raw = self._jieba.lcut(fold(text), HMM=True)
        return [w for w in (t.strip() for t in raw) if self._keep(w)]

    def tokens(self, text: str) -> list[str]:
        """Index tokens: whole words plus the sub-words jieba's search mode adds."""
        with self._lock:
            raw = self._jieba.lcut_for_search(fold(text), HMM=True)
        return [w for w in (t.strip() for t in raw) if self._keep(w)]

    def _keep(self, word: str) -> bool:
        if not word or word in self.stop:
            return False
        if not any(ch.isalnum() for ch in word):
            return False
        return True


_segmenter: Segmenter | None = None
_segmenter_lock = threading.Lock()


def segmenter() -> Segmenter:
    global _segmenter
    with _segmenter_lock:
        if _segmenter is None:
            _segmenter = Segmenter()
        return _segmenter
