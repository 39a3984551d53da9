"""Streamlit explorer: ask questions (Chinese or English), read the cited passages, browse the documents.

Run with `kb ui [--port P] [--data-dir D]` (or `streamlit run ui/app.py` with KB_DATA_DIR set).
Search and answers go through `kb.search.KnowledgeBase` and `kb.answer.answer`; the knowledge base
is opened once per generation, so a new `kb ingest` (or an upload here) is served without a restart.
Views: ui/ask.py, ui/library.py, ui/browse.py; plain helpers: ui/render.py; texts: ui/i18n.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from kb.conversations import ConversationStore, store_path  # noqa: E402
from kb.errors import EmptyKnowledgeBase, KBError  # noqa: E402
from kb.settings import settings_from_env  # noqa: E402
from ui import ask, browse, library  # noqa: E402
from ui.context import VIEWS, Ctx, current_view, view_label  # noqa: E402
from ui.i18n import LANGS, t  # noqa: E402
from ui.render import (DOC_TYPE_LABELS, DOMAIN_LABELS, KIND_LABELS, cell_md, label, md_escape,  # noqa: E402
                       region_label, region_options)

HERE = Path(__file__).resolve().parent
state = st.session_state
if "lang" not in state:
    state["lang"] = st.query_params.get("lang") if st.query_params.get("lang") in LANGS else "en"
LANG = state["lang"]

st.set_page_config(page_title=t("title", LANG), page_icon="♻️", layout="wide", initial_sidebar_state="expanded",
                   menu_items={"Get help": None, "Report a bug": None, "About": t("title", LANG)})
st.markdown(f"<style>{(HERE / 'style.css').read_text(encoding='utf-8')}</style>", unsafe_allow_html=True)
st.html(f"<script>{(HERE / 'static.js').read_text(encoding='utf-8')}</script>", unsafe_allow_javascript=True)


# ---------------------------------------------------------------- knowledge base (follows `kb ingest`)
@st.cache_resource(show_spinner="Loading the knowledge base and its models (the first start takes a while)…")
def live_kb(data_dir: str):
    """One holder per process: it serves the generation CURRENT names and swaps in a new one after an ingest."""
    from kb.answer import warm_up as warm_answers
    from kb.errors import KBError
    from kb.live import LiveKnowledgeBase

    live = LiveKnowledgeBase(settings_from_env(data_dir=Path(data_dir))).start()
    try:
        warm_answers(live.get())   # the first English question should not pay for the gist's dictionaries
    except KBError:
        pass                       # nothing to answer from yet: the page says why
    return live


@st.cache_data(show_spinner=False, max_entries=256)
def facets(_kb, generation: str, filters: tuple) -> dict:
    return _kb.facets(dict(filters))


settings = settings_from_env()
holder = live_kb(str(settings.data_dir))
try:
    kb = holder.get()
except EmptyKnowledgeBase:
    st.title(t("title", LANG))
    st.error(f"There is no knowledge base in {md_escape(str(settings.data_dir))} yet.")
    st.markdown("Build it first, then reload this page:")
    st.code(f"kb ingest --data-dir {settings.data_dir}", language="bash")
    st.stop()
except KBError as exc:
    st.title(t("title", LANG))
    st.error(f"The knowledge base cannot be opened: {md_escape(str(exc))}")
    st.stop()

GEN = kb.generation.name
state.setdefault("turns", [])
state.setdefault("neighbours", set())
conversations = ConversationStore(store_path(settings.data_dir))


def facet_counts(filters: dict) -> dict:
    return facets(kb, GEN, tuple(sorted(filters.items())))


# ---------------------------------------------------------------- sidebar
FILTERS = ("doc_type", "doc_year", "kind", "domain", "region", "year", "instrument")


def _clear_filters():
    for key in FILTERS:
        state[f"f_{key}"] = None


def _set_lang():
    """Keep the open view when the labels change language."""
    old = state.get("_lang_shown", "en")
    new = state.get("lang_pick") or old
    view = next((v for v in VIEWS if view_label(v, old) == state.get("view")), "ask")
    state["lang"] = new
    state["view"] = view_label(view, new)
    st.query_params["lang"] = new


with st.sidebar:
    state["_lang_shown"] = LANG
    st.segmented_control(t("lang", LANG), list(LANGS), format_func=LANGS.get, key="lang_pick", default=LANG,
                         on_change=_set_lang, selection_mode="single")
    c1, c2 = st.columns(2)
    c1.button(t("new_chat", LANG), icon=":material/add_comment:", on_click=ask.new_chat, width="stretch",
              key="new_chat")
    with c2.popover(t("recent", LANG), icon=":material/history:", width="stretch"):
        for conv in conversations.recent(12):
            st.button(cell_md(conv["title"][:60]), key=f"conv-{conv['id']}", type="tertiary",
                      on_click=ask.open_conversation, args=(conv["id"],), help=f"{conv['n']} question(s)")
    st.header(t("filters", LANG))
    st.caption(t("filters.help", LANG))
    chosen = {k: state.get(f"f_{k}") for k in FILTERS}
    chosen = {k: v for k, v in chosen.items() if v is not None}
    everything = facet_counts({})

    def counts_without(key: str) -> dict:
        """Counts for one filter's options given all the other filters (cross-filtered)."""
        try:
            return facet_counts({k: v for k, v in chosen.items() if k != key})
        except KBError:
            return everything

    def opts(key: str, ranked: dict, order=None) -> list:
        values = sorted(ranked, key=order or (lambda k: -ranked[k]))
        current = state.get(f"f_{key}")
        return values + ([current] if current is not None and current not in values else [])

    tc = counts_without("doc_type").get("doc_type", {})
    doc_type = st.selectbox(t("f.doc_type", LANG), opts("doc_type", tc), index=None, key="f_doc_type",
                            placeholder=t("f.doc_type.any", LANG),
                            format_func=lambda v: f"{label(v, DOC_TYPE_LABELS, LANG)} ({tc.get(v, 0)})")
    dyc = counts_without("doc_year").get("doc_year", {})
    doc_year = st.selectbox(t("f.doc_year", LANG), opts("doc_year", dyc, order=lambda y: -int(y)), index=None,
                            key="f_doc_year", placeholder=t("f.doc_year.any", LANG), help=t("f.doc_year.help", LANG),
                            format_func=lambda v: f"{v} ({dyc.get(v, 0)})")
    kc = counts_without("kind")["kind"]
    kind = st.selectbox(t("f.kind", LANG), opts("kind", kc), index=None, key="f_kind",
                        placeholder=t("f.kind.any", LANG),
                        format_func=lambda v: f"{label(v, KIND_LABELS, LANG)} ({kc.get(v, 0)})")
    dc = counts_without("domain")["domain"]
    domain = st.selectbox(t("f.domain", LANG), opts("domain", dc), index=None, key="f_domain",
                          placeholder=t("f.domain.any", LANG),
                          format_func=lambda v: f"{label(v, DOMAIN_LABELS, LANG)} ({dc.get(v, 0)})")
    rc = {r["name"]: r for r in region_options(counts_without("region")["region"])}
    region = st.selectbox(t("f.region", LANG), opts("region", {k: v["count"] for k, v in rc.items()},
                                                    order=list(rc).index if rc else None),
                          index=None, key="f_region", placeholder=t("f.region.any", LANG),
                          format_func=lambda v: region_label(rc[v], rc[v]["count"]) if v in rc else f"{v} (0)",
                          help=t("f.region.help", LANG))
    yc = counts_without("year")["year"]
    year = st.selectbox(t("f.year", LANG), opts("year", yc, order=lambda y: -int(y)), index=None, key="f_year",
                        placeholder=t("f.year.any", LANG), help=t("f.year.help", LANG),
                        format_func=lambda v: f"{v} ({yc.get(v, 0)})")
    ic = counts_without("instrument")["instrument"]
    instrument = st.selectbox(t("f.instrument", LANG), opts("instrument", ic), index=None, key="f_instrument",
                              placeholder=t("f.instrument.any", LANG),
                              format_func=lambda v: f"{label(v, {})} ({ic.get(v, 0)})")
    filters = {k: v for k, v in dict(doc_type=doc_type, doc_year=doc_year, kind=kind, domain=domain, region=region,
                                     year=year, instrument=instrument).items() if v is not None}
    try:
        matching = facet_counts(filters)["total"]
    except KBError as exc:
        matching = 0
        st.warning(md_escape(str(exc)))
    st.metric(t("matching", LANG), f"{matching:,}", help=t("matching.help", LANG, total=everything["total"]))
    if filters:
        st.button(t("clear", LANG), on_click=_clear_filters, width="stretch")

ctx = Ctx(kb=kb, settings=settings, lang=LANG, filters=filters, store=conversations, docs=kb.documents(),
          live=holder)
ask.load_conversation(ctx)


# ---------------------------------------------------------------- page
st.title("♻️ " + t("title", LANG), anchor=False)
st.caption(t("subtitle", LANG, passages=everything["total"], docs=len(ctx.docs)))

tabs = st.tabs([view_label(v, LANG) for v in VIEWS], key="view", on_change="rerun")
open_view = current_view()
st.markdown(f'<span data-kb-view="{open_view}"></span>', unsafe_allow_html=True)

if open_view == "ask":
    # the chat box belongs to the Ask view: pinned at the bottom here, absent elsewhere
    prompt = st.chat_input(t("chat.placeholder", LANG), key="chat", max_chars=kb.settings.max_query_chars)
    question = prompt or state.pop("pending", None)
    with tabs[0]:
        ask.view(ctx, question)
else:
    with tabs[VIEWS.index(open_view)]:
        st.chat_input(t("ask.inline", LANG), key="chat_elsewhere", max_chars=kb.settings.max_query_chars,
                      on_submit=lambda: ask.ask_pending(state.get("chat_elsewhere")))
        {"docs": library.view, "sections": browse.sections_view, "policies": browse.policies_view,
         "indicators": browse.indicators_view}[open_view](ctx)
