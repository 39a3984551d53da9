"""An English gist of a Chinese sentence from what the system knows, no language model.

Word by word, in order: place names from the gazetteer, terms from the field glossary (read in reverse),
other words from CC-CEDICT's first sense; figures with their units converted (310.11万吨 -> 3.10 million t,
12.5亿元 -> 1.25 billion yuan, 2024年5月 -> May 2024); document titles 《…》 glossed in quotes; the passage's
policy instruments as labels. `coverage` is the share of the sentence's content (Chinese characters of
content words, and figures) that the gist renders.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from kb.gazetteer import gazetteer
from kb.query import DATA, _cedict_path
from kb.text import cjk_count, fold, segmenter

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
UNITS = {"吨": "t", "元": "yuan", "人": "people", "户": "households", "平方米": "m²", "立方米": "m³",
         "公里": "km", "千米": "km", "公顷": "ha", "亩": "mu", "千瓦": "kW", "千瓦时": "kWh", "辆": "vehicles",
         "台": "units", "座": "facilities", "家": "enterprises", "个": "", "项": "items", "件": "items",
         "次": "times", "条": "", "批": "batches", "所": "", "处": "sites", "套": "sets"}
SCALE = {"万亿": 1e12, "万": 1e4, "亿": 1e8, "千": 1e3, "百": 1e2}
_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?"
_DATE = re.compile(r"((?:19|20)\d\d)年(?:(\d{1,2})月(?:(\d{1,2})日)?)?")
_PCT = re.compile(rf"({_NUM})\s*(?:%|％)|百分之({_NUM})")
_POINTS = re.compile(rf"({_NUM})个百分点")
_QTY = re.compile(rf"({_NUM})\s*(万亿|万|亿|千|百)?(" + "|".join(sorted(UNITS, key=len, reverse=True)) + ")?")
_TITLE = re.compile(r"《([^《》]{1,80})》")
PUNCT = {"，": ",", "。": ".", "、": ",", "；": ";", "：": ":", "（": "(", "）": ")", "“": '"', "”": '"',
         "！": "!", "？": "?", "—": "-", "~": "-", "～": "-"}


@dataclass
class Gist:
    en: str
    coverage: float


def number(value: float, unit: str) -> str:
    """A figure in English units: 3101100 t -> 3.10 million t."""
    unit = f" {unit}" if unit else ""
    if value >= 1e9:
        return f"{value / 1e9:.2f} billion{unit}"
    if value >= 1e6:
        return f"{value / 1e6:.2f} million{unit}"
    if value >= 1e4:
        return f"{value:,.0f}{unit}"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text}{unit}"


def figure(text: str) -> str | None:
    """English for one figure with its unit (310.11万吨, 12.5亿元, 69.53%, 2024年5月), or None."""
    m = _DATE.fullmatch(text)
    if m:
        year, month, day = m.groups()
        if month and 1 <= int(month) <= 12:
            return f"{int(day)} {MONTHS[int(month) - 1]} {year}" if day else f"{MONTHS[int(month) - 1]} {year}"
        return year
    m = _PCT.fullmatch(text)
    if m:
        return f"{m.group(1) or m.group(2)}%"
    m = _POINTS.fullmatch(text)
    if m:
        return f"{m.group(1)} percentage points"
    m = _QTY.fullmatch(text)
    if m:
        value = float(m.group(1).replace(",", "")) * SCALE.get(m.group(2) or "", 1)
        return number(value, UNITS.get(m.group(3) or "", ""))
    return None


@lru_cache(maxsize=1)
def _glossary() -> dict[str, str]:
    """Chinese term -> its English in the field glossary (the first English phrase that names it)."""
    out: dict[str, str] = {}
    for line in (DATA / "glossary.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) >= 2:
            for zh in (z.strip() for z in parts[1].split("|")):
                if zh:
                    out.setdefault(fold(zh), parts[0].strip())
    return out


@lru_cache(maxsize=1)
def _cedict() -> dict[str, str]:
    """Simplified Chinese word -> the first plain English sense in CC-CEDICT."""
    out: dict[str, str] = {}
    pattern = re.compile(r"^\S+ (\S+) \[[^\]]*\] /(.+)/$")
    for line in _cedict_path().read_text(encoding="utf-8").splitlines():
        m = None if line.startswith("#") else pattern.match(line)
        if not m or m.group(1) in out:
            continue
        for sense in m.group(2).split("/"):
            sense = re.sub(r"\([^)]*\)|\[[^\]]*\]", "", sense).split(";")[0].strip()
            if (sense and len(sense) <= 40 and not re.search(r"[\u4e00-\u9fff|]", sense)
                    and not sense.lower().startswith(("cl:", "variant of", "see ", "surname", "abbr", "old variant"))):
                out[m.group(1)] = re.sub(r"^to ", "", sense)
                break
    return out


def word_en(word: str) -> str | None:
    """English of one Chinese word: place, glossary term or dictionary sense."""
    place = gazetteer().get(word)
    if place and place.en:
        return place.en
    found = _glossary().get(fold(word))
    if found or len(word) < 2:   # a lone character's first dictionary sense is rarely its sense here
        return found
    return _cedict().get(word)


def _words(text: str) -> tuple[list[str], int, int]:
    """English of a run of Chinese text word by word, the content characters it renders, and their total."""
    out, done, total = [], 0, 0
    stop = segmenter().stop
    import jieba  # noqa: F401  (the segmenter's own tokenizer, longest words first)
    with segmenter()._lock:
        raw = segmenter()._jieba.lcut(fold(text), HMM=True)
    for w in raw:
        if w in PUNCT or w in "，。、；：（）“”！？":
            out.append(PUNCT.get(w, w))
            continue
        n = cjk_count(w)
        if not n:
            if w.strip():
                out.append(w.strip())
            continue
        if w in stop:
            continue
        total += n
        en = word_en(w)
        if en is None and n > 2:   # a compound the dictionaries lack: its longest known parts
            parts = _split_known(w)
            if parts:
                en = " ".join(e for _, e in parts)
                n = sum(cjk_count(p) for p, _ in parts)
        if en:
            out.append(en)
            done += n
    return out, done, total


def _split_known(word: str) -> list[tuple[str, str]]:
    parts, i = [], 0
    while i < len(word):
        for j in range(len(word), i + 1, -1):
            en = word_en(word[i:j])
            if en:
                parts.append((word[i:j], en))
                i = j
                break
        else:
            i += 1
    return parts


_FIGURE = re.compile("|".join(p.pattern for p in (_DATE, _POINTS, _PCT)) + rf"|{_NUM}\s*(?:万亿|万|亿|千|百)?(?:"
                     + "|".join(sorted(UNITS, key=len, reverse=True)) + ")?")


def gist(sentence: str, instruments: list[str] | None = None) -> Gist:
    """English rendering of one Chinese sentence and the share of its content rendered."""
    pieces, done, total = [], 0, 0
    pos = 0
    spans = sorted([(m.start(), m.end(), "title", m.group(1)) for m in _TITLE.finditer(sentence)]
                   + [(m.start(), m.end(), "figure", m.group(0)) for m in _FIGURE.finditer(sentence)])
    for a, b, kind, text in spans:
        if a < pos:
            continue
        words, d, t = _words(sentence[pos:a])
        pieces += words
        done, total = done + d, total + t
        if kind == "title":
            inner, d, t = _words(text)
            pieces.append("“" + " ".join(inner) + f"” (《{text}》)")
            done, total = done + d, total + t
        else:
            en = figure(text.strip())
            total += 1
            if en:
                pieces.append(en)
                done += 1
            else:
                pieces.append(text)
        pos = b
    words, d, t = _words(sentence[pos:])
    pieces += words
    done, total = done + d, total + t
    en = re.sub(r"\s+([,.;:)!?])", r"\1", " ".join(pieces))
    en = re.sub(r"([,;:])\1+", r"\1", en).strip()
    if instruments:
        en += f" [{', '.join(instruments)}]"
    return Gist(en, round(done / total, 4) if total else 1.0)
