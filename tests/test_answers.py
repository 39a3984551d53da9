"""Answers on the real corpus: every precedent (sentences credited to the place they name), filters honoured
sentence by sentence, refusal of off-topic questions (a fixed sample of the held-out off-topic half), the
English gist, and the answer exported as Markdown and DOCX through the library, the CLI and the HTTP API."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import httpx
import pytest

from kb.answer import REFUSAL_LINES, answer, attributed_sentences
from kb.answer_eval import citation_checks
from kb.export import to_docx, to_markdown
from kb.gazetteer import gazetteer
from kb.gist import figure, gist
from kb.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration
PHOSPHOGYPSUM = "how are cities handling phosphogypsum"
FLOOR_REFUSED, FLOOR_ANSWERED = 0.90, 0.90   # below the held-out figures in eval/RESULTS.md (98.3% / 95.8%)


def read_jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (PROJECT_ROOT / "eval" / name).read_text(encoding="utf-8").splitlines()
            if line.strip()]


@pytest.fixture(scope="module")
def phosphogypsum(kb):
    return answer(kb, PHOSPHOGYPSUM)


# ------------------------------------------------------------------ every precedent

def test_sentences_are_credited_to_the_place_they_name(kb):
    """In passages naming several cities, a sentence naming one city belongs to that city, not to the
    passage's first place."""
    checked = 0
    for hit in kb.iter_passages():
        local = [r["name"] for r in hit["tags"]["region"] if r["level"] == "city"]
        if len(local) < 2:
            continue
        for s in attributed_sentences([hit]):
            cities = [q.name for q in s.named if q.level == "city"]
            if len(set(cities)) == 1 and all(gazetteer().contains(q.name, cities[0]) for q in s.named):
                assert s.place is not None and s.place.name == cities[0], (s.text, s.place)
                checked += s.place.name != local[0]
    assert checked >= 20   # many sentences are about a place other than their passage's first


def test_phosphogypsum_answer_has_one_statement_per_place(phosphogypsum, kb):
    places = [s["place"] for s in phosphogypsum["statements"] if s["place"]]
    assert len(places) == len(set(places)) >= 6
    assert "襄阳市" in places     # its sentence sits inside a passage that opens with 德阳市
    first_places = {r["name"] for c in phosphogypsum["citations"]
                    for r in kb.passage(c["passage_id"])["tags"]["region"][:1]}
    assert set(places) - first_places, "some places come only from sentences deeper in a passage"
    levels = {s["level"] for s in phosphogypsum["statements"]}
    assert "province" in levels and "city" in levels
    assert any(s["group"].endswith("provincial") for s in phosphogypsum["statements"] if s["level"] == "province")
    scores = [s["score"] for s in phosphogypsum["statements"]]
    assert scores == sorted(scores, reverse=True)   # strongest first


def test_every_citation_resolves_to_its_sentence(phosphogypsum, kb):
    ok, total = citation_checks(kb, phosphogypsum)
    assert total >= 6 and ok == total


# ------------------------------------------------------------------ filters per sentence

def test_region_filter_holds_for_every_quoted_sentence(kb):
    result = answer(kb, "磷石膏", filters={"region": "贵州省"})
    assert result["statements"]
    gaz = gazetteer()
    for s in result["statements"]:
        assert s["place"] and gaz.contains("贵州省", s["place"]), s
        for sentence in re.findall(r"(.+?)\[\d+\]", s["text"]):
            named = [p.name for _, _, p in gaz.find(sentence) if p.level in ("city", "district", "province")]
            assert not named or any(gaz.contains("贵州省", n) for n in named), sentence
    assert "德阳" not in "".join(s["text"] for s in result["statements"])


def test_year_filter_drops_sentences_about_other_years(kb):
    result = answer(kb, "磷石膏综合利用", filters={"year": 2024})
    for s in result["statements"]:
        for sentence in re.findall(r"(.+?)\[\d+\]", s["text"]):
            years = {int(y) for y in re.findall(r"((?:19|20)\d\d)(?=年)", sentence)}
            assert not years or 2024 in years, sentence


# ------------------------------------------------------------------ refusal

def test_held_out_refusal_floor(kb):
    """A fixed stride over the held-out split (no hand picking): the held-out off-topic half, and the held-out
    and fresh held-out questions. Floors a few points below the rates measured on the whole split
    (eval/RESULTS.md, "Answers"); held-out: counts only, never the questions."""
    off = [q["query"] for q in read_jsonl("offtopic.jsonl") if q.get("split") == "heldout"][::3]
    real = [q["query"] for name in ("heldout.jsonl", "heldout_fresh.jsonl") for q in read_jsonl(name)][::5]
    refused = sum(not answer(kb, q)["statements"] for q in off)
    answered = sum(bool(answer(kb, q)["statements"]) for q in real)
    assert refused >= FLOOR_REFUSED * len(off), f"{refused}/{len(off)} off-topic refused"
    assert answered >= FLOOR_ANSWERED * len(real), f"{answered}/{len(real)} held-out questions answered"


def test_refusal_combines_the_lexical_and_the_semantic_signal(kb):
    """The decision is the fitted line: similarity + weight x support >= threshold, both signals reported."""
    weight, threshold = REFUSAL_LINES[kb.embedder(kb.settings.embedder).key]
    for question in ("磷石膏综合利用", "what is the capital of France", "红烧肉怎么做"):
        result = answer(kb, question)
        assert 0 <= result["support"] <= 1 and -1 <= result["similarity"] <= 1
        assert result["relevance"] == pytest.approx(result["similarity"] + weight * result["support"], abs=2e-4)
        assert result["covered"] == (result["relevance"] >= threshold), result["relevance"]
    assert answer(kb, "磷石膏综合利用")["covered"] and not answer(kb, "红烧肉怎么做")["covered"]
    # a threshold given by the caller overrides the fitted one (the curve in eval/answer_threshold.py)
    assert answer(kb, "磷石膏综合利用", threshold=1.5)["covered"] is False


def test_an_embedder_without_a_fitted_line_refuses_on_support_alone(fast_settings, tmp_path):
    """Cosines of another model are not on the fitted scale: the hash embedder falls back to the lexical rule."""
    from kb.build import ingest
    from kb.search import KnowledgeBase

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text(
        "# 一、磷石膏\n\n德阳市出台磷石膏综合利用工作方案，2024年磷石膏综合利用量310.11万吨，综合利用率69.53%。\n\n"
        "# 二、危险废物\n\n浙江省推行小微企业危险废物收集模式，实现收集全覆盖。\n", encoding="utf-8")
    settings = fast_settings.with_(corpus_dir=corpus, min_chars=20)
    assert not ingest(settings, show_progress=False).errors
    small = KnowledgeBase.open(settings)
    result = answer(small, "磷石膏综合利用")
    assert result["similarity"] is None and result["covered"] and result["relevance"] == result["support"]
    assert not answer(small, "what is the capital of France")["covered"]


def test_refusal_says_what_was_searched(kb):
    result = answer(kb, "how do I bake sourdough bread at home")
    assert result["statements"] == [] and result["citations"] == [] and result["covered"] is False
    assert result["answer"].startswith("Not covered") and "Searched for" in result["answer"]


@pytest.mark.parametrize("question, country", [("Germany's packaging law and its recycling quotas", "德国"),
                                               ("日本的垃圾焚烧发电厂有多少座", "日本")])
def test_a_country_the_passages_do_not_speak_of_is_refused_and_named(kb, question, country):
    result = answer(kb, question)
    assert result["covered"] is False and result["statements"] == []
    assert [m.split()[0] for m in result["missing"]] == [country] and country in result["answer"]


def test_the_country_rule_alone_refuses_none_of_the_answerable_country_questions(kb):
    """eval/country_questions.jsonl: 39 questions the documents answer that name a country (or a group: the EU,
    中日韩) or hold a lookalike (内蒙古, 非洲猪瘟), written by a helper from the corpus without seeing the code.
    The rule may fire only where the similarity line refuses anyway."""
    weight, threshold = REFUSAL_LINES[kb.embedder(kb.settings.embedder).key]
    decided_by_the_rule = [q["query"] for q in read_jsonl("country_questions.jsonl")
                           if (r := answer(kb, q["query"]))["missing"] and r["relevance"] >= threshold]
    assert not decided_by_the_rule


def test_a_country_the_passages_speak_of_is_not_held_against_the_question(kb):
    """The report names a French company in a circular-economy park: a question about that is answered."""
    result = answer(kb, "French companies brought into circular economy industrial parks")
    assert result["covered"] and result["missing"] == []


# ------------------------------------------------------------------ English gist

@pytest.mark.parametrize("text, en", [("310.11万吨", "3.10 million t"), ("69.53%", "69.53%"),
                                      ("12.5亿元", "1.25 billion yuan"), ("2.15万亿元", "2.15 trillion yuan"), ("2024年5月", "May 2024"),
                                      ("1000万吨", "10.00 million t"), ("3.2个百分点", "3.2 percentage points")])
def test_figures_convert_units_exactly(text, en):
    assert figure(text) == en


def test_gist_renders_place_terms_figures_and_titles():
    g = gist("德阳市出台《德阳市磷石膏综合利用工作方案》，2024年磷石膏综合利用量310.11万吨，综合利用率69.53%。",
             ["plan"])
    assert g.en.startswith("Deyang")
    assert "phosphogypsum" in g.en and "3.10 million t" in g.en and "69.53%" in g.en
    assert "《德阳市磷石膏综合利用工作方案》" in g.en and g.en.endswith("[plan]")
    assert g.coverage >= 0.8


def test_english_statements_carry_a_gist(phosphogypsum):
    for s in phosphogypsum["statements"]:
        assert s["en"] and 0 < s["en_coverage"] <= 1
        assert re.search(r"\[\d+\]", s["en"])


# ------------------------------------------------------------------ ready to cite

@pytest.mark.parametrize("doc_type, code", [("report", "[R]"), ("work_report", "[Z]")])
def test_references_are_gbt7714_with_estimated_pages_marked(kb, doc_type, code):
    result = answer(kb, "资源循环利用", filters={"doc_type": doc_type})
    assert result["citations"]
    for c in result["citations"]:
        assert kb.documents_by_id[c["doc_id"]]["doc_type"] == doc_type
        assert f"{code}. " in c["reference"], c
        assert ("约" in c["reference"]) == c["pages_estimated"], c


def test_markdown_and_docx_parse_back(phosphogypsum):
    from docx import Document

    md = to_markdown(phosphogypsum)
    assert md.startswith("# Answer: " + PHOSPHOGYPSUM)
    refs = md.split("## References")[1]
    numbers = re.findall(r"^\[(\d+)\] (.+?)\s*$", refs, flags=re.M)
    assert [int(n) for n, _ in numbers] == [c["n"] for c in phosphogypsum["citations"]]
    assert all(re.search(r"\[[RZ]\]", ref) for _, ref in numbers)
    doc = Document(io.BytesIO(to_docx(phosphogypsum)))
    text = [p.text for p in doc.paragraphs]
    assert text[0] == "Answer: " + PHOSPHOGYPSUM
    assert "References" in text
    for c in phosphogypsum["citations"]:
        assert f"[{c['n']}] {c['reference']}" in text


def test_docx_of_a_question_with_control_characters(kb):
    """A question holding characters a Word file cannot (found by schemathesis: `\x1b` gave a 500)."""
    from docx import Document

    result = answer(kb, "磷石膏\x1b综合\x00利用\ud800")
    doc = Document(io.BytesIO(to_docx(result)))
    assert doc.paragraphs[0].text.endswith("磷石膏综合利用")


def test_kb_ask_format_docx_writes_a_file(kb_settings, tmp_path):
    from docx import Document

    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env["KB_CACHE_DIR"] = str(kb_settings.cache_dir)
    out = tmp_path / "answer.docx"
    proc = subprocess.run([sys.executable, "-m", "kb.cli", "ask", "磷石膏", "--format", "docx", "--output", str(out),
                           "--data-dir", str(kb_settings.data_dir)], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    paragraphs = [p.text for p in Document(str(out)).paragraphs]
    assert paragraphs[0] == "回答: 磷石膏" and "参考文献" in paragraphs
    assert any(p.startswith("[1] ") for p in paragraphs)


def test_ask_markdown_through_the_server(server):
    with httpx.Client(base_url=server, timeout=120) as api:
        resp = api.post("/ask", params={"format": "markdown"}, json={"question": PHOSPHOGYPSUM})
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/markdown")
        assert "## References" in resp.text and re.search(r"^\[1\] .+\[R\]", resp.text, flags=re.M)
        body = api.post("/ask", json={"question": PHOSPHOGYPSUM}).json()
        assert body["statements"][0]["en"] and body["statements"][0]["level"]
        bad = api.post("/ask", params={"format": "pdf"}, json={"question": "磷石膏"})
        assert bad.status_code == 422 and "format" in bad.json()["detail"]


# ------------------------------------------------------------------ answer evaluation

def test_answer_evaluation_measures(kb, tmp_path):
    from kb.answer_eval import evaluate_answers

    gold = [q for q in read_jsonl("gold.jsonl") if q.get("type") == "precedent"][:2]
    (tmp_path / "real.jsonl").write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in gold), encoding="utf-8")
    off = [{"query": "how do I bake sourdough bread at home", "split": "tune"}, {"query": "磷石膏", "split": "tune"}]
    (tmp_path / "off.jsonl").write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in off), encoding="utf-8")
    report = evaluate_answers(kb, [tmp_path / "real.jsonl"], tmp_path / "off.jsonl")["real"]
    assert report["real_questions"] == 2 and report["offtopic_questions"] == 2
    assert report["refused"] == 0.5          # the bread question refused, 磷石膏 answered
    assert report["citation_precision"] == 1.0
    assert report["precedent_questions"] >= 1 and 0 < report["place_recall"] <= 1
    assert report["english_statements"] == 0 or 0 < report["gist_coverage"] <= 1
