"""The embedder interface and a content-hash embedding cache."""
from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Callable

import numpy as np


class Embedder:
    """Turns texts into L2-normalised float32 vectors.

    `key` names the model and its settings; it is saved beside every index built
    with it, and an index built with another key is refused.
    """

    key: str = "base"
    dim: int = 0

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def embed_query(self, text: str) -> np.ndarray:
        raise NotImplementedError


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class EmbeddingCache:
    """Vectors keyed by (embedder key, sha1 of the text), in a small SQLite file.

    Shared by all generations, so a re-ingest embeds only passages whose text changed.
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash TEXT, dim INT, vec BLOB, "
                          "PRIMARY KEY (model, hash))")

    @staticmethod
    def text_hash(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def embed(self, embedder: Embedder, texts: list[str], batch: int = 16,
              progress: Callable[[int], None] | None = None) -> np.ndarray:
        hashes = [self.text_hash(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(hashes), 500):
                chunk = hashes[i: i + 500]
                rows = self.conn.execute(
                    f"SELECT hash, vec FROM vectors WHERE model = ? AND hash IN ({','.join('?' * len(chunk))})",
                    [embedder.key, *chunk]).fetchall()
                for h, blob in rows:
                    found[h] = np.frombuffer(blob, dtype=np.float32)
        missing = [i for i, h in enumerate(hashes) if h not in found]
        if progress:
            progress(len(texts) - len(missing))
        for start in range(0, len(missing), batch):
            idx = missing[start: start + batch]
            vecs = embedder.embed_passages([texts[i] for i in idx])
            with self._lock, self.conn:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)",
                    [(embedder.key, hashes[i], vecs.shape[1], vecs[j].astype(np.float32).tobytes())
                     for j, i in enumerate(idx)])
            for j, i in enumerate(idx):
                found[hashes[i]] = vecs[j]
            if progress:
                progress(len(idx))
        if not texts:
            return np.zeros((0, embedder.dim), dtype=np.float32)
        return np.vstack([found[h] for h in hashes]).astype(np.float32)
