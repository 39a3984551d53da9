"""Extract named policy documents (《...》) with issuer, number, date, level, type.

Works on tagged passages, so a document named in several places becomes one
entry linked to every passage that names it.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

from kb.gazetteer import gazetteer

_TITLE = re.compile(r"《([^《》]{2,120})》")
_PAREN = re.compile(r"^[（(]([^（）()]{2,60})[）)]")
_NUMBER = re.compile(
    r"[\u4e00-\u9fff]{1,12}〔\s*\d{4}\s*〕\s*\d+\s*号"
    r"|公告\s*\d{4}\s*年\s*第\s*\d+\s*号"
    r"|(?:GB|HJ|CJJ|JGJ|DB\s*\d{2,4})(?:\s*/\s*T)?\s*[\d.]+\s*[—\-－]\s*\d{4}")
_VERB = re.compile(r"(?:联合)?(?:印发|发布|出台|制定|制订|修订|修正|通过|颁布|签署|签订|编制|实施|公布)(?:了|并实施|实施)?$")
_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月(?:\s*(\d{1,2})\s*日)?")
_NATIONAL_ISSUER = re.compile(r"国务院|中共中央|党中央|全国人大|全国人民代表大会|生态环境部|工业和信息化部|国家发展改革委|"
                              r"国家发展和改革委员会|财政部|住房和城乡建设部|农业农村部|商务部|中国人民银行|自然资源部|"
                              r"交通运输部|公安部|水利部|国家.{1,6}局|市场监管总局|[五六七八九十\d]部门|部委")
_TYPES = [
    ("law", re.compile(r"法$|法（|法\(")),
    ("regulation", re.compile(r"条例|规定$|规定（|细则|管理办法|办法$|办法（|办法（试行）")),
    ("plan", re.compile(r"方案|规划|计划|要点|纲要|名单|清单")),
    ("opinion", re.compile(r"意见|决定")),
    ("standard", re.compile(r"标准|规范|技术要求|目录|指标体系|检测方法|分类与代码")),
    ("guideline", re.compile(r"指南|导则|指引|手册|方法学")),
    ("notice", re.compile(r"通知|函|公告")),
    ("agreement", re.compile(r"协议|备忘录|倡议")),
    ("report", re.compile(r"报告|报表")),
]


@dataclass
class Policy:
    id: str
    title: str
    issuer: str | None = None
    number: str | None = None
    date: str | None = None
    level: str | None = None
    type: str | None = None
    region: str | None = None
    aliases: list[str] = field(default_factory=list)
    passages: list[str] = field(default_factory=list)


def policy_key(title: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", title))


def policy_id(title: str) -> str:
    return "pol-" + hashlib.sha1(policy_key(title).encode("utf-8")).hexdigest()[:10]


def policy_type(title: str) -> str | None:
    for name, pattern in _TYPES:
        if pattern.search(title):
            return name
    return None


def _sentence_before(text: str, pos: int) -> str:
    start = max(text.rfind(ch, 0, pos) for ch in "。；！？\n") + 1
    return text[start:pos]


def _issuer(before: str) -> tuple[str | None, str | None]:
    """Issuer and date from the clause before a title: '2024年2月9日，国务院办公厅印发'."""
    before = re.sub(r"(《[^《》]*》[、和及与]?)+$", "", before)  # other titles of the same verb
    date = None
    for m in _DATE.finditer(before):
        y, mo, d = m.group(1), int(m.group(2)), m.group(3)
        date = f"{y}-{mo:02d}" + (f"-{int(d):02d}" if d else "")
    m = _VERB.search(before)
    if not m:
        return None, date
    clause = before[: m.start()]
    clause = re.split(r"[，,：:；]", clause)[-1]
    clause = _DATE.sub("", clause).strip(" ，,、")
    clause = re.sub(r"^(同期|此外|同时|其中|随后|相继|先后|并|还|已|正式|积极)+", "", clause)
    clause = re.sub(r"(相继|先后|正式|积极|率先|首次|共同|还|已|并)+$", "", clause)
    if not clause or len(clause) > 40:
        return None, date
    return clause, date


def extract(passages: list[dict]) -> list[Policy]:
    """`passages`: dicts with id, text, kind, tags.region (ordered by position)."""
    gaz = gazetteer()
    by_key: dict[str, Policy] = {}
    alias_of: dict[str, str] = {}
    for p in passages:
        text = p["text"]
        for m in _TITLE.finditer(text):
            title = m.group(1).strip()
            key = policy_key(title)
            if key in alias_of:
                key = alias_of[key]
            after = text[m.end(): m.end() + 80]
            numbers, short = [], None
            while True:
                pm = _PAREN.match(after)
                if not pm:
                    break
                inner = pm.group(1)
                sm = re.search(r"以下简称《?([^《》」]+)》?", inner)
                if sm:
                    short = policy_key(sm.group(1))
                numbers += [re.sub(r"\s+", "", n.group(0)) for n in _NUMBER.finditer(inner)]
                after = after[pm.end():]
            policy = by_key.get(key)
            if policy is None:
                policy = Policy(id=policy_id(key), title=title)
                by_key[key] = policy
            if short and short != key:
                alias_of[short] = key
                policy.aliases.append(short)
            if numbers and not policy.number:
                policy.number = "；".join(dict.fromkeys(numbers))
            issuer, date = _issuer(_sentence_before(text, m.start()))
            if issuer and not policy.issuer:
                policy.issuer = issuer
            if date and not policy.date:
                policy.date = date
            if not policy.type:
                policy.type = policy_type(title)
            if not policy.region:
                named = [pl for _, _, pl in gaz.find(title + " " + (policy.issuer or "")) if pl.level != "national"]
                if named:
                    policy.region = named[0].name
                else:
                    local = [r["name"] for r in p.get("region", []) if r["level"] not in ("national", "region")]
                    if p.get("kind") in ("provincial_action", "city_progress", "case_study") and local:
                        policy.region = local[0]
            if not policy.level:
                policy.level = _level(policy, p.get("kind"))
            if p["id"] not in policy.passages:
                policy.passages.append(p["id"])
    return list(by_key.values())


def _level(policy: Policy, kind: str | None) -> str:
    gaz = gazetteer()
    if policy.issuer and _NATIONAL_ISSUER.search(policy.issuer) and not any(
            pl.level in ("province", "city", "district") for _, _, pl in gaz.find(policy.issuer)):
        return "national"
    if policy.region:
        place = gaz.places.get(policy.region)
        if place:
            return {"province": "provincial", "city": "city", "district": "district",
                    "region": "regional", "national": "national"}[place.level]
    return {"national_directive": "national", "regional_progress": "regional",
            "provincial_action": "provincial"}.get(kind or "", "unknown")
