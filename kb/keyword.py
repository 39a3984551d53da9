"""BM25 keyword retrieval over jieba tokens, with weighted query terms.

A sparse term x passage matrix of BM25 weights; a query is a dict of term ->
weight (original words 1.0, translations and synonyms less), scored with one
sparse product. No query language: user text never becomes syntax.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
from scipy import sparse


class BM25Index:
    def __init__(self, docs: list[list[str]], k1: float = 1.2, b: float = 0.75):
        self.n = len(docs)
        self.vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        lengths = np.array([len(d) for d in docs], dtype=np.float32)
        avg = float(lengths.mean()) if self.n else 1.0
        df: Counter = Counter()
        counts = []
        for doc in docs:
            c = Counter(doc)
            counts.append(c)
            df.update(c.keys())
        for term in df:
            self.vocab[term] = len(self.vocab)
        self.idf = np.zeros(len(self.vocab), dtype=np.float32)
        for term, i in self.vocab.items():
            self.idf[i] = math.log(1 + (self.n - df[term] + 0.5) / (df[term] + 0.5))
        for j, c in enumerate(counts):
            norm = k1 * (1 - b + b * lengths[j] / avg)
            for term, tf in c.items():
                i = self.vocab[term]
                rows.append(i)
                cols.append(j)
                vals.append(self.idf[i] * tf * (k1 + 1) / (tf + norm))
        self.matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(len(self.vocab), max(self.n, 1)),
                                        dtype=np.float32)

    def __contains__(self, term: str) -> bool:
        return term in self.vocab

    def doc_freq_ratio(self, term: str) -> float:
        i = self.vocab.get(term)
        if i is None:
            return 0.0
        return float(self.matrix[i].nnz) / max(1, self.n)

    def scores(self, query: dict[str, float]) -> np.ndarray:
        idx, weights = [], []
        for term, w in query.items():
            i = self.vocab.get(term)
            if i is not None and w > 0:
                idx.append(i)
                weights.append(w)
        if not idx:
            return np.zeros(self.n, dtype=np.float32)
        sub = self.matrix[idx]
        return np.asarray(sub.T @ np.array(weights, dtype=np.float32)).ravel()[: self.n]


def top_k(scores: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
    """Ranked (row, score) with score > 0, filtered before ranking."""
    s = scores.copy()
    if allowed is not None:
        mask = np.zeros(len(s), dtype=bool)
        mask[allowed] = True
        s[~mask] = 0.0
    candidates = np.nonzero(s > 0)[0]
    if len(candidates) == 0:
        return []
    order = candidates[np.argsort(-s[candidates], kind="stable")][:k]
    return [(int(i), float(s[i])) for i in order]
