"""What every view of the explorer needs: the knowledge base, settings, language, filters, stores."""
from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from kb.conversations import ConversationStore
from kb.settings import Settings
from ui.i18n import t

VIEWS = ["ask", "docs", "sections", "policies", "indicators"]
ICONS = {"ask": ":material/forum:", "docs": ":material/library_books:", "sections": ":material/account_tree:",
         "policies": ":material/gavel:", "indicators": ":material/bar_chart:"}


@dataclass
class Ctx:
    kb: object
    settings: Settings
    lang: str
    filters: dict
    store: ConversationStore
    docs: list[dict] = field(default_factory=list)
    live: object = None          # the LiveKnowledgeBase holder: refreshed right after an upload

    def t(self, key: str, **fmt) -> str:
        return t(key, self.lang, **fmt)


def view_label(view: str, lang: str) -> str:
    return f"{ICONS[view]} {t('view.' + view, lang)}"


def go_to(view: str) -> None:
    """Switch the open view (from a callback: before the tabs are drawn)."""
    st.session_state["view"] = view_label(view, st.session_state.get("lang", "en"))


def current_view() -> str:
    label = st.session_state.get("view")
    lang = st.session_state.get("lang", "en")
    return next((v for v in VIEWS if view_label(v, lang) == label), "ask")
