"""A `kb ingest` killed with SIGKILL at any point leaves the previous knowledge base whole
(opens, passes integrity_check, same passages), and the next complete ingest succeeds and
removes the unfinished generation."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kb import store
from kb.settings import PROJECT_ROOT, Settings

REPORT = PROJECT_ROOT / "corpus" / "zero-waste-cities-2024.txt"
EXTRA_COPIES = 3


def _ids(gen: Path) -> list[str]:
    con = sqlite3.connect(f"file:{gen / store.DB_NAME}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return [r[0] for r in con.execute("SELECT id FROM passages ORDER BY doc_id, seq")]
    finally:
        con.close()


def _changed_corpus(folder: Path) -> None:
    """The report edited, plus an extra file (chapter two as Markdown)."""
    folder.mkdir()
    text = REPORT.read_text(encoding="utf-8")
    (folder / REPORT.name).write_text(text.replace("2024 年是实现“十四五”规划目标任务的关键一年",
                                                   "2024 年是实现“十四五”规划目标任务的关键之年"), encoding="utf-8")
    part = text[text.index("二、区域“无废城市”建设工作进展\n"):text.index("三、省（区、市）“无废城市”建设工作进展\n")]
    (folder / "regional-excerpt.md").write_text("# 区域共建摘录\n\n" + part, encoding="utf-8")
    # more work, so that the fixed-delay kills land mid-ingest even on a fast, idle machine
    for n in range(1, EXTRA_COPIES + 1):
        (folder / f"edition-{n}.txt").write_text(text.replace("关键一年", f"关键一年（第{n}版）"), encoding="utf-8")


@pytest.fixture
def built(tmp_path):
    from kb.build import ingest

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / REPORT.name).write_bytes(REPORT.read_bytes())
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus, cache_dir=tmp_path / "cache",
                        embedder="hash", xling_embedder="")
    report = ingest(settings, [corpus], show_progress=False)
    assert not report.errors
    _changed_corpus(tmp_path / "changed")
    return settings, tmp_path / "changed"


def _start(settings: Settings, corpus: Path) -> subprocess.Popen:
    env = dict(os.environ, KB_EMBEDDER="hash", KB_XLING_EMBEDDER="hash", KB_CACHE_DIR=str(settings.cache_dir),
               PYTHONPATH=str(PROJECT_ROOT))
    return subprocess.Popen([sys.executable, "-m", "kb.cli", "ingest", str(corpus), "--data-dir",
                             str(settings.data_dir), "--quiet"], env=env, cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(predicate, proc, timeout=60.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    return False


def test_killed_ingest_leaves_the_previous_kb_whole(built):
    from kb.search import KnowledgeBase

    settings, changed = built
    data = settings.data_dir
    live = store.current_generation(data)
    ids = _ids(live)
    gens = data / "generations"
    before = {g.name for g in gens.iterdir()}

    def appeared(suffix: str = ""):
        """A new generation folder exists (holding a file ending with `suffix`, if given)."""
        def check():
            for g in gens.iterdir():
                if g.name not in before and (not suffix or any(f.name.endswith(suffix) for f in g.iterdir())):
                    return True
            return False
        return check

    # fixed delays, then states polled for: new folder, database copied, rows written, index written
    kill_points = [0.3, 1.5, appeared(), appeared("-wal"), appeared("index-meta.json")]
    partial_seen = 0
    for point in kill_points:
        proc = _start(settings, changed)
        if callable(point):
            hit = _wait_for(point, proc)
        else:
            time.sleep(point)
            hit = True
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
        assert not finished, f"ingest finished before the kill at {point}: make it slower"
        partial_seen += any(g.name not in before for g in gens.iterdir()) and hit
        # the previous knowledge base is intact
        assert store.current_generation(data) == live, point
        assert _ids(live) == ids, point
        kb = KnowledgeBase.open(settings)
        assert kb.generation == live and [p["id"] for p in kb.iter_passages()] == ids
        assert kb.search("磷石膏综合利用", k=3, mode="bm25", translate=False)["results"]
    assert partial_seen >= 3, "no kill caught a partial generation"

    # a complete ingest succeeds and removes the unfinished generations
    proc = _start(settings, changed)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    new = store.current_generation(data)
    assert new is not None and new != live
    new_ids = _ids(new)
    assert len(new_ids) > len(ids)
    for g in gens.iterdir():
        assert (g / store.MANIFEST).exists(), f"unfinished generation {g.name} left behind"
    assert len(list(gens.iterdir())) <= settings.keep_generations
    kb = KnowledgeBase.open(settings)
    # ids are the file's path plus a short hash of where it is: compare the readable part
    assert {p["doc_id"].rsplit("-", 1)[0] for p in kb.iter_passages()} == {"zero-waste-cities-2024", "regional-excerpt"} | {
        f"edition-{n}" for n in range(1, EXTRA_COPIES + 1)}
