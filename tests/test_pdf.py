"""A real multi-page Chinese PDF (reportlab, STSong-Light) made from chapter one of the report:
its passages get the pages the text was printed on, and the Chinese text round-trips."""
from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from kb import store
from kb.settings import PROJECT_ROOT, Settings

REPORT = PROJECT_ROOT / "corpus" / "zero-waste-cities-2024.txt"
CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
CHARS_PER_LINE = 40
LINES_PER_PAGE = 20


def cjk(text: str) -> str:
    return "".join(CJK.findall(text))


def chapter_one() -> list[str]:
    """Chapter one of the report as headings and whole paragraphs (page-break cuts joined back)."""
    from ingest.pipeline import process

    text = process(REPORT).document["text"]
    part = text[text.index("一、国家战略部署要求"):text.index("二、区域“无废城市”建设工作进展")]
    return [line for line in part.split("\n") if line.strip()]


def make_pdf(path: Path, paragraphs: list[str]) -> list[list[tuple[str, int]]]:
    """Print the paragraphs a few per page; a paragraph that does not fit continues on the next
    page. Returns, per paragraph, its printed lines with their page numbers."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path))
    c.setTitle("国家战略部署要求（测试）")
    page, line_no = 1, 0
    placed = []
    per_page = 0
    for para in paragraphs:
        lines = [para[i:i + CHARS_PER_LINE] for i in range(0, len(para), CHARS_PER_LINE)]
        is_heading = len(para) < 40 and not para.endswith("。")
        # a few paragraphs per page; a heading never ends a page
        if per_page >= 4 and not is_heading or (is_heading and line_no > LINES_PER_PAGE - 6):
            c.showPage()
            page, line_no, per_page = page + 1, 0, 0
        out = []
        for line in lines:
            if line_no >= LINES_PER_PAGE:
                c.showPage()
                page, line_no, per_page = page + 1, 0, 0
            c.setFont("STSong-Light", 11)
            c.drawString(40, 800 - 16 * line_no, line)
            out.append((line, page))
            line_no += 1
        line_no += 1
        per_page += 0 if is_heading else 1
        placed.append(out)
    c.showPage()
    c.save()
    return placed


@pytest.fixture(scope="module")
def pdf(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pdf")
    path = folder / "chapter-one.pdf"
    paragraphs = chapter_one()
    placed = make_pdf(path, paragraphs)
    return path, paragraphs, placed


def test_pdf_pages_and_text(pdf):
    from ingest.pipeline import process

    path, paragraphs, placed = pdf
    n_pages = max(p for lines in placed for _, p in lines)
    assert n_pages >= 5
    assert any(lines[0][1] != lines[-1][1] for lines in placed), "no paragraph crosses a page break"
    result = process(path)
    doc = result.document
    assert doc["fmt"] == "pdf" and doc["pages_estimated"] == 0
    # text round-trips: every paragraph's Chinese characters, in order
    stream = cjk(doc["text"])
    pos = 0
    for para in paragraphs:
        j = stream.find(cjk(para), pos)
        assert j >= 0, para[:40]
        pos = j + len(cjk(para))
    # structure survives
    titles = [s["title"] for s in result.sections]
    assert titles == ["一、国家战略部署要求", "（一）党中央、国务院重要部署", "（二）相关部门工作要求"]
    # each passage's pages are exactly the pages its printed lines were on
    line_pages = [(cjk(line), page) for lines in placed for line, page in lines
                  if len(cjk(line)) >= 12 and stream.count(cjk(line)) == 1]
    for p in result.passages:
        body = cjk(p["text"])
        pages = set()
        for chars, page in line_pages:
            if chars in body:
                pages.add(page)
        assert pages, p["id"]
        assert p["pages"] == [min(pages), max(pages)], (p["id"], p["pages"], sorted(pages), p["text"][:40])
    for s in result.sections:
        expect = next(page for lines in placed for line, page in lines if cjk(line) == cjk(s["title"]))
        assert s["page"] == expect


def test_pdf_through_kb_ingest(pdf, tmp_path):
    from ingest.pipeline import process
    from kb.build import ingest

    path, _, _ = pdf
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=path.parent, cache_dir=tmp_path / "cache",
                        embedder="hash", xling_embedder="")
    report = ingest(settings, [path], show_progress=False)
    assert not report.errors and [d.rsplit("-", 1)[0] for d in report.added] == ["chapter-one"]
    gen = store.current_generation(settings.data_dir)
    con = sqlite3.connect(gen / store.DB_NAME)
    rows = con.execute("SELECT id, pages, text FROM passages WHERE doc_id=? ORDER BY seq", report.added).fetchall()
    title = con.execute("SELECT title, fmt FROM documents").fetchone()
    con.close()
    expected = process(path).passages
    assert [(r[0], r[2]) for r in rows] == [(p["id"], p["text"]) for p in expected]
    assert [store.decode_row({"pages": r[1]})["pages"] for r in rows] == [p["pages"] for p in expected]
    assert title == ("国家战略部署要求（测试）", "pdf")
