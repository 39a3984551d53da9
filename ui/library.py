"""The Documents view: the library, adding a document (ingested into a new generation), removing one."""
from __future__ import annotations

import json
import re
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from kb.errors import KBError
from ui.context import Ctx
from ui.render import DOC_TYPE_LABELS, cell_md, dash, label, md_escape

SUFFIXES = ("txt", "md", "pdf")
MAX_UPLOAD_MB = 50
state = st.session_state


def upload_dir(ctx: Ctx) -> Path:
    return ctx.settings.data_dir / "uploads"


def safe_name(name: str) -> str:
    """A file name for the uploads folder: no folders, no hidden files, the suffix kept."""
    base = Path(name.replace("\\", "/")).name
    stem, dot, suffix = base.rpartition(".")
    stem = re.sub(r"[^\w\u4e00-\u9fff（）()-]+", "-", stem).strip("-.") or "document"
    return f"{stem[:100]}.{suffix.lower()}" if dot else stem[:100]


def library_table(ctx: Ctx) -> pd.DataFrame:
    rows = []
    for d in ctx.docs:
        kind = label(d["doc_type"], DOC_TYPE_LABELS, ctx.lang) if d.get("doc_type") else "—"
        rows.append({"title": d["title"], "type": kind,
                     "year": dash(d.get("year")),
                     "passages": d["passages"], "source": dash(d.get("source") or d.get("format")),
                     "pages": ctx.t("pages.estimated") if d.get("pages_estimated") else ctx.t("pages.exact"),
                     "doc_id": d["doc_id"]})
    return pd.DataFrame(rows, columns=["title", "type", "year", "passages", "source", "pages", "doc_id"])


def ingest_upload(ctx: Ctx, uploaded, meta: dict) -> None:
    from kb.build import ingest

    bar = st.progress(0.0, text=ctx.t("upload.saving"))
    folder = upload_dir(ctx)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / safe_name(uploaded.name)
    if path.suffix.lstrip(".") not in SUFFIXES:
        st.error(md_escape(ctx.t("upload.bad", error=f"{path.suffix or 'no suffix'}: use .txt, .md or .pdf")))
        return
    path.write_bytes(uploaded.getvalue())
    side = path.with_name(path.name + ".meta.json")
    meta = {k: v for k, v in meta.items() if v not in (None, "")}
    if meta:
        side.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    elif side.exists():
        side.unlink()
    bar.progress(0.15, text=ctx.t("upload.ingesting"))
    try:
        report = ingest(ctx.settings, paths=[path], show_progress=False)
    except KBError as exc:
        bar.empty()
        st.error(md_escape(ctx.t("upload.bad", error=str(exc))))
        return
    if report.errors:
        bar.empty()
        st.error(md_escape(ctx.t("upload.bad", error="; ".join(report.errors))))
        return
    bar.progress(0.85, text=ctx.t("upload.switching"))
    if ctx.live is not None:
        ctx.live.refresh()   # serve the new generation now, not at the holder's next tick
    if report.changed:
        state["library_notice"] = ctx.t("upload.done", added=len(report.added), updated=len(report.updated),
                                        passages=report.passages, gen=report.generation)
        state["library_new"] = (report.added + report.updated)[:1]
    else:
        state["library_notice"] = ctx.t("upload.nothing")
    bar.progress(1.0)
    st.rerun()   # the next run opens the new generation


def remove_document(ctx: Ctx, doc_id: str) -> None:
    from kb.build import ingest

    try:
        report = ingest(ctx.settings, remove=[doc_id], show_progress=False)
    except KBError as exc:
        st.error(md_escape(str(exc)))
        return
    if report.errors:
        st.error(md_escape("; ".join(report.errors)))
        return
    title = next((d["title"] for d in ctx.docs if d["doc_id"] == doc_id), doc_id)
    state["library_notice"] = ctx.t("remove.done", doc=title)
    if ctx.live is not None:
        ctx.live.refresh()
    st.rerun()


def timeline(ctx: Ctx):
    """How often a term comes up in each document year (the documents' own years), with the best passage."""
    if not hasattr(ctx.kb, "timeline") or len({d.get("year") for d in ctx.docs if d.get("year")}) < 2:
        return
    st.subheader(ctx.t("timeline"), anchor=False)
    last = next((t["question"] for t in reversed(state.get("turns", []))), "")
    q = st.text_input(ctx.t("timeline.q"), value=last or "垃圾分类", key="timeline_q", max_chars=200)
    if not q.strip():
        return
    try:
        res = ctx.kb.timeline(q, ctx.filters or None)
    except KBError as exc:
        st.warning(md_escape(str(exc)))
        return
    rows = [{"year": str(y["doc_year"]), "passages": y["count"],
             "best": (f"{y['best']['section'][-1] if y['best']['section'] else ''} · {y['best']['citation']}"
                      if y["best"] else "—")} for y in res["years"]]
    if not any(r["passages"] for r in rows):
        st.caption(ctx.t("timeline.none"))
        return
    base = alt.Chart(pd.DataFrame(rows)).encode(
        x=alt.X("year:O", title=ctx.t("f.doc_year"), axis=alt.Axis(labelAngle=0)),
        y=alt.Y("passages:Q", title=ctx.t("timeline.axis"), axis=alt.Axis(tickMinStep=1, format="d")),
        tooltip=["year", "passages", "best"])
    chart = base.mark_bar(color="#1b7f4b") + base.mark_text(dy=-7, color="#333").encode(text="passages:Q")
    st.altair_chart(chart.properties(height=200), width="stretch")
    if res.get("expanded") and res.get("lang") == "en":
        st.caption(cell_md(f"{ctx.t('searched_as')}: {res['expanded']}"))


def view(ctx: Ctx):
    if state.get("library_notice"):
        st.success(md_escape(state.pop("library_notice")))
    st.subheader(ctx.t("docs.library"), anchor=False)
    table = library_table(ctx)
    st.dataframe(table.drop(columns=["doc_id"]), hide_index=True, width="stretch", key="library",
                 column_config={"title": st.column_config.TextColumn(ctx.t("docs.col.title"), width="medium"),
                                "type": ctx.t("docs.col.type"), "year": ctx.t("docs.col.year"),
                                "passages": st.column_config.NumberColumn(ctx.t("docs.col.passages"), width="small"),
                                "source": ctx.t("docs.col.source"), "pages": ctx.t("docs.col.pages")})
    timeline(ctx)

    left, right = st.columns([1.6, 1], gap="large")
    with left:
        st.subheader(ctx.t("upload"), anchor=False)
        with st.form("upload", clear_on_submit=False, border=True):
            uploaded = st.file_uploader(ctx.t("upload.file"), type=list(SUFFIXES), key="upload_file",
                                        max_upload_size=MAX_UPLOAD_MB)
            c1, c2 = st.columns(2)
            title = c1.text_input(ctx.t("upload.title"), key="up_title", max_chars=300)
            author = c2.text_input(ctx.t("upload.author"), key="up_author", max_chars=200)
            publisher = c1.text_input(ctx.t("upload.publisher"), key="up_publisher", max_chars=200)
            year = c2.number_input(ctx.t("upload.year"), min_value=1900, max_value=2100, value=None, step=1,
                                   key="up_year")
            go = st.form_submit_button(ctx.t("upload.go"), type="primary", icon=":material/upload_file:")
        if go and uploaded is not None:
            ingest_upload(ctx, uploaded, {"title": title.strip(), "author": author.strip(),
                                          "publisher": publisher.strip(), "year": int(year) if year else None})
    with right:
        st.subheader(ctx.t("remove"), anchor=False)
        titles = {d["doc_id"]: d["title"] for d in ctx.docs}
        doc_id = st.selectbox(ctx.t("remove.doc"), list(titles), index=None, key="remove_doc",
                              format_func=lambda d: titles.get(d, d))
        if st.button(ctx.t("remove.go"), key="remove_go", icon=":material/delete:", disabled=doc_id is None):
            remove_document(ctx, doc_id)
