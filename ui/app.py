"""Streamlit explorer: ask questions (Chinese or English), read the cited passages, browse the reports.

Run with `kb ui [--port P] [--data-dir D]` (or `streamlit run ui/app.py` with KB_DATA_DIR set).
All search and answering goes through `kb.search.KnowledgeBase` and `kb.answer.answer`,
loaded once per process.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import altair as alt  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from kb.errors import EmptyKnowledgeBase, KBError  # noqa: E402
from kb.settings import settings_from_env  # noqa: E402
from ui.render import (DOMAIN_LABELS, KIND_LABELS, evidence_by_region, flatten_sections, highlight,  # noqa: E402
                       html_text, label, md_escape, pages_label, query_terms, region_label, region_options,
                       statement_html)

TITLE = "Zero-Waste Cities Knowledge Base"
VIEWS = [":material/forum: Ask", ":material/account_tree: Report sections", ":material/gavel: Policy catalog",
         ":material/bar_chart: Indicators"]
EXAMPLES = ["how are cities handling phosphogypsum", "贵州省磷石膏综合利用", "construction waste recycling in Shenzhen",
            "危险废物 收集 试点"]

st.set_page_config(page_title=TITLE, page_icon="♻️", layout="wide", initial_sidebar_state="expanded")

CSS = """
<style>
.block-container {padding-top: 2.2rem;}
.kb-stmt {margin: 0 0 .65rem 0; line-height: 1.75;}
.kb-group {font-weight: 600; color: #0f5132; background: #e8f5ee; border-radius: .35rem; padding: .05rem .45rem;
           margin-right: .35rem; white-space: nowrap;}
.kb-cite {color: #0b5ed7; font-weight: 600; font-size: .85em; margin-left: 1px;}
.kb-passage {line-height: 1.8; padding: .6rem .85rem; border-left: 3px solid #20a464; background: #f7faf8;
             border-radius: .3rem;}
.kb-passage mark, .kb-neighbour mark {background: #ffe58f; padding: 0 .1rem; border-radius: .15rem;}
.kb-neighbour {line-height: 1.7; padding: .45rem .8rem; border-left: 3px solid #c9d3dd; color: #4a5561;
               background: #fafbfc; font-size: .92em; border-radius: .3rem;}
.kb-muted {color: #6c757d; font-size: .88em;}
.kb-chip {display: inline-block; background: #eef2f7; color: #334; border-radius: 1rem; padding: 0 .55rem;
          margin: 0 .25rem .2rem 0; font-size: .82em;}
</style>
"""
st.markdown(CSS, unsafe_allow_html=True)  # static, no user or corpus text


# ---------------------------------------------------------------- knowledge base (once per process)
@st.cache_resource(show_spinner="Loading the knowledge base and its models (the first start takes a while)…")
def load_kb(data_dir: str, cache_dir: str | None):
    from kb.search import KnowledgeBase

    settings = settings_from_env(data_dir=Path(data_dir))
    return KnowledgeBase.open(settings).warm_up()


@st.cache_data(show_spinner=False, max_entries=256)
def facets(_kb, generation: str, filters: tuple) -> dict:
    return _kb.facets(dict(filters))


@st.cache_data(show_spinner=False)
def document_tree(_kb, generation: str, doc_id: str) -> dict:
    return _kb.document(doc_id)


settings = settings_from_env()
try:
    kb = load_kb(str(settings.data_dir), str(settings.cache_dir) if settings.cache_dir else None)
except EmptyKnowledgeBase:
    st.title(TITLE)
    st.error(f"There is no knowledge base in `{settings.data_dir}` yet.")
    st.markdown("Build it first, then reload this page:")
    st.code(f"kb ingest --data-dir {settings.data_dir}", language="bash")
    st.stop()
except KBError as exc:
    st.title(TITLE)
    st.error(f"The knowledge base cannot be opened: {exc}")
    st.stop()

GEN = kb.generation.name
state = st.session_state
state.setdefault("turns", [])
state.setdefault("neighbours", set())


def facet_counts(filters: dict) -> dict:
    return facets(kb, GEN, tuple(sorted(filters.items())))


# ---------------------------------------------------------------- sidebar: filters
def _clear_filters():
    for key in ("f_kind", "f_domain", "f_region", "f_year", "f_instrument"):
        state[key] = None


with st.sidebar:
    everything = facet_counts({})
    st.header("Filters")
    st.caption("They apply to your next question.")
    kinds = sorted(everything["kind"], key=lambda k: -everything["kind"][k])
    kind = st.selectbox("Kind of section", kinds, index=None, key="f_kind", placeholder="Any kind",
                        format_func=lambda v: f"{label(v, KIND_LABELS)} ({everything['kind'][v]})")
    domains = sorted(everything["domain"], key=lambda k: -everything["domain"][k])
    domain = st.selectbox("Waste domain", domains, index=None, key="f_domain", placeholder="Any domain",
                          format_func=lambda v: f"{label(v, DOMAIN_LABELS)} ({everything['domain'][v]})")
    regions = {r["name"]: r for r in region_options(everything["region"])}
    region = st.selectbox("Region", list(regions), index=None, key="f_region",
                          placeholder="Any region — type 贵州 or Guizhou",
                          format_func=lambda v: region_label(regions[v], regions[v]["count"]),
                          help="Provinces first, then cities. A province includes its cities and counties.")
    years = sorted(everything["year"], reverse=True)
    year = st.selectbox("Year", years, index=None, key="f_year", placeholder="Any year",
                        format_func=lambda v: f"{v} ({everything['year'][v]})")
    instruments = sorted(everything["instrument"], key=lambda k: -everything["instrument"][k])
    instrument = st.selectbox("Policy instrument", instruments, index=None, key="f_instrument",
                              placeholder="Any instrument",
                              format_func=lambda v: f"{label(v, {})} ({everything['instrument'][v]})")
    filters = {k: v for k, v in dict(kind=kind, domain=domain, region=region, year=year,
                                     instrument=instrument).items() if v is not None}
    try:
        matching = facet_counts(filters)["total"]
    except KBError as exc:
        matching = 0
        st.warning(str(exc))
    st.metric("Matching passages", f"{matching:,}", help=f"of {everything['total']:,} passages in the knowledge base")
    if filters:
        st.button("Clear filters", on_click=_clear_filters, width="stretch")
    st.divider()
    docs = kb.documents()
    st.caption(" · ".join(f"{d['title']} ({d['passages']} passages)" for d in docs))


# ---------------------------------------------------------------- answering
def run_turn(question: str, filters: dict) -> dict:
    from kb.answer import answer

    turn = {"question": question, "filters": dict(filters), "error": None, "answer": None, "evidence": [],
            "terms": []}
    try:
        turn["answer"] = answer(kb, question, k=8, filters=filters or None)
        turn["evidence"] = kb.search(question, k=30, filters=filters or None)["results"]
        turn["terms"] = query_terms(kb, question)
    except KBError as exc:
        turn["error"] = str(exc)
    return turn


def _ask_again(i: int):
    text = (state.get(f"fix-text-{i}") or "").strip()
    if text:
        state["pending"] = text


def _toggle_neighbours(key: str):
    state["neighbours"] ^= {key}


def filter_chips(filters: dict) -> str:
    names = {"kind": lambda v: label(v, KIND_LABELS), "domain": lambda v: label(v, DOMAIN_LABELS)}
    chips = [f'<span class="kb-chip">{html_text(k)}: {html_text(str(names.get(k, str)(v)))}</span>'
             for k, v in filters.items()]
    return "".join(chips)


def show_passage_card(hit: dict, terms: list[str], css: str = "kb-passage"):
    st.markdown(f'<div class="{css}">{highlight(hit["text"], terms)}</div>', unsafe_allow_html=True)


def show_citation(i: int, c: dict, terms: list[str], group: str = ""):
    hit = kb.passage(c["passage_id"])
    nkey = f"{i}-{c['n']}"
    section = hit["section"][-1] if hit["section"] else hit["doc_title"]
    head = f"{group} — " if group else ""
    with st.expander(f"[{c['n']}]  {md_escape(head + section)} · {pages_label(hit['pages'])}",
                     expanded=nkey in state["neighbours"]):
        places = "".join(f'<span class="kb-chip">{html_text(r["name"])} {html_text(r.get("en") or "")}</span>'
                         for r in hit["tags"]["region"] if r["level"] != "national")
        st.markdown(f'<div class="kb-muted">{html_text(" › ".join(hit["section"]))} · '
                    f'{html_text(pages_label(hit["pages"]))}</div><div>{places}</div>', unsafe_allow_html=True)
        if nkey in state["neighbours"] and hit.get("prev_id"):
            prev = kb.passage(hit["prev_id"])
            st.caption(f"← previous passage · {pages_label(prev['pages'])}")
            show_passage_card(prev, terms, "kb-neighbour")
        show_passage_card(hit, terms)
        if nkey in state["neighbours"] and hit.get("next_id"):
            nxt = kb.passage(hit["next_id"])
            st.caption(f"next passage → · {pages_label(nxt['pages'])}")
            show_passage_card(nxt, terms, "kb-neighbour")
        st.caption("Reference (GB/T 7714), ready to copy")
        st.code(c["reference"], language=None, wrap_lines=True)
        shown = nkey in state["neighbours"]
        st.button("Hide neighbouring passages" if shown else "Show neighbouring passages", key=f"nb-{nkey}",
                  icon=":material/unfold_more:", on_click=_toggle_neighbours, args=(nkey,),
                  disabled=not (hit.get("prev_id") or hit.get("next_id")))


def searched_as(res: dict) -> str:
    """For English questions: the Chinese terms the question was searched as (without the question itself)."""
    expanded = res.get("expanded") or ""
    if res.get("lang") != "en" or not expanded:
        return ""
    question = res.get("question") or ""
    if question and expanded.startswith(question):
        expanded = expanded[len(question):]
    return expanded.strip()


def show_turn(i: int, turn: dict):
    with st.chat_message("user"):
        st.markdown(md_escape(turn["question"]))
        if turn["filters"]:
            st.markdown(filter_chips(turn["filters"]), unsafe_allow_html=True)
    with st.chat_message("assistant", avatar="♻️"):
        if turn["error"]:
            st.warning(turn["error"])
            return
        res = turn["answer"]
        searched = searched_as(res)
        if searched:
            c1, c2 = st.columns([3, 1], vertical_alignment="center")
            c1.markdown(f'<div class="kb-muted">Searched as: <b>{html_text(searched)}</b></div>',
                        unsafe_allow_html=True)
            with c2.popover("Edit terms", icon=":material/edit:", type="tertiary"):
                st.text_input("Search terms (Chinese or English)", value=searched, key=f"fix-text-{i}")
                st.button("Search with these terms", key=f"fix-go-{i}", on_click=_ask_again, args=(i,),
                          type="primary")
        if not res["statements"]:
            st.info(res["answer"])
            tips = ["use fewer or broader words", "try the Chinese term (e.g. 磷石膏, 建筑垃圾, 危险废物)"]
            if turn["filters"]:
                tips.insert(0, "clear the sidebar filters ("
                            + ", ".join(f"{k}={v}" for k, v in turn["filters"].items()) + ")")
            st.markdown("**Try:** " + "; ".join(md_escape(t) for t in tips) + ".")
            return
        body = "".join(f'<div class="kb-stmt"><span class="kb-group">{html_text(s["group"])}</span>'
                       f'{statement_html(s["text"])}'
                       + (f'<div class="kb-muted"><i>{html_text(s["en"])}</i></div>' if s.get("en") else "")
                       + '</div>' for s in res["statements"])
        st.markdown(body, unsafe_allow_html=True)
        from kb.export import to_docx, to_markdown
        d1, d2 = st.columns(2)
        d1.download_button("Download Markdown", to_markdown(res), file_name="answer.md", mime="text/markdown",
                           key=f"md-{i}", icon=":material/download:")
        d2.download_button("Download DOCX", to_docx(res), file_name="answer.docx", key=f"docx-{i}",
                           mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                           icon=":material/download:")
        if res.get("glossary"):
            st.markdown('<div class="kb-muted">Terms: ' + "; ".join(
                f"{html_text(g['zh'])} = {html_text(g['en'])}" for g in res["glossary"]) + "</div>",
                unsafe_allow_html=True)
        st.markdown(f"**Sources** · {len(res['citations'])} passages")
        groups = {}
        for s in res["statements"]:
            for pid in s["passages"]:
                groups.setdefault(pid, s["group"])
        for c in res["citations"]:
            show_citation(i, c, turn["terms"], groups.get(c["passage_id"], ""))


def show_evidence(turn: dict | None):
    st.subheader("Evidence by region")
    if not turn or not turn["evidence"]:
        st.caption("Ask a question to see which provinces and cities the evidence comes from.")
        return
    rows = evidence_by_region(turn["evidence"])
    st.caption(f"Places named in the top {len(turn['evidence'])} passages for “{turn['question']}”")
    if not rows:
        st.caption("The passages found are national in scope.")
        return
    df = pd.DataFrame(rows[:15])
    chart = (alt.Chart(df).mark_bar(cornerRadiusEnd=3)
             .encode(x=alt.X("passages:Q", title="passages", axis=alt.Axis(tickMinStep=1)),
                     y=alt.Y("name:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=160)),
                     color=alt.Color("level:N", scale=alt.Scale(domain=["province", "city"],
                                                                range=["#1b7f4b", "#7cc49a"]),
                                     legend=alt.Legend(orient="top", title=None, labelLimit=120)),
                     tooltip=["name", "place", "province", "level", "passages"])
             .properties(height=alt.Step(22)))
    st.altair_chart(chart, width="stretch")
    by_province = pd.DataFrame(rows).groupby("province")["passages"].sum().sort_values(ascending=False)
    st.caption("By province: " + ", ".join(f"{p} {n}" for p, n in by_province.head(8).items()))


# ---------------------------------------------------------------- page
def _to_ask_view():
    state["view"] = VIEWS[0]


st.title("♻️ " + TITLE)
st.caption(f"Ask in Chinese or English; every statement cites the report passage it comes from. "
           f"{everything['total']:,} passages from {len(docs)} report(s), hybrid cross-lingual search.")

prompt = st.chat_input("Ask a question in Chinese or English, e.g. how are cities handling phosphogypsum",
                       key="chat", on_submit=_to_ask_view, max_chars=kb.settings.max_query_chars)
question = prompt or state.pop("pending", None)

tab_ask, tab_doc, tab_pol, tab_ind = st.tabs(VIEWS, key="view")

with tab_ask:
    col_chat, col_side = st.columns([2.1, 1], gap="large")
    with col_chat:
        if not state["turns"] and not question:
            st.info("Start with a question in the box below — for example: "
                    + " · ".join(f"*{md_escape(e)}*" for e in EXAMPLES))
        for i, turn in enumerate(state["turns"]):
            show_turn(i, turn)
        if question:
            with st.spinner("Searching the reports and composing a cited answer…"):
                turn = run_turn(question, filters)
            state["turns"].append(turn)
            show_turn(len(state["turns"]) - 1, turn)
    with col_side:
        show_evidence(state["turns"][-1] if state["turns"] else None)

with tab_doc:
    doc_ids = [d["doc_id"] for d in docs]
    titles = {d["doc_id"]: d["title"] for d in docs}
    doc_id = st.selectbox("Document", doc_ids, format_func=lambda d: titles[d], key="doc") if len(docs) > 1 \
        else doc_ids[0]
    tree = document_tree(kb, GEN, doc_id)
    flat = flatten_sections(tree["sections"])
    left, right = st.columns([1.4, 1.6], gap="large")
    sec_key = f"sec-{doc_id}"

    def _picked_row():
        rows = state["sections"].selection.rows
        if rows:
            state[sec_key] = rows[0]

    def _picked_title():
        if state.get("sec_jump") is not None:
            state[sec_key] = state["sec_jump"]

    with left:
        st.selectbox("Jump to a section", range(len(flat)), index=None, key="sec_jump", on_change=_picked_title,
                     format_func=lambda j: " › ".join(flat[j]["path"]), placeholder="Type to search the headings")
        st.caption(f"{len(flat)} sections · tick a row to read it")
        table = pd.DataFrame({"Section": ["\u3000" * s["depth"] + s["title"] for s in flat],
                              "Page": [s["page"] for s in flat],
                              "Passages": [len(s["passages"]) for s in flat]})
        st.dataframe(table, hide_index=True, on_select=_picked_row, selection_mode="single-row",
                     key="sections", height=520, width="stretch",
                     column_config={"Section": st.column_config.TextColumn("Section", width=240),
                                    "Page": st.column_config.NumberColumn("Page", width=52),
                                    "Passages": st.column_config.NumberColumn("Passages", width=72)})
    default = next((j for j, s in enumerate(flat) if s["passages"]), 0)
    current = state.get(sec_key, default)
    sel = flat[current] if flat and current < len(flat) else None
    with right:
        if sel is None:
            st.info("This document has no sections.")
        else:
            st.markdown(f'<div class="kb-muted">{html_text(" › ".join(sel["path"]))}</div>',
                        unsafe_allow_html=True)
            st.subheader(sel["title"])
            ids = list(sel["passages"])
            if not ids:
                n = len(sel["path"])
                ids = [p for s in flat if s["path"][:n] == sel["path"] for p in s["passages"]][:40]
                if ids:
                    st.caption("The text of this section is in its subsections:")
            if not ids:
                st.caption("No passages under this heading.")
            for pid in ids:
                hit = kb.passage(pid)
                sub = hit["section"][-1] if hit["section"] != sel["path"] else ""
                st.caption(f"{pages_label(hit['pages'])} · {pid}" + (f" · {sub}" if sub else ""))
                st.markdown(f'<div class="kb-passage">{html_text(hit["text"])}</div>', unsafe_allow_html=True)

with tab_pol:
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    pq = c1.text_input("Search policies by title, issuer or document number", key="policy_q",
                       placeholder="e.g. 国办发, 磷石膏, 生态环境部")
    use_sidebar = c2.checkbox("Only the sidebar region / year", key="policy_filtered", value=False)
    try:
        policies = kb.policies(q=pq or None, region=region if use_sidebar else None,
                               year=year if use_sidebar else None)
    except KBError as exc:
        st.warning(str(exc))
        policies = []
    st.caption(f"{len(policies)} policy instruments named in the reports")
    pdf = pd.DataFrame([{"title": p.get("title"), "issuer": p.get("issuer"), "number": p.get("number"),
                         "date": p.get("date"), "level": p.get("level"),
                         "region": (f"{p['region']} ({p['region_en']})" if p.get("region") and p.get("region_en")
                                    else p.get("region")),
                         "type": p.get("type"), "passages": len(p.get("passages") or [])} for p in policies],
                       columns=["title", "issuer", "number", "date", "level", "region", "type", "passages"])
    st.dataframe(pdf, hide_index=True, width="stretch", height=600,
                 column_config={"title": st.column_config.TextColumn("Title", width="large"),
                                "issuer": "Issuer", "number": "Document no.", "date": "Date", "level": "Level",
                                "region": "Region", "type": "Type",
                                "passages": st.column_config.NumberColumn("Passages", width="small")})

with tab_ind:
    ind = kb.indicators()
    if not ind:
        st.info("No indicator table in the knowledge base.")
    else:
        idf = pd.DataFrame(ind)
        idf["label"] = idf.apply(lambda r: f"{r['indicator']} ({r['unit']})" if r.get("unit") else r["indicator"],
                                 axis=1)
        long = idf.melt(id_vars=["label"], value_vars=["mean", "median"], var_name="statistic", value_name="value")
        long = long.dropna(subset=["value"])
        st.caption(str(idf["table_caption"].dropna().iloc[0]) if idf["table_caption"].notna().any() else "")
        chart = (alt.Chart(long).mark_bar()
                 .encode(y=alt.Y("label:N", title=None, sort=None, axis=alt.Axis(labelLimit=420)),
                         yOffset="statistic:N", x=alt.X("value:Q", title="national mean and median (in each indicator's unit)"),
                         color=alt.Color("statistic:N", scale=alt.Scale(range=["#1b7f4b", "#f0a431"]),
                                         legend=alt.Legend(orient="top", title=None)),
                         tooltip=["label", "statistic", "value"])
                 .properties(height=alt.Step(14)))
        st.altair_chart(chart, width="stretch")
        st.dataframe(idf[["indicator", "unit", "mean", "median"]], hide_index=True, width="stretch",
                     column_config={"indicator": st.column_config.TextColumn("Indicator", width="large"),
                                    "unit": "Unit", "mean": "Mean", "median": "Median"})
