"""The Ask view: a conversation of cited answers, kept in SQLite (its id in the URL as ?c=)."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from kb.conversations import valid_id
from kb.errors import KBError, NotFound
from kb.gazetteer import gazetteer
from ui.context import Ctx, go_to
from ui.gloss import gloss
from ui.render import (DOMAIN_LABELS, KIND_LABELS, cell_md, cited_by_province, highlight,
                       html_text, label, md_escape, hit_pages, preview, query_terms, statement_html)

EXAMPLES = ["how are cities handling phosphogypsum", "贵州省磷石膏综合利用", "construction waste recycling in Shenzhen",
            "危险废物 收集 试点"]
state = st.session_state


# ---------------------------------------------------------------- conversation state
def load_conversation(ctx: Ctx) -> None:
    """Reopen the conversation named in the URL (a reload or a shared link)."""
    cid = st.query_params.get("c")
    if cid == state.get("cid"):
        return
    state["cid"], state["turns"] = None, []
    if valid_id(cid) and ctx.store.exists(cid):
        state["cid"] = cid
        state["turns"] = ctx.store.turns(cid)
    elif cid is not None:
        del st.query_params["c"]   # an unknown or malformed id: start afresh


def new_chat() -> None:
    state["cid"], state["turns"] = None, []
    state["neighbours"] = set()
    if "c" in st.query_params:
        del st.query_params["c"]
    go_to("ask")


def open_conversation(cid: str) -> None:
    st.query_params["c"] = cid
    state["cid"] = "__reload__"   # load_conversation reads it from the URL
    go_to("ask")


def ask_pending(text: str) -> None:
    text = (text or "").strip()
    if text:
        state["pending"] = text
        go_to("ask")


def run_turn(ctx: Ctx, question: str) -> dict:
    from kb.answer import answer

    turn = {"question": question, "filters": dict(ctx.filters), "error": None, "answer": None}
    try:
        turn["answer"] = answer(ctx.kb, question, k=8, filters=ctx.filters or None)
    except KBError as exc:
        turn["error"] = str(exc)
    if not state.get("cid"):
        state["cid"] = ctx.store.new(question)
        st.query_params["c"] = state["cid"]
    turn["seq"] = ctx.store.add_turn(state["cid"], turn, generation=ctx.kb.generation.name)
    return turn


# ---------------------------------------------------------------- pieces of a turn
def _terms(ctx: Ctx, question: str) -> list[str]:
    cache = state.setdefault("terms_cache", {})
    if question not in cache:
        cache[question] = query_terms(ctx.kb, question)
    return cache[question]


def _hit(ctx: Ctx, pid: str) -> dict | None:
    try:
        return ctx.kb.passage(pid)
    except NotFound:
        return None


def filter_chips(ctx: Ctx, filters: dict) -> str:
    names = {"kind": lambda v: label(v, KIND_LABELS, ctx.lang), "domain": lambda v: label(v, DOMAIN_LABELS, ctx.lang)}
    return "".join(f'<span class="kb-chip">{html_text(k)}: {html_text(str(names.get(k, str)(v)))}</span>'
                   for k, v in filters.items())


def searched_as(res: dict) -> str:
    """For English questions: the Chinese terms the question was searched as (without the question itself)."""
    expanded = res.get("expanded") or ""
    if res.get("lang") != "en" or not expanded:
        return ""
    question = res.get("question") or ""
    if question and expanded.startswith(question):
        expanded = expanded[len(question):]
    return expanded.strip()


def _toggle_neighbours(key: str):
    state["neighbours"] = state.get("neighbours", set()) ^ {key}


def _open_in_document(ctx_docs: dict, hit: dict):
    """Switch to the Read view at the passage's section, the passage scrolled into view."""
    state["doc"] = hit["doc_id"]
    state["focus"] = hit["id"]
    state["sec_target"] = (hit["doc_id"], list(hit["section"]))
    go_to("sections")


def show_citation(ctx: Ctx, turn_key: str, c: dict, hit: dict | None, terms: list[str], group: str):
    nkey = f"{turn_key}-{c['n']}"
    if hit is None:
        with st.expander(f"[{c['n']}]  {cell_md(c.get('reference', c['passage_id']))}"):
            st.caption(ctx.t("gone"))
            st.code(c["reference"], language=None, wrap_lines=True)
        return
    section = hit["section"][-1] if hit["section"] else hit["doc_title"]
    head = f"{group} — " if group else ""
    open_ = nkey in state.get("neighbours", set())
    with st.expander(f"[{c['n']}]  {cell_md(head + section)} · {hit_pages(hit)}", expanded=open_):
        places = "".join(f'<span class="kb-chip">{html_text(r["name"])} {html_text(r.get("en") or "")}</span>'
                         for r in hit["tags"]["region"] if r["level"] != "national")
        en = gloss(section) if ctx.lang == "en" else ""
        st.markdown(f'<div class="kb-muted">{html_text(hit["doc_title"])} › {html_text(" › ".join(hit["section"]))}'
                    f' · {html_text(hit_pages(hit))}</div>'
                    + (f'<div class="kb-gloss">{html_text(en)}</div>' if en else "") + f"<div>{places}</div>",
                    unsafe_allow_html=True)
        if open_ and hit.get("prev_id"):
            prev = ctx.kb.passage(hit["prev_id"])
            st.caption(ctx.t("prev", pages=hit_pages(prev)))
            st.markdown(f'<div class="kb-neighbour">{highlight(prev["text"], terms)}</div>', unsafe_allow_html=True)
        st.markdown(f'<div class="kb-passage">{highlight(hit["text"], terms)}</div>', unsafe_allow_html=True)
        if open_ and hit.get("next_id"):
            nxt = ctx.kb.passage(hit["next_id"])
            st.caption(ctx.t("next", pages=hit_pages(nxt)))
            st.markdown(f'<div class="kb-neighbour">{highlight(nxt["text"], terms)}</div>', unsafe_allow_html=True)
        st.caption(ctx.t("reference"))
        st.code(c["reference"], language=None, wrap_lines=True)
        b1, b2 = st.columns(2)
        b1.button(ctx.t("nb.hide" if open_ else "nb.show"), key=f"nb-{nkey}", icon=":material/unfold_more:",
                  on_click=_toggle_neighbours, args=(nkey,), disabled=not (hit.get("prev_id") or hit.get("next_id")))
        b2.button(ctx.t("open_doc"), key=f"od-{nkey}", icon=":material/menu_book:", on_click=_open_in_document,
                  args=({}, hit))


def region_chart(ctx: Ctx, hits: list[dict]) -> None:
    """Cited passages per province: drawn only when some cited passage names a place."""
    rows, named = cited_by_province(hits)
    if not rows:
        return
    places = gazetteer().places
    df = pd.DataFrame(rows[:10])
    df["label"] = [f"{places[p].en} {p}" if ctx.lang == "en" and p in places and places[p].en else p
                   for p in df["province"]]
    st.markdown(f"**{md_escape(ctx.t('region.title'))}**")
    st.caption(ctx.t("region.caption", n=named, total=len(hits)))
    chart = (alt.Chart(df).mark_bar(color="#1b7f4b", cornerRadiusEnd=3)
             .encode(x=alt.X("passages:Q", title=ctx.t("region.axis"), axis=alt.Axis(tickMinStep=1, format="d")),
                     y=alt.Y("label:N", sort="-x", title=None, axis=alt.Axis(labelLimit=220)),
                     tooltip=[alt.Tooltip("province:N"), alt.Tooltip("passages:Q"), alt.Tooltip("places:N")])
             .properties(height=alt.Step(24), width=420))
    text = chart.mark_text(align="left", dx=3, color="#333").encode(text="passages:Q")
    st.altair_chart(chart + text, width="content")


def _answer_markdown(res: dict) -> str:
    from kb.export import to_markdown

    return to_markdown(res)


def _docx_bytes(res: dict) -> bytes:
    from kb.export import to_docx

    return to_docx(res)


def _save_rating(ctx: Ctx, seq: int, key: str):
    value = state.get(key)
    if value is not None and state.get("cid"):
        ctx.store.set_feedback(state["cid"], seq, 1 if value == 1 else -1,
                               (ctx.store.feedback(state["cid"], seq) or {}).get("comment", ""))


def _save_comment(ctx: Ctx, seq: int, key: str):
    value = state.get(key)
    if value is not None and state.get("cid"):
        ctx.store.set_feedback(state["cid"], seq, 1 if value == 1 else -1, state.get(f"{key}-text") or "")
        state[f"{key}-sent"] = True


def answer_actions(ctx: Ctx, turn: dict):
    res, seq = turn["answer"], turn["seq"]
    md = _answer_markdown(res)
    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
    with row.popover(ctx.t("copy"), icon=":material/content_copy:", type="tertiary"):
        st.code(md, language="markdown", wrap_lines=True)
    row.download_button(ctx.t("md"), data=md.encode("utf-8"), file_name=f"answer-{seq + 1}.md", mime="text/markdown",
                        key=f"dl-md-{seq}", icon=":material/download:", on_click="ignore", type="tertiary")
    row.download_button(ctx.t("docx"), data=lambda: _docx_bytes(res), file_name=f"answer-{seq + 1}.docx",
                        key=f"dl-docx-{seq}", icon=":material/description:", on_click="ignore", type="tertiary",
                        mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    key = f"fb-{state.get('cid')}-{seq}"
    if key not in state and state.get("cid"):
        stored = ctx.store.feedback(state["cid"], seq)
        if stored:
            state[key] = 1 if stored["rating"] == 1 else 0
            state[f"{key}-text"] = stored["comment"]
    with row:
        rating = st.feedback("thumbs", key=key, on_change=_save_rating, args=(ctx, seq, key))
    if rating is not None:
        if state.get(f"{key}-sent"):
            st.caption(ctx.t("fb.thanks"))
        else:
            with st.form(key=f"{key}-form", border=False):
                st.text_input(ctx.t("fb.comment"), key=f"{key}-text", max_chars=2000)
                st.form_submit_button(ctx.t("fb.send"), on_click=_save_comment, args=(ctx, seq, key),
                                     key=f"{key}-send")


def show_turn(ctx: Ctx, i: int, turn: dict):
    with st.chat_message("user"):
        st.markdown(md_escape(turn["question"]))
        if turn["filters"]:
            st.markdown(filter_chips(ctx, turn["filters"]), unsafe_allow_html=True)
    with st.chat_message("assistant", avatar="♻️"):
        if turn["error"]:
            st.warning(md_escape(turn["error"]))
            return
        res = turn["answer"]
        searched = searched_as(res)
        if searched:
            c1, c2 = st.columns([3, 1], vertical_alignment="center")
            c1.markdown(f'<div class="kb-muted">{html_text(ctx.t("searched_as"))}: <b>{html_text(searched)}</b></div>',
                        unsafe_allow_html=True)
            with c2.popover(ctx.t("edit_terms"), icon=":material/edit:", type="tertiary"):
                st.text_input(ctx.t("terms_input"), value=searched, key=f"fix-text-{i}")
                st.button(ctx.t("terms_go"), key=f"fix-go-{i}", type="primary",
                          on_click=lambda: ask_pending(state.get(f"fix-text-{i}")))
        if not res["statements"]:
            st.info(md_escape(res["answer"]))
            tips = [ctx.t("tip.fewer"), ctx.t("tip.zh")]
            if turn["filters"]:
                tips.insert(0, ctx.t("tip.clear", filters=", ".join(f"{k}={v}" for k, v in turn["filters"].items())))
            st.markdown(f"**{ctx.t('try')}:** " + "; ".join(md_escape(x) for x in tips) + ".")
            return
        terms = _terms(ctx, turn["question"])
        hits = {c["n"]: _hit(ctx, c["passage_id"]) for c in res["citations"]}
        previews = {n: preview(h) for n, h in hits.items() if h}
        body = ""
        for s in res["statements"]:
            body += (f'<div class="kb-stmt"><span class="kb-group">{html_text(s["group"])}</span>'
                     f'{statement_html(s["text"], previews)}')
            if ctx.lang == "en" and s.get("en"):
                body += f'<div class="kb-gloss">{statement_html(s["en"], previews)}</div>'
            body += "</div>"
        st.markdown(body, unsafe_allow_html=True)
        if res.get("glossary"):
            st.markdown(f'<div class="kb-muted">{html_text(ctx.t("terms"))}: ' + "; ".join(
                f"{html_text(g['zh'])} = {html_text(g['en'])}" for g in res["glossary"]) + "</div>",
                unsafe_allow_html=True)
        region_chart(ctx, [h for h in hits.values() if h])
        answer_actions(ctx, turn)
        st.markdown(f"**{md_escape(ctx.t('sources', n=len(res['citations'])))}**")
        groups = {}
        for s in res["statements"]:
            for pid in s["passages"]:
                groups.setdefault(pid, s["group"])
        for c in res["citations"]:
            show_citation(ctx, str(turn.get("seq", i)), c, hits[c["n"]], terms, groups.get(c["passage_id"], ""))


# ---------------------------------------------------------------- the view
def examples(ctx: Ctx):
    st.markdown(md_escape(ctx.t("start")))
    cols = st.columns(len(EXAMPLES))
    for j, (col, text) in enumerate(zip(cols, EXAMPLES)):
        col.button(text, key=f"example-{j}", on_click=ask_pending, args=(text,), width="stretch",
                   icon=":material/help:")


def view(ctx: Ctx, question: str | None):
    if not state["turns"] and not question:
        examples(ctx)
    for i, turn in enumerate(state["turns"]):
        show_turn(ctx, i, turn)
    if question:
        with st.spinner(ctx.t("spinner")):
            turn = run_turn(ctx, question)
        state["turns"].append(turn)
        show_turn(ctx, len(state["turns"]) - 1, turn)
