"""Build and search timings of the Milvus backend on a synthetic set (one JSON line per size).

    python eval/milvus_bench.py --passages 2000 20000 [--uri http://host:19530] [--dim 384]

Passages are the report's real lines, tokenized by our segmenter and recombined two at a time, with
random tags (places with their provinces) and random unit vectors; queries are weighted token sets
drawn from the same lines (1.0 and 0.5 weights). Measures: build (writer, batches of 1,000, commit),
open, keyword / vector search p50 and p95 (with and without a place filter), count and facets, the
first `has_token` / `docs_with` of a token, and an incremental generation (start from the previous,
delete one document, add 20 passages, commit).
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kb.backends import milvus as M
from kb.backends.base import Row, Where
from kb.settings import PROJECT_ROOT, Settings
from kb.text import segmenter

PLACES = [["广东省", "深圳市"], ["广东省", "广州市"], ["浙江省", "杭州市"], ["北京市"], ["重庆市"], []]
DOMAINS = ["waste", "water", "air", "soil", "climate"]


def lines() -> list[tuple[str, list[str]]]:
    seg = segmenter()
    text = (PROJECT_ROOT / "corpus" / "zero-waste-cities-2024.txt").read_text(encoding="utf-8")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if len(line) >= 30:
            out.append((line, seg.tokens(line)))
    return out


def make_rows(source, n: int, first_key: int, dim: int, rng: random.Random, doc_prefix: str = "d"):
    rows = []
    for i in range(n):
        (a, ta), (b, tb) = rng.choice(source), rng.choice(source)
        key = first_key + i
        rows.append(Row(key=key, doc_id=f"{doc_prefix}{key // 50}", tokens=ta + tb, text=a + b,
                        kind=rng.choice(["passage", "table", "case"]), doc_type=rng.choice(["report", "plan"]),
                        doc_year=rng.choice([None, 2022, 2023, 2024]), domain=rng.sample(DOMAINS, 2),
                        instrument=[], year=[rng.choice([2022, 2023, 2024, 2025])], places=rng.choice(PLACES)))
    vectors = np.random.default_rng(first_key).normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return rows, vectors


def percentiles(samples: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples, 50) * 1000), float(np.percentile(samples, 95) * 1000)


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def bench(n: int, dim: int, uri: str, source, queries: int = 40) -> dict:
    rng = random.Random(n)
    data = Path(tempfile.mkdtemp(prefix="milvus-bench-"))
    settings = Settings(data_dir=data, backend="milvus", milvus_uri=uri)
    space = "bench"
    try:
        rows, vectors = make_rows(source, n, 0, dim, rng)
        g1 = data / "generations" / "g1"
        g1.mkdir(parents=True)
        t = time.perf_counter()
        writer = M.open_writer(settings, g1, None, None)
        for i in range(0, n, 1000):
            writer.add(rows[i:i + 1000], {space: vectors[i:i + 1000]})
        manifest = {"index": writer.commit()}
        M.publish(settings, g1, manifest)
        build_s = time.perf_counter() - t
        open_s, reader = timed(M.open_reader, settings, g1, manifest)
        qs = []
        for _ in range(queries):
            _, toks = rng.choice(source)
            picked = rng.sample(toks, min(4, len(toks)))
            qs.append({tok: (1.0 if j < 2 else 0.5) for j, tok in enumerate(picked)})
        qv = np.random.default_rng(7).normal(size=(queries, dim)).astype(np.float32)
        qv /= np.linalg.norm(qv, axis=1, keepdims=True)
        where = Where(place="广东省")
        reader.keyword(qs[0], 50)   # first search builds Lite's per-segment sparse index
        reader.vector(space, qv[0], 50)
        kw = [timed(reader.keyword, q, 50)[0] for q in qs]
        kw_f = [timed(reader.keyword, q, 50, where)[0] for q in qs]
        vec = [timed(reader.vector, space, q, 50)[0] for q in qv]
        vec_f = [timed(reader.vector, space, q, 50, where)[0] for q in qv]
        tokens = [t for q in qs for t in q]
        has = [timed(reader.has_token, t)[0] for t in tokens[:20]]
        docs = [timed(reader.docs_with, t)[0] for t in tokens[20:30]]
        count_s, _ = timed(reader.count, where)
        facets_s, _ = timed(reader.facets, None)
        facets_f_s, _ = timed(reader.facets, where)
        # an incremental generation: one document out, 20 passages in
        new_rows, new_vectors = make_rows(source, 20, n + 10_000, dim, rng, doc_prefix="n")
        g2 = data / "generations" / "g2"
        g2.mkdir()
        t = time.perf_counter()
        writer = M.open_writer(settings, g2, g1, manifest)
        writer.delete(["d0"])
        writer.add(new_rows, {space: new_vectors})
        manifest2 = {"index": writer.commit()}
        M.publish(settings, g2, manifest2)
        incremental_s = time.perf_counter() - t
        reader.close()
        M.drop(settings, g1, manifest)
        M.drop(settings, g2, manifest2)
        return {
            "passages": n, "dim": dim, "target": "lite" if not uri else uri, "build_s": round(build_s, 2),
            "open_s": round(open_s, 2), "incremental_s": round(incremental_s, 2),
            "keyword_p50_ms": round(percentiles(kw)[0], 1), "keyword_p95_ms": round(percentiles(kw)[1], 1),
            "keyword_filtered_p95_ms": round(percentiles(kw_f)[1], 1),
            "vector_p50_ms": round(percentiles(vec)[0], 1), "vector_p95_ms": round(percentiles(vec)[1], 1),
            "vector_filtered_p95_ms": round(percentiles(vec_f)[1], 1),
            "has_token_p95_ms": round(percentiles(has)[1], 1), "docs_with_p95_ms": round(percentiles(docs)[1], 1),
            "count_filtered_ms": round(count_s * 1000, 1), "facets_ms": round(facets_s * 1000, 1),
            "facets_filtered_ms": round(facets_f_s * 1000, 1),
            "rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    finally:
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--passages", type=int, nargs="+", default=[2000])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--uri", default="", help="a Milvus server (default: Milvus Lite in a temporary data dir)")
    args = ap.parse_args()
    source = lines()
    for n in args.passages:
        print(json.dumps(bench(n, args.dim, args.uri, source)), flush=True)


if __name__ == "__main__":
    main()
