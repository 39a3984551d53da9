"""The knowledge base object every entry point uses: hybrid, cross-lingual search.

Open once per process (`KnowledgeBase.open`), call `warm_up()` to load the models,
then `search`, `passage`, `documents`, `facets`, `policies`, `indicators`.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kb import store, vectors
from kb.embed import make_embedder
from kb.errors import BadInput, IndexMismatch, NotFound, UnknownFilterValue
from kb.fusion import diversify, rrf
from kb.gazetteer import gazetteer
from kb.keyword import BM25Index, top_k
from kb.query import QueryPlan, Translator, validate
from kb.settings import Settings
from kb.text import fold, segmenter
from kb.vocab import DOC_TYPES, DOMAINS, INSTRUMENTS, KINDS, REFERENCE_CODES, embedding_text

log = logging.getLogger("kb.search")
MODES = ("hybrid", "bm25", "dense")
FILTER_KEYS = ("kind", "domain", "region", "year", "instrument", "doc_year", "doc_type")
VOCABULARY = {"kind": KINDS, "domain": DOMAINS, "instrument": INSTRUMENTS, "doc_type": DOC_TYPES}
YEAR_RANGE = (1900, 2100)


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


def format_citation(doc: dict, pages: list[int] | None, estimated: bool = False) -> str:
    """GB/T 7714 reference: Author. Title[R]. Place: Publisher, Year: pages. Pages estimated from a
    table of contents are marked "约" (about)."""
    author = doc.get("author") or doc.get("publisher") or ""
    head = f"{author}. " if author else ""
    ref = f"{head}{doc['title']}[{REFERENCE_CODES.get(doc.get('doc_type') or '', 'Z')}]. "
    pub = ""
    if doc.get("publisher"):
        pub = f"{doc['place']}: {doc['publisher']}" if doc.get("place") else doc["publisher"]
    year = doc.get("year") or doc.get("doc_year")
    if year:
        pub = f"{pub}, {year}" if pub else str(year)
    if doc.get("date") and not doc.get("publisher") and doc.get("doc_type") != "report":
        pub = f"{pub}({doc['date']})" if pub else doc["date"]
    if pages:
        span = str(pages[0]) if pages[0] == pages[1] else f"{pages[0]}-{pages[1]}"
        span = f"约{span}" if estimated else span
        pub = f"{pub}: {span}" if pub else span
    return ref + (pub + "." if pub else "").strip()


class KnowledgeBase:
    def __init__(self, settings: Settings, generation: Path):
        self.settings = settings
        self.generation = generation
        store.verify_generation(generation)   # a damaged or replaced file is refused here, never served
        self.manifest = store.read_manifest(generation)
        built = self.manifest.get("embedders", {})
        for spec in filter(None, (settings.embedder, settings.xling_embedder)):
            if spec not in built:
                raise IndexMismatch(
                    f"the knowledge base was built with the embedder {', '.join(built) or '(none)'}, not {spec!r}: "
                    f"re-run `kb ingest` to embed it with {spec!r}, or set KB_EMBEDDER back")
        db = store.open_db(generation / store.DB_NAME, readonly=True)
        self.documents_by_id = {r["doc_id"]: store.decode_row(r) for r in db.query("SELECT * FROM documents")}
        self.passages = [store.decode_row(r) for r in db.query("SELECT * FROM passages ORDER BY doc_id, seq")]
        self.policy_rows = [store.decode_row(r) for r in db.query("SELECT * FROM policies ORDER BY doc_id, rowid")]
        self.indicator_rows = [store.decode_row(r) for r in db.query("SELECT * FROM indicators ORDER BY id")]
        db.conn.close()
        self.row_of = {p["id"]: i for i, p in enumerate(self.passages)}
        seg = segmenter()
        self.bm25 = BM25Index([seg.tokens(embedding_text(p)) for p in self.passages])
        self.indexes = {spec: vectors.load(generation, key, len(self.passages))
                        for spec, key in built.items() if spec in (settings.embedder, settings.xling_embedder)}
        self._docs_with_cache: dict[str, frozenset[int]] = {}
        self.translator = Translator(vocabulary=set(self.bm25.vocab), docs_with=self.docs_with,
                                     passages=len(self.passages))
        self._lock = threading.Lock()
        self._embedders: dict[str, object] = {}

    def docs_with(self, term: str) -> frozenset[int]:
        """Passages containing a Chinese term (all of its tokens when it is not one word)."""
        cache = self._docs_with_cache
        if term not in cache:
            i = self.bm25.vocab.get(term)
            if i is not None:
                cache[term] = frozenset(self.bm25.matrix[i].indices.tolist())
            else:
                sets = [frozenset(self.bm25.matrix[self.bm25.vocab[t]].indices.tolist())
                        for t in segmenter().words(term) if t in self.bm25.vocab]
                cache[term] = frozenset.intersection(*sets) if sets else frozenset()
        return cache[term]

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, settings: Settings) -> "KnowledgeBase":
        return cls(settings, store.require_generation(settings.data_dir))

    def warm_up(self) -> "KnowledgeBase":
        """Load the models the search uses now (start-up), so no request pays for it. An index built for
        an embedder the settings no longer use (a USE index from an older default) is left unloaded."""
        for spec in (self.settings.embedder, self.settings.xling_embedder):
            if spec and spec in self.indexes:
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

    # ------------------------------------------------------------ filters
    def allowed_rows(self, filters: Filters) -> np.ndarray | None:
        if not filters.as_dict():
            return None
        for key, vocab in VOCABULARY.items():
            value = getattr(filters, key)
            if value is not None and value not in vocab:
                raise UnknownFilterValue(f"unknown {key} {value!r}: one of {', '.join(vocab)}")
        region = None
        if filters.region is not None:
            region = gazetteer().resolve(filters.region)
            if region is None:
                raise UnknownFilterValue(f"unknown region {filters.region!r}: use a Chinese or English place name")
        gaz = gazetteer()
        rows = []
        for i, p in enumerate(self.passages):
            if filters.kind and p["kind"] != filters.kind:
                continue
            if filters.domain and filters.domain not in p["domain"]:
                continue
            if filters.instrument and filters.instrument not in p["instrument"]:
                continue
            if filters.year is not None and filters.year not in p["year"]:
                continue
            if filters.doc_year is not None and p["doc_year"] != filters.doc_year:
                continue
            if filters.doc_type and p["doc_type"] != filters.doc_type:
                continue
            if region is not None and not any(gaz.contains(region.name, r) for r in p["region_scope"]):
                continue
            rows.append(i)
        return np.array(rows, dtype=np.int64)

    # ------------------------------------------------------------ search
    def plan(self, query: str, translate: bool = True) -> QueryPlan:
        return self.translator.plan(validate(query, self.settings.max_query_chars), translate)

    def _bm25_query(self, plan: QueryPlan) -> dict[str, float]:
        seg = segmenter()
        weights: dict[str, float] = {}
        for term in plan.terms:
            if term.source == "query" and plan.lang == "en" and plan.translated:
                continue  # English words do not occur in Chinese passages
            for tok in seg.tokens(term.zh):
                weights[tok] = max(weights.get(tok, 0.0), term.weight)
        return weights

    def rankings(self, plan: QueryPlan, mode: str, allowed: np.ndarray | None) -> list[tuple[list[int], float]]:
        """Ranked row lists, each with its fusion weight."""
        s = self.settings
        n = s.candidates
        lists: list[tuple[list[int], float]] = []
        if mode in ("hybrid", "bm25"):
            lists.append(([i for i, _ in top_k(self.bm25.scores(self._bm25_query(plan)), n, allowed)], s.w_bm25))
        if mode in ("hybrid", "dense"):
            dense = [(s.embedder, plan.dense_text, s.w_dense)]
            if s.w_dense_original and plan.lang == "en" and plan.translated:
                dense.append((s.embedder, plan.original, s.w_dense_original))
            if s.xling_embedder and plan.lang == "en":
                dense.append((s.xling_embedder, plan.original, s.w_xling))
            for spec, text, weight in dense:
                if spec in self.indexes:
                    q = self.embedder(spec).embed_query(text[: s.max_dense_chars])
                    lists.append(([int(i) for i in vectors.search(self.indexes[spec], q, n, allowed)[1]], weight))
        return lists

    def search(self, query: str, k: int = 10, mode: str = "hybrid", filters: dict | Filters | None = None,
               translate: bool = True, diverse: bool = False, plan: QueryPlan | None = None) -> dict:
        if mode not in MODES:
            raise BadInput(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
        if not isinstance(k, int) or not 1 <= k <= 100:
            raise BadInput("k must be between 1 and 100")
        filters = filters if isinstance(filters, Filters) else Filters.from_dict(filters)
        plan = plan or self.plan(query, translate)  # callers that already planned the query pass it
        allowed = self.allowed_rows(filters)
        lists = self.rankings(plan, mode, allowed)
        fused = rrf([ranked for ranked, _ in lists], k=self.settings.rrf_k, weights=[w for _, w in lists])
        if plan.places and filters.region is None:
            fused = self._boost_places(fused, plan)
        if diverse:
            fused = diversify(fused, self.group_of, k)
        hits = [self.hit(row, score) for row, score in fused[:k]]
        return {"query": plan.original, "expanded": plan.expanded, "lang": plan.lang, "mode": mode,
                "filters": filters.as_dict(), "results": hits}

    # ------------------------------------------------------------ timeline
    def matching_rows(self, plan: QueryPlan, allowed: np.ndarray | None) -> set[int]:
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
        counts = Counter(row for rows in holding for row in rows)
        rows = {row for row, n in counts.items() if n >= need}
        return rows if allowed is None else rows & set(allowed.tolist())

    def timeline(self, query: str, filters: dict | Filters | None = None, translate: bool = True) -> dict:
        """Per document year: how many passages match the query and the best of them, with its citation
        ("how has the wording on 垃圾分类 changed since 2019")."""
        filters = filters if isinstance(filters, Filters) else Filters.from_dict(filters)
        plan = self.plan(query, translate)
        allowed = self.allowed_rows(filters)
        matching = self.matching_rows(plan, allowed)
        lists = self.rankings(plan, "hybrid", allowed)
        fused = rrf([ranked for ranked, _ in lists], k=self.settings.rrf_k, weights=[w for _, w in lists])
        rank_of = {row: i for i, (row, _) in enumerate(fused)}
        scores = self.bm25.scores(self._bm25_query(plan))
        rows_in = range(len(self.passages)) if allowed is None else allowed.tolist()
        years = sorted({self.passages[i]["doc_year"] for i in rows_in if self.passages[i]["doc_year"] is not None})
        by_year: dict[int, list[int]] = {y: [] for y in years}
        for row in matching:
            y = self.passages[row]["doc_year"]
            if y in by_year:
                by_year[y].append(row)
        out = []
        for y in years:
            rows = by_year[y]
            best = min(rows, key=lambda r: (rank_of.get(r, len(rank_of)), -scores[r])) if rows else None
            docs = sorted({self.passages[r]["doc_id"] for r in rows})
            out.append({"doc_year": y, "count": len(rows),
                        "documents": [{"doc_id": d, "title": self.documents_by_id[d]["title"]} for d in docs],
                        "best": self.hit(best, 0.0) if best is not None else None})
        return {"query": plan.original, "expanded": plan.expanded, "lang": plan.lang, "filters": filters.as_dict(),
                "matching": sum(len(r) for r in by_year.values()), "years": out}

    def _boost_places(self, fused: list[tuple[int, float]], plan: QueryPlan) -> list[tuple[int, float]]:
        gaz = gazetteer()
        bonus = self.settings.place_boost / (self.settings.rrf_k + 1)
        names = [p.name for p in plan.places]
        out = []
        for row, score in fused:
            scope = self.passages[row]["region_scope"]
            if any(gaz.contains(name, r) for name in names for r in scope):
                score += bonus
            out.append((row, score))
        return sorted(out, key=lambda x: -x[1])

    def group_of(self, row: int):
        """Diversity group: a case study, else the first city/province the passage is about."""
        p = self.passages[row]
        if p["kind"] == "case_study" and len(p["section"]) >= 3:
            return ("case", p["doc_id"], p["section"][2])
        local = [r["name"] for r in p["region"] if r["level"] in ("city", "district", "province")]
        return ("place", local[0]) if local else ("passage", p["id"])

    def hit(self, row: int, score: float) -> dict:
        p = self.passages[row]
        doc = self.documents_by_id[p["doc_id"]]
        return {
            "id": p["id"], "text": p["text"], "score": round(float(score), 6), "doc_id": p["doc_id"],
            "doc_title": doc["title"], "section": p["section"], "pages": p["pages"],
            "pages_estimated": bool(p["pages"]) and bool(p["pages_estimated"]),
            "tags": {"kind": p["kind"], "domain": p["domain"], "region": p["region"], "year": p["year"],
                     "instrument": p["instrument"], "doc_year": p["doc_year"], "doc_type": p["doc_type"]},
            "citation": format_citation(doc, p["pages"], bool(p["pages_estimated"])),
        }

    # ------------------------------------------------------------ browsing
    @property
    def passage_count(self) -> int:
        return len(self.passages)

    def iter_passages(self):
        """Every passage as a search hit (score 0), in document order."""
        for row in range(len(self.passages)):
            yield self.hit(row, 0.0)

    def passage(self, passage_id: str) -> dict:
        row = self.row_of.get(passage_id)
        if row is None:
            raise NotFound(f"no passage {passage_id!r}")
        p = self.passages[row]
        return {**self.hit(row, 0.0), "prev_id": p["prev_id"], "next_id": p["next_id"],
                "start": p["start"], "end": p["end"]}

    def documents(self) -> list[dict]:
        return [self._doc_summary(d) for d in self.documents_by_id.values()]

    def _doc_summary(self, d: dict) -> dict:
        return {"doc_id": d["doc_id"], "title": d["title"], "year": d.get("doc_year"), "doc_type": d["doc_type"],
                "passages": d["n_passages"], "source": d.get("source"), "author": d.get("author"),
                "publisher": d.get("publisher"), "published": d.get("year"), "number": d.get("number"),
                "date": d.get("date"), "format": d["fmt"], "pages_estimated": bool(d["pages_estimated"]),
                "citation": format_citation(d, None)}

    def document(self, doc_id: str) -> dict:
        d = self.documents_by_id.get(doc_id)
        if d is None:
            raise NotFound(f"no document {doc_id!r}")
        tree: list[dict] = []
        stack: list[dict] = []
        for s in d["sections"]:
            node = {"title": s["title"], "rank": s["rank"], "page": s["page"], "path": s["path"], "children": [],
                    "passages": [p["id"] for p in self.passages
                                 if p["doc_id"] == doc_id and p["section"] == s["path"]]}
            while stack and stack[-1]["rank"] >= node["rank"]:
                stack.pop()
            (stack[-1]["children"] if stack else tree).append(node)
            stack.append(node)
        return {**self._doc_summary(d), "sections": tree}

    def facets(self, filters: dict | None = None) -> dict:
        f = Filters.from_dict(filters)
        allowed = self.allowed_rows(f)
        rows = range(len(self.passages)) if allowed is None else allowed
        counts = {key: Counter() for key in FILTER_KEYS}
        provinces = Counter()
        for i in rows:
            p = self.passages[int(i)]
            counts["kind"][p["kind"]] += 1
            counts["domain"].update(p["domain"])
            counts["instrument"].update(p["instrument"])
            counts["year"].update(str(y) for y in p["year"])
            counts["doc_type"][p["doc_type"]] += 1
            if p["doc_year"]:
                counts["doc_year"][str(p["doc_year"])] += 1
            counts["region"].update(p["region_scope"])
            provinces.update({r["province"] or r["name"] for r in p["region"]} - {None})
        gaz = gazetteer()
        regions = []
        for name, n in counts["region"].most_common():
            place = gaz.places.get(name)
            if place:
                regions.append({"name": name, "count": n, "level": place.level, "province": place.province or None,
                                "en": place.en})
        return {"total": len(rows), "kind": dict(counts["kind"]), "domain": dict(counts["domain"]),
                "instrument": dict(counts["instrument"]), "year": dict(sorted(counts["year"].items())),
                "doc_year": dict(sorted(counts["doc_year"].items())), "doc_type": dict(counts["doc_type"]),
                "region": regions}

    def policies(self, q: str | None = None, region: str | None = None, year: int | None = None) -> list[dict]:
        gaz = gazetteer()
        place = None
        if region:
            place = gaz.resolve(region)
            if place is None:
                raise UnknownFilterValue(f"unknown region {region!r}")
        out = []
        for p in self.policy_rows:
            if q and q.strip() and not any(q.strip().lower() in (p.get(f) or "").lower()
                                           for f in ("title", "issuer", "number")):
                continue
            if place and not (p.get("region") and gaz.contains(place.name, p["region"])):
                continue
            if year and not ((p.get("date") or "").startswith(str(year)) or str(year) in p["title"]
                             or str(year) in (p.get("number") or "")):
                continue
            out.append({**p, "region_en": gaz.places[p["region"]].en if p.get("region") in gaz.places else None})
        return out

    def indicators(self) -> list[dict]:
        return [{k: r[k] for k in ("doc_id", "passage_id", "table_caption", "indicator", "unit", "mean", "median",
                                   "values")} for r in self.indicator_rows]

    def health(self) -> dict:
        threads = os.environ.get("OMP_NUM_THREADS", "")
        return {"status": "ok", "documents": len(self.documents_by_id), "passages": len(self.passages),
                "generation": self.generation.name, "embedder": self.settings.embedder,
                "embed_threads": int(threads) if threads.isdigit() else None}
