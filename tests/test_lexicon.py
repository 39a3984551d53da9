"""The lexicon is rebuilt from its sources: deterministic, every entry sourced, nothing keyed to the
tuning set, place names that resolve as the administrative divisions say."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from kb.gazetteer import Gazetteer
from kb.lexicon.build import (
    DATA,
    GLOSSARY_SOURCES,
    SOURCES,
    SYNONYM_SOURCES,
    LexiconError,
    build,
    read_tsv,
    romanise,
    stale,
)
from kb.query import _key
from kb.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def built() -> dict[str, str]:
    return build()


def test_build_is_deterministic_and_matches_the_committed_files(built):
    assert build() == built
    for name, text in built.items():
        assert (DATA / name).read_text(encoding="utf-8") == text, f"kb/data/{name}: run python -m kb.lexicon.build"


def test_check_flag_reports_a_stale_file(tmp_path, built):
    for name, text in built.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with (tmp_path / "synonyms.tsv").open("a", encoding="utf-8") as f:
        f.write("危废\t危险废物\n")
    assert stale(tmp_path) == ["synonyms.tsv"]
    done = subprocess.run([sys.executable, "-m", "kb.lexicon.build", "--check"], check=False,
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_every_entry_has_a_source():
    glossary = read_tsv(SOURCES / "glossary.tsv", ("en", "zh", "kind", "source", "note"))
    assert len(glossary) > 5000
    assert {row["source"] for _, row in glossary} <= set(GLOSSARY_SOURCES)
    synonyms = read_tsv(SOURCES / "synonyms.tsv", ("term", "expansions", "source", "note"))
    assert all(row["source"] in SYNONYM_SOURCES and row["note"] for _, row in synonyms)
    divisions = read_tsv(SOURCES / "divisions.tsv", ("name", "level", "province", "parent", "aliases", "flags", "source"))
    assert all(row["source"] for _, row in divisions)
    english = read_tsv(SOURCES / "english.tsv", ("name", "en", "reason"))
    assert all(row["reason"] for _, row in english)
    removed = read_tsv(SOURCES / "removed.tsv", ("en", "zh", "kind", "reason"))
    assert all(row["reason"] for _, row in removed)


def test_no_glossary_key_is_a_tuning_query_or_a_removed_entry(built):
    keys = {_key(line.split("\t")[0]) for line in built["glossary.tsv"].splitlines()[1:]}
    gold = [json.loads(line) for line in (PROJECT_ROOT / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines()]
    queries = {_key(g["query"]) for g in gold if g["lang"] == "en"}
    assert len(queries) > 90
    assert not keys & queries
    removed = {_key(row["en"]) for _, row in read_tsv(SOURCES / "removed.tsv", ("en", "zh"))}
    assert {"before and after", "egg embryo", "bring your own cup", "zero waste lake", "zero waste oilfield"} <= removed
    assert not keys & removed


def _copy_sources(tmp_path):
    folder = tmp_path / "sources"
    shutil.copytree(SOURCES, folder)
    return folder


def test_build_refuses_unsourced_or_unchecked_rows(tmp_path):
    folder = _copy_sources(tmp_path)
    glossary = folder / "glossary.tsv"
    original = glossary.read_text(encoding="utf-8")
    cases = {
        "kerbside bin\t垃圾桶\tfacility\tcedict\t\n": "CC-CEDICT gives 'kerbside bin' for none",
        "kerbside bin\t垃圾桶\tfacility\tcurated\t\n": "needs a note",
        "kerbside bin\t垃圾桶\tfacility\tguess\tx\n": "unknown source",
        "egg embryos\t鸡胚\twaste\tcurated\tembryos from vaccine makers\n": "was removed",
        "solid wastes\t固体废物\twaste\tcurated\tplural\n": "same key as line",
    }
    for row, message in cases.items():
        glossary.write_text(original + row, encoding="utf-8")
        with pytest.raises(LexiconError, match=message):
            build(folder)
    glossary.write_text(original + "rubbish can\t垃圾箱\tfacility\tcedict\t\n", encoding="utf-8")
    assert build(folder)["glossary.tsv"].endswith("rubbish can\t垃圾箱\tfacility\n")   # CC-CEDICT: 垃圾箱


def test_a_place_english_exception_must_differ_from_pinyin(tmp_path):
    folder = _copy_sources(tmp_path)
    with (folder / "english.tsv").open("a", encoding="utf-8") as f:
        f.write("贵阳市\tGuiyang\tusual name\n")
    with pytest.raises(LexiconError, match="plain pinyin"):
        build(folder)


@pytest.mark.parametrize("name, english", [
    ("山西省", "Shanxi"),
    ("长治市", "Changzhi"),              # 长 read cháng in place names
    ("吕梁市", "Lüliang"),
    ("红河哈尼族彝族自治州", "Honghe"),    # two nationalities and the autonomy designation stripped
    ("新疆维吾尔自治区", "Xinjiang"),
    ("陵水黎族自治县", "Lingshui"),       # 水 is a nationality too, but here part of the name
    ("忠县", "Zhongxian"),               # a one-character name keeps its suffix
    ("海淀区", "Haidian"),
    ("雄安新区", "Xiong'an New Area"),
    ("锡林郭勒盟", "Xilinguolei League"),  # the pinyin; english.tsv gives Xilingol League
])
def test_romanise(name, english):
    assert romanise(name) == english


def test_place_pairs_resolve_as_the_divisions_say(built, tmp_path):
    (tmp_path / "gazetteer.tsv").write_text(built["gazetteer.tsv"], encoding="utf-8")
    gaz = Gazetteer(tmp_path / "gazetteer.tsv")
    assert gaz.resolve("Shanxi").name == "山西省"
    assert gaz.resolve("Shaanxi").name == "陕西省"
    assert gaz.resolve("shaanxi province").name == "陕西省"
    assert gaz.resolve("陕西").name == "陕西省" and gaz.resolve("山西").name == "山西省"
    assert gaz.places["陕西省"].en == "Shaanxi" and gaz.places["山西省"].en == "Shanxi"
    assert gaz.resolve("Inner Mongolia").name == "内蒙古自治区"
    assert gaz.resolve("Xilingol League").name == "锡林郭勒盟"
    assert gaz.resolve("Hohhot").name == "呼和浩特市"
    assert gaz.resolve("Haidian").name == "海淀区"
    assert gaz.resolve("Changzhi").name == "长治市"
    assert gaz.places["长治市"].province == "山西省"
    assert gaz.contains("陕西省", "西安市") and not gaz.contains("山西省", "西安市")
