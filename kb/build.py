"""`kb ingest`: process changed files, store them and rebuild the indexes in a new generation."""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from ingest.load import doc_id_for, file_sha256, find_sources
from ingest.pipeline import process
from kb import store, vectors
from kb.embed import EmbeddingCache, make_embedder
from kb.errors import DamagedKnowledgeBase, DocumentError, KBError
from kb.settings import Settings


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    passages: int = 0
    generation: str | None = None
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def pipeline_key(settings: Settings) -> str:
    """Fingerprint of everything that shapes passages: ingest code, lexicons, gazetteer, size band.
    A knowledge base built with another fingerprint is re-processed on the next ingest."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha1()
    files = sorted((root / "ingest").glob("*.py")) + sorted((root / "ingest" / "data").glob("*")) + \
        [root / "kb" / "data" / "gazetteer.tsv", root / "kb" / "text.py"]
    for f in files:
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return f"{h.hexdigest()[:12]}:{settings.min_chars}:{settings.max_chars}"


def embedding_text(passage: dict) -> str:
    """What the embedder sees: the two deepest headings, then the passage."""
    titles = [t for t in passage["section"][-2:] if t]
    return (" > ".join(titles) + "\n" + passage["text"]) if titles else passage["text"]


def embedder_specs(settings: Settings) -> list[str]:
    specs = [settings.embedder]
    if settings.xling_embedder and settings.xling_embedder != settings.embedder:
        specs.append(settings.xling_embedder)
    return specs


def ingest(settings: Settings, paths: list[Path] | None = None, remove: list[str] | None = None,
           show_progress: bool = True) -> IngestReport:
    started = time.time()
    report = IngestReport()
    data_dir = settings.data_dir
    with store.ingest_lock(data_dir):
        live = store.current_generation(data_dir)
        if live is not None:
            try:
                store.verify_generation(live)
            except DamagedKnowledgeBase as exc:   # rebuild from the sources given, never copy a damaged base
                print(f"warning: {exc}; building a fresh generation from the sources given", file=sys.stderr)
                live = None
        existing: dict[str, str] = {}
        manifest = {}
        if live is not None:
            db = store.open_db(live / store.DB_NAME, readonly=True)
            existing = {r["doc_id"]: r["sha256"] for r in db.query("SELECT doc_id, sha256 FROM documents")}
            path_of = {r["doc_id"]: r["path"] for r in db.query("SELECT doc_id, path FROM documents")}
            db.conn.close()
            manifest = json.loads((live / store.MANIFEST).read_text(encoding="utf-8"))
        else:
            path_of = {}

        stale = bool(manifest) and manifest.get("pipeline") != pipeline_key(settings)
        processed = []
        sources = find_sources(paths or [settings.corpus_dir]) if paths is not None or not remove else []
        bar = tqdm(sources, desc="reading", unit="file", disable=not show_progress, file=sys.stderr)
        for path in bar:
            try:
                doc_id = doc_id_for(path)
                sha = file_sha256(path)
                if existing.get(doc_id) == sha and not stale:
                    report.unchanged.append(doc_id)
                    continue
                result = process(path, settings.min_chars, settings.max_chars, settings.max_file_chars,
                                 settings.max_passages_per_doc)
                processed.append(result)
                (report.updated if result.document["doc_id"] in existing else report.added).append(
                    result.document["doc_id"])
            except DocumentError as exc:
                report.errors.append(exc.one_line())
            except (OSError, UnicodeError, ValueError) as exc:
                report.errors.append(f"{path}: {type(exc).__name__}: {exc}")
        for target in remove or []:
            doc_id = target if target in existing else doc_id_for(Path(target))
            if doc_id not in existing:
                matches = [d for d, p in path_of.items() if Path(p).resolve() == Path(target).resolve()]
                doc_id = matches[0] if matches else None
            if doc_id is None or doc_id not in existing:
                report.errors.append(f"{target}: not in the knowledge base, nothing to remove")
            else:
                report.removed.append(doc_id)

        needs_index = live is not None and not report.changed and not _indexes_match(settings, manifest)
        if not report.changed and not needs_index:
            report.generation = live.name if live else None
            report.seconds = time.time() - started
            report.passages = manifest.get("passages", 0) if manifest else 0
            return report

        gen = store.new_generation(data_dir)
        db_path = gen / store.DB_NAME
        if live is not None:
            store.copy_database(live / store.DB_NAME, db_path)
        db = store.open_db(db_path)
        for doc_id in report.updated + report.removed:
            store.delete_document(db, doc_id)
        for result in processed:
            with db.conn:
                db["documents"].insert(store.encode_row({**result.document, "ingested_at": time.time()}),
                                       replace=True)
                db["passages"].insert_all(store.encode_row(p) for p in result.passages)
                db["policies"].insert_all((store.encode_row(p) for p in result.policies), replace=True)
                db["indicators"].insert_all(store.encode_row(r) for r in result.indicators)
        passages = [store.decode_row(r) for r in db.query("SELECT id, section, text FROM passages ORDER BY doc_id, seq")]
        n_docs = db["documents"].count
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.conn.close()

        cache = EmbeddingCache(settings.embedding_cache_dir / "embeddings.sqlite")
        embedders = {}
        texts = [embedding_text(p) for p in passages]
        for spec in embedder_specs(settings):
            embedder = make_embedder(spec)
            with tqdm(total=len(texts), desc=f"embedding ({spec})", unit="passage",
                      disable=not show_progress, file=sys.stderr) as pbar:
                matrix = cache.embed(embedder, texts, progress=pbar.update)
            index = vectors.build_index(matrix, settings.index_type) if len(texts) else vectors.build_index(
                matrix.reshape(0, embedder.dim), "flat")
            vectors.save(gen, embedder.key, index, {"index_type": settings.index_type, "spec": spec})
            embedders[spec] = embedder.key
        cache.conn.close()

        store.publish(data_dir, gen, {
            "documents": n_docs, "passages": len(passages), "embedders": embedders,
            "pipeline": pipeline_key(settings),
            "settings": {"min_chars": settings.min_chars, "max_chars": settings.max_chars,
                         "index_type": settings.index_type},
            "passage_ids_sha1": EmbeddingCache.text_hash("\n".join(p["id"] for p in passages)),
        })
        store.collect_garbage(data_dir, settings.keep_generations)
        report.generation = gen.name
        report.passages = len(passages)
        report.seconds = time.time() - started
        return report


def _indexes_match(settings: Settings, manifest: dict) -> bool:
    built = manifest.get("embedders", {})
    if set(built) != set(embedder_specs(settings)):
        return False
    return manifest.get("settings", {}).get("index_type") == settings.index_type


def ensure_ingested(settings: Settings) -> None:
    """Used by `kb serve`/`kb ui` start-up when asked to ingest first."""
    if store.current_generation(settings.data_dir) is None:
        ingest(settings)
    if store.current_generation(settings.data_dir) is None:
        raise KBError("ingest produced no knowledge base")
