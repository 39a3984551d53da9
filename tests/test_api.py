"""The HTTP API through a real server: `kb serve` in a subprocess over the session's knowledge base.

Checks the contract's shapes and figures on the whole report, every 4xx rule, and then
property-based requests from the live OpenAPI schema (schemathesis): never a 5xx.
"""
from __future__ import annotations

import os
import subprocess

import httpx
import pytest

from api.process import start_server

pytestmark = pytest.mark.integration

HIT_FIELDS = {"id", "text", "score", "doc_id", "doc_title", "section", "pages", "tags", "citation"}
TAG_FIELDS = {"kind", "domain", "region", "year", "instrument"}
PHOSPHOGYPSUM_PLACES = ["贵阳市", "德阳市", "襄阳市", "湖北省", "贵州省", "安徽省", "宜昌市", "昆明市", "四川省",
                        "云南省", "重庆市", "黄石市", "铜陵市"]


@pytest.fixture(scope="module")
def api(server):
    with httpx.Client(base_url=server, timeout=60) as client:
        yield client


def assert_hit(hit: dict) -> None:
    assert HIT_FIELDS <= hit.keys()
    assert TAG_FIELDS <= hit["tags"].keys()
    assert hit["text"] and hit["doc_title"] and hit["citation"]
    assert isinstance(hit["section"], list) and isinstance(hit["score"], float)
    for r in hit["tags"]["region"]:
        assert {"name", "level", "province", "en"} <= r.keys()


def assert_problem(resp: httpx.Response, status: int | tuple[int, ...], *words: str) -> str:
    statuses = status if isinstance(status, tuple) else (status,)
    assert resp.status_code in statuses, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/json")
    detail = resp.json()["detail"]
    assert isinstance(detail, str) and detail
    for w in words:
        assert w.lower() in detail.lower(), detail
    return detail


# ------------------------------------------------------------------ service

def test_health_counts(api, kb):
    body = api.get("/health").json()
    assert body["status"] == "ok"
    assert body["documents"] == len(kb.documents_by_id) >= 1
    assert body["passages"] == kb.passage_count > 100
    assert body["embedder"] == kb.settings.embedder
    # kb serve: KB_SERVE_THREADS (the fixture sets 1) embedding threads per request, unless
    # OMP_NUM_THREADS is set, which wins
    omp = os.environ.get("OMP_NUM_THREADS")
    assert body["embed_threads"] == (1 if omp is None else int(omp) if omp.isdigit() else None)


def test_openapi_documents_every_field(api):
    spec = api.get("/openapi.json").json()
    for path in ("/health", "/search", "/ask", "/passages/{passage_id}", "/documents", "/documents/{doc_id}",
                 "/facets", "/policies", "/indicators"):
        assert path in spec["paths"], path
    for name in ("PassageHit", "SearchResponse", "AskRequest", "AskResponse", "Passage", "Health",
                 "DocumentSummary", "DocumentDetail", "Facets", "Policy", "Indicator"):
        props = spec["components"]["schemas"][name]["properties"]
        undocumented = [f for f, p in props.items() if not p.get("description")]
        assert not undocumented, (name, undocumented)


# ------------------------------------------------------------------ search

def test_search_chinese(api):
    body = api.get("/search", params={"q": "磷石膏综合利用", "k": 5}).json()
    assert body["query"] == "磷石膏综合利用"
    assert "expanded" in body
    assert 1 <= len(body["results"]) <= 5
    for hit in body["results"]:
        assert_hit(hit)
    assert any("磷石膏" in h["text"] for h in body["results"][:3])
    scores = [h["score"] for h in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_search_english_is_translated(api):
    body = api.get("/search", params={"q": "phosphogypsum comprehensive utilization", "k": 5}).json()
    assert body["expanded"] and "磷石膏" in body["expanded"]
    assert any("磷石膏" in h["text"] for h in body["results"][:3])
    for hit in body["results"]:
        assert_hit(hit)


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_search_modes(api, mode):
    body = api.get("/search", params={"q": "建筑垃圾资源化利用", "k": 3, "mode": mode}).json()
    assert body["mode"] == mode
    assert len(body["results"]) == 3


@pytest.mark.parametrize("region", ["贵州省", "Guizhou"])
def test_search_region_filter(api, region):
    body = api.get("/search", params={"q": "固体废物", "k": 30, "region": region}).json()
    assert body["results"]
    for hit in body["results"]:
        names = {r["name"] for r in hit["tags"]["region"]} | {r["province"] for r in hit["tags"]["region"]}
        assert "贵州省" in names, (hit["id"], hit["tags"]["region"])


def test_search_tag_filters(api):
    body = api.get("/search", params={"q": "waste", "k": 20, "kind": "case_study", "domain": "industrial"}).json()
    assert body["results"]
    assert all(h["tags"]["kind"] == "case_study" and "industrial" in h["tags"]["domain"] for h in body["results"])
    body = api.get("/search", params={"q": "固体废物", "k": 10, "year": 2023}).json()
    assert all(2023 in h["tags"]["year"] for h in body["results"])


# ------------------------------------------------------------------ ask

def test_ask_phosphogypsum_names_cities_with_resolvable_citations(api):
    resp = api.post("/ask", json={"question": "how are cities handling phosphogypsum"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    named = [p for p in PHOSPHOGYPSUM_PLACES if p in body["answer"]]
    assert len(named) >= 3, (named, body["answer"])
    assert body["citations"] and body["lang"] == "en"
    assert {g["zh"] for g in body["glossary"]} >= {"磷石膏"}
    for c in body["citations"]:
        assert f"[{c['n']}]" in body["answer"]
        p = api.get(f"/passages/{c['passage_id']}")
        assert p.status_code == 200, c
        passage = p.json()
        assert passage["id"] == c["passage_id"] and passage["doc_id"] == c["doc_id"]
        assert passage["section"] == c["section"] and passage["pages"] == c["pages"]
        cited = [s for s in body["statements"] if c["passage_id"] in s["passages"]]
        assert cited
        # every sentence cited with [n] is text of that passage
        for s in cited:
            for part in s["text"].split(f"[{c['n']}]")[:-1]:
                sentence = part.split("]")[-1].strip()
                assert sentence and sentence in passage["text"].replace("\n", ""), sentence


def test_ask_nonsense_has_no_citations(api):
    body = api.post("/ask", json={"question": "best pizza in new york"}).json()
    assert body["citations"] == [] and body["statements"] == []
    assert body["answer"]


def test_ask_with_filters(api):
    body = api.post("/ask", json={"question": "磷石膏", "k": 5, "filters": {"region": "贵州省"}}).json()
    assert body["citations"]
    assert len(body["results"]) <= 5


def test_ask_largest_k(api):
    resp = api.post("/ask", json={"question": "磷石膏", "k": 50})
    assert resp.status_code == 200, resp.text


# ------------------------------------------------------------------ 4xx rules

@pytest.mark.parametrize("params,words", [
    ({"q": ""}, ["q"]),
    ({"q": "   "}, ["empty"]),
    ({"q": "废" * 501}, ["q", "500"]),
    ({}, ["q", "required"]),
    ({"q": "固体废物", "k": 0}, ["k"]),
    ({"q": "固体废物", "k": 101}, ["k"]),
    ({"q": "固体废物", "k": "many"}, ["k"]),
    ({"q": "固体废物", "mode": "magic"}, ["mode"]),
    ({"q": "固体废物", "kind": "novel"}, ["kind"]),
    ({"q": "固体废物", "domain": "space"}, ["domain"]),
    ({"q": "固体废物", "instrument": "prayer"}, ["instrument"]),
    ({"q": "固体废物", "region": "Atlantis"}, ["region", "Atlantis"]),
    ({"q": "固体废物", "year": "last"}, ["year"]),
])
def test_search_bad_input(api, params, words):
    assert_problem(api.get("/search", params=params), (400, 422), *words)


def test_unknown_ids_404(api):
    assert_problem(api.get("/passages/no-such-passage"), 404, "no-such-passage")
    assert_problem(api.get("/documents/no-such-doc"), 404, "no-such-doc")
    assert_problem(api.get("/no/such/route"), 404)


@pytest.mark.parametrize("body,words", [
    ({"question": ""}, ["question"]),
    ({"question": "  "}, ["empty"]),
    ({"question": "x" * 501}, ["question"]),
    ({"question": "磷石膏", "k": 0}, ["k"]),
    ({"question": "磷石膏", "k": 51}, ["k"]),
    ({"question": "磷石膏", "filters": {"region": "Atlantis"}}, ["Atlantis"]),
    ({"question": "磷石膏", "filters": {"kind": "novel"}}, ["kind"]),
    ({"question": "磷石膏", "filters": {"colour": "green"}}, ["colour"]),
    ({"k": 3}, ["question"]),
])
def test_ask_bad_input(api, body, words):
    assert_problem(api.post("/ask", json=body), (400, 422), *words)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_ask_malformed_body(api, raw):
    resp = api.post("/ask", content=raw, headers={"content-type": "application/json"})
    assert_problem(resp, (400, 422))


def test_body_size_limit(api):
    resp = api.post("/ask", json={"question": "磷石膏", "pad": "x" * 70_000})
    assert_problem(resp, 413, "too large")

    def chunks():
        for _ in range(20):
            yield b"x" * 8192
    resp = api.post("/ask", content=chunks(), headers={"content-type": "application/json"})
    assert_problem(resp, 413, "too large")


def test_policies_bad_region(api):
    assert_problem(api.get("/policies", params={"region": "Atlantis"}), (400, 422), "Atlantis")
    assert_problem(api.get("/facets", params={"kind": "novel"}), (400, 422), "kind")


# ------------------------------------------------------------------ browsing

def test_documents_and_tree(api):
    docs = api.get("/documents").json()
    assert docs and all({"doc_id", "title", "passages", "citation"} <= d.keys() for d in docs)
    report = next(d for d in docs if "无废城市" in d["title"])
    detail = api.get(f"/documents/{report['doc_id']}").json()
    assert detail["doc_id"] == report["doc_id"] and detail["sections"]

    def walk(nodes, depth=0):
        for n in nodes:
            assert len(n["path"]) >= 1 and n["path"][-1] == n["title"]
            yield n
            yield from walk(n["children"], depth + 1)
    nodes = list(walk(detail["sections"]))
    assert any(n["children"] for n in nodes)
    ids = [pid for n in nodes for pid in n["passages"]]
    assert len(ids) == len(set(ids))
    assert api.get(f"/passages/{ids[0]}").status_code == 200


def test_passage_neighbours(api):
    hit = api.get("/search", params={"q": "磷石膏", "k": 1}).json()["results"][0]
    p = api.get(f"/passages/{hit['id']}").json()
    assert p["text"] == hit["text"] and "prev_id" in p and "next_id" in p
    if p["next_id"]:
        nxt = api.get(f"/passages/{p['next_id']}").json()
        assert nxt["prev_id"] == p["id"]


def test_facets(api):
    all_ = api.get("/facets").json()
    assert all_["total"] > 100
    assert set(all_["kind"]) <= {"national_directive", "regional_progress", "provincial_action", "city_progress",
                                 "indicator", "case_study", "front_matter"}
    assert any(r["name"] == "贵州省" for r in all_["region"])
    gz = api.get("/facets", params={"region": "Guizhou"}).json()
    assert 0 < gz["total"] < all_["total"]


def test_policies(api):
    rows = api.get("/policies", params={"q": "国办发〔2024〕7号"}).json()
    assert any(r["number"] == "国办发〔2024〕7号" and r["title"] == "关于加快构建废弃物循环利用体系的意见"
               and r["passages"] for r in rows), rows
    assert api.get("/policies").status_code == 200
    assert api.get("/policies", params={"region": "贵州省"}).status_code == 200


def test_indicators(api):
    rows = api.get("/indicators").json()
    assert len(rows) == 10
    row = next(r for r in rows if r["indicator"] == "一般工业固体废物贮存量占比")
    assert row["mean"] == pytest.approx(8.73) and row["median"] == pytest.approx(0.85)


def test_cors_closed_by_default(api):
    resp = api.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in resp.headers


# ------------------------------------------------------------------ empty data dir

def test_empty_data_dir_serves_503(tmp_path):
    # a few requests: their access log fits in the pipe, read back below
    proc, url = start_server(tmp_path / "nothing", extra_env={"KB_CORS_ORIGINS": "https://ui.example"},
                             output=subprocess.PIPE)
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            health = c.get("/health").json()
            assert health["status"] == "empty" and health["documents"] == 0
            assert str(tmp_path) not in health["detail"]     # the server's paths are not the client's business
            for path in ("/search?q=磷石膏", "/documents", "/facets", "/policies", "/indicators", "/passages/x"):
                assert str(tmp_path) not in assert_problem(c.get(path), 503, "kb ingest")
            assert str(tmp_path) not in assert_problem(c.post("/ask", json={"question": "磷石膏"}), 503, "kb ingest")
            pre = c.options("/search", headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "GET"})
            assert pre.headers.get("access-control-allow-origin") == "https://ui.example"
            c.get("/search", params={"q": "secretquerytext"})
    finally:
        proc.terminate()
        out = proc.communicate(timeout=15)[0].decode(errors="replace")
    # structured access log: route template, status, latency; never the query text
    assert '"route": "/search", "status": 503' in out, out[-2000:]
    assert '"latency_ms"' in out
    assert "secretquerytext" not in out


# ------------------------------------------------------------------ property-based (schemathesis)
# Cases are generated from the live server's /openapi.json with schemathesis' Hypothesis strategies
# (`APIOperation.as_strategy`), one test per operation and generation mode. (`schemathesis.pytest.
# from_fixture` would be shorter but its lazy runner uses `request.node._nodeid`, gone in pytest 9.)

import schemathesis  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402

OPERATIONS = [("GET", "/health"), ("GET", "/search"), ("POST", "/ask"), ("GET", "/passages/{passage_id}"),
              ("GET", "/documents"), ("GET", "/documents/{doc_id}"), ("GET", "/facets"), ("GET", "/policies"),
              ("GET", "/indicators"), ("GET", "/timeline")]


@pytest.fixture(scope="module")
def api_schema(server):
    return schemathesis.openapi.from_url(f"{server}/openapi.json")


def test_property_tests_cover_every_operation(api_schema):
    ops = {(r.ok().method.upper(), r.ok().path) for r in api_schema.get_all_operations()}
    assert ops == set(OPERATIONS)


# negative (schema-violating) cases only where there is a query or body to violate; free-text path ids
# accept any string, so their positive cases already cover them
WITH_PARAMETERS = [("GET", "/search"), ("POST", "/ask"), ("GET", "/facets"), ("GET", "/policies"), ("GET", "/timeline")]
CASES = [(m, p, "positive") for m, p in OPERATIONS] + [(m, p, "negative") for m, p in WITH_PARAMETERS]


def test_negative_cases_cover_every_operation_with_parameters(api_schema):
    with_params = {(m, p) for m, p in OPERATIONS if api_schema[p][m].query or api_schema[p][m].body}
    assert with_params == set(WITH_PARAMETERS)


@pytest.mark.parametrize("method,path,generation", CASES, ids=[f"{m} {p}-{g}" for m, p, g in CASES])
def test_no_server_errors(api_schema, method, path, generation):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(schemathesis.GenerationMode(generation)))
    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case):
        response = case.call(timeout=30)
        assert response.status_code < 500, (case.method, case.formatted_path, case.query, case.body,
                                            response.status_code, response.text[:500])
        if response.status_code >= 400:
            assert isinstance(response.json()["detail"], str), response.text[:500]

    check()


# ------------------------------------------------------------------ timeline, document filters

def test_timeline_endpoint(api):
    body = api.get("/timeline", params={"q": "垃圾分类", "doc_type": "work_report"}).json()
    assert [y["doc_year"] for y in body["years"]] == [2019, 2021, 2022, 2023, 2024, 2025]
    assert body["matching"] == sum(y["count"] for y in body["years"]) > 0
    for y in body["years"]:
        assert y["best"] is None or (y["best"]["tags"]["doc_year"] == y["doc_year"] and y["best"]["citation"])
    assert_problem(api.get("/timeline", params={"q": ""}), 422)
    assert_problem(api.get("/timeline", params={"q": "垃圾分类", "doc_year": 99999999999999999999}), 422)
    assert_problem(api.get("/search", params={"q": "垃圾分类", "doc_type": "novel"}), 422)


def test_documents_endpoint_fields(api):
    docs = api.get("/documents").json()
    assert len(docs) == 7
    for d in docs:
        assert {"doc_id", "title", "year", "doc_type", "passages", "source"} <= d.keys()
    assert sorted(d["year"] for d in docs) == [2019, 2021, 2022, 2023, 2024, 2024, 2025]


# ------------------------------------------------------------------ concurrency

CONCURRENT = [
    ("how are cities handling phosphogypsum", {}),
    ("zorblaxian glimmerstone recycling quotas in Guiyang", {}),      # words nothing translates
    ("flumberwaste composting of snarfled straw", {"domain": "agricultural"}),
    ("小微企业危险废物收集模式", {}),
    ("垃圾分类", {"doc_type": "work_report"}),
    ("construction waste recycling", {"region": "广东省"}),
    ("新污染物治理", {"doc_year": 2023}),
    ("hazardous waste cross-provincial transfer approvals", {"year": 2024}),
]


def test_concurrent_requests_equal_serial_ones(server):
    """8 threads of different queries (English with unknown words, Chinese, filtered) at the real server:
    every result list is identical to the one the same query gets alone."""
    import threading

    def fetch(client, query, filters):
        resp = client.get("/search", params={"q": query, "k": 10, **filters})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        return body["expanded"], [(h["id"], h["score"]) for h in body["results"]]

    with httpx.Client(base_url=server, timeout=60) as client:
        serial = {q: fetch(client, q, f) for q, f in CONCURRENT}
    mismatches: list[str] = []

    def worker(offset: int):
        with httpx.Client(base_url=server, timeout=120) as client:
            for round_ in range(3):
                for i in range(len(CONCURRENT)):
                    q, f = CONCURRENT[(i + offset + round_) % len(CONCURRENT)]
                    if fetch(client, q, f) != serial[q]:
                        mismatches.append(q)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not mismatches, mismatches
    assert all(results for _, results in serial.values())
