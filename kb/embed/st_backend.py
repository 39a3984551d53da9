"""Any sentence-transformers model, by Hub name or local folder.

E5-family models get their `query: ` / `passage: ` prefixes; models that ship
prompts (bge-m3, gte...) use their own. Loading never reaches the network when
HF_HUB_OFFLINE=1 (the model must then be a local folder or already cached).
"""
from __future__ import annotations

import hashlib
import os

import numpy as np

from kb.embed.base import Embedder, normalise
from kb.errors import EmbedderUnavailable


class SentenceTransformerEmbedder(Embedder):
    def __init__(self, model: str, device: str = "cpu", batch_size: int = 16):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderUnavailable(
                "sentence-transformers is not installed: pip install '.[st]' (needs torch)") from exc
        try:
            self._model = SentenceTransformer(model, device=device)
        except Exception as exc:  # missing folder, no network, bad config
            raise EmbedderUnavailable(f"cannot load sentence-transformers model {model!r}: {exc}") from exc
        self.batch_size = batch_size
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension  # renamed in sentence-transformers 6
        self.dim = int(get_dim())
        name = os.path.basename(model.rstrip("/")) or model
        fingerprint = hashlib.sha1(model.encode("utf-8")).hexdigest()[:6]
        self.key = f"st-{name}-{fingerprint}-{self.dim}"
        self._e5 = "e5" in model.lower()

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        texts = [f"passage: {t}" for t in texts] if self._e5 else list(texts)
        return normalise(self._model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                            show_progress_bar=False))

    def embed_query(self, text: str) -> np.ndarray:
        text = f"query: {text}" if self._e5 else text
        return normalise(self._model.encode([text], normalize_embeddings=True, show_progress_bar=False))[0]
