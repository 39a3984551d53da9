"""The English side of a Chinese passage, from the language resources only (no model, no translation service).

For a bilingual index (issue 14): every term a passage holds is given its English, so an English query can be
matched against English words as well as through query translation. Three sources, most specific first:
- places named in the passage (the gazetteer's English names: 贵阳市 -> Guiyang);
- the field glossary read in reverse: every English key whose Chinese forms the passage holds
  (固体废物 -> "solid waste"; a form of three or more characters anywhere in the text, a shorter one only as a
  word or sub-word the segmenter yields, so that 城市场 does not hold 市场);
- CC-CEDICT's first plain senses for the passage's other words of two or more characters.

`occurrences(text)` gives each term's English phrases in order of occurrence; `index_tokens(text)` the
keyword-index tokens of a passage's English side and `tokens(query)` those of an English query (lower case,
stop words out, Snowball-stemmed); `gloss(text)` a readable gloss for an English embedder.
"""
from __future__ import annotations

import re
import threading
from functools import lru_cache

from kb.gazetteer import gazetteer
from kb.query import _EN_STOP, DATA, _cedict_path, _en_norm
from kb.text import cjk_count, fold, segmenter

CEDICT_SENSES = 2          # a word's first dictionary senses; later ones are rare uses
MIN_SUBSTRING_FORM = 3     # a glossary form this long matches anywhere in the text; shorter ones as words only
_STOP = frozenset(_EN_STOP) | {"etc", "e.g", "i.e", "one's", "oneself", "sb", "sth", "something", "somebody"}


@lru_cache(maxsize=1)
def _stemmer():
    try:
        import snowballstemmer
    except ImportError as exc:   # a declared dependency (pyproject.toml); named here so the error says what to install
        raise ImportError("snowballstemmer is not installed: pip install snowballstemmer") from exc
    return snowballstemmer.stemmer("english")


_STEM_LOCK = threading.Lock()


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    """A word's Snowball stem, cached: a passage's English side repeats the same few thousand words. The
    stemmer object keeps state while it works, so server threads take turns."""
    with _STEM_LOCK:
        return _stemmer().stemWord(word)


def tokens(text: str) -> list[str]:
    """English index tokens of a query or of an English side: normalised words, no stop words, stemmed.
    Figures and Latin abbreviations in a Chinese passage (2025, PPP, VOCs) come through as they are."""
    words = [w.strip("'.") for w in _en_norm(text).split()]
    words = [w for w in words if w and w not in _STOP and not cjk_count(w) and any(c.isalnum() for c in w)]
    return [_stem(w) for w in words]


@lru_cache(maxsize=1)
def _reverse_glossary() -> dict[str, tuple[str, ...]]:
    """Chinese form -> every English key of the glossary that names it (the first key first)."""
    out: dict[str, list[str]] = {}
    for line in (DATA / "glossary.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        for zh in (fold(z).replace(" ", "") for z in parts[1].split("|")):
            if len(zh) >= 2 and parts[0].strip() not in out.setdefault(zh, []):
                out[zh].append(parts[0].strip())
    return {zh: tuple(en) for zh, en in out.items()}


@lru_cache(maxsize=1)
def _cedict_senses() -> dict[str, tuple[str, ...]]:
    """Simplified word (two or more characters) -> its first plain English senses in CC-CEDICT, all entries of
    the word merged in dictionary order; classifiers, variants, cross-references, surnames and
    abbreviation notes are not senses."""
    out: dict[str, list[str]] = {}
    pattern = re.compile(r"^\S+ (\S+) \[[^\]]*\] /(.+)/$")
    for line in _cedict_path().read_text(encoding="utf-8").splitlines():
        m = None if line.startswith("#") else pattern.match(line)
        if not m or len(m.group(1)) < 2:
            continue
        senses = out.setdefault(m.group(1), [])
        for sense in m.group(2).split("/"):
            sense = re.sub(r"\([^)]*\)|\[[^\]]*\]", "", sense).strip()
            low = sense.lower()
            if (not sense or len(sense) > 60 or re.search(r"[\u4e00-\u9fff|]", sense)
                    or low.startswith(("cl:", "variant of", "old variant", "see ", "surname", "abbr", "also written"))):
                continue
            if len(senses) < CEDICT_SENSES and sense not in senses:
                senses.append(re.sub(r"^to ", "", sense))
    return {zh: tuple(s) for zh, s in out.items() if s}


class EnglishSide:
    """Builds the English side of Chinese passages. Load once (the dictionaries take ~1 s), then call
    `phrases` per passage."""

    def __init__(self, cedict: bool = True):
        self.glossary = _reverse_glossary()
        self.cedict = _cedict_senses() if cedict else {}
        self.long_forms = sorted({len(z) for z in self.glossary if len(z) >= MIN_SUBSTRING_FORM}, reverse=True)

    def occurrences(self, text: str) -> list[tuple[int, tuple[str, ...]]]:
        """(position, English phrases) for each place, glossary term and other word of a Chinese text, in order."""
        text = fold(text)
        found: list[tuple[int, tuple[str, ...]]] = []
        covered = [False] * len(text)
        for start, end, place in gazetteer().find(text):
            if place.en:
                found.append((start, (place.en,)))
                covered[start:end] = [True] * (end - start)
        for size in self.long_forms:   # glossary forms of three or more characters, anywhere
            for i in range(len(text) - size + 1):
                en = self.glossary.get(text[i: i + size])
                if en:
                    found.append((i, en))
                    covered[i: i + size] = [True] * size
        pos = 0
        for word in segmenter().tokens(text):   # words and the sub-words the search mode adds
            at = text.find(word, max(0, pos - 8))
            at = at if at >= 0 else text.find(word)
            pos = max(pos, at + len(word)) if at >= 0 else pos
            if cjk_count(word) < 2 or len(word) >= MIN_SUBSTRING_FORM and word in self.glossary:
                continue   # lone characters are not translated; long glossary forms were found above
            en = self.glossary.get(word)
            if en:
                found.append((at, en))
            elif (at < 0 or not all(covered[at: at + len(word)])) and word in self.cedict:
                found.append((at, self.cedict[word]))
        found.sort(key=lambda x: x[0])
        latin = [(m.start(), (m.group(0),)) for m in re.finditer(r"[a-z][a-z0-9.+-]*|\d+(?:\.\d+)?", text)]
        return sorted(found + latin, key=lambda x: x[0])

    def phrases(self, text: str) -> list[str]:
        """Every English phrase of the text, in order."""
        return [en for _, ens in self.occurrences(text) for en in ens]

    def gloss(self, text: str) -> str:
        """A readable English gloss: the first English of each occurrence, in order (for an English embedder)."""
        return " ".join(ens[0] for _, ens in self.occurrences(text))

    def index_tokens(self, text: str) -> list[str]:
        """Keyword-index tokens of the English side: each occurrence gives each of its English stems once
        (企业 -> enterprise, enterprises, company... counts `enterpris` once, not twice)."""
        out: list[str] = []
        for _, ens in self.occurrences(text):
            out += dict.fromkeys(t for en in ens for t in _phrase_tokens(en))
        return out


@lru_cache(maxsize=100_000)
def _phrase_tokens(phrase: str) -> tuple[str, ...]:
    return tuple(tokens(phrase))
