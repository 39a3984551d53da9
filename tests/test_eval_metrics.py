"""The evaluation yardstick: graded passage qrels from anchors, ranx metrics, the paired test, comparisons,
and regression floors on the held-out sets (never targets on the tuning set)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kb.evaluate import (METRICS, QUERY_SETS, build_qrels, compare_reports, evaluate_set, heldout_sets, holds,
                         judge, load_gold, paired_test, per_query_scores, query_set)
from kb.text import squash

EVAL = Path(__file__).resolve().parent.parent / "eval"


def passages(*texts):
    return [{"id": f"p{i}", "text": t} for i, t in enumerate(texts, 1)]


def log2(x):
    return math.log2(x)


# ------------------------------------------------------------------ judgements

def test_a_passage_gets_the_best_grade_among_the_anchors_it_holds():
    relevant = [{"anchor": "赤泥", "grade": 1}, {"anchor": "磷石膏", "grade": 2}, {"anchor": "尾矿", "grade": 1}]
    qrels = build_qrels([{"id": "q", "relevant": relevant}],
                        passages("磷石膏与赤泥综合利用", "赤泥和尾矿", "无关", "尾矿库治理"))
    assert qrels == {"q": {"p1": 2, "p2": 1, "p4": 1}}


def test_duplicate_anchors_in_one_passage_count_once():
    # three anchors, all in one passage: one relevant passage, and a ranking that puts it first is perfect
    relevant = [{"anchor": "磷石膏", "grade": 2}, {"anchor": "综合利用", "grade": 2}, {"anchor": "德阳", "grade": 1}]
    qrels = build_qrels([{"id": "q", "relevant": relevant}], passages("无关", "德阳市磷石膏综合利用"))
    assert qrels == {"q": {"p2": 2}}
    assert per_query_scores(qrels, {"q": ["p2", "p1"]}) == {"q": {m: 1.0 for m in METRICS}}


def test_and_anchor_needs_every_part_in_the_same_passage():
    relevant = [{"anchor": "德阳市&&磷石膏", "grade": 2}]
    ps = passages("德阳市建筑垃圾同城化", "襄阳市磷石膏综合利用", "德阳市磷石膏总利用量")
    assert build_qrels([{"id": "q", "relevant": relevant}], ps) == {"q": {"p3": 2}}
    assert holds("德阳&&磷石膏&&2024", squash("2024年德阳市磷石膏"))
    assert not holds("德阳&&磷石膏&&2025", squash("2024年德阳市磷石膏"))
    assert holds("磷石膏&&", squash("磷石膏"))   # an empty part (trailing &&) is ignored
    # a table row's cells (tab-separated in the source) are parts too: ingest rewrites rows as sentences
    assert holds("生活垃圾回收利用率\t%\t37.67\t37.69", squash("生活垃圾回收利用率（%）：平均值37.67，中位值37.69。"))
    assert not holds("生活垃圾回收利用率\t%\t37.67\t37.69", squash("生活垃圾回收利用率（%）：平均值37.67"))


def test_matching_ignores_whitespace_and_nfkc_width_but_not_case():
    relevant = [{"anchor": "磷石膏 综合利用率 65%", "grade": 2}, {"anchor": "PPP模式", "grade": 1}]
    ps = [("a", squash("磷石膏综合\n利用率６５％以上")), ("b", squash("采用ＰＰＰ 模式建设")), ("c", squash("ppp模式"))]
    assert judge(relevant, ps) == {"a": 2, "b": 1}


def test_queries_with_no_anchor_in_the_knowledge_base_are_unjudged():
    queries = [{"id": "in", "relevant": [{"anchor": "赤泥", "grade": 2}]},
               {"id": "out", "relevant": [{"anchor": "政府工作报告", "grade": 2}]}]
    assert build_qrels(queries, passages("赤泥")) == {"in": {"p1": 2}}


# ------------------------------------------------------------------ metrics (ranx)

def test_perfect_ranking_scores_one_and_nothing_found_scores_zero():
    qrels = {"q": {"a": 2, "b": 1, "c": 1}}
    assert per_query_scores(qrels, {"q": ["a", "b", "c", "x"]}) == {"q": {m: 1.0 for m in METRICS}}
    # grade-1 passages in either order behind the grade-2 one: still ideal
    assert per_query_scores(qrels, {"q": ["a", "c", "b"]})["q"]["ndcg@10"] == pytest.approx(1.0)
    zero = {"q": {m: 0.0 for m in METRICS}}
    assert per_query_scores(qrels, {"q": ["x", "y"]}) == zero
    assert per_query_scores(qrels, {"q": []}) == zero
    assert per_query_scores(qrels, {}) == zero          # a judged query missing from the run
    assert per_query_scores({}, {"q": ["a"]}) == {}


def test_graded_ndcg_recall_mrr_and_hit_exact_values():
    qrels = {"q": {"a": 2, "b": 1, "c": 2, "d": 1}}
    m = per_query_scores(qrels, {"q": ["x", "b", "y", "y2", "y3", "c"]})["q"]
    dcg = 1 / log2(3) + 2 / log2(7)
    idcg = 2 / log2(2) + 2 / log2(3) + 1 / log2(4) + 1 / log2(5)
    assert m["ndcg@10"] == pytest.approx(dcg / idcg)
    assert m["recall@10"] == 0.5                 # b and c of four relevant passages
    assert m["mrr@10-l2"] == pytest.approx(1 / 6)  # the first grade-2 passage is c at rank 6
    assert m["hit_rate@5-l2"] == 0.0             # no grade-2 passage in the top 5


def test_grade_one_only_queries_score_zero_on_the_grade_two_metrics():
    m = per_query_scores({"q": {"a": 1, "b": 1}}, {"q": ["a", "b"]})["q"]
    assert m == {"ndcg@10": 1.0, "recall@10": 1.0, "mrr@10-l2": 0.0, "hit_rate@5-l2": 0.0}


def test_cut_off_at_ten():
    m = per_query_scores({"q": {"a": 2}}, {"q": [f"x{i}" for i in range(10)] + ["a"]})["q"]
    assert m == {m_: 0.0 for m_ in METRICS}
    m = per_query_scores({"q": {"a": 2}}, {"q": [f"x{i}" for i in range(9)] + ["a"]})["q"]
    assert m["ndcg@10"] == pytest.approx(1 / log2(11)) and m["recall@10"] == 1.0 and m["mrr@10-l2"] == 0.1


def test_per_query_scores_stay_with_their_queries():
    qrels = {"b": {"p": 2}, "a": {"p": 2}, "c": {"p": 2}}
    scores = per_query_scores(qrels, {"a": ["p"], "b": ["x", "p"], "c": ["x"]})
    assert [scores[q]["mrr@10-l2"] for q in "abc"] == [1.0, 0.5, 0.0]


# ------------------------------------------------------------------ the paired test

def test_paired_randomisation_test_exact_for_small_sets():
    # differences +1, +1, +1: of the 8 sign assignments only all-plus and all-minus reach |mean| 1
    assert paired_test([0, 0, 0], [1, 1, 1])["p"] == 0.25
    # differences +1, -1: every assignment has |mean| >= 0 ... observed mean 0 -> p = 1
    assert paired_test([0, 1], [1, 0])["p"] == 1.0
    assert paired_test([0.5, 0.2], [0.5, 0.2]) == {"p": 1.0, "p_t": 1.0}
    # differences 1, 2, 3, 4: sums reaching |10| -> 2 of 16
    assert paired_test([0, 0, 0, 0], [1, 2, 3, 4])["p"] == 0.125


def test_paired_randomisation_test_sampled_for_large_sets():
    a = [0.5] * 40
    assert paired_test(a, [0.6] * 40) == {"p": 0.0001, "p_t": 0.0}   # every query better: 1 / 10,001
    mixed = [0.6 if i % 2 else 0.4 for i in range(40)]
    assert paired_test(a, mixed)["p"] == 1.0                   # no mean difference at all
    # 22 queries +0.1, 20 queries -0.1: a tiny mean difference, far from significant, and both tests agree
    r = paired_test([0.5] * 42, [0.6] * 22 + [0.4] * 20)
    assert r["p"] > 0.5 and r["p_t"] > 0.5


def test_compare_reports_pairs_queries_by_id_each_with_its_own_qrels():
    queries = [{"id": "q1", "lang": "en"}, {"id": "q2", "lang": "zh"}, {"id": "q3", "lang": "zh"}]
    a = {"sets": {"s": {"role": "heldout", "queries": queries, "qrels": {"q1": {"a": 2}, "q2": {"b": 2}},
                        "runs": {"hybrid": {"q1": ["a"], "q2": ["x", "b"]}}}}}
    # B was made on a knowledge base with other passage ids: its own qrels judge it
    b = {"sets": {"s": {"role": "heldout", "queries": queries,
                        "qrels": {"q1": {"A": 2}, "q2": {"B": 2}, "q3": {"C": 2}},
                        "runs": {"hybrid": {"q1": ["A"], "q2": ["B"], "q3": ["C"]}}},
                  "other": {"role": "tuning", "queries": [], "qrels": {}, "runs": {}}}}
    cmp = compare_reports(a, b)
    assert list(cmp) == ["s"] and cmp["s"]["role"] == "heldout"
    rows = cmp["s"]["configs"]["hybrid"]
    # per-query differences 0 and 0.5: every sign assignment reaches |mean| 0.25, so p = 1
    assert rows["overall"]["mrr@10-l2"] == {"a": 0.75, "b": 1.0, "diff": 0.25, "n": 2, "p": 1.0, "p_t": 0.5}
    assert rows["en"]["ndcg@10"]["diff"] == 0.0 and rows["en"]["ndcg@10"]["n"] == 1
    assert rows["zh"]["mrr@10-l2"]["a"] == 0.5 and rows["zh"]["mrr@10-l2"]["b"] == 1.0
    assert compare_reports(a, b, configs=["bm25"])["s"]["configs"] == {}


# ------------------------------------------------------------------ the query sets

def test_set_roles_keep_tuning_and_heldout_apart():
    roles = {s.name: s.role for s in QUERY_SETS}
    assert roles == {"gold": "tuning", "heldout": "heldout", "heldout_fresh": "heldout"}
    assert query_set("gold").path == EVAL / "gold.jsonl"
    assert [s.name for s in heldout_sets()] == ["heldout", "heldout_fresh"]
    assert all(s.path.exists() for s in QUERY_SETS)


def test_load_gold_defaults_type(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "q1", "lang": "zh", "query": "磷石膏",
                                "relevant": [{"anchor": "磷石膏", "grade": 2}]}, ensure_ascii=False) + "\n\n",
                    encoding="utf-8")
    assert load_gold([gold]) == [{"id": "q1", "lang": "zh", "query": "磷石膏",
                                  "relevant": [{"anchor": "磷石膏", "grade": 2}], "type": "other"}]


@pytest.mark.parametrize("qset", QUERY_SETS, ids=lambda s: s.name)
def test_query_sets_are_well_formed_and_every_anchor_is_findable(kb, qset):
    """About half English, unique ids, a grade-2 anchor per query, and every anchor held by some passage of
    the ingested corpus (an anchor no passage holds would lower the ideal silently)."""
    queries = load_gold([qset.path])
    assert len(queries) >= 80
    langs = [q["lang"] for q in queries]
    assert abs(langs.count("en") - langs.count("zh")) <= 0.1 * len(queries)
    assert len({q["id"] for q in queries}) == len(queries)
    texts = [squash(p["text"]) for p in kb.iter_passages()]
    missing = []
    for q in queries:
        assert q["type"] != "other", q["id"]
        assert any(a["grade"] == 2 for a in q["relevant"]), q["id"]
        missing += [(q["id"], a["anchor"]) for a in q["relevant"] if not any(holds(a["anchor"], t) for t in texts)]
    assert not missing


# ------------------------------------------------------------------ regression floors (held-out only)

# Hybrid search with translation on the default corpus (the report and six work reports), measured on
# 2026-12-02 with this yardstick (eval/RESULTS.md, "How we measure"): held-out nDCG@10 0.867, recall@10
# 0.964; fresh held-out 0.757, 0.920; English ahead of Chinese on both. Floors = today's figure minus 0.03,
# rounded down: about one standard error of a mean over 80-110 queries (per-query nDCG spreads ~0.25), so a
# changed passage split or tokenizer does not fail the suite by noise while a real regression does. English
# may trail Chinese by at most 0.03 nDCG@10 (issue 14's target).
FLOORS = {
    "heldout": {"ndcg@10": 0.85, "recall@10": 0.93, "en_gap": 0.03},          # measured 0.885 / 0.966
    "heldout_fresh": {"ndcg@10": 0.74, "recall@10": 0.90, "en_gap": 0.03},    # measured 0.774 / 0.929
}


@pytest.mark.parametrize("name", list(FLOORS))
def test_retrieval_floors_hold_on_the_heldout_sets(kb, name):
    """A change that lowers held-out retrieval below today's level (less a margin) fails here. Targets are
    not asserted on the tuning set: it was tuned on, so it would pass too easily."""
    qset = query_set(name)
    assert qset.role == "heldout"
    entry = evaluate_set(kb, qset, modes=("hybrid",), translate_options=(True,))
    fig = entry["figures"]["hybrid"]
    overall, en, zh = fig["overall"], fig["lang"]["en"], fig["lang"]["zh"]
    floor = FLOORS[name]
    assert not entry["unjudged"] and entry["anchors_missing"] == 0
    assert overall["ndcg@10"] >= floor["ndcg@10"], overall
    assert overall["recall@10"] >= floor["recall@10"], overall
    assert zh["ndcg@10"] - en["ndcg@10"] <= floor["en_gap"], (en, zh)
