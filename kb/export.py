"""An answer ready to paste into a policy draft: Markdown or DOCX with numbered GB/T 7714 references.

    to_markdown(answer) -> str      to_docx(answer) -> bytes

The references are the citations' GB/T 7714-2015 references (kb.search.format_citation: [R] for a report,
[Z] for other documents, 约 before estimated pages), numbered as in the answer.
"""
from __future__ import annotations

import io

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
