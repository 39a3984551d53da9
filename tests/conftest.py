"""Shared fixtures: the real corpus ingested once per test session, real models.

Embeddings are cached (by content hash) under .cache/kb-test so a second run of
the suite does not embed again; a fresh clone's cache starts with the corpus's
vectors shipped in tests/data/corpus-vectors.npz (tests/shipped_vectors.py). The knowledge
base itself is rebuilt per session in a temporary data directory.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from kb.settings import PROJECT_ROOT, Settings

CACHE = Path(os.environ.get("KB_TEST_CACHE", PROJECT_ROOT / ".cache" / "kb-test"))
CORPUS = PROJECT_ROOT / "corpus"
REPORT = CORPUS / "zero-waste-cities-2024.txt"


def pytest_sessionstart(session):
    from shipped_vectors import seed   # tests/ is on sys.path (pytest prepends the conftest folder)

    seed(CACHE / "embeddings.sqlite")


def make_settings(data_dir: Path, **changes) -> Settings:
    return Settings(data_dir=data_dir, corpus_dir=CORPUS, cache_dir=CACHE, **changes)


@pytest.fixture(scope="session")
def kb_settings(tmp_path_factory) -> Settings:
    """Settings of the session's knowledge base (corpus ingested with the default embedders)."""
    from kb.build import ingest

    settings = make_settings(tmp_path_factory.mktemp("kb-data"))
    report = ingest(settings, show_progress=False)
    assert not report.errors, report.errors
    return settings


@pytest.fixture(scope="session")
def kb(kb_settings):
    """The knowledge base, opened and warmed up once."""
    from kb.search import KnowledgeBase

    return KnowledgeBase.open(kb_settings).warm_up()


@pytest.fixture(scope="session")
def server(kb_settings):
    """`kb serve` over the session's knowledge base, started once for every test module that needs it."""
    from api.process import start_server, stop_server

    proc, url = start_server(kb_settings.data_dir, {"KB_CACHE_DIR": str(kb_settings.cache_dir),
                                                    "KB_SERVE_THREADS": "1"})
    yield url
    stop_server(proc)


@pytest.fixture(scope="session")
def processed():
    """The report through the pipeline (no embeddings)."""
    from ingest.pipeline import process

    return process(REPORT)


@pytest.fixture
def fast_settings(tmp_path) -> Settings:
    """A throwaway knowledge base with the hash embedder: for plumbing tests only."""
    return make_settings(tmp_path / "data", embedder="hash", xling_embedder="")
