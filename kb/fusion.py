"""Small pure functions that combine ranked lists."""
from __future__ import annotations

from typing import Hashable, Iterable, Sequence


def rrf(rankings: Sequence[Sequence[Hashable]], k: int = 60,
        weights: Sequence[float] | None = None) -> list[tuple[Hashable, float]]:
    """Reciprocal rank fusion: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[Hashable, float] = {}
    for ranking, w in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda x: (-x[1], str(x[0])))


def diversify(ranked: Sequence[tuple[Hashable, float]], group_of, k: int,
              per_group: int = 1) -> list[tuple[Hashable, float]]:
    """Spread the top k across groups: at most `per_group` per group in a first pass
    (in score order), then fill with what is left, still in score order."""
    chosen: list[tuple[Hashable, float]] = []
    counts: dict[Hashable, int] = {}
    rest: list[tuple[Hashable, float]] = []
    for item, score in ranked:
        g = group_of(item)
        if g is None or counts.get(g, 0) < per_group:
            chosen.append((item, score))
            if g is not None:
                counts[g] = counts.get(g, 0) + 1
        else:
            rest.append((item, score))
        if len(chosen) >= k:
            return chosen
    return chosen + rest[: k - len(chosen)]


def dedupe(items: Iterable[Hashable]) -> list[Hashable]:
    return list(dict.fromkeys(items))
