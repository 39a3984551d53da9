"""Answer evaluation (`kb eval --answers`).

- place recall on precedent questions: of the places the knowledge base holds evidence for (the places the
  sentences holding the gold anchors are about), the share the answer names;
- answer rate on real questions, refusal rate on off-topic ones;
- citation precision: every [n] resolves to a citation whose passage holds the quoted sentence;
- English gist coverage: the mean share of each English statement's content its `en` renders.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from kb.answer import answer, attributed_sentences
from kb.search import KnowledgeBase
from kb.settings import PROJECT_ROOT

EVAL = PROJECT_ROOT / "eval"
_CITED = re.compile(r"(.+?)\[(\d+)\]\s*")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def evidence_places(kb: KnowledgeBase, anchors: list[str]) -> set[str]:
    """Places the sentences holding the anchors are about (the knowledge base's precedents)."""
    places = set()
    for row, p in enumerate(kb.passages):
        if not any(a in p["text"] for a in anchors):
            continue
        for s in attributed_sentences([kb.hit(row, 0.0)]):
            if s.place is not None and any(a in s.text for a in anchors):
                places.add(s.place.name)
    return places


def answer_places(result: dict) -> set[str]:
    return {name for s in result["statements"] for name in [s.get("place"), *s.get("places", [])] if name}


def citation_checks(kb: KnowledgeBase, result: dict) -> tuple[int, int]:
    """(quoted sentences whose [n] resolves to a passage holding them, quoted sentences)."""
    by_n = {c["n"]: c for c in result["citations"]}
    ok = total = 0
    for s in result["statements"]:
        for sentence, n in _CITED.findall(s["text"]):
            total += 1
            c = by_n.get(int(n))
            row = kb.row_of.get(c["passage_id"]) if c else None
            ok += row is not None and sentence.strip() in kb.passages[row]["text"]
    return ok, total


def evaluate_answers(kb: KnowledgeBase, real_files: list[Path], offtopic_files: list[Path],
                     offtopic_split: str | None = None) -> dict:
    real = [q for f in real_files for q in read_jsonl(f)]
    off = [q for f in offtopic_files for q in read_jsonl(f)
           if offtopic_split is None or q.get("split") == offtopic_split]
    answered = refused = cited_ok = cited_total = 0
    recalls, gists = [], []
    for q in real:
        result = answer(kb, q["query"])
        answered += bool(result["statements"])
        ok, total = citation_checks(kb, result)
        cited_ok, cited_total = cited_ok + ok, cited_total + total
        gists += [s["en_coverage"] for s in result["statements"] if s.get("en_coverage") is not None]
        if q.get("type") == "precedent":
            wanted = evidence_places(kb, [r["anchor"] for r in q.get("relevant", [])])
            if wanted:
                recalls.append(len(wanted & answer_places(result)) / len(wanted))
    for q in off:
        refused += not answer(kb, q["query"])["statements"]
    return {"real_questions": len(real), "answered": answered / len(real) if real else None,
            "offtopic_questions": len(off), "refused": refused / len(off) if off else None,
            "precedent_questions": len(recalls), "place_recall": sum(recalls) / len(recalls) if recalls else None,
            "citation_precision": cited_ok / cited_total if cited_total else None, "quoted_sentences": cited_total,
            "gist_coverage": sum(gists) / len(gists) if gists else None, "english_statements": len(gists)}


def format_answers(report: dict) -> str:
    def pct(x):
        return "-" if x is None else f"{x:.1%}"
    return "\n".join([
        "| measure | value |", "|---|---|",
        f"| real questions answered | {pct(report['answered'])} of {report['real_questions']} |",
        f"| off-topic questions refused | {pct(report['refused'])} of {report['offtopic_questions']} |",
        f"| place recall (precedent questions) | {pct(report['place_recall'])} over {report['precedent_questions']} |",
        f"| citation precision | {pct(report['citation_precision'])} of {report['quoted_sentences']} sentences |",
        f"| English gist coverage | {pct(report['gist_coverage'])} over {report['english_statements']} statements |",
    ])
