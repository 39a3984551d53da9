"""Typed request and response shapes of the HTTP API, separate from the storage rows.

Every field carries a description so `/docs` documents it. The knowledge base returns
plain dicts (`kb.search.KnowledgeBase`); these models only describe and validate them
at the edge.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from kb.vocab import DOC_TYPES, DOMAINS, INSTRUMENTS, KINDS

# Built from the tagger's vocabularies, so the API follows them without a second list.
Kind = Literal[tuple(KINDS)]  # type: ignore[valid-type]
Domain = Literal[tuple(DOMAINS)]  # type: ignore[valid-type]
Instrument = Literal[tuple(INSTRUMENTS)]  # type: ignore[valid-type]
DocType = Literal[tuple(DOC_TYPES)]  # type: ignore[valid-type]
Mode = Literal["hybrid", "bm25", "dense"]
Level = str  # national, region, province, city, district

MAX_QUERY_CHARS = 500   # mirrors Settings.max_query_chars; the knowledge base enforces its own setting too
MAX_K = 100
MAX_ASK_K = 50
MIN_YEAR, MAX_YEAR = 1900, 2100   # a year filter outside this range names no document: 422, not an empty 200
MAX_ID_CHARS = 200


class _Out(BaseModel):
    """Response models: extra keys from the library are dropped, not rejected."""
    model_config = ConfigDict(extra="ignore")


# ------------------------------------------------------------------ passages

class RegionTag(_Out):
    name: str = Field(description="Normalized Chinese place name, e.g. 德阳市.")
    level: str = Field(description="Administrative level: national, region, province, city or district.")
    province: str | None = Field(None, description="The province the place belongs to (null for provinces and above).")
    en: str | None = Field(None, description="English name, e.g. Deyang.")


class Tags(_Out):
    kind: str = Field(description="Kind of section: " + ", ".join(KINDS) + ".")
    domain: list[str] = Field(description="Waste domains the passage is about: " + ", ".join(DOMAINS) + ".")
    region: list[RegionTag] = Field(description="Places the passage names or is about.")
    year: list[int] = Field(description="Years the passage speaks of.")
    instrument: list[str] = Field(description="Policy instruments mentioned: " + ", ".join(INSTRUMENTS) + ".")
    doc_year: int | None = Field(None, description="Year of the document the passage comes from.")
    doc_type: str | None = Field(None, description="Kind of document: " + ", ".join(DOC_TYPES) + ".")


class PassageHit(_Out):
    id: str = Field(description="Stable passage id (content-hash based); resolve it with GET /passages/{id}.")
    text: str = Field(description="The passage text, in the source language (Chinese).")
    score: float = Field(description="Fused relevance score (reciprocal-rank fusion); higher is better, "
                                     "comparable only within one result list.")
    doc_id: str = Field(description="Id of the document the passage comes from.")
    doc_title: str = Field(description="Title of that document.")
    section: list[str] = Field(description="Section headings from the top level down to the passage's section.")
    pages: list[int] | None = Field(None, description="First and last page of the passage in the source, [from, to].")
    pages_estimated: bool = Field(False, description="True when the pages are estimated (interpolated from a table "
                                                     "of contents), not read from the source; the citation says 约.")
    tags: Tags = Field(description="Tags used by the filters.")
    citation: str = Field(description="GB/T 7714 reference to the document and pages.")


class Passage(PassageHit):
    prev_id: str | None = Field(None, description="Id of the previous passage in the document (null at the start).")
    next_id: str | None = Field(None, description="Id of the next passage in the document (null at the end).")
    start: int | None = Field(None, description="Character offset of the passage in the document's text.")
    end: int | None = Field(None, description="Character offset just past the passage's end.")


class AppliedFilters(_Out):
    kind: str | None = Field(None, description="Kind filter applied.")
    domain: str | None = Field(None, description="Domain filter applied.")
    region: str | None = Field(None, description="Region filter applied (as given).")
    year: int | None = Field(None, description="Year filter applied.")
    instrument: str | None = Field(None, description="Instrument filter applied.")
    doc_year: int | None = Field(None, description="Document-year filter applied.")
    doc_type: str | None = Field(None, description="Document-type filter applied.")


class SearchResponse(_Out):
    query: str = Field(description="The query as received.")
    expanded: str | None = Field(None, description="The query as actually searched after translation / expansion, "
                                                   "or null when nothing was added.")
    lang: str | None = Field(None, description="Detected query language: zh or en.")
    mode: str | None = Field(None, description="Retrieval mode used: hybrid, bm25 or dense.")
    filters: AppliedFilters = Field(default_factory=AppliedFilters, description="The filters applied.")
    results: list[PassageHit] = Field(description="Ranked passages, best first.")


# ------------------------------------------------------------------ answers

class Filters(BaseModel):
    """Optional filters; every one narrows the passages searched."""
    model_config = ConfigDict(extra="forbid")

    kind: Kind | None = Field(None, description="Kind of section.")
    domain: Domain | None = Field(None, description="Waste domain.")
    region: str | None = Field(None, max_length=100, description="Region, Chinese or English (贵州省, Guizhou); "
                                                                 "includes its cities and counties.")
    year: int | None = Field(None, ge=MIN_YEAR, le=MAX_YEAR, strict=True,
                             description="A year the passage speaks of.")
    instrument: Instrument | None = Field(None, description="Policy instrument.")
    doc_year: int | None = Field(None, ge=1900, le=2100, description="The year of the document.")
    doc_type: DocType | None = Field(None, description="Kind of document.")


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS,
                          description="A question in Chinese or English.",
                          examples=["how are cities handling phosphogypsum"])
    k: int = Field(8, ge=1, le=MAX_ASK_K, strict=True,
                   description="How many passages to return with the answer (a JSON integer; true is not 1).")
    filters: Filters = Field(default_factory=Filters, description="Optional filters.")


class Citation(_Out):
    n: int = Field(description="Citation number, as written [n] in the answer.")
    passage_id: str = Field(description="Id of the cited passage; resolve it with GET /passages/{id}.")
    doc_id: str = Field(description="Id of the cited document.")
    section: list[str] = Field(description="Section path of the cited passage.")
    pages: list[int] | None = Field(None, description="Pages of the cited passage, [from, to].")
    pages_estimated: bool = Field(False, description="True when those pages are estimated (the reference says 约).")
    doc_title: str | None = Field(None, description="Title of the cited document.")
    reference: str = Field(description="GB/T 7714 reference.")


class Statement(_Out):
    group: str = Field(description="What the statement is about: a place, a case or the national level.")
    text: str = Field(description="Extracted sentences with their [n] citation markers.")
    passages: list[str] = Field(description="Ids of the passages the sentences come from.")
    place: str | None = Field(None, description="The place the statement is about (Chinese name), if any.")
    level: str | None = Field(None, description="national, region, province, city, district or other.")
    places: list[str] = Field(default_factory=list, description="Every place the quoted sentences name.")
    score: float | None = Field(None, description="Share of the question's concepts its best sentence holds.")
    en: str | None = Field(None, description="English gist (English questions): place, glossary / CC-CEDICT "
                                             "English of the terms in order, converted figures, titles.")
    en_coverage: float | None = Field(None, description="Share of the statement's content the gist renders.")


class GlossaryEntry(_Out):
    zh: str = Field(description="Chinese term used in the answer.")
    en: str = Field(description="Its English translation.")


class AskResponse(_Out):
    question: str | None = Field(None, description="The question as received.")
    answer: str = Field(description="The answer: one line per statement, each with citation markers [n]; "
                                    "a 'nothing found' note when no passage answers the question.")
    statements: list[Statement] = Field(description="The answer's statements, grouped by place or case.")
    citations: list[Citation] = Field(description="Numbered citations (empty when nothing answers the question).")
    glossary: list[GlossaryEntry] = Field(description="Chinese terms in the answer with English translations "
                                                      "(English questions only).")
    results: list[PassageHit] = Field(description="The passages the answer is built from.")
    expanded: str | None = Field(None, description="The question as searched after translation / expansion.")
    lang: str | None = Field(None, description="Detected question language: zh or en.")
    covered: bool | None = Field(None, description="False when the knowledge base does not cover the question.")
    support: float | None = Field(None, description="How well the best passages cover the question (the "
                                                    "refusal threshold is in eval/RESULTS.md).")
    similarity: float | None = Field(None, description="Cosine between the question's embedding and the top "
                                                       "passage's (None for an embedder without a fitted line).")
    relevance: float | None = Field(None, description="similarity + weight x support: answered when it reaches "
                                                      "the threshold fitted on the tuning split (eval/RESULTS.md).")
    missing: list[str] = Field(default_factory=list,
                               description="Countries the question names that the passages found say nothing "
                                           "about (the question is then not covered), e.g. 德国 (Germany).")


# ------------------------------------------------------------------ browsing

class Health(_Out):
    status: Literal["ok", "empty", "degraded", "error"] = Field(
        description="ok; empty when nothing has been ingested yet; degraded when a newer generation could not be "
                    "opened and the previous one is still served; error when no generation can be served "
                    "(data endpoints then answer 503; `detail` says why).")
    documents: int = Field(description="Number of documents in the knowledge base.")
    passages: int = Field(description="Number of passages in the knowledge base.")
    generation: str | None = Field(None, description="Name of the index generation being served.")
    embedder: str | None = Field(None, description="Embedder of the dense index (KB_EMBEDDER).")
    embed_threads: int | None = Field(None, description="Threads per query embedding (OMP_NUM_THREADS; "
                                      "`kb serve` sets KB_SERVE_THREADS, default 1), null for the library default.")
    detail: str | None = Field(None, description="What to do when the status is not ok.")
    reloads: int | None = Field(None, description="New generations swapped in since start (the server follows "
                                                  "`kb ingest`).")


class DocumentSummary(_Out):
    doc_id: str = Field(description="Document id (from its path under the ingest folder, plus a short hash).")
    title: str = Field(description="Document title.")
    year: int | None = Field(None, description="Year of the document (doc_year): the year it reports on or was "
                                               "issued, e.g. 2024 for the 2024 report published in 2025.")
    doc_type: str = Field(description="Kind of document: " + ", ".join(DOC_TYPES) + ".")
    source: str | None = Field(None, description="The source file's path relative to the folder it was ingested from.")
    author: str | None = Field(None, description="Author or issuing body.")
    publisher: str | None = Field(None, description="Publisher.")
    published: int | None = Field(None, description="Year of publication, when known (CIP or sidecar).")
    number: str | None = Field(None, description="Document number (文号) of a policy notice.")
    date: str | None = Field(None, description="Date of the document (成文日期 or dateline), YYYY-MM-DD.")
    format: str | None = Field(None, description="Source format: txt, md or pdf.")
    passages: int = Field(description="Number of passages.")
    pages_estimated: bool = Field(description="True when page numbers were estimated (no page marks in the source).")
    citation: str = Field(description="GB/T 7714 reference to the document.")


class Section(_Out):
    title: str = Field(description="Section heading.")
    rank: int | float = Field(description="Heading depth (1 = top level; 1.5 for the articles (第X条) of a chapter).")
    page: int | None = Field(None, description="Page the section starts on.")
    path: list[str] = Field(description="Headings from the top level down to this section.")
    passages: list[str] = Field(description="Ids of the passages directly in this section.")
    children: list["Section"] = Field(description="Subsections.")


class DocumentDetail(DocumentSummary):
    sections: list[Section] = Field(description="The document's section tree.")


class RegionCount(_Out):
    name: str = Field(description="Normalized Chinese place name.")
    count: int = Field(description="Passages about this place (including its cities and counties).")
    level: str = Field(description="Administrative level.")
    province: str | None = Field(None, description="Parent province.")
    en: str | None = Field(None, description="English name.")


class Facets(_Out):
    total: int = Field(description="Passages matching the filters.")
    kind: dict[str, int] = Field(description="Passage count per kind.")
    domain: dict[str, int] = Field(description="Passage count per domain.")
    instrument: dict[str, int] = Field(description="Passage count per instrument.")
    year: dict[str, int] = Field(description="Passage count per year spoken of.")
    doc_year: dict[str, int] = Field(default_factory=dict, description="Passage count per document year.")
    doc_type: dict[str, int] = Field(default_factory=dict, description="Passage count per document type.")
    region: list[RegionCount] = Field(description="Passage count per region, most frequent first.")


class Policy(_Out):
    id: str = Field(description="Policy id (hash of the normalized title).")
    doc_id: str = Field(description="Document naming the policy.")
    title: str = Field(description="Title of the policy instrument, e.g. 关于加快构建废弃物循环利用体系的意见.")
    issuer: str | None = Field(None, description="Issuing body.")
    number: str | None = Field(None, description="Document number, e.g. 国办发〔2024〕7号.")
    date: str | None = Field(None, description="Date of issue, as precise as known (YYYY, YYYY-MM or YYYY-MM-DD).")
    level: str | None = Field(None, description="Level of the issuer: national, province, city...")
    type: str | None = Field(None, description="Type of instrument (law, plan, opinion, standard...).")
    region: str | None = Field(None, description="Region the policy applies to (Chinese).")
    region_en: str | None = Field(None, description="English name of that region.")
    aliases: list[str] | None = Field(None, description="Other names the policy goes by in the corpus.")
    passages: list[str] = Field(description="Ids of the passages that name the policy.")


class Indicator(_Out):
    doc_id: str = Field(description="Document the table comes from.")
    passage_id: str | None = Field(None, description="Passage holding the table.")
    table_caption: str | None = Field(None, description="Caption of the table.")
    indicator: str = Field(description="Indicator name, e.g. 一般工业固体废物贮存量占比.")
    unit: str | None = Field(None, description="Unit of the values.")
    mean: float | None = Field(None, description="Mean across the cities reported.")
    median: float | None = Field(None, description="Median across the cities reported.")
    values: dict | list | None = Field(None, description="Further values of the row as given in the table.")


class TimelineDocument(_Out):
    doc_id: str = Field(description="Document id.")
    title: str = Field(description="Document title.")


class TimelineYear(_Out):
    doc_year: int = Field(description="Document year.")
    count: int = Field(description="Passages of that year's documents that match the query.")
    documents: list[TimelineDocument] = Field(description="Documents those passages come from.")
    best: PassageHit | None = Field(None, description="The best matching passage of that year, with its citation "
                                                      "(null when nothing matches).")


class Timeline(_Out):
    query: str = Field(description="The query as received.")
    expanded: str | None = Field(None, description="The query as searched after translation / expansion.")
    lang: str | None = Field(None, description="Detected query language.")
    filters: AppliedFilters = Field(default_factory=AppliedFilters, description="The filters applied.")
    matching: int = Field(description="Matching passages over all years.")
    years: list[TimelineYear] = Field(description="One entry per document year, oldest first.")


class Problem(BaseModel):
    detail: str = Field(description="What was wrong with the request, or why the service cannot answer.")
