"""The English side of a passage (kb/english_side.py), on a sentence of the report, with the real dictionaries."""
from __future__ import annotations

import pytest

from kb.english_side import EnglishSide, tokens
from kb.text import cjk_count

# corpus/zero-waste-cities-2024.txt (industrial section), with a figure
SENTENCE = "贵阳市推进工业固体废物综合利用，建成3个资源循环利用基地。"


@pytest.fixture(scope="module")
def side() -> EnglishSide:
    return EnglishSide()


def test_places_glossary_terms_and_figures_get_their_english(side):
    phrases = side.phrases(SENTENCE)
    assert phrases[0] == "Guiyang"                      # the gazetteer's English name, first in text order
    assert "industrial solid waste" in phrases          # a glossary form of 6 characters, read in reverse
    assert "solid waste" in phrases                     # and the shorter form inside it
    assert "3" in phrases                               # figures come through as they are
    assert side.gloss(SENTENCE).startswith("Guiyang promote industrial solid waste")


def test_an_english_question_meets_the_passage_in_english_tokens(side):
    index = side.index_tokens(SENTENCE)
    query = tokens("Which cities recycle industrial solid wastes in Guiyang?")
    assert query == ["citi", "recycl", "industri", "solid", "wast", "guiyang"]   # stop words out, stemmed
    assert set(query) - {"citi"} <= set(index)
    assert not any(cjk_count(t) for t in index)


def test_one_occurrence_counts_each_english_stem_once(side):
    # 企业 has "enterprise" and "enterprises" (and company, firm...) in the glossary: one stem, counted once
    assert side.index_tokens("企业").count("enterpris") == 1
    assert side.index_tokens("企业，企业").count("enterpris") == 2


def test_lone_characters_are_not_translated(side):
    assert side.phrases("市") == []
