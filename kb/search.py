"""The knowledge base object every entry point uses: hybrid, cross-lingual search.

Open once per process (`KnowledgeBase.open`), call `warm_up()` to load the models, then `search`,
`timeline`, `facets`. The search index is a backend (kb/backends: embedded or Milvus) holding keys,
tokens, vectors and tags; passages, documents, policies and indicators are read from the catalog
(kb/catalog.py), which `passage`, `documents`, `document`, `policies` and `indicators` hand through.
Translation, fusion, place boosts and diversity happen here, the same on every backend.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from kb import backends, store
from kb.backends import Where
from kb.catalog import Catalog, format_citation
from kb.embed import make_embedder
from kb.english_side import tokens as english_tokens
from kb.errors import BadInput, IndexMismatch, UnknownFilterValue
from kb.fusion import diversify, rrf
from kb.gazetteer import gazetteer
from kb.query import QueryPlan, Translator, validate
from kb.settings import Settings
from kb.text import fold, segmenter
from kb.vocab import DOC_TYPES, DOMAINS, INSTRUMENTS, KINDS

log = logging.getLogger("kb.search")
MODES = ("hybrid", "bm25", "dense")
FILTER_KEYS = ("kind", "domain", "region", "year", "instrument", "doc_year", "doc_type")
VOCABULARY = {"kind": KINDS, "domain": DOMAINS, "instrument": INSTRUMENTS, "doc_type": DOC_TYPES}
YEAR_RANGE = (1900, 2100)
LIGHT_COLUMNS = "key, id, doc_id, kind, section, region, region_scope"   # for place boosts and diversity


def _year(key: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise UnknownFilterValue(f"{key} must be a year, not {value!r}")
    try:
        year = int(value)
    except (TypeError, ValueError):
        raise UnknownFilterValue(f"{key} must be a number, not {str(value)[:40]!r}") from None
    if not YEAR_RANGE[0] <= year <= YEAR_RANGE[1]:
        raise UnknownFilterValue(f"{key} must be a year between {YEAR_RANGE[0]} and {YEAR_RANGE[1]}")
    return year


@dataclass
class Filters:
    kind: str | None = None
    domain: str | None = None
    region: str | None = None
    year: int | None = None          # a year the passage speaks of
    instrument: str | None = None
    doc_year: int | None = None      # the year of the document the passage comes from
    doc_type: str | None = None      # the kind of document: report, work_report, policy_notice...

    @classmethod
    def from_dict(cls, d: dict | None) -> "Filters":
        d = {k: v for k, v in (d or {}).items() if v not in (None, "", [])}
        unknown = set(d) - set(FILTER_KEYS)
        if unknown:
            raise UnknownFilterValue(f"unknown filter {sorted(unknown)[0]!r}: use {', '.join(FILTER_KEYS)}")
        return cls(kind=d.get("kind"), domain=d.get("domain"), region=d.get("region"),
                   year=_year("year", d.get("year")), instrument=d.get("instrument"),
                   doc_year=_year("doc_year", d.get("doc_year")), doc_type=d.get("doc_type"))

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in FILTER_KEYS if getattr(self, k) is not None}


class _Vocabulary:
    """The corpus vocabulary as the translator sees it: membership asked of the search index."""

    def __init__(self, index):
        self.index = index

    def __contains__(self, token: str) -> bool:
        return self.index.has_token(token)

    def __bool__(self) -> bool:
        return self.index.count() > 0


class KnowledgeBase:
    def __init__(self, settings: Settings, generation: Path):
        self.settings = settings
        self.generation = generation
        store.verify_generation(generation)   # a damaged or replaced file is refused here, never served
        self.manifest = store.read_manifest(generation)
        if self.manifest.get("schema") != store.SCHEMA_VERSION or "index" not in self.manifest:
            raise IndexMismatch(f"generation {generation.name} was built by an older version of kb: "
                                "re-run `kb ingest` to rebuild it from its sources")
        built = self.manifest.get("embedders", {})
        for spec in filter(None, (settings.embedder, settings.xling_embedder)):
            if spec not in built:
                raise IndexMismatch(
                    f"the knowledge base was built with the embedder {', '.join(built) or '(none)'}, not {spec!r}: "
                    f"re-run `kb ingest` to embed it with {spec!r}, or set KB_EMBEDDER back")
        built_with = self.manifest["index"].get("backend", "embedded")
        if built_with != settings.backend:
            raise IndexMismatch(f"the knowledge base was indexed with the {built_with} backend, not {settings.backend}: "
                                f"re-run `kb ingest` with KB_BACKEND={settings.backend}, or set it back")
        self.catalog = Catalog(generation)
        self.documents_by_id = self.catalog.documents_by_id
        self.index = backends.open_reader(settings, generation, self.manifest)
        self.spaces = [spec for spec in built if spec in (settings.embedder, settings.xling_embedder)]
        self._docs_with_cache: dict[str, frozenset[int]] = {}
        self.translator = Translator(vocabulary=_Vocabulary(self.index), docs_with=self.docs_with,
                                     passages=self.passage_count)
        self._lock = threading.Lock()
        self._embedders: dict[str, object] = {}

    @property
    def passage_count(self) -> int:
        return self.catalog.passage_count

    def docs_with(self, term: str) -> frozenset[int]:
        """Passages (keys) containing a Chinese term (all of its tokens when it is not one word)."""
        if self.index.has_token(term):
            return self.index.docs_with(term)
        sets = [self.index.docs_with(t) for t in segmenter().words(term) if self.index.has_token(t)]
        return frozenset.intersection(*sets) if sets else frozenset()

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, settings: Settings) -> "KnowledgeBase":
        return cls(settings, store.require_generation(settings.data_dir))

    def close(self) -> None:
        """Release the catalog's connections and the backend (a server connection for Milvus)."""
        self.index.close()
        self.catalog.close()

    def warm_up(self) -> "KnowledgeBase":
        """Load the models the search uses now (start-up), so no request pays for it."""
        for spec in self.spaces:
            self.embedder(spec)
        self.translator.cedict()
        self.search("固体废物", k=1)        # Chinese path
        self.search("solid waste", k=1)   # English path: translation, and embedders that load lazily
        return self

    def embedder(self, spec: str):
        with self._lock:
            if spec not in self._embedders:
                emb = make_embedder(spec)
                expected = self.manifest["embedders"][spec]
                if emb.key != expected:
                    raise IndexMismatch(f"index built with {expected}, embedder is {emb.key}: re-run `kb ingest`")
                self._embedders[spec] = emb
            return self._embedders[spec]

    def passage_vector(self, passage_id: str, spec: str):
        """The vector the index holds for a passage in one embedder's space (None if the backend has none)."""
        p = self.catalog.passage_row(passage_id)
        if p is None or spec not in self.spaces:
            return None
        found = self.index.vectors_of(spec, [p["key"]])
        return None if found is None else found[0]

    # ------------------------------------------------------------ filters
    def where(self, filters: Filters) -> Where | None:
        """Filters checked against the vocabularies and the gazetteer, as the backend's filter."""
        if not filters.as_dict():
            return None
        for key, vocab in VOCABULARY.items():
            value = getattr(filters, key)
            if value is not None and value not in vocab:
                raise UnknownFilterValue(f"unknown {key} {value!r}: one of {', '.join(vocab)}")
        place = None
        if filters.region is not None:
            region = gazetteer().resolve(filters.region)
            if region is None:
                raise UnknownFilterValue(f"unknown region {filters.region!r}: use a Chinese or English place name")
            place = region.name
        return Where(kind=filters.kind, domain=filters.domain, place=place, year=filters.year,
                     instrument=filters.instrument, doc_year=filters.doc_year, doc_type=filters.doc_type)

    # ------------------------------------------------------------ search
    def plan(self, query: str, translate: bool = True) -> QueryPlan:
        return self.translator.plan(validate(query, self.settings.max_query_chars), translate)

    def keyword_weights(self, plan: QueryPlan) -> dict[str, float]:
        seg = segmenter()
        weights: dict[str, float] = {}
        for term in plan.terms:
            if term.source == "query" and plan.lang == "en" and plan.translated:
                continue  # English words do not occur in Chinese passages
            for tok in seg.tokens(term.zh):
                weights[tok] = max(weights.get(tok, 0.0), term.weight)
        return weights

    def rankings(self, plan: QueryPlan, mode: str, where: Where | None) -> list[tuple[list[int], float]]:
        """Ranked passage-key lists, each with its fusion weight."""
        s = self.settings
        n = s.candidates
        lists: list[tuple[list[int], float]] = []
        if mode in ("hybrid", "bm25"):
            lists.append(([key for key, _ in self.index.keyword(self.keyword_weights(plan), n, where)], s.w_bm25))
            if s.w_bm25_en and plan.lang == "en" and plan.translated:   # the passages' English side
                english = dict.fromkeys(english_tokens(plan.original), 1.0)
                lists.append(([key for key, _ in self.index.keyword(english, n, where, field="english")], s.w_bm25_en))
        if mode in ("hybrid", "dense"):
            dense = [(s.embedder, plan.dense_text, s.w_dense)]
            if s.w_dense_original and plan.lang == "en" and plan.translated:
                dense.append((s.embedder, plan.original, s.w_dense_original))
            if s.xling_embedder and plan.lang == "en":
                dense.append((s.xling_embedder, plan.original, s.w_xling))
            for spec, text, weight in dense:
                if spec in self.spaces:
                    q = self.embedder(spec).embed_query(text[: s.max_dense_chars])
                    lists.append(([key for key, _ in self.index.vector(spec, q, n, where)], weight))
        return lists

    def fuse(self, lists: list[tuple[list[int], float]]) -> list[tuple[int, float]]:
        return rrf([ranked for ranked, _ in lists], k=self.settings.rrf_k, weights=[w for _, w in lists])

    def search(self, query: str, k: int = 10, mode: str = "hybrid", filters: dict | Filters | None = None,
               translate: bool = True, diverse: bool = False, plan: QueryPlan | None = None) -> dict:
        if mode not in MODES:
            raise BadInput(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
        if not isinstance(k, int) or not 1 <= k <= 100:
            raise BadInput("k must be between 1 and 100")
        filters = filters if isinstance(filters, Filters) else Filters.from_dict(filters)
        plan = plan or self.plan(query, translate)  # callers that already planned the query pass it
        fused = self.fuse(self.rankings(plan, mode, self.where(filters)))
        boost = bool(plan.places) and filters.region is None
        if boost or diverse:   # what reordering needs of every candidate, the light columns only
            light = self.catalog.passages([key for key, _ in fused], LIGHT_COLUMNS)
            if boost:
                fused = self._boost_places(fused, plan, light)
            if diverse:
                fused = diversify(fused, lambda key: group_of(light[key]), k)
        rows = self.catalog.passages([key for key, _ in fused[:k]])
        hits = [self.catalog.hit(rows[key], score) for key, score in fused[:k]]
        return {"query": plan.original, "expanded": plan.expanded, "lang": plan.lang, "mode": mode,
                "filters": filters.as_dict(), "results": hits}

    def _boost_places(self, fused: list[tuple[int, float]], plan: QueryPlan, rows: dict[int, dict]):
        gaz = gazetteer()
        bonus = self.settings.place_boost / (self.settings.rrf_k + 1)
        names = [p.name for p in plan.places]
        out = []
        for key, score in fused:
            scope = rows[key]["region_scope"]
            if any(gaz.contains(name, r) for name in names for r in scope):
                score += bonus
            out.append((key, score))
        return sorted(out, key=lambda x: -x[1])

    # ------------------------------------------------------------ timeline
    def matching_keys(self, plan: QueryPlan, where: Where | None) -> set[int]:
        """Passages that hold the query's concepts: a concept is one query word (with its synonyms) or one
        English word or phrase (with its translations); a passage matches when it holds all of one or two
        concepts, and all but a third of more."""
        seg = segmenter()
        concepts: dict[str, set[str]] = {}
        for term in plan.terms:
            if term.source == "query":
                if plan.lang == "en" and plan.translated:
                    continue
                for tok in seg.words(term.zh):
                    concepts.setdefault(tok, set()).add(tok)
            else:
                concepts.setdefault(fold(term.en) if term.en else term.zh, set()).add(term.zh)
        if not concepts:
            return set()
        holding = [set().union(*(self.docs_with(zh) for zh in forms)) for forms in concepts.values()]
        need = len(holding) - len(holding) // 3
        counts = Counter(key for keys in holding for key in keys)
        keys = {key for key, n in counts.items() if n >= need}
        return keys if where is None else keys & set(self.index.keys(where).tolist())

    def timeline(self, query: str, filters: dict | Filters | None = None, translate: bool = True) -> dict:
        """Per document year: how many passages match the query and the best of them, with its citation
        ("how has the wording on 垃圾分类 changed since 2019")."""
        filters = filters if isinstance(filters, Filters) else Filters.from_dict(filters)
        plan = self.plan(query, translate)
        where = self.where(filters)
        matching = self.matching_keys(plan, where)
        rank_of = {key: i for i, (key, _) in enumerate(self.fuse(self.rankings(plan, "hybrid", where)))}
        scores = dict(self.index.keyword(self.keyword_weights(plan), max(1, len(matching)), where))
        years = sorted(int(y) for y in self.index.facets(where)["doc_year"])
        rows = self.catalog.passages(matching)
        by_year: dict[int, list[int]] = {y: [] for y in years}
        for key, p in rows.items():
            if p["doc_year"] in by_year:
                by_year[p["doc_year"]].append(key)
        out = []
        for y in years:
            keys = by_year[y]
            best = min(keys, key=lambda r: (rank_of.get(r, len(rank_of)), -scores.get(r, 0.0), r)) if keys else None
            docs = sorted({rows[r]["doc_id"] for r in keys})
            out.append({"doc_year": y, "count": len(keys),
                        "documents": [{"doc_id": d, "title": self.documents_by_id[d]["title"]} for d in docs],
                        "best": self.catalog.hit(rows[best], 0.0) if best is not None else None})
        return {"query": plan.original, "expanded": plan.expanded, "lang": plan.lang, "filters": filters.as_dict(),
                "matching": sum(len(r) for r in by_year.values()), "years": out}

    # ------------------------------------------------------------ facets
    def facets(self, filters: dict | None = None) -> dict:
        where = self.where(Filters.from_dict(filters))
        counts = self.index.facets(where)
        gaz = gazetteer()
        regions = []
        for name, n in sorted(counts["places"].items(), key=lambda x: (-x[1], x[0])):
            place = gaz.places.get(name)
            if place and place.level != "national":
                regions.append({"name": name, "count": n, "level": place.level, "province": place.province or None,
                                "en": place.en})
        return {"total": self.index.count(where), "kind": counts["kind"], "domain": counts["domain"],
                "instrument": counts["instrument"], "year": dict(sorted(counts["year"].items())),
                "doc_year": dict(sorted(counts["doc_year"].items())), "doc_type": counts["doc_type"],
                "region": regions}

    # ------------------------------------------------------------ browsing (the catalog's)
    def iter_passages(self):
        """Every passage as a search hit (score 0), in document order."""
        for p in self.catalog.iter_passage_rows():
            yield self.catalog.hit(p, 0.0)

    def passage(self, passage_id: str) -> dict:
        return self.catalog.passage(passage_id)

    def documents(self) -> list[dict]:
        return self.catalog.documents()

    def document(self, doc_id: str) -> dict:
        return self.catalog.document(doc_id)

    def policies(self, q: str | None = None, region: str | None = None, year: int | None = None) -> list[dict]:
        return self.catalog.policies(q, region, year)

    def indicators(self) -> list[dict]:
        return self.catalog.indicators()

    def health(self) -> dict:
        threads = os.environ.get("OMP_NUM_THREADS", "")
        return {"status": "ok", "documents": len(self.documents_by_id), "passages": self.passage_count,
                "generation": self.generation.name, "embedder": self.settings.embedder,
                "backend": self.settings.backend, "embed_threads": int(threads) if threads.isdigit() else None}


def group_of(p: dict):
    """Diversity group: a case study, else the first city/province the passage is about."""
    if p["kind"] == "case_study" and len(p["section"]) >= 3:
        return ("case", p["doc_id"], p["section"][2])
    local = [r["name"] for r in p["region"] if r["level"] in ("city", "district", "province")]
    return ("place", local[0]) if local else ("passage", p["id"])


__all__ = ["Filters", "KnowledgeBase", "MODES", "FILTER_KEYS", "format_citation", "group_of"]
