"""Chinese places: normalised names, levels, parents and English names.

The data is `kb/data/gazetteer.tsv` (all provinces and prefecture-level units,
the districts and counties reports name, and strategic regions). Short forms
are derived by stripping the administrative suffix (贵阳市 -> 贵阳) unless a row
is flagged `noshort`; English names come from pypinyin unless the row gives the
usual exception (Shaanxi, Inner Mongolia, Xi'an...).

Other flags (`|`-separated) say how passages are tagged with a place, never whether
it can be found or filtered on: `notag` marks geographic features and informal
areas (river basins, plateaus, "川渝") that a report mentions in passing but that
are not places a passage is about; `zone` marks development zones (开发区,
工业园区), which are tagged as their city. See `tag_name`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "gazetteer.tsv"
LEVEL_ORDER = {"national": 0, "region": 1, "province": 2, "city": 3, "district": 4}
_SUFFIX = re.compile(
    r"((?:[\u4e00-\u9fff]{1,3}族)*(?:自治区|自治州|自治县|自治旗)|特别行政区|省|市|地区|盟|县|旗)$")
# a place name directly followed by these is part of an organisation or product name
_NOT_A_PLACE_AFTER = re.compile(
    r"^(银行|农商行|农村商业银行|商业银行|集团|大学|学院|公司|有限|股份|高速|绿交所|交易所|日报|电视台"
    r"|[0-9一二三四五六七八九]号|路|街道?|大道)")
# a quoted name ending like this is a product, system or brand, not a place: “宁海固废收运监管系统”
_PRODUCT_QUOTE = re.compile(r"(系统|平台|小程序|[Aa][Pp][Pp]|品牌|商标|基金|专列|号)$")
# "长春、吉林两市": after a city in a list, or before "两市"/"等N市", an ambiguous short form is a city
_LIST_SEP = re.compile(r"^[、，和与及]$")
_CITY_COUNT_AFTER = re.compile(r"^(?:[两二三四五六七八九十\d]+个?|等\s*[两二三四五六七八九十\d]*个?)?(?:市|地市|城市)")


@dataclass(frozen=True)
class Place:
    name: str
    level: str
    province: str          # parent province ("" for national; for regions, see members)
    parent: str            # parent city for districts
    en: str
    members: tuple[str, ...] = field(default=())  # provinces a region spans

    def as_tag(self) -> dict:
        return {"name": self.name, "level": self.level, "province": self.province or None, "en": self.en}


def _pinyin_name(stem: str) -> str:
    from pypinyin import lazy_pinyin

    syllables = lazy_pinyin(stem)
    word = ""
    for s in syllables:
        if word and s[:1] in "aeo":
            word += "'"
        word += s
    return word[:1].upper() + word[1:]


def stem_of(name: str, level: str) -> str:
    if level in ("national", "region"):
        return ""
    stem = _SUFFIX.sub("", name)
    if level == "district" and not name.endswith(("县", "旗", "市")):
        return ""
    return stem if len(stem) >= 2 and stem != name else ""


class Gazetteer:
    def __init__(self, path: Path = DATA):
        self.places: dict[str, Place] = {}
        self.surface: dict[str, str] = {}     # surface form -> name
        self.english: dict[str, str] = {}     # lowercased English -> name
        self.flags: dict[str, frozenset[str]] = {}
        self.city_by_stem: dict[str, str] = {}  # a city sharing its short form with a province (吉林)
        self._curated: set[str] = set()          # full names and aliases (not derived short forms)
        rows = path.read_text(encoding="utf-8").splitlines()
        header = rows[0].split("\t")
        parsed = [dict(zip(header, r.split("\t"))) for r in rows[1:] if r.strip()]
        for row in parsed:
            name, level = row["name"], row["level"]
            members = tuple(p for p in row.get("province", "").split("|") if p) if level == "region" else ()
            province = "" if level in ("region", "national") else row.get("province", "")
            stem = stem_of(name, level)
            en = row.get("en") or _pinyin_name(stem or _SUFFIX.sub("", name) or name)
            self.places[name] = Place(name, level, province, row.get("parent", ""), en, members)
            self.flags[name] = frozenset(f for f in row.get("flags", "").split("|") if f)
        # surface forms: full names first, then aliases, then derived stems (higher levels win ties)
        ordered = sorted(parsed, key=lambda r: LEVEL_ORDER[r["level"]])
        for row in ordered:
            self.surface.setdefault(row["name"], row["name"])
            self._curated.add(row["name"])
        for row in ordered:
            for alias in (a for a in row.get("aliases", "").split("|") if len(a) >= 2):
                self.surface.setdefault(alias, row["name"])
                self._curated.add(alias)
        for row in ordered:
            if "noshort" in row.get("flags", ""):
                continue
            stem = stem_of(row["name"], row["level"])
            if stem:
                self.surface.setdefault(stem, row["name"])
        for place in self.places.values():
            key = place.en.lower()
            self.english.setdefault(key, place.name)
            self.english.setdefault(key.replace("'", ""), place.name)
            suffix = {"province": " province", "city": " city", "district": " county"}.get(place.level)
            if suffix:
                self.english.setdefault(key + suffix, place.name)
        for place in self.places.values():
            if place.level == "city":
                stem = _SUFFIX.sub("", place.name)
                owner = self.places.get(self.surface.get(stem, ""))
                if owner is not None and owner.level == "province" and owner.name == place.province:
                    self.city_by_stem[stem] = place.name
        self._max_len = max(len(s) for s in self.surface)

    # ------------------------------------------------------------ lookups
    def get(self, name: str) -> Place | None:
        if name in self.places:
            return self.places[name]
        full = self.surface.get(name)
        return self.places.get(full) if full else None

    def resolve(self, text: str) -> Place | None:
        """A place from a Chinese name, short form or English name (any case)."""
        text = text.strip()
        return self.get(text) or self.places.get(self.english.get(text.lower().replace("’", "'"), ""))

    def find(self, text: str) -> list[tuple[int, int, Place]]:
        """Places named in a text: (start, end, place), longest match first, no overlaps.

        Organisation and product names are not places (北京银行, 山东高速集团,
        “宁海固废收运监管系统”); a short form a province shares with one of its
        cities is the city in a list of cities (吉林省长春、吉林两市).
        """
        found = []
        i, n = 0, len(text)
        products = self._product_spans(text)
        while i < n:
            length, name = self._longest_at(text, i)
            if name and not self._yields(text, i, length, name):
                if not any(a <= i and i + length <= b for a, b in products):
                    found.append((i, i + length, self.places[name]))
                i += length
            else:
                i += 1
        return self._cities_in_lists(text, found)

    def _longest_at(self, text: str, i: int) -> tuple[int, str | None]:
        for length in range(min(self._max_len, len(text) - i), 1, -1):
            name = self.surface.get(text[i: i + length])
            if name and not _NOT_A_PLACE_AFTER.match(text[i + length: i + length + 4]):
                return length, name
        return 0, None

    def _yields(self, text: str, i: int, length: int, name: str) -> bool:
        """Whether a short form at i gives way to an overlapping name that runs on
        past it and is longer, a full name, or a higher level: 美丽江苏 is 江苏, not 丽江."""
        if text[i: i + length] in self._curated:
            return False
        level = LEVEL_ORDER[self.places[name].level]
        for j in range(i + 1, i + length):
            other_len, other = self._longest_at(text, j)
            if not other or j + other_len <= i + length:
                continue
            if (other_len > length or text[j: j + other_len] in self._curated
                    or LEVEL_ORDER[self.places[other].level] < level):
                return True
        return False

    @staticmethod
    def _product_spans(text: str) -> list[tuple[int, int]]:
        spans = []
        for m in re.finditer(r"“([^“”]{2,30})”", text):
            if _PRODUCT_QUOTE.search(m.group(1)):
                spans.append((m.start(1), m.end(1)))
        return spans

    def _cities_in_lists(self, text: str, found: list) -> list:
        out = list(found)
        for k, (a, b, place) in enumerate(found):
            surface = text[a:b]
            city = self.city_by_stem.get(surface)
            if city is None or place.level != "province":
                continue
            before = found[k - 1] if k else None
            after = found[k + 1] if k + 1 < len(found) else None
            in_list = (
                (before is not None and before[2].level == "city" and _LIST_SEP.match(text[before[1]:a]))
                or (after is not None and after[2].level == "city" and _LIST_SEP.match(text[b:after[0]]))
                or _CITY_COUNT_AFTER.match(text[b:b + 6])
            )
            if in_list:
                out[k] = (a, b, self.places[city])
        return out

    def tag_name(self, name: str) -> str | None:
        """The place a passage naming `name` is tagged with: itself, its city for a
        development zone, none for a geographic feature or informal area."""
        flags = self.flags.get(name, frozenset())
        if "notag" in flags:
            return None
        if "zone" in flags:
            place = self.places[name]
            return place.parent or place.province or None
        return name

    def ancestors(self, name: str) -> list[str]:
        """Parent city and province of a place (regions: none)."""
        place = self.places.get(name)
        if not place:
            return []
        out = []
        if place.parent:
            out.append(place.parent)
        if place.province and place.province != place.name:
            out.append(place.province)
        return out

    def contains(self, outer: str, inner: str) -> bool:
        """Whether `inner` lies in `outer` (itself, a child, a grandchild, a region's member)."""
        if outer == inner:
            return True
        o = self.places.get(outer)
        if o is None:
            return False
        if o.level == "national":
            return True
        chain = self.ancestors(inner)
        if o.level == "region":
            return inner in o.members or any(a in o.members for a in chain)
        return outer in chain

    def enclosing(self, names: list[str]) -> list[str]:
        """`names` and every region or national place containing one of them: what a region filter on
        any of those should match, as a flat list a search index can test with one lookup."""
        out = list(dict.fromkeys(names))
        if out:
            for place in self.places.values():
                if place.level in ("region", "national") and place.name not in out \
                        and any(self.contains(place.name, n) for n in names):
                    out.append(place.name)
        return out

    def english_names(self) -> dict[str, str]:
        return dict(self.english)


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    return Gazetteer()
