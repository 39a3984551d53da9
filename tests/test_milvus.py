"""The Milvus backend on real Milvus Lite (no mocks): a small synthetic set with exact expectations
computed by plain Python (filters, counts, facets, term lookups) and by our own BM25 (`kb.keyword`),
a few real passages of the report, the generation switch, readers in threads and in another process,
and a real Milvus gRPC server (`python -m milvus_lite server`) for the alias switch and `drop`.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from kb.backends import milvus as M
from kb.backends.base import Row, Where, bm25_weights
from kb.errors import BackendUnavailable, DamagedKnowledgeBase, IndexMismatch, KBError
from kb.settings import PROJECT_ROOT, Settings

SPACE = "test:space"
DIM = 24
VOCAB = ["无废城市", "固体废物", "垃圾分类", "塑料", "污染", "治理", "综合利用", "回收", "填埋", "焚烧",
         "pm2.5", "c++", "危险废物", "试点", "建设"]
ENGLISH = ["zero", "waste", "city", "landfill", "incineration", "sorting", "plastic", "pilot"]
PLACES = [["广东省", "深圳市"], ["广东省", "广州市"], ["北京市"], []]


def _settings(data_dir: Path, **changes) -> Settings:
    return Settings(data_dir=data_dir, backend="milvus", **changes)


def _rows(n_docs: int, per_doc: int, seed: int, first_key: int = 0, prefix: str = "d"):
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(n_docs):
        for j in range(per_doc):
            i = first_key + d * per_doc + j
            tokens = [str(t) for t in rng.choice(VOCAB, size=int(rng.integers(3, 12)), p=_zipf(len(VOCAB)))]
            english = [str(t) for t in rng.choice(ENGLISH, size=int(rng.integers(0, 6)))]
            rows.append(Row(
                key=i, doc_id=f"{prefix}{d}", tokens=tokens, text="，".join(tokens) + "。", english=english,
                kind=["policy", "report", "notice"][i % 3], doc_type=["plan", "report"][d % 2],
                doc_year=None if d == 0 else 2020 + d,
                domain=[["waste"], ["water", "cross_cutting"], ["crossocutting"], []][i % 4],
                instrument=[["subsidy"], [], ["standard", "subsidy"]][j % 3],
                year=[[2023], [2024, 2025], []][(i + d) % 3],
                places=PLACES[i % 4]))
    vectors = rng.normal(size=(len(rows), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return rows, vectors


def _zipf(n: int) -> np.ndarray:
    p = 1.0 / np.arange(1, n + 1)
    return p / p.sum()


def _matches(row: Row, where: Where | None) -> bool:
    if where is None:
        return True
    return ((where.kind is None or row.kind == where.kind)
            and (where.doc_type is None or row.doc_type == where.doc_type)
            and (where.doc_year is None or row.doc_year == where.doc_year)
            and (where.domain is None or where.domain in row.domain)
            and (where.instrument is None or where.instrument in row.instrument)
            and (where.year is None or where.year in row.year)
            and (where.place is None or where.place in row.places))


WHERES = [None, Where(kind="policy"), Where(doc_type="plan"), Where(doc_year=2022), Where(domain="water"),
          Where(domain="cross_cutting"),             # "_" is a LIKE wildcard: "crossocutting" must not match
          Where(instrument="standard"), Where(year=2024), Where(place="广东省"), Where(place="深圳市"),
          Where(kind="report", place="广东省", year=2023), Where(doc_year=1999)]


def _build(settings: Settings, name: str, rows, vectors, previous=None, deleted=(), batches=2) -> dict:
    gen = settings.data_dir / "generations" / name
    gen.mkdir(parents=True, exist_ok=True)
    prev_gen, prev_manifest = previous if previous else (None, None)
    writer = M.open_writer(settings, gen, prev_gen, prev_manifest)      # as kb/build.py drives it
    if previous:
        assert writer.count() == prev_manifest["index"]["passages"]
        writer.delete(list(deleted))
    else:
        assert writer.count() == 0
    writer.add([], {SPACE: np.zeros((0, vectors.shape[1]), np.float32)})   # declares the space
    step = max(1, -(-len(rows) // batches))
    for i in range(0, len(rows), step):
        writer.add(rows[i:i + step], {SPACE: vectors[i:i + step]})
    manifest = {"index": writer.commit()}
    M.publish(settings, gen, manifest)
    return manifest


def _vocab(rows) -> dict:
    """Each token (as the terms field writes it) -> the passages holding it."""
    return dict(Counter(w for r in rows for w in set(M.term_text(r.tokens).split())))


def _tree_digest(path: Path) -> dict:
    return {str(f.relative_to(path)): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in sorted(path.rglob("*")) if f.is_file()}


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    """Generation g1 (60 passages, 6 documents) on Milvus Lite, and a reader of it."""
    settings = _settings(tmp_path_factory.mktemp("milvus-data"))
    rows, vectors = _rows(6, 10, seed=1)
    started = time.perf_counter()
    manifest = _build(settings, "g1", rows, vectors)
    build_s = time.perf_counter() - started
    gen = settings.data_dir / "generations" / "g1"
    reader = M.open_reader(settings, gen, manifest)
    yield {"settings": settings, "rows": rows, "vectors": vectors, "manifest": manifest, "gen": gen,
           "reader": reader, "build_s": build_s}
    reader.close()


# ------------------------------------------------------------------ keyword search

def _bm25(docs: list[list[str]], weights: dict[str, float]) -> np.ndarray:
    """Plain Okapi BM25 (k1 1.2, b 0.75) with weighted query terms, through base.bm25_weights."""
    n = len(docs)
    lengths = np.array([len(d) for d in docs], dtype=np.float64)
    avg = float(lengths.mean()) if n else 1.0
    df = Counter(t for d in docs for t in set(d))
    scores = np.zeros(n, dtype=np.float64)
    for term, w in weights.items():
        if w <= 0 or not df[term]:
            continue
        tf = np.array([d.count(term) for d in docs], dtype=np.float64)
        has = tf > 0
        scores[has] += w * bm25_weights(tf[has], np.full(has.sum(), df[term]), lengths[has], n, avg)
    return scores


def _reference(rows, weights, k, where=None, field="tokens"):
    scores = _bm25([getattr(r, field) for r in rows], weights)
    ranked = [(rows[i].key, float(scores[i])) for i in np.argsort(-scores, kind="stable")
              if scores[i] > 0 and _matches(rows[i], where)]
    return ranked[:k]


def _same_ranking(got, want):
    """Same scores rank by rank (to float32 precision), same keys up to the order of ties."""
    assert len(got) == len(want)
    assert np.allclose([s for _, s in got], [s for _, s in want], rtol=1e-4, atol=1e-5), (got, want)
    groups = lambda hits: Counter((round(s, 3), k) for k, s in hits)
    cut = want[-1][1] if want else 0.0       # keys tied with the last score may differ
    assert {k for k, s in got if s > cut + 1e-4} == {k for k, s in want if s > cut + 1e-4}
    assert groups([h for h in got if h[1] > cut + 1e-4]) == groups([h for h in want if h[1] > cut + 1e-4])


@pytest.mark.parametrize("weights", [{"无废城市": 1.0}, {"焚烧": 1.0, "填埋": 0.5},
                                     {"pm2.5": 1.0, "c++": 0.35, "试点": 0.7}, {"危险废物": 1.0, "建设": 0.05}])
def test_keyword_scores_equal_our_bm25(lite, weights):
    """Milvus's BM25 over our tokens scores exactly as kb.keyword's (same tokens, idf, k1, b, weights)."""
    got = lite["reader"].keyword(weights, 10)
    assert got, weights
    _same_ranking(got, _reference(lite["rows"], weights, 10))


def test_english_keyword_field(lite):
    """keyword(field="english"): the passages' English side, a second BM25 field, same scores as ours."""
    reader, rows = lite["reader"], lite["rows"]
    for weights in ({"waste": 1.0}, {"landfill": 1.0, "pilot": 0.35}):
        got = reader.keyword(weights, 10, field="english")
        assert got
        _same_ranking(got, _reference(rows, weights, 10, field="english"))
    assert reader.keyword({"焚烧": 1.0}, 10, field="english") == []
    with pytest.raises(IndexMismatch):
        reader.keyword({"waste": 1.0}, 10, field="french")


def test_keyword_weights_and_filters(lite):
    reader, rows = lite["reader"], lite["rows"]
    where = Where(place="广东省")
    got = reader.keyword({"焚烧": 1.0, "回收": 0.5}, 20, where)
    assert got and all(_matches(next(r for r in rows if r.key == k), where) for k, _ in got)
    _same_ranking(got, _reference(rows, {"焚烧": 1.0, "回收": 0.5}, 20, where))
    # a lower weight lowers that term's share of the score
    half = dict(reader.keyword({"回收": 0.5}, 60))
    full = dict(reader.keyword({"回收": 1.0}, 60))
    assert half.keys() == full.keys() and all(abs(full[k] - 2 * half[k]) < 1e-4 for k in full)
    assert reader.keyword({"不存在的词": 1.0}, 10) == []
    assert reader.keyword({}, 10) == []
    assert reader.keyword({"无废城市": 0.0}, 10) == []


def test_real_passages_keyword_parity(tmp_path):
    """A few real passages of the report, tokenized by our segmenter: same scores as our BM25; and
    Milvus's own jieba full-text search (`keyword_text`) finds a phrase's passage."""
    from kb.text import segmenter

    lines = [ln.strip() for ln in (PROJECT_ROOT / "corpus" / "zero-waste-cities-2024.txt")
             .read_text(encoding="utf-8").splitlines() if len(ln.strip()) >= 40][:40]
    seg = segmenter()
    rows = [Row(key=100 + i, doc_id=f"r{i // 10}", tokens=seg.tokens(ln), text=ln, kind="passage",
                doc_type="report", doc_year=2024) for i, ln in enumerate(lines)]
    vectors = np.random.default_rng(4).normal(size=(len(rows), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    settings = _settings(tmp_path / "data", flat_threshold=20)      # above it: HNSW, as a large corpus gets
    manifest = _build(settings, "g1", rows, vectors, batches=1)
    assert manifest["index"]["dense_index"] == "HNSW"
    reader = M.open_reader(settings, settings.data_dir / "generations" / "g1", manifest)
    try:
        assert [reader.vector(SPACE, vectors[i], 1)[0][0] for i in range(len(rows))] == [r.key for r in rows]
        for i in (3, 17, 31):
            words = seg.words(lines[i])[:4]
            weights = {w: (1.0 if n % 2 == 0 else 0.5) for n, w in enumerate(words)}
            _same_ranking(reader.keyword(weights, 5), _reference(rows, weights, 5))
        phrase = seg.words(lines[17])
        top = reader.keyword_text("".join(phrase[:3]), 3)
        assert top and top[0][0] == rows[17].key or any(k == rows[17].key for k, _ in top)
        assert reader.has_token(rows[5].tokens[0]) and reader.keys().tolist() == [r.key for r in rows]
    finally:
        reader.close()
    (settings.data_dir / "generations" / "g1" / M.VOCAB_FILE).unlink()      # no vocabulary: Milvus lookups
    reader = M.open_reader(settings, settings.data_dir / "generations" / "g1", manifest)
    try:
        assert reader.vocab is None and reader.has_token(rows[5].tokens[0]) and not reader.has_token("无此词")
        assert reader.docs_with(rows[5].tokens[0]) == frozenset(r.key for r in rows if rows[5].tokens[0] in r.tokens)
    finally:
        reader.close()


# ------------------------------------------------------------------ vectors, filters, counts, facets

def test_vector_search(lite):
    reader, rows, vectors = lite["reader"], lite["rows"], lite["vectors"]
    got = reader.vector(SPACE, vectors[7], 5)
    assert got[0][0] == rows[7].key and abs(got[0][1] - 1.0) < 1e-4
    want = np.argsort(-(vectors @ vectors[7]))[:5]
    assert [k for k, _ in got] == [rows[i].key for i in want]
    where = Where(kind="notice", year=2024)
    allowed = [i for i, r in enumerate(rows) if _matches(r, where)]
    got = reader.vector(SPACE, vectors[7], 50, where)
    assert sorted(k for k, _ in got) == sorted(rows[i].key for i in allowed)
    assert reader.spaces() == [SPACE]
    assert np.allclose(reader.vectors_of(SPACE, [rows[9].key, rows[2].key]), vectors[[9, 2]], atol=1e-6)
    assert reader.vectors_of(SPACE, [rows[0].key, 10**9]) is None and reader.vectors_of("other", [0]) is None
    with pytest.raises(IndexMismatch):
        reader.vector("other:space", vectors[0], 3)
    with pytest.raises(IndexMismatch):
        reader.vector(SPACE, vectors[0][:5], 3)


@pytest.fixture(scope="module")
def array_reader(lite):
    """A second reader that filters list tags with array_contains on their ARRAY fields, as on a Milvus
    server (on the Lite engine the backend uses a LIKE on `tags`): both forms must select alike."""
    reader = M.open_reader(lite["settings"], lite["gen"], lite["manifest"])
    assert reader.lite_engine
    reader.lite_engine = False
    yield reader
    reader.close()


@pytest.mark.parametrize("form", ["like", "array_contains"])
@pytest.mark.parametrize("where", WHERES, ids=repr)
def test_filters_count_keys(lite, array_reader, where, form):
    reader, rows = (lite["reader"] if form == "like" else array_reader), lite["rows"]
    assert M.where_expr(where, reader.lite_engine).count("array_contains") == (
        0 if form == "like" or where is None else sum(v is not None for v in (where.domain, where.instrument,
                                                                               where.place, where.year)))
    want = sorted(r.key for r in rows if _matches(r, where))
    assert reader.count(where) == len(want)
    keys = reader.keys(where)
    assert keys.dtype == np.int64 and keys.tolist() == want
    hits = reader.vector(SPACE, lite["vectors"][0], 100, where)
    assert sorted(k for k, _ in hits) == want


def test_place_hierarchy(lite):
    """A province matches passages of its cities: `places` holds every containing place."""
    reader = lite["reader"]
    assert reader.count(Where(place="广东省")) == reader.count(Where(place="深圳市")) + reader.count(Where(place="广州市"))
    assert reader.count(Where(place="广州市")) > 0


@pytest.mark.parametrize("form", ["like", "array_contains"])
def test_facets(lite, array_reader, form):
    reader, rows = (lite["reader"] if form == "like" else array_reader), lite["rows"]
    for where in (None, Where(place="广东省"), Where(doc_type="report", year=2024)):
        chosen = [r for r in rows if _matches(r, where)]
        want = {"kind": Counter(r.kind for r in chosen), "doc_type": Counter(r.doc_type for r in chosen),
                "doc_year": Counter(str(r.doc_year) for r in chosen if r.doc_year is not None)}
        for name in ("domain", "instrument", "year", "places"):        # values as strings, as embedded
            want[name] = Counter(str(v) for r in chosen for v in set(getattr(r, name)))
        assert reader.facets(where) == {name: dict(c) for name, c in want.items()}


def test_docs_with_and_has_token(lite):
    reader, rows = lite["reader"], lite["rows"]
    for token in ("无废城市", "pm2.5", "c++", "焚烧"):
        assert reader.docs_with(token) == frozenset(r.key for r in rows if token in r.tokens)
        assert reader.has_token(token) is any(token in r.tokens for r in rows)
    assert reader.docs_with("没有这个词") == frozenset() and not reader.has_token("没有这个词")
    assert not reader.has_token("无废") and not reader.has_token("")     # whole tokens only


def test_docs_with_beyond_one_search(lite, monkeypatch):
    """A token in more passages than one search returns is paged through a text_match filter; more rows
    than one query returns are paged through a query iterator."""
    rows = lite["rows"]
    monkeypatch.setattr(M, "MAX_TOPK", 5)
    reader = M.open_reader(lite["settings"], lite["gen"], lite["manifest"])     # a fresh cache
    try:
        for token in ("无废城市", "塑料"):
            want = frozenset(r.key for r in rows if token in r.tokens)
            assert len(want) > 5 and reader.docs_with(token) == want
        assert len(reader.keyword({"塑料": 1.0}, 50)) == 5           # a search's top-k is clamped
        where = Where(place="广东省")                                  # reads page through an iterator
        assert reader.keys().tolist() == sorted(r.key for r in rows)
        assert reader.count(where) == sum(_matches(r, where) for r in rows)
        assert reader.facets(where)["kind"] == dict(Counter(r.kind for r in rows if _matches(r, where)))
    finally:
        reader.close()


def test_hybrid_search(lite):
    """Milvus's own hybrid_search with RRFRanker: BM25 over our tokens plus the dense space."""
    reader, rows, vectors = lite["reader"], lite["rows"], lite["vectors"]
    got = reader.hybrid({"焚烧": 1.0}, {SPACE: vectors[11]}, 5, Where(kind=rows[11].kind))
    assert got[0][0] == rows[11].key or rows[11].key in {k for k, _ in got}
    assert all(_matches(next(r for r in rows if r.key == k), Where(kind=rows[11].kind)) for k, _ in got)


# ------------------------------------------------------------------ generations

def test_writer_from_previous_delete_and_switch(lite):
    """g2 starts from g1, drops a document and adds one; g1's reader is untouched throughout, and the
    sealed Lite directory of g1 is byte-identical after readers used it."""
    settings, rows, vectors = lite["settings"], lite["rows"], lite["vectors"]
    g1 = lite["gen"]
    sealed_before = _tree_digest(M.lite_dir(settings, g1))
    new_rows, new_vectors = _rows(1, 5, seed=7, first_key=1000, prefix="n")
    manifest2 = _build(settings, "g2", new_rows, new_vectors, previous=(g1, lite["manifest"]), deleted=["d2"])
    g2 = settings.data_dir / "generations" / "g2"
    reader2 = M.open_reader(settings, g2, manifest2)
    try:
        kept = [r for r in rows if r.doc_id != "d2"] + new_rows
        assert reader2.count() == len(kept) == manifest2["index"]["passages"]
        assert reader2.keys().tolist() == sorted(r.key for r in kept)
        assert reader2.count(Where(place="广东省")) == sum(_matches(r, Where(place="广东省")) for r in kept)
        _same_ranking(reader2.keyword({"焚烧": 1.0, "回收": 0.5}, 10), _reference(kept, {"焚烧": 1.0, "回收": 0.5}, 10))
        assert reader2.vector(SPACE, new_vectors[2], 1)[0][0] == new_rows[2].key
        assert reader2.docs_with("焚烧") == frozenset(r.key for r in kept if "焚烧" in r.tokens)
        assert json.loads((g2 / M.VOCAB_FILE).read_text(encoding="utf-8")) == _vocab(kept)
        # the served generation still answers as before
        assert lite["reader"].count() == len(rows)
        assert lite["reader"].vector(SPACE, vectors[25], 1)[0][0] == rows[25].key
    finally:
        reader2.close()
    # a delete after adds: of copied passages and of passages added by the same writer
    gen3 = settings.data_dir / "generations" / "g3"
    gen3.mkdir()
    more_rows, more_vectors = _rows(1, 3, seed=9, first_key=2000, prefix="m")
    writer = M.open_writer(settings, gen3, g2, manifest2)
    writer.add(more_rows, {SPACE: more_vectors})
    writer.delete(["m0", "d3"])
    manifest3 = {"index": writer.commit()}
    reader3 = M.open_reader(settings, gen3, manifest3)
    try:
        kept3 = [r for r in kept if r.doc_id != "d3"]
        assert reader3.keys().tolist() == sorted(r.key for r in kept3)
        assert json.loads((gen3 / M.VOCAB_FILE).read_text(encoding="utf-8")) == _vocab(kept3)
    finally:
        reader3.close()
    # nothing changed: kb/build.py adds nothing, the commit copies every passage
    gen5 = settings.data_dir / "generations" / "g5"
    gen5.mkdir()
    writer = M.open_writer(settings, gen5, gen3, manifest3)
    assert writer.count() == len(kept3)
    manifest5 = {"index": writer.commit()}
    assert manifest5["index"]["passages"] == len(kept3)
    assert json.loads((gen5 / M.VOCAB_FILE).read_text(encoding="utf-8")) == _vocab(kept3)
    assert _tree_digest(M.lite_dir(settings, g1)) == sealed_before
    with pytest.raises(IndexMismatch):      # another embedder's vectors cannot join the collection
        writer = M.open_writer(settings, settings.data_dir / "generations" / "g4", g2, manifest2)
        try:
            writer.add(new_rows[:1], {"other:space": new_vectors[:1]})
        finally:
            writer.close()
    M.drop(settings, gen3, manifest3)
    assert not M.lite_dir(settings, gen3).exists()


def test_writer_starts_empty_when_the_previous_index_cannot_continue(lite, tmp_path, caplog):
    """Built by the embedded backend, on another Milvus, or gone: the writer starts empty (count 0), so
    kb/build.py adds every passage."""
    settings, g1, manifest = lite["settings"], lite["gen"], lite["manifest"]
    cases = [({"index": {"backend": "embedded"}}, settings),
             ({"index": {**manifest["index"], "target": "http://elsewhere:19530"}}, settings),
             (manifest, _settings(settings.data_dir, milvus_uri=str(tmp_path / "lite-root")))]   # dir not there
    for i, (prev, s) in enumerate(cases):
        gen = settings.data_dir / "generations" / f"e{i}"
        gen.mkdir()
        writer = M.open_writer(s, gen, g1, prev)
        try:
            assert writer.count() == 0
        finally:
            writer.close()
    assert "building from scratch" in caplog.text


def test_threads_and_two_readers(lite):
    """Two readers of one generation in one process, and many threads on each: same answers."""
    settings, vectors = lite["settings"], lite["vectors"]
    other = M.open_reader(settings, lite["gen"], lite["manifest"])
    try:
        jobs = [(r, i) for i in range(24) for r in (lite["reader"], other)]

        def run(job):
            reader, i = job
            return (reader.vector(SPACE, vectors[i], 3), reader.keyword({VOCAB[i % len(VOCAB)]: 1.0}, 5),
                    reader.count(WHERES[i % len(WHERES)]))
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(run, jobs))
        serial = [run(job) for job in jobs]
        assert results == serial
        for (_, i), (vec, _, _) in zip(jobs, results):
            assert vec[0][0] == lite["rows"][i].key
    finally:
        other.close()


def test_reader_in_another_process(lite):
    """Milvus Lite locks its directory per process: a second process reads the same generation (through
    its own view) while this one holds a reader."""
    code = (
        "import json, sys; from pathlib import Path; from kb.settings import Settings; "
        "from kb.backends import milvus as M; "
        "s = Settings(data_dir=Path(sys.argv[1]), backend='milvus'); "
        "r = M.open_reader(s, Path(sys.argv[2]), json.loads(sys.argv[3])); "
        "print(r.count(), r.keyword({'焚烧': 1.0}, 1)[0][0]); r.close()")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    out = subprocess.run([sys.executable, "-c", code, str(lite["settings"].data_dir), str(lite["gen"]),
                          json.dumps(lite["manifest"])], capture_output=True, text=True, env=env, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    count, top = out.stdout.split()
    assert int(count) == len(lite["rows"])
    assert int(top) == lite["reader"].keyword({"焚烧": 1.0}, 1)[0][0]


# ------------------------------------------------------------------ bad state

def test_bad_state_is_one_line(lite, tmp_path):
    settings = lite["settings"]
    with pytest.raises(IndexMismatch):
        M.open_reader(settings, lite["gen"], {"index": {"backend": "embedded"}})
    with pytest.raises(DamagedKnowledgeBase):      # the Lite directory is gone
        M.open_reader(settings, tmp_path / "generations" / "gone", lite["manifest"])
    broken = {"index": {**lite["manifest"]["index"], "collection": "kb_nope_g0"}}
    with pytest.raises(DamagedKnowledgeBase) as err:
        M.open_reader(settings, lite["gen"], broken)
    assert "\n" not in err.value.one_line()
    down = _settings(tmp_path / "d2", milvus_uri="http://127.0.0.1:9")
    with pytest.raises(BackendUnavailable) as err:
        M.open_writer(down, tmp_path / "d2" / "generations" / "g1", None, None)
    assert "unreachable" in err.value.one_line() and "\n" not in err.value.one_line()
    assert isinstance(err.value, KBError)


# ------------------------------------------------------------------ a Milvus server: alias and drop

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory):
    """A real Milvus gRPC server (Milvus Lite's standalone mode) in its own process."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir",
                             str(tmp_path_factory.mktemp("milvus-server")), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=20)


def test_server_alias_switch_and_drop(milvus_server, tmp_path):
    """On a server: one collection per generation, named per data directory; publish moves the alias;
    drop removes an old generation's collection but never the live one."""
    from pymilvus import MilvusClient

    a = _settings(tmp_path / "a", milvus_uri=milvus_server)
    b = _settings(tmp_path / "b", milvus_uri=milvus_server)
    rows, vectors = _rows(2, 4, seed=3)
    m1 = _build(a, "g1", rows, vectors)
    mb = _build(b, "g1", rows, vectors)
    assert m1["index"]["collection"] != mb["index"]["collection"]          # two data dirs, one server
    client = MilvusClient(uri=milvus_server)
    try:
        alias = M.alias_name(a)
        assert M._alias_target(client, alias) == m1["index"]["collection"]
        g1 = a.data_dir / "generations" / "g1"
        reader1 = M.open_reader(a, g1, m1)
        new_rows, new_vectors = _rows(1, 2, seed=5, first_key=500, prefix="n")
        m2 = _build(a, "g2", new_rows, new_vectors, previous=(g1, m1), deleted=["d1"])
        assert M._alias_target(client, alias) == m2["index"]["collection"]
        assert reader1.count() == len(rows)           # the old generation is served until dropped
        reader2 = M.open_reader(a, a.data_dir / "generations" / "g2", m2)
        kept = [r for r in rows if r.doc_id != "d1"] + new_rows
        assert reader2.keys().tolist() == sorted(r.key for r in kept)
        _same_ranking(reader2.keyword({"焚烧": 1.0, "塑料": 0.5}, 5), _reference(kept, {"焚烧": 1.0, "塑料": 0.5}, 5))
        assert reader2.vector(SPACE, new_vectors[1], 1)[0][0] == new_rows[1].key
        reader2.close()
        M.drop(a, a.data_dir / "generations" / "g2", m2)      # the live one: kept
        assert client.has_collection(m2["index"]["collection"])
        reader1.close()
        M.drop(a, g1, m1)
        assert not client.has_collection(m1["index"]["collection"])
        assert client.has_collection(mb["index"]["collection"])   # the other data dir's is untouched
        # a killed ingest's collection (no generation folder any more) is removed by the next ingest
        client.create_collection(f"{alias}_gdead", dimension=2)
        (a.data_dir / "generations" / "g3").mkdir()
        M.open_writer(a, a.data_dir / "generations" / "g3", None, None).close()
        assert not client.has_collection(f"{alias}_gdead")
        with pytest.raises(DamagedKnowledgeBase):
            M.open_reader(a, g1, m1)
    finally:
        client.close()
