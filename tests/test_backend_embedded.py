"""The embedded search backend on synthetic rows: BM25 against a plain reference, exact and approximate
vector search with filters, tag postings, deletes and a generation started from the previous one."""
from __future__ import annotations

import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from kb.backends import Row, Where, embedded
from kb.errors import DamagedKnowledgeBase, IndexMismatch
from kb.settings import Settings

WORDS = ["磷石膏", "综合利用", "危险废物", "收集", "小微企业", "垃圾分类", "餐厨", "填埋", "焚烧", "建筑垃圾",
         "秸秆", "塑料", "电池", "回收", "尾矿", "污泥"]
PLACES = [["贵州省", "贵阳市"], ["四川省", "德阳市"], ["四川省"], ["江苏省", "苏州市"], []]
DOCS = ["d1", "d2", "d3", "d4"]
DIM = 16


def make_rows(n: int, seed: int = 3, first_key: int = 1) -> tuple[list[Row], np.ndarray]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        tokens = list(rng.choice(WORDS, size=int(rng.integers(3, 12))))
        rows.append(Row(key=first_key + i, doc_id=DOCS[i * len(DOCS) // n], tokens=tokens, text="".join(tokens),
                        kind=["case_study", "regional_action", "other"][i % 3],
                        doc_type=["report", "work_report"][i % 2], doc_year=2019 + i % 5,
                        domain=["solid_waste"] if i % 4 else ["hazardous_waste", "solid_waste"],
                        instrument=["regulation"] if i % 5 == 0 else [], year=[2020 + i % 3, 2024],
                        places=PLACES[i % len(PLACES)]))
    m = rng.standard_normal((n, DIM)).astype(np.float32)
    return rows, m / np.linalg.norm(m, axis=1, keepdims=True)


def build(tmp_path, rows, vecs, name="g1", previous=None, delete=(), **settings):
    gen = tmp_path / name
    gen.mkdir()
    s = Settings(data_dir=tmp_path, **settings)
    writer = embedded.open_writer(s, gen, previous, {"index": {"backend": "embedded"}} if previous else None)
    if delete:
        writer.delete(list(delete))
    for i in range(0, len(rows), 500):
        writer.add(rows[i:i + 500], {"emb": vecs[i:i + 500]})
    meta = writer.commit()
    return embedded.open_reader(s, gen, {"index": meta}), meta


def reference_bm25(rows, weights, k1=1.2, b=0.75):
    n = len(rows)
    avg = sum(len(r.tokens) for r in rows) / n
    df = Counter(t for r in rows for t in set(r.tokens))
    out = {}
    for r in rows:
        tf = Counter(r.tokens)
        s = 0.0
        for t, w in weights.items():
            if tf[t]:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                s += w * idf * tf[t] * (k1 + 1) / (tf[t] + k1 * (1 - b + b * len(r.tokens) / avg))
        if s > 0:
            out[r.key] = s
    return out


def allowed(rows, where: Where) -> set[int]:
    keep = set()
    for r in rows:
        if where.kind and r.kind != where.kind or where.doc_type and r.doc_type != where.doc_type:
            continue
        if where.doc_year is not None and r.doc_year != where.doc_year:
            continue
        if where.domain and where.domain not in r.domain or where.instrument and where.instrument not in r.instrument:
            continue
        if where.year is not None and where.year not in r.year or where.place and where.place not in r.places:
            continue
        keep.add(r.key)
    return keep


FILTERS = [Where(kind="case_study"), Where(place="四川省"), Where(place="贵阳市", doc_type="report"),
           Where(year=2021, domain="hazardous_waste"), Where(instrument="regulation", doc_year=2020),
           Where(place="北京市")]


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    rows, vecs = make_rows(300)
    reader, meta = build(tmp_path_factory.mktemp("flat"), rows, vecs)
    return rows, vecs, reader, meta


def test_keyword_scores_are_okapi_bm25_with_weighted_terms(flat):
    rows, _, reader, _ = flat
    weights = {"磷石膏": 1.0, "综合利用": 0.6, "不存在的词": 1.0}
    got = dict(reader.keyword(weights, 1000))
    want = reference_bm25(rows, weights)
    assert got.keys() == want.keys()
    for key, score in want.items():
        assert got[key] == pytest.approx(score, rel=1e-5)
    top = reader.keyword(weights, 5)
    assert [s for _, s in top] == sorted((s for _, s in top), reverse=True) and len(top) == 5
    assert reader.keyword({"不存在的词": 1.0}, 5) == [] and reader.keyword({}, 5) == []


@pytest.mark.parametrize("where", FILTERS, ids=str)
def test_filters_count_keys_and_restrict_both_searches(flat, where):
    rows, vecs, reader, _ = flat
    expect = allowed(rows, where)
    assert reader.count(where) == len(expect)
    assert set(reader.keys(where).tolist()) == expect
    assert {k for k, _ in reader.keyword({"磷石膏": 1.0, "收集": 1.0}, 1000, where)} <= expect
    hits = reader.vector("emb", vecs[0], 1000, where)
    assert {k for k, _ in hits} == expect     # exact: every allowed passage, ranked
    keys = sorted(expect)
    order = sorted(keys, key=lambda key: -float(vecs[key - 1] @ vecs[0]))
    assert [k for k, _ in hits][:5] == order[:5]


def test_facets_count_every_tag_value(flat):
    rows, _, reader, _ = flat
    facets = reader.facets(Where(place="四川省"))
    sub = [r for r in rows if "四川省" in r.places]
    assert facets["kind"] == dict(Counter(r.kind for r in sub))
    assert facets["year"] == {str(y): c for y, c in Counter(y for r in sub for y in r.year).items()}
    assert facets["places"]["德阳市"] == sum("德阳市" in r.places for r in sub)
    assert reader.facets()["doc_type"] == dict(Counter(r.doc_type for r in rows))


def test_vocabulary_and_docs_with(flat):
    rows, _, reader, _ = flat
    assert reader.has_token("磷石膏") and not reader.has_token("不存在")
    assert reader.docs_with("尾矿") == frozenset(r.key for r in rows if "尾矿" in r.tokens)
    assert reader.docs_with("不存在") == frozenset()


def test_concurrent_filtered_searches_equal_serial_ones(flat):
    _, vecs, reader, _ = flat
    jobs = [(i, FILTERS[i % len(FILTERS)]) for i in range(48)]
    serial = [reader.vector("emb", vecs[i], 10, w) + reader.keyword({WORDS[i % 16]: 1.0}, 10, w) for i, w in jobs]
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(lambda j: reader.vector("emb", vecs[j[0]], 10, j[1])
                                 + reader.keyword({WORDS[j[0] % 16]: 1.0}, 10, j[1]), jobs))
    assert parallel == serial


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_index_above_the_threshold(tmp_path, kind):
    rows, vecs = make_rows(3000, seed=5)
    reader, meta = build(tmp_path, rows, vecs, index_type=kind, flat_threshold=1000)
    assert meta["ann"] == {"emb": kind} and (tmp_path / "g1" / "vectors-emb.faiss").exists()
    found = sum(reader.vector("emb", vecs[i], 10)[0][0] == rows[i].key for i in range(0, 3000, 100))
    assert found >= 27                          # its own vector first, nearly always
    # a filter leaving few passages is exact; a broad one goes through the index with a selector
    few = Where(place="贵阳市", kind="case_study", doc_year=2019)
    assert {k for k, _ in reader.vector("emb", vecs[0], 5000, few)} == allowed(rows, few)
    broad = Where(doc_type="report")
    hits = reader.vector("emb", vecs[1], 50, broad)
    assert hits and {k for k, _ in hits} <= allowed(rows, broad)
    exact = sorted(allowed(rows, broad), key=lambda key: -float(vecs[key - 1] @ vecs[1]))[:10]
    assert len({k for k, _ in hits[:10]} & set(exact)) >= 7


def test_next_generation_starts_from_the_previous_one(tmp_path):
    rows, vecs = make_rows(300)
    build(tmp_path, rows, vecs, "g1")
    more, more_vecs = make_rows(60, seed=9, first_key=1000)
    kept = [r for r in rows if r.doc_id != "d2"]
    kept_vecs = np.array([vecs[r.key - 1] for r in kept])
    reader, meta = build(tmp_path, more, more_vecs, "g2", previous=tmp_path / "g1", delete=["d2"])
    fresh, _ = build(tmp_path, kept + more, np.vstack([kept_vecs, more_vecs]), "g3")
    assert reader.count() == fresh.count() == len(kept) + len(more)
    weights = {"秸秆": 1.0, "电池": 0.5}
    got, want = reader.keyword(weights, 50), fresh.keyword(weights, 50)
    assert [k for k, _ in got] == [k for k, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-5)
    assert reader.vector("emb", vecs[5], 20) == fresh.vector("emb", vecs[5], 20)
    assert not {r.key for r in rows if r.doc_id == "d2"} & set(reader.keys().tolist())
    assert reader.facets() == fresh.facets()


def test_keys_must_be_new_and_ascending(tmp_path):
    rows, vecs = make_rows(10)
    with pytest.raises(ValueError):
        build(tmp_path, rows[::-1], vecs)


def test_missing_or_mismatched_index_files_are_named_errors(tmp_path):
    rows, vecs = make_rows(50)
    build(tmp_path, rows, vecs)
    gen = tmp_path / "g1"
    (gen / "index-keys.npy").rename(gen / "keys.bak")
    with pytest.raises(IndexMismatch):
        embedded.open_reader(Settings(data_dir=tmp_path), gen, {})
    np.save(gen / "index-keys.npy", np.arange(10, dtype=np.int64))   # fewer passages than the vectors
    with pytest.raises(DamagedKnowledgeBase):
        embedded.open_reader(Settings(data_dir=tmp_path), gen, {})
