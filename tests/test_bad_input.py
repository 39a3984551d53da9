"""Hostile and broken input: every bad file gets one clear line, in bounded time and memory,
and the good files of the same run are still ingested. Hostile PDFs are built here."""
from __future__ import annotations

import io
import os
import resource
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from kb import store
from kb.settings import PROJECT_ROOT, Settings

REPORT = PROJECT_ROOT / "corpus" / "zero-waste-cities-2024.txt"


# ------------------------------------------------------------------ hostile PDF builders

def build_pdf(objects: list[bytes], prev: str | None = None) -> bytes:
    """A PDF with objects 1..n and a correct cross-reference table. `prev`: "self" makes the
    trailer's /Prev point at its own xref; "pair" adds a second xref section, the two pointing
    at each other."""
    buf = io.BytesIO()
    buf.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(buf.tell())
        buf.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")

    def xref_section(at_prev: int | None) -> int:
        pos = buf.tell()
        buf.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
        for off in offsets:
            buf.write(b"%010d 00000 n \n" % off)
        extra = b" /Prev %d" % at_prev if at_prev is not None else b""
        buf.write(b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (len(objects) + 1, extra))
        return pos

    if prev == "self":
        pos = buf.tell()
        xref_section(pos)
    elif prev == "pair":
        # section A at `a` points at B, section B points at A
        a = buf.tell()
        probe = io.BytesIO()
        # compute A's length to know where B starts
        probe.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
        probe.write(b"%010d 00000 n \n" % 0 * len(offsets))
        b_guess = a + len(probe.getvalue()) + len(b"trailer\n<< /Size %d /Root 1 0 R /Prev %010d >>\n"
                                                    % (len(objects) + 1, 0))
        xref_section(b_guess)
        assert buf.tell() <= b_guess
        buf.write(b" " * (b_guess - buf.tell()))
        pos = xref_section(a)
    else:
        pos = xref_section(None)
    buf.write(b"startxref\n%d\n%%%%EOF\n" % pos)
    return buf.getvalue()


def stream_obj(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def one_page(content: bytes, extra: bytes = b"") -> list[bytes]:
    return [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>",
            stream_obj(content, extra),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]


HELLO = b"BT /F1 12 Tf 72 700 Td (Hello from a looping PDF) Tj ET"


def zeros_bomb(total: int = 3 << 30, chunk: int = 8 << 20) -> bytes:
    """A valid zlib stream of `total` zero bytes (~1000:1): after a full flush the deflate
    state is reset, so every further chunk compresses to the same bytes; the Adler-32 of
    n zeros is (n mod 65521) << 16 | 1."""
    data = bytes(chunk)
    co = zlib.compressobj(9)
    head = co.compress(data) + co.flush(zlib.Z_FULL_FLUSH)
    unit = co.compress(data) + co.flush(zlib.Z_FULL_FLUSH)
    final = b"\x03\x00"  # an empty final fixed-Huffman block
    return head + unit * (total // chunk - 1) + final + struct.pack(">I", ((total % 65521) << 16) | 1)


def test_zeros_bomb_is_what_it_claims():
    small = zeros_bomb(64 << 20, 4 << 20)
    d = zlib.decompressobj()
    n = sum(len(d.decompress(small[i:i + 4096], 1 << 24)) for i in range(0, len(small), 4096))
    assert n == 64 << 20 and d.eof
    started = time.time()
    big = zeros_bomb()
    assert time.time() - started < 5 and len(big) < 4 << 20


def chinese_pdf(path: Path, text: str) -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path))
    c.setFont("STSong-Light", 11)
    for i in range(0, len(text), 40):
        c.drawString(40, 800 - 16 * (i // 40), text[i:i + 40])
    c.showPage()
    c.save()


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory):
    import pypdf

    folder = tmp_path_factory.mktemp("bad")
    (folder / "zero-waste-cities-2024.txt").write_bytes(REPORT.read_bytes())
    text = REPORT.read_text(encoding="utf-8")
    chapter2 = text[text.index("二、区域“无废城市”建设工作进展\n"):text.index("三、省（区、市）“无废城市”建设工作进展\n")]
    (folder / "gbk-regional.txt").write_bytes(chapter2.encode("gbk"))

    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.pdf").write_bytes(bytes(range(256)) * 64)
    sample = folder.parent / "sample-src.pdf"
    chinese_pdf(sample, "2024年2月9日，国务院办公厅印发《关于加快构建废弃物循环利用体系的意见》。" * 3)
    writer = pypdf.PdfWriter(clone_from=str(sample))
    writer.encrypt(user_password="secret", owner_password="owner")
    with open(folder / "encrypted.pdf", "wb") as fh:
        writer.write(fh)
    data = sample.read_bytes()
    (folder / "truncated.pdf").write_bytes(data[: len(data) // 2])
    (folder / "bomb.pdf").write_bytes(build_pdf(one_page(zeros_bomb(), b"/Filter /FlateDecode ")))
    objs = one_page(HELLO)
    objs[1] = b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>"   # the Pages node is its own kid
    (folder / "kids-loop.pdf").write_bytes(build_pdf(objs))
    objs = one_page(HELLO) + [b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>"]
    objs[1] = b"<< /Type /Pages /Kids [6 0 R] /Count 1 >>"   # its kid is a Pages node whose kid is it
    (folder / "parent-loop.pdf").write_bytes(build_pdf(objs))
    return folder


BAD = ["empty.txt", "binary.pdf", "encrypted.pdf", "truncated.pdf", "bomb.pdf", "kids-loop.pdf",
       "parent-loop.pdf"]
REASON = {"empty.txt": "empty", "binary.pdf": "not a PDF", "encrypted.pdf": "encrypted",
          "truncated.pdf": "PDF", "bomb.pdf": "decompress", "kids-loop.pdf": "PDF", "parent-loop.pdf": "PDF"}


def _fast(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", corpus_dir=REPORT.parent, cache_dir=tmp_path / "cache",
                    embedder="hash", xling_embedder="")


def test_each_bad_file_alone_fails_fast_with_one_line(bad_folder):
    from ingest.pipeline import process
    from kb.errors import DocumentError

    for name in BAD:
        started = time.time()
        with pytest.raises(DocumentError) as info:
            process(bad_folder / name)
        assert time.time() - started < 30, name
        message = str(info.value)
        assert "\n" not in message and len(message) < 400, message
        assert name in message and REASON[name].lower() in message.lower(), message
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    assert peak < 2.5 * 2 ** 30, peak


def test_gbk_text_is_decoded(bad_folder):
    from ingest.pipeline import process

    result = process(bad_folder / "gbk-regional.txt")
    assert "成渝地区双城经济圈在全国率先开展区域“无废城市”共建探索" in result.document["text"]
    assert [s["title"] for s in result.sections][0] == "二、区域“无废城市”建设工作进展"


def test_ingest_keeps_good_files_and_reports_bad_ones(bad_folder, tmp_path):
    from kb.build import ingest

    settings = _fast(tmp_path)
    started = time.time()
    report = ingest(settings, [bad_folder], show_progress=False)
    assert time.time() - started < 120
    assert sorted(d.rsplit("-", 1)[0] for d in report.added) == ["gbk-regional", "zero-waste-cities-2024"]
    assert len(report.errors) == len(BAD), report.errors
    for name in BAD:
        lines = [e for e in report.errors if name in e]
        assert len(lines) == 1 and "\n" not in lines[0], (name, report.errors)
    gen = store.current_generation(settings.data_dir)
    con = sqlite3.connect(gen / store.DB_NAME)
    docs = sorted(r[0] for r in con.execute("SELECT source FROM documents"))
    n = con.execute("SELECT count(*) FROM passages JOIN documents USING (doc_id) "
                    "WHERE source='zero-waste-cities-2024.txt'").fetchone()[0]
    con.close()
    assert docs == ["gbk-regional.txt", "zero-waste-cities-2024.txt"] and n > 100


def test_cli_reports_one_line_per_bad_file(bad_folder, tmp_path):
    env = dict(os.environ, KB_EMBEDDER="hash", KB_XLING_EMBEDDER="hash", KB_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=str(PROJECT_ROOT))
    proc = subprocess.run([sys.executable, "-m", "kb.cli", "ingest", str(bad_folder), "--data-dir",
                           str(tmp_path / "data"), "--quiet"], capture_output=True, text=True, env=env,
                          cwd=PROJECT_ROOT, timeout=180)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == len(BAD), proc.stderr
    for name in BAD:
        assert sum(name in line for line in errors) == 1, (name, proc.stderr)
    assert "added 2" in proc.stdout


@pytest.mark.parametrize("kind", ["self", "pair", "page-parent"])
def test_looping_but_readable(tmp_path, kind):
    """A /Prev chain that loops, a page whose /Parent is itself and a catalog listed among the
    kids: read what can be read, or refuse it, but quickly and in one line."""
    from ingest.pipeline import process
    from kb.errors import DocumentError

    path = tmp_path / f"loop-{kind}.pdf"
    if kind == "page-parent":
        objs = one_page(HELLO)
        objs[2] = objs[2].replace(b"/Parent 2 0 R", b"/Parent 3 0 R")
        objs[1] = b"<< /Type /Pages /Kids [3 0 R 1 0 R] /Count 2 >>"
        path.write_bytes(build_pdf(objs))
    else:
        path.write_bytes(build_pdf(one_page(HELLO), prev=kind))
    started = time.time()
    try:
        result = process(path)
    except DocumentError as exc:
        assert "\n" not in str(exc) and path.name in str(exc)
    else:
        assert "Hello from a looping PDF" in result.document["text"]
    assert time.time() - started < 30


def test_missing_path_and_unsupported_type(tmp_path):
    from kb.build import ingest

    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04")
    settings = _fast(tmp_path)
    report = ingest(settings, [tmp_path / "nope.txt"], show_progress=False)
    assert len(report.errors) == 1 and "no such file" in report.errors[0]
    report = ingest(settings, [tmp_path / "notes.docx"], show_progress=False)
    assert len(report.errors) == 1 and "unsupported file type" in report.errors[0]
