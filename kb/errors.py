"""Every error the knowledge base raises on purpose, named in one place.

Entry points (CLI, API, UI) turn these into a one-line message, an HTTP 4xx/503 or a
friendly note; anything else is a bug. Each class carries a `hint`: what the user can do
about it. `as_kb_error` names the system failures we know (disk full, read-only file
system, damaged SQLite file) so that they too end in one line.
"""
from __future__ import annotations

import errno
import sqlite3


class KBError(Exception):
    """Base class for errors a user can act on."""

    hint = ""

    def __init__(self, message: str = "", hint: str | None = None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def one_line(self) -> str:
        """The message and its hint on one line (the CLI's and the API's wording)."""
        msg = " ".join(str(self).split())
        command = self.hint.split("`")[1] if self.hint.count("`") >= 2 else None
        if self.hint and self.hint not in msg and not (command and f"`{command}`" in msg):
            msg = f"{msg}; {self.hint}"   # a message that already names the remedy keeps it alone
        return msg


class BadInput(KBError):
    """A query, filter or parameter the knowledge base cannot accept."""


class UnknownFilterValue(BadInput):
    """A filter names a tag value that is not in the vocabulary."""


class NotFound(KBError):
    """An id (passage, document) that does not exist."""


class EmptyKnowledgeBase(KBError):
    """Nothing has been ingested into the data directory yet."""


class DocumentError(KBError):
    """A source file that cannot be read (broken, encrypted, empty, too large)."""

    def __init__(self, path, reason, hint: str | None = None):
        super().__init__(f"{path}: {reason}", hint)
        self.path = str(path)
        self.reason = reason


class IndexMismatch(KBError):
    """An index on disk was built with other settings (model, vector size, tokenizer)."""


class EmbedderUnavailable(KBError):
    """The configured embedder cannot be loaded (missing package or model files)."""


class BackendUnavailable(KBError):
    """The search backend cannot be reached or failed (a Milvus server, a Milvus Lite directory)."""

    hint = "start Milvus or point KB_MILVUS_URI at a running one (unset, it uses Milvus Lite in the data directory)"


class EmbeddingFailed(KBError):
    """The embedder returned no usable vectors (wrong count, NaN or infinite values)."""

    hint = "check the embedder (KB_EMBEDDER) and its model files"


class DamagedKnowledgeBase(KBError):
    """A file of the live generation is unreadable, truncated or differs from its checksum."""

    hint = "re-run `kb ingest` to build a fresh generation, or restore the data directory from a backup"

    def __init__(self, message: str = "", hint: str | None = None):
        prefix = "damaged knowledge base: "
        super().__init__(message if message.startswith(prefix) else prefix + message, hint)


class DiskFull(KBError):
    """The disk (or quota) filled up while writing."""

    hint = ("free some space and run the command again; the previous knowledge base is untouched "
            "(a partial generation, if any, is removed by the next ingest)")


class ReadOnlyDataDir(KBError):
    """The data directory cannot be written to (read-only file system or no permission)."""

    hint = "ingest needs write access to the data directory (search and serve work read-only)"


def as_kb_error(exc: BaseException) -> KBError | None:
    """A named error for a system failure we know how to explain, else None."""
    if isinstance(exc, KBError):
        return exc
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        low = text.lower()
        if "disk is full" in low or "disk full" in low:
            return DiskFull(f"disk full while writing a database ({text})")
        if "readonly" in low or "read-only" in low:
            return ReadOnlyDataDir(f"cannot write a database: {text}")
        if "malformed" in low or "not a database" in low or "disk i/o error" in low:
            return DamagedKnowledgeBase(f"a database file is damaged: {text}")
        return None
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return DiskFull(f"disk full while writing{where}")
        if exc.errno == errno.EROFS:
            return ReadOnlyDataDir(f"read-only file system{where}")
        if exc.errno in (errno.EACCES, errno.EPERM):
            return ReadOnlyDataDir(f"permission denied{where}",
                                   hint="check the owner and mode of the data directory")
    text = str(exc).lower()
    if "no space left on device" in text:          # FAISS and other C++ writers report errno as text
        return DiskFull(f"disk full while writing ({type(exc).__name__})")
    if "read-only file system" in text:
        return ReadOnlyDataDir(f"read-only file system ({type(exc).__name__})")
    return None
