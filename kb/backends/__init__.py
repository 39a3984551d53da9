"""Search backends: `embedded` (SQLite catalog + BM25 arrays + FAISS, the default) and `milvus`
(Milvus Lite in the data directory, or a Milvus server or cluster). One file per backend."""
from __future__ import annotations

from pathlib import Path

from kb.backends.base import Hits, Row, SearchBackend, Where
from kb.errors import KBError
from kb.settings import Settings

BACKENDS = ("embedded", "milvus")


def _module(settings: Settings):
    if settings.backend == "embedded":
        from kb.backends import embedded
        return embedded
    if settings.backend == "milvus":
        from kb.backends import milvus
        return milvus
    raise KBError(f"unknown backend {settings.backend!r}: one of {', '.join(BACKENDS)}",
                  hint="set KB_BACKEND to embedded or milvus")


def open_reader(settings: Settings, generation: Path, manifest: dict) -> SearchBackend:
    """The sealed search index of a generation, for reading."""
    return _module(settings).open_reader(settings, generation, manifest)


def open_writer(settings: Settings, generation: Path, previous: Path | None,
                previous_manifest: dict | None) -> SearchBackend:
    """A new generation's search index, started from the previous generation's (or empty)."""
    return _module(settings).open_writer(settings, generation, previous, previous_manifest)


def publish(settings: Settings, generation: Path, manifest: dict) -> None:
    """Point the backend's live name at a generation just made current (a Milvus alias)."""
    _module(settings).publish(settings, generation, manifest)


def drop(settings: Settings, generation: Path, manifest: dict) -> None:
    """Release what a removed generation holds outside its folder (a Milvus collection)."""
    _module(settings).drop(settings, generation, manifest)


__all__ = ["BACKENDS", "Hits", "Row", "SearchBackend", "Where", "drop", "open_reader", "open_writer", "publish"]
