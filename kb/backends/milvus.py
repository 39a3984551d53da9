"""The Milvus search backend: Milvus Lite inside the data directory, or a Milvus server or cluster.

`KB_BACKEND=milvus`. `KB_MILVUS_URI` chooses where the index lives:
- unset: Milvus Lite (the pure-Python engine of milvus-lite 3.x, driven through pymilvus like a server),
  one Lite directory per generation, `generations/<g>/milvus.db`;
- a path (not a URL): the same, one Lite directory per generation under that path (`<path>/<g>.db`);
- `http(s)://host:19530` (or `tcp://`, `unix:`): one Milvus server or cluster for every generation.
The pymilvus code is the same for both; only where a generation's collection lives differs.

**One collection per generation, the switch an alias change.** A generation's passages are one collection,
`kb_<h>_<generation>`, where `<h>` is a short hash of the data directory, so two data directories pointed
at one server never share or drop each other's collections. An ingest writes a new collection next to the
live one; `publish` then points the alias `kb_<h>` at it (one atomic `alter_alias`), for anything outside
this program that reads "the live knowledge base". Our own readers open the collection their generation's
manifest names, never the alias: a served generation's collection is never written again, and garbage
collection (`drop`) refuses to drop the collection the alias points at.

**Milvus Lite's process model, and the layout it forces.** milvus-lite 3.x holds an exclusive `flock` on
its data directory while a client has it open (`DataDirLockedError` for a second process) and runs its
gRPC adapter in a thread of the opening process. So an API server (reader) and `kb ingest` (writer) can
never open the same Lite directory at the same time, and neither can two readers (`kb serve` and `kb ui`,
or a test process and its server). Hence:
- one Lite directory per generation: the writer alone opens the new generation's directory; it is sealed
  (flushed, indexed, closed) by `commit` and never opened in place again;
- every reader opens a private view of the sealed directory in a folder of its own next to it: hard
  links of its segment and index files (Parquet, `.idx`: written once under a new name; copies where the
  file system has no hard links), copies of its small JSON files (which the engine rewrites), no lock
  file (tests/test_milvus.py checks the sealed directory is byte-identical after readers used it).
  A reader keeps its files even if garbage collection removes the generation's folder under it;
- a writer that starts from the previous generation copies its rows (query iterator, minus the deleted
  documents) into the new collection, then adds: the same code on a server, and on Lite it keeps the
  collection in one segment up to 100k passages (Lite scores BM25 per segment, see below);
- the live swap stays what it is for the embedded backend: `CURRENT` names the generation (atomic
  rename); on Lite each generation's directory also holds the alias, pointed at its collection at commit.

**Keyword search and how Milvus's BM25 differs from ours.** Each passage carries three analysed text fields,
each with Milvus's BM25 function into a sparse field (SPARSE_INVERTED_INDEX, metric BM25, k1 1.2, b 0.75
as in `kb.keyword`):
- `terms`: our own jieba tokens (domain dictionary, search-mode sub-words, stop words out), written as
  text one token per word (characters outside \\w folded to `_`), analysed by the `whitespace` tokenizer
  on a server and by `standard` (\\w+) on Milvus Lite, which has no whitespace tokenizer. `keyword()`
  searches this field: same tokens, same idf formula log(1 + (N - df + 0.5) / (df + 0.5)), same k1 and b.
  Weighted query terms: Milvus takes query *text*, and scores a query term by its count in the query
  text (measured: repeating a token multiplies its contribution exactly), so a weight w is sent as
  round(w * 20) repetitions (at least one): weights are kept to the nearest 0.05, which holds every
  weight the query planner uses (1.0, 0.7, 0.5, 0.35) exactly; scores are divided by 20 again, so they
  are on our BM25's scale (equal to it, tests/test_milvus.py checks). Milvus accepts
  no query vector for a BM25 function field (and the sparse vectors it stores are hashed term counts).
- `english`: the passage's English side (`Row.english`), written and analysed like `terms`:
  `keyword(..., field="english")`.
- `text`: the passage's search text analysed by Milvus's own jieba (`{"tokenizer": "jieba"}`): Milvus's
  full-text search as Milvus users have it (`keyword_text`, and `hybrid`). Its dictionary is jieba's
  default one (Milvus Lite calls the `jieba` package's global tokenizer in search mode; a server uses
  jieba-rs), without our domain terms and without our stop words, so its tokens differ from ours.
Differences that remain on `terms`: Milvus Lite keeps BM25 statistics (N, df, avgdl) per segment (a
segment holds up to 100k passages or 128 MB; a server keeps them per collection), and deleted passages
stay in a segment's statistics until compaction; a server's scores are its own float32 arithmetic. Milvus
Lite returns a BM25 score as a negative distance: scores are read as their absolute value.

**Term lookups.** `docs_with(token)` and `has_token(token)` are exact per token: a BM25 search on
`terms` for the token alone returns exactly the passages holding it (each scores above zero, no other
does), from Milvus's inverted index; a search returns at most 16,384 hits, so a token in more passages
than that is paged through a `text_match` filter (`enable_match` on `terms`) with a query iterator
instead. (A `text_match` filter is what Milvus offers for this, but Milvus Lite evaluates it by scanning
every passage: 0.3-0.6 s per lookup at 2,000 passages, against ~10 ms for the search.) Both are cached per
reader (the generation never changes). `has_token` is asked for every CC-CEDICT word at start-up (~67,000
calls: 200 s as Milvus searches), so the writer also saves the vocabulary with each token's passage count
in the generation folder (`milvus-terms.json`, checksummed with the generation's files): `has_token` reads
it, `docs_with` of a token not in it is empty without a search.

**Filters.** Scalar tags are `==`; list tags (domain, instrument, year, and `places`: a passage's places
with every place containing them, so a province matches its cities) are `array_contains` on their ARRAY
fields, except on the Milvus Lite engine, which evaluates ARRAY functions row by row over every column
(vectors included): there they are a LIKE on `tags`, the same tags as one string (see `where_expr`).

**Limits.** A search returns at most 16,384 hits (Milvus's top-k limit): larger `k` are clamped.
`count`, `keys` and `facets` read the matching rows (one query below 16,384 rows, else a query iterator):
fine for a few hundred thousand passages on a server; Milvus Lite materializes every row it returns whole
(about 0.4 ms a row), so they take seconds from ~10,000 passages (measured in eval/milvus_bench.py).
"""
from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections import Counter, OrderedDict
from pathlib import Path

import numpy as np

from kb.backends.base import (
    LIST_TAGS,
    SCALAR_TAGS,
    Hits,
    IndexWriter,
    Row,
    SearchBackend,
    Where,
)
from kb.errors import BackendUnavailable, DamagedKnowledgeBase, IndexMismatch, KBError
from kb.store import pid_alive
from kb.settings import Settings

log = logging.getLogger("kb.milvus")

NAME = "milvus"
LITE_DIR = "milvus.db"          # a generation's Milvus Lite directory (pymilvus needs the .db ending)
VIEWS_DIR = "milvus-open"       # readers' private views of it, beside it in the generation folder
VOCAB_FILE = "milvus-terms.json"   # in the generation folder: each token of `terms` -> its passage count
MAX_TOPK = 16_384               # Milvus's limit on a search's top-k and on one query's rows
REPEAT = 20                     # a query weight w is sent as round(w * REPEAT) copies of the token
BATCH = 1_000                   # rows per insert
ITER_BATCH = 8_192              # rows per query-iterator page
BM25_PARAMS = {"bm25_k1": 1.2, "bm25_b": 0.75}
BM25_SOURCES = ("text", "terms", "english")   # analysed fields, each with a BM25 function into <name>_bm25
KEYWORD_FIELDS = {"text": "terms_bm25", "english": "english_bm25"}   # keyword(field=...) -> sparse field
HNSW_PARAMS = {"M": 16, "efConstruction": 200}
MAX_TEXT_BYTES = 65_535         # VARCHAR limit
TAG_CAPACITY = {"domain": 256, "instrument": 256, "year": 256, "places": 1024}
CONNECT_TIMEOUT = 10.0
_SERVER_SCHEMES = ("http://", "https://", "tcp://", "grpc://", "unix:")
_NON_WORD = re.compile(r"\W", re.UNICODE)


# ---------------------------------------------------------------- names and places

def is_server(settings: Settings) -> bool:
    return settings.milvus_target.startswith(_SERVER_SCHEMES)


def data_dir_tag(settings: Settings) -> str:
    """A short hash of the data directory: collection names of two data directories never clash."""
    return hashlib.sha1(str(Path(settings.data_dir).resolve()).encode("utf-8")).hexdigest()[:8]


def alias_name(settings: Settings) -> str:
    return f"kb_{data_dir_tag(settings)}"


def collection_name(settings: Settings, generation: Path) -> str:
    return f"{alias_name(settings)}_{_NON_WORD.sub('_', generation.name)}"


def space_field(spec: str) -> str:
    """The dense vector field of an embedder spec (a field name is [A-Za-z_][A-Za-z0-9_]*)."""
    readable = re.sub(r"[^A-Za-z0-9]", "_", spec)[:32]
    return f"v_{readable}_{hashlib.sha1(spec.encode('utf-8')).hexdigest()[:6]}"


def lite_dir(settings: Settings, generation: Path) -> Path:
    """A generation's Milvus Lite directory: inside the generation, or under an explicit Lite path."""
    if settings.milvus_uri:
        return Path(settings.milvus_uri) / f"{generation.name}.db"
    return generation / LITE_DIR


def term_text(tokens: list[str]) -> str:
    """Our tokens as text one analyser word each (whitespace-separated, only \\w characters)."""
    return " ".join(_NON_WORD.sub("_", t.lower()) for t in tokens if t)


def query_text(weights: dict[str, float]) -> str:
    """Weighted query terms as the query text Milvus's BM25 takes: a term counts once per copy."""
    words = []
    for token, w in weights.items():
        word = term_text([token])
        if word and w > 0:
            words.extend([word] * max(1, round(w * REPEAT)))
    return " ".join(words)


_LIKE_SAFE = str.maketrans({"_": "\u2581", "%": "\u2030", "|": "\u2502"})   # no LIKE wildcards in values


def _tag_word(name: str, value) -> str:
    return f"{name}={str(value).translate(_LIKE_SAFE)}"


def tag_text(row: Row) -> str:
    """The list tags as one string, `|domain=household|places=广东省|...|`: what a LIKE filter reads."""
    words = [_tag_word(name, v) for name in LIST_TAGS for v in dict.fromkeys(getattr(row, name))]
    return "|" + "|".join(words) + "|" if words else ""


def where_expr(where: Where | None, lite: bool = False) -> str:
    """A filter as a Milvus boolean expression ("" for none); values are quoted as JSON strings.
    List tags are `array_contains` on their ARRAY fields; on the Milvus Lite engine they are a LIKE on
    `tags` instead (Lite evaluates ARRAY functions row by row after converting every column of the
    segment, vectors included, to Python: 4 s per filtered search at 20,000 passages; LIKE is vectorized)."""
    if where is None:
        return ""
    parts = []
    for name in ("kind", "doc_type"):
        value = getattr(where, name)
        if value is not None:
            parts.append(f"{name} == {json.dumps(str(value), ensure_ascii=False)}")
    if where.doc_year is not None:
        parts.append(f"doc_year == {int(where.doc_year)}")
    for name, field_name in (("domain", "domain"), ("instrument", "instrument"), ("place", "places"),
                             ("year", "year")):
        value = getattr(where, name)
        if value is None:
            continue
        value = int(value) if name == "year" else str(value)
        if lite:
            pattern = f"%|{_tag_word(field_name, value)}|%"
            parts.append(f"tags like {json.dumps(pattern, ensure_ascii=False)}")
        else:
            parts.append(f"array_contains({field_name}, {json.dumps(value, ensure_ascii=False)})")
    return " and ".join(parts)


def _clip(text: str, limit: int = MAX_TEXT_BYTES) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


# ---------------------------------------------------------------- errors

def _milvus_error(exc: BaseException, where: str) -> KBError:
    """A pymilvus / Milvus Lite failure as one named line."""
    if isinstance(exc, KBError):
        return exc
    text = " ".join(str(getattr(exc, "message", "") or exc).split())[:300]
    low = text.lower()
    name = type(exc).__name__
    if "locked" in low or "open local milvus failed" in low or name == "DataDirLockedError":
        return BackendUnavailable(f"{where}: the Milvus Lite directory cannot be opened: held by another "
                                  f"process, or damaged ({text})",
                                  hint="Milvus Lite serves one process per directory; re-run `kb ingest` "
                                       "if no other process holds it")
    if ("unavailable" in low or "fail connecting" in low or "connect" in low or "deadline" in low
            or "timeout" in low or name in ("MilvusUnavailableException", "ConnectError")):
        return BackendUnavailable(f"{where}: Milvus is unreachable ({text})")
    if "not exist" in low or "not found" in low or "can't find" in low:
        return DamagedKnowledgeBase(f"{where}: {text}")
    return BackendUnavailable(f"{where}: Milvus failed ({name}: {text})",
                              hint="check the Milvus server's log, or re-run `kb ingest`")


class _Guard:
    """`with _Guard("what"):` turns any Milvus failure into a one-line KBError."""

    def __init__(self, where: str):
        self.where = where

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, KBError) or not isinstance(exc, Exception):
            return False
        raise _milvus_error(exc, self.where) from None


# ---------------------------------------------------------------- connections

def _quiet_lite_iterator(record: logging.LogRecord) -> bool:
    """pymilvus warns on every query iterator that Milvus Lite gives no MVCC timestamp (it reads its
    latest state, which for a sealed collection is the only one): that warning is left out."""
    return "mvccTs" not in record.getMessage()


def _quiet_lite_timestamp(record: logging.LogRecord) -> bool:
    """In-process Milvus Lite logs a traceback for every query iterator's AllocTimestamp call, an RPC
    it does not implement (pymilvus then uses its own clock): that log is left out."""
    exc = record.exc_info[1] if record.exc_info else None
    return not (isinstance(exc, NotImplementedError) and "Method not implemented" in record.getMessage())


logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_quiet_lite_iterator)
logging.getLogger("grpc._server").addFilter(_quiet_lite_timestamp)
logging.getLogger("pymilvus.decorators").addFilter(
    lambda record: "unknown tokenizer type: 'whitespace'" not in record.getMessage())   # the probe below


def _quiet_jieba() -> None:
    try:
        import jieba
        jieba.setLogLevel(logging.WARNING)
    except ImportError:     # the jieba analyser then fails with its own install hint
        pass


def _connect(uri: str, where: str):
    """A MilvusClient; Milvus Lite's own logging of a failed start is kept out of the user's way."""
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise KBError("the Milvus backend needs pymilvus", hint="pip install 'pymilvus[milvus-lite]' jieba") from None
    _quiet_jieba()
    lite_log = logging.getLogger("milvus_lite.server_manager")
    level = lite_log.level
    lite_log.setLevel(logging.CRITICAL)
    # In-process Milvus Lite's gRPC server refuses pymilvus's keepalive pings on an idle connection
    # ("too_many_pings" GOAWAY, logged by gRPC on stderr every 10 s): ping only during calls.
    options = {} if uri.startswith(_SERVER_SCHEMES) else {"grpc_options": {"grpc.keepalive_permit_without_calls": 0}}
    try:
        with _Guard(where):
            return MilvusClient(uri=uri, timeout=CONNECT_TIMEOUT, **options)
    finally:
        lite_log.setLevel(level)


def _release_lite(path: Path) -> None:
    """Stop the in-process Milvus Lite server of a directory, releasing its lock."""
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError:
        return
    server_manager_instance.release_server(str(path))


def _close(client, lite: Path | None) -> None:
    try:
        client.close()
    except Exception:   # closing must never fail a caller; the server is released below
        log.debug("closing a Milvus client failed", exc_info=True)
    if lite is not None:
        _release_lite(lite)


# ---------------------------------------------------------------- reader views (Milvus Lite)

_VIEWS: set[Path] = set()
_VIEWS_LOCK = threading.Lock()


def _clean_views(root: Path) -> None:
    """Remove views left by processes that died (their names start with the pid)."""
    if not root.is_dir():
        return
    for view in root.iterdir():
        pid = view.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            shutil.rmtree(view, ignore_errors=True)


IMMUTABLE = (".parquet", ".idx")   # Lite's segment and index files: written once, under a new name


def _link_tree(src: Path, dst: Path) -> None:
    """A sealed Lite directory's files but its lock: segment and index files hard-linked (copied where
    links are refused), the small JSON files (manifest, schema, aliases, which Lite rewrites) copied."""
    for folder, dirs, files in os.walk(src):
        rel = Path(folder).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            if rel == Path(".") and name == "LOCK":
                continue
            source, target = Path(folder) / name, dst / rel / name
            if name.endswith(IMMUTABLE):
                try:
                    os.link(source, target)
                    continue
                except OSError:
                    pass
            shutil.copy2(source, target)


def _open_view(sealed: Path) -> Path:
    """A private view of a sealed Lite directory for one reader: beside it, or in the temp folder
    when the data directory is read-only."""
    if not (sealed / "collections").is_dir():
        raise DamagedKnowledgeBase(f"the Milvus Lite index {sealed} is missing or incomplete: re-run `kb ingest`")
    name = f"{os.getpid()}-{os.urandom(4).hex()}.db"
    roots = [sealed.parent / VIEWS_DIR, Path(tempfile.gettempdir()) / f"kb-{VIEWS_DIR}"]
    last: OSError | None = None
    for root in roots:
        try:
            root.mkdir(parents=True, exist_ok=True)
            _clean_views(root)
            view = root / name
            _link_tree(sealed, view)
        except OSError as exc:
            last = exc
            shutil.rmtree(root / name, ignore_errors=True)
            continue
        with _VIEWS_LOCK:
            _VIEWS.add(view)
        return view
    raise BackendUnavailable(f"cannot prepare a reader's view of {sealed}: {last}")


def _drop_view(view: Path) -> None:
    _release_lite(view)
    shutil.rmtree(view, ignore_errors=True)
    with _VIEWS_LOCK:
        _VIEWS.discard(view)


@atexit.register
def _drop_views_at_exit() -> None:
    with _VIEWS_LOCK:
        views = list(_VIEWS)
    for view in views:
        _drop_view(view)


# ---------------------------------------------------------------- schema

def _schema(client, spaces: dict[str, dict], terms_tokenizer: str):
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.INT64, is_primary=True)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=512)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES, enable_analyzer=True,
                     analyzer_params={"tokenizer": "jieba"})
    schema.add_field("terms", DataType.VARCHAR, max_length=MAX_TEXT_BYTES, enable_analyzer=True,
                     enable_match=True, analyzer_params={"tokenizer": terms_tokenizer})
    schema.add_field("english", DataType.VARCHAR, max_length=MAX_TEXT_BYTES, enable_analyzer=True,
                     analyzer_params={"tokenizer": terms_tokenizer})
    for source in BM25_SOURCES:
        schema.add_field(f"{source}_bm25", DataType.SPARSE_FLOAT_VECTOR)
    for name in ("kind", "doc_type"):
        schema.add_field(name, DataType.VARCHAR, max_length=256)
    schema.add_field("doc_year", DataType.INT64, nullable=True)
    for name in ("domain", "instrument", "places"):
        schema.add_field(name, DataType.ARRAY, element_type=DataType.VARCHAR,
                         max_capacity=TAG_CAPACITY[name], max_length=256)
    schema.add_field("year", DataType.ARRAY, element_type=DataType.INT64, max_capacity=TAG_CAPACITY["year"])
    schema.add_field("tags", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
    for space in spaces.values():
        schema.add_field(space["field"], DataType.FLOAT_VECTOR, dim=int(space["dim"]))
    for source in BM25_SOURCES:
        schema.add_function(Function(name=f"{source}_bm25_fn", function_type=FunctionType.BM25,
                                     input_field_names=[source], output_field_names=[f"{source}_bm25"]))
    return schema


def _build_params(params: dict) -> dict:
    """Index build parameters both flat (how pymilvus 3 sends them, and Milvus reads them) and nested
    under "params" (how Milvus Lite 3.2 reads them: it ignores the flat ones, so BM25 ran with k1 1.5)."""
    return {**params, "params": dict(params)}


def _dense_index(rows: int, flat_threshold: int) -> str:
    """Exact (FLAT) up to the flat threshold, HNSW above it, as the embedded backend does."""
    return "HNSW" if rows > flat_threshold else "FLAT"


def _index_params(client, spaces: dict[str, dict], dense: str, sparse: bool = True):
    """Indexes named `<field>_idx` (Milvus Lite's DropIndex finds an index only by that name, and
    drops every index of the collection when it does not)."""
    params = client.prepare_index_params()
    if sparse:
        for field_name in (f"{source}_bm25" for source in BM25_SOURCES):
            params.add_index(field_name=field_name, index_name=f"{field_name}_idx",
                             index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                             params=_build_params(BM25_PARAMS))
    for space in spaces.values():
        name = f"{space['field']}_idx"
        if dense == "HNSW":
            params.add_index(field_name=space["field"], index_name=name, index_type="HNSW",
                             metric_type="IP", params=_build_params(HNSW_PARAMS))
        else:
            params.add_index(field_name=space["field"], index_name=name, index_type="FLAT", metric_type="IP")
    return params


def _row_record(row: Row, vectors: dict[str, np.ndarray], i: int, spaces: dict[str, dict]) -> dict:
    record = {
        "key": int(row.key), "doc_id": row.doc_id, "text": _clip(row.text or ""),
        "terms": _clip(term_text(row.tokens)), "english": _clip(term_text(row.english)),
        "kind": row.kind or "", "doc_type": row.doc_type or "",
        "doc_year": None if row.doc_year is None else int(row.doc_year),
        "domain": list(row.domain), "instrument": list(row.instrument), "places": list(row.places),
        "year": [int(y) for y in row.year], "tags": _clip(tag_text(row)),
    }
    for name, cap in TAG_CAPACITY.items():
        if len(record[name]) > cap:
            raise IndexMismatch(f"passage {row.key} has {len(record[name])} {name} values; the Milvus "
                                f"schema holds {cap}")
    for spec, space in spaces.items():
        record[space["field"]] = vectors[spec][i].astype(np.float32, copy=False).tolist()
    return record


# ---------------------------------------------------------------- the backend

class MilvusBackend(SearchBackend):
    """One generation's collection, read (any number of threads) or written (one ingest)."""

    name = NAME

    def __init__(self, client, collection: str, spaces: dict[str, dict], where: str,
                 lite: Path | None, view: bool, terms_tokenizer: str, hnsw_ef: int = 64):
        self.client = client
        self.hnsw_ef = hnsw_ef                # HNSW search beam (at least k)
        self.collection = collection
        self._spaces = spaces                 # spec -> {"field": name, "dim": int}
        self.where = where                    # for messages: "generation g... (Milvus at ...)"
        self._lite = lite                     # the Lite directory this process opened (None on a server)
        self._view = view                     # True: a reader's private view, removed on close
        self.terms_tokenizer = terms_tokenizer
        self._cache: dict[str, OrderedDict] = {}
        self._cache_lock = threading.Lock()
        self._closed = False
        self.vocab: dict[str, int] | None = None   # term -> passages holding it, when the writer saved it
        with _Guard(f"asking {where} its version"):
            self.lite_engine = str(client.get_server_version()).startswith("milvus_lite")

    def _expr(self, where: Where | None) -> str:
        return where_expr(where, self.lite_engine)

    # ------------------------------------------------------------ helpers
    def _guard(self, what: str) -> _Guard:
        return _Guard(f"{what} on {self.where}")

    def _cached(self, kind: str, key, compute, size: int):
        """A per-reader LRU cache for each kind of answer (the generation never changes)."""
        with self._cache_lock:
            cache = self._cache.setdefault(kind, OrderedDict())
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        value = compute()
        with self._cache_lock:
            cache[key] = value
            while len(cache) > size:
                cache.popitem(last=False)
        return value

    def _iterate(self, expr: str, fields: list[str]):
        """Every row matching `expr`: one query when they are fewer than a query returns (16,384),
        else pages of a query iterator (each page is a query over the collection: slow on Lite)."""
        with self._guard("reading passages"):
            rows = self.client.query(self.collection, filter=expr, output_fields=fields, limit=MAX_TOPK)
        if len(rows) < MAX_TOPK:
            yield from rows
            return
        with self._guard("reading passages"):
            it = self.client.query_iterator(self.collection, batch_size=ITER_BATCH, filter=expr,
                                            output_fields=fields)
            try:
                while True:
                    page = it.next()
                    if not page:
                        break
                    yield from page
            finally:
                it.close()

    def _hits(self, result, absolute: bool) -> Hits:
        hits = []
        for hit in (result[0] if result else []):
            score = float(hit["distance"])
            key = hit.get("id", hit.get("key"))
            score = abs(score) if absolute else score
            hits.append((int(key), score))
        return hits

    def spaces(self) -> list[str]:
        return sorted(self._spaces)

    # ------------------------------------------------------------ reading
    def count(self, where: Where | None = None) -> int:
        def compute():
            if self.lite_engine and where is not None:   # Lite's count(*) with a filter reads every field
                return len(self.keys(where))
            with self._guard("counting passages"):
                res = self.client.query(self.collection, filter=self._expr(where), output_fields=["count(*)"])
            return int(res[0]["count(*)"])
        return self._cached("count", where, compute, size=4096)

    def keyword(self, weights: dict[str, float], k: int, where: Where | None = None, field: str = "text") -> Hits:
        if field not in KEYWORD_FIELDS:
            raise IndexMismatch(f"no keyword field {field!r}: one of {', '.join(KEYWORD_FIELDS)}")
        text = query_text(weights)
        if not text or k <= 0:
            return []
        with self._guard("keyword search"):
            res = self.client.search(self.collection, data=[text], anns_field=KEYWORD_FIELDS[field],
                                     limit=min(k, MAX_TOPK), filter=self._expr(where), output_fields=["key"],
                                     search_params={"metric_type": "BM25"})
        return [(key, score / REPEAT) for key, score in self._hits(res, absolute=True) if score > 0]

    def keyword_text(self, text: str, k: int, where: Where | None = None) -> Hits:
        """Milvus's own full-text search: the raw query text through Milvus's jieba analyser."""
        if not text.strip() or k <= 0:
            return []
        with self._guard("full-text search"):
            res = self.client.search(self.collection, data=[text], anns_field="text_bm25",
                                     limit=min(k, MAX_TOPK), filter=self._expr(where), output_fields=["key"],
                                     search_params={"metric_type": "BM25"})
        return [(key, score) for key, score in self._hits(res, absolute=True) if score > 0]

    def _space(self, space: str) -> dict:
        if space not in self._spaces:
            raise IndexMismatch(f"{self.where} holds no vectors for {space!r} (it has "
                                f"{', '.join(sorted(self._spaces)) or 'none'}): re-run `kb ingest`")
        return self._spaces[space]

    def _dense_params(self, k: int) -> dict:
        return {"metric_type": "IP", "params": {"ef": min(max(self.hnsw_ef, k), MAX_TOPK)}}

    def vector(self, space: str, query: np.ndarray, k: int, where: Where | None = None) -> Hits:
        info = self._space(space)
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if q.shape[0] != int(info["dim"]):
            raise IndexMismatch(f"a {q.shape[0]}-dim query for the {info['dim']}-dim space {space!r}")
        if k <= 0:
            return []
        with self._guard("vector search"):
            res = self.client.search(self.collection, data=[q.tolist()], anns_field=info["field"],
                                     limit=min(k, MAX_TOPK), filter=self._expr(where), output_fields=["key"],
                                     search_params=self._dense_params(k))
        return self._hits(res, absolute=False)

    def vectors_of(self, space: str, keys: list[int]) -> np.ndarray | None:
        """The stored vectors of these passages, in order (None when a key or the space is missing)."""
        info = self._spaces.get(space)
        if info is None:
            return None
        keys = [int(k) for k in keys]
        if not keys:
            return np.zeros((0, int(info["dim"])), dtype=np.float32)
        with self._guard("reading vectors"):
            res = self.client.get(self.collection, ids=keys, output_fields=[info["field"]])
        found = {int(r["key"]): r[info["field"]] for r in res}
        if any(k not in found for k in keys):
            return None
        return np.array([found[k] for k in keys], dtype=np.float32)

    def hybrid(self, weights: dict[str, float], queries: dict[str, np.ndarray], k: int,
               where: Where | None = None, rrf_k: int = 60) -> Hits:
        """Optional extra: Milvus's own `hybrid_search` (BM25 over our tokens plus each dense space) fused
        by its `RRFRanker`. The knowledge base fuses above the interface; this is Milvus's equivalent."""
        from pymilvus import AnnSearchRequest, RRFRanker

        expr = self._expr(where)
        limit = min(max(k, 1), MAX_TOPK)
        reqs = []
        text = query_text(weights)
        if text:
            reqs.append(AnnSearchRequest(data=[text], anns_field="terms_bm25", limit=limit,
                                         param={"metric_type": "BM25"}, expr=expr or None))
        for space, q in queries.items():
            info = self._space(space)
            reqs.append(AnnSearchRequest(data=[np.asarray(q, dtype=np.float32).reshape(-1).tolist()],
                                         anns_field=info["field"], limit=limit,
                                         param=self._dense_params(limit), expr=expr or None))
        if not reqs or k <= 0:
            return []
        with self._guard("hybrid search"):
            res = self.client.hybrid_search(self.collection, reqs=reqs, ranker=RRFRanker(rrf_k),
                                            limit=limit, output_fields=["key"])
        return self._hits(res, absolute=False)

    def keys(self, where: Where | None = None) -> np.ndarray:
        def compute():
            keys = np.fromiter((int(r["key"]) for r in self._iterate(self._expr(where), ["key"])), dtype=np.int64)
            keys.sort()
            keys.setflags(write=False)
            return keys
        return self._cached("keys", where, compute, size=32)

    def facets(self, where: Where | None = None) -> dict[str, dict]:
        def compute():
            counts = {name: Counter() for name in SCALAR_TAGS + LIST_TAGS}
            for r in self._iterate(self._expr(where), list(SCALAR_TAGS + LIST_TAGS)):
                for name in SCALAR_TAGS:        # values as strings, as the embedded backend gives them
                    if r.get(name) not in (None, ""):
                        counts[name][str(r[name])] += 1
                for name in LIST_TAGS:
                    counts[name].update({str(v) for v in r.get(name) or ()})
            return {name: dict(c) for name, c in counts.items()}
        return self._cached("facets", where, compute, size=256)

    def _term_hits(self, word: str, limit: int) -> list[int]:
        """Passages holding one token, by a BM25 search for it alone (every passage holding it scores
        above zero, no other does): Milvus's inverted index, where a text_match filter scans on Lite."""
        with self._guard("a term lookup"):
            res = self.client.search(self.collection, data=[word], anns_field="terms_bm25", limit=limit,
                                     output_fields=["key"], search_params={"metric_type": "BM25"})
        return [key for key, score in self._hits(res, absolute=True) if score > 0]

    def docs_with(self, token: str) -> frozenset[int]:
        word = term_text([token])
        if not word or " " in word or (self.vocab is not None and word not in self.vocab):
            return frozenset()

        def compute():
            keys = self._term_hits(word, MAX_TOPK)
            if len(keys) < MAX_TOPK:
                return frozenset(keys)
            # more passages than one search returns: page through a text_match filter instead
            expr = f"text_match(terms, {json.dumps(word, ensure_ascii=False)})"
            return frozenset(int(r["key"]) for r in self._iterate(expr, ["key"]))
        return self._cached("docs", word, compute, size=1024)

    def has_token(self, token: str) -> bool:
        """From the generation's vocabulary file (the translator checks every dictionary word against
        the corpus at start-up: ~67,000 calls, 3 ms each as Milvus searches); a search where there is none."""
        word = term_text([token])
        if not word or " " in word:
            return False
        if self.vocab is not None:
            return word in self.vocab
        return self._cached("has", word, lambda: bool(self._term_hits(word, 1)), size=65_536)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._view and self._lite is not None:
            _close(self.client, None)
            _drop_view(self._lite)
        else:
            _close(self.client, self._lite)

    # ------------------------------------------------------------ writing
    # (A writer is a MilvusWriter; these raise on a reader.)


class MilvusWriter(MilvusBackend, IndexWriter):
    """A new generation's collection. Rows of the previous generation are copied lazily (at the first
    add or at commit), without the documents deleted before that."""

    def __init__(self, client, collection: str, spaces: dict[str, dict], where: str, lite: Path | None,
                 terms_tokenizer: str, settings: Settings, previous: tuple | None, expected: int):
        super().__init__(client, collection, spaces, where, lite, False, terms_tokenizer, settings.hnsw_ef)
        self.settings = settings
        self._previous = previous            # (client, collection, lite view or None) to copy from
        self._excluded: set[str] = set()     # documents deleted before the copy
        self._created = False
        self._expected = expected            # the previous generation's passages
        self._rows = 0                       # passages in the new collection
        self._dense = _dense_index(expected, settings.flat_threshold)
        self._df: Counter = Counter()        # term -> passages holding it (saved as VOCAB_FILE)
        self.generation: Path | None = None

    def count(self, where: Where | None = None) -> int:
        """Passages in the index so far (before the copy: the previous generation's count)."""
        return self._rows if self._created else self._expected

    def _ensure_collection(self) -> None:
        """Create the collection with its indexes and load it (a server searches, queries and deletes
        only in a loaded collection), then copy the previous generation's rows."""
        if self._created:
            return
        with self._guard("creating the collection"):
            if self.client.has_collection(self.collection):
                self.client.drop_collection(self.collection)
            self.client.create_collection(self.collection,
                                          schema=_schema(self.client, self._spaces, self.terms_tokenizer),
                                          index_params=_index_params(self.client, self._spaces, self._dense))
            self.client.load_collection(self.collection)
        self._created = True
        self._copy_previous()

    def _copy_previous(self) -> None:
        if self._previous is None:
            return
        client, collection, view = self._previous
        self._previous = None
        fields = ["key", "doc_id", "text", "terms", "english", "kind", "doc_type", "doc_year", *LIST_TAGS, "tags",
                  *(s["field"] for s in self._spaces.values())]
        excluded = self._excluded      # left out here rather than by a `not in` filter, which Lite
        try:                           # evaluates row by row on every page
            with _Guard(f"copying the previous generation's collection {collection}"):
                it = client.query_iterator(collection, batch_size=ITER_BATCH, filter="", output_fields=fields)
                try:
                    while True:
                        page = it.next()
                        if not page:
                            break
                        batch = []
                        for r in page:
                            if r.get("doc_id") in excluded:
                                continue
                            rec = {f: r.get(f) for f in fields}
                            self._df.update(set((rec["terms"] or "").split()))
                            for s in self._spaces.values():
                                rec[s["field"]] = [float(x) for x in rec[s["field"]]]
                            batch.append(rec)
                        if batch:
                            with self._guard("inserting passages"):
                                self.client.insert(self.collection, batch)
                            self._rows += len(batch)
                finally:
                    it.close()
        finally:
            if view is not None:
                _close(client, None)
                _drop_view(view)

    def close(self) -> None:
        if self._previous is not None:       # a writer abandoned before it copied anything
            client, _, view = self._previous
            self._previous = None
            if view is not None:
                _close(client, None)
                _drop_view(view)
        super().close()

    def delete(self, doc_ids: list[str]) -> None:
        doc_ids = [d for d in dict.fromkeys(doc_ids) if d]
        if not doc_ids:
            return
        if not self._created:
            self._excluded.update(doc_ids)
            return
        for i in range(0, len(doc_ids), BATCH):
            chunk = doc_ids[i:i + BATCH]
            expr = f"doc_id in {json.dumps(chunk, ensure_ascii=False)}"
            for r in self._iterate(expr, ["terms"]):
                self._df.subtract(set((r.get("terms") or "").split()))
            with self._guard("deleting passages"):
                res = self.client.delete(self.collection,
                                         filter=f"doc_id in {json.dumps(chunk, ensure_ascii=False)}")
            self._rows -= int(res.get("delete_count", 0)) if isinstance(res, dict) else 0

    def add(self, rows: list[Row], vectors: dict[str, np.ndarray]) -> None:
        """Add passages; an empty add declares the vector spaces (and their sizes) up front."""
        if not self._created and not self._spaces:
            self._spaces = {spec: {"field": space_field(spec), "dim": int(np.asarray(v).shape[1])}
                            for spec, v in sorted(vectors.items())}
        if set(vectors) != set(self._spaces):
            raise IndexMismatch(f"vectors for {', '.join(sorted(vectors)) or 'no space'}; the collection holds "
                                f"{', '.join(sorted(self._spaces)) or 'none'}: the embedders changed, rebuild "
                                f"the knowledge base from scratch")
        for spec, v in vectors.items():
            shape = np.asarray(v).shape
            if len(shape) != 2 or shape[0] != len(rows) or shape[1] != int(self._spaces[spec]["dim"]):
                raise IndexMismatch(f"{spec}: vectors of shape {shape} for {len(rows)} passages of "
                                    f"{self._spaces[spec]['dim']} dimensions")
        self._ensure_collection()
        for i in range(0, len(rows), BATCH):
            batch = [_row_record(row, vectors, j, self._spaces)
                     for j, row in enumerate(rows[i:i + BATCH], start=i)]
            for rec in batch:
                self._df.update(set(rec["terms"].split()))
            with self._guard("inserting passages"):
                self.client.insert(self.collection, batch)
        self._rows += len(rows)

    def commit(self) -> dict:
        self._ensure_collection()
        with self._guard("sealing the collection"):
            self.client.flush(self.collection)
            rows = int(self.client.query(self.collection, filter="", output_fields=["count(*)"])[0]["count(*)"])
            dense = _dense_index(rows, self.settings.flat_threshold)
            if dense != self._dense and self._spaces:      # the generation crossed the flat threshold
                self.client.release_collection(self.collection)
                for space in self._spaces.values():
                    self.client.drop_index(self.collection, f"{space['field']}_idx")
                self.client.create_index(self.collection, _index_params(self.client, self._spaces, dense, False))
                self.client.load_collection(self.collection)
                self._dense = dense
            if self._lite is not None:     # a Lite directory carries its own alias, set before it is sealed
                _point_alias(self.client, alias_name(self.settings), self.collection)
        if self.generation is not None:
            vocab = {w: c for w, c in sorted(self._df.items()) if c > 0}
            (self.generation / VOCAB_FILE).write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        record = {
            "backend": NAME, "collection": self.collection, "alias": alias_name(self.settings),
            "target": "lite" if self._lite is not None else self.settings.milvus_target,
            "spaces": self._spaces, "terms_tokenizer": self.terms_tokenizer, "passages": rows,
            "dense_index": self._dense,
        }
        self.close()
        return record


def _alias_target(client, alias: str) -> str | None:
    """The collection an alias points at, or None (listed first: describe_alias logs an error for an
    alias that does not exist)."""
    if alias not in client.list_aliases().get("aliases", []):
        return None
    return client.describe_alias(alias).get("collection_name")


def _point_alias(client, alias: str, collection: str) -> None:
    if _alias_target(client, alias) is not None:
        client.alter_alias(collection_name=collection, alias=alias)
    else:
        client.create_alias(collection_name=collection, alias=alias)


# ---------------------------------------------------------------- the factory's functions

def _index_record(manifest: dict | None, generation: Path) -> dict:
    record = (manifest or {}).get("index")
    if not isinstance(record, dict) or record.get("backend") != NAME or not record.get("collection"):
        raise IndexMismatch(f"generation {generation.name} has no Milvus index (built with the "
                            f"{(record or {}).get('backend', 'embedded') if isinstance(record, dict) else 'embedded'} "
                            f"backend?)", hint="rebuild the knowledge base with KB_BACKEND=milvus (`kb ingest`)")
    return record


def _open_sealed(settings: Settings, generation: Path, record: dict, what: str):
    """(client, lite view or None) for a sealed generation's collection."""
    where = f"generation {generation.name}"
    if record.get("target") == "lite":
        view = _open_view(lite_dir(settings, generation))
        try:
            client = _connect(str(view), f"opening {what} of {where} (Milvus Lite)")
        except BaseException:
            _drop_view(view)
            raise
        return client, view, f"{where} (Milvus Lite)"
    if not is_server(settings):
        raise IndexMismatch(f"{where} was built on the Milvus server {record.get('target')}, but KB_MILVUS_URI "
                            f"names Milvus Lite", hint="set KB_MILVUS_URI to the server, or re-run `kb ingest`")
    uri = settings.milvus_target
    client = _connect(uri, f"opening {what} of {where} (Milvus at {uri})")
    return client, None, f"{where} (Milvus at {uri})"


def open_reader(settings: Settings, generation: Path, manifest: dict) -> MilvusBackend:
    """A sealed generation's collection, loaded for searching."""
    record = _index_record(manifest, generation)
    client, view, where = _open_sealed(settings, generation, record, "the index")
    reader = MilvusBackend(client, record["collection"], dict(record.get("spaces") or {}), where, view,
                           view is not None, record.get("terms_tokenizer", "standard"), settings.hnsw_ef)
    try:
        reader.vocab = json.loads((generation / VOCAB_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass                 # looked up in Milvus instead
    except (OSError, ValueError) as exc:
        reader.close()
        raise DamagedKnowledgeBase(f"{VOCAB_FILE} of generation {generation.name} is unreadable "
                                   f"({type(exc).__name__}): re-run `kb ingest`") from None
    try:
        with reader._guard("loading the collection"):
            if not client.has_collection(record["collection"]):
                raise DamagedKnowledgeBase(f"the collection {record['collection']} of {where} is missing: "
                                           f"re-run `kb ingest`")
            client.load_collection(record["collection"])
    except BaseException:
        reader.close()
        raise
    return reader


def _terms_tokenizer(client, probe: str) -> str:
    """`whitespace` where the server has it (Milvus 2.5+); `standard` (\\w+) on Milvus Lite, whose only
    other tokenizer is jieba. Our token text holds only \\w characters and spaces: both split it alike
    (a server's standard tokenizer would split Chinese into characters, hence the probe)."""
    from pymilvus import DataType, Function, FunctionType, MilvusException

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.INT64, is_primary=True)
    schema.add_field("terms", DataType.VARCHAR, max_length=64, enable_analyzer=True, enable_match=True,
                     analyzer_params={"tokenizer": "whitespace"})
    schema.add_field("terms_bm25", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="terms_bm25_fn", function_type=FunctionType.BM25,
                                 input_field_names=["terms"], output_field_names=["terms_bm25"]))
    try:
        if client.has_collection(probe):
            client.drop_collection(probe)
        client.create_collection(probe, schema=schema)
    except MilvusException:      # Milvus Lite rejects the tokenizer
        return "standard"
    client.drop_collection(probe)
    return "whitespace"


def _drop_orphans(settings: Settings, client) -> None:
    """Collections of this data directory whose generation folder is gone (a killed ingest's)."""
    prefix = alias_name(settings) + "_"
    gens = Path(settings.data_dir) / "generations"
    alive = {_NON_WORD.sub("_", g.name) for g in gens.iterdir()} if gens.is_dir() else set()
    live = _alias_target(client, alias_name(settings))
    for name in client.list_collections():
        if name.startswith(prefix) and name[len(prefix):] not in alive and name != live:
            client.drop_collection(name)


def open_writer(settings: Settings, generation: Path, previous: Path | None,
                previous_manifest: dict | None) -> MilvusWriter:
    """A new generation's collection, to be filled from the previous generation's. It starts empty (and
    `count()` is 0, so the caller adds every passage) when there is none, or when the previous index
    cannot be continued: built by another backend, on another Milvus, with another term analyser, or
    gone (logged)."""
    prev_record = (previous_manifest or {}).get("index") if previous is not None else None
    if not isinstance(prev_record, dict) or prev_record.get("backend") != NAME or not prev_record.get("collection"):
        prev_record = None
    target = settings.milvus_target if is_server(settings) else "lite"
    if prev_record is not None and prev_record.get("target") != target:
        log.warning("generation %s: the previous index is on %s, now %s: building from scratch",
                    generation.name, prev_record.get("target"), target)
        prev_record = None
    if target == "lite":
        lite = lite_dir(settings, generation)
        if lite.exists():                   # a killed ingest's leftovers in a fresh generation folder
            shutil.rmtree(lite)
        lite.parent.mkdir(parents=True, exist_ok=True)
        if settings.milvus_uri:             # Lite directories outside the generations: remove orphans
            gens = Path(settings.data_dir) / "generations"
            for old in lite.parent.glob("*.db"):
                if not (gens / old.stem).exists():
                    shutil.rmtree(old, ignore_errors=True)
        where = f"generation {generation.name} (Milvus Lite)"
        client = _connect(str(lite), f"opening {where}")
    else:
        lite = None
        where = f"generation {generation.name} (Milvus at {target})"
        client = _connect(target, f"opening {where}")
    source = None
    try:
        if lite is None:
            with _Guard(f"preparing {where}"):
                _drop_orphans(settings, client)
                tokenizer = _terms_tokenizer(client, f"{alias_name(settings)}_probe")
        else:
            tokenizer = "standard"
        if prev_record is not None and prev_record.get("terms_tokenizer", tokenizer) != tokenizer:
            log.warning("generation %s: the previous index analysed terms with %s, this Milvus with %s: "
                        "building from scratch", generation.name, prev_record.get("terms_tokenizer"), tokenizer)
            prev_record = None
        if prev_record is not None:
            source = _previous_source(settings, previous, prev_record, client if lite is None else None)
            if source is None:
                prev_record = None
    except BaseException:
        _close(client, lite)
        raise
    spaces = dict((prev_record or {}).get("spaces") or {})
    expected = int((prev_record or {}).get("passages") or 0)
    writer = MilvusWriter(client, collection_name(settings, generation), spaces, where, lite, tokenizer,
                          settings, source, expected)
    writer.generation = generation
    return writer


def _previous_source(settings: Settings, previous: Path, record: dict, server_client):
    """(client, collection, Lite view or None) to copy the previous generation's rows from, loaded; None
    (logged) when its collection or Lite directory is gone or unreadable."""
    client, view = server_client, None
    try:
        if client is None:
            client, view, _ = _open_sealed(settings, previous, record, "the previous index")
        with _Guard(f"opening the previous generation {previous.name}"):
            if not client.has_collection(record["collection"]):
                raise DamagedKnowledgeBase(f"the collection {record['collection']} is missing")
            client.load_collection(record["collection"])
        return client, record["collection"], view
    except KBError as exc:
        log.warning("generation %s: cannot continue from its index (%s): building from scratch",
                    previous.name, exc.one_line())
        if view is not None:
            _close(client, None)
            _drop_view(view)
        return None


def publish(settings: Settings, generation: Path, manifest: dict) -> None:
    """Point the data directory's alias at the generation's collection (on a server: one atomic alias
    change). On Milvus Lite every generation's directory already holds its alias, set at commit, and
    `CURRENT` is the switch."""
    record = _index_record(manifest, generation)
    if record.get("target") == "lite":
        return
    uri = settings.milvus_target
    client = _connect(uri, f"publishing generation {generation.name} (Milvus at {uri})")
    try:
        with _Guard(f"publishing generation {generation.name} (Milvus at {uri})"):
            if not client.has_collection(record["collection"]):
                raise DamagedKnowledgeBase(f"the collection {record['collection']} of generation "
                                           f"{generation.name} is missing: re-run `kb ingest`")
            _point_alias(client, record.get("alias") or alias_name(settings), record["collection"])
    finally:
        _close(client, None)


def drop(settings: Settings, generation: Path, manifest: dict) -> None:
    """Release what a removed generation holds: its Lite directory, or its collection on the server
    (never the one the alias points at)."""
    record = (manifest or {}).get("index")
    if not isinstance(record, dict) or record.get("backend") != NAME:
        return
    if record.get("target") == "lite":
        shutil.rmtree(lite_dir(settings, generation), ignore_errors=True)
        return
    uri = settings.milvus_target
    client = _connect(uri, f"dropping generation {generation.name} (Milvus at {uri})")
    try:
        with _Guard(f"dropping generation {generation.name} (Milvus at {uri})"):
            live = _alias_target(client, record.get("alias") or alias_name(settings))
            if record["collection"] != live and client.has_collection(record["collection"]):
                client.drop_collection(record["collection"])
    finally:
        _close(client, None)
