"""Build kb/data/glossary.tsv, synonyms.tsv, gazetteer.tsv and countries.tsv from their sources.

    python -m kb.lexicon.build            # rewrite the four files
    python -m kb.lexicon.build --check    # exit 1 when the committed files differ from a rebuild

Every source row says where it comes from (a `source` column, README.md lists the values). The build
checks what it can: a `cedict` glossary row must be a sense CC-CEDICT gives one of its Chinese forms, a
`term` or `curated` row needs a note saying why, no English key twice, no key from `removed.tsv` (entries
written for tuning-set queries), an English place name is the pinyin of the name unless `english.tsv` lists
the exception and its reason. The output is sorted as the sources are, so a rebuild is byte-identical.
countries.tsv comes from ISO 3166-1 (the `pycountry` package, pinned: its names and their zh_CN
translation) joined with the CC-CEDICT words that give a country's name as a sense.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
from functools import cache, lru_cache
from pathlib import Path
from types import SimpleNamespace

from kb.errors import BadInput

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources"
DATA = HERE.parent / "data"
OUTPUTS = ("glossary.tsv", "synonyms.tsv", "gazetteer.tsv", "countries.tsv")

GLOSSARY_SOURCES = {
    "cedict": "CC-CEDICT gives the English key as a sense of one of the Chinese forms (checked)",
    "sense-fix": "a CC-CEDICT first sense corrected by a corpus-wide audit of which sense the reports use",
    "term": "a term of the field; the note names the law, standard or programme that defines it",
    "curated": "written by hand from the field's vocabulary; the note says why",
    "inherited": "from the glossary before it had sources; no recorded reason (reviewed only for query keys)",
}
SYNONYM_SOURCES = {
    "abbreviation": "a short form the field uses, expanded to its full form(s)",
    "full-form": "a full form, expanded to the short form(s) the field uses",
    "related": "the same or an overlapping concept in other words; the note says how",
}
NOTE_REQUIRED = {"term", "curated", "related"}
LEVELS = ("national", "region", "province", "city", "district")
FLAGS = {"noshort", "notag", "zone"}
GAZETTEER_COLUMNS = ("name", "level", "province", "parent", "aliases", "en", "flags")
# administrative suffixes, longest first; some become an English word
_SUFFIXES = ("特别行政区", "新区", "林区", "地区", "省", "市", "盟", "县", "旗", "区")
_SUFFIX_EN = {"新区": " New Area", "盟": " League", "旗": " Banner"}


class LexiconError(ValueError):
    """A source row the build cannot accept (the message names the file and line)."""


def read_tsv(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) for every row; `#` lines are comments; the header must start with `columns`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    if tuple(header[: len(columns)]) != columns:
        raise LexiconError(f"{path.name}: header must start with {' '.join(columns)}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            raise LexiconError(f"{path.name}:{number}: {len(cells)} columns, expected {len(header)}")
        rows.append((number, dict(zip(header, (c.strip() for c in cells)))))
    return rows


def read_list(path: Path) -> list[str]:
    return [s.strip() for s in path.read_text(encoding="utf-8").splitlines()
            if s.strip() and not s.startswith("#")]


# ------------------------------------------------------------------ glossary

@lru_cache(maxsize=1)
def _cedict_definitions() -> dict[str, tuple[str, ...]]:
    """Simplified word -> its CC-CEDICT definitions, as written."""
    from kb.query import _cedict_path

    pattern = re.compile(r"^\S+ (\S+) \[[^\]]*\] /(.+)/$")
    out: dict[str, list[str]] = {}
    for line in _cedict_path().read_text(encoding="utf-8").splitlines():
        m = None if line.startswith("#") else pattern.match(line)
        if m:
            out.setdefault(m.group(1), []).extend(m.group(2).split("/"))
    return {k: tuple(v) for k, v in out.items()}


@cache
def cedict_senses(word: str) -> frozenset[str]:
    """Every English sense CC-CEDICT gives a simplified word, normalised as glossary keys are
    ("to recycle (sth)" -> "recycle")."""
    from kb.query import _key

    out = set()
    for sense in _cedict_definitions().get(word, ()):
        sense = re.sub(r"^to ", "", re.sub(r"\([^)]*\)", "", sense).strip().lower())
        out.update(_key(piece.strip()) for piece in sense.split(";") if piece.strip())
    return frozenset(out)


def glossary_keys(path: Path) -> dict[str, str]:
    """Normalised key -> English, for a glossary-shaped table (used for removed.tsv)."""
    from kb.query import _key

    return {_key(row["en"]): row["en"] for _, row in read_tsv(path, ("en", "zh"))}


def build_glossary(sources: Path = SOURCES) -> str:
    from kb.query import _key

    removed = glossary_keys(sources / "removed.tsv")
    seen: dict[str, int] = {}
    out = ["en\tzh\tkind"]
    for number, row in read_tsv(sources / "glossary.tsv", ("en", "zh", "kind", "source", "note")):
        where = f"glossary.tsv:{number}"
        en, zh, source = row["en"], [z for z in row["zh"].split("|") if z], row["source"]
        key = _key(en)
        if not key or not zh:
            raise LexiconError(f"{where}: an entry needs an English key and a Chinese form")
        if source not in GLOSSARY_SOURCES:
            raise LexiconError(f"{where}: unknown source {source!r} (one of {', '.join(GLOSSARY_SOURCES)})")
        if source in NOTE_REQUIRED and not row["note"]:
            raise LexiconError(f"{where}: a {source} entry needs a note saying why")
        if source == "cedict" and not any(key in cedict_senses(z) for z in zh):
            raise LexiconError(f"{where}: CC-CEDICT gives {en!r} for none of {'|'.join(zh)}")
        if key in removed:
            raise LexiconError(f"{where}: {en!r} was removed (removed.tsv says why)")
        if key in seen:
            raise LexiconError(f"{where}: {en!r} is the same key as line {seen[key]}")
        seen[key] = number
        out.append(f"{en}\t{'|'.join(zh)}\t{row['kind']}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ synonyms

def build_synonyms(sources: Path = SOURCES) -> str:
    seen: set[str] = set()
    out = ["term\texpansions"]
    for number, row in read_tsv(sources / "synonyms.tsv", ("term", "expansions", "source", "note")):
        where = f"synonyms.tsv:{number}"
        expansions = [e for e in row["expansions"].split("|") if e and e != row["term"]]
        if not row["term"] or not expansions:
            raise LexiconError(f"{where}: a synonym needs a term and at least one other form")
        if row["source"] not in SYNONYM_SOURCES:
            raise LexiconError(f"{where}: unknown source {row['source']!r} (one of {', '.join(SYNONYM_SOURCES)})")
        if row["source"] in NOTE_REQUIRED and not row["note"]:
            raise LexiconError(f"{where}: a {row['source']} synonym needs a note saying why")
        if row["term"] in seen:
            raise LexiconError(f"{where}: {row['term']} is listed twice")
        seen.add(row["term"])
        out.append(f"{row['term']}\t{'|'.join(expansions)}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ gazetteer

def _autonomy(sources: Path) -> re.Pattern:
    """An autonomous division's designation: nationalities, then 自治区/州/县/旗 (壮族自治区, 维吾尔自治区).
    A one-character nationality needs its 族 (陵水黎族自治县 keeps 陵水)."""
    names = sorted(read_list(sources / "nationalities.txt"), key=len, reverse=True)
    long = "|".join(n for n in names if len(n) > 1)
    return re.compile(f"(?:(?:{'|'.join(names)})族|(?:{long}))*自治[区州县旗]$")


@lru_cache(maxsize=4)
def _place_tables(sources: Path) -> tuple[re.Pattern, dict[str, str]]:
    readings = {row["char"]: row["reading"] for _, row in read_tsv(sources / "readings.tsv", ("char", "reading"))}
    return _autonomy(sources), readings


def romanise(name: str, sources: Path = SOURCES) -> str:
    """The English name plain pinyin gives: the name without its administrative suffix or
    autonomy designation, syllables joined (an apostrophe before a, e, o), ü kept, place-name
    readings of polyphonic characters (readings.tsv); 新区 "New Area", 盟 "League", 旗 "Banner".
    A one-character stem keeps its suffix (忠县 -> Zhongxian)."""
    from pypinyin import lazy_pinyin

    autonomy, readings = _place_tables(sources)
    base = autonomy.sub("", name) or name
    stem, tail = base, ""
    for suffix in _SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix):
            stem, tail = base[: -len(suffix)], suffix
            break
    if len(stem) < 2:
        stem, tail = base, ""
    word = ""
    for ch, syllable in zip(stem, lazy_pinyin(stem, v_to_u=True)):
        syllable = readings.get(ch, syllable)
        if word and syllable[:1] in "aeo":
            word += "'"
        word += syllable
    return word[:1].upper() + word[1:] + _SUFFIX_EN.get(tail, "")


def build_gazetteer(sources: Path = SOURCES) -> str:
    english = {}
    for number, row in read_tsv(sources / "english.tsv", ("name", "en", "reason")):
        if not row["en"] or not row["reason"]:
            raise LexiconError(f"english.tsv:{number}: an exception needs the English name and a reason")
        english[row["name"]] = (number, row["en"])
    names: set[str] = set()
    rows = read_tsv(sources / "divisions.tsv", ("name", "level", "province", "parent", "aliases", "flags", "source"))
    for number, row in rows:
        names.add(row["name"])
    out = ["\t".join(GAZETTEER_COLUMNS)]
    for number, row in rows:
        where = f"divisions.tsv:{number}"
        if row["level"] not in LEVELS:
            raise LexiconError(f"{where}: unknown level {row['level']!r}")
        if not row["source"]:
            raise LexiconError(f"{where}: a place needs a source")
        if set(filter(None, row["flags"].split("|"))) - FLAGS:
            raise LexiconError(f"{where}: unknown flag in {row['flags']!r}")
        for parent in filter(None, [*row["province"].split("|"), row["parent"]]):
            if parent not in names:
                raise LexiconError(f"{where}: {parent} is not in divisions.tsv")
        generated = romanise(row["name"], sources)
        en = generated
        if row["name"] in english:
            line, en = english.pop(row["name"])
            if en == generated:
                raise LexiconError(f"english.tsv:{line}: {en} is the plain pinyin; drop the exception")
        out.append("\t".join([row["name"], row["level"], row["province"], row["parent"], row["aliases"], en,
                              row["flags"]]))
    if english:
        raise LexiconError(f"english.tsv names places not in divisions.tsv: {', '.join(sorted(english))}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ countries

_QUALIFIER = re.compile(r"\s*[(（][^)）]*[)）]")


def _country_names(country) -> list[str]:
    """A country's English names: ISO 3166-1's name, common and official names, a parenthesised qualifier
    dropped ("Cocos (Keeling) Islands" -> "Cocos Islands"); names with a comma-inverted qualifier ("Korea,
    Republic of") are left out (their common name, "South Korea", stays)."""
    names = [country.name, getattr(country, "common_name", None), getattr(country, "official_name", None)]
    names = [_QUALIFIER.sub("", n).strip() for n in names if n]
    return [n for n in dict.fromkeys(names) if n and "," not in n]


def build_countries(sources: Path = SOURCES) -> str:
    """Every country of ISO 3166-1 outside the gazetteer's country, and the groups of countries ISO reserves a
    code for (sources/reserved.tsv), with their English and Chinese names.

    Chinese (`zh`, the most frequent word in jieba's dictionary first): ISO's zh_CN translation (a qualifier in
    parentheses dropped), and every CC-CEDICT word whose first sense (parentheses dropped) is one of the
    country's English names, unless that sense is marked slang, derogatory, old, dialect and the like.
    English: ISO's names, the first CC-CEDICT sense of the zh_CN name (Russia for 俄罗斯), and a later sense of
    the same entry that is an abbreviation in capitals (EU, USA) or one capitalised word starting as the
    country's name does (German after Germany). `en_cased` holds the English names that only count as written:
    abbreviations (US) and names that are also a word of an ordinary English sense CC-CEDICT gives in lower case
    (turkey, guinea pig). `within`: other places whose English names hold one of the country's (New Mexico,
    Papua New Guinea, Northern Ireland: ISO 3166-2 subdivisions and the other countries), which are not that
    country. `abbr`: the single characters CC-CEDICT gives for the country (日 for Japan), read in compounds
    such as 中日韩. Left out: the gazetteer's own country, a part of it that ISO lists on its own (its zh_CN
    name starts with the country's, or the gazetteer knows it), and a row with no Chinese name."""
    import gettext

    import jieba
    import pycountry

    zh_cn = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["zh_CN"])
    known = set()
    for _, row in read_tsv(sources / "divisions.tsv", ("name",)):
        known.add(row["name"])
        known.update(a for a in row.get("aliases", "").split("|") if a)
    register = re.compile(r"\([^)]*\b(?:slang|derog|propaganda|archaic|old|dialect|Internet|literary)\b", re.I)
    plain = {word: [_QUALIFIER.sub("", sense).strip() for sense in senses]
             for word, senses in _cedict_definitions().items()
             if re.fullmatch(r"[\u4e00-\u9fff]{2,}", word) and not register.search(senses[0])}
    by_first: dict[str, list[str]] = {}
    for word, senses in plain.items():
        by_first.setdefault(senses[0], []).append(word)
    reserved = [SimpleNamespace(alpha_2=row["code"], name=row["name"])
                for _, row in read_tsv(sources / "reserved.tsv", ("code", "name", "source"))]
    ordinary = {w for senses in plain.values() for sense in senses if sense.islower() for w in sense.split()}
    jieba.setLogLevel(logging.WARNING)
    freq = jieba.Tokenizer()
    freq.initialize()
    rows = []
    for country in sorted([*pycountry.countries, *reserved], key=lambda c: c.alpha_2):
        iso, iso_zh = _country_names(country), _QUALIFIER.sub("", zh_cn.gettext(country.name)).strip()
        if country.alpha_2 == "CN" or iso_zh.startswith("中国"):
            continue
        en, zh = list(iso), [iso_zh]
        first = plain.get(iso_zh, [""])[0]
        if re.fullmatch(r"[A-Z][A-Za-z ]+", first):
            en.append(first)
        for name in list(dict.fromkeys(en)):
            for word in by_first.get(name, []) + by_first.get(f"the {name}", []):
                zh.append(word)
                en.extend(a for a in plain[word][1:] if re.fullmatch(r"[A-Z]{2,3}", a) or (
                    re.fullmatch(r"[A-Z][a-z]+", a) and any(a[:4] == n[:4] for n in iso)))
        zh = [z for z in dict.fromkeys(zh) if re.fullmatch(r"[\u4e00-\u9fff]{2,}", z)]
        if not zh or any(z in known for z in zh):
            continue
        zh.sort(key=lambda z: -freq.FREQ.get(z, 0))   # stable: ties keep ISO's name first
        rows.append((country.alpha_2, list(dict.fromkeys(en)), zh))
    others = {sub.name for sub in pycountry.subdivisions} | {n for _, en, _ in rows for n in en}
    abbr = _abbreviations(rows)
    out = ["code\ten\ten_cased\tzh\twithin\tabbr"]
    for code, en, zh in rows:
        cased = [n for n in en if n.isupper() or n.lower() in ordinary]
        within = sorted(o for o in others if o not in en and any(
            re.search(rf"(?<![A-Za-z]){re.escape(n)}(?![A-Za-z])", o) for n in en))
        out.append(f"{code}\t{'|'.join(n for n in en if n not in cased)}\t{'|'.join(cased)}\t{'|'.join(zh)}"
                   f"\t{'|'.join(within)}\t{''.join(abbr.get(code, []))}")
    return "\n".join(out) + "\n"


def _abbreviations(rows: list[tuple[str, list[str], list[str]]]) -> dict[str, list[str]]:
    """Country code -> the single characters CC-CEDICT gives for it, as in 中日韩, 中欧: a character one of whose
    senses writes one of the country's Chinese names ("日: abbr. for 日本, Japan"; "韩: Korea, esp. South Korea
    大韩民国"), or is an abbreviation for its English name ("泰: abbr. for Thailand") or for a word one of its
    names begins with ("欧: abbr. for 欧洲": 欧洲联盟)."""
    by_zh = {z: code for code, _, zh in rows for z in zh}
    by_en = {n: code for code, en, _ in rows for n in en}
    out: dict[str, list[str]] = {}
    for word, senses in _cedict_definitions().items():
        if not re.fullmatch(r"[\u4e00-\u9fff]", word):
            continue
        for sense in senses:
            words = [w.split("|")[-1] for w in re.findall(r"[\u4e00-\u9fff]+(?:\|[\u4e00-\u9fff]+)?", sense)]
            codes = {by_zh[w] for w in words if w in by_zh}
            m = re.match(r"(?:informal )?abbr\. for (?:the )?([A-Z][^,(\[\u4e00-\u9fff]*?)\s*(?:[\u4e00-\u9fff]|,|$)",
                         sense)
            if not codes and m and m.group(1).strip() in by_en:
                codes = {by_en[m.group(1).strip()]}
            if not codes and sense.startswith("abbr. for") and words and len(words[0]) >= 2:
                codes = {c for z, c in by_zh.items() if z.startswith(words[0])}
            for code in sorted(codes):
                out.setdefault(code, [])
                if word not in out[code]:
                    out[code].append(word)
    return out


# ------------------------------------------------------------------ entry point

def build(sources: Path = SOURCES) -> dict[str, str]:
    """File name -> content, for every file the sources produce."""
    return {"glossary.tsv": build_glossary(sources), "synonyms.tsv": build_synonyms(sources),
            "gazetteer.tsv": build_gazetteer(sources), "countries.tsv": build_countries(sources)}


def stale(data: Path = DATA, sources: Path = SOURCES) -> list[str]:
    """The files in `data` that differ from a rebuild."""
    return [name for name, text in build(sources).items()
            if not (data / name).exists() or (data / name).read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kb.lexicon.build", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when kb/data differs from a rebuild")
    args = parser.parse_args(argv)
    try:
        if args.check:
            differ = stale()
            for name in differ:
                print(f"kb/data/{name} differs from its sources: run python -m kb.lexicon.build", file=sys.stderr)
            return 1 if differ else 0
        for name, text in build().items():
            (DATA / name).write_text(text, encoding="utf-8")
            print(f"wrote kb/data/{name} ({text.count(chr(10)) - 1} entries)")
        return 0
    except (LexiconError, BadInput, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
