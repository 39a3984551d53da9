"""Persisted keyword indexes compared: the embedded backend's BM25 arrays, bm25s, SQLite FTS5.

    OMP_NUM_THREADS=1 python eval/keyword_index.py --passages 50000 200000 --source data

Every candidate indexes the same synthetic passages (eval/scale.py's recombined real sentences and
their jieba tokens), is built in this process, then opened and queried in a fresh child process,
twice (the machine is shared: the better of the two runs is kept for each figure), after ten warm-up
queries. Queries are the eval sets' questions turned into weighted keyword terms by
`KnowledgeBase.keyword_weights(plan)` on the source knowledge base; each returns its top 100, without
and with a region filter.

- `embedded`: kb.backends.embedded (BM25 weights precomputed in a term x passage CSR, mmapped; one
  sparse product per query with the per-term weights; a filter is a boolean mask from tag postings).
- `bm25s`: bm25s.BM25 (method "lucene", k1 1.2, b 0.75: the same formula up to a constant factor)
  over the token lists, saved and loaded with mmap. `retrieve` takes no per-term weights: the terms
  are passed unweighted (`bm25s`). `bm25s-w` keeps the weights by scoring each group of terms with
  one weight through `get_scores` and summing (weights take a handful of values). A filter is its
  `weight_mask` (a 0/1 float array made from the same tag postings as the embedded backend's).
- `fts5`: an FTS5 table (contentless) over the tokens joined by spaces, `unicode61` with the
  tokens' own punctuation as token characters so a jieba token stays one FTS5 token (checked:
  the FTS5 vocabulary must equal the jieba one), queried `"t1" OR "t2" ...` ordered by `rank`
  (bm25()) LIMIT 100; a filter is a join on a tag table (tag, pos) by its primary key.
  FTS5 has column weights, no per-term weights: the terms are unweighted. Its bm25() idf is
  log((N - df + 0.5) / (df + 0.5)) floored at 1e-6, not log(1 + ...), so frequent terms weigh less.

Prints a Markdown table: build seconds, keyword index size on disk (embedded: the BM25 arrays and
the vocabulary, not the term counts and tag postings it also keeps; bm25s: its saved folder; fts5:
the database, tag table included), open seconds, RSS added by opening and after the queries, query
p50/p95 (unfiltered and filtered), and overlap@10 with the embedded backend's top 10: with the
query's weights (what search uses), with every weight 1 (the same computation without weights), and
filtered.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

CANDIDATES = ("embedded", "bm25s", "bm25s-w", "fts5")
K = 100
FILTER_PLACE = "四川省"
FILTER_TAG = f"places\t{FILTER_PLACE}"
SPACE = "dummy"          # the embedded writer wants vectors: tiny constant unit vectors, exact search


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def dir_mib(paths) -> float:
    return sum(p.stat().st_size for p in paths if p.is_file()) / 2**20


def settings_for(data_dir: Path):
    from kb.settings import settings_from_env
    return settings_from_env(data_dir=data_dir, backend="embedded", index_type="flat")


# ============================================================================ building

def build_embedded(rows, out: Path) -> None:
    from kb.backends.embedded import EmbeddedWriter

    out.mkdir(parents=True)
    writer = EmbeddedWriter(settings_for(out), out, None)
    vecs = np.zeros((len(rows), 8), np.float32)
    vecs[:, 0] = 1.0
    for start in range(0, len(rows), 20_000):
        writer.add(rows[start:start + 20_000], {SPACE: vecs[start:start + 20_000]})
    writer.commit()


def build_bm25s(rows, out: Path) -> None:
    import bm25s

    retriever = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    retriever.index([r.tokens for r in rows], show_progress=False)
    retriever.save(str(out))
    np.save(out / "filter-posting.npy", _posting(rows))


def _posting(rows) -> np.ndarray:
    return np.array([i for i, r in enumerate(rows) if FILTER_PLACE in r.places], np.int32)


def token_chars(rows) -> str:
    """Characters inside tokens that unicode61 would otherwise treat as separators."""
    chars = {c for r in rows for t in r.tokens for c in t if not (c.isalnum() or c == "_")}
    if any(c.isspace() or c in "\"'" for c in chars):
        raise SystemExit(f"tokens hold characters FTS5 cannot keep: {sorted(chars)}")
    return "".join(sorted(chars))


def build_fts5(rows, out: Path) -> None:
    out.mkdir(parents=True)
    db = sqlite3.connect(out / "keyword.db")
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    chars = token_chars(rows)
    tokenize = f"unicode61 remove_diacritics 0 tokenchars '{chars}'" if chars else "unicode61 remove_diacritics 0"
    db.execute(f"CREATE VIRTUAL TABLE kw USING fts5(tokens, content='', tokenize=\"{tokenize}\")")
    db.execute("CREATE TABLE tags (tag TEXT NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY (tag, pos)) WITHOUT ROWID")
    with db:
        db.executemany("INSERT INTO kw(rowid, tokens) VALUES (?, ?)",
                       ((i, " ".join(r.tokens)) for i, r in enumerate(rows)))
        db.executemany("INSERT INTO tags VALUES (?, ?)",
                       ((f"places\t{p}", i) for i, r in enumerate(rows) for p in dict.fromkeys(r.places)))
        db.execute("INSERT INTO kw(kw) VALUES ('optimize')")
    db.close()


def check_fts5(rows, out: Path) -> str:
    """The FTS5 vocabulary must be the jieba vocabulary (lower-cased): each token stays whole."""
    db = sqlite3.connect(out / "keyword.db")
    db.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, kw, 'row')")
    fts = {t for (t,) in db.execute("SELECT term FROM temp.v")}
    db.close()
    jieba = {t.lower() for r in rows for t in r.tokens}
    if fts == jieba:
        return f"FTS5 vocabulary = jieba vocabulary ({len(fts)} terms)"
    return f"FTS5 vocabulary differs: {len(fts - jieba)} extra, {len(jieba - fts)} missing of {len(jieba)}"


BUILDERS = {"embedded": build_embedded, "bm25s": build_bm25s, "fts5": build_fts5}


def index_files(candidate: str, out: Path) -> list[Path]:
    """The keyword index proper (not vectors, tag postings, or the term counts kept for updates)."""
    if candidate == "embedded":
        return [out / f"index-bm25-{p}.npy" for p in ("data", "indices", "indptr")] + [out / "index-terms.json"]
    if candidate.startswith("bm25s"):
        return [p for p in out.iterdir() if p.name != "filter-posting.npy"]
    return [out / "keyword.db"]


def extra_files(candidate: str, out: Path) -> list[Path]:
    if candidate == "embedded":
        return [out / "index-tf.npz", out / "index-tags.npz"]
    return []


# ============================================================================ measuring (child)

class Embedded:
    def __init__(self, out: Path):
        from kb.backends.base import Where
        from kb.backends.embedded import EmbeddedReader

        self.reader = EmbeddedReader(settings_for(out), out)
        self.where = Where(place=FILTER_PLACE)

    def search(self, weights, filtered):
        return [k - 1 for k, _ in self.reader.keyword(weights, K, self.where if filtered else None)]


class Bm25s:
    def __init__(self, out: Path, weighted: bool):
        import bm25s

        self.r = bm25s.BM25.load(str(out), mmap=True)
        self.weighted = weighted
        self.n = self.r.scores["num_docs"]
        self.out = out
        self._mask = None

    def mask(self):
        if self._mask is None:   # made once, like the embedded backend's per-filter cache
            m = np.zeros(self.n, np.float32)
            m[np.load(self.out / "filter-posting.npy")] = 1.0
            self._mask = m
        return self._mask

    def search(self, weights, filtered):
        mask = self.mask() if filtered else None
        if not self.weighted:
            tokens = [t for t in weights if t in self.r.vocab_dict]
            if not tokens:
                return []
            docs, scores = self.r.retrieve([tokens], k=min(K, self.n), show_progress=False, weight_mask=mask)
            return [int(d) for d, s in zip(docs[0], scores[0]) if s > 0]
        groups: dict[float, list[int]] = {}
        for t, w in weights.items():
            if w > 0 and t in self.r.vocab_dict:
                groups.setdefault(w, []).append(self.r.vocab_dict[t])
        if not groups:
            return []
        scores = sum(w * self.r.get_scores_from_ids(ids, weight_mask=mask) for w, ids in groups.items())
        cand = np.flatnonzero(scores > 0)
        if len(cand) > K:
            cand = cand[np.argpartition(-scores[cand], K - 1)[:K]]
        return cand[np.lexsort((cand, -scores[cand]))].tolist()


class Fts5:
    def __init__(self, out: Path):
        self.db = sqlite3.connect(f"file:{out / 'keyword.db'}?mode=ro", uri=True, check_same_thread=False)
        self.db.execute("SELECT count(*) FROM kw_docsize LIMIT 1").fetchone()

    def search(self, weights, filtered):
        terms = [t for t, w in weights.items() if w > 0]
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        if filtered:
            # a join, not `rowid IN (SELECT ...)`: with IN, SQLite probes the full-text index once per
            # allowed rowid (15x slower at 5,000 passages)
            rows = self.db.execute("SELECT kw.rowid FROM kw JOIN tags ON tags.tag = ? AND tags.pos = kw.rowid "
                                   "WHERE kw MATCH ? ORDER BY rank LIMIT ?", (FILTER_TAG, match, K)).fetchall()
        else:
            rows = self.db.execute("SELECT rowid FROM kw WHERE kw MATCH ? ORDER BY rank LIMIT ?",
                                   (match, K)).fetchall()
        return [r[0] for r in rows]


def open_candidate(candidate: str, out: Path):
    if candidate == "embedded":
        return Embedded(out)
    if candidate.startswith("bm25s"):
        return Bm25s(out, weighted=candidate == "bm25s-w")
    return Fts5(out)


def measure(candidate: str, out: Path, queries: Path) -> dict:
    weights = json.loads(queries.read_text(encoding="utf-8"))
    if candidate == "embedded":
        import kb.backends.embedded  # noqa: F401  (its imports are not part of opening the index)
    elif candidate.startswith("bm25s"):
        import bm25s  # noqa: F401
    base = rss_mib()
    t = time.perf_counter()
    index = open_candidate(candidate, out)
    open_s = time.perf_counter() - t
    opened = rss_mib()
    for filtered in (False, True):      # warm-up, as a server does before serving (JIT, caches)
        for w in weights[:10]:
            index.search(w, filtered)
    times = {False: [], True: []}
    tops = {False: [], True: []}
    for filtered in (False, True):
        for w in weights:
            t = time.perf_counter()
            hits = index.search(w, filtered)
            times[filtered].append((time.perf_counter() - t) * 1000)
            tops[filtered].append(hits[:10])
    result = {"open_s": open_s, "rss_open": opened - base, "rss_after": rss_mib() - base,
              "p50": statistics.median(times[False]), "p95": pct(times[False], 95),
              "fp50": statistics.median(times[True]), "fp95": pct(times[True], 95), "top": tops[False],
              "ftop": tops[True]}
    if candidate == "embedded":     # the same computation with every weight 1, untimed
        result["top_unweighted"] = [index.search({t: 1.0 for t in w}, False)[:10] for w in weights]
    return result


# ============================================================================ the run (parent)

def synthetic_rows(n: int, material) -> list:
    import scale

    rows = []
    for _, index_rows, _ in scale.synthesize(n, *material):
        for r in index_rows:
            r.text = ""        # the embedding text is not indexed here: memory for 1M passages
        rows.extend(index_rows)
    return rows


def query_weights(source, limit: int) -> list[dict[str, float]]:
    import scale

    qs = scale.questions()
    np.random.default_rng(0).shuffle(qs)
    out = []
    for q in qs:
        w = source.keyword_weights(source.plan(q))
        if w:
            out.append(w)
        if len(out) == limit:
            break
    return out


def overlap(a: list[list[int]], b: list[list[int]]) -> float | None:
    """Mean share of b's top 10 found in a's top 10 (queries where b finds something)."""
    shares = [len(set(x) & set(y)) / len(y) for x, y in zip(a, b) if y]
    return statistics.mean(shares) if shares else None


def run_child(candidate: str, out: Path, queries: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    child = subprocess.run([sys.executable, __file__, "--measure", candidate, str(out), str(queries)],
                           capture_output=True, text=True, env=env, check=False)
    if child.returncode != 0:
        raise SystemExit(f"measuring {candidate} failed: {child.stderr.strip().splitlines()[-1:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def best(runs: list[dict]) -> dict:
    """Per figure, the better of the runs (the machine is shared); result lists from the first."""
    out = dict(runs[0])
    for key in ("open_s", "p50", "p95", "fp50", "fp95"):
        out[key] = min(r[key] for r in runs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, nargs="+", default=[50_000, 200_000])
    ap.add_argument("--source", type=Path, default=None, help="a real knowledge base to take material from "
                    "(default: the corpus ingested into a temporary one)")
    ap.add_argument("--work-dir", type=Path, default=None)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--runs", type=int, default=2, help="timings taken this many times, the best kept")
    ap.add_argument("--candidates", nargs="+", choices=CANDIDATES, default=list(CANDIDATES))
    ap.add_argument("--measure", nargs=3, default=None, help=argparse.SUPPRESS)   # the child's job
    args = ap.parse_args()

    if args.measure:
        candidate, out, queries = args.measure
        print(json.dumps(measure(candidate, Path(out), Path(queries))))
        return

    import scale

    from kb.settings import settings_from_env

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="kb-kwindex-"))
    work.mkdir(parents=True, exist_ok=True)
    candidates = ["embedded"] + [c for c in args.candidates if c != "embedded"]
    try:
        source = scale.source_kb(settings_from_env(backend="embedded", data_dir=args.source or work / "source"))
        material = scale.material(source)
        weights = query_weights(source, args.queries)
        source.close()
        queries = work / "queries.json"
        queries.write_text(json.dumps(weights, ensure_ascii=False), encoding="utf-8")
        header = ("| passages | index | build s | index MiB | open s | RSS open MiB | RSS after MiB | p50 ms | "
                  "p95 ms | filtered p50 ms | filtered p95 ms | overlap@10 (weighted) | overlap@10 (weights 1) "
                  "| filtered overlap@10 |")
        lines = [header, "|" + "---|" * 14]
        notes = []
        for n in args.passages:
            rows = synthetic_rows(n, material)
            share = len(_posting(rows)) / n
            notes.append(f"{n} passages: filter `{FILTER_PLACE}` keeps {share:.1%}; {len(weights)} queries, "
                         f"{statistics.mean(len(w) for w in weights):.1f} terms each on average")
            ref = None
            for cand in candidates:
                out = work / f"{n}-{cand}"
                build_s = None
                if cand != "bm25s-w":          # bm25s-w queries the bm25s index
                    builds = []
                    for _ in range(args.runs):
                        shutil.rmtree(out, ignore_errors=True)
                        t = time.perf_counter()
                        BUILDERS[cand](rows, out)
                        builds.append(time.perf_counter() - t)
                    build_s = min(builds)
                    if cand == "fts5":
                        notes.append(f"{n} passages: {check_fts5(rows, out)}")
                src = work / f"{n}-bm25s" if cand == "bm25s-w" else out
                r = best([run_child(cand, src, queries) for _ in range(args.runs)])
                if cand == "embedded":
                    ref = r
                    extra = dir_mib(extra_files(cand, out))
                    notes.append(f"{n} passages: embedded also keeps {extra:.0f} MiB of term counts and tag "
                                 "postings (for updates, filters and facets)")
                ov = overlap(r["top"], ref["top"])
                ov1 = overlap(r["top"], ref["top_unweighted"])
                fov = overlap(r["ftop"], ref["ftop"])
                lines.append(
                    f"| {n:,} | {cand} | {'' if build_s is None else f'{build_s:.1f}'} "
                    f"| {dir_mib(index_files(cand, src)):.0f} | {r['open_s']:.2f} | {r['rss_open']:.0f} "
                    f"| {r['rss_after']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['fp50']:.1f} | {r['fp95']:.1f} "
                    f"| {ov:.3f} | {ov1:.3f} | {fov:.3f} |")
                print(lines[-1], file=sys.stderr, flush=True)
            del rows
        print("\n".join(lines))
        print()
        for note in notes:
            print(f"- {note}")
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
