"""Reciprocal rank fusion and diversification on hand-made ranked lists, with exact expectations."""
from __future__ import annotations


from kb.fusion import dedupe, diversify, rrf


def ids(fused):
    return [item for item, _ in fused]


# ---------------------------------------------------------------- rrf

def test_rrf_sums_reciprocal_ranks_with_default_k_60():
    fused = rrf([["a", "b", "c"], ["b", "c", "d"]])
    assert fused == [
        ("b", 1 / 61 + 1 / 62),
        ("c", 1 / 62 + 1 / 63),
        ("a", 1 / 61),
        ("d", 1 / 63),
    ]


def test_rrf_single_list_keeps_its_order():
    assert ids(rrf([["x", "y", "z"]])) == ["x", "y", "z"]


def test_rrf_k_constant_changes_scores_and_can_change_order():
    # k=0: 1/rank
    assert rrf([["a", "b"]], k=0) == [("a", 1.0), ("b", 0.5)]
    rankings = [["a", "x", "c"], ["b", "y", "c"]]
    # small k rewards a single first place: a, b (1/1) beat c (1/3 + 1/3)
    assert rrf(rankings, k=0) == [("a", 1.0), ("b", 1.0), ("c", 2 / 3), ("x", 0.5), ("y", 0.5)]
    # the usual k=60 rewards agreement: c (third twice) beats a and b (first once)
    assert rrf(rankings) == [("c", 2 / 63), ("a", 1 / 61), ("b", 1 / 61), ("x", 1 / 62), ("y", 1 / 62)]


def test_rrf_ties_are_broken_by_id_deterministically():
    # b and a get exactly the same score (1/61 + 1/62): the order is by str(id)
    fused = rrf([["b", "a"], ["a", "b"]])
    assert fused == [("a", 1 / 61 + 1 / 62), ("b", 1 / 61 + 1 / 62)]
    assert rrf([["a", "b"], ["b", "a"]]) == fused
    # items only in one list, same rank, same score
    assert ids(rrf([["q"], ["p"], ["r"]])) == ["p", "q", "r"]


def test_rrf_weights_scale_each_list():
    assert rrf([["a"], ["b"]], weights=[1.0, 2.0]) == [("b", 2 / 61), ("a", 1 / 61)]
    fused = rrf([["a", "b"], ["b", "a"]], k=10, weights=[3.0, 1.0])
    assert fused == [("a", 3 / 11 + 1 / 12), ("b", 3 / 12 + 1 / 11)]
    # weight 0 removes a list's contribution (items keep score 0 and go last)
    assert rrf([["a"], ["b"]], weights=[0.0, 1.0]) == [("b", 1 / 61), ("a", 0.0)]


def test_rrf_integer_row_ids_and_empty_input():
    assert rrf([]) == []
    assert rrf([[], []]) == []
    assert rrf([[3, 1], [1]]) == [(1, 1 / 62 + 1 / 61), (3, 1 / 61)]


# ---------------------------------------------------------------- diversify

RANKED = [("a1", 0.9), ("a2", 0.8), ("b1", 0.7), ("a3", 0.6), ("c1", 0.5), ("b2", 0.4)]


def group(item):
    return item[0]


def test_diversify_one_per_group_first_in_score_order():
    assert diversify(RANKED, group, 3) == [("a1", 0.9), ("b1", 0.7), ("c1", 0.5)]


def test_diversify_stops_early_when_k_reached():
    assert diversify(RANKED, group, 2) == [("a1", 0.9), ("b1", 0.7)]
    assert diversify(RANKED, group, 1) == [("a1", 0.9)]


def test_diversify_fills_with_the_rest_in_score_order():
    assert diversify(RANKED, group, 4) == [("a1", 0.9), ("b1", 0.7), ("c1", 0.5), ("a2", 0.8)]
    assert diversify(RANKED, group, 5) == [("a1", 0.9), ("b1", 0.7), ("c1", 0.5), ("a2", 0.8), ("a3", 0.6)]
    # k beyond the list: everything, each item once
    out = diversify(RANKED, group, 50)
    assert out == [("a1", 0.9), ("b1", 0.7), ("c1", 0.5), ("a2", 0.8), ("a3", 0.6), ("b2", 0.4)]
    assert sorted(out) == sorted(RANKED)


def test_diversify_per_group_two():
    assert diversify(RANKED, group, 4, per_group=2) == [("a1", 0.9), ("a2", 0.8), ("b1", 0.7), ("c1", 0.5)]
    assert diversify(RANKED, group, 6, per_group=2) == [
        ("a1", 0.9), ("a2", 0.8), ("b1", 0.7), ("c1", 0.5), ("b2", 0.4), ("a3", 0.6)]


def test_diversify_none_group_is_never_limited():
    ranked = [("x", 0.9), ("y", 0.8), ("a1", 0.7), ("a2", 0.6), ("z", 0.5)]
    assert diversify(ranked, lambda i: None if len(i) == 1 else i[0], 4) == [
        ("x", 0.9), ("y", 0.8), ("a1", 0.7), ("z", 0.5)]


def test_diversify_single_group_is_plain_truncation():
    ranked = [(i, 1.0 / (i + 1)) for i in range(10)]
    assert diversify(ranked, lambda i: "same", 5) == ranked[:5]
    assert diversify([], group, 5) == []


def test_diversify_after_rrf():
    fused = rrf([["a1", "a2", "b1"], ["a2", "a1", "c1"]])
    assert ids(fused) == ["a1", "a2", "b1", "c1"]
    assert ids(diversify(fused, group, 3)) == ["a1", "b1", "c1"]


def test_dedupe_keeps_first_occurrence():
    assert dedupe(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]
