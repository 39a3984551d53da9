"""An answer ready to paste into a policy draft: Markdown or DOCX with numbered GB/T 7714 references.

    to_markdown(answer) -> str      to_docx(answer) -> bytes

References follow GB/T 7714-2015: Author. Title[type]. Place: Publisher, Year: pages. The type code is
[R] for a report and [Z] for other documents (work reports, notices); estimated pages read "约 12-13".
"""
from __future__ import annotations

import io
import re

TYPE_CODES = {"report": "R", "research_report": "R", "standard": "S", "book": "M", "journal": "J",
              "newspaper": "N", "thesis": "D", "compilation": "G"}


def type_code(doc_type: str | None) -> str:
    """GB/T 7714 document type code of a document's type (a one-letter code stays as it is)."""
    if doc_type and re.fullmatch(r"[A-Z]", doc_type):
        return doc_type
    return TYPE_CODES.get(doc_type or "report", "Z")


def reference(doc: dict, pages: list[int] | None, estimated: bool = False) -> str:
    """GB/T 7714 reference of a document at some pages; estimated pages are marked 约."""
    author = doc.get("author") or doc.get("publisher") or ""
    ref = (f"{author}. " if author else "") + f"{doc['title']}[{type_code(doc.get('doc_type'))}]. "
    pub = ""
    if doc.get("publisher"):
        pub = f"{doc['place']}: {doc['publisher']}" if doc.get("place") else doc["publisher"]
    if doc.get("year"):
        pub = f"{pub}, {doc['year']}" if pub else str(doc["year"])
    if pages:
        span = str(pages[0]) if pages[0] == pages[-1] else f"{pages[0]}-{pages[-1]}"
        span = f"约{span}" if estimated else span
        pub = f"{pub}: {span}" if pub else span
    return (ref + (pub + "." if pub else "")).strip()


def _heading(answer: dict) -> tuple[str, str]:
    en = answer.get("lang") == "en"
    return ("Answer" if en else "回答", "References" if en else "参考文献")


def to_markdown(answer: dict) -> str:
    """The answer as Markdown: the question, one bullet per statement (with its English gist for English
    questions), and the numbered references."""
    title, refs = _heading(answer)
    out = [f"# {title}: {answer.get('question') or ''}".rstrip(), ""]
    if not answer.get("statements"):
        out += [answer["answer"], ""]
        return "\n".join(out)
    for s in answer["statements"]:
        out.append(f"- **{s['group']}**: {s['text']}")
        if s.get("en"):
            out.append(f"  - *{s['en']}*")
    if answer.get("glossary"):
        out += ["", "Terms: " + "; ".join(f"{g['zh']} = {g['en']}" for g in answer["glossary"])]
    out += ["", f"## {refs}", ""]
    for c in answer["citations"]:
        out.append(f"[{c['n']}] {c['reference']}  ")
    return "\n".join(out).rstrip() + "\n"


def to_docx(answer: dict) -> bytes:
    """The answer as a Word document (python-docx): the same content as `to_markdown`."""
    from docx import Document
    from docx.shared import Pt

    title, refs = _heading(answer)
    doc = Document()
    doc.add_heading(f"{title}: {answer.get('question') or ''}", level=1)
    if not answer.get("statements"):
        doc.add_paragraph(answer["answer"])
    for s in answer.get("statements", []):
        p = doc.add_paragraph(style="List Bullet")
        p.add_run(f"{s['group']}: ").bold = True
        p.add_run(s["text"])
        if s.get("en"):
            run = doc.add_paragraph().add_run(s["en"])
            run.italic = True
            run.font.size = Pt(9)
    if answer.get("glossary"):
        doc.add_paragraph("Terms: " + "; ".join(f"{g['zh']} = {g['en']}" for g in answer["glossary"]))
    if answer.get("citations"):
        doc.add_heading(refs, level=2)
        for c in answer["citations"]:
            doc.add_paragraph(f"[{c['n']}] {c['reference']}")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
