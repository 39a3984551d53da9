"""`kb` in subprocesses against the session's knowledge base: JSON and readable output,
one-line errors without tracebacks, and `kb eval` on a tiny gold file."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kb.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration


def run_kb(settings, *args, data_dir=True, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env["KB_CACHE_DIR"] = str(settings.cache_dir)
    env["PYTHONIOENCODING"] = "utf-8"
    cmd = [sys.executable, "-m", "kb.cli", *args]
    if data_dir:
        cmd += ["--data-dir", str(settings.data_dir)]
    return subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, encoding="utf-8",
                          timeout=timeout)


def test_search_json_prints_the_contract_result(kb, kb_settings):
    query = "how are cities handling phosphogypsum"
    proc = run_kb(kb_settings, "search", query, "--k", "5", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout)
    assert result["query"] == query
    assert "磷石膏" in result["expanded"]
    assert len(result["results"]) == 5
    for hit in result["results"]:
        assert {"id", "text", "score", "doc_id", "doc_title", "section", "pages", "tags", "citation"} <= set(hit)
        assert set(hit["tags"]) == {"kind", "domain", "region", "year", "instrument", "doc_year", "doc_type"}
        assert hit["citation"].startswith("生态环境部固体废物与化学品管理技术中心. “无废城市”建设进展研究报告（2024年）[R]. ")
    # the command line is a thin wrapper: same passages as the library
    assert [h["id"] for h in result["results"]] == [h["id"] for h in kb.search(query, k=5)["results"]]


def test_search_json_with_filters_and_mode(kb_settings):
    proc = run_kb(kb_settings, "search", "磷石膏", "--mode", "bm25", "--region", "Guizhou", "--kind", "case_study",
                  "--k", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["mode"] == "bm25"
    assert len(result["results"]) == 3
    for hit in result["results"]:
        assert hit["tags"]["kind"] == "case_study"
        assert any(r["province"] == "贵州省" for r in hit["tags"]["region"])


def test_search_readable_output_shows_section_and_pages(kb_settings):
    as_json = json.loads(run_kb(kb_settings, "search", "磷石膏综合利用", "--mode", "bm25", "--k", "3", "--json").stdout)
    proc = run_kb(kb_settings, "search", "磷石膏综合利用", "--mode", "bm25", "--k", "3")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for hit in as_json["results"]:
        assert hit["section"][-1] in out
        a, b = hit["pages"]
        assert (f"p. {a}" if a == b else f"pp. {a}-{b}") in out
        assert hit["id"] in out
    assert "磷石膏" in out


@pytest.mark.parametrize("args, needle", [
    (["search", ""], "empty query"),
    (["search", "   "], "empty query"),
    (["search", "磷石膏", "--mode", "fts"], "fts"),
    (["search", "磷石膏", "--region", "Atlantis"], "Atlantis"),
    (["search", "磷石膏", "--kind", "blog_post"], "blog_post"),
    (["search", "磷石膏", "--k", "0"], "k"),
    (["search", "磷" * 501], "too long"),
], ids=["empty", "blank", "mode", "region", "kind", "k", "too-long"])
def test_bad_input_is_one_line_on_stderr(kb_settings, args, needle):
    proc = run_kb(kb_settings, *args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0]
    assert proc.stdout == ""


@pytest.mark.parametrize("command", [["search", "磷石膏"], ["eval"]])
def test_missing_data_dir_is_one_line_on_stderr(kb_settings, tmp_path, command):
    proc = run_kb(kb_settings, *command, "--data-dir", str(tmp_path / "nothing-here"), data_dir=False)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "kb ingest" in lines[0]


GOLD = [
    {"id": "t-en", "lang": "en", "type": "material", "query": "phosphogypsum utilization",
     "relevant": [{"anchor": "磷石膏", "grade": 2}, {"anchor": "磷石膏综合利用", "grade": 1}]},
    {"id": "t-zh", "lang": "zh", "type": "material", "query": "秸秆综合利用",
     "relevant": [{"anchor": "秸秆", "grade": 2}]},
]


def test_eval_json_reports_every_mode_per_language_and_compares_saved_runs(kb_settings, tmp_path):
    gold = tmp_path / "mine.jsonl"
    gold.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in GOLD) + "\n", encoding="utf-8")
    saved = tmp_path / "run.json"
    proc = run_kb(kb_settings, "eval", "--gold", str(gold), "--json", "--save", str(saved))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["k"] == 10 and list(report["sets"]) == ["mine"]   # only the file asked for, as its own set
    entry = report["sets"]["mine"]
    assert entry["role"] == "extra" and entry["unjudged"] == [] and entry["ceiling"]["ndcg@10"] == 1.0
    metrics = {"ndcg@10", "recall@10", "mrr@10-l2", "hit_rate@5-l2"}
    for mode in ("bm25", "dense", "hybrid"):
        fig = entry["figures"][mode]
        assert set(fig["lang"]) == {"en", "zh"} and fig["overall"]["n"] == 2 and fig["type"]["material"]["n"] == 2
        for lang in ("en", "zh"):
            figures = fig["lang"][lang]
            assert figures["n"] == 1 and set(figures) == metrics | {"n"}
            assert all(0.0 <= figures[m] <= 1.0 for m in metrics)
            # easy queries: a grade-2 passage (naming the material) in the top 5 in every mode
            assert figures["hit_rate@5-l2"] == 1.0, (mode, lang, figures)
    proc = run_kb(kb_settings, "eval", "--compare", str(saved), str(saved), "--json", "--modes", "hybrid")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["mine"]["configs"]
    assert set(rows) == {"hybrid", "hybrid-notrans"}
    assert rows["hybrid"]["overall"]["ndcg@10"]["diff"] == 0.0 and rows["hybrid"]["overall"]["ndcg@10"]["p"] == 1.0
    proc = run_kb(kb_settings, "eval", "--compare", str(gold), str(saved))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_eval_missing_gold_file_is_one_line(kb_settings, tmp_path):
    proc = run_kb(kb_settings, "eval", "--gold", str(tmp_path / "none.jsonl"))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
