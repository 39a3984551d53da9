"""Speed and memory figures: warm in-process search latency per mode, ingest cold/warm, peak memory.

    python eval/bench.py [--data-dir D]   # D is built (cold) if empty

Prints a Markdown table; copy it into eval/RESULTS.md.
"""
from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb.build import ingest  # noqa: E402
from kb.evaluate import default_gold, load_gold  # noqa: E402
from kb.search import KnowledgeBase  # noqa: E402
from kb.settings import settings_from_env  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    tmp = None
    if args.data_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="kb-bench-"))
        data_dir = tmp / "data"
    else:
        data_dir = Path(args.data_dir)
    cache = (tmp or data_dir) / "bench-cache"
    settings = settings_from_env(data_dir=data_dir, cache_dir=cache)
    print("| figure | value |\n|---|---|")
    t = time.time()
    report = ingest(settings, show_progress=False)
    cold = time.time() - t
    print(f"| ingest, cold (parse + embed {report.passages} passages with every embedder) | {cold:.1f} s |")
    t = time.time()
    ingest(settings, show_progress=False)
    print(f"| ingest, warm (unchanged corpus) | {(time.time() - t) * 1000:.0f} ms |")
    shutil.rmtree(data_dir / "generations")
    (data_dir / "CURRENT").unlink()
    t = time.time()
    ingest(settings, show_progress=False)
    print(f"| ingest, rebuild with cached embeddings | {time.time() - t:.1f} s |")

    t = time.time()
    kb = KnowledgeBase.open(settings)
    opened = time.time() - t
    t = time.time()
    kb.warm_up()
    print(f"| open knowledge base / warm up models | {opened:.2f} s / {time.time() - t:.2f} s |")
    queries = load_gold([default_gold()])
    for mode in ("bm25", "dense", "hybrid"):
        every = []
        for lang in ("zh", "en"):
            times = []
            for _ in range(args.repeat):
                for q in (q for q in queries if q["lang"] == lang):
                    t = time.perf_counter()
                    kb.search(q["query"], k=10, mode=mode)
                    times.append((time.perf_counter() - t) * 1000)
            every += times
            print(f"| search {mode}, {lang} queries: median / p95 | {statistics.median(times):.1f} ms / "
                  f"{pct(times, 95):.1f} ms |")
        print(f"| **search {mode}, all {len(queries)} gold queries: median / p95** | "
              f"{statistics.median(every):.1f} ms / {pct(every, 95):.1f} ms |")
    from kb.answer import answer

    times = []
    for q in queries[:40]:
        t = time.perf_counter()
        answer(kb, q["query"])
        times.append((time.perf_counter() - t) * 1000)
    print(f"| ask (answer), median / p95 | {statistics.median(times):.1f} ms / {pct(times, 95):.1f} ms |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| peak memory of this process (RSS) | {peak:.0f} MiB |")
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
