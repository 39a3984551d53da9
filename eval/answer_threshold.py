"""Fit and measure the answer's refusal: the share of real questions answered and of off-topic questions
refused as the threshold moves, for the lexical support alone, the semantic similarity alone and their
combination (kb/answer.py, `relevance`), each with and without the country rule (a question naming a country
no top passage speaks of is refused whatever its score).

Tuning split: eval/gold.jsonl + the `tune` half of eval/offtopic.jsonl. Held-out split: eval/heldout.jsonl +
eval/heldout_fresh.jsonl + the `heldout` half. The combination's direction (the lexical weight, in cosine
units) is a class-balanced logistic regression on the tuning split; its threshold is the one that maximises
min(answered, refused) on the tuning split. The held-out split only reports.

    python eval/answer_threshold.py --data-dir D [--save features.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import answer as answer_mod  # noqa: E402
from kb.search import KnowledgeBase  # noqa: E402
from kb.settings import settings_from_env  # noqa: E402


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def splits() -> dict[str, tuple[list[str], list[str]]]:
    """split -> (real questions, off-topic questions)."""
    off = read(ROOT / "eval" / "offtopic.jsonl")
    held = [q["query"] for name in ("heldout", "heldout_fresh") for q in read(ROOT / "eval" / f"{name}.jsonl")]
    return {"tune": ([q["query"] for q in read(ROOT / "eval" / "gold.jsonl")],
                     [q["query"] for q in off if q.get("split", "tune") == "tune"]),
            "heldout": (held, [q["query"] for q in off if q.get("split") == "heldout"])}


def signals(kb: KnowledgeBase, questions: list[str]) -> np.ndarray:
    """(lexical support, similarity, 1 if a named country is missing) per question, as the answer computes them."""
    out = []
    for q in questions:
        plan = kb.plan(q)
        hits = kb.search(q, k=answer_mod.SUPPORT_PASSAGES, plan=plan)["results"]
        cos = answer_mod.similarity(kb, plan, hits)
        cs = answer_mod.concepts(kb, plan)
        out.append((answer_mod.support(cs, hits), 0.0 if cos is None else cos,
                    float(bool(answer_mod.missing_countries(plan, cs, hits)))))
    return np.array(out, dtype=np.float64).reshape(-1, 3)


RULED_OUT = -2.0


def ruled(scores: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Scores with the country rule: a question whose named country is missing sits below any threshold
    (every score here is at least -1: a cosine, plus a non-negative weight times a support in [0, 1])."""
    return np.where(s[:, 2] > 0, RULED_OUT, scores)


def fit_weight(real: np.ndarray, off: np.ndarray, l2: float = 0.01) -> float:
    """Lexical weight in cosine units: the direction of a class-balanced logistic regression (Newton steps,
    features standardised, small ridge) of real vs off-topic on (support, similarity)."""
    x = np.vstack([real, off])
    y = np.r_[np.ones(len(real)), np.zeros(len(off))]
    mean, std = x.mean(0), x.std(0)
    xb = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    sw = np.where(y == 1, 0.5 / len(real), 0.5 / len(off)) * len(y)
    w = np.zeros(3)
    ridge = l2 * np.diag([1.0, 1.0, 0.0])
    for _ in range(50):
        p = 1 / (1 + np.exp(-xb @ w))
        grad = xb.T @ (sw * (p - y)) + ridge @ w
        hess = (xb * (sw * p * (1 - p))[:, None]).T @ xb + ridge
        w -= np.linalg.solve(hess, grad)
    return float((w[0] / std[0]) / (w[1] / std[1]))


def rates(real: np.ndarray, off: np.ndarray, t: float) -> tuple[float, float]:
    return float((real >= t).mean()), float((off < t).mean())


def best_threshold(real: np.ndarray, off: np.ndarray) -> float:
    """The threshold maximising min(answered, refused), then their sum; the middle of a tied run."""
    cuts = np.unique(np.r_[real, off])
    cands = (cuts[:-1] + cuts[1:]) / 2
    keyed = [(round(min(a, r), 6), round(a + r, 6)) for a, r in (rates(real, off, t) for t in cands)]
    top = max(keyed)
    run = [t for t, k in zip(cands, keyed) if k == top]
    return float(run[len(run) // 2])


def curve_rows(real: np.ndarray, off: np.ndarray, thresholds, mark: float | None) -> list[str]:
    rows = []
    for t in thresholds:
        a, r = rates(real, off, t)
        rows.append(f"| {t:.4g}{' **(in use)**' if mark is not None and abs(t - mark) < 1e-9 else ''} "
                    f"| {a:.1%} | {r:.1%} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--save", default=None, help="write the per-question signals here (JSON)")
    args = ap.parse_args()
    kb = KnowledgeBase.open(settings_from_env(data_dir=args.data_dir)).warm_up()
    key = kb.embedder(kb.settings.embedder).key
    data = {name: (real, off, signals(kb, real), signals(kb, off)) for name, (real, off) in splits().items()}
    for name, (real, off, s_r, s_o) in data.items():
        print(f"{name}: the country rule refuses {int(s_r[:, 2].sum())} of {len(real)} real and "
              f"{int(s_o[:, 2].sum())} of {len(off)} off-topic questions")
    if args.save:
        saved = {name: {"real": dict(zip(r, s_r.tolist())), "offtopic": dict(zip(o, s_o.tolist()))}
                 for name, (r, o, s_r, s_o) in data.items()}
        Path(args.save).write_text(json.dumps(saved, ensure_ascii=False, indent=0), encoding="utf-8")
    _, _, t_real, t_off = data["tune"]
    keep_r, keep_o = t_real[:, 2] == 0, t_off[:, 2] == 0     # the line is fitted where the rule leaves it to decide
    weight = fit_weight(t_real[keep_r, :2], t_off[keep_o, :2])
    combined = {name: (ruled(s_r[:, 1] + weight * s_r[:, 0], s_r), ruled(s_o[:, 1] + weight * s_o[:, 0], s_o))
                for name, (_, _, s_r, s_o) in data.items()}
    fitted = best_threshold(*combined["tune"])
    in_use = answer_mod.REFUSAL_LINES.get(key)
    print(f"embedder {key}; fitted on the tuning split: similarity + {weight:.3f} x support >= {fitted:.4f} "
          f"(in use: {in_use})")
    signals_named = {"support (lexical) alone": (0, None), "similarity (dense) alone": (1, None)}
    for name, (real, off, s_r, s_o) in data.items():
        print(f"\n### {name}: {len(real)} real questions, {len(off)} off-topic\n")
        for label, (col, _) in signals_named.items():
            for rule in (False, True):
                tune = [ruled(v[:, col], v) if rule else v[:, col] for v in data["tune"][2:]]
                t = best_threshold(*tune)
                a, r = rates(*((ruled(v[:, col], v) if rule else v[:, col]) for v in (s_r, s_o)), t)
                print(f"- {label}{' + country rule' if rule else ''}, threshold {t:.4f} chosen on tuning: "
                      f"{a:.1%} answered, {r:.1%} refused")
        t_w = fit_weight(*(v[:, :2] for v in data["tune"][2:]))
        plain = [v[:, 1] + t_w * v[:, 0] for v in data["tune"][2:]]
        a, r = rates(s_r[:, 1] + t_w * s_r[:, 0], s_o[:, 1] + t_w * s_o[:, 0], best_threshold(*plain))
        print(f"- combined without the country rule, fitted on tuning: {a:.1%} answered, {r:.1%} refused")
        c_real, c_off = combined[name]
        a, r = rates(c_real, c_off, fitted)
        print(f"- combined + country rule, fitted on tuning: {a:.1%} answered, {r:.1%} refused\n")
        if in_use:
            w_use, t_use = in_use
            c_real, c_off = ruled(s_r[:, 1] + w_use * s_r[:, 0], s_r), ruled(s_o[:, 1] + w_use * s_o[:, 0], s_o)
            grid = sorted({round(t_use + d * 0.005, 4) for d in range(-6, 7)})
            print(f"| threshold of similarity + {w_use} x support | real answered | off-topic refused |\n|---|---|---|")
            print("\n".join(curve_rows(c_real, c_off, grid, t_use)))


if __name__ == "__main__":
    main()
