"""Conversations and answer feedback from the explorer, kept in one SQLite file in the data directory.

The file lives beside the generations (`<data_dir>/conversations.sqlite`), never inside one, so
an ingest does not lose them. Every call opens its own short connection: Streamlit serves each
browser session from its own thread.
"""
from __future__ import annotations

import json
import secrets
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from kb.errors import NotFound

FILE_NAME = "conversations.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS turns (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, question TEXT NOT NULL, filters TEXT NOT NULL, answer TEXT, error TEXT,
    generation TEXT, created REAL NOT NULL, PRIMARY KEY (conversation_id, seq));
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT NULL, seq INTEGER NOT NULL,
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)), comment TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL, UNIQUE (conversation_id, seq));
"""
ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789")


def store_path(data_dir: Path) -> Path:
    return Path(data_dir) / FILE_NAME


def valid_id(cid: str | None) -> bool:
    return bool(cid) and len(cid) <= 32 and set(cid) <= ID_CHARS


class ConversationStore:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            with conn:
                yield conn
        finally:
            conn.close()

    # ------------------------------------------------------------ conversations
    def new(self, title: str) -> str:
        cid = secrets.token_hex(8)
        now = time.time()
        with self._db() as db:
            db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?)", (cid, title[:200], now, now))
        return cid

    def exists(self, cid: str) -> bool:
        if not valid_id(cid):
            return False
        with self._db() as db:
            return db.execute("SELECT 1 FROM conversations WHERE id = ?", (cid,)).fetchone() is not None

    def add_turn(self, cid: str, turn: dict, generation: str | None = None) -> int:
        """Append a turn ({question, filters, answer, error}); returns its number in the conversation."""
        now = time.time()
        with self._db() as db:
            if db.execute("SELECT 1 FROM conversations WHERE id = ?", (cid,)).fetchone() is None:
                raise NotFound(f"no conversation {cid!r}")
            seq = db.execute("SELECT COALESCE(MAX(seq), -1) + 1 FROM turns WHERE conversation_id = ?",
                             (cid,)).fetchone()[0]
            db.execute("INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (cid, seq, turn["question"], json.dumps(turn.get("filters") or {}, ensure_ascii=False),
                        json.dumps(turn["answer"], ensure_ascii=False) if turn.get("answer") is not None else None,
                        turn.get("error"), generation, now))
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, cid))
        return seq

    def turns(self, cid: str) -> list[dict]:
        if not self.exists(cid):
            raise NotFound(f"no conversation {cid!r}")
        with self._db() as db:
            rows = db.execute("SELECT * FROM turns WHERE conversation_id = ? ORDER BY seq", (cid,)).fetchall()
        return [{"seq": r["seq"], "question": r["question"], "filters": json.loads(r["filters"]),
                 "answer": json.loads(r["answer"]) if r["answer"] else None, "error": r["error"],
                 "generation": r["generation"], "created": r["created"]} for r in rows]

    def recent(self, limit: int = 20) -> list[dict]:
        with self._db() as db:
            rows = db.execute("SELECT c.*, (SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id) AS n "
                              "FROM conversations c ORDER BY updated DESC LIMIT ?", (limit,)).fetchall()
        return [dict(r) for r in rows]

    # ------------------------------------------------------------ feedback
    def set_feedback(self, cid: str, seq: int, rating: int, comment: str = "") -> None:
        """👍 (1) or 👎 (-1) on a turn, with an optional comment; a second vote replaces the first."""
        if rating not in (-1, 1):
            raise ValueError("rating must be 1 or -1")
        with self._db() as db:
            if db.execute("SELECT 1 FROM turns WHERE conversation_id = ? AND seq = ?", (cid, seq)).fetchone() is None:
                raise NotFound(f"no turn {seq} in conversation {cid!r}")
            db.execute("INSERT INTO feedback (conversation_id, seq, rating, comment, created) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (conversation_id, seq) DO UPDATE SET rating = excluded.rating, "
                       "comment = excluded.comment, created = excluded.created",
                       (cid, seq, rating, (comment or "").strip()[:2000], time.time()))

    def feedback(self, cid: str, seq: int) -> dict | None:
        with self._db() as db:
            r = db.execute("SELECT rating, comment FROM feedback WHERE conversation_id = ? AND seq = ?",
                           (cid, seq)).fetchone()
        return dict(r) if r else None

    def export_feedback(self) -> Iterator[dict]:
        """Every rated answer, oldest first: question, filters, answer, cited passages, rating, comment."""
        with self._db() as db:
            rows = db.execute("SELECT f.*, t.question, t.filters, t.answer, t.generation FROM feedback f "
                              "JOIN turns t ON t.conversation_id = f.conversation_id AND t.seq = f.seq "
                              "ORDER BY f.created").fetchall()
        for r in rows:
            answer = json.loads(r["answer"]) if r["answer"] else {}
            yield {"conversation": r["conversation_id"], "turn": r["seq"], "question": r["question"],
                   "filters": json.loads(r["filters"]), "lang": answer.get("lang"),
                   "answer": answer.get("answer", ""),
                   "passages": [c["passage_id"] for c in answer.get("citations", [])],
                   "rating": r["rating"], "comment": r["comment"], "generation": r["generation"],
                   "created": r["created"]}
