"""Small, Streamlit-free helpers for the explorer: safe highlighting, labels, tables.

Everything that turns corpus or user text into HTML escapes it first
(`html.escape`), then adds only our own tags (<mark>, <span>, <br>).
"""
from __future__ import annotations

import html
import re
from collections import Counter

KIND_LABELS = {
    "national_directive": "National directives",
    "regional_progress": "Regional progress",
    "provincial_action": "Provincial action",
    "city_progress": "City progress",
    "indicator": "Indicators",
    "case_study": "Case studies",
    "front_matter": "Front matter",
}
DOMAIN_LABELS = {
    "industrial": "Industrial solid waste",
    "agricultural": "Agricultural waste",
    "household": "Household waste",
    "construction": "Construction waste",
    "hazardous": "Hazardous waste",
    "recycling": "Recycling",
    "cross_cutting": "Cross-cutting",
}
DOC_TYPE_LABELS = {
    "report": "Research report",
    "work_report": "Government work report",
    "speech": "Speech",
    "policy_notice": "Policy notice",
    "other": "Other",
}
ZH_LABELS = {
    "national_directive": "国家部署", "regional_progress": "区域进展", "provincial_action": "省级行动",
    "city_progress": "城市进展", "indicator": "指标", "case_study": "典型案例", "front_matter": "前言", "other": "其他",
    "industrial": "工业固体废物", "agricultural": "农业废弃物", "household": "生活垃圾", "construction": "建筑垃圾",
    "hazardous": "危险废物", "recycling": "再生资源回收", "cross_cutting": "综合",
    "report": "研究报告", "work_report": "政府工作报告", "speech": "讲话", "policy_notice": "政策通知",
}
LEVEL_ORDER = {"province": 0, "city": 1, "district": 2, "region": 3, "national": 4}


def label(value: str, labels: dict[str, str], lang: str = "en") -> str:
    if lang == "zh" and value in ZH_LABELS:
        return ZH_LABELS[value]
    return labels.get(value, value.replace("_", " ").capitalize())


_MD_ENTITIES = {c: f"&#{ord(c)};" for c in "$[]()!*_`~\\:|#<>"}
_MD_ENTITY = re.compile("[" + re.escape("$[]()!*_`~\\:|#") + "]")


def _md_safe(escaped: str) -> str:
    """Markdown and math characters as entities: inert whether or not Streamlit parses the HTML as markdown."""
    parts = re.split(r"(&[a-zA-Z#0-9]+;)", escaped)   # entities from html.escape stay whole
    return "".join(p if p.startswith("&") else _MD_ENTITY.sub(lambda m: _MD_ENTITIES[m.group(0)], p) for p in parts)


def html_text(text: str) -> str:
    """Escaped text safe inside HTML in st.markdown (no markdown, no math, no links, no images)."""
    return _md_safe(html.escape(text or "", quote=True)).replace("\n", "<br>")


def highlight(text: str, terms: list[str]) -> str:
    """Escape `text`, then wrap every occurrence of a term in <mark> (longest term first)."""
    escaped_terms = sorted({html.escape(t) for t in terms if t and t.strip()}, key=len, reverse=True)
    body = html.escape(text or "", quote=True)
    if escaped_terms:
        pattern = re.compile("|".join(re.escape(t) for t in escaped_terms), re.IGNORECASE)
        # only replace outside entities: entities are &...; and terms are CJK/words, so split on them
        parts = re.split(r"(&[a-zA-Z#0-9]+;)", body)
        body = "".join(p if p.startswith("&") and p.endswith(";") else
                       pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", p) for p in parts)
    parts = re.split(r"(<[^>]+>|&[a-zA-Z#0-9]+;)", body)   # our tags and entities stay as they are
    body = "".join(p if p.startswith(("<", "&")) else _md_safe(p) for p in parts)
    return body.replace("\n", "<br>")


_CITE = re.compile(r"&#91;(\d+)&#93;")   # [n] after html_text


def statement_html(text: str, previews: dict[int, str] | None = None) -> str:
    """A statement with its [n] markers as citation links (text escaped first). `previews[n]` is the
    hover text of source n (page and the start of the passage); a click opens the source (ui/static.js)."""
    body = html_text(text)
    previews = previews or {}

    def link(m: re.Match) -> str:
        n = int(m.group(1))
        tip = _md_safe(html.escape(previews.get(n, ""), quote=True))
        return (f'<a class="kb-cite" href="#kb-src-{n}" data-n="{n}" data-tip="{tip}" '
                f'aria-label="source {n}">&#91;{n}&#93;</a>')
    return _CITE.sub(link, body)


def preview(hit: dict, width: int = 140) -> str:
    text = " ".join(hit["text"].split())
    text = text if len(text) <= width else text[:width] + "…"
    where = " · ".join(x for x in (hit["section"][-1] if hit["section"] else "", hit_pages(hit)) if x)
    return f"{where}\n{text}" if where else text


def md_escape(text: str) -> str:
    """Escape markdown (and math) so corpus text shows literally in st.markdown."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>$~:=^@&\"'])", r"\\\1", text or "")


def pages_label(pages, estimated: bool = False) -> str:
    """p. 5 / pp. 5–7; with "≈" when the pages are estimated (a text file without page marks)."""
    if not pages:
        return ""
    about = "≈ " if estimated else ""
    return f"{about}p. {pages[0]}" if pages[0] == pages[1] else f"{about}pp. {pages[0]}–{pages[1]}"


def hit_pages(hit: dict) -> str:
    return pages_label(hit.get("pages"), bool(hit.get("pages_estimated")))


def region_label(r: dict, count: int | None = None) -> str:
    head = f"{r['name']} · {r['en']}" if r.get("en") else r["name"]
    if r.get("level") in ("city", "district") and r.get("province"):
        head += f" ({r['province']})"
    return f"{head} — {count}" if count is not None else head


def region_options(regions: list[dict]) -> list[dict]:
    """Provinces, then cities, then districts and strategic regions; each by passage count."""
    keep = [r for r in regions if r.get("level") != "national"]
    return sorted(keep, key=lambda r: (LEVEL_ORDER.get(r.get("level"), 9), -r["count"], r["name"]))


def cited_by_province(hits: list[dict]) -> tuple[list[dict], int]:
    """Cited passages per province: a passage counts once for each province it names (directly or through
    one of its cities or counties). Returns the rows, most passages first, and how many passages named one."""
    counts: Counter = Counter()
    places: dict[str, set[str]] = {}
    named = 0
    for hit in hits:
        provinces = set()
        for r in hit["tags"]["region"]:
            if r["level"] == "province":
                provinces.add(r["name"])
            elif r["level"] in ("city", "district") and r.get("province"):
                provinces.add(r["province"])
                places.setdefault(r["province"], set()).add(r["name"])
        named += bool(provinces)
        counts.update(provinces)
    rows = [{"province": name, "passages": n, "places": "、".join(sorted(places.get(name, ())))}
            for name, n in counts.most_common()]
    return rows, named


def dash(value) -> str:
    """A table cell: '—' for missing values."""
    if value is None or (isinstance(value, float) and value != value) or value == "":
        return "—"
    return str(value)


def jump_label(path: list[str], width: int = 60) -> str:
    """A section for a pick list: its own heading first, then where it sits (parents, nearest first)."""
    if not path:
        return ""
    head = path[-1]
    parents = " ‹ ".join(reversed(path[:-1]))
    text = f"{head}  ‹ {parents}" if parents else head
    return text if len(text) <= width else text[: width - 1] + "…"


def cell_md(text: str) -> str:
    """Corpus text shown in a Streamlit label or caption: markdown escaped, on one line."""
    return md_escape(" ".join((text or "").split()))


def flatten_sections(nodes: list[dict], depth: int = 0) -> list[dict]:
    out = []
    for n in nodes:
        out.append({"title": n["title"], "depth": depth, "page": n["page"], "path": n["path"],
                    "passages": n["passages"]})
        out.extend(flatten_sections(n["children"], depth + 1))
    return out


def query_terms(kb, question: str) -> list[str]:
    """The words to highlight: the query's own tokens plus its translation / expansion."""
    from kb.text import segmenter

    try:
        plan = kb.plan(question)
    except Exception:  # noqa: BLE001 - highlighting is cosmetic
        return []
    seg = segmenter()
    terms: set[str] = set()
    for t in plan.terms:
        if t.source == "query" and plan.lang == "en":
            continue
        terms.add(t.zh)
        terms.update(w for w in seg.words(t.zh) if len(w) >= 2)
    for p in plan.places:
        terms.add(p.name)
    return [t for t in terms if t and (len(t) >= 2 or t.isdigit()) and len(t) <= 30 and t != question]
