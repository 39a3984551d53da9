"""A compact Markdown table from `kb eval --save` files: per set, corpus and configuration, the overall
figures and nDCG@10 per language (the RESULTS.md table).

    python eval/summary.py LABEL=run.json [LABEL=run.json ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kb import evaluate as ev  # noqa: E402


def main(args: list[str]) -> None:
    runs = [(a.split("=", 1) if "=" in a else (Path(a).stem, a)) for a in args]
    reports = [(label, ev.load_report(Path(path))) for label, path in runs]
    print("| set (role) | corpus | config | nDCG@10 | recall@10 | MRR@10 (g2) | hit@5 (g2) | nDCG en / zh (gap) | judged |")
    print("|---|---|---|---|---|---|---|---|---|")
    names = dict.fromkeys(n for _, r in reports for n in r["sets"])
    for name in names:
        for label, report in reports:
            entry = report["sets"].get(name)
            if entry is None:
                continue
            for cfg, fig in ev.score_set(entry).items():
                o, lang = fig["overall"], fig["lang"]
                en, zh = lang.get("en", {}).get("ndcg@10", 0), lang.get("zh", {}).get("ndcg@10", 0)
                print(f"| {name} ({entry['role']}) | {label} | {cfg} | {o['ndcg@10']:.3f} | {o['recall@10']:.3f} | "
                      f"{o['mrr@10-l2']:.3f} | {o['hit_rate@5-l2']:.3f} | {en:.3f} / {zh:.3f} ({zh - en:+.3f}) | "
                      f"{o['n']}/{len(entry['queries'])} |")


if __name__ == "__main__":
    main(sys.argv[1:])
