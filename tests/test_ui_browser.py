"""The explorer in a real browser: `kb ui` as a server, Debian's chromium driven by playwright.

Skips only when /usr/bin/chromium is absent (never downloads a browser).
"""
from __future__ import annotations

import os
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

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no browser: /usr/bin/chromium is not installed")


def _kb_command() -> list[str]:
    script = Path(sys.executable).parent / "kb"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kb.cli"]


@pytest.fixture
def ui_server(kb_settings, tmp_path):
    port = free_port()
    env = dict(os.environ, KB_CACHE_DIR=str(kb_settings.embedding_cache_dir))
    log = open(tmp_path / "server.log", "wb")
    cmd = _kb_command() + ["ui", "--port", str(port), "--host", "127.0.0.1", "--data-dir", str(kb_settings.data_dir)]
    # own process group: `kb ui` starts streamlit as a child, and both must go at the end
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"`kb ui` exited with {proc.returncode}: {(tmp_path / 'server.log').read_text()[-2000:]}")
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


def ask_in_browser(url: str, question: str, screenshot: Path, width: int = 1400) -> str:
    """Open the app, ask `question`, wait for the cited answer, save a full-page screenshot; return page text."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 1000}, device_scale_factor=1)
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            box = page.get_by_test_id("stChatInputTextArea")
            box.wait_for(state="visible", timeout=ANSWER_TIMEOUT * 1000)
            box.click()
            box.fill(question)
            box.press("Enter")
            page.get_by_test_id("stExpander").first.wait_for(state="visible", timeout=ANSWER_TIMEOUT * 1000)
            page.get_by_text("Evidence by region").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)   # let charts and fonts settle
            # the app scrolls inside its own container: grow the viewport to the content for a full-page shot
            height = page.evaluate("""() => Math.max(document.documentElement.scrollHeight,
                ...Array.from(document.querySelectorAll('body *'))
                     .filter(e => e.scrollHeight > e.clientHeight + 10 && getComputedStyle(e).overflowY !== 'visible')
                     .map(e => e.scrollHeight + e.getBoundingClientRect().top))""")
            page.set_viewport_size({"width": width, "height": int(min(max(height, 900) + 40, 6000))})
            page.wait_for_timeout(800)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
            return page.inner_text("body")
        finally:
            browser.close()


def test_phosphogypsum_question_in_browser(ui_server, tmp_path):
    shot = tmp_path / "ui.png"
    text = ask_in_browser(ui_server, QUESTION, shot)
    assert "[1]" in text
    assert any(city in text for city in ("贵阳市", "德阳市")), text[:3000]
    assert "Searched as" in text and "磷石膏" in text
    assert shot.exists() and shot.stat().st_size > 20_000
