"""An answer ready to paste into a policy draft: Markdown or DOCX with numbered GB/T 7714 references.

    to_markdown(answer) -> str      to_docx(answer) -> bytes

The references are the citations' GB/T 7714-2015 references (kb.search.format_citation: [R] for a report,
[Z] for other documents, 约 before estimated pages), numbered as in the answer.
"""
from __future__ import annotations

import io
import re

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


# characters XML 1.0 (and so a .docx) cannot hold: control characters, lone surrogates, non-characters
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("", text)


def to_docx(answer: dict) -> bytes:
    """The answer as a Word document (python-docx): the same content as `to_markdown`. Characters a
    Word file cannot hold (a question with a control character in it) are left out."""
    from docx import Document
    from docx.shared import Pt

    title, refs = _heading(answer)
    doc = Document()
    doc.add_heading(_xml(f"{title}: {answer.get('question') or ''}"), level=1)
    if not answer.get("statements"):
        doc.add_paragraph(_xml(answer["answer"]))
    for s in answer.get("statements", []):
        p = doc.add_paragraph(style="List Bullet")
        p.add_run(_xml(f"{s['group']}: ")).bold = True
        p.add_run(_xml(s["text"]))
        if s.get("en"):
            run = doc.add_paragraph().add_run(_xml(s["en"]))
            run.italic = True
            run.font.size = Pt(9)
    if answer.get("glossary"):
        doc.add_paragraph(_xml("Terms: " + "; ".join(f"{g['zh']} = {g['en']}" for g in answer["glossary"])))
    if answer.get("citations"):
        doc.add_heading(_xml(refs), level=2)
        for c in answer["citations"]:
            doc.add_paragraph(_xml(f"[{c['n']}] {c['reference']}"))
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
