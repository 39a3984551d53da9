"""Issue 14 lever (measured, rejected: eval/RESULTS.md): spread the top ten across places for list questions.

Runs hybrid search (with translation) on each registered query set twice: as is, and diversified by place
(`kb search --diverse`: `kb.fusion.diversify` over the knowledge base's place/case groups) for the
questions `asks_for_many_places` detects; then compares the two with the paired randomisation test.

    python eval/breadth_lever.py --data-dir data/ [--save-dir /tmp/breadth]
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kb import evaluate as ev  # noqa: E402
from kb.search import KnowledgeBase  # noqa: E402
from kb.settings import settings_from_env  # noqa: E402


# A question that asks for many places ("which provinces...", "哪些城市...") wants its top results spread
# across places. General wording only: an interrogative or "list/name" right before a plural place noun.
_PLACE_NOUNS_EN = r"(?:cities|provinces|regions|places|areas|counties|districts|municipalities|localities|towns)"
_MANY_PLACES_EN = re.compile(rf"\b(?:which|what|list|name)(?:\s+[a-z-]+)?\s+{_PLACE_NOUNS_EN}\b", re.I)
_MANY_PLACES_ZH = re.compile(r"(?:哪些|哪几)[个座家]?(?:城市|省份|省|地区|地方|地市|市|县|区)|各地|各省|多地|多个(?:城市|省)")


def asks_for_many_places(query: str) -> bool:
    """Whether the question's wording asks for a list of places (both languages)."""
    return bool(_MANY_PLACES_EN.search(query) or _MANY_PLACES_ZH.search(query))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--save-dir", default=None, help="Write baseline.json and breadth.json here (kb eval --compare).")
    args = ap.parse_args()
    kb = KnowledgeBase.open(settings_from_env(data_dir=args.data_dir)).warm_up()
    reports = {"baseline": {"format": ev.FORMAT, "k": ev.K, "settings": ev.describe(kb), "sets": {}},
               "breadth": {"format": ev.FORMAT, "k": ev.K, "settings": ev.describe(kb), "sets": {}}}
    for qset in ev.QUERY_SETS:
        queries = ev.load_gold([qset.path])
        qrels = ev.build_qrels(queries, list(kb.iter_passages()))
        base, lever, detected = {}, {}, 0
        for q in queries:
            ids = [h["id"] for h in kb.search(q["query"], k=ev.K, mode="hybrid")["results"]]
            base[q["id"]] = lever[q["id"]] = ids
            if asks_for_many_places(q["query"]):
                detected += 1
                lever[q["id"]] = [h["id"] for h in kb.search(q["query"], k=ev.K, mode="hybrid", diverse=True)["results"]]
        for name, run in (("baseline", base), ("breadth", lever)):
            reports[name]["sets"][qset.name] = {"name": qset.name, "role": qset.role, "queries": queries,
                                                "qrels": qrels, "runs": {"hybrid": run}}
        print(f"{qset.name} ({qset.role}): {detected} of {len(queries)} questions ask for many places")
    if args.save_dir:
        for name, report in reports.items():
            ev.save_report(report, Path(args.save_dir) / f"{name}.json")
    cmp = ev.compare_reports(reports["baseline"], reports["breadth"])
    print(ev.format_comparison(cmp, "hybrid as is", "hybrid, diversified by place for list questions"))


if __name__ == "__main__":
    main()
