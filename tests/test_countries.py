"""Countries outside the gazetteer's (kb/countries.py, kb/data/countries.tsv built from ISO 3166-1 and CC-CEDICT)."""
from __future__ import annotations

import pytest

from kb.countries import countries, mentioned, mentions, named


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
    "Inner-Mongolia fly ash",
    "New Mexico landfill rules",                      # an ISO 3166-2 subdivision holding a country's name
    "Northern Ireland landfill tax",
    "TELL US ABOUT WASTE SORTING",                    # shouted text has no abbreviations
    "德、国的做法",                                     # a run of words must be adjacent in the text
    "东洋镇垃圾分类",                                   # a country word followed by a place suffix
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


def test_the_longest_name_wins():
    assert codes("Papua New Guinea waste pickers") == ["PG"]
    assert codes("South Sudan oil waste") == ["SS"]
    assert codes("Guinea-Bissau") == ["GW"]
    assert codes("印度尼西亚塑料垃圾") == ["ID"]
    assert mentioned("印度尼西亚的做法") == {"ID"}


def test_a_text_does_not_mention_a_country_inside_a_chinese_place_name():
    assert mentioned("内蒙古自治区鄂尔多斯市") == set()
    assert mentioned("大连市长海县") == set()


def test_every_row_has_a_name():
    assert all(c.zh and c.name for c in countries())
    assert next(c for c in countries() if c.code == "KR").name.startswith("韩国")   # the common name first


def test_abbreviations_after_zhong_are_mentions():
    """CC-CEDICT's one-character abbreviations, read after 中 as the reports write them."""
    assert mentioned("推进中日韩自贸区、中欧投资协定谈判") == {"JP", "KR", "EU"}
    assert mentioned("稳妥应对中美经贸摩擦") == {"US"}


def test_english_country_names_translate_to_their_chinese_name(kb):
    """The query translator knows the countries too: South Korea is 韩国, not South (华南) + an unknown word."""
    plan = kb.plan("South Korea volume-based fee for food waste")
    assert "韩国" in plan.expanded and "华南" not in plan.expanded
