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
from kb.errors import NotFound
from kb.search import KnowledgeBase
from kb.settings import PROJECT_ROOT

EVAL = PROJECT_ROOT / "eval"
_CITED = re.compile(r"(.+?)\[(\d+)\]\s*")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def evidence_places(kb: KnowledgeBase, anchors: list[str]) -> set[str]:
    """Places the sentences holding the anchors are about (the knowledge base's precedents)."""
    places = set()
    for hit in kb.iter_passages():
        if not any(a in hit["text"] for a in anchors):
            continue
        for s in attributed_sentences([hit]):
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
            try:
                text = kb.passage(c["passage_id"])["text"] if c else None
            except NotFound:
                text = None
            ok += text is not None and sentence.strip() in text
    return ok, total


def _measure(kb: KnowledgeBase, real: list[dict], off: list[dict]) -> dict:
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


def evaluate_answers(kb: KnowledgeBase, real_files: list[Path], offtopic_file: Path) -> dict:
    """Answer measures per question set: each real-question file is paired with one half of the off-topic
    set (the first with the `tune` half, the others with the `heldout` half)."""
    off = read_jsonl(offtopic_file)
    report = {}
    for i, path in enumerate(real_files):
        half = "tune" if i == 0 else "heldout"
        report[path.stem] = {"offtopic_half": half, **_measure(
            kb, read_jsonl(path), [q for q in off if q.get("split", "tune") == half])}
    return report


def format_answers(report: dict) -> str:
    def pct(x):
        return "-" if x is None else f"{x:.1%}"
    names = list(report)
    rows = [("real questions answered", lambda r: f"{pct(r['answered'])} of {r['real_questions']}"),
            ("off-topic questions refused", lambda r: f"{pct(r['refused'])} of {r['offtopic_questions']} "
                                                      f"({r['offtopic_half']} half)"),
            ("place recall (precedent questions)", lambda r: f"{pct(r['place_recall'])} over {r['precedent_questions']}"),
            ("citation precision", lambda r: f"{pct(r['citation_precision'])} of {r['quoted_sentences']} sentences"),
            ("English gist coverage", lambda r: f"{pct(r['gist_coverage'])} over {r['english_statements']} statements")]
    out = ["| measure | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    out += [f"| {label} | " + " | ".join(fn(report[n]) for n in names) + " |" for label, fn in rows]
    return "\n".join(out)
