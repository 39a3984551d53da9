"""Countries outside the gazetteer's, and groups of them (kb/data/countries.tsv, built by kb/lexicon/build.py
from ISO 3166-1 and CC-CEDICT): which ones a question names, and whether a text mentions one."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kb.gazetteer import gazetteer
from kb.text import segmenter

DATA = Path(__file__).resolve().parent / "data" / "countries.tsv"


@dataclass(frozen=True)
class Country:
    code: str
    en: tuple[str, ...]         # matched as whole words in any case
    en_cased: tuple[str, ...]   # matched only as written (US, Turkey)
    zh: tuple[str, ...]

    @property
    def name(self) -> str:
        """How a message names it: the Chinese name (the English one)."""
        english = (self.en or self.en_cased or ("",))[0]
        return f"{self.zh[0]} ({english})" if english else self.zh[0]


def _words(names: tuple[str, ...], flags: int) -> re.Pattern | None:
    if not names:
        return None
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z])(?:{alternatives})(?![A-Za-z])", flags)


@lru_cache(maxsize=1)
def countries() -> tuple[Country, ...]:
    rows = DATA.read_text(encoding="utf-8").splitlines()[1:]
    out = []
    for row in rows:
        code, en, cased, zh = row.split("\t")
        out.append(Country(code, tuple(filter(None, en.split("|"))), tuple(filter(None, cased.split("|"))),
                           tuple(filter(None, zh.split("|")))))
    return tuple(out)


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[Country, re.Pattern | None, re.Pattern | None]]:
    return [(c, _words(c.en, re.IGNORECASE), _words(c.en_cased, 0)) for c in countries()]


@lru_cache(maxsize=1)
def _by_zh() -> dict[str, Country]:
    return {z: c for c in countries() for z in c.zh}


@lru_cache(maxsize=1)
def _home_names() -> re.Pattern | None:
    """The gazetteer's English place names that hold a country's name (Inner Mongolia): not that country."""
    names = {n for c in countries() for n in c.en + c.en_cased}
    holding = [e for e in gazetteer().english
               if any(re.search(rf"(?<![a-z]){re.escape(n.lower())}(?![a-z])", e) and n.lower() != e for n in names)]
    return _words(tuple(holding), re.IGNORECASE)


def named(question: str) -> list[Country]:
    """The countries a question names: an English name as whole words (not inside one of the gazetteer's
    names), or a Chinese name as one of its words or a run of consecutive words (jieba splits a name it does
    not know; 朝鲜族 is a word, not 朝鲜)."""
    found: dict[str, Country] = {}
    home = _home_names()
    question = home.sub(" ", question) if home else question
    for c, anycase, cased in _patterns():
        if (anycase and anycase.search(question)) or (cased and cased.search(question)):
            found[c.code] = c
    words, by_zh = segmenter().words(question), _by_zh()
    for i in range(len(words)):
        run = ""
        for w in words[i:i + 4]:
            run += w
            if run in by_zh:
                found.setdefault(by_zh[run].code, by_zh[run])
    return list(found.values())


def mentions(country: Country, text: str) -> bool:
    """Whether a text (a passage) mentions the country, by any of its names."""
    if any(z in text for z in country.zh):
        return True
    return any(p is not None and p.search(text) for p in _patterns()[countries().index(country)][1:])
