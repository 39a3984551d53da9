"""Countries outside the gazetteer's (kb/countries.py, kb/data/countries.tsv built from ISO 3166-1 and CC-CEDICT)."""
from __future__ import annotations

import pytest

from kb.countries import countries, mentions, named


def codes(question: str) -> list[str]:
    return [c.code for c in named(question)]


@pytest.mark.parametrize("question, expected", [
    ("how much plastic waste does Germany recycle", ["DE"]),
    ("German packaging law", ["DE"]),
    ("德国塑料垃圾回收率", ["DE"]),
    ("韩国厨余垃圾收费", ["KR"]),
    ("South Korea food waste fees", ["KR"]),
    ("EU rules on batteries", ["EU"]),
    ("欧盟电池法规", ["EU"]),
    ("recycling in the Netherlands and Japan", ["NL", "JP"]),
    ("Russia waste imports", ["RU"]),
])
def test_a_question_names_countries_in_english_and_chinese(question, expected):
    assert sorted(codes(question)) == sorted(expected)


@pytest.mark.parametrize("question", [
    "Inner Mongolia fly ash in eroded gullies",       # a gazetteer name holding a country's name
    "延边朝鲜族自治州垃圾分类",                          # 朝鲜族 is a word of its own
    "内蒙古 煤矸石",
    "turkey manure compost",                          # an ordinary word: counts only capitalised
    "let us see how cities sort waste",               # US only in capitals
    "中非合作论坛",                                     # 中非 is not a name the table keeps alone
    "how are cities handling phosphogypsum",
])
def test_no_country_where_there_is_none(question):
    assert codes(question) == []


def test_capitalised_ordinary_words_and_abbreviations_count():
    assert codes("Turkey landfill tax") == ["TR"]
    assert codes("how do US cities recycle") == ["US"]


def test_the_gazetteer_country_and_its_parts_are_not_foreign():
    zh = {z for c in countries() for z in c.zh}
    assert not zh & {"中国", "香港", "澳门", "台湾", "中国台湾省"}


def test_a_text_mentions_a_country_by_any_name():
    france = next(c for c in countries() if c.code == "FR")
    assert mentions(france, "引进香港中华煤气、法国苏伊士等国内外企业")
    assert mentions(france, "a French company")
    assert not mentions(france, "循环经济产业园遵循“三分建、七分管”的原则")
