"""Tag passages: kind, region, domain, year, policy instrument.

Rules plus curated lexicons kept as data (`ingest/data/*.tsv`, the gazetteer), so
a new report is tagged by the same rules, not by its own wording.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kb.gazetteer import Gazetteer, gazetteer
from kb.vocab import DOMAINS, INSTRUMENTS, KINDS  # noqa: F401  (KINDS: re-exported for tests)

DATA = Path(__file__).resolve().parent / "data"

# chapter titles -> kind, checked in this order (first match wins)
_KIND_RULES = [
    ("indicator", re.compile(r"指标")),
    ("case_study", re.compile(r"案例|经验做法|探索实践|典型做法|实践经验")),
    ("provincial_action", re.compile(r"省（区、市）|省\(区、市\)|省级|各省|省域")),
    ("regional_progress", re.compile(r"区域")),
    ("national_directive", re.compile(r"国家|党中央|国务院|中央|顶层设计|政策要求")),
    ("city_progress", re.compile(r"城市|地市|市级|地方")),
]
_YEAR = re.compile(r"(?<![\d.])((?:19[89]|20[0-4])\d)(?:\s*[—－\-~至到]\s*((?:19[89]|20[0-4])\d))?(?=\s*年|〕|\]|）|\)|年度|—|－)")


def kind_for(section: list[str], front: bool = False, doc_type: str = "report", central: bool = False) -> str:
    """Chapter kinds only for reports whose chapters say so; a central-government document of another
    type is a national directive; anything else is `other`."""
    if front or not section:
        return "front_matter"
    if doc_type != "report":
        return "national_directive" if central else "other"
    kind = "other"
    for k, pattern in _KIND_RULES:
        if pattern.search(section[0]):
            kind = k
            break
    if len(section) > 1:
        for k in ("indicator", "case_study"):
            rule = dict(_KIND_RULES)[k]
            if rule.search(section[1]) and not rule.search(section[0]):
                kind = k
    return kind


@dataclass
class _Lexicon:
    entries: list[tuple[str, float, re.Pattern]]


def _read_tsv(name: str) -> list[list[str]]:
    rows = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.split("\t"))
    return rows


@lru_cache(maxsize=1)
def domain_lexicon() -> list[tuple[str, float, re.Pattern]]:
    return [(d, float(w), re.compile(terms)) for d, w, terms in _read_tsv("domains.tsv")]


@lru_cache(maxsize=1)
def instrument_lexicon() -> list[tuple[str, str, re.Pattern]]:
    """(instrument, scope, pattern); scope is "title" (a 《document title》) or "text"."""
    return [(i, scope, re.compile(p)) for i, scope, p in _read_tsv("instruments.tsv")]


# A specific stream is kept when its score reaches DOMAIN_ABS and DOMAIN_RATIO x the best
# stream's; cross_cutting when nothing specific is found, or when the governance score reaches
# CC_ABS and CC_RATIO x the best stream's. Heading terms count TITLE_WEIGHT times.
DOMAIN_ABS, DOMAIN_RATIO = 2.0, 0.5
CC_ABS, CC_RATIO = 4.0, 0.5
TITLE_WEIGHT = 2.0
ENUM_WEIGHT = 4.0
_ITEM = r"[^、，。；：（）()“”《》\s]{2,16}"
_ENUM = re.compile(rf"{_ITEM}(?:、{_ITEM}){{2,}}(?:(?:和|及|与|等){_ITEM})?")


def _stream_domains(fragment: str) -> set[str]:
    found = set()
    for domain, weight, pattern in domain_lexicon():
        if domain != "cross_cutting" and weight >= 2 and pattern.search(fragment):
            found.add(domain)
    return found


def _mask_enumerations(text: str) -> tuple[str, int]:
    """Blank out lists that run through three or more waste streams ("工业固体废物、生活垃圾、
    建筑垃圾、农业固体废物"): such a list speaks of solid waste as a whole (cross_cutting),
    not of each stream. Returns the text and the number of such lists."""
    count = 0

    def blank(m: re.Match) -> str:
        nonlocal count
        streams = [_stream_domains(item) for item in re.split(r"、|和|及|与|等", m.group(0))]
        if len(set().union(*streams)) >= 3 and sum(1 for s in streams if s) >= 3:
            count += 1
            return " " * len(m.group(0))
        return m.group(0)

    return _ENUM.sub(blank, text), count


def _blank(text: str, spans) -> str:
    chars = list(text)
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    return "".join(chars)


def _count_terms(text: str) -> dict[str, float]:
    """Weighted term hits per domain. Heavier terms are matched first and blank their span, so
    建筑垃圾 counts once for construction, not again as household 垃圾 or as 建筑."""
    scores = {d: 0.0 for d in DOMAINS}
    for domain, weight, pattern in sorted(domain_lexicon(), key=lambda r: -r[1]):
        spans = [m.span() for m in pattern.finditer(text)]
        scores[domain] += weight * len(spans)
        text = _blank(text, spans)
    return scores


def domain_scores(text: str, section: list[str], gaz: Gazetteer | None = None) -> dict[str, float]:
    gaz = gaz or gazetteer()
    # place names are not topics: 苏州工业园区 says nothing about industrial waste
    text = _blank(text, [(a, b) for a, b, _ in gaz.find(text)])
    text, lists = _mask_enumerations(text)
    titles = section[2:] if len(section) > 2 else section[1:]
    title = " ".join(titles)
    title = _blank(title, [(a, b) for a, b, _ in gaz.find(title)])
    scores = _count_terms(text)
    for domain, value in _count_terms(title).items():
        scores[domain] += TITLE_WEIGHT * value
    scores["cross_cutting"] += ENUM_WEIGHT * lists
    return scores


# sections that report a province's or region's work as a whole: their governance terms
# (无废城市, 立法, 宣传...) mark cross_cutting however much one stream dominates
_OVERVIEW_KINDS = {"regional_progress", "provincial_action"}


def domains(text: str, section: list[str], kind: str = "") -> list[str]:
    """The waste streams a passage is substantially about, and cross_cutting for governance
    across streams (see `ingest/data/domains.tsv`)."""
    scores = domain_scores(text, section)
    specific = {d: s for d, s in scores.items() if d != "cross_cutting"}
    best = max(specific.values())
    picked = [d for d, s in sorted(specific.items(), key=lambda x: -x[1])
              if s >= DOMAIN_ABS and s >= DOMAIN_RATIO * best]
    cc = scores["cross_cutting"]
    ratio = 0.0 if kind in _OVERVIEW_KINDS else CC_RATIO
    if not picked or (cc >= CC_ABS and cc >= ratio * best):
        picked.insert(0, "cross_cutting")
    return picked


_TITLE = re.compile(r"《([^《》]{2,120})》")
_TITLE_TAIL = re.compile(r"\s*[（(][^（）()]{0,20}[）)]\s*$")


def document_titles(text: str) -> list[str]:
    """《titles》 in a text, without a trailing "（试行）", "（2024—2027年）", "（修订版）"."""
    titles = []
    for m in _TITLE.finditer(text):
        title = m.group(1).strip()
        while _TITLE_TAIL.search(title):
            title = _TITLE_TAIL.sub("", title)
        titles.append(title)
    return titles


def instruments(text: str, kind: str = "") -> list[str]:
    """What the passage describes being done or issued (see `ingest/data/instruments.tsv`)."""
    titles = document_titles(text)
    found = set()
    for name, scope, pattern in instrument_lexicon():
        if scope == "title":
            if any(pattern.search(t) for t in titles):
                found.add(name)
        elif pattern.search(text):
            found.add(name)
    if kind == "indicator":
        found.add("assessment")   # indicator passages report the figures cities are evaluated by
    return [name for name in INSTRUMENTS if name in found]


def years(text: str) -> list[int]:
    found = set()
    for m in _YEAR.finditer(text):
        a = int(m.group(1))
        b = int(m.group(2)) if m.group(2) else a
        if a <= b <= a + 15:
            found.update(range(a, b + 1))
        else:
            found.add(a)
    return sorted(found)


_PLACE_TITLE_FILLER = re.compile(r"[\s\d一二三四五六七八九十、.．（）()：:“”—\-]|建设|情况|工作进展|进展")


def _title_is_place(title: str, spans: list) -> bool:
    """A heading that is (almost) only a place name: "（三）河北省", "1. 贵阳市"."""
    rest = title
    for a, b, _ in sorted(spans, key=lambda x: -x[0]):
        rest = rest[:a] + rest[b:]
    return bool(spans) and len(_PLACE_TITLE_FILLER.sub("", rest)) <= 2


def regions(text: str, section: list[str], kind: str, gaz: Gazetteer | None = None) -> list[dict]:
    """Places a passage is about.

    - every place the text names (organisation and product names excluded by the gazetteer);
    - the places of a case study's own headings (its city is named in the title, not
      always in each paragraph), and of any heading that is just a place name;
    - 全国 only for national directives: "在全国率先" in running text is no place mention;
    - development zones are tagged as their city, geographic features not at all.
    """
    gaz = gaz or gazetteer()
    names: list[str] = []
    for title in section[1:]:
        spans = gaz.find(title)
        if kind == "case_study" or _title_is_place(title, spans):
            names += [place.name for _, _, place in spans]
    names += [place.name for _, _, place in gaz.find(text)]
    if kind == "national_directive":
        names.insert(0, "全国")
    seen, out = set(), []
    for name in names:
        place = gaz.places[name]
        if place.level == "national" and kind != "national_directive":
            continue
        name = gaz.tag_name(name)
        if name and name not in seen:
            seen.add(name)
            out.append(gaz.places[name].as_tag())
    return out


def region_scope(tags: list[dict], gaz: Gazetteer | None = None) -> list[str]:
    """Names a region filter should match: each place and its parent city and province."""
    gaz = gaz or gazetteer()
    scope = []
    for tag in tags:
        for name in [tag["name"], *gaz.ancestors(tag["name"])]:
            if name not in scope:
                scope.append(name)
    return scope


def tag(text: str, section: list[str], front: bool = False, doc_year: int | None = None,
        doc_type: str = "report", central: bool = False) -> dict:
    kind = kind_for(section, front, doc_type, central)
    ys = years(text) or ([doc_year] if doc_year else [])
    region = regions(text, section, kind)
    return {
        "kind": kind,
        "domain": domains(text, section, kind),
        "region": region,
        "year": ys,
        "instrument": instruments(text, kind),
    }
