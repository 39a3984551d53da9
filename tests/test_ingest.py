"""The ingest pipeline on the real report: text kept, structure recovered, passages
within their sections, pages from the table of contents; and the store's
incremental ingest (unchanged files, changed files, removal).

Real corpus, real SQLite, no mocks; the hash embedder keeps the stored tests fast.
"""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


from ingest.structure import parse_heading
from kb import store
from kb.settings import PROJECT_ROOT, Settings

REPORT = PROJECT_ROOT / "corpus" / "zero-waste-cities-2024.txt"
CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
MIN, MAX = 150, 600

CHAPTERS = [
    "一、国家战略部署要求",
    "二、区域“无废城市”建设工作进展",
    "三、省（区、市）“无废城市”建设工作进展",
    "四、城市“无废城市”建设工作进展",
    "五、“无废城市”建设经验做法与探索实践",
]
CHAPTER4_ITEMS = [
    "加强组织领导，统筹高位推进",
    "推进工业固体废物规范化管理，解决典型固体废物突出问题",
    "完善农业固体废物收集体系，推进农业固体废物全量利用",
    "强化生活领域固体废物治理，发挥减废降碳协同增效作用",
    "加强再生资源行业规范管理，促进资源化产业发展",
    "健全建筑垃圾治理体系，规范全过程管理",
    "加强危险废物环境治理，严密防控环境风险",
    "完善四大体系建设，全面提升保障能力",
    "多主体建设“无废细胞”，以点带面助力“无废城市”",
    "多渠道开展宣传活动，共同营造“无废”氛围",
    "“双碳”视角下“无废城市”建设碳减排效益评估——以鄂尔多斯市为例",
]
# the 15 case studies of chapter five, as the table of contents names them
CASES = [
    ("（一）重点领域", [
        ("工业领域：贵阳市拓展磷石膏综合利用产业链，推进大宗工业固体废物减量化", 42),
        ("工业领域：宁波市打好“组合拳”，奏响一般工业固体废物“产、运、处、督”四部曲", 44),
        ("农业领域：大庆市打造“秸秆全量利用”产业发展模式", 47),
        ("生活领域：苏州市建设循环产业园，推动绿色低碳发展", 49),
        ("生活领域：西安市强化污泥无害化处置和资源化利用", 51),
        ("建筑领域：嘉兴市全周期精细化管控，探索建筑垃圾治理的“无废”路径", 53),
        ("危险废物领域：深圳市危险废物视频远程执法示范模式", 56),
        ("综合治理：台州市陆岛海统筹，全力推进“无废城市”建设显成效", 58),
        ("综合治理：山东省建设“无废山东”智慧管理平台，加强固体废物环境风险防控", 62),
        ("综合治理：徐州市“智换炭”平台赋能“减废降碳”协同增效新模式", 64),
    ]),
    ("（二）“无废细胞”建设", [
        ("呼和浩特市打造工业固体危险废物资源综合利用产业示范聚集区", 66),
        ("东莞市松山湖高新技术产业开发区创新“无废园区”管理模式", 69),
        ("青岛市以“三变革三协同”打造“无废园区”建设样板", 72),
        ("温州市在历史文化核心商圈打造“绿见古城”无废新名片", 76),
        ("西双版纳傣族自治州探索“象往版纳-纳里无废”旅游新模式", 78),
    ]),
]


def cjk(text: str) -> str:
    return "".join(CJK.findall(text))


def dash_fold(title: str) -> str:
    """The printed body sets some hyphens as en dashes where the TOC has '-'."""
    return re.sub(r"\s*[-‐‑–]\s*", "-", title)


def fast(data_dir: Path, **changes) -> Settings:
    values = dict(data_dir=data_dir, corpus_dir=REPORT.parent, cache_dir=data_dir.parent / "emb-cache",
                  embedder="hash", xling_embedder="")
    return Settings(**{**values, **changes})


def section_of(processed, rank, title):
    return [s for s in processed.sections if s["rank"] == rank and s["title"].endswith(title)]


# ------------------------------------------------------------------ text kept

def _raw_body() -> tuple[list[str], list[str]]:
    """Body lines of the raw report (after the TOC, before the back cover), and its footnotes."""
    raw = REPORT.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(raw) if line.strip() == CHAPTERS[0])  # the TOC line has a page
    end = max(i for i, line in enumerate(raw) if "。" in line)                       # back cover: no prose
    body, notes = [], []
    chapter_lines = set(CHAPTERS)
    seen_chapters = set()
    for line in raw[start:end + 1]:
        s = line.strip()
        if not s or re.match(r"^图\s*\d+", s):          # figure captions (their images are gone)
            continue
        if re.match(r"^\^?[①-⑳]", s):                   # footnotes float to the end of their paragraph
            notes.append(s)
            continue
        if s in chapter_lines:
            if s in seen_chapters:                          # running head repeating a chapter title
                continue
            seen_chapters.add(s)
        if s.startswith("续表"):
            continue
        if "\t" in s and not re.search(r"\d", s):          # table header row: becomes the row labels
            continue
        body.append(s)
    return body, notes


def test_body_text_is_kept_in_order(processed):
    text = processed.document["text"]
    stream = cjk(text)
    body, notes = _raw_body()
    pos, missing = 0, []
    for line in body:
        chars = cjk(line)
        if not chars:
            continue
        j = stream.find(chars, pos)
        if j < 0:
            missing.append(line[:60])
        else:
            pos = j + len(chars)
    assert not missing, f"{len(missing)} body lines lost or out of order, e.g. {missing[:5]}"
    for note in notes:
        assert cjk(note) in stream, note
    body_start = text.index(CHAPTERS[0])
    raw_count = sum(len(cjk(line)) for line in body)
    kept = len(cjk(text[body_start:]))
    assert kept >= 0.99 * raw_count, (kept, raw_count)


def test_front_matter_and_back_cover_are_not_body(processed):
    text = processed.document["text"]
    assert "ISBN" not in text and "定价" not in text and "责任编辑" not in text
    assert "图书在版编目" not in text
    front = [p for p in processed.passages if p["kind"] == "front_matter"]
    assert front and all(p["pages"] is None and p["section"] == ["前言"] for p in front)
    # the preface is kept (it is prose), before the first chapter
    assert any("固体废物综合治理是生态文明建设的重要内容之一" in p["text"] for p in front)


# ------------------------------------------------------------------ structure

def test_chapters_subsections_and_cases(processed):
    sections = processed.sections
    assert [s["title"] for s in sections if s["rank"] == 1] == CHAPTERS
    ch4 = [s for s in sections if s["path"][0] == CHAPTERS[3]]
    assert [s["title"] for s in ch4 if s["rank"] == 2] == ["（一）指标进展情况", "（二）重点领域工作进展"]
    items = [s for s in ch4 if s["rank"] == 3]
    assert [s["title"] for s in items if s["path"][1] == "（一）指标进展情况"] == ["1. 全国总体情况", "2. 单项指标情况"]
    assert [s["title"] for s in items if s["path"][1] == "（二）重点领域工作进展"] == \
        [f"{i}. {t}" for i, t in enumerate(CHAPTER4_ITEMS, 1)]
    ch1 = [s["title"] for s in sections if s["path"][0] == CHAPTERS[0] and s["rank"] == 2]
    assert ch1 == ["（一）党中央、国务院重要部署", "（二）相关部门工作要求"]
    ch5 = [s for s in sections if s["path"][0] == CHAPTERS[4]]
    assert [s["title"] for s in ch5 if s["rank"] == 2] == [group for group, _ in CASES]
    for group, cases in CASES:
        found = [s for s in ch5 if s["rank"] == 3 and s["path"][1] == group]
        assert [dash_fold(s["title"]) for s in found] == [f"{i}. {t}" for i, (t, _) in enumerate(cases, 1)]
        assert [s["page"] for s in found] == [p for _, p in cases]


def test_running_head_makes_no_section(processed):
    title = CHAPTERS[2]
    assert [s["title"] for s in processed.sections].count(title) == 1
    assert processed.document["text"].count(title) == 1
    joined = [p for p in processed.passages if "召开“无废城市”建设推进会" in p["text"]]
    assert len(joined) == 1 and joined[0]["section"] == [title]
    assert "宁夏回族自治区印发" in joined[0]["text"]


def test_every_passage_lies_in_one_section(processed):
    text = processed.document["text"]
    heads = {s["start"]: s for s in processed.sections}
    starts = sorted(heads)
    for p in processed.passages:
        assert text[p["start"]:p["end"]] == p["text"], p["id"]
        assert p["section"], p["id"]
        # the passage's own heading lines come first; no other heading inside
        pos = p["start"]
        for line in p["text"].split("\n"):
            if pos in heads and heads[pos]["title"] == line:
                pos += len(line) + 1
            else:
                break
        inside = [heads[o]["title"] for o in starts if pos <= o < p["end"]]
        assert not inside, (p["id"], p["section"], inside)
        before = [o for o in starts if o < pos]
        if p["kind"] == "front_matter":
            assert not before or p["start"] < starts[0] or p["section"] == ["前言"]
        else:
            assert before, p["id"]
            assert heads[before[-1]]["path"] == p["section"], (p["id"], p["section"])


def test_pages_and_passage_sizes(processed):
    passages = processed.passages
    prose_count: dict[tuple, int] = {}
    for p in passages:
        if not p["text"].split("\n")[-1].startswith(("表",)) and "：平均值" not in p["text"]:
            prose_count[tuple(p["section"])] = prose_count.get(tuple(p["section"]), 0) + 1
    last = 0
    for p in passages:
        if p["kind"] == "front_matter":
            assert p["pages"] is None
        else:
            assert p["pages"] and 1 <= p["pages"][0] <= p["pages"][1] <= 80, p["id"]
            assert p["pages"][0] >= last, (p["id"], p["pages"], last)
            last = p["pages"][0]
        heads = 0
        for line in p["text"].split("\n"):
            if parse_heading(line) and len(line) < 70 and not re.search(r"[。；]", line):
                heads += len(line) + 1
            else:
                break
        body = len(p["text"]) - heads
        single_sentence = len(re.findall(r"[。！？；]", p["text"])) <= 1
        assert body <= MAX or single_sentence, (p["id"], body)
        if len(p["text"]) < MIN:
            # too short only where the whole section is too short to fill a passage
            assert prose_count[tuple(p["section"])] == 1, (p["id"], p["section"], p["text"][:40])


def test_pages_from_the_toc(processed):
    secs = processed.sections
    guiyang = [s for s in secs if "贵阳市拓展磷石膏" in s["title"]]
    assert guiyang[0]["page"] == 42
    in_case = [p for p in processed.passages if len(p["section"]) > 2 and "贵阳市拓展磷石膏" in p["section"][2]]
    assert in_case[0]["pages"][0] == 42 and in_case[-1]["pages"][1] <= 44
    table = [p for p in processed.passages if p["text"].startswith("表1")]
    assert table and table[0]["pages"] == [18, 19]
    assert processed.document["pages_estimated"] == 1
    # every TOC entry's heading gets the TOC's page
    toc = [l for l in REPORT.read_text(encoding="utf-8").splitlines() if re.search(r"\t\d+$", l)]
    assert len(toc) >= 39
    pages = {}
    for s in secs:
        pages.setdefault(re.sub(r"\W", "", dash_fold(s["title"])), s["page"])
    for line in toc:
        title, page = line.rsplit("\t", 1)
        key = re.sub(r"\W", "", dash_fold(title.replace("(", "（").replace(")", "）")))
        key = re.sub(r"^([一二三四五六七八九十]+|\d+)", "", key)
        match = [v for k, v in pages.items() if re.sub(r"^([一二三四五六七八九十]+|\d+)", "", k) == key]
        assert match and int(page) in match, (title, page, match)


def test_indicator_rows(processed):
    rows = processed.indicators
    assert len(rows) == 10
    first = rows[0]
    assert first["indicator"] == "工业固体废物产生强度" and first["unit"] == "吨/万元"
    assert (first["mean"], first["median"]) == (0.66, 0.43)


# ------------------------------------------------------------------ store: incremental ingest

def _ids(gen: Path, doc_id: str | None = None) -> list[str]:
    con = sqlite3.connect(gen / store.DB_NAME)
    try:
        if doc_id:
            return [r[0] for r in con.execute("SELECT id FROM passages WHERE doc_id=? ORDER BY seq", [doc_id])]
        return [r[0] for r in con.execute("SELECT id FROM passages ORDER BY doc_id, seq")]
    finally:
        con.close()


def _second_doc(path: Path, extra: str = "") -> None:
    text = REPORT.read_text(encoding="utf-8")
    part = text[text.index("二、区域“无废城市”建设工作进展\n"):text.index("三、省（区、市）“无废城市”建设工作进展\n")]
    path.write_text("# 区域共建摘录\n\n" + part + extra, encoding="utf-8")


def test_reingest_unchanged_changed_and_removed(tmp_path):
    from kb.build import ingest

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(REPORT, corpus / REPORT.name)
    _second_doc(corpus / "regional-excerpt.md")
    settings = fast(tmp_path / "data", corpus_dir=corpus)

    first = ingest(settings, [corpus], show_progress=False)
    assert not first.errors and len(first.added) == 2
    excerpt_id, report_id = sorted(first.added)
    assert excerpt_id.startswith("regional-excerpt-") and report_id.startswith("zero-waste-cities-2024-")
    gen1 = store.current_generation(settings.data_dir)
    report_ids = _ids(gen1, report_id)
    excerpt_ids = _ids(gen1, excerpt_id)
    assert report_ids and excerpt_ids

    started = time.time()
    again = ingest(settings, [corpus], show_progress=False)
    assert time.time() - started < 2
    assert not again.changed and again.generation == gen1.name
    assert sorted(again.unchanged) == [excerpt_id, report_id]
    assert store.current_generation(settings.data_dir) == gen1

    _second_doc(corpus / "regional-excerpt.md", "\n在其他区域，新增一段用于测试的文字，说明更新只替换本文件的段落。\n")
    changed = ingest(settings, [corpus], show_progress=False)
    assert changed.updated == [excerpt_id] and changed.unchanged == [report_id]
    gen2 = store.current_generation(settings.data_dir)
    assert gen2 != gen1
    assert _ids(gen2, report_id) == report_ids
    new_excerpt = _ids(gen2, excerpt_id)
    assert new_excerpt and new_excerpt != excerpt_ids
    con = sqlite3.connect(gen2 / store.DB_NAME)
    texts = [r[0] for r in con.execute("SELECT text FROM passages WHERE doc_id=?", [excerpt_id])]
    n_docs = con.execute("SELECT count(*) FROM documents").fetchone()[0]
    con.close()
    assert n_docs == 2 and any("新增一段用于测试的文字" in t for t in texts)
    assert len(set(_ids(gen2))) == len(_ids(gen2))

    env = dict(os.environ, KB_EMBEDDER="hash", KB_XLING_EMBEDDER="hash", KB_CACHE_DIR=str(settings.cache_dir),
               PYTHONPATH=str(PROJECT_ROOT))
    proc = subprocess.run([sys.executable, "-m", "kb.cli", "ingest", "--remove", excerpt_id,
                           "--data-dir", str(settings.data_dir), "--quiet"],
                          capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    gen3 = store.current_generation(settings.data_dir)
    assert gen3 != gen2
    assert _ids(gen3, excerpt_id) == []
    assert _ids(gen3, report_id) == report_ids

    proc = subprocess.run([sys.executable, "-m", "kb.cli", "ingest", "--remove", "no-such-doc",
                           "--data-dir", str(settings.data_dir), "--quiet"],
                          capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "no-such-doc" in proc.stderr
