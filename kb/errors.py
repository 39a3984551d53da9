"""Every error the knowledge base raises on purpose, named in one place.

Entry points (CLI, API, UI) turn these into a one-line message, an HTTP 4xx or a
friendly note; anything else is a bug.
"""


class KBError(Exception):
    """Base class for errors a user can act on."""


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

    def __init__(self, path, reason):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class IndexMismatch(KBError):
    """An index on disk was built with other settings (model, vector size, tokenizer)."""


class EmbedderUnavailable(KBError):
    """The configured embedder cannot be loaded (missing package or model files)."""


class DamagedKnowledgeBase(KBError):
    """The data directory or a generation in it is damaged (unreadable pointer, manifest, database or index)."""
