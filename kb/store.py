"""SQLite storage (sqlite-utils) in crash-safe generations.

The data directory holds `generations/<name>/` folders, each a complete
knowledge base (kb.sqlite, vector index, manifest.json), and a small `CURRENT`
file naming the live one. An ingest builds a new generation next to the live
one and switches `CURRENT` atomically (write temp, fsync, os.replace) only when
everything is written: a killed ingest leaves the previous generation intact.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from kb.errors import DamagedKnowledgeBase, EmptyKnowledgeBase, KBError

DB_NAME = "kb.sqlite"
MANIFEST = "manifest.json"
JSON_COLUMNS = {"section", "pages", "domain", "region", "region_scope", "year", "instrument", "meta",
                "sections", "values", "passages", "aliases"}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def current_generation(data_dir: Path) -> Path | None:
    pointer = data_dir / "CURRENT"
    if not pointer.exists():
        return None
    name = pointer.read_text(encoding="utf-8").strip()
    gen = data_dir / "generations" / name
    if not (gen / MANIFEST).exists():
        return None
    return gen


def require_generation(data_dir: Path) -> Path:
    gen = current_generation(data_dir)
    if gen is None:
        raise EmptyKnowledgeBase(
            f"no knowledge base in {data_dir}: run `kb ingest` first (or pass --data-dir)")
    return gen


@contextmanager
def ingest_lock(data_dir: Path):
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "ingest.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise KBError(f"another ingest is running on {data_dir}") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def new_generation(data_dir: Path) -> Path:
    gens = data_dir / "generations"
    gens.mkdir(parents=True, exist_ok=True)
    name = time.strftime("g%Y%m%d-%H%M%S") + f"-{os.getpid()}-{os.urandom(2).hex()}"
    path = gens / name
    path.mkdir()
    return path


def copy_database(src: Path, dst: Path) -> None:
    """Copy a live SQLite database consistently (the backup API, not a file copy)."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    with target:
        source.backup(target)
    source.close()
    target.close()


def file_checksum(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def publish(data_dir: Path, gen: Path, manifest: dict) -> None:
    """Seal a generation (manifest with checksums) and make it the live one."""
    files = {}
    for f in sorted(gen.iterdir()):
        if f.is_file() and f.name != MANIFEST and not f.name.endswith(("-wal", "-shm")):
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
            files[f.name] = {"bytes": f.stat().st_size, "sha256": file_checksum(f)}
    manifest = {**manifest, "files": files, "generation": gen.name, "created": time.time()}
    atomic_write(gen / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
    _fsync_dir(gen)
    atomic_write(data_dir / "CURRENT", gen.name + "\n")


def read_manifest(gen: Path) -> dict:
    """The generation's manifest as a dict; DamagedKnowledgeBase when it is missing, unreadable or not an object."""
    where = f"generation {gen.name}"
    try:
        manifest = json.loads((gen / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DamagedKnowledgeBase(f"{where} has no {MANIFEST}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DamagedKnowledgeBase(f"{MANIFEST} of {where} is unreadable ({type(exc).__name__})") from None
    if not isinstance(manifest, dict):
        raise DamagedKnowledgeBase(f"{MANIFEST} of {where} is not a JSON object")
    return manifest


def verify_generation(gen: Path) -> None:
    """Refuse a damaged generation: its manifest must be a readable JSON object listing every file with
    its size and sha256, and each file must match (the files are small next to a model: hashing them
    costs a few milliseconds). Raises DamagedKnowledgeBase naming the first file that differs."""
    manifest = read_manifest(gen)
    where = f"generation {gen.name}"
    files = manifest.get("files")
    if not isinstance(files, dict) or DB_NAME not in files:
        raise DamagedKnowledgeBase(f"{MANIFEST} of {where} lists no checksums for its files")
    for name, record in files.items():
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise DamagedKnowledgeBase(f"{MANIFEST} of {where} names a file outside the generation: {name!r}")
        if not (isinstance(record, dict) and isinstance(record.get("bytes"), int)
                and isinstance(record.get("sha256"), str)):
            raise DamagedKnowledgeBase(f"{MANIFEST} of {where} has no size and checksum for {name}")
        path = gen / name
        try:
            size = path.stat().st_size
            if size != record["bytes"]:
                raise DamagedKnowledgeBase(f"{name} in {where} has {size} bytes, its manifest says "
                                           f"{record['bytes']} (truncated or overwritten)")
            if file_checksum(path) != record["sha256"]:
                raise DamagedKnowledgeBase(f"{name} in {where} differs from its checksum (damaged or replaced)")
        except FileNotFoundError:
            raise DamagedKnowledgeBase(f"{name} is missing from {where}") from None
        except IsADirectoryError:
            raise DamagedKnowledgeBase(f"{name} in {where} is a folder, not a file") from None
        except PermissionError:
            raise DamagedKnowledgeBase(f"{name} in {where} cannot be read (permission denied)",
                                       hint="check the owner and mode of the data directory") from None


def collect_garbage(data_dir: Path, keep: int) -> None:
    """Remove unfinished generations and all but the `keep` newest finished ones."""
    gens = data_dir / "generations"
    if not gens.exists():
        return
    live = current_generation(data_dir)
    finished = sorted((g for g in gens.iterdir() if (g / MANIFEST).exists()), key=lambda g: g.stat().st_mtime)
    keep_set = {live} | set(finished[-keep:])
    for g in gens.iterdir():
        if g not in keep_set:
            shutil.rmtree(g, ignore_errors=True)


# ------------------------------------------------------------------ schema

def open_db(path: Path, readonly: bool = False) -> sqlite_utils.Database:
    if readonly:
        return sqlite_utils.Database(_connect_readonly(path))
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    ensure_schema(db)
    return db


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """Read-only connection to a sealed generation's database. On a read-only mount SQLite cannot create
    the -shm file a WAL database needs: a published generation never changes (its WAL was checkpointed
    before sealing), so it is then read as immutable. A file that is not a database is DamagedKnowledgeBase."""
    uri = "file:" + urllib.parse.quote(str(path))
    for options in ("mode=ro", "immutable=1"):
        conn = sqlite3.connect(f"{uri}?{options}", uri=True, check_same_thread=False)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            conn.close()
            if options == "immutable=1":
                raise
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise DamagedKnowledgeBase(f"{path.name} in generation {path.parent.name} is not a readable "
                                       f"SQLite database ({exc})") from None
    raise AssertionError("unreachable")


def ensure_schema(db: sqlite_utils.Database) -> None:
    if "documents" not in db.table_names():
        db["documents"].create({
            "doc_id": str, "path": str, "title": str, "sha256": str, "fmt": str, "author": str,
            "publisher": str, "place": str, "year": int, "doc_type": str, "pages_estimated": int,
            "n_passages": int, "ingested_at": float, "text": str, "sections": str, "meta": str,
        }, pk="doc_id")
    if "passages" not in db.table_names():
        db["passages"].create({
            "id": str, "doc_id": str, "seq": int, "text": str, "section": str, "pages": str,
            "page_start": int, "page_end": int, "start": int, "end": int, "prev_id": str, "next_id": str,
            "kind": str, "domain": str, "region": str, "region_scope": str, "year": str, "instrument": str,
            "content_hash": str,
        }, pk="id", foreign_keys=[("doc_id", "documents", "doc_id")])
        db["passages"].create_index(["doc_id", "seq"])
    if "policies" not in db.table_names():
        db["policies"].create({
            "id": str, "doc_id": str, "title": str, "issuer": str, "number": str, "date": str, "level": str,
            "type": str, "region": str, "aliases": str, "passages": str,
        }, pk=("id", "doc_id"))
    if "indicators" not in db.table_names():
        db["indicators"].create({
            "id": int, "doc_id": str, "passage_id": str, "table_caption": str, "indicator": str,
            "unit": str, "mean": float, "median": float, "values": str,
        }, pk="id")


def decode_row(row: dict) -> dict:
    out = dict(row)
    for key in JSON_COLUMNS & out.keys():
        value = out[key]
        if isinstance(value, str) and value[:1] in "[{":
            out[key] = json.loads(value)
    return out


def encode_row(row: dict) -> dict:
    return {k: (json.dumps(v, ensure_ascii=False) if k in JSON_COLUMNS and not isinstance(v, str) and v is not None
                else v) for k, v in row.items()}


def delete_document(db: sqlite_utils.Database, doc_id: str) -> None:
    with db.conn:
        for table in ("passages", "policies", "indicators", "documents"):
            db.execute(f"DELETE FROM {table} WHERE doc_id = ?", [doc_id])
