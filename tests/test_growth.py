"""A knowledge base that grows: document identity, re-processing on pipeline change, document types and
years, the timeline, estimated pages. Real documents: the report and the government work reports in
corpus/, a policy notice in tests/data/docs; the hash embedder where only plumbing is tested."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kb import store
from kb.settings import PROJECT_ROOT, Settings

CORPUS = PROJECT_ROOT / "corpus"
REPORT = CORPUS / "zero-waste-cities-2024.txt"
WORK_REPORTS = sorted((CORPUS / "extra").glob("government-work-report-*.txt"))
NOTICE = PROJECT_ROOT / "tests" / "data" / "docs" / "notice-sample.txt"


def fast(data_dir: Path, **changes) -> Settings:
    return Settings(data_dir=data_dir, cache_dir=data_dir.parent / "cache", embedder="hash", xling_embedder="",
                    **changes)


def documents(settings: Settings) -> dict[str, dict]:
    """doc_id -> row of the live generation's documents table."""
    con = sqlite3.connect(store.current_generation(settings.data_dir) / store.DB_NAME)
    con.row_factory = sqlite3.Row
    try:
        return {r["doc_id"]: dict(r) for r in con.execute("SELECT doc_id, path, source, title, sha256, doc_type, "
                                                          "doc_year FROM documents")}
    finally:
        con.close()


def passage_texts(settings: Settings, doc_id: str) -> list[str]:
    con = sqlite3.connect(store.current_generation(settings.data_dir) / store.DB_NAME)
    try:
        return [r[0] for r in con.execute("SELECT text FROM passages WHERE doc_id=? ORDER BY seq", [doc_id])]
    finally:
        con.close()


def work_report(year: int) -> Path:
    return next(p for p in WORK_REPORTS if str(year) in p.name)


# ------------------------------------------------------------------ identity

def test_same_file_name_in_two_folders_is_two_documents(tmp_path):
    from kb.build import ingest

    root = tmp_path / "reports"
    for year in (2023, 2024):
        (root / str(year)).mkdir(parents=True)
        shutil.copy(work_report(year), root / str(year) / "report.txt")
    settings = fast(tmp_path / "data")
    first = ingest(settings, [root], show_progress=False)
    assert not first.errors and len(first.added) == 2
    docs = documents(settings)
    assert sorted(d["source"] for d in docs.values()) == ["2023/report.txt", "2024/report.txt"]
    assert all(d["doc_id"].startswith(("2023-report-", "2024-report-")) for d in docs.values())

    texts = {d: passage_texts(settings, d) for d in docs}
    assert all(texts.values()) and texts[min(docs)] != texts[max(docs)]
    again = ingest(settings, [root], show_progress=False)
    assert not again.changed and sorted(again.unchanged) == sorted(first.added)
    assert {d: passage_texts(settings, d) for d in docs} == texts


def test_files_named_one_by_one_never_share_an_id(tmp_path):
    """`kb ingest a/report.txt` then `kb ingest b/report.txt`: the relative path is the same, the file is not."""
    from kb.build import ingest

    for name, year in (("a", 2021), ("b", 2022)):
        (tmp_path / name).mkdir()
        shutil.copy(work_report(year), tmp_path / name / "report.txt")
    settings = fast(tmp_path / "data")
    one = ingest(settings, [tmp_path / "a" / "report.txt"], show_progress=False)
    two = ingest(settings, [tmp_path / "b" / "report.txt"], show_progress=False)
    assert one.added and two.added and one.added != two.added
    assert two.unchanged == [] and two.removed == []
    docs = documents(settings)
    assert len(docs) == 2 and {d["doc_year"] for d in docs.values()} == {2021, 2022}


def test_a_similar_file_name_does_not_replace_the_report(tmp_path):
    from kb.build import ingest

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(REPORT, corpus / REPORT.name)
    text = work_report(2025).read_text(encoding="utf-8")
    (corpus / "Zero_Waste_Cities_2024.md").write_text(text, encoding="utf-8")
    settings = fast(tmp_path / "data")
    report = ingest(settings, [corpus], show_progress=False)
    assert not report.errors and len(report.added) == 2
    docs = documents(settings)
    assert sorted(d["source"] for d in docs.values()) == ["Zero_Waste_Cities_2024.md", REPORT.name]
    assert len({d["doc_id"] for d in docs.values()}) == 2


def test_moved_renamed_removed_and_remove_by_path(tmp_path):
    from kb.build import ingest

    corpus = tmp_path / "corpus"
    (corpus / "2021").mkdir(parents=True)
    shutil.copy(work_report(2021), corpus / "2021" / "report.txt")
    shutil.copy(work_report(2022), corpus / "gwr-2022.txt")
    shutil.copy(work_report(2023), corpus / "gwr-2023.txt")
    settings = fast(tmp_path / "data")
    first = ingest(settings, [corpus], show_progress=False)
    assert len(first.added) == 3
    before = documents(settings)
    id_2021 = next(d for d, row in before.items() if row["source"] == "2021/report.txt")
    texts_2021 = passage_texts(settings, id_2021)

    # renamed into another folder: the same document (same id, same passages), its new path recorded
    (corpus / "archive").mkdir()
    (corpus / "2021" / "report.txt").rename(corpus / "archive" / "work-report-2021.txt")
    moved = ingest(settings, [corpus], show_progress=False)
    assert moved.moved == [id_2021] and not moved.added and not moved.removed and not moved.updated
    after = documents(settings)
    assert after[id_2021]["source"] == "archive/work-report-2021.txt"
    assert passage_texts(settings, id_2021) == texts_2021

    # a copy of a document already in the knowledge base is not ingested twice
    shutil.copy(corpus / "gwr-2022.txt", corpus / "copy-of-2022.txt")
    copied = ingest(settings, [corpus], show_progress=False)
    assert not copied.changed and len(copied.skipped) == 1 and "copy-of-2022.txt" in copied.skipped[0]
    (corpus / "copy-of-2022.txt").unlink()

    # deleted from a folder that is ingested again: removed
    (corpus / "gwr-2023.txt").unlink()
    gone = ingest(settings, [corpus], show_progress=False)
    assert len(gone.removed) == 1 and len(documents(settings)) == 2

    # --remove takes a path as well as an id
    env = dict(os.environ, KB_EMBEDDER="hash", KB_XLING_EMBEDDER="", KB_CACHE_DIR=str(settings.cache_dir),
               PYTHONPATH=str(PROJECT_ROOT))
    proc = subprocess.run([sys.executable, "-m", "kb.cli", "ingest", "--remove", str(corpus / "gwr-2022.txt"),
                           "--data-dir", str(settings.data_dir), "--quiet"],
                          capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "removed 1" in proc.stdout
    assert list(documents(settings)) == [id_2021]


def test_two_new_copies_in_one_run_are_one_document(tmp_path):
    from kb.build import ingest

    for name in ("a.txt", "b.txt"):
        shutil.copy(work_report(2019), tmp_path / name)
    settings = fast(tmp_path / "data")
    report = ingest(settings, [tmp_path / "a.txt", tmp_path / "b.txt"], show_progress=False)
    assert len(report.added) == 1 and len(report.skipped) == 1 and "b.txt" in report.skipped[0]
    assert not report.errors


def test_missing_path_and_fifo_are_errors_of_their_own(tmp_path):
    """One bad path on the command line never stops the other files (nor hangs on a FIFO)."""
    from kb.build import ingest

    good = tmp_path / "good.txt"
    shutil.copy(work_report(2019), good)
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    settings = fast(tmp_path / "data")
    report = ingest(settings, [tmp_path / "missing.txt", fifo, good], show_progress=False)
    assert len(report.added) == 1
    assert len(report.errors) == 2
    assert any("no such file" in e for e in report.errors) and any("not a regular file" in e for e in report.errors)


# ------------------------------------------------------------------ nothing stale

def test_pipeline_change_reprocesses_every_document(tmp_path):
    """A changed pipeline (here: the passage size band) re-processes all documents, also those not named,
    from their stored pages even when the file is gone."""
    from kb.build import ingest

    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    shutil.copy(work_report(2024), a)
    shutil.copy(work_report(2025), b)
    settings = fast(tmp_path / "data")
    ingest(settings, [a, b], show_progress=False)
    ids = {row["source"]: d for d, row in documents(settings).items()}
    before = {d: len(passage_texts(settings, d)) for d in ids.values()}
    a.unlink()   # only the stored pages are left of a.txt

    narrower = fast(tmp_path / "data", min_chars=80, max_chars=300)
    report = ingest(narrower, [b], show_progress=False)
    assert not report.errors
    assert sorted(report.updated) == sorted(ids.values())
    after = {d: len(passage_texts(narrower, d)) for d in ids.values()}
    assert all(after[d] > before[d] for d in ids.values())
    manifest = json.loads((store.current_generation(narrower.data_dir) / store.MANIFEST).read_text())
    from kb.build import pipeline_key
    assert manifest["pipeline"] == pipeline_key(narrower)
    assert not ingest(narrower, [b], show_progress=False).changed


def test_pipeline_fingerprint_covers_every_module_passages_depend_on():
    """Every project module the ingest pipeline imports (transitively) and every data file it reads is in
    the fingerprint: a change to region tagging (kb/gazetteer.py) re-processes the knowledge base."""
    code = ("import sys, json; import ingest.pipeline; "
            "print(json.dumps(sorted(m.__file__ for m in list(sys.modules.values()) "
            "if getattr(m, '__file__', None))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT,
                         env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT)), check=True).stdout
    modules = {Path(f).resolve() for f in json.loads(out)}
    ours = {m.relative_to(PROJECT_ROOT).as_posix() for m in modules if PROJECT_ROOT in m.parents
            and ".venv" not in m.parts}
    from kb.build import PIPELINE_FILES, ROOT

    covered = {f.relative_to(ROOT).as_posix() for pattern in PIPELINE_FILES for f in ROOT.glob(pattern)}
    assert "kb/gazetteer.py" in ours and "ingest/tag.py" in ours
    assert ours <= covered, sorted(ours - covered)
    assert {"kb/data/gazetteer.tsv", "ingest/data/domains.tsv", "ingest/data/instruments.tsv"} <= covered


# ------------------------------------------------------------------ document types and years

def test_work_reports_are_national_directives_of_their_year(tmp_path):
    from ingest.pipeline import process

    for path in WORK_REPORTS:
        result = process(path)
        doc = result.document
        year = int(path.stem[-4:])
        assert doc["doc_type"] == "work_report" and doc["doc_year"] == year, path.name
        kinds = {p["kind"] for p in result.passages}
        assert kinds <= {"national_directive", "front_matter"}, (path.name, kinds)
        assert all(p["doc_year"] == year and p["doc_type"] == "work_report" for p in result.passages)
        chapters = [s["title"] for s in result.sections if s["rank"] == 1]
        assert chapters[0].startswith("一、") and "工作回顾" in chapters[0] and len(chapters) >= 2
    # without the sidecar: type and year from the text itself
    bare = tmp_path / "report.txt"
    shutil.copy(work_report(2023), bare)
    doc = process(bare).document
    assert (doc["doc_type"], doc["doc_year"]) == ("work_report", 2023)


def test_the_report_keeps_its_chapter_kinds_and_its_year(processed):
    doc = processed.document
    assert doc["doc_type"] == "report" and doc["doc_year"] == 2024 and doc["year"] == 2025
    kinds = {p["kind"] for p in processed.passages}
    assert {"national_directive", "regional_progress", "provincial_action", "city_progress", "case_study",
            "indicator"} <= kinds
    assert "other" not in kinds
    own = [p for p in processed.policies if p["title"] == doc["title"]]
    assert own == [], "the report is not a policy of itself"


def test_policy_notice_title_number_issuer_date_attachments_articles(tmp_path):
    from ingest.pipeline import process

    result = process(NOTICE)
    doc = result.document
    assert doc["doc_type"] == "policy_notice"
    assert doc["title"] == "某省生态环境厅关于印发《某省小微企业危险废物收集试点管理办法》的通知"
    assert (doc["number"], doc["date"], doc["doc_year"]) == ("某环发〔2024〕18号", "2024-05-20", 2024)
    assert doc["author"] == "某省生态环境厅"
    assert doc["attachments"] == ["小微企业危险废物收集试点单位申报表", "危险废物收集服务协议（示范文本）"]
    articles = [s["path"] for s in result.sections if s["rank"] == 1.5]
    assert articles[:2] == [["第一章 总则", "第一条"], ["第一章 总则", "第二条"]]
    assert {p["kind"] for p in result.passages} <= {"other", "front_matter"}   # a provincial notice
    own = result.policies[0]
    assert (own["title"], own["number"], own["date"], own["issuer"]) == (
        doc["title"], "某环发〔2024〕18号", "2024-05-20", "某省生态环境厅")
    # a document without any cue is "other"
    plain = tmp_path / "notes.md"
    plain.write_text("# 会议纪要\n\n" + "与会人员讨论了垃圾分类宣传活动的安排，决定下月组织社区志愿者培训。" * 5,
                     encoding="utf-8")
    assert process(plain).document["doc_type"] == "other"


def test_doc_year_and_doc_type_filters(kb):
    """`year` is what a passage speaks of; `doc_year` the year of its document."""
    hits = kb.search("垃圾分类 生态环境", k=20, filters={"doc_year": 2025})["results"]
    assert hits and all(h["tags"]["doc_year"] == 2025 and h["tags"]["doc_type"] == "work_report" for h in hits)
    spoken = kb.search("目标", k=30, filters={"year": 2025})["results"]
    assert any(h["tags"]["doc_year"] == 2024 for h in spoken)   # the 2024 report speaks of 2025 plans
    reports = kb.search("磷石膏", k=10, filters={"doc_type": "report"})["results"]
    assert reports and all(h["tags"]["doc_type"] == "report" for h in reports)
    facets = kb.facets()
    assert set(facets["doc_year"]) == {"2019", "2021", "2022", "2023", "2024", "2025"}
    assert set(facets["doc_type"]) == {"report", "work_report"}
    from kb.errors import UnknownFilterValue
    for bad in ({"doc_year": 99999999999999999999}, {"doc_type": "novel"}, {"doc_year": "last"}):
        with pytest.raises(UnknownFilterValue):
            kb.search("垃圾分类", filters=bad)


def test_documents_list(kb):
    docs = kb.documents()
    assert len(docs) == 7
    assert all({"doc_id", "title", "year", "doc_type", "passages", "source"} <= d.keys() for d in docs)
    by_source = {d["source"]: d for d in docs}
    assert by_source["zero-waste-cities-2024.txt"]["year"] == 2024
    assert by_source["extra/government-work-report-2019.txt"]["doc_type"] == "work_report"
    assert by_source["extra/government-work-report-2019.txt"]["year"] == 2019


# ------------------------------------------------------------------ timeline

def test_timeline_per_document_year(kb):
    result = kb.timeline("垃圾分类")
    years = [y["doc_year"] for y in result["years"]]
    assert years == [2019, 2021, 2022, 2023, 2024, 2025]
    for y in result["years"]:
        if y["count"]:
            best = y["best"]
            assert best["tags"]["doc_year"] == y["doc_year"] and "垃圾" in best["text"]
            assert best["citation"]
        else:
            assert y["best"] is None
    counts = {y["doc_year"]: y["count"] for y in result["years"]}
    assert counts[2024] >= 5 and counts[2019] >= 1
    assert result["matching"] == sum(counts.values())
    # filters narrow it like search's
    only = kb.timeline("垃圾分类", filters={"doc_type": "work_report"})
    assert {y["doc_year"] for y in only["years"]} == {2019, 2021, 2022, 2023, 2024, 2025}
    assert all(y["best"] is None or y["best"]["tags"]["doc_type"] == "work_report" for y in only["years"])
    assert kb.timeline("waste sorting")["matching"] > 0


def test_timeline_cli(kb_settings):
    env = dict(os.environ, KB_DATA_DIR=str(kb_settings.data_dir), KB_CACHE_DIR=str(kb_settings.embedding_cache_dir),
               PYTHONPATH=str(PROJECT_ROOT))
    proc = subprocess.run([sys.executable, "-m", "kb.cli", "timeline", "垃圾分类", "--doc-type", "work_report",
                           "--json"], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [y["doc_year"] for y in data["years"]] == [2019, 2021, 2022, 2023, 2024, 2025]
    proc = subprocess.run([sys.executable, "-m", "kb.cli", "timeline", "垃圾分类"], capture_output=True, text=True,
                          env=env, cwd=PROJECT_ROOT, timeout=300)
    assert proc.returncode == 0 and "2019" in proc.stdout and "[R]" in proc.stdout


# ------------------------------------------------------------------ honest pages

def test_estimated_pages_are_marked(kb):
    hit = kb.search("磷石膏", k=1, filters={"doc_type": "report"})["results"][0]
    assert hit["pages"] and hit["pages_estimated"] is True and ": 约" in hit["citation"]
    work = kb.search("政府工作", k=1, filters={"doc_type": "work_report"})["results"][0]
    assert work["pages"] is None and work["pages_estimated"] is False and "约" not in work["citation"]


def test_text_before_a_chapter_ends_before_the_chapter_page(processed):
    """Chapters open a new page: the passage before each chapter ends on an earlier page than the one the
    table of contents gives the chapter (it was cited one page late)."""
    chapters = [s for s in processed.sections if s["rank"] == 1 and s["page"]]
    checked = 0
    for chapter in chapters[1:]:
        before = [p for p in processed.passages if p["end"] <= chapter["start"] and p["pages"]]
        if before:
            assert before[-1]["pages"][1] < chapter["page"], (chapter["title"], before[-1]["pages"])
            checked += 1
    assert checked >= 3
