"""The embedder interface and a content-hash embedding cache."""
from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from kb.errors import EmbeddingFailed

log = logging.getLogger("kb.embed")


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

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Several queries at once (one row each, equal to `embed_query`); engines that batch override it."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self.embed_query(t) for t in texts]).astype(np.float32)


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class EmbeddingCache:
    """Vectors keyed by (embedder key, sha1 of the text), in a small SQLite file.

    Shared by all generations, so a re-ingest embeds only passages whose text changed. The cache is
    only a cache: a damaged file is moved aside (with a warning) and rebuilt, and a stored vector of the
    wrong size, not finite or not of unit length is ignored and embedded again.
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self.conn = self._connect()
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            self._move_aside(exc)
            self.conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, hash TEXT, dim INT, vec BLOB, "
                         "PRIMARY KEY (model, hash))")
            conn.execute("SELECT count(*) FROM vectors WHERE model = ''").fetchone()
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _move_aside(self, exc: Exception) -> None:
        aside = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                os.replace(src, Path(str(aside) + suffix))
        log.warning("warning: the embedding cache %s was damaged (%s): moved aside to %s, rebuilding it",
                    self.path, " ".join(str(exc).split())[:120], aside.name)

    def _reset(self, exc: Exception) -> None:
        with self._lock:
            try:
                self.conn.close()
            except sqlite3.Error:
                pass
            self._move_aside(exc)
            self.conn = self._connect()

    def put(self, model: str, hashes: list[str], vecs: np.ndarray, replace: bool = True) -> int:
        """Store vectors under (model, text hash); without `replace`, rows already there are kept. Returns
        how many rows were written."""
        rows = [(model, str(h), vecs.shape[1], np.asarray(v, dtype=np.float32).tobytes())
                for h, v in zip(hashes, vecs)]
        with self._lock, self.conn:
            before = self.conn.total_changes
            self.conn.executemany(f"INSERT OR {'REPLACE' if replace else 'IGNORE'} INTO vectors VALUES (?, ?, ?, ?)",
                                  rows)
            return self.conn.total_changes - before

    def close(self) -> None:
        self.conn.close()

    @staticmethod
    def text_hash(text: str) -> str:
        return hashlib.sha1(text.encode("utf-8")).hexdigest()

    def embed(self, embedder: Embedder, texts: list[str], batch: int = 16,
              progress: Callable[[int], None] | None = None) -> np.ndarray:
        try:
            return self._embed(embedder, texts, batch, progress)
        except sqlite3.DatabaseError as exc:
            if not _damaged(exc):
                raise
            self._reset(exc)   # a page went bad under us: start a fresh cache and embed again
            return self._embed(embedder, texts, batch, None)

    def _embed(self, embedder: Embedder, texts: list[str], batch: int,
               progress: Callable[[int], None] | None) -> np.ndarray:
        hashes = [self.text_hash(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for i in range(0, len(hashes), 500):
                chunk = hashes[i: i + 500]
                rows = self.conn.execute(
                    f"SELECT hash, vec FROM vectors WHERE model = ? AND hash IN ({','.join('?' * len(chunk))})",
                    [embedder.key, *chunk]).fetchall()
                for h, blob in rows:
                    vec = _valid_vector(blob, embedder.dim)
                    if vec is not None:
                        found[h] = vec
        missing = [i for i, h in enumerate(hashes) if h not in found]
        if progress:
            progress(len(texts) - len(missing))
        for start in range(0, len(missing), batch):
            idx = missing[start: start + batch]
            vecs = np.asarray(embedder.embed_passages([texts[i] for i in idx]), dtype=np.float32)
            if vecs.shape[0] != len(idx) or not np.isfinite(vecs).all():
                raise EmbeddingFailed(f"embedder {embedder.key} returned {vecs.shape[0]} vectors for {len(idx)} "
                                      "passages, or vectors that are not finite")
            self.put(embedder.key, [hashes[i] for i in idx], vecs)
            for j, i in enumerate(idx):
                found[hashes[i]] = vecs[j]
            if progress:
                progress(len(idx))
        if not texts:
            return np.zeros((0, embedder.dim), dtype=np.float32)
        return np.vstack([found[h] for h in hashes]).astype(np.float32)


def _valid_vector(blob, dim: int) -> np.ndarray | None:
    """A cached vector if it is one: the embedder's size, finite, unit length (or zero for empty text)."""
    if not isinstance(blob, bytes) or len(blob) % 4 or (dim and len(blob) != 4 * dim):
        return None
    vec = np.frombuffer(blob, dtype=np.float32)
    if not np.isfinite(vec).all():
        return None
    norm = float(np.linalg.norm(vec))
    return vec if abs(norm - 1.0) < 1e-3 or norm == 0.0 else None


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """A damaged file, as opposed to a locked database or a full disk."""
    text = str(exc).lower()
    return not isinstance(exc, sqlite3.OperationalError) or "malformed" in text or "not a database" in text
