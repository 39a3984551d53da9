"""What kind of document this is, and of which year.

Recognised from the sidecar first, then from the text itself, by rules that hold for any document of
the kind (never by one document's wording):
- `policy_notice`: a 文号 (`国办发〔2024〕7号`) near the top, or a title that ends as a notice, plan,
  opinion, regulation or measure does (通知 / 方案 / 意见 / 条例 / 办法 ...); its issuer, number, date
  (the 成文日期 under the signature) and 附件 are read too;
- `work_report` (工作报告) and `speech` (讲话 / 致辞): no table of contents, sections from `一、` headings,
  the year from the title, a dateline or the sidecar;
- `report`: a book or report (a table of contents, a CIP record, or a report-like title);
- `other` for the rest.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.policies import _NUMBER, _norm_number, is_national_issuer
from kb.vocab import DOC_TYPES

_NOTICE_TITLE = re.compile(r"(?:通知|方案|意见|条例|办法|规定|细则|决定|规划|计划|指南|公告|通告|批复|要点|措施|函)"
                           r"(?:[（(][^（）()]{0,20}[）)])?$")
_WORK_REPORT = re.compile(r"工作报告")
_SPEECH = re.compile(r"讲话|致辞|发言|演讲")
_REPORT = re.compile(r"报告|白皮书|蓝皮书|年鉴|研究|评估|公报|年报")
_YEAR_IN_TITLE = re.compile(r"((?:19|20)\d{2})\s*(?:年|—|－|-|～|~)")
_DATE = re.compile(r"((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_CN_DIGITS = {"〇": 0, "○": 0, "零": 0, "Ｏ": 0, "O": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
              "八": 8, "九": 9}
_CN_DATE = re.compile(r"([〇○零Ｏ一二三四五六七八九]{4})年([一二三四五六七八九十]{1,2})月([一二三四五六七八九十]{1,3})日")
_ATTACHMENT = re.compile(r"^附件\s*(?:\d+|[一二三四五六七八九十]+)?\s*[:：．.、]?\s*(?:\d+\s*[.．、]\s*)?(?P<title>\S.{1,80})$")
_ISSUER_IN_TITLE = re.compile(r"^(?P<issuer>.{2,40}?)(?:关于|印发)")
_ORG = re.compile(r"(?:部|厅|局|委|委员会|办公室|办公厅|政府|人大常委会|中心|院|党中央|国务院|中共中央)$")


@dataclass
class DocInfo:
    doc_type: str
    doc_year: int | None
    number: str | None = None            # 文号
    issuer: str | None = None
    date: str | None = None              # YYYY-MM-DD, the 成文日期 or dateline
    attachments: list[str] = field(default_factory=list)
    central: bool = False                # issued by the central government (党中央, 国务院, ministries)


def _cn_int(text: str) -> int:
    if len(text) == 4:  # 二〇二四
        return int("".join(str(_CN_DIGITS[c]) for c in text))
    if text == "十":
        return 10
    if text.startswith("十"):
        return 10 + _CN_DIGITS[text[1]]
    if len(text) >= 2 and text[1] == "十":
        return _CN_DIGITS[text[0]] * 10 + (_CN_DIGITS[text[2]] if len(text) > 2 else 0)
    return _CN_DIGITS[text]


def find_date(line: str) -> tuple[int, int, int] | None:
    m = _DATE.search(line)
    if m:
        return int(m.group(1)), int(m.group(2)), int(m.group(3))
    m = _CN_DATE.search(line)
    if m:
        try:
            return _cn_int(m.group(1)), _cn_int(m.group(2)), _cn_int(m.group(3))
        except (KeyError, IndexError):
            return None
    return None


def _valid(y: int, mo: int, d: int) -> bool:
    return 1949 <= y <= 2100 and 1 <= mo <= 12 and 1 <= d <= 31


def classify(meta: dict, title: str, lines: list[str], has_toc: bool, has_cip: bool) -> DocInfo:
    """`lines`: the document's non-empty lines, tidied. `meta`: the sidecar (and CIP) fields."""
    head, tail = lines[:12], lines[-40:]
    number = next((_norm_number(m.group(0)) for line in head for m in [_NUMBER.search(line)]
                   if m and len(line) <= len(m.group(0)) + 12), None)

    doc_type = meta.get("doc_type") if meta.get("doc_type") in DOC_TYPES else None
    if doc_type is None:
        if _WORK_REPORT.search(title):
            doc_type = "work_report"
        elif _SPEECH.search(title):
            doc_type = "speech"
        elif number or (_NOTICE_TITLE.search(title) and not has_toc and not has_cip):
            doc_type = "policy_notice"
        elif has_toc or has_cip or _REPORT.search(title):
            doc_type = "report"
        else:
            doc_type = "other"

    info = DocInfo(doc_type=doc_type, doc_year=None, number=number)
    if doc_type == "policy_notice":
        info.date = _signature_date(tail)
        info.issuer = _issuer(title, tail)
        info.attachments = _attachments(lines)
    else:
        dated = next((d for line in head for d in [find_date(line)] if d and _valid(*d)), None)
        info.date = "%04d-%02d-%02d" % dated if dated else None
    author = meta.get("author") or ""
    info.central = is_national_issuer(info.issuer or author)
    info.doc_year = _doc_year(meta, title, info.date)
    return info


def _doc_year(meta: dict, title: str, date: str | None) -> int | None:
    """The sidecar's `doc_year`, else the year the title names (a 2024 report published in 2025 is the
    2024 report), else the sidecar's or CIP's year, else the document's own date."""
    for value in (meta.get("doc_year"),):
        if isinstance(value, int) and 1900 <= value <= 2100:
            return value
    m = _YEAR_IN_TITLE.search(title)
    if m:
        return int(m.group(1))
    if isinstance(meta.get("year"), int) and 1900 <= meta["year"] <= 2100:
        return meta["year"]
    return int(date[:4]) if date else None


def _attachments(lines: list[str]) -> list[str]:
    """附件 titles: "附件：1．A" and the numbered lines under it ("2．B"), or one "附件N：title" line each."""
    out: list[str] = []
    listing = False
    for line in lines:
        m = _ATTACHMENT.match(line)
        if m:
            out.append(m.group("title").strip())
            listing = True
            continue
        item = re.match(r"^\d{1,2}\s*[.．、]\s*(\S.{1,80})$", line) if listing else None
        if item:
            out.append(item.group(1).strip())
        else:
            listing = False
    return out[:20]


def _signature_date(tail: list[str]) -> str | None:
    """The 成文日期: the last line of the document body that is only a date (before any 附件)."""
    best = None
    for line in tail:
        if line.startswith("附件"):
            break
        d = find_date(line)
        if d and _valid(*d) and len(re.sub(r"[（）()\s]", "", line)) <= 14:
            best = "%04d-%02d-%02d" % d
    return best


def _issuer(title: str, tail: list[str]) -> str | None:
    m = _ISSUER_IN_TITLE.match(title)
    if m and _ORG.search(m.group("issuer")):
        return m.group("issuer")
    for prev, line in zip(tail, tail[1:]):  # the signature: an organisation's name over the date
        if find_date(line) and _ORG.search(prev) and len(prev) <= 40:
            return prev
    return None
