"""Retrieval evaluation on anchor-based gold sets (see eval/README.md).

A retrieved passage is relevant to a query when it contains an anchor, both
NFKC-normalised with all whitespace removed; `A&&B` holds when every part is in
the same passage. Figures per query over the top 10, then averaged:
recall@10, nDCG@10, MRR@10 (first grade-2 anchor), hit@5 (a grade-2 anchor in the top 5).
"""
from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from pathlib import Path

from kb.settings import PROJECT_ROOT
from kb.text import squash

METRICS = ("ndcg@10", "recall@10", "mrr@10", "hit@5")
K = 10


def default_gold() -> Path:
    return PROJECT_ROOT / "eval" / "gold.jsonl"


def load_gold(paths: list[Path]) -> list[dict]:
    queries = []
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                q = json.loads(line)
                q.setdefault("type", "other")
                queries.append(q)
    return queries


def holds(anchor: str, text_squashed: str) -> bool:
    return all(squash(part) in text_squashed for part in anchor.split("&&") if part.strip())


def score_query(relevant: list[dict], texts: list[str]) -> dict:
    """Metrics for one query given the retrieved passages' texts, best first."""
    squashed = [squash(t) for t in texts[:K]]
    anchors = [(a["anchor"], int(a.get("grade", 1))) for a in relevant]
    found = set()
    gains = []
    first_grade2 = None
    for rank, text in enumerate(squashed, 1):
        gain = 0
        for i, (anchor, grade) in enumerate(anchors):
            if holds(anchor, text):
                if i not in found:
                    found.add(i)
                    gain = max(gain, grade)
                if grade == 2 and first_grade2 is None:
                    first_grade2 = rank
        gains.append(gain)
    dcg = sum(g / math.log2(r + 1) for r, g in enumerate(gains, 1))
    ideal = sorted((g for _, g in anchors), reverse=True)[:K]
    idcg = sum(g / math.log2(r + 1) for r, g in enumerate(ideal, 1))
    return {
        "ndcg@10": dcg / idcg if idcg else 0.0,
        "recall@10": len(found) / len(anchors) if anchors else 0.0,
        "mrr@10": 1.0 / first_grade2 if first_grade2 else 0.0,
        "hit@5": 1.0 if first_grade2 and first_grade2 <= 5 else 0.0,
    }


def _mean(rows: list[dict]) -> dict:
    if not rows:
        return {m: 0.0 for m in METRICS} | {"n": 0}
    return {m: round(sum(r[m] for r in rows) / len(rows), 4) for m in METRICS} | {"n": len(rows)}


def run_eval(kb, gold_files: list[Path], modes: list[str] | None = None, translate_options=(True, False)) -> dict:
    """Every mode x translation setting, broken down by language and query type."""
    queries = load_gold(gold_files)
    modes = modes or ["bm25", "dense", "hybrid"]
    configs = {}
    per_query = {}
    for mode in modes:
        for translate in translate_options:
            name = mode + ("" if translate else "-notrans")
            rows_all, by_lang, by_type = [], defaultdict(list), defaultdict(list)
            started = time.time()
            for q in queries:
                result = kb.search(q["query"], k=K, mode=mode, translate=translate)
                scores = score_query(q["relevant"], [h["text"] for h in result["results"]])
                rows_all.append(scores)
                by_lang[q["lang"]].append(scores)
                by_type[q["type"]].append(scores)
                per_query.setdefault(q["id"], {})[name] = scores["ndcg@10"]
            configs[name] = {
                "overall": _mean(rows_all),
                "lang": {k: _mean(v) for k, v in sorted(by_lang.items())},
                "type": {k: _mean(v) for k, v in sorted(by_type.items())},
                "seconds": round(time.time() - started, 2),
            }
    return {"gold": [str(p) for p in gold_files], "queries": len(queries), "k": K,
            "embedder": kb.settings.embedder, "xling_embedder": kb.settings.xling_embedder,
            "passages": len(kb.passages), "configs": configs, "per_query_ndcg": per_query}


def format_table(report: dict) -> str:
    lines = [f"{report['queries']} queries, {report['passages']} passages, top {report['k']}; "
             f"embedder {report['embedder']}" + (f" (+ {report['xling_embedder']} for English)" if report['xling_embedder'] else ""), ""]
    header = f"{'config':<18}{'slice':<14}" + "".join(f"{m:>11}" for m in METRICS) + f"{'n':>6}"
    lines.append(header)
    lines.append("-" * len(header))
    for name, cfg in report["configs"].items():
        rows = [("overall", cfg["overall"])] + [(f"lang={k}", v) for k, v in cfg["lang"].items()] + \
               [(f"type={k}", v) for k, v in cfg["type"].items()]
        for label, m in rows:
            lines.append(f"{name:<18}{label:<14}" + "".join(f"{m[x]:>11.3f}" for x in METRICS) + f"{m['n']:>6}")
        lines.append("")
    return "\n".join(lines)


def write_chart(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["configs"])
    slices = ["overall", "en", "zh"]
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 4), sharey=True)
    width = 0.8 / len(slices)
    for ax, metric in zip(axes, METRICS):
        for j, sl in enumerate(slices):
            vals = []
            for n in names:
                cfg = report["configs"][n]
                vals.append((cfg["overall"] if sl == "overall" else cfg["lang"].get(sl, {})).get(metric, 0))
            ax.bar([i + j * width for i in range(len(names))], vals, width, label=sl)
        ax.set_title(metric)
        ax.set_xticks([i + width for i in range(len(names))])
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
        ax.set_ylim(0, 1)
    axes[0].legend()
    fig.suptitle(f"Retrieval accuracy on {report['queries']} gold queries")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
