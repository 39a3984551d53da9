"""Countries outside the gazetteer's, and groups of them (kb/data/countries.tsv, built by kb/lexicon/build.py
from ISO 3166-1 and CC-CEDICT): which ones a question names, and which ones a text mentions.

A question is read strictly (a name must be a word of it, not part of a longer name), a text leniently
(a Chinese name anywhere outside the gazetteer's place names), so a mistake on either side lets a
question through rather than refusing it."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kb.gazetteer import gazetteer
from kb.text import fold, segmenter

DATA = Path(__file__).resolve().parent / "data" / "countries.tsv"
# A Chinese country name followed by one of these is part of a Chinese place name (东洋镇, 狮子山街道).
_PLACE_SUFFIX = re.compile(r"[镇村乡街县区市路湖]")


@dataclass(frozen=True)
class Country:
    code: str
    en: tuple[str, ...]         # matched as whole words in any case
    en_cased: tuple[str, ...]   # matched only as written (US, Turkey)
    zh: tuple[str, ...]         # the most common first
    within: tuple[str, ...]     # other places whose English names hold one of this country's
    abbr: str = ""              # one-character abbreviations, as in 中日韩, 中欧

    @property
    def name(self) -> str:
        """How a message names it: the common Chinese name (and the English one)."""
        english = (self.en or self.en_cased or ("",))[0]
        return f"{self.zh[0]} ({english})" if english else self.zh[0]


@lru_cache(maxsize=1)
def countries() -> tuple[Country, ...]:
    out = []
    for row in DATA.read_text(encoding="utf-8").splitlines()[1:]:
        code, en, cased, zh, within, abbr = (row.split("\t") + [""] * 6)[:6]
        split = lambda cell: tuple(filter(None, cell.split("|")))  # noqa: E731
        if split(zh):
            out.append(Country(code, split(en), split(cased), split(zh), split(within), abbr))
    return tuple(out)


def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", " ", name).lower()


def _alternative(name: str) -> str:
    """A name as a regex: spaces and hyphens inside it match either."""
    return r"[\s\-]+".join(re.escape(w) for w in re.split(r"[\s\-]+", name))


@lru_cache(maxsize=1)
def _english() -> tuple[re.Pattern, re.Pattern | None, dict[str, Country]]:
    """(every English name, longest first, whole words, in any case or as written; the places to blank out
    first; normalised name -> country)."""
    by_name = {_key(n): c for c in countries() for n in c.en + c.en_cased}
    names = sorted({(n, False) for c in countries() for n in c.en} | {(n, True) for c in countries()
                                                                     for n in c.en_cased},
                   key=lambda x: -len(x[0]))
    alts = "|".join(_alternative(n) if cased else f"(?i:{_alternative(n)})" for n, cased in names)
    home = [e for e in gazetteer().english if any(re.search(rf"(?<![a-z]){re.escape(n)}(?![a-z])", e)
                                                  and n != e for n in by_name)]
    blank = sorted(set(home) | {w for c in countries() for w in c.within if _key(w) not in by_name},
                   key=len, reverse=True)   # PNG stays PNG: only names that are no country's are blanked
    blank_alts = "|".join(_alternative(n) for n in blank)
    return (re.compile(rf"(?<![A-Za-z])(?:{alts})(?![A-Za-z])"),
            re.compile(rf"(?<![A-Za-z])(?:{blank_alts})(?![A-Za-z])", re.IGNORECASE) if blank else None,
            by_name)


@lru_cache(maxsize=1)
def _chinese() -> tuple[re.Pattern, dict[str, Country]]:
    by_zh = {z: c for c in countries() for z in c.zh}
    return re.compile("|".join(re.escape(z) for z in sorted(by_zh, key=len, reverse=True))), by_zh


@lru_cache(maxsize=1)
def _compounds() -> tuple[re.Pattern, dict[str, set[str]]]:
    """中 and a run of country abbreviations (中美, 中日韩, 中欧): char -> the codes it may stand for."""
    by_char: dict[str, set[str]] = {}
    for c in countries():
        for ch in c.abbr:
            by_char.setdefault(ch, set()).add(c.code)
    return re.compile(f"中([{''.join(sorted(by_char))}]{{1,3}})"), by_char


def _english_in(text: str) -> dict[str, Country]:
    names, blank, by_name = _english()
    text = unicodedata.normalize("NFKC", text).replace("’", "'")
    if blank is not None:
        text = blank.sub(" ", text)
    found = {}
    for m in names.finditer(text):
        c = by_name[_key(m.group())]
        if m.group() not in c.en_cased or not text.isupper():   # SHOUTED text has no abbreviations
            found[c.code] = c
    return found


def _outside_places(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    places = [(a, b) for a, b, _ in gazetteer().find(text)]
    return [(a, b) for a, b in spans if not any(pa <= a < pb for pa, pb in places)]


def named(question: str) -> list[Country]:
    """The countries a question names: an English name as whole words (not inside a longer place name such as
    Inner Mongolia, New Mexico or Papua New Guinea), or a Chinese name as one of its words or a run of adjacent
    words (jieba splits a name it does not know; 朝鲜族 is a word, not 朝鲜), not inside a gazetteer place and
    not followed by a place suffix (东洋镇)."""
    found = _english_in(question)
    text = fold(question)
    _, by_zh = _chinese()
    words, spans = segmenter().words(text), []
    for i in range(len(words)):
        run = ""
        for w in words[i:i + 4]:
            run += w
            if run in by_zh:
                at = text.find(run)
                while at >= 0:
                    if not _PLACE_SUFFIX.match(text, at + len(run)):
                        spans.append((at, at + len(run)))
                    at = text.find(run, at + 1)
    for a, b in _outside_places(text, spans):
        found.setdefault(by_zh[text[a:b]].code, by_zh[text[a:b]])
    return list(found.values())


def mentioned(text: str) -> set[str]:
    """The codes of the countries a text (a passage's sentence) mentions: an English name, a Chinese name
    anywhere outside the gazetteer's place names (内蒙古 is not 蒙古), the longest name first (印度尼西亚 is not
    印度), or an abbreviation after 中 (中美 经贸, 中日韩 自贸区, 中欧 投资协定)."""
    pattern, by_zh = _chinese()
    spans = [m.span() for m in pattern.finditer(text)]
    codes = {by_zh[text[a:b]].code for a, b in (_outside_places(text, spans) if spans else [])}
    compound, by_char = _compounds()
    codes |= {code for m in compound.finditer(text) for ch in m.group(1) for code in by_char[ch]}
    return codes | set(_english_in(text))


def mentions(country: Country, text: str) -> bool:
    return country.code in mentioned(text)
