"""`score_query` on hand-made passages and anchors: exact nDCG@10, recall@10, MRR@10, hit@5."""
from __future__ import annotations

import json
import math

import pytest

from kb.evaluate import METRICS, holds, load_gold, score_query
from kb.text import squash


def log2(x):
    return math.log2(x)


def test_metric_names():
    assert METRICS == ("ndcg@10", "recall@10", "mrr@10", "hit@5")


def test_graded_anchors_exact_values():
    relevant = [{"anchor": "磷石膏", "grade": 2}, {"anchor": "赤泥", "grade": 1}]
    texts = ["建筑垃圾资源化利用", "磷石膏综合利用率达到65%", "山东省开展赤泥综合利用攻坚"]
    m = score_query(relevant, texts)
    dcg = 2 / log2(3) + 1 / log2(4)
    idcg = 2 / log2(2) + 1 / log2(3)
    assert m["ndcg@10"] == pytest.approx(dcg / idcg)
    assert m["ndcg@10"] == pytest.approx(0.669672, abs=1e-6)
    assert m["recall@10"] == 1.0
    assert m["mrr@10"] == 0.5
    assert m["hit@5"] == 1.0


def test_perfect_ranking_is_one_and_nothing_found_is_zero():
    relevant = [{"anchor": "磷石膏", "grade": 2}, {"anchor": "赤泥", "grade": 1}]
    assert score_query(relevant, ["磷石膏", "赤泥", "无关"]) == {
        "ndcg@10": 1.0, "recall@10": 1.0, "mrr@10": 1.0, "hit@5": 1.0}
    assert score_query(relevant, ["无关", "也无关"]) == {
        "ndcg@10": 0.0, "recall@10": 0.0, "mrr@10": 0.0, "hit@5": 0.0}
    assert score_query(relevant, []) == {"ndcg@10": 0.0, "recall@10": 0.0, "mrr@10": 0.0, "hit@5": 0.0}


def test_partial_recall():
    relevant = [{"anchor": "甲", "grade": 2}, {"anchor": "乙", "grade": 2}, {"anchor": "丙", "grade": 2},
                {"anchor": "丁", "grade": 1}]
    m = score_query(relevant, ["x", "乙", "x", "x", "丁"])
    assert m["recall@10"] == 0.5
    assert m["mrr@10"] == 0.5
    assert m["hit@5"] == 1.0
    dcg = 2 / log2(3) + 1 / log2(6)
    idcg = 2 / log2(2) + 2 / log2(3) + 2 / log2(4) + 1 / log2(5)
    assert m["ndcg@10"] == pytest.approx(dcg / idcg)


def test_and_anchor_needs_every_part_in_the_same_passage():
    relevant = [{"anchor": "德阳市&&磷石膏", "grade": 2}]
    # the parts are in different passages at ranks 1 and 2: not found there
    m = score_query(relevant, ["德阳市建筑垃圾同城化", "襄阳市磷石膏综合利用", "德阳市磷石膏总利用量"])
    # gains [0, 0, 2]: DCG 2/log2(4) = 1, ideal DCG 2
    assert m == {"ndcg@10": 0.5, "recall@10": 1.0, "mrr@10": pytest.approx(1 / 3), "hit@5": 1.0}
    assert score_query(relevant, ["德阳市", "磷石膏"])["recall@10"] == 0.0
    # three parts, and an empty part (trailing &&) is ignored
    assert holds("德阳&&磷石膏&&2024", squash("2024年德阳市磷石膏"))
    assert not holds("德阳&&磷石膏&&2025", squash("2024年德阳市磷石膏"))
    assert holds("磷石膏&&", squash("磷石膏"))


def test_matching_ignores_whitespace_and_nfkc_width():
    # anchor with spaces, text with a line break and full-width digits / letters / punctuation
    relevant = [{"anchor": "磷石膏 综合利用率 65%", "grade": 2}, {"anchor": "PPP模式", "grade": 2}]
    texts = ["磷石膏综合\n利用率６５％以上", "采用ＰＰＰ 模式建设"]
    m = score_query(relevant, texts)
    assert m == {"ndcg@10": 1.0, "recall@10": 1.0, "mrr@10": 1.0, "hit@5": 1.0}
    assert holds("２０２４ 年", squash("2024年"))
    # NFKC, not case folding: the anchor is case sensitive
    assert not holds("ppp", squash("PPP"))


def test_an_anchor_found_twice_counts_once():
    relevant = [{"anchor": "磷石膏", "grade": 2}]
    m = score_query(relevant, ["磷石膏一", "磷石膏二", "磷石膏三"])
    # gains [2, 0, 0]: later copies add nothing to DCG or recall
    assert m == {"ndcg@10": 1.0, "recall@10": 1.0, "mrr@10": 1.0, "hit@5": 1.0}
    relevant = [{"anchor": "甲", "grade": 2}, {"anchor": "乙", "grade": 2}]
    m = score_query(relevant, ["甲", "甲", "乙"])
    assert m["recall@10"] == 1.0
    assert m["ndcg@10"] == pytest.approx((2 + 2 / log2(4)) / (2 + 2 / log2(3)))
    assert m["mrr@10"] == 1.0


def test_grade_one_only_queries_give_mrr_and_hit_zero():
    relevant = [{"anchor": "赤泥", "grade": 1}, {"anchor": "尾矿", "grade": 1}]
    m = score_query(relevant, ["赤泥综合利用", "尾矿库"])
    assert m == {"ndcg@10": 1.0, "recall@10": 1.0, "mrr@10": 0.0, "hit@5": 0.0}
    # grade defaults to 1
    m = score_query([{"anchor": "赤泥"}], ["赤泥"])
    assert m == {"ndcg@10": 1.0, "recall@10": 1.0, "mrr@10": 0.0, "hit@5": 0.0}


def test_mrr_uses_the_first_grade_two_anchor_not_the_first_relevant_passage():
    relevant = [{"anchor": "赤泥", "grade": 1}, {"anchor": "磷石膏", "grade": 2}]
    m = score_query(relevant, ["赤泥", "x", "x", "磷石膏"])
    assert m["mrr@10"] == 0.25
    assert m["hit@5"] == 1.0
    assert m["ndcg@10"] == pytest.approx((1 + 2 / log2(5)) / (2 + 1 / log2(3)))


def test_hit_at_5_and_cut_off_at_10():
    relevant = [{"anchor": "磷石膏", "grade": 2}]
    texts = ["x"] * 5 + ["磷石膏"]
    m = score_query(relevant, texts)
    assert m["mrr@10"] == pytest.approx(1 / 6)
    assert m["hit@5"] == 0.0
    assert m["ndcg@10"] == pytest.approx(2 / log2(7) / 2)
    # rank 11 is outside the top 10: nothing counts
    m = score_query(relevant, ["x"] * 10 + ["磷石膏"])
    assert m == {"ndcg@10": 0.0, "recall@10": 0.0, "mrr@10": 0.0, "hit@5": 0.0}


def test_empty_relevant_list_scores_zero():
    assert score_query([], ["磷石膏"]) == {"ndcg@10": 0.0, "recall@10": 0.0, "mrr@10": 0.0, "hit@5": 0.0}


def test_load_gold_defaults_type(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "q1", "lang": "zh", "query": "磷石膏",
                                "relevant": [{"anchor": "磷石膏", "grade": 2}]}, ensure_ascii=False) + "\n\n",
                    encoding="utf-8")
    assert load_gold([gold]) == [{"id": "q1", "lang": "zh", "query": "磷石膏",
                                  "relevant": [{"anchor": "磷石膏", "grade": 2}], "type": "other"}]


@pytest.mark.parametrize("name", ["gold.jsonl", "heldout.jsonl"])
def test_project_gold_sets_are_well_formed_and_every_anchor_is_findable(kb, name):
    """Half English, half Chinese, every query typed and with a grade-2 anchor, and every anchor held by
    some passage of the ingested report (an anchor no passage holds would cap recall silently)."""
    from pathlib import Path

    queries = load_gold([Path(__file__).resolve().parent.parent / "eval" / name])
    assert len(queries) >= 80
    langs = [q["lang"] for q in queries]
    assert abs(langs.count("en") - langs.count("zh")) <= 2
    assert len({q["id"] for q in queries}) == len(queries)
    texts = [squash(p["text"]) for p in kb.passages]
    missing = []
    for q in queries:
        assert q["type"] in {"precedent", "lookup", "number", "region", "instrument"}, q["id"]
        assert any(a["grade"] == 2 for a in q["relevant"]), q["id"]
        missing += [(q["id"], a["anchor"]) for a in q["relevant"] if not any(holds(a["anchor"], t) for t in texts)]
    assert not missing


def test_retrieval_targets_hold_on_the_project_gold_set(kb):
    """Issue 3's bar, so a change that breaks it fails here and not only in RESULTS.md: hybrid nDCG@10 >= 0.70,
    recall@10 >= 0.85, MRR@10 >= 0.80, and English no more than 0.05 below Chinese on each figure."""
    from pathlib import Path

    from kb.evaluate import run_eval

    gold = Path(__file__).resolve().parent.parent / "eval" / "gold.jsonl"
    hybrid = run_eval(kb, [gold], modes=["hybrid"], translate_options=(True,))["configs"]["hybrid"]
    overall, en, zh = hybrid["overall"], hybrid["lang"]["en"], hybrid["lang"]["zh"]
    assert overall["ndcg@10"] >= 0.70 and overall["recall@10"] >= 0.85 and overall["mrr@10"] >= 0.80, overall
    for metric in METRICS:
        assert en[metric] >= zh[metric] - 0.05, (metric, en, zh)
