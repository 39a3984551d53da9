"""The reading views: a document's sections, the policy catalog, the indicator table."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from kb.errors import KBError, NotFound
from kb.text import has_cjk
from ui.context import Ctx, go_to
from ui.gloss import gloss
from ui.render import cell_md, dash, flatten_sections, html_text, hit_pages, jump_label, md_escape

SECTION_CAP = 40   # passages shown for a heading whose text is all in its subsections
state = st.session_state


@st.cache_data(show_spinner=False, max_entries=32)
def document_tree(_kb, generation: str, doc_id: str) -> dict:
    return _kb.document(doc_id)


def passage_card(hit: dict, focus: bool = False) -> str:
    mark = ' data-kb-focus="1"' if focus else ""
    css = "kb-passage kb-focus" if focus else "kb-passage"
    return f'<div class="{css}"{mark}>{html_text(hit["text"])}</div>'


# ---------------------------------------------------------------- sections
def sections_view(ctx: Ctx):
    docs = {d["doc_id"]: d["title"] for d in ctx.docs}
    if state.get("doc") not in docs:   # the longest document first
        state["doc"] = max(ctx.docs, key=lambda d: d["passages"])["doc_id"]
    doc_id = st.selectbox(ctx.t("doc"), list(docs), key="doc", format_func=lambda d: docs[d])
    tree = document_tree(ctx.kb, ctx.kb.generation.name, doc_id)
    flat = flatten_sections(tree["sections"])
    sec_key = f"sec-{doc_id}"
    target = state.pop("sec_target", None)
    if target and target[0] == doc_id:
        j = next((j for j, s in enumerate(flat) if s["path"] == target[1]), None)
        if j is not None:
            state[sec_key] = j
    left, right = st.columns([1.7, 1.3], gap="medium")

    def _picked_row():
        rows = state[f"sections-{doc_id}"].selection.rows
        if rows:
            state[sec_key] = rows[0]
            state.pop("focus", None)

    def _picked_title():
        if state.get("sec_jump") is not None:
            state[sec_key] = state["sec_jump"]
            state.pop("focus", None)

    with left:
        st.selectbox(ctx.t("jump"), range(len(flat)), index=None, key="sec_jump", on_change=_picked_title,
                     format_func=lambda j: jump_label(flat[j]["path"]), placeholder=ctx.t("jump.placeholder"))
        st.caption(ctx.t("sections.count", n=len(flat)))
        data = {ctx.t("sec.col"): ["\u3000" * s["depth"] + s["title"] for s in flat]}
        if ctx.lang == "en":
            data["English"] = [gloss(s["title"]) or "—" for s in flat]
        data[ctx.t("page.col")] = [dash(s["page"]) for s in flat]
        data[ctx.t("passages.col")] = [len(s["passages"]) for s in flat]
        st.dataframe(pd.DataFrame(data), hide_index=True, on_select=_picked_row, selection_mode="single-row",
                     key=f"sections-{doc_id}", height=520, width="stretch",
                     column_config={ctx.t("sec.col"): st.column_config.TextColumn(width=200),
                                    "English": st.column_config.TextColumn(width=170),
                                    ctx.t("page.col"): st.column_config.TextColumn(width=48),
                                    ctx.t("passages.col"): st.column_config.NumberColumn(width=64)})
    default = next((j for j, s in enumerate(flat) if s["passages"]), 0)
    current = state.get(sec_key, default)
    sel = flat[current] if flat and current < len(flat) else None
    with right:
        if sel is None:
            st.info(ctx.t("no_sections"))
            return
        st.markdown(f'<div class="kb-muted">{html_text(" › ".join(sel["path"]))}</div>', unsafe_allow_html=True)
        st.subheader(cell_md(sel["title"]), anchor=False)
        en = gloss(sel["title"]) if ctx.lang == "en" else ""
        if en:
            st.markdown(f'<div class="kb-gloss">{html_text(en)}</div>', unsafe_allow_html=True)
        ids = list(sel["passages"])
        if not ids:
            n = len(sel["path"])
            below = [p for s in flat if s["path"][:n] == sel["path"] for p in s["passages"]]
            ids = below[:SECTION_CAP]
            if ids:
                st.caption(ctx.t("in_subsections"))
            if len(below) > SECTION_CAP:
                st.warning(ctx.t("capped", shown=SECTION_CAP, total=len(below)), icon=":material/content_cut:")
        if not ids:
            st.caption(ctx.t("no_passages"))
        focus = state.get("focus")
        for pid in ids:
            hit = ctx.kb.passage(pid)
            sub = hit["section"][-1] if hit["section"] != sel["path"] else ""
            st.caption(cell_md(" · ".join(x for x in (hit_pages(hit), pid, sub) if x)))
            st.markdown(passage_card(hit, focus=pid == focus), unsafe_allow_html=True)


# ---------------------------------------------------------------- policies
def _search_terms(ctx: Ctx, q: str) -> list[str]:
    """What to look for in policy titles: the query itself, or for English its Chinese translation."""
    q = q.strip()
    if not q or has_cjk(q) or any(ch.isdigit() for ch in q):
        return [q] if q else []
    try:
        plan = ctx.kb.plan(q)
    except KBError:
        return [q]
    zh = [t.zh for t in plan.terms if t.source != "query" and has_cjk(t.zh)] + [p.name for p in plan.places]
    return list(dict.fromkeys(zh)) or [q]


def _norm_title(title: str) -> str:
    return "".join(ch for ch in (title or "") if ch.isalnum())


def _read_policy(ctx: Ctx, p: dict):
    st.markdown(f"**{cell_md(p['title'])}**")
    for pid in p.get("passages") or []:
        try:
            hit = ctx.kb.passage(pid)
        except NotFound:
            continue
        c1, c2 = st.columns([4, 1], vertical_alignment="center")
        c1.caption(cell_md(f"{hit['doc_title']} › {' › '.join(hit['section'][-2:])} · {hit_pages(hit)}"))
        c2.button(ctx.t("open_doc"), key=f"pol-open-{pid}", icon=":material/menu_book:", type="tertiary",
                  on_click=_open_passage, args=(hit,))
        st.markdown(passage_card(hit), unsafe_allow_html=True)


def _open_passage(hit: dict):
    state["doc"] = hit["doc_id"]
    state["focus"] = hit["id"]
    state["sec_target"] = (hit["doc_id"], list(hit["section"]))
    go_to("sections")


def policies_view(ctx: Ctx):
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    pq = c1.text_input(ctx.t("pol.search"), key="policy_q", placeholder=ctx.t("pol.placeholder"), max_chars=200)
    use_sidebar = c2.checkbox(ctx.t("pol.filtered"), key="policy_filtered", value=False)
    region = ctx.filters.get("region") if use_sidebar else None
    year = ctx.filters.get("year") if use_sidebar else None
    terms = _search_terms(ctx, pq or "")
    try:
        found: dict[str, dict] = {}
        for term in terms or [None]:
            for p in ctx.kb.policies(q=term, region=region, year=year):
                found.setdefault(p["id"], p)
    except KBError as exc:
        st.warning(md_escape(str(exc)))
        found = {}
    documents = {_norm_title(d["title"]) for d in ctx.docs}
    policies = [p for p in found.values() if _norm_title(p.get("title")) not in documents]
    note = ctx.t("pol.count", n=len(policies))
    if pq and terms and terms != [pq.strip()]:
        note += " · " + ctx.t("pol.searched_as", terms=" ".join(terms))
    st.caption(cell_md(note))
    cols = ctx.t("pol.cols").split("|")
    rows = []
    for p in policies:
        pages = []
        for pid in p.get("passages") or []:
            try:
                pages.append(hit_pages(ctx.kb.passage(pid)))
            except NotFound:
                pass
        region_txt = p.get("region")
        if region_txt and p.get("region_en"):
            region_txt = f"{region_txt} ({p['region_en']})"
        rows.append([p.get("title"), dash(p.get("issuer")), dash(p.get("number")), dash(p.get("date")),
                     dash(p.get("level")), dash(region_txt), dash(p.get("type")),
                     ", ".join(dict.fromkeys(x for x in pages if x)) or "—", len(p.get("passages") or [])])
    table = pd.DataFrame(rows, columns=cols)
    event = st.dataframe(table, hide_index=True, width="stretch", height=420, key="policy_table",
                         on_select="rerun", selection_mode="single-row",
                         column_config={cols[0]: st.column_config.TextColumn(width="large"),
                                        cols[1]: st.column_config.TextColumn(width="medium"),
                                        cols[2]: st.column_config.TextColumn(width="medium"),
                                        cols[7]: st.column_config.TextColumn(width="small"),
                                        cols[8]: st.column_config.NumberColumn(width="small")})
    picked = event.selection.rows if event is not None else []
    if picked and picked[0] < len(policies):
        _read_policy(ctx, policies[picked[0]])
    else:
        st.caption(ctx.t("pol.pick"))


# ---------------------------------------------------------------- indicators
def indicators_view(ctx: Ctx):
    ind = ctx.kb.indicators()
    if not ind:
        st.info(ctx.t("ind.none"))
        return
    idf = pd.DataFrame(ind)
    idf["en"] = [gloss(x) or x for x in idf["indicator"]]
    idf["name"] = idf["en"] if ctx.lang == "en" else idf["indicator"]
    idf["unit"] = idf["unit"].fillna("")
    refs = []
    for pid in dict.fromkeys(idf["passage_id"].dropna()):
        try:
            hit = ctx.kb.passage(pid)
            refs.append(hit["citation"])
        except NotFound:
            pass
    caption = str(idf["table_caption"].dropna().iloc[0]) if idf["table_caption"].notna().any() else ""
    if caption:
        st.markdown(f"**{cell_md(caption)}**")
    st.caption(cell_md(ctx.t("ind.caption", ref="; ".join(refs) or "—")))
    long = idf.melt(id_vars=["name", "indicator", "unit"], value_vars=["mean", "median"], var_name="statistic",
                    value_name="value").dropna(subset=["value"])
    long["statistic"] = long["statistic"].map({"mean": ctx.t("ind.mean"), "median": ctx.t("ind.median")})
    charts = []
    for unit, part in long.groupby("unit", sort=False):   # one panel per unit: 吨/万元 never shares an axis with %
        top = float(part["value"].max()) * 1.18 or 1.0    # room for the value labels
        base = alt.Chart(part).encode(
            y=alt.Y("name:N", title=None, sort=None, axis=alt.Axis(labelLimit=230)),
            yOffset="statistic:N",
            x=alt.X("value:Q", title=unit or "value", scale=alt.Scale(domain=[0, top], nice=False)),
            color=alt.Color("statistic:N", scale=alt.Scale(range=["#1b7f4b", "#f0a431"]),
                            legend=alt.Legend(orient="top", title=None)),
            tooltip=["indicator", "name", "unit", "statistic", "value"])
        bars = base.mark_bar()
        labels = base.mark_text(align="left", dx=3, fontSize=11).encode(text=alt.Text("value:Q", format=".2f"))
        charts.append((bars + labels).properties(title=unit or "—", height=alt.Step(13), width=300))
    st.altair_chart(alt.vconcat(*charts).resolve_scale(x="independent"), width="content")
    cols = ctx.t("ind.cols").split("|")
    table = pd.DataFrame({cols[0]: idf["indicator"], cols[1]: idf["en"], cols[2]: idf["unit"].map(dash),
                          cols[3]: idf["mean"], cols[4]: idf["median"]})
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={cols[0]: st.column_config.TextColumn(width="medium"),
                                cols[1]: st.column_config.TextColumn(width="large")})
