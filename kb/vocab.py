"""Tag vocabularies shared by the tagger, the search filters and the API schemas.

The bottom layer: no I/O, no imports from ingest or storage.
"""
from __future__ import annotations

KINDS = ["national_directive", "regional_progress", "provincial_action", "city_progress",
         "indicator", "case_study", "front_matter", "other"]
DOMAINS = ["industrial", "agricultural", "household", "construction", "hazardous", "recycling", "cross_cutting"]
INSTRUMENTS = ["law", "plan", "opinion", "standard", "guideline", "fiscal", "finance", "platform",
               "pilot", "assessment", "enforcement", "publicity"]
# What kind of document a passage comes from (`doc_type`): a report or book (TOC, CIP, chapters), a
# government work report, a speech, a policy notice (通知 / 方案 / 意见 / 条例 / 办法 ...), anything else.
DOC_TYPES = ["report", "work_report", "speech", "policy_notice", "other"]
# GB/T 7714 document type codes for references: [R] report, [Z] other, [S] standard...
REFERENCE_CODES = {"report": "R", "work_report": "Z", "speech": "Z", "policy_notice": "Z", "other": "Z"}


def embedding_text(passage: dict) -> str:
    """What the embedder and the keyword index see: the two deepest headings, then the passage."""
    titles = [t for t in (passage.get("section") or [])[-2:] if t]
    return (" > ".join(titles) + "\n" + passage["text"]) if titles else passage["text"]
