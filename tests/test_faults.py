"""Faults and bad state, by real fault injection on copies of one data directory built once.

Every damage ends in a named error with a one-line message (the CLI: exit 1, no traceback unless
KB_DEBUG=1), never a traceback and never a silently different answer. Disk-full and read-only cases
mount a small tmpfs (root only, else skipped with the reason).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest

from kb import store
from kb.backends import embedded
from kb.errors import DamagedKnowledgeBase, DocumentError
from kb.settings import PROJECT_ROOT, Settings

REPORT = PROJECT_ROOT / "corpus" / "zero-waste-cities-2024.txt"
HASH_KEY = "hash-ngram-256"


def _settings(data_dir: Path, cache_dir: Path, **changes) -> Settings:
    return Settings(data_dir=data_dir, corpus_dir=REPORT.parent, cache_dir=cache_dir, embedder="hash",
                    xling_embedder="", **changes)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Settings:
    """The report ingested once with the hash embedder; tests damage copies of it."""
    from kb.build import ingest

    root = tmp_path_factory.mktemp("faults")
    settings = _settings(root / "data", root / "cache")
    report = ingest(settings, [REPORT], show_progress=False)
    assert not report.errors and report.passages > 100
    return settings


@pytest.fixture
def copy(built, tmp_path) -> Settings:
    """A private copy of the built data directory and cache."""
    shutil.copytree(built.data_dir, tmp_path / "data")
    shutil.copytree(built.cache_dir, tmp_path / "cache")
    return _settings(tmp_path / "data", tmp_path / "cache")


def _gen(settings: Settings) -> Path:
    return store.current_generation(settings.data_dir)


def _env(settings: Settings, **extra) -> dict:
    env = dict(os.environ, KB_EMBEDDER="hash", KB_XLING_EMBEDDER="", KB_CACHE_DIR=str(settings.cache_dir),
               PYTHONPATH=str(PROJECT_ROOT))
    env.pop("KB_DEBUG", None)
    env.update(extra)
    return env


def kb_cli(settings: Settings, *args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kb.cli", *args, "--data-dir", str(settings.data_dir)],
                          capture_output=True, text=True, env=_env(settings, **env), cwd=PROJECT_ROOT, timeout=300,
                          check=False)


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr[-2000:]
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]
    return lines[0]


# ------------------------------------------------------------------ damage on open

def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garble(path: Path, at: float = 0.5, n: int = 4096) -> None:
    data = bytearray(path.read_bytes())
    start = min(int(len(data) * at), max(0, len(data) - n))
    data[start: start + n] = np.random.default_rng(7).bytes(min(n, len(data) - start))
    path.write_bytes(bytes(data))


def _random_vectors(path: Path) -> None:
    """Same-shaped random unit vectors: they load fine and answer differently."""
    shape = np.load(path).shape
    rand = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    np.save(path, rand / np.linalg.norm(rand, axis=1, keepdims=True))


VECTORS = "vectors-hash.npy"
DAMAGE = {
    "manifest-truncated": ("manifest.json", _truncate),
    "manifest-empty": ("manifest.json", lambda p: p.write_bytes(b"")),
    "manifest-list": ("manifest.json", lambda p: p.write_text("[1, 2]")),
    "manifest-string": ("manifest.json", lambda p: p.write_text('"ok"')),
    "manifest-no-checksums": ("manifest.json", lambda p: p.write_text(json.dumps(
        {k: v for k, v in json.loads(p.read_text()).items() if k != "files"}))),
    "sqlite-truncated": ("kb.sqlite", _truncate),
    "sqlite-garbled": ("kb.sqlite", _garble),
    "sqlite-header": ("kb.sqlite", lambda p: _garble(p, 0.0, 100)),
    "vectors-truncated": (VECTORS, _truncate),
    "vectors-header": (VECTORS, lambda p: _garble(p, 0.0, 16)),
    "vectors-random-bytes": (VECTORS, _garble),
    "vectors-random": (VECTORS, _random_vectors),
    "vectors-missing": (VECTORS, lambda p: p.unlink()),
    "bm25-garbled": ("index-bm25-indices.npy", _garble),
    "terms-json-garbled": ("index-terms.json", lambda p: p.write_bytes(b"\xff{\x00 not json")),
    "terms-json-list": ("index-terms.json", lambda p: p.write_text("[1, 2]")),
    "tags-missing": ("index-tags.npz", lambda p: p.unlink()),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_generation_is_refused_on_open(copy, case):
    from kb.search import KnowledgeBase

    name, damage = DAMAGE[case]
    gen = _gen(copy)
    damage(gen / name)
    with pytest.raises(DamagedKnowledgeBase) as info:
        KnowledgeBase.open(copy)
    message = info.value.one_line()
    assert "\n" not in message and len(message) < 400, message
    assert name in message or "manifest" in message, message
    assert "kb ingest" in message   # the hint says how to recover
    again = DamagedKnowledgeBase(str(info.value)).one_line()   # re-raised by the server's live reload
    assert again.count("damaged knowledge base") == 1 and again.count("kb ingest") == 1, again


@pytest.mark.parametrize("case", ["vectors-random-bytes", "vectors-header", "bm25-garbled", "terms-json-garbled",
                                  "terms-json-list"])
def test_search_index_checks_its_own_content(copy, case):
    """Even without the manifest's checksums, a damaged index file does not load silently."""
    name, damage = DAMAGE[case]
    gen = _gen(copy)
    count = json.loads((gen / "manifest.json").read_text())["passages"]
    assert embedded.open_reader(copy, gen, {}).count() == count
    damage(gen / name)
    with pytest.raises(DamagedKnowledgeBase):
        embedded.open_reader(copy, gen, {})


def test_cli_says_one_line_and_recovers_with_ingest(copy):
    name, damage = DAMAGE["vectors-random"]
    damage(_gen(copy) / name)
    line = assert_one_line_error(kb_cli(copy, "search", "磷石膏", "--k", "3"), "damaged", "kb ingest")
    assert VECTORS in line
    # the hint is true: an ingest builds a fresh generation instead of copying the damaged one
    proc = kb_cli(copy, "ingest", str(REPORT), "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "warning" in proc.stderr and "fresh generation" in proc.stderr
    from kb.search import KnowledgeBase

    assert len(KnowledgeBase.open(copy).search("磷石膏", k=3, mode="dense", translate=False)["results"]) == 3


@pytest.mark.parametrize("case", ["manifest-truncated", "sqlite-garbled"])
def test_ingest_over_a_damaged_generation_builds_a_fresh_one(copy, case):
    from kb.build import ingest
    from kb.search import KnowledgeBase

    name, damage = DAMAGE[case]
    damaged = _gen(copy)
    damage(damaged / name)
    report = ingest(copy, [REPORT], show_progress=False)
    assert not report.errors and report.generation != damaged.name
    assert KnowledgeBase.open(copy).search("磷石膏", k=3, mode="bm25", translate=False)["results"]


def test_kb_debug_shows_the_traceback(copy):
    DAMAGE["manifest-list"][1](_gen(copy) / "manifest.json")
    proc = kb_cli(copy, "search", "磷石膏", KB_DEBUG="1")
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "DamagedKnowledgeBase" in proc.stderr


# ------------------------------------------------------------------ the embedding cache

def _cache_file(settings: Settings) -> Path:
    return settings.cache_dir / "embeddings.sqlite"


def test_garbage_embedding_cache_is_moved_aside_and_rebuilt(copy, tmp_path, caplog):
    from kb.build import ingest

    cache = _cache_file(copy)
    for suffix in ("-wal", "-shm"):
        Path(str(cache) + suffix).unlink(missing_ok=True)
    cache.write_bytes(b"this is not a database" * 500)
    fresh = _settings(tmp_path / "fresh", copy.cache_dir)
    with caplog.at_level("WARNING"):
        report = ingest(fresh, [REPORT], show_progress=False)
    assert not report.errors and report.passages > 100
    assert any("embedding cache" in r.getMessage() and "moved aside" in r.getMessage() for r in caplog.records)
    assert list(copy.cache_dir.glob("embeddings.sqlite.damaged-*"))
    con = sqlite3.connect(cache)
    assert con.execute("SELECT count(*) FROM vectors").fetchone()[0] >= report.passages * 0.9
    con.close()


def test_cache_damaged_inside_is_rebuilt(copy, tmp_path):
    """Garbage written over pages in the middle of the cache: the ingest still gives the same index."""
    from kb.build import ingest

    cache = _cache_file(copy)
    con = sqlite3.connect(cache)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    _garble(cache, 0.4, 64 * 1024)
    fresh = _settings(tmp_path / "fresh", copy.cache_dir)
    report = ingest(fresh, [REPORT], show_progress=False)
    assert not report.errors
    mine, ref = np.load(_gen(fresh) / VECTORS), np.load(_gen(copy) / VECTORS)
    assert mine.shape == ref.shape
    np.testing.assert_allclose(mine, ref, atol=1e-6)


def test_nan_vectors_in_the_cache_are_not_used(copy, tmp_path):
    from kb.build import ingest
    from kb.search import KnowledgeBase

    con = sqlite3.connect(_cache_file(copy))
    with con:
        con.execute("UPDATE vectors SET vec = ? WHERE model = ?",
                    [np.full(256, np.nan, np.float32).tobytes(), HASH_KEY])
    con.close()
    fresh = _settings(tmp_path / "fresh", copy.cache_dir)
    report = ingest(fresh, [REPORT], show_progress=False)
    assert not report.errors
    kb = KnowledgeBase.open(fresh)
    assert len(kb.search("磷石膏综合利用", k=3, mode="dense", translate=False)["results"]) == 3


def test_an_embedder_returning_nan_is_refused(tmp_path):
    from kb.embed import EmbeddingCache
    from kb.embed.hashing import HashEmbedder
    from kb.errors import EmbeddingFailed

    class Broken(HashEmbedder):
        key = "broken"

        def embed_passages(self, texts):
            return np.full((len(texts), self.dim), np.nan, np.float32)

    cache = EmbeddingCache(tmp_path / "e.sqlite")
    with pytest.raises(EmbeddingFailed):
        cache.embed(Broken(), ["一段文字。"])
    assert cache.conn.execute("SELECT count(*) FROM vectors").fetchone()[0] == 0


# ------------------------------------------------------------------ sidecars and bounded work

def test_badly_typed_sidecars_are_per_file_errors(tmp_path):
    from kb.build import ingest

    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(REPORT, folder / REPORT.name)
    text = REPORT.read_text(encoding="utf-8")[:3000]
    for name, meta in [("title-number", {"title": 123}), ("a-list", [1, 2]), ("year-word", {"year": "soon"})]:
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
        (folder / f"{name}.txt.meta.json").write_text(json.dumps(meta), encoding="utf-8")
    settings = _settings(tmp_path / "data", tmp_path / "cache")
    report = ingest(settings, [folder], show_progress=False)
    assert len(report.added) == 1 and report.added[0].startswith("zero-waste-cities-2024")
    assert len(report.errors) == 3, report.errors
    for name, words in [("title-number", "'title' must be a string"), ("a-list", "JSON object"),
                        ("year-word", "'year'")]:
        line = next(e for e in report.errors if name in e)
        assert words in line and "\n" not in line, line


def test_long_one_line_file_is_refused_fast():
    from ingest.pipeline import process

    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"one-line-{os.getpid()}.txt"
    path.write_text("固体废物综合利用" * 400_000, encoding="utf-8")   # 3.2M characters, one line
    try:
        started = time.time()
        with pytest.raises(DocumentError) as info:
            process(path)
        assert time.time() - started < 15
        assert "too long" in str(info.value) and "KB_MAX_FILE_CHARS" in info.value.one_line()
    finally:
        path.unlink()


def test_caps_are_settings_and_per_file(tmp_path):
    from kb.build import ingest

    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(REPORT, folder / REPORT.name)
    (folder / "short.txt").write_text(REPORT.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    settings = _settings(tmp_path / "data", tmp_path / "cache", max_file_chars=20_000)
    report = ingest(settings, [folder], show_progress=False)
    assert [d.split("-")[0] for d in report.added] == ["short"]
    assert len(report.errors) == 1 and "too long" in report.errors[0]
    settings = _settings(tmp_path / "data2", tmp_path / "cache", max_passages_per_doc=50)
    report = ingest(settings, [folder], show_progress=False)
    assert [d.split("-")[0] for d in report.added] == ["short"] and "too many passages" in report.errors[0]
    proc = kb_cli(_settings(tmp_path / "data3", tmp_path / "cache"), "ingest", str(folder), "--quiet",
                  KB_MAX_FILE_CHARS="20000")
    assert proc.returncode == 1 and "added 1" in proc.stdout and "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [
        next(line for line in proc.stderr.splitlines() if "too long" in line)]


def test_ten_thousand_headings_do_not_give_ten_thousand_passages(tmp_path):
    from ingest.pipeline import process

    path = tmp_path / "headings.md"
    path.write_text("\n\n".join(f"# 标题{i}\n\n第{i}条内容。" for i in range(10_000)), encoding="utf-8")
    passages = process(path).passages
    assert len(passages) < 1500
    sizes = sorted(len(p["text"]) for p in passages)
    assert sizes[len(sizes) // 10] >= 100, sizes[:20]


def test_lone_short_sections_are_not_packed(processed):
    """Packing applies to runs of tiny sections only: a lone short passage stays, the report is unchanged."""
    from ingest.split import Piece, merge_tiny

    pieces = [Piece(p["text"], p["start"], p["end"], p["section"], False) for p in processed.passages]
    assert merge_tiny(pieces, 150, 600) == pieces
    lone = [Piece("一、总则\n短。", 0, 7, ["一、总则"], False), Piece("正文" * 100, 8, 208, ["二、正文"], False)]
    assert merge_tiny(lone, 150, 600) == lone
    run = [Piece(f"# 标题{i}\n内容。", 10 * i, 10 * i + 9, [f"标题{i}"], False) for i in range(40)]
    packed = merge_tiny(run, 150, 600)
    assert 2 <= len(packed) <= 5 and packed[0].section == ["标题0"] and packed[-1].end == run[-1].end


# ------------------------------------------------------------------ disk full and read-only mounts

@contextmanager
def tmpfs(path: Path, size_kib: int):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _du_kib(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) // 1024


def _changed(tmp_path: Path) -> Path:
    changed = tmp_path / "changed.txt"
    changed.write_text(REPORT.read_text(encoding="utf-8").replace("关键一年", "关键之年"), encoding="utf-8")
    return changed


def test_disk_full_during_ingest_is_one_line(built, tmp_path):
    """The disk fills up while the database is copied: one line, exit 1, the live knowledge base answers."""
    from kb.search import KnowledgeBase

    need = _du_kib(built.data_dir) + _du_kib(built.cache_dir)
    with tmpfs(tmp_path / "small", need + 600) as mnt:
        shutil.copytree(built.data_dir, mnt / "data")
        shutil.copytree(built.cache_dir, mnt / "cache")
        settings = _settings(mnt / "data", mnt / "cache")
        live = _gen(settings)
        proc = kb_cli(settings, "ingest", str(REPORT), str(_changed(tmp_path)), "--quiet")
        assert_one_line_error(proc, "disk full", "free some space")
        assert _gen(settings) == live
        assert KnowledgeBase.open(settings).search("磷石膏", k=2, mode="bm25", translate=False)["results"]


def test_disk_full_while_writing_rows_is_named(built, tmp_path):
    """Room for the copy, not for the new rows: the failure is DiskFull, the live generation stays."""
    from kb.build import ingest
    from kb.errors import DiskFull, as_kb_error

    need = _du_kib(built.data_dir) + _du_kib(built.cache_dir)
    with tmpfs(tmp_path / "small", need + 1400) as mnt:
        shutil.copytree(built.data_dir, mnt / "data")
        shutil.copytree(built.cache_dir, mnt / "cache")
        settings = _settings(mnt / "data", mnt / "cache")
        live = _gen(settings)
        with pytest.raises(Exception) as info:
            ingest(settings, [REPORT, _changed(tmp_path)], show_progress=False)
        assert isinstance(as_kb_error(info.value), DiskFull), repr(info.value)
        assert _gen(settings) == live


def test_full_device_is_named_for_every_writer(tmp_path):
    """The search index writer on a full disk raises (FAISS's own writer only prints a failed close and
    returns, sealing a truncated index: the index is serialised and written by Python), and every
    writer's failure is named DiskFull."""
    from kb.backends import Row
    from kb.errors import DiskFull, as_kb_error
    from kb.settings import Settings

    rand = np.random.default_rng(1).standard_normal((2000, 256)).astype(np.float32)
    rows = [Row(key=i + 1, doc_id="d", tokens=["废物"], text="废物", kind="other", doc_type="other", doc_year=None)
            for i in range(2000)]
    with tmpfs(tmp_path / "tiny", 256) as mnt:
        writer = embedded.open_writer(Settings(data_dir=mnt, flat_threshold=100), mnt, None, None)
        writer.add(rows, {"hash": rand / np.linalg.norm(rand, axis=1, keepdims=True)})
        with pytest.raises(OSError) as info:
            writer.commit()
        assert isinstance(as_kb_error(info.value), DiskFull)
    if Path("/dev/full").exists():
        with pytest.raises(OSError) as info, open("/dev/full", "w") as fh:
            fh.write("{}" * 10_000)
            fh.flush()
        assert "disk full" in as_kb_error(info.value).one_line()


def test_read_only_mount_searches_and_refuses_ingest_in_one_line(built, tmp_path):
    need = _du_kib(built.data_dir) + _du_kib(built.cache_dir)
    with tmpfs(tmp_path / "ro", need + 2048) as mnt:
        shutil.copytree(built.data_dir, mnt / "data")
        shutil.copytree(built.cache_dir, mnt / "cache")
        proc = subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            pytest.skip(f"cannot remount read-only: {proc.stderr.strip()}")
        settings = _settings(mnt / "data", mnt / "cache")
        from kb.search import KnowledgeBase

        assert len(KnowledgeBase.open(settings).search("磷石膏", k=2, translate=False)["results"]) == 2
        assert_one_line_error(kb_cli(settings, "ingest", str(REPORT), "--quiet"), "read-only", "write access")
        from api.process import start_server, stop_server

        proc, url = start_server(settings.data_dir, {"KB_EMBEDDER": "hash", "KB_XLING_EMBEDDER": "",
                                                     "KB_CACHE_DIR": str(settings.cache_dir)})
        try:   # `kb serve` too: no lease to write, a WAL database read as immutable
            assert httpx.get(url + "/health", timeout=30).json()["status"] == "ok"
            resp = httpx.get(url + "/search", params={"q": "磷石膏", "k": 2}, timeout=30)
            assert resp.status_code == 200 and len(resp.json()["results"]) == 2
        finally:
            stop_server(proc)


# ------------------------------------------------------------------ the API server's limits

@pytest.fixture(scope="module")
def server(built):
    from api.process import start_server, stop_server

    proc, url = start_server(built.data_dir, {"KB_EMBEDDER": "hash", "KB_XLING_EMBEDDER": "",
                                              "KB_CACHE_DIR": str(built.cache_dir)})
    yield url
    stop_server(proc)


@pytest.mark.parametrize("params", [{"year": "99999999999999999999"}, {"year": "1"}, {"year": "-2024"},
                                    {"year": "100000"}])
def test_year_out_of_range_is_4xx(server, params):
    for path in ("/search", "/facets"):
        resp = httpx.get(server + path, params={"q": "磷石膏", **params}, timeout=30)
        assert resp.status_code == 422 and "year" in resp.json()["detail"], resp.text
    resp = httpx.get(server + "/policies", params=params, timeout=30)
    assert resp.status_code == 422, resp.text
    resp = httpx.post(server + "/ask", json={"question": "磷石膏", "filters": {"year": int(params["year"])}},
                      timeout=30)
    assert resp.status_code == 422, resp.text


def test_head_health(server):
    resp = httpx.head(server + "/health", timeout=30)
    assert resp.status_code == 200 and resp.content == b""
    assert httpx.head(server + "/documents", timeout=30).status_code == 200


@pytest.mark.parametrize("k", [True, "8", 2.0])
def test_ask_k_must_be_an_integer(server, k):
    resp = httpx.post(server + "/ask", json={"question": "磷石膏", "k": k}, timeout=30)
    assert resp.status_code == 422 and "k" in resp.json()["detail"], resp.text


def test_long_ids_are_not_echoed(server):
    for path in ("/passages/", "/documents/"):
        resp = httpx.get(server + path + "x" * 10_000, timeout=30)
        assert resp.status_code in (404, 422), resp.status_code
        assert len(resp.json()["detail"]) <= 300


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
        return True
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    finally:
        sock.close()


def test_idle_and_half_sent_connections_are_closed(server):
    from api.serving import HEAD_TIMEOUT_S

    idle = _connect(server)
    half = _connect(server)
    half.sendall(b"GET /search?q=%E7%A3%B7 HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    keep = _connect(server)
    keep.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"200 OK" in keep.recv(4096)
    keep.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")    # the next request, half-sent
    crowd = [_connect(server) for _ in range(300)]   # idle connections do not deny service to others
    resp = httpx.get(server + "/search", params={"q": "磷石膏", "k": 3}, timeout=30)
    assert resp.status_code == 200 and len(resp.json()["results"]) == 3
    started = time.time()
    assert _closed_within(idle, HEAD_TIMEOUT_S + 10)
    assert _closed_within(half, 5)
    assert _closed_within(keep, 5)
    assert time.time() - started < HEAD_TIMEOUT_S + 12
    assert all(_closed_within(s, 1) for s in crowd)
    assert httpx.get(server + "/health", timeout=30).status_code == 200


# ------------------------------------------------------------------ kb ui leaves no orphan

def test_terminated_kb_ui_leaves_no_streamlit(built, tmp_path):
    from api.process import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kb.cli", "ui", "--port", str(port), "--data-dir",
                             str(built.data_dir)], env=_env(built), cwd=PROJECT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail("streamlit did not start")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            except httpx.TransportError:
                return
            time.sleep(0.5)
        pytest.fail("streamlit still answers after `kb ui` was terminated")
    finally:
        try:   # the group of the process started here: an orphaned Streamlit too
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
