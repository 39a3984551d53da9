"""Measure the answer's refusal threshold: the share of real questions answered and of off-topic
questions refused, for several support thresholds (and idf powers), on the tuning split (eval/gold.jsonl +
the `tune` half of eval/offtopic.jsonl) and then on the held-out split (eval/heldout.jsonl + the `heldout`
half). Choose on the tuning split only; report the held-out figures.

    python eval/answer_threshold.py --data-dir D [--powers 1,2,3] [--split tune|heldout|both]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import answer as answer_mod  # noqa: E402
from kb.search import KnowledgeBase  # noqa: E402
from kb.settings import settings_from_env  # noqa: E402

THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def splits() -> dict[str, tuple[list[str], list[str]]]:
    """split -> (real questions, off-topic questions)."""
    off = read(ROOT / "eval" / "offtopic.jsonl")
    return {"tune": ([q["query"] for q in read(ROOT / "eval" / "gold.jsonl")],
                     [q["query"] for q in off if q.get("split", "tune") == "tune"]),
            "heldout": ([q["query"] for q in read(ROOT / "eval" / "heldout.jsonl")],
                        [q["query"] for q in off if q.get("split") == "heldout"])}


def supports(kb: KnowledgeBase, questions: list[str], powers: list[float]) -> list[dict[float, float]]:
    out = []
    for q in questions:
        plan = kb.plan(q)
        hits = kb.search(q, k=answer_mod.SUPPORT_PASSAGES, plan=plan)["results"]
        cs = answer_mod.concepts(kb, plan)
        out.append({p: answer_mod.support(cs, hits, power=p) for p in powers})
    return out


def curve(real: list[dict], off: list[dict], power: float) -> list[tuple[float, float, float]]:
    return [(t, sum(s[power] >= t for s in real) / len(real), sum(s[power] < t for s in off) / len(off))
            for t in THRESHOLDS]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--powers", default="1,1.5,2")
    ap.add_argument("--split", default="both", choices=["tune", "heldout", "both"])
    args = ap.parse_args()
    kb = KnowledgeBase.open(settings_from_env(data_dir=args.data_dir)).warm_up()
    powers = [float(p) for p in args.powers.split(",")]
    for name, (real, off) in splits().items():
        if args.split not in (name, "both"):
            continue
        s_real, s_off = supports(kb, real, powers), supports(kb, off, powers)
        print(f"\n### {name}: {len(real)} real questions, {len(off)} off-topic\n")
        print("| idf power | threshold | real answered | off-topic refused |\n|---|---|---|---|")
        for p in powers:
            for t, a, r in curve(s_real, s_off, p):
                mark = " **(in use)**" if (p, t) == (answer_mod.SUPPORT_POWER, answer_mod.MIN_SUPPORT) else ""
                print(f"| {p:g} | {t}{mark} | {a:.1%} | {r:.1%} |")


if __name__ == "__main__":
    main()
