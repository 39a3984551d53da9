"""Deterministic hashed character n-gram vectors: fast plumbing tests, never for real search."""
from __future__ import annotations

import hashlib

import numpy as np

from kb.embed.base import Embedder, normalise
from kb.text import fold


class HashEmbedder(Embedder):
    key = "hash-ngram-256"
    dim = 256

    def _one(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        t = fold(text).replace(" ", "")
        for n in (1, 2):
            for i in range(len(t) - n + 1):
                h = int.from_bytes(hashlib.md5(t[i: i + n].encode("utf-8")).digest()[:4], "little")
                vec[h % self.dim] += 1.0
        return vec

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return normalise(np.vstack([self._one(t) for t in texts])) if texts else np.zeros((0, self.dim), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return normalise(self._one(text))[0]
