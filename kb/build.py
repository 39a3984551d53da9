"""`kb ingest`: process changed files, store them and rebuild the indexes in a new generation.

Document identity: a document is its file. A file seen before (same absolute path) keeps its id; a file
whose content is already in the knowledge base under a path that no longer exists was moved or renamed
and keeps that document's id; anything else is a new document with an id from its path under the folder
given to `kb ingest` plus a short hash of the absolute path, so two files can never share one. A folder
given to `kb ingest` is synchronised: documents ingested from under it whose files are gone are removed.

When the pipeline changes (its code, lexicons or the passage size band: `pipeline_key`), every document
in the knowledge base is processed again, from its stored pages (`raw_documents`), not only the paths
named on the command line.
"""
from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ingest.load import RawDocument, Source, find_sources, load
from ingest.pipeline import Processed, process_raw
from kb import backends, store
from kb.backends import Row
from kb.checksum import file_sha256
from kb.embed import EmbeddingCache, make_embedder
from kb.english_side import EnglishSide
from kb.errors import DamagedKnowledgeBase, DocumentError, KBError
from kb.gazetteer import gazetteer
from kb.settings import Settings
from kb.text import segmenter
from kb.vocab import embedding_text

INDEX_BATCH = 2000   # passages embedded and handed to the search backend at a time

ROOT = Path(__file__).resolve().parent.parent
# Everything passages depend on: the ingest package and its data, and the language resources it uses.
# (tests/test_growth.py checks that every project module `ingest.pipeline` imports is listed.)
PIPELINE_FILES = ["ingest/**/*.py", "ingest/data/*", "kb/__init__.py", "kb/text.py", "kb/sentences.py", "kb/gazetteer.py",
                  "kb/vocab.py", "kb/checksum.py", "kb/errors.py", "kb/data/gazetteer.tsv", "kb/data/terms.txt",
                  "kb/data/stopwords.txt", "kb/english_side.py", "kb/data/glossary.tsv"]


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)      # same content, new path: kept, path updated
    skipped: list[str] = field(default_factory=list)    # files not ingested, with the reason (duplicates)
    errors: list[str] = field(default_factory=list)
    passages: int = 0
    generation: str | None = None
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.moved)


def pipeline_key(settings: Settings) -> str:
    """Fingerprint of everything that shapes passages. A knowledge base built with another fingerprint
    is re-processed, every document of it, on the next ingest."""
    h = hashlib.sha1()
    files = sorted({f for pattern in PIPELINE_FILES for f in ROOT.glob(pattern) if f.is_file()})
    for f in files:
        h.update(f.relative_to(ROOT).as_posix().encode())
        h.update(f.read_bytes())
    return f"{h.hexdigest()[:12]}:{settings.min_chars}:{settings.max_chars}:s{store.SCHEMA_VERSION}"


def embedder_specs(settings: Settings) -> list[str]:
    specs = [settings.embedder]
    if settings.xling_embedder and settings.xling_embedder != settings.embedder:
        specs.append(settings.xling_embedder)
    return specs


@dataclass
class _Known:
    """A document already in the knowledge base."""
    doc_id: str
    path: str
    sha256: str
    raw: str | None


def _known_documents(live: Path | None) -> tuple[dict[str, _Known], dict]:
    if live is None:
        return {}, {}
    manifest = store.read_manifest(live)
    db = store.open_db(live / store.DB_NAME, readonly=True)
    try:
        raws = {}
        if "raw_documents" in db.table_names():
            raws = {r["doc_id"]: r["raw"] for r in db.query("SELECT doc_id, raw FROM raw_documents")}
        known = {r["doc_id"]: _Known(r["doc_id"], os.path.abspath(r["path"]), r["sha256"], raws.get(r["doc_id"]))
                 for r in db.query("SELECT doc_id, path, sha256 FROM documents")}
    finally:
        db.conn.close()
    return known, manifest


def _under(path: str, folder: Path) -> bool:
    try:
        Path(path).relative_to(folder)
        return True
    except ValueError:
        return False


def ingest(settings: Settings, paths: list[Path] | None = None, remove: list[str] | None = None,
           show_progress: bool = True) -> IngestReport:
    started = time.time()
    report = IngestReport()
    data_dir = settings.data_dir
    with store.ingest_lock(data_dir):
        _collect_garbage(settings)   # leftovers of a failed ingest
        live = store.current_generation(data_dir)
        if live is not None:
            try:
                store.verify_generation(live)
            except DamagedKnowledgeBase as exc:   # rebuild from the sources given, never copy a damaged base
                print(f"warning: {exc}; building a fresh generation from the sources given", file=sys.stderr)
                live = None
        known, manifest = _known_documents(live)
        stale = bool(manifest) and manifest.get("pipeline") != pipeline_key(settings)
        rebuild = bool(manifest) and manifest.get("schema") != store.SCHEMA_VERSION

        named = [Path(p) for p in (paths or [settings.corpus_dir])] if paths is not None or not remove else []
        sources, errors = find_sources(named)
        report.errors += errors
        by_path = {k.path: k for k in known.values()}
        by_sha: dict[str, list[_Known]] = {}
        for k in known.values():
            by_sha.setdefault(k.sha256, []).append(k)

        processed: list[Processed] = []
        seen: set[str] = set()          # documents this run saw on disk
        moves: dict[str, Source] = {}
        new_content: dict[str, Path] = {}   # content hash -> the file that brought it in this run
        bar = tqdm(sources, desc="reading", unit="file", disable=not show_progress, file=sys.stderr)
        for src in bar:
            try:
                sha = file_sha256(src.path)
                old = by_path.get(str(src.path))
                if old is None:   # moved or renamed: same content, its old file gone
                    old = next((k for k in by_sha.get(sha, []) if k.doc_id not in seen
                                and not os.path.exists(k.path)), None)
                    if old is not None:
                        moves[old.doc_id] = src
                if old is None and sha in by_sha:   # the same content under another path that still exists
                    twin = by_sha[sha][0]
                    report.skipped.append(f"{src.path}: same content as {twin.path} (document {twin.doc_id})")
                    continue
                if old is None and sha in new_content:
                    report.skipped.append(f"{src.path}: same content as {new_content[sha]}")
                    continue
                if old is not None and old.doc_id in seen:
                    continue
                if old is not None and old.sha256 == sha and not stale and not rebuild:
                    seen.add(old.doc_id)
                    (report.moved if old.doc_id in moves else report.unchanged).append(old.doc_id)
                    continue
                raw = load(src)
                if old is not None:
                    raw.doc_id = old.doc_id
                else:
                    new_content[sha] = src.path
                processed.append(_process(raw, settings))
                seen.add(raw.doc_id)
                (report.updated if old is not None else report.added).append(raw.doc_id)
                moves.pop(raw.doc_id, None)
            except DocumentError as exc:
                report.errors.append(exc.one_line())
            except (OSError, UnicodeError, ValueError) as exc:
                report.errors.append(f"{src.path}: {type(exc).__name__}: {exc}")

        # folders given are synchronised: their documents whose files are gone are removed
        folders = [Path(os.path.abspath(p)) for p in named if p.is_dir()]
        for k in known.values():
            if k.doc_id not in seen and any(_under(k.path, f) for f in folders) and not os.path.exists(k.path):
                report.removed.append(k.doc_id)
        for target in remove or []:
            doc_id = _resolve(target, known)
            if doc_id is None:
                report.errors.append(f"{target}: not in the knowledge base (give a doc id or a path), nothing removed")
            elif doc_id not in report.removed:
                report.removed.append(doc_id)
                seen.discard(doc_id)
                processed = [p for p in processed if p.document["doc_id"] != doc_id]
                for bucket in (report.added, report.updated, report.unchanged, report.moved):
                    if doc_id in bucket:
                        bucket.remove(doc_id)

        # a pipeline change: every other document is processed again from its stored pages
        if stale or rebuild:
            for k in known.values():
                if k.doc_id in seen or k.doc_id in report.removed:
                    continue
                try:
                    raw = RawDocument.from_json(k.raw) if k.raw else load(Source.of(Path(k.path)))
                    if not k.raw and raw.sha256 != k.sha256:
                        raise DocumentError(k.path, "changed on disk since it was ingested; ingest it again by path")
                    raw.doc_id = k.doc_id
                    processed.append(_process(raw, settings))
                    report.updated.append(k.doc_id)
                except (DocumentError, OSError, UnicodeError, ValueError) as exc:
                    raise KBError(f"cannot re-process {k.doc_id} for the new pipeline ({exc}); the knowledge base "
                                  f"is unchanged: restore the file or remove the document with --remove") from None

        needs_index = live is not None and not report.changed and not _indexes_match(settings, manifest)
        if not report.changed and not needs_index:
            report.generation = live.name if live else None
            report.seconds = time.time() - started
            report.passages = manifest.get("passages", 0) if manifest else 0
            return report
        _write_generation(settings, live, processed, report, moves, fresh=rebuild, show_progress=show_progress)
        report.seconds = time.time() - started
        return report


def _process(raw: RawDocument, settings: Settings) -> Processed:
    result = process_raw(raw, settings.min_chars, settings.max_chars, settings.max_file_chars,
                         settings.max_passages_per_doc)
    result.raw = raw
    return result


def _resolve(target: str, known: dict[str, _Known]) -> str | None:
    """A document named by id or by path (as given, or as stored)."""
    if target in known:
        return target
    path = os.path.abspath(target)
    return next((k.doc_id for k in known.values() if k.path == path), None)


def _write_generation(settings: Settings, live: Path | None, processed: list[Processed], report: IngestReport,
                      moves: dict[str, Source], fresh: bool, show_progress: bool) -> None:
    data_dir = settings.data_dir
    gen = store.new_generation(data_dir)
    db_path = gen / store.DB_NAME
    if live is not None and not fresh:
        store.copy_database(live / store.DB_NAME, db_path)
    db = store.open_db(db_path)
    for doc_id in report.updated + report.removed:
        store.delete_document(db, doc_id)
    with db.conn:
        for doc_id, src in moves.items():
            db.execute("UPDATE documents SET path = ?, source = ? WHERE doc_id = ?", [str(src.path), src.rel, doc_id])
    next_key = (db.execute("SELECT max(key) FROM passages").fetchone()[0] or 0) + 1
    seg = segmenter()
    english = EnglishSide() if processed else None
    for result in processed:
        for p in result.passages:
            p["key"], next_key = next_key, next_key + 1
            p["tokens"] = " ".join(seg.tokens(embedding_text(p)))
            p["english"] = " ".join(english.index_tokens(embedding_text(p)))
        with db.conn:
            db["documents"].insert(store.encode_row({**result.document, "ingested_at": time.time()}), replace=True)
            db["raw_documents"].insert({"doc_id": result.document["doc_id"], "raw": result.raw.to_json()},
                                       replace=True)
            db["passages"].insert_all(store.encode_row(p) for p in result.passages)
            db["policies"].insert_all((store.encode_row(p) for p in result.policies), replace=True)
            db["indicators"].insert_all(store.encode_row(r) for r in result.indicators)
    n_docs = db["documents"].count
    n_passages = db["passages"].count
    ids_sha1 = EmbeddingCache.text_hash("\n".join(
        r[0] for r in db.execute("SELECT id FROM passages ORDER BY doc_id, seq").fetchall()))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()

    previous = store.read_manifest(live) if live is not None else None
    reuse = (live is not None and not fresh and _indexes_match(settings, previous)
             and previous.get("index", {}).get("backend") == settings.backend)
    writer = backends.open_writer(settings, gen, live if reuse else None, previous if reuse else None)
    if writer.count():   # started from the live generation's index: only the changed documents move
        writer.delete(report.updated + report.removed)
        changed = [r.document["doc_id"] for r in processed]
    else:
        changed = None
    embedders = _index_passages(settings, db_path, writer, changed, show_progress)
    index_meta = writer.commit()

    manifest = {
        "documents": n_docs, "passages": n_passages, "embedders": embedders,
        "pipeline": pipeline_key(settings), "schema": store.SCHEMA_VERSION, "index": index_meta,
        "settings": {"min_chars": settings.min_chars, "max_chars": settings.max_chars,
                     "index_type": settings.index_type, "backend": settings.backend},
        "passage_ids_sha1": ids_sha1,
    }
    store.publish(data_dir, gen, manifest)
    backends.publish(settings, gen, manifest)
    _collect_garbage(settings)
    report.generation = gen.name
    report.passages = n_passages


def _collect_garbage(settings: Settings) -> None:
    store.collect_garbage(settings.data_dir, settings.keep_generations,
                          on_remove=lambda gen, manifest: backends.drop(settings, gen, manifest))


ROW_COLUMNS = "key, doc_id, tokens, english, text, section, kind, doc_type, doc_year, domain, instrument, year, region_scope"


def passage_rows(db_path: Path, doc_ids: list[str] | None):
    """Catalog passages as backend rows, in key order, in batches: every passage, or those of `doc_ids`."""
    db = store.open_db(db_path, readonly=True)
    gaz = gazetteer()
    try:
        where, params = "", []
        if doc_ids is not None:
            where, params = f"WHERE doc_id IN ({','.join('?' * len(doc_ids))})", list(doc_ids)
        batch: list[tuple[Row, str]] = []
        for r in db.query(f"SELECT {ROW_COLUMNS} FROM passages {where} ORDER BY key", params):
            p = store.decode_row(r)
            batch.append((Row(key=p["key"], doc_id=p["doc_id"], tokens=(p["tokens"] or "").split(), text=p["text"],
                              kind=p["kind"], doc_type=p["doc_type"], doc_year=p["doc_year"], domain=p["domain"],
                              instrument=p["instrument"], year=p["year"],
                              places=gaz.enclosing(p["region_scope"]), english=(p["english"] or "").split()),
                          embedding_text(p)))
            if len(batch) >= INDEX_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch
    finally:
        db.conn.close()


def _index_passages(settings: Settings, db_path: Path, writer, doc_ids: list[str] | None,
                    show_progress: bool) -> dict[str, str]:
    """Embed the passages (through the content-hash cache) and hand them to the search backend."""
    specs = embedder_specs(settings)
    embedders = {spec: make_embedder(spec) for spec in specs}
    if doc_ids is not None and not doc_ids:
        return {spec: e.key for spec, e in embedders.items()}
    db = store.open_db(db_path, readonly=True)
    where = f"WHERE doc_id IN ({','.join('?' * len(doc_ids))})" if doc_ids else ""
    total = db.execute(f"SELECT count(*) FROM passages {where}", list(doc_ids or [])).fetchone()[0]
    db.conn.close()
    writer.add([], {spec: np.zeros((0, e.dim), np.float32) for spec, e in embedders.items()})   # every space exists
    cache = EmbeddingCache(settings.embedding_cache_dir / "embeddings.sqlite")
    try:
        with tqdm(total=total * len(specs), desc="embedding", unit="passage", disable=not show_progress,
                  file=sys.stderr) as pbar:
            for batch in passage_rows(db_path, doc_ids):
                texts = [t for _, t in batch]
                vectors = {spec: cache.embed(e, texts, progress=pbar.update) for spec, e in embedders.items()}
                writer.add([r for r, _ in batch], vectors)
    finally:
        cache.close()
    return {spec: e.key for spec, e in embedders.items()}


def _indexes_match(settings: Settings, manifest: dict) -> bool:
    built = manifest.get("embedders", {})
    if set(built) != set(embedder_specs(settings)):
        return False
    recorded = manifest.get("settings", {})
    return recorded.get("index_type") == settings.index_type and recorded.get("backend", "embedded") == settings.backend


def ensure_ingested(settings: Settings) -> None:
    """Used by `kb serve`/`kb ui` start-up when asked to ingest first."""
    if store.current_generation(settings.data_dir) is None:
        ingest(settings)
    if store.current_generation(settings.data_dir) is None:
        raise KBError("ingest produced no knowledge base")
