"""The Streamlit explorer, driven headless with streamlit.testing (no browser).

The app runs the real knowledge base (the session's ingested corpus) through the same
`KnowledgeBase` + `answer` layer as the CLI and the API; conversations and feedback go to the
real SQLite store in the data directory.
"""
from __future__ import annotations

import html
import json
import re

import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from kb.conversations import ConversationStore, store_path
from kb.gazetteer import gazetteer
from kb.settings import PROJECT_ROOT
from ui.context import view_label
from ui.render import cited_by_province, jump_label

APP = str(PROJECT_ROOT / "ui" / "app.py")
QUESTION = "how are cities handling phosphogypsum"


def _plain(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup.replace("<br>", "\n")))


def _all_markdown(node) -> str:
    return "\n".join(m.value for m in node.markdown)


def _start(settings, monkeypatch, query_params: dict | None = None, **env) -> AppTest:
    monkeypatch.setenv("KB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("KB_CACHE_DIR", str(settings.embedding_cache_dir))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update(query_params or {})
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def app(kb_settings, monkeypatch):
    return _start(kb_settings, monkeypatch)


def _ask(at: AppTest, question: str) -> dict:
    at.chat_input(key="chat").set_value(question).run()
    assert not at.exception, at.exception
    turn = at.session_state["turns"][-1]
    assert turn["error"] is None, turn["error"]
    return turn


def _open(at: AppTest, view: str, lang: str = "en"):
    at.session_state["view"] = view_label(view, lang)
    at.run()
    assert not at.exception, at.exception


def _tab_has_content(at: AppTest) -> list[bool]:
    return [bool(tab.children) for tab in at.tabs]


# ---------------------------------------------------------------- asking and citations
def test_english_question_gets_cited_answer(app, kb):
    turn = _ask(app, QUESTION)
    res = turn["answer"]
    assert res["statements"] and res["citations"]
    markup = _all_markdown(app)
    text = _plain(markup)
    assert "[1]" in text
    assert any(city in text for city in ("贵阳市", "德阳市", "宜昌市")), text[:2000]
    assert "Searched as" in text and "磷石膏" in text
    # each [n] is a link to its source, with a hover preview holding the source's page and text
    first = kb.passage(res["citations"][0]["passage_id"])
    link = re.search(r'<a class="kb-cite" href="#kb-src-1" data-n="1" data-tip="([^"]*)"', markup)
    assert link, markup[:1500]
    tip = html.unescape(link.group(1))
    assert first["text"][:20].replace("\n", " ") in tip and str(first["pages"][0]) in tip
    labels = [e.label for e in app.expander]
    for c in res["citations"]:
        assert any(lbl.startswith(f"[{c['n']}]") for lbl in labels), labels
    # the user can correct the search terms and ask again with them
    app.text_input(key="fix-text-0").set_value("磷石膏 综合利用").run()
    app.button(key="fix-go-0").click().run()
    assert not app.exception
    assert [t["question"] for t in app.session_state["turns"]] == [QUESTION, "磷石膏 综合利用"]


def test_region_chart_counts_cited_passages_per_province(app, kb):
    turn = _ask(app, QUESTION)
    hits = [kb.passage(c["passage_id"]) for c in turn["answer"]["citations"]]
    rows, named = cited_by_province(hits)
    assert rows and named <= len(hits)
    assert all(r["passages"] <= len(hits) for r in rows)           # passages, never mentions
    gaz = gazetteer()
    for r in rows:
        assert gaz.places[r["province"]].level == "province"       # cities and counties count for their province
        assert r["passages"] == sum(any(x["name"] == r["province"] or x.get("province") == r["province"]
                                        for x in h["tags"]["region"]) for h in hits)
    text = _plain(_all_markdown(app))
    assert "Where the cited passages come from" in text
    assert f"{named} of the {len(hits)} cited passages" in "\n".join(c.value for c in app.caption)


def test_no_chart_when_nothing_found(app):
    turn = _ask(app, "quantum entanglement of neutron stars")
    if turn["answer"]["statements"]:
        pytest.skip("the knowledge base found something to say")
    text = _plain(_all_markdown(app))
    assert "Try:" in text
    assert "Where the cited passages come from" not in text
    assert not app.get("vega_lite_chart")


def test_citation_shows_passage_reference_neighbours_and_opens_in_document(app, kb):
    turn = _ask(app, QUESTION)
    first = turn["answer"]["citations"][0]
    hit = kb.passage(first["passage_id"])
    exp = next(e for e in app.expander if e.label.startswith("[1]"))
    shown = _plain(_all_markdown(exp))
    assert hit["text"][:40] in shown
    assert "<mark>" in _all_markdown(exp)
    assert any(c.value == first["reference"] for c in exp.code)
    exp.button[0].click().run()
    assert not app.exception
    exp = next(e for e in app.expander if e.label.startswith("[1]"))
    neighbour = kb.passage(hit["next_id"] or hit["prev_id"])
    assert neighbour["text"][:40] in _plain(_all_markdown(exp))
    # "open in document": the Read view at the passage's section, the passage marked for scrolling
    exp.button[1].click().run()
    assert not app.exception
    assert app.session_state["view"] == view_label("sections", "en")
    assert app.selectbox(key="doc").value == hit["doc_id"]
    focus = [m.value for m in app.markdown if "data-kb-focus" in m.value]
    assert len(focus) == 1 and hit["text"][:30] in _plain(focus[0])


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
    for c in turn["answer"]["citations"]:
        regions = kb.passage(c["passage_id"])["tags"]["region"]
        assert any(r["name"] == "贵州省" or r["province"] == "贵州省" for r in regions), (c, regions)


# ---------------------------------------------------------------- navigation
def test_question_from_another_view_opens_the_answer(app):
    _open(app, "policies")
    assert _tab_has_content(app) == [False, False, False, True, False]   # only the open view is built
    assert not app.chat_input(key="chat_elsewhere").value
    app.chat_input(key="chat_elsewhere").set_value("贵州省磷石膏综合利用").run()
    assert not app.exception, app.exception
    assert app.session_state["view"] == view_label("ask", "en")
    assert _tab_has_content(app)[0] and not any(_tab_has_content(app)[1:])
    assert [t["question"] for t in app.session_state["turns"]] == ["贵州省磷石膏综合利用"]
    assert app.expander, "the answer and its sources are shown"


def test_example_questions_are_clickable(app):
    app.button(key="example-1").click().run()
    assert not app.exception
    assert app.session_state["turns"][-1]["question"] == "贵州省磷石膏综合利用"


def test_language_toggle_keeps_the_view(app):
    _open(app, "indicators")
    app.segmented_control(key="lang_pick").set_value("zh").run()
    assert not app.exception
    assert app.session_state["view"] == view_label("indicators", "zh")
    assert [t.label for t in app.tabs][0].endswith("问答")
    assert _tab_has_content(app) == [False, False, False, False, True]


# ---------------------------------------------------------------- sessions, exports, feedback
def test_conversation_survives_a_reload_and_new_chat_starts_afresh(app, kb_settings, monkeypatch):
    _ask(app, QUESTION)
    cid = app.query_params["c"]
    assert cid and cid == app.session_state["cid"]
    again = _start(kb_settings, monkeypatch, query_params={"c": cid})   # a reload, or a shared link
    assert [t["question"] for t in again.session_state["turns"]] == [QUESTION]
    assert any(e.label.startswith("[1]") for e in again.expander)
    again.button(key="new_chat").click().run()
    assert again.session_state["turns"] == [] and "c" not in again.query_params
    stranger = _start(kb_settings, monkeypatch, query_params={"c": "../../etc"})
    assert stranger.session_state["turns"] == [] and "c" not in stranger.query_params


def test_answer_copy_and_feedback_export(app, kb_settings, tmp_path):
    turn = _ask(app, QUESTION)
    refs = [c["reference"] for c in turn["answer"]["citations"]]
    copied = [c.value for c in app.code if c.language == "markdown"]
    assert copied and all(r in copied[-1] for r in refs)
    assert {d.label for d in app.download_button} >= {"Markdown", "Word (DOCX)"}
    key = f"fb-{app.session_state['cid']}-{turn['seq']}"
    app.feedback(key=key).set_value(0).run()          # 👎
    assert not app.exception
    app.text_input(key=f"{key}-text").set_value("misses 宜昌市")
    app.button(key=f"{key}-send").click().run()
    assert not app.exception
    stored = ConversationStore(store_path(kb_settings.data_dir)).feedback(app.session_state["cid"], turn["seq"])
    assert stored == {"rating": -1, "comment": "misses 宜昌市"}
    from kb.cli import main

    out = tmp_path / "feedback.jsonl"
    result = CliRunner().invoke(main, ["feedback", "export", "--out", str(out), "--data-dir",
                                       str(kb_settings.data_dir)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    mine = [r for r in rows if r["conversation"] == app.session_state["cid"]]
    assert mine and mine[0]["rating"] == -1 and mine[0]["comment"] == "misses 宜昌市"
    assert mine[0]["question"] == QUESTION and mine[0]["passages"]


# ---------------------------------------------------------------- browsing
def test_policy_catalog_english_search_and_clean_cells(app, kb):
    _open(app, "policies")
    table = next(df.value for df in app.dataframe)
    assert "国办发〔2024〕7号" in table.iloc[:, 2].tolist()
    assert not table.isna().any().any() and "None" not in table.astype(str).values
    titles = {d["title"] for d in kb.documents()}
    assert not titles & set(table.iloc[:, 0])                   # a document is not a policy it names
    app.text_input(key="policy_q").set_value("phosphogypsum").run()
    found = next(df.value for df in app.dataframe)
    assert len(found) > 0 and all("磷石膏" in t for t in found.iloc[:, 0])
    assert any("searched as 磷石膏" in c.value for c in app.caption)


def test_indicators_per_unit_with_english_and_citation(app, kb):
    _open(app, "indicators")
    table = next(df.value for df in app.dataframe)
    assert "English" in table.columns and table["English"].str.contains("[a-z]").all()
    assert set(table["Unit"]) >= {"%"} and len(set(table["Unit"])) > 1
    ref = kb.passage(kb.indicators()[0]["passage_id"])["citation"]
    assert any(ref in c.value.replace("\\", "") for c in app.caption)
    assert app.get("vega_lite_chart")


def test_sections_jump_list_and_cap(app, kb):
    _open(app, "sections")
    doc = kb.document(app.selectbox(key="doc").value)
    flat = []

    def walk(nodes):
        for n in nodes:
            flat.append(n)
            walk(n["children"])
    walk(doc["sections"])
    j = max(range(len(flat)), key=lambda i: len(flat[i]["passages"]))
    options = app.selectbox(key="sec_jump").options
    assert options[j] == jump_label(flat[j]["path"]) and options[j].startswith(flat[j]["title"][:10])
    app.selectbox(key="sec_jump").set_value(j).run()
    assert not app.exception
    assert any(s.value.replace("\\", "") == flat[j]["title"] for s in app.subheader)
    first = kb.passage(flat[j]["passages"][0])["text"][:30]
    assert any(first in _plain(m.value) for m in app.markdown)
    # a heading whose text is in more than 40 passages below it says it is capped
    big = next((i for i, s in enumerate(flat) if not s["passages"] and sum(
        len(t["passages"]) for t in flat if t["path"][:len(s["path"])] == s["path"]) > 40), None)
    if big is not None:
        app.selectbox(key="sec_jump").set_value(big).run()
        assert any("first 40 of" in w.value for w in app.warning)


def test_sidebar_counts_are_cross_filtered(app, kb):
    app.sidebar.selectbox(key="f_region").set_value("贵州省").run()
    kinds = kb.facets({"region": "贵州省"})["kind"]
    shown = app.sidebar.selectbox(key="f_kind").options
    for value, n in kinds.items():
        assert any(o.endswith(f"({n})") for o in shown), (value, n, shown)
    assert app.sidebar.selectbox(key="f_year").label == "Year mentioned"
    # the document's own year and type are filters too, and the question is asked within them
    app.sidebar.selectbox(key="f_region").set_value(None).run()
    app.sidebar.selectbox(key="f_doc_year").set_value("2023").run()
    assert any(m.value.replace(",", "") == str(kb.facets({"doc_year": 2023})["total"]) for m in app.sidebar.metric)
    turn = _ask(app, "垃圾分类")
    assert turn["filters"] == {"doc_year": "2023"}
    assert all(kb.passage(c["passage_id"])["tags"]["doc_year"] == 2023 for c in turn["answer"]["citations"])


def test_documents_view_lists_the_library(app, kb):
    _open(app, "docs")
    table = next(df.value for df in app.dataframe)
    assert set(table["title"]) == {d["title"] for d in kb.documents()}
    assert not table.isna().any().any() and "None" not in table.astype(str).values
    # the timeline: matching passages per document year for a term
    app.text_input(key="timeline_q").set_value("垃圾分类").run()
    assert not app.exception
    assert app.get("vega_lite_chart")


def test_missing_knowledge_base_says_run_ingest(tmp_path, monkeypatch):
    monkeypatch.setenv("KB_DATA_DIR", str(tmp_path / "nothing-here"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert any("no knowledge base" in e.value.lower() for e in at.error)
    assert any("kb ingest" in c.value for c in at.code)


# ---------------------------------------------------------------- hostile text
HOSTILE = "Report ![t](http://127.0.0.1:9/x.png) [click](http://127.0.0.1:9/) <img src=x onerror=alert(1)> $x$"
UNESCAPED = re.compile(r"(?<!\\)!\\?\[|(?<!\\)\]\((?:http|/)|<img|(?<!\\)\$x")


def test_hostile_titles_and_questions_are_shown_literally(fast_settings, monkeypatch, tmp_path):
    from kb.build import ingest

    doc = tmp_path / "hostile.md"
    body = "磷石膏综合利用在贵州省推进，建立磷石膏无害化处理和资源化利用体系，年利用量大幅提升。" * 6
    doc.write_text(f"# 一、磷石膏 ![h](http://127.0.0.1:9/h.png)\n\n{body}\n\n## （一）[a](http://127.0.0.1:9/a)\n\n{body}\n",
                   encoding="utf-8")
    (tmp_path / "hostile.md.meta.json").write_text(json.dumps({"title": HOSTILE, "year": 2024}), encoding="utf-8")
    report = ingest(fast_settings, paths=[doc], show_progress=False)
    assert not report.errors, report.errors
    at = _start(fast_settings, monkeypatch, KB_EMBEDDER="hash", KB_XLING_EMBEDDER="")
    at.chat_input(key="chat").set_value("磷石膏 ![q](http://127.0.0.1:9/q.png) $x$").run()
    assert not at.exception, at.exception

    def texts(node):
        out = [m.value for m in node.markdown] + [c.value for c in node.caption]
        out += [e.label for e in node.expander] + [s.value for s in node.subheader]
        return out

    seen = texts(at)
    for view in ("docs", "sections", "policies"):
        _open(at, view)
        seen += texts(at)
    for value in seen:
        assert not UNESCAPED.search(value.replace("&lt;img", "")), value


@pytest.mark.parametrize("text", ["Tai'an", "a # b [1] ![x](http://h/x.png) $x$ <b>&amp;", "磷石膏\n第二行"])
def test_html_text_shows_text_literally(text):
    from ui.render import highlight, html_text

    for out in (html_text(text), highlight(text, ["磷石膏", "b"])):
        assert html.unescape(re.sub(r"</?mark>", "", out).replace("<br>", "\n")) == text
        assert not UNESCAPED.search(out)


def test_conversation_store_rules(tmp_path):
    from kb.errors import NotFound

    store = ConversationStore(tmp_path / "c.sqlite")
    cid = store.new("q")
    seq = store.add_turn(cid, {"question": "q", "filters": {"region": "贵州省"},
                               "answer": {"answer": "a", "citations": [{"passage_id": "p1"}]}, "error": None})
    assert seq == 0 and store.add_turn(cid, {"question": "q2", "filters": {}, "answer": None, "error": "bad"}) == 1
    assert [t["question"] for t in store.turns(cid)] == ["q", "q2"]
    store.set_feedback(cid, 0, 1, "good")
    store.set_feedback(cid, 0, -1, "changed my mind")        # a second vote replaces the first
    assert store.feedback(cid, 0) == {"rating": -1, "comment": "changed my mind"}
    assert [r["passages"] for r in store.export_feedback()] == [["p1"]]
    for bad in (lambda: store.set_feedback(cid, 9, 1), lambda: store.turns("nope"),
                lambda: store.add_turn("nope", {"question": "x"})):
        with pytest.raises(NotFound):
            bad()
    with pytest.raises(ValueError):
        store.set_feedback(cid, 0, 5)
    assert not store.exists("../x") and not store.exists("") and store.exists(cid)


def test_upload_names_stay_in_the_uploads_folder():
    from ui.library import safe_name

    assert safe_name("../../etc/passwd.md") == "passwd.md"
    assert safe_name("C:\\Users\\x\\报告 2024.PDF") == "报告-2024.pdf"
    assert safe_name(".hidden.txt") == "hidden.txt"
    assert safe_name("a b?c.txt") == "a-b-c.txt"
