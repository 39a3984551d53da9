"""Measure the answer's refusal threshold: share of gold questions answered vs share of
off-topic questions (eval/offtopic.jsonl) refused, for several coverage thresholds.

    python eval/answer_threshold.py --data-dir D
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import answer as answer_mod  # noqa: E402
from kb.evaluate import default_gold, load_gold  # noqa: E402
from kb.search import KnowledgeBase  # noqa: E402
from kb.settings import settings_from_env  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    kb = KnowledgeBase.open(settings_from_env(data_dir=args.data_dir)).warm_up()
    gold = load_gold([default_gold()])
    off = [json.loads(line) for line in (ROOT / "eval" / "offtopic.jsonl").read_text(encoding="utf-8").splitlines()
           if line.strip()]
    print("| passage threshold | gold questions answered | off-topic questions refused |\n|---|---|---|")
    for threshold in (0.3, 0.35, 0.4, 0.45, 0.5):
        answer_mod.MIN_PASSAGE_COVERAGE = threshold
        answered = sum(1 for q in gold if answer_mod.answer(kb, q["query"])["citations"])
        refused = sum(1 for q in off if not answer_mod.answer(kb, q["query"])["citations"])
        print(f"| {threshold} | {answered}/{len(gold)} ({answered / len(gold):.0%}) | "
              f"{refused}/{len(off)} ({refused / len(off):.0%}) |")


if __name__ == "__main__":
    main()
