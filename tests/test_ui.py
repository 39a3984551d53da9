"""The Streamlit explorer, driven headless with streamlit.testing (no browser).

The app runs the real knowledge base (the session's ingested corpus) through the same
`KnowledgeBase` + `answer` layer as the CLI and the API.
"""
from __future__ import annotations

import html
import re

import pytest
from streamlit.testing.v1 import AppTest

from kb.gazetteer import gazetteer
from kb.settings import PROJECT_ROOT

APP = str(PROJECT_ROOT / "ui" / "app.py")
QUESTION = "how are cities handling phosphogypsum"


def _plain(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup.replace("<br>", "\n")))


def _all_markdown(node) -> str:
    return "\n".join(m.value for m in node.markdown)


@pytest.fixture
def app(kb_settings, monkeypatch):
    monkeypatch.setenv("KB_DATA_DIR", str(kb_settings.data_dir))
    monkeypatch.setenv("KB_CACHE_DIR", str(kb_settings.embedding_cache_dir))
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def _ask(at: AppTest, question: str) -> dict:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    turn = at.session_state["turns"][-1]
    assert turn["error"] is None, turn["error"]
    return turn


def test_english_question_gets_cited_answer(app):
    turn = _ask(app, QUESTION)
    res = turn["answer"]
    assert res["statements"] and res["citations"]
    text = _plain(_all_markdown(app))
    assert "[1]" in text
    assert any(city in text for city in ("贵阳市", "德阳市", "宜昌市")), text[:2000]
    # the English query shows what it was searched as
    assert res["expanded"] and "磷石膏" in res["expanded"]
    assert "Searched as" in text and "磷石膏" in text
    # one expander per citation, numbered like the markers
    labels = [e.label for e in app.expander]
    for c in res["citations"]:
        assert any(lbl.startswith(f"[{c['n']}]") for lbl in labels), labels
    # the user can correct the search terms and ask again with them
    app.text_input(key="fix-text-0").set_value("磷石膏 综合利用").run()
    app.button(key="fix-go-0").click().run()
    assert not app.exception
    assert [t["question"] for t in app.session_state["turns"]] == [QUESTION, "磷石膏 综合利用"]
    # the evidence-by-region chart is drawn for this question
    assert any("Evidence by region" in s.value for s in app.subheader)


def test_citation_expander_shows_passage_reference_and_neighbours(app, kb):
    turn = _ask(app, QUESTION)
    first = turn["answer"]["citations"][0]
    hit = kb.passage(first["passage_id"])
    exp = next(e for e in app.expander if e.label.startswith("[1]"))
    shown = _plain(_all_markdown(exp))
    assert hit["text"][:40] in shown
    assert "<mark>" in _all_markdown(exp)              # query terms highlighted
    assert any(c.value == first["reference"] for c in exp.code)   # reference ready to copy
    # neighbours: the button shows the previous / next passage
    exp.button[0].click().run()
    assert not app.exception
    exp = next(e for e in app.expander if e.label.startswith("[1]"))
    shown = _plain(_all_markdown(exp))
    neighbour = kb.passage(hit["next_id"] or hit["prev_id"])
    assert neighbour["text"][:40] in shown


def test_region_filter_limits_the_evidence(app, kb):
    app.sidebar.selectbox(key="f_region").set_value("贵州省").run()
    assert not app.exception
    expected = kb.facets({"region": "贵州省"})["total"]
    assert 0 < expected < kb.facets()["total"]
    assert any(m.value.replace(",", "") == str(expected) for m in app.sidebar.metric)
    turn = _ask(app, "磷石膏综合利用")
    assert turn["filters"] == {"region": "贵州省"}
    cited = [c["passage_id"] for c in turn["answer"]["citations"]]
    assert cited
    gaz = gazetteer()
    for pid in cited + [h["id"] for h in turn["evidence"]]:
        scope = kb.passages[kb.row_of[pid]]["region_scope"]
        assert any(gaz.contains("贵州省", r) for r in scope), (pid, scope)
    for c in turn["answer"]["citations"]:
        regions = kb.passage(c["passage_id"])["tags"]["region"]
        assert any(r["name"] == "贵州省" or r["province"] == "贵州省" for r in regions), (c, regions)


def test_empty_answer_says_what_to_try(app):
    turn = _ask(app, "quantum entanglement of neutron stars")
    if turn["answer"]["statements"]:
        pytest.skip("the knowledge base found something to say")
    text = _plain(_all_markdown(app))
    assert "Try:" in text


def test_policy_catalog_and_indicators_render(app):
    numbers = []
    for df in app.dataframe:
        value = df.value
        if "number" in value.columns:
            numbers.extend(value["number"].dropna().tolist())
    assert "国办发〔2024〕7号" in numbers
    assert any("indicator" in df.value.columns and len(df.value) for df in app.dataframe)


def test_missing_knowledge_base_says_run_ingest(tmp_path, monkeypatch):
    monkeypatch.setenv("KB_DATA_DIR", str(tmp_path / "nothing-here"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert any("no knowledge base" in e.value.lower() for e in at.error)
    assert any("kb ingest" in c.value for c in at.code)


def test_section_tree_opens_a_section(app, kb):
    doc = kb.document(kb.documents()[0]["doc_id"])
    flat = []

    def walk(nodes):
        for n in nodes:
            flat.append(n)
            walk(n["children"])
    walk(doc["sections"])
    j = max(range(len(flat)), key=lambda i: len(flat[i]["passages"]))
    app.selectbox(key="sec_jump").set_value(j).run()
    assert not app.exception
    assert any(s.value == flat[j]["title"] for s in app.subheader)
    first = kb.passage(flat[j]["passages"][0])["text"][:30]
    assert any(first in _plain(m.value) for m in app.markdown)
