"""The search side of a knowledge base, behind one small interface.

A backend holds, for one generation, what search needs of each passage: its key (an integer, the
catalog's `passages.key`), its keyword tokens, its vectors (one space per embedder spec) and its tags.
It answers keyword search with weighted terms, vector search, filtered counts and facets. Everything
else (query translation, fusion weights, place boosts, diversity, answers) lives above it and works
the same on every backend. The SQLite catalog stays the record of truth: a backend can always be
rebuilt from it and the embedding cache.

Writing: `open_writer(settings, generation, previous)` starts the generation's index from the previous
generation's (or empty), `delete` / `add` change it a document at a time, `commit` seals it.
Reading: `open_reader(settings, generation)` opens a sealed one; nothing it holds changes per request,
so one reader serves many threads.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

# Tag fields a backend filters and counts on. List fields hold several values per passage.
LIST_TAGS = ("domain", "instrument", "year", "places")
SCALAR_TAGS = ("kind", "doc_type", "doc_year")


@dataclass(frozen=True)
class Where:
    """A filter already checked against the vocabularies; `place` is a canonical gazetteer name and
    matches passages whose `places` (their places and every place containing them) hold it."""
    kind: str | None = None
    domain: str | None = None
    place: str | None = None
    year: int | None = None
    instrument: str | None = None
    doc_year: int | None = None
    doc_type: str | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f) is None for f in self.__dataclass_fields__)


@dataclass
class Row:
    """What a backend stores of one passage."""
    key: int
    doc_id: str
    tokens: list[str]                 # jieba tokens of the passage's search text (stopwords out)
    text: str                         # the passage's search text (for engines with their own analyzer)
    kind: str
    doc_type: str
    doc_year: int | None
    domain: list[str] = field(default_factory=list)
    instrument: list[str] = field(default_factory=list)
    year: list[int] = field(default_factory=list)
    places: list[str] = field(default_factory=list)   # region scope plus every containing place
    english: list[str] = field(default_factory=list)  # English-side tokens (kb/english_side.py), a second field


Hits = list[tuple[int, float]]        # (passage key, score), best first


class SearchBackend(ABC):
    """A sealed generation's search index (reader) or one being written (writer)."""

    name: str = ""

    # ---------------------------------------------------------------- reading
    @abstractmethod
    def count(self, where: Where | None = None) -> int:
        """Passages matching the filter (all without one)."""

    @abstractmethod
    def keyword(self, weights: dict[str, float], k: int, where: Where | None = None, field: str = "text") -> Hits:
        """BM25 over a keyword field: "text" (the passage's jieba tokens) or "english" (its English side);
        `weights` maps a token to its query weight (1.0 for the user's own words, less for translations
        and synonyms). Only passages with a positive score."""

    @abstractmethod
    def vector(self, space: str, query: np.ndarray, k: int, where: Where | None = None) -> Hits:
        """Nearest passages by inner product in one vector space (an embedder spec)."""

    @abstractmethod
    def keys(self, where: Where | None = None) -> np.ndarray:
        """Keys of the passages matching the filter, ascending (int64)."""

    @abstractmethod
    def facets(self, where: Where | None = None) -> dict[str, dict]:
        """Per tag field (kind, doc_type, doc_year, domain, instrument, year, places): value -> count."""

    @abstractmethod
    def docs_with(self, token: str) -> frozenset[int]:
        """Keys of the passages whose tokens include `token`."""

    @abstractmethod
    def has_token(self, token: str) -> bool:
        """Whether any passage holds the token (the corpus vocabulary the translator checks against)."""

    def vectors_of(self, space: str, keys: list[int]) -> np.ndarray | None:
        """The stored vectors of these passages (one row per key, in order), or None when the backend
        cannot hand them out."""
        return None

    def spaces(self) -> list[str]:
        """The vector spaces (embedder specs) this index holds."""
        return []

    def close(self) -> None:
        pass

    # ---------------------------------------------------------------- writing
    def add(self, rows: list[Row], vectors: dict[str, np.ndarray]) -> None:
        """Add passages; `vectors[space]` holds one unit vector per row, in order."""
        raise NotImplementedError(f"{self.name} reader is read-only")

    def delete(self, doc_ids: list[str]) -> None:
        """Remove every passage of these documents."""
        raise NotImplementedError(f"{self.name} reader is read-only")

    def commit(self) -> dict:
        """Seal the generation's index; returns what the manifest records of it."""
        raise NotImplementedError(f"{self.name} reader is read-only")


class IndexWriter(ABC):
    """A generation's search index being written (what `open_writer` returns; a backend may also use
    one SearchBackend class for both sides)."""

    name: str = ""

    @abstractmethod
    def count(self, where: Where | None = None) -> int:
        """Passages in the index so far (the filter is ignored)."""

    @abstractmethod
    def add(self, rows: list[Row], vectors: dict[str, np.ndarray]) -> None:
        """Add passages; `vectors[space]` holds one unit vector per row, in order."""

    @abstractmethod
    def delete(self, doc_ids: list[str]) -> None:
        """Remove every passage of these documents."""

    @abstractmethod
    def commit(self) -> dict:
        """Seal the generation's index; returns what the manifest records of it."""


def bm25_weights(tf: np.ndarray, df: np.ndarray, doc_len: np.ndarray, n: int, avg_len: float,
                 k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """Okapi BM25 weight of each (term, passage) entry: idf(df) * tf (k1 + 1) / (tf + k1 (1 - b + b len/avg))."""
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    return (idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / max(avg_len, 1e-9)))).astype(np.float32)
