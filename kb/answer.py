"""Extractive answers with numbered citations; no language model needed.

Retrieve with diversity, group the evidence by case or place, pick the one or
two sentences per group that best cover the (expanded) query, and cite each.
When no sentence covers enough of the query, say so instead of padding.
"""
from __future__ import annotations


from ingest.split import sentences
from ingest.structure import parse_heading
from kb.gazetteer import gazetteer
from kb.search import KnowledgeBase
from kb.text import fold, segmenter

# Measured with eval/answer_threshold.py (eval/RESULTS.md): a question is answered when one of the top
# five passages holds MIN_PASSAGE_COVERAGE of its idf-weighted concepts; a sentence is quoted when it
# holds MIN_SENTENCE_COVERAGE.
MIN_PASSAGE_COVERAGE = 0.4
MIN_SENTENCE_COVERAGE = 0.25
MAX_GROUPS = 6
SENTENCES_PER_GROUP = 2


def concepts(kb: KnowledgeBase, plan) -> list[tuple[float, set[str]]]:
    """The query's concepts, each a set of interchangeable Chinese forms with an idf weight.

    An English word and all its translations are one concept (a sentence needs one of them);
    a Chinese query's words are concepts, with their synonyms; words the corpus lacks weigh
    fully and never match, so off-topic questions score low."""
    groups: dict[str, set[str]] = {}
    if plan.lang == "en":
        for t in plan.terms:
            if t.source == "compound":   # 绩效考核 answers both "performance" and "appraisal"
                for word in t.en.split():
                    for key in [k for k in groups if word in k.split()] or [word]:
                        groups.setdefault(key, set()).add(fold(t.zh))
            elif t.source not in ("query", "number"):
                groups.setdefault(t.en or t.zh, set()).add(fold(t.zh))
        for word in plan.untranslated:
            groups.setdefault(word, set()).add(word)
    else:
        for word in segmenter().words(plan.original):
            groups.setdefault(word, set()).add(word)
        for t in plan.terms:
            if t.source == "synonym":
                groups.setdefault(t.en, set()).add(fold(t.zh))
    max_idf = float(kb.bm25.idf.max()) if len(kb.bm25.idf) else 1.0

    def idf(term: str) -> float:
        i = kb.bm25.vocab.get(term)
        if i is not None:
            return float(kb.bm25.idf[i])
        parts = [float(kb.bm25.idf[kb.bm25.vocab[w]]) for w in segmenter().words(term) if w in kb.bm25.vocab]
        return max(parts) if parts else max_idf

    return [(max(idf(f) for f in forms), forms) for forms in groups.values()]


def sentence_score(sentence: str, groups: list[tuple[float, set[str]]]) -> float:
    """Share of the query's (idf-weighted) concepts the sentence contains."""
    total = sum(w for w, _ in groups)
    if not total:
        return 0.0
    text = fold(sentence)
    return sum(w for w, forms in groups if any(f in text for f in forms)) / total


def _group_label(kb: KnowledgeBase, hit: dict, lang: str, sentence: str = "") -> str:
    named = [p for _, _, p in gazetteer().find(sentence) if p.level in ("city", "district", "province", "region")]
    regions = [r for r in hit["tags"]["region"] if r["level"] in ("city", "district", "province", "region")]
    if named and hit["tags"]["kind"] != "case_study":
        regions = [named[0].as_tag()]
    if hit["tags"]["kind"] == "case_study" and len(hit["section"]) >= 3:
        title = hit["section"][2].split("：")[-1]
        label = regions[0]["name"] if regions else title[:12]
    elif regions:
        label = regions[0]["name"]
    elif hit["tags"]["kind"] == "national_directive":
        label = "国家层面"
    else:
        label = hit["section"][-1][:16]
    if lang == "en":
        place = gazetteer().get(label)
        label = f"{label} ({place.en})" if place else ("国家层面 (national)" if label == "国家层面" else label)
    return label


def answer(kb: KnowledgeBase, question: str, k: int = 8, filters: dict | None = None) -> dict:
    plan = kb.plan(question)
    result = kb.search(question, k=min(max(k * 3, 20), 100), filters=filters, diverse=True, plan=plan)
    weights = concepts(kb, plan)
    best = max((sentence_score(h["text"], weights) for h in result["results"][:5]), default=0.0)
    if best < MIN_PASSAGE_COVERAGE:
        result["results"] = []
    groups: dict[str, list[tuple[float, str, dict]]] = {}
    order: list[str] = []
    for hit in result["results"]:
        body = [line for line in hit["text"].split("\n") if not (len(line) < 70 and parse_heading(line))]
        candidates = [s.strip() for line in body for s in sentences(line) if len(s.strip()) >= 8]
        scored = sorted(((sentence_score(s, weights), s) for s in candidates), key=lambda x: -x[0])
        for score, sent in scored[:SENTENCES_PER_GROUP]:
            if score >= MIN_SENTENCE_COVERAGE:
                label = _group_label(kb, hit, plan.lang, sent)
                if label not in groups:
                    groups[label] = []
                    order.append(label)
                groups[label].append((score, sent, hit))
    citations, statements = [], []
    cited: dict[str, int] = {}
    for label in order[:MAX_GROUPS]:
        picks = sorted(groups[label], key=lambda x: -x[0])[:SENTENCES_PER_GROUP]
        parts = []
        for _, sent, hit in picks:
            if hit["id"] not in cited:
                cited[hit["id"]] = len(citations) + 1
                citations.append({"n": cited[hit["id"]], "passage_id": hit["id"], "doc_id": hit["doc_id"],
                                  "section": hit["section"], "pages": hit["pages"],
                                  "pages_estimated": hit["pages_estimated"], "reference": hit["citation"]})
            parts.append(f"{sent}[{cited[hit['id']]}]")
        statements.append({"group": label, "text": " ".join(parts),
                           "passages": list(dict.fromkeys(h["id"] for _, _, h in picks))})
    if not statements:
        text = ("No passage in the knowledge base answers this; try other words, fewer filters, or the Chinese term."
                if plan.lang == "en" else "知识库中没有找到能回答这个问题的内容；请换个说法、减少筛选条件或使用英文检索。")
        return {"question": question, "lang": plan.lang, "expanded": plan.expanded, "answer": text,
                "statements": [], "citations": [], "glossary": [], "results": result["results"][:k]}
    glossary = []
    if plan.lang == "en":
        seen = set()
        for t in plan.terms:
            if t.source in ("glossary", "place", "compound") and t.en and t.zh not in seen and any(
                    t.zh in s["text"] for s in statements):
                seen.add(t.zh)
                glossary.append({"zh": t.zh, "en": t.en})
    lines = [f"{s['group']}：{s['text']}" for s in statements]
    if glossary:
        lines.append("Terms: " + "; ".join(f"{g['zh']} = {g['en']}" for g in glossary))
    used = {pid for s in statements for pid in s["passages"]}
    return {"question": question, "lang": plan.lang, "expanded": plan.expanded, "answer": "\n".join(lines),
            "statements": statements, "citations": citations, "glossary": glossary,
            "results": [h for h in result["results"] if h["id"] in used][:k] or result["results"][:k]}
