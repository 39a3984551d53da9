"""The explorer in a real browser: `kb ui` as a server, Debian's chromium driven by playwright.

The server runs on a copy of the session's data directory (uploads and conversations stay there).
Skips only when /usr/bin/chromium is absent (never downloads a browser).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from api.process import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUESTION = "how are cities handling phosphogypsum"
START_TIMEOUT = 180     # seconds until the server answers HTTP
ANSWER_TIMEOUT = 420    # seconds for model warm-up plus the first answer
SCROLLABLE = ("Array.from(document.querySelectorAll('[data-testid=stMain], [data-testid=stAppViewContainer], "
              "[data-testid=stAppScrollToBottomContainer]'))")
SCROLLERS = f"() => Math.max(0, ...{SCROLLABLE}.map(e => e.scrollTop))"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no browser: /usr/bin/chromium is not installed")


def _kb_command() -> list[str]:
    script = Path(sys.executable).parent / "kb"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kb.cli"]


@pytest.fixture(scope="module")
def ui_server(kb_settings, tmp_path_factory):
    home = tmp_path_factory.mktemp("ui-server")
    data = home / "data"
    shutil.copytree(kb_settings.data_dir, data, ignore=shutil.ignore_patterns("*.lock", "leases"))
    port = free_port()
    env = dict(os.environ, KB_CACHE_DIR=str(kb_settings.embedding_cache_dir))
    log_path = home / "server.log"
    log = open(log_path, "wb")
    cmd = _kb_command() + ["ui", "--port", str(port), "--host", "127.0.0.1", "--data-dir", str(data)]
    # own process group: `kb ui` may start streamlit as a child, and both must go at the end
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"`kb ui` exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=3) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f"`kb ui` did not answer HTTP within {START_TIMEOUT}s")
            time.sleep(0.5)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _open(browser, url: str, width: int = 1280):
    page = browser.new_page(viewport={"width": width, "height": 900}, device_scale_factor=1, accept_downloads=True)
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    page.get_by_role("tab", name="Ask").wait_for(timeout=ANSWER_TIMEOUT * 1000)
    return page


def _wait_answer(page):
    """The cited answer is shown and the script run has finished (no element re-mounts after this)."""
    page.locator("a.kb-cite").first.wait_for(state="visible", timeout=ANSWER_TIMEOUT * 1000)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=ANSWER_TIMEOUT * 1000)
    page.wait_for_timeout(500)


def ask_in_browser(browser, url: str, question: str, screenshot: Path, width: int = 1280) -> str:
    """Open the app, ask `question`, wait for the cited answer, save a full-page screenshot; return page text."""
    page = _open(browser, url, width)
    try:
        box = page.get_by_test_id("stChatInputTextArea")
        box.fill(question)
        box.press("Enter")
        _wait_answer(page)
        page.get_by_text("Where the cited passages come from").first.wait_for(timeout=60_000)
        page.wait_for_timeout(2500)   # let charts and fonts settle
        height = page.evaluate("""() => Math.max(document.documentElement.scrollHeight,
            ...Array.from(document.querySelectorAll('body *'))
                 .filter(e => e.scrollHeight > e.clientHeight + 10 && getComputedStyle(e).overflowY !== 'visible')
                 .map(e => e.scrollHeight + e.getBoundingClientRect().top))""")
        page.set_viewport_size({"width": width, "height": int(min(max(height, 900) + 120, 6000))})
        page.wait_for_timeout(800)
        page.evaluate(f"() => {SCROLLABLE}.forEach(e => e.scrollTo(0, 0))")
        page.wait_for_timeout(500)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
        return page.inner_text("body")
    finally:
        page.close()


def test_phosphogypsum_question_in_browser(ui_server, browser, tmp_path):
    shot = tmp_path / "ui.png"
    text = ask_in_browser(browser, ui_server, QUESTION, shot)
    assert "[1]" in text
    assert any(city in text for city in ("贵阳市", "德阳市")), text[:3000]
    assert "Searched as" in text and "磷石膏" in text
    assert "Deploy" not in text
    assert shot.exists() and shot.stat().st_size > 20_000


def test_ask_from_another_view_click_a_citation_export_and_reload(ui_server, browser, tmp_path):
    page = _open(browser, ui_server, width=1024)
    try:
        # a browse view opens at its top, without the chat box pinned at the bottom
        page.get_by_role("tab", name="Policy catalog").click()
        box = page.get_by_placeholder("Ask a question (the answer opens in Ask)")
        box.wait_for(timeout=60_000)
        page.wait_for_timeout(1000)
        assert page.evaluate(SCROLLERS) == 0
        # asking from there shows the answer in Ask
        box.fill(QUESTION)
        box.press("Enter")
        _wait_answer(page)
        assert "Ask" in page.get_by_role("tab", selected=True).inner_text()
        assert "c=" in page.url
        # [n] has a hover preview and opens its source
        link = page.locator("a.kb-cite[data-n='2']").first
        assert "p." in (link.get_attribute("data-tip") or "")
        link.click()
        page.wait_for_timeout(1200)
        opened = page.evaluate("""() => Array.from(document.querySelectorAll('[data-testid=stExpander] details'))
            .filter(d => d.open).map(d => d.querySelector('summary').textContent)""")
        assert len(opened) == 1 and "[2]" in opened[0], opened
        # the answer downloads as Markdown with its references
        with page.expect_download(timeout=30_000) as dl:
            page.get_by_test_id("stDownloadButton").filter(has_text="Markdown").first.click()
        path = tmp_path / "answer.md"
        dl.value.save_as(path)
        md = path.read_text(encoding="utf-8")
        assert "[1]" in md and "磷石膏" in md and "[R]" in md
        with page.expect_download(timeout=30_000) as dl:
            page.get_by_test_id("stDownloadButton").filter(has_text="Word").first.click()
        docx_path = tmp_path / "answer.docx"
        dl.value.save_as(docx_path)
        from docx import Document

        text = "\n".join(par.text for par in Document(str(docx_path)).paragraphs)
        assert "[1]" in text and "[R]" in text
        # a reload reopens the conversation
        url = page.url
        page.reload(wait_until="domcontentloaded")
        _wait_answer(page)
        assert page.url == url
        assert page.get_by_test_id("stChatMessage").filter(has_text=QUESTION).count() >= 1
    finally:
        page.close()


def test_upload_a_document_and_find_it(ui_server, browser, tmp_path, kb):
    doc = tmp_path / "sponge-city-notes.md"
    body = ("海绵城市建设推进雨水收集与利用，试点城市建成透水铺装和下沉式绿地，"
            "年雨水资源化利用量明显提升，城市内涝得到缓解。") * 4
    doc.write_text(f"# 一、海绵城市雨水收集试点\n\n{body}\n\n# 二、经验做法\n\n{body}\n", encoding="utf-8")
    page = _open(browser, ui_server)
    try:
        page.get_by_role("tab", name="Documents").click()
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(doc))
        page.get_by_label("Title (optional)").fill("Sponge city notes 海绵城市笔记")
        page.get_by_role("button", name="Ingest").click()
        page.get_by_text("Ingested: 1 added").wait_for(timeout=ANSWER_TIMEOUT * 1000)
        page.get_by_text("document(s)").first.wait_for()
        assert f"{len(kb.documents()) + 1} document(s)" in page.inner_text("body")
        # the new document answers questions
        page.get_by_role("tab", name="Ask").click()
        # the Ask view's own chat box (while the view switches, the Documents view's ask box may still be there)
        box = page.get_by_test_id("stBottomBlockContainer").get_by_test_id("stChatInputTextArea")
        box.fill("海绵城市雨水收集")
        box.press("Enter")
        _wait_answer(page)
        page.locator("a.kb-cite[data-n='1']").first.click()
        page.get_by_text("Sponge city notes 海绵城市笔记").first.wait_for(timeout=30_000)   # the source, opened
        # and it can be removed again
        page.get_by_role("tab", name="Documents").click()
        pick = page.get_by_test_id("stSelectbox").filter(has_text="Document to remove").locator("input").first
        pick.click()
        pick.fill("Sponge city")
        page.get_by_role("option").filter(has_text="Sponge city notes").first.click()
        page.get_by_role("button", name="Remove").click()
        page.get_by_text("Removed Sponge city notes").wait_for(timeout=ANSWER_TIMEOUT * 1000)
        assert f"{len(kb.documents())} document(s)" in page.inner_text("body")
    finally:
        page.close()
