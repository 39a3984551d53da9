"""SQLite storage (sqlite-utils) in crash-safe generations.

The data directory holds `generations/<name>/` folders, each a complete
knowledge base (kb.sqlite, vector index, manifest.json), and a small `CURRENT`
file naming the live one. An ingest builds a new generation next to the live
one and switches `CURRENT` atomically (write temp, fsync, os.replace) only when
everything is written: a killed ingest leaves the previous generation intact.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import sqlite3
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from kb.checksum import file_sha256
from kb.errors import DamagedKnowledgeBase, EmptyKnowledgeBase, KBError

DB_NAME = "kb.sqlite"
MANIFEST = "manifest.json"
JSON_COLUMNS = {"section", "pages", "domain", "region", "region_scope", "year", "instrument", "meta",
                "sections", "values", "passages", "aliases", "attachments"}
SCHEMA_VERSION = 4   # bump when a table changes: an older knowledge base is then rebuilt from its sources


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


_GEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


def current_name(data_dir: Path) -> str | None:
    """The name `CURRENT` holds, or None when there is none. A pointer that is no plain generation name
    (binary, a folder, a path such as `../../elsewhere`) is a damaged data directory, never followed."""
    pointer = data_dir / "CURRENT"
    if not pointer.exists():
        return None
    if not pointer.is_file():
        raise DamagedKnowledgeBase(f"{pointer.name} in the data directory is not a file: remove it and re-run `kb ingest`")
    try:
        name = pointer.read_bytes()[:200].decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        name = ""
    if not _GEN_NAME.match(name):
        raise DamagedKnowledgeBase("CURRENT does not name a generation: remove it and re-run `kb ingest`")
    return name


def current_generation(data_dir: Path) -> Path | None:
    name = current_name(data_dir)
    if name is None:
        return None
    gen = data_dir / "generations" / name
    if not (gen / MANIFEST).exists():
        return None
    return gen


def read_manifest(gen: Path) -> dict:
    """A generation's manifest; a damaged one is a named error, never a traceback."""
    try:
        manifest = json.loads((gen / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DamagedKnowledgeBase(f"generation {gen.name}: manifest.json is unreadable ({type(exc).__name__}): "
                                   f"re-run `kb ingest` to build a new one") from None
    if not isinstance(manifest, dict):
        raise DamagedKnowledgeBase(f"generation {gen.name}: manifest.json is not an object: re-run `kb ingest`")
    return manifest


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


def publish(data_dir: Path, gen: Path, manifest: dict) -> None:
    """Seal a generation (manifest with checksums) and make it the live one."""
    files = {}
    for f in sorted(gen.iterdir()):
        if f.is_file() and f.name != MANIFEST and not f.name.endswith(("-wal", "-shm")):
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
            files[f.name] = {"bytes": f.stat().st_size, "sha256": file_sha256(f)}
    manifest = {**manifest, "files": files, "generation": gen.name, "created": time.time()}
    atomic_write(gen / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
    _fsync_dir(gen)
    atomic_write(data_dir / "CURRENT", gen.name + "\n")


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
            if file_sha256(path) != record["sha256"]:
                raise DamagedKnowledgeBase(f"{name} in {where} differs from its checksum (damaged or replaced)")
        except FileNotFoundError:
            raise DamagedKnowledgeBase(f"{name} is missing from {where}") from None
        except IsADirectoryError:
            raise DamagedKnowledgeBase(f"{name} in {where} is a folder, not a file") from None
        except PermissionError:
            raise DamagedKnowledgeBase(f"{name} in {where} cannot be read (permission denied)",
                                       hint="check the owner and mode of the data directory") from None


def collect_garbage(data_dir: Path, keep: int, on_remove=None) -> None:
    """Remove unfinished generations, stale `CURRENT.tmp*` files and all but the `keep` newest finished
    generations, never the live one nor one that a running server still serves (its lease).
    `on_remove(generation, manifest)` releases what a finished generation holds elsewhere (a Milvus
    collection) before its folder goes."""
    gens = data_dir / "generations"
    for tmp in data_dir.glob("CURRENT.tmp*"):
        tmp.unlink(missing_ok=True)
    if not gens.exists():
        return
    live = current_generation(data_dir)
    finished = sorted((g for g in gens.iterdir() if (g / MANIFEST).exists()), key=lambda g: g.stat().st_mtime)
    keep_set = {live} | set(finished[-keep:]) | {gens / name for name in leased(data_dir)}
    for g in gens.iterdir():
        if g not in keep_set:
            if on_remove is not None and (g / MANIFEST).exists():
                try:
                    on_remove(g, read_manifest(g))
                except KBError:
                    pass   # unreadable manifest or unreachable server: the folder still goes
            shutil.rmtree(g, ignore_errors=True)


# ------------------------------------------------------------------ leases
# A process that serves a generation (kb serve, kb ui) holds a lease on it: a small file naming the
# generation and the process. Garbage collection keeps every generation a live process holds, so a
# server never has its generation deleted under it; leases of dead processes are ignored and removed.

def _lease_dir(data_dir: Path) -> Path:
    return data_dir / "leases"


def take_lease(data_dir: Path, generation: str, holder: str) -> Path | None:
    folder = _lease_dir(data_dir)
    path = folder / f"{os.getpid()}-{holder}.lease"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps({"pid": os.getpid(), "generation": generation, "since": time.time()}))
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return None   # a read-only data directory: no ingest can delete what is served, no lease needed
        raise
    return path


def drop_lease(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (a lease's or a reader view's owner)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leased(data_dir: Path) -> set[str]:
    """Generations held by running processes (stale leases are removed on the way)."""
    names = set()
    folder = _lease_dir(data_dir)
    if not folder.is_dir():
        return names
    for path in folder.glob("*.lease"):
        try:
            lease = json.loads(path.read_text(encoding="utf-8"))
            pid, name = int(lease["pid"]), str(lease["generation"])
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if pid_alive(pid):
            names.add(name)
        else:
            path.unlink(missing_ok=True)
    return names


# ------------------------------------------------------------------ schema

def open_db(path: Path, readonly: bool = False) -> sqlite_utils.Database:
    if readonly:
        return sqlite_utils.Database(connect_readonly(path))
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    ensure_schema(db)
    return db


def connect_readonly(path: Path) -> sqlite3.Connection:
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
            "doc_id": str, "path": str, "source": str, "title": str, "sha256": str, "fmt": str, "author": str,
            "publisher": str, "place": str, "year": int, "doc_year": int, "doc_type": str, "number": str,
            "date": str, "pages_estimated": int, "n_passages": int, "ingested_at": float, "text": str,
            "sections": str, "attachments": str, "meta": str,
        }, pk="doc_id")
    if "raw_documents" not in db.table_names():
        # what re-processing needs when the pipeline changes: the loaded pages and metadata
        db["raw_documents"].create({"doc_id": str, "raw": str}, pk="doc_id")
    if "passages" not in db.table_names():
        db["passages"].create({
            "id": str, "doc_id": str, "seq": int, "text": str, "section": str, "pages": str,
            "page_start": int, "page_end": int, "start": int, "end": int, "prev_id": str, "next_id": str,
            "kind": str, "domain": str, "region": str, "region_scope": str, "year": str, "instrument": str,
            "doc_year": int, "doc_type": str, "pages_estimated": int, "content_hash": str,
            # the search index's key, and the keyword tokens it was built from (Chinese, and the English side)
            "key": int, "tokens": str, "english": str,
        }, pk="id", foreign_keys=[("doc_id", "documents", "doc_id")])
        db["passages"].create_index(["doc_id", "seq"])
        db["passages"].create_index(["key"], unique=True)
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
        for table in ("passages", "policies", "indicators", "raw_documents", "documents"):
            db.execute(f"DELETE FROM {table} WHERE doc_id = ?", [doc_id])
