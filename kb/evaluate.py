"""Retrieval evaluation: graded passage relevance from anchors, standard metrics from ranx, paired tests.

Relevance judgements (qrels) are built per query from the knowledge base actually evaluated: a passage is
relevant when it holds one of the query's anchors (both NFKC-normalised with all whitespace removed;
`A&&B` holds when every part is in the same passage, and so does a tab-separated table row), and its grade
is the best grade among the anchors it holds. Several anchors in one passage make one relevant passage, so a perfect ranking scores 1.0.

Metrics over the top 10, computed by ranx (names as ranx spells them, `-l2` = grade 2 and above):
- `ndcg@10`: graded (gain = grade, Järvelin-Kekäläinen), ideal ranking = the query's judged passages;
- `recall@10`: share of the query's relevant passages (grade >= 1) in the top 10;
- `mrr@10-l2`: reciprocal rank of the first grade-2 passage (a grade-1 passage is related, not the answer);
- `hit_rate@5-l2`: a grade-2 passage in the top 5.
A query none of whose anchors is in the knowledge base (a question about a document not ingested) has no
judgement: it is left out of the figures and counted as `unjudged`.

Query sets have roles (QUERY_SETS): `tuning` sets may be used to develop changes; `heldout` sets only to
judge them, by aggregate figures. Each set is reported on its own, never pooled across roles.

Runs can be saved (`save_report`) with their qrels and settings and compared later (`compare_reports`):
per set, configuration and metric, the two means, the difference and the p-value of the paired
randomisation (Fisher) test (two-sided, sign flips of the per-query differences, 10,000 of them), with the
paired t-test's p-value beside it.
ranx imports numba (measured 0.6-8 s to import, depending on machine load; the very first call compiles for
~50 s and numba caches that in the venv): only `per_query_scores` imports it, so other commands never pay.
"""
from __future__ import annotations

import json
import re
import statistics
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from kb.settings import PROJECT_ROOT
from kb.text import squash

K = 10
METRICS = ("ndcg@10", "recall@10", "mrr@10-l2", "hit_rate@5-l2")
MODES = ("bm25", "dense", "hybrid")
PERMUTATIONS = 10_000
FORMAT = "kb-eval/2"


@dataclass(frozen=True)
class QuerySet:
    name: str
    path: Path
    role: str           # "tuning" or "heldout" (or "extra" for a file given on the command line)


QUERY_SETS = (
    QuerySet("gold", PROJECT_ROOT / "eval" / "gold.jsonl", "tuning"),
    QuerySet("heldout", PROJECT_ROOT / "eval" / "heldout.jsonl", "heldout"),
    QuerySet("heldout_fresh", PROJECT_ROOT / "eval" / "heldout_fresh.jsonl", "heldout"),
)


def query_set(name: str) -> QuerySet:
    for s in QUERY_SETS:
        if s.name == name:
            return s
    raise KeyError(name)


def heldout_sets() -> list[QuerySet]:
    return [s for s in QUERY_SETS if s.role == "heldout"]


def default_gold() -> Path:
    """The tuning set (scripts that tune, such as the answer threshold, read this one only)."""
    return query_set("gold").path


def load_gold(paths: list[Path]) -> list[dict]:
    queries = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                q = json.loads(line)
                q.setdefault("type", "other")
                queries.append(q)
    return queries


# ------------------------------------------------------------------ judgements

def holds(anchor: str, text_squashed: str) -> bool:
    """Every part of the anchor in the (squashed) passage text. Parts are separated by `&&`, or by tabs: an
    anchor copied from a table row holds when all its cells are in one passage, since ingest rewrites table
    rows as sentences ("生活垃圾回收利用率\t%\t37.67" -> "生活垃圾回收利用率（%）：平均值37.67")."""
    return all(squash(part) in text_squashed for part in re.split(r"&&|\t", anchor) if part.strip())


def judge(relevant: list[dict], passages: list[tuple[str, str]]) -> dict[str, int]:
    """Graded qrels of one query: {passage id: best grade among the anchors it holds}.
    `passages` are (id, squashed text) pairs."""
    grades: dict[str, int] = {}
    for a in relevant:
        grade = int(a.get("grade", 1))
        for pid, text in passages:
            if grade > grades.get(pid, 0) and holds(a["anchor"], text):
                grades[pid] = grade
    return grades


def build_qrels(queries: list[dict], passages: list[dict]) -> dict[str, dict[str, int]]:
    """Qrels for every query with at least one judged passage in this knowledge base."""
    squashed = [(p["id"], squash(p["text"])) for p in passages]
    qrels = {}
    for q in queries:
        grades = judge(q["relevant"], squashed)
        if grades:
            qrels[q["id"]] = grades
    return qrels


# ------------------------------------------------------------------ metrics

def as_run(ranked_ids: list[str]) -> dict[str, float]:
    """A ranked list as ranx scores (rank 1 gets the highest), so ties cannot reorder it."""
    run = {pid: float(len(ranked_ids) - i) for i, pid in enumerate(ranked_ids)}
    return run or {"__nothing__": 0.0}   # ranx needs one entry; an id no qrels hold scores zero


def per_query_scores(qrels: dict[str, dict[str, int]], run: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """{query id: {metric: value}} for every judged query (a judged query missing from the run scores 0)."""
    import warnings

    if not qrels:
        return {}
    with warnings.catch_warnings():   # numba's note about a uint64 cast inside ranx's sort: harmless
        warnings.simplefilter("ignore")
        from ranx import evaluate
    ids = sorted(qrels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = evaluate({q: dict(qrels[q]) for q in ids}, {q: as_run(run.get(q, [])) for q in ids},
                          list(METRICS), return_mean=False, threads=1, save_results_in_run=False)
    # ranx keeps the dicts' query order, which is `ids`
    return {q: {m: float(scores[m][i]) for m in METRICS} for i, q in enumerate(ids)}


def mean_scores(rows: list[dict[str, float]]) -> dict:
    if not rows:
        return {m: 0.0 for m in METRICS} | {"n": 0}
    return {m: round(sum(r[m] for r in rows) / len(rows), 4) for m in METRICS} | {"n": len(rows)}


def summarise(queries: list[dict], scores: dict[str, dict[str, float]]) -> dict:
    """Means overall, per language and per query type, over the judged queries."""
    by_lang, by_type, rows = defaultdict(list), defaultdict(list), []
    for q in queries:
        s = scores.get(q["id"])
        if s is None:
            continue
        rows.append(s)
        by_lang[q["lang"]].append(s)
        by_type[q["type"]].append(s)
    return {"overall": mean_scores(rows),
            "lang": {k: mean_scores(v) for k, v in sorted(by_lang.items())},
            "type": {k: mean_scores(v) for k, v in sorted(by_type.items())}}


# ------------------------------------------------------------------ runs

def config_names(modes, translate_options) -> list[tuple[str, str, bool]]:
    return [(mode + ("" if t else "-notrans"), mode, t) for mode in modes for t in translate_options]


def run_set(kb, queries: list[dict], modes=MODES, translate_options=(True, False), progress=None) -> tuple[dict, dict]:
    """Ranked passage ids per configuration and query, and the median search time per configuration (ms)."""
    runs, timings = {}, {}
    for name, mode, translate in config_names(modes, translate_options):
        if progress:
            progress(f"{len(queries)} queries, {name}")
        ranked, times = {}, []
        for q in queries:
            t0 = time.perf_counter()
            result = kb.search(q["query"], k=K, mode=mode, translate=translate)
            times.append((time.perf_counter() - t0) * 1000)
            ranked[q["id"]] = [h["id"] for h in result["results"]]
        runs[name] = ranked
        timings[name] = round(statistics.median(times), 2) if times else 0.0
    return runs, timings


def score_set(entry: dict) -> dict:
    """Figures of one saved set entry (queries, qrels, runs)."""
    return {name: summarise(entry["queries"], per_query_scores(entry["qrels"], run))
            for name, run in entry["runs"].items()}


def evaluate_set(kb, qset: QuerySet, modes=MODES, translate_options=(True, False), progress=None) -> dict:
    queries = load_gold([qset.path])
    passages = list(kb.iter_passages())
    qrels = build_qrels(queries, passages)
    runs, timings = run_set(kb, queries, modes, translate_options,
                            progress and (lambda msg: progress(f"{qset.name}: {msg}")))
    unjudged = [q["id"] for q in queries if q["id"] not in qrels]
    squashed = [squash(p["text"]) for p in passages]
    anchors_missing = sum(1 for q in queries for a in q["relevant"]
                          if not any(holds(a["anchor"], t) for t in squashed))
    entry = {"name": qset.name, "role": qset.role, "path": str(qset.path), "queries": queries,
             "qrels": qrels, "runs": runs, "median_ms": timings, "unjudged": unjudged,
             "anchors_missing": anchors_missing}
    entry["figures"] = score_set(entry)
    entry["ceiling"] = ceiling(entry)
    return entry


def ceiling(entry: dict) -> dict:
    """The figures a perfect ranking would reach (below 1 only for recall@10, when a query has more than ten
    relevant passages)."""
    perfect = {q: sorted(g, key=lambda pid: -g[pid]) for q, g in entry["qrels"].items()}
    return summarise(entry["queries"], per_query_scores(entry["qrels"], perfect))["overall"]


def run_eval(kb, sets: list[QuerySet], modes=MODES, translate_options=(True, False), progress=None) -> dict:
    """Every set on its own, every mode x translation setting; `progress(message)` is told what runs."""
    return {"format": FORMAT, "k": K, "metrics": list(METRICS), "settings": describe(kb),
            "sets": {s.name: evaluate_set(kb, s, modes, translate_options, progress) for s in sets}}


def describe(kb) -> dict:
    s = kb.settings
    try:
        commit = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
    except OSError:
        commit = ""
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "commit": commit,
            "data_dir": str(s.data_dir), "generation": kb.generation.name,
            "documents": sorted(kb.documents_by_id), "passages": kb.passage_count, "backend": s.backend,
            "embedder": s.embedder, "xling_embedder": s.xling_embedder,
            "rrf_k": s.rrf_k, "w_bm25": s.w_bm25, "w_dense": s.w_dense, "w_xling": s.w_xling,
            "place_boost": s.place_boost, "candidates": s.candidates}


# ------------------------------------------------------------------ saving and comparing

def save_report(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")


def load_report(path: Path) -> dict:
    from kb.errors import BadInput

    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read evaluation {path}: {exc}") from None
    if not isinstance(report, dict) or report.get("format") != FORMAT:
        raise BadInput(f"{path} is not a saved `kb eval --save` file ({FORMAT})")
    return report


def paired_test(a: list[float], b: list[float], permutations: int = PERMUTATIONS, seed: int = 42) -> dict:
    """Two-sided p-values of the paired randomisation (Fisher) test and of the paired t-test.

    Under the null hypothesis the two systems are exchangeable on each query, so each per-query difference
    is as likely to have either sign: p is the share of sign assignments whose mean difference is at least as
    large (in absolute value) as the observed one. Exact (all 2^n assignments) up to 16 queries, otherwise
    `permutations` random ones (seeded, counting the observed assignment)."""
    import numpy as np
    from scipy.stats import ttest_rel

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = y - x
    if len(d) < 2 or not np.any(d):
        return {"p": 1.0, "p_t": 1.0}
    observed = abs(d.mean()) - 1e-12
    if len(d) <= 16:
        signs = 1 - 2 * ((np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1)
        p = float(np.mean(np.abs(signs @ d) / len(d) >= observed))
    else:
        signs = np.random.default_rng(seed).choice((-1.0, 1.0), size=(permutations, len(d)))
        p = float((np.sum(np.abs(signs @ d) / len(d) >= observed) + 1) / (permutations + 1))
    p_t = float(ttest_rel(x, y).pvalue) if np.std(d) > 0 else 0.0
    return {"p": round(p, 5), "p_t": round(p_t, 5)}


def compare_reports(a: dict, b: dict, configs: list[str] | None = None) -> dict:
    """Per common set and configuration, per metric and slice (overall, en, zh): mean A, mean B, B - A and
    the paired p-values, over the queries judged in both (each run scored against its own qrels)."""
    out = {}
    for name in [n for n in a["sets"] if n in b["sets"]]:
        ea, eb = a["sets"][name], b["sets"][name]
        lang = {q["id"]: q["lang"] for q in eb["queries"]}
        out[name] = {"role": eb["role"], "configs": {}}
        for cfg in [c for c in ea["runs"] if c in eb["runs"] and (not configs or c in configs)]:
            sa, sb = per_query_scores(ea["qrels"], ea["runs"][cfg]), per_query_scores(eb["qrels"], eb["runs"][cfg])
            common = sorted(set(sa) & set(sb))
            slices = {"overall": common}
            for lg in sorted({lang.get(q, "?") for q in common}):
                slices[lg] = [q for q in common if lang.get(q) == lg]
            rows = {}
            for sl, ids in slices.items():
                for m in METRICS:
                    xa, xb = [sa[q][m] for q in ids], [sb[q][m] for q in ids]
                    ma, mb = (sum(xa) / len(xa), sum(xb) / len(xb)) if ids else (0.0, 0.0)
                    rows.setdefault(sl, {})[m] = {"a": round(ma, 4), "b": round(mb, 4), "diff": round(mb - ma, 4),
                                                  "n": len(ids)} | paired_test(xa, xb)
            out[name]["configs"][cfg] = rows
    return out


# ------------------------------------------------------------------ printing

def format_table(report: dict) -> str:
    s = report["settings"]
    lines = [f"{s['passages']} passages in {len(s['documents'])} document(s), top {report['k']}; embedder "
             f"{s['embedder']}" + (f" (+ {s['xling_embedder']} for English)" if s["xling_embedder"] else "")]
    for name, entry in report["sets"].items():
        n = len(entry["queries"])
        lines += ["", f"== {name} ({entry['role']}): {n} queries, {n - len(entry['unjudged'])} judged"
                  f" ({len(entry['unjudged'])} with no anchor in this knowledge base, "
                  f"{entry['anchors_missing']} anchors missing); perfect ranking: "
                  + ", ".join(f"{m} {entry['ceiling'][m]:.3f}" for m in METRICS)]
        header = f"{'config':<16}{'slice':<16}" + "".join(f"{m:>15}" for m in METRICS) + f"{'n':>5}{'ms':>8}"
        lines += [header, "-" * len(header)]
        for cfg, fig in entry["figures"].items():
            rows = [("overall", fig["overall"])] + [(f"lang={k}", v) for k, v in fig["lang"].items()] + \
                   [(f"type={k}", v) for k, v in fig["type"].items()]
            for i, (label, m) in enumerate(rows):
                ms = f"{entry['median_ms'][cfg]:>8.1f}" if i == 0 else ""
                lines.append(f"{cfg:<16}{label:<16}" + "".join(f"{m[x]:>15.3f}" for x in METRICS) + f"{m['n']:>5}" + ms)
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def format_comparison(cmp: dict, a_name: str, b_name: str) -> str:
    lines = [f"A = {a_name}", f"B = {b_name}",
             f"p: paired randomisation test (two-sided, {PERMUTATIONS} sign flips); p_t: paired t-test"]
    for name, entry in cmp.items():
        lines += ["", f"== {name} ({entry['role']})"]
        header = f"{'config':<16}{'slice':<9}{'metric':<15}{'A':>8}{'B':>8}{'B-A':>9}{'p':>8}{'p_t':>8}{'n':>5}"
        lines += [header, "-" * len(header)]
        for cfg, rows in entry["configs"].items():
            for sl, metrics in rows.items():
                for m, r in metrics.items():
                    mark = " *" if r["p"] < 0.05 and r["diff"] else ""
                    lines.append(f"{cfg:<16}{sl:<9}{m:<15}{r['a']:>8.3f}{r['b']:>8.3f}{r['diff']:>+9.3f}"
                                 f"{r['p']:>8.4f}{r['p_t']:>8.4f}{r['n']:>5}{mark}")
            lines.append("")
    lines.append("* p < 0.05 (not corrected for the number of comparisons: decide on held-out nDCG@10 first)")
    return "\n".join(lines) + "\n"


def write_chart(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(report["sets"])
    fig, axes = plt.subplots(len(sets), len(METRICS), figsize=(4 * len(METRICS), 3.6 * len(sets)),
                             sharey=True, squeeze=False)
    slices = ["overall", "en", "zh"]
    width = 0.8 / len(slices)
    for row, name in zip(axes, sets):
        figures = report["sets"][name]["figures"]
        configs = list(figures)
        for ax, metric in zip(row, METRICS):
            for j, sl in enumerate(slices):
                vals = [(figures[c]["overall"] if sl == "overall" else figures[c]["lang"].get(sl, {})).get(metric, 0)
                        for c in configs]
                ax.bar([i + j * width for i in range(len(configs))], vals, width, label=sl)
            ax.set_title(f"{name} ({report['sets'][name]['role']}): {metric}", fontsize=9)
            ax.set_xticks([i + width for i in range(len(configs))])
            ax.set_xticklabels(configs, rotation=45, ha="right", fontsize=8)
            ax.set_ylim(0, 1)
    axes[0][0].legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
