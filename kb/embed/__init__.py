"""Embedders behind one interface; `make_embedder(spec)` picks one by name."""
from kb.embed.base import Embedder, EmbeddingCache
from kb.embed.factory import make_embedder

__all__ = ["Embedder", "EmbeddingCache", "make_embedder"]
