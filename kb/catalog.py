"""Browsing a generation's SQLite catalog, the record of truth: documents, passages, policies,
indicators, and the citation of each.

Documents, policies and indicators are few and held in memory; passages are read on demand by key or
id (a read-only connection per thread), so a knowledge base of a million passages opens in seconds.
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Iterator

from kb import store
from kb.errors import NotFound, UnknownFilterValue
from kb.gazetteer import gazetteer
from kb.vocab import REFERENCE_CODES

PASSAGE_BATCH = 500   # keys per SQL query (SQLite's variable limit is far above)


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


class Catalog:
    def __init__(self, generation: Path):
        self.path = generation / store.DB_NAME
        self.generation = generation
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        db = self._db()
        self.documents_by_id = {r["doc_id"]: store.decode_row(r) for r in self._rows(db, "SELECT * FROM documents")}
        self.policy_rows = [store.decode_row(r) for r in self._rows(db, "SELECT * FROM policies ORDER BY doc_id, rowid")]
        self.indicator_rows = [store.decode_row(r) for r in self._rows(db, "SELECT * FROM indicators ORDER BY id")]
        self.passage_count = db.execute("SELECT count(*) FROM passages").fetchone()[0]

    # ---------------------------------------------------------------- connections
    def _db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = store.connect_readonly(self.path)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._guard:
                self._connections.append(conn)
        return conn

    @staticmethod
    def _rows(db: sqlite3.Connection, sql: str, params=()) -> list[dict]:
        return [dict(r) for r in db.execute(sql, params)]

    def close(self) -> None:
        with self._guard:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

    # ---------------------------------------------------------------- passages
    def passages(self, keys, columns: str = "*") -> dict[int, dict]:
        """Passage rows by key (decoded), for the keys that exist; `columns` must include `key`."""
        keys = [int(k) for k in keys]
        out: dict[int, dict] = {}
        db = self._db()
        for i in range(0, len(keys), PASSAGE_BATCH):
            chunk = keys[i:i + PASSAGE_BATCH]
            sql = f"SELECT {columns} FROM passages WHERE key IN ({','.join('?' * len(chunk))})"
            for r in self._rows(db, sql, chunk):
                out[r["key"]] = store.decode_row(r)
        return out

    def passage_row(self, passage_id: str) -> dict | None:
        rows = self._rows(self._db(), "SELECT * FROM passages WHERE id = ?", (passage_id,))
        return store.decode_row(rows[0]) if rows else None

    def iter_passage_rows(self, batch: int = 2000) -> Iterator[dict]:
        """Every passage in document order, read in batches."""
        last = ("", -1)
        db = self._db()
        while True:
            rows = self._rows(db, "SELECT * FROM passages WHERE (doc_id, seq) > (?, ?) ORDER BY doc_id, seq LIMIT ?",
                              (*last, batch))
            if not rows:
                return
            for r in rows:
                yield store.decode_row(r)
            last = (rows[-1]["doc_id"], rows[-1]["seq"])

    def hit(self, p: dict, score: float) -> dict:
        doc = self.documents_by_id[p["doc_id"]]
        return {
            "id": p["id"], "text": p["text"], "score": round(float(score), 6), "doc_id": p["doc_id"],
            "doc_title": doc["title"], "section": p["section"], "pages": p["pages"],
            "pages_estimated": bool(p["pages"]) and bool(p["pages_estimated"]),
            "tags": {"kind": p["kind"], "domain": p["domain"], "region": p["region"], "year": p["year"],
                     "instrument": p["instrument"], "doc_year": p["doc_year"], "doc_type": p["doc_type"]},
            "citation": format_citation(doc, p["pages"], bool(p["pages_estimated"])),
        }

    def passage(self, passage_id: str) -> dict:
        p = self.passage_row(passage_id)
        if p is None:
            raise NotFound(f"no passage {passage_id!r}")
        return {**self.hit(p, 0.0), "prev_id": p["prev_id"], "next_id": p["next_id"],
                "start": p["start"], "end": p["end"]}

    # ---------------------------------------------------------------- documents
    def documents(self) -> list[dict]:
        return [self._doc_summary(d) for d in self.documents_by_id.values()]

    @staticmethod
    def _doc_summary(d: dict) -> dict:
        return {"doc_id": d["doc_id"], "title": d["title"], "year": d.get("doc_year"), "doc_type": d["doc_type"],
                "passages": d["n_passages"], "source": d.get("source"), "author": d.get("author"),
                "publisher": d.get("publisher"), "published": d.get("year"), "number": d.get("number"),
                "date": d.get("date"), "format": d["fmt"], "pages_estimated": bool(d["pages_estimated"]),
                "citation": format_citation(d, None)}

    def document(self, doc_id: str) -> dict:
        d = self.documents_by_id.get(doc_id)
        if d is None:
            raise NotFound(f"no document {doc_id!r}")
        by_section: dict[tuple, list[str]] = {}
        for r in self._rows(self._db(), "SELECT id, section FROM passages WHERE doc_id = ? ORDER BY seq", (doc_id,)):
            by_section.setdefault(tuple(store.decode_row(r)["section"]), []).append(r["id"])
        tree: list[dict] = []
        stack: list[dict] = []
        for s in d["sections"]:
            node = {"title": s["title"], "rank": s["rank"], "page": s["page"], "path": s["path"], "children": [],
                    "passages": by_section.get(tuple(s["path"]), [])}
            while stack and stack[-1]["rank"] >= node["rank"]:
                stack.pop()
            (stack[-1]["children"] if stack else tree).append(node)
            stack.append(node)
        return {**self._doc_summary(d), "sections": tree}

    # ---------------------------------------------------------------- policies and indicators
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
