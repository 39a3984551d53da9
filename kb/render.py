"""Readable terminal output for `kb search` and `kb ask`."""
from __future__ import annotations

import re

import click

from kb.text import segmenter


def snippet(text: str, terms: list[str], width: int = 160) -> str:
    """A window of the passage around the first query term, terms in bold."""
    flat = text.replace("\n", " ")
    pos = min((flat.find(t) for t in terms if t and flat.find(t) >= 0), default=0)
    start = max(0, pos - width // 3)
    window = flat[start: start + width]
    for t in sorted(set(terms), key=len, reverse=True):
        if len(t) >= 2:
            window = window.replace(t, click.style(t, bold=True, fg="yellow"))
    return ("…" if start else "") + window + ("…" if start + width < len(flat) else "")


def query_terms(result: dict) -> list[str]:
    text = result.get("expanded") or result["query"]
    return [w for w in segmenter().words(text) if re.search(r"[\u4e00-\u9fff]", w)]


def pages_label(hit: dict) -> str:
    pages = hit.get("pages")
    if not pages:
        return ""
    about = "约 " if hit.get("pages_estimated") else ""
    return f"{about}pp. {pages[0]}-{pages[1]}" if pages[0] != pages[1] else f"{about}p. {pages[0]}"


def print_results(result: dict) -> None:
    if result.get("expanded"):
        click.echo(click.style("searched as: ", dim=True) + result["expanded"])
    if not result["results"]:
        click.echo("No passages found. Try fewer words, another language, or remove filters.")
        return
    terms = query_terms(result)
    for i, hit in enumerate(result["results"], 1):
        where = pages_label(hit)
        regions = ", ".join(r["name"] for r in hit["tags"]["region"][:4])
        click.echo(click.style(f"[{i}] ", bold=True) + " > ".join(hit["section"][-2:]) +
                   click.style(f"  {where}  {hit['tags']['kind']}  {regions}  ({hit['score']:.4f})", dim=True))
        click.echo("    " + snippet(hit["text"], terms))
        click.echo(click.style(f"    {hit['id']}", dim=True))


def print_answer(result: dict) -> None:
    if not result["statements"]:
        click.echo(result["answer"])
        return
    for s in result["statements"]:
        click.echo(click.style(f"{s['group']}：", bold=True) + s["text"])
        if s.get("en"):
            click.echo(click.style(f"    EN ({s.get('en_coverage', 0):.0%} rendered): ", dim=True) + s["en"])
    if result.get("glossary"):
        click.echo("Terms: " + "; ".join(f"{g['zh']} = {g['en']}" for g in result["glossary"]))
    click.echo("")
    for c in result["citations"]:
        click.echo(click.style(f"[{c['n']}] ", bold=True) + f"{' > '.join(c['section'][-2:])} — {c['reference']}"
                   + click.style(f"  ({c['passage_id']})", dim=True))


def print_timeline(result: dict) -> None:
    if result.get("expanded"):
        click.echo(click.style("searched as: ", dim=True) + result["expanded"])
    if not result["matching"]:
        click.echo("No document mentions this. Try fewer words, another language, or remove filters.")
    terms = query_terms(result)
    for year in result["years"]:
        best = year["best"]
        click.echo(click.style(f"{year['doc_year']}  ", bold=True) + f"{year['count']:>3} passage(s)"
                   + (click.style("  " + "; ".join(d["title"] for d in year["documents"]), dim=True)
                      if year["documents"] else ""))
        if best:
            click.echo("      " + snippet(best["text"], terms, width=120))
            click.echo(click.style(f"      {best['citation']}  ({best['id']})", dim=True))
