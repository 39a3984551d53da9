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
_VERBS = r"印发|发布|出台|制定|制订|修订|修正|通过|颁布|签署|签订|编制|实施|公布|更新|审议|审议通过"
_VERB = re.compile(rf"(?:联合)?(?:{_VERBS})(?:了|并实施|实施)?$")
# words around the issuer's name that are not part of it: adverbs, auxiliary verbs, other verbs
_LEAD = re.compile(r"^(?:同期|此外|同时|其中|随后|相继|先后|并|还|已|正式|积极|全面|另外|最终|目前|近年来|在此基础上)+")
_TRAIL = re.compile(rf"(?:相继|先后|正式|积极|率先|首次|共同|还|已|并|再次|又|均|分别|牵头|组织|联合|会同|"
                    rf"参与|指导|负责|研究|起草|{_VERBS})+$")
# an issuer is an organisation or a place: its name ends like one
_ORG_END = re.compile(r"(?:部|厅|局|委|委员会|办|办公室|办公厅|院|中心|政府|人大|常委会|会|会议|组|室|行|集团|公司|"
                      r"协会|联盟|所|站|署|部门|单位|机构|园区|高新区|开发区|示范区|新区|省|市|区|县|州|旗|盟|镇|乡|"
                      r"村|街道|等地|各地|党中央|中共中央|国务院)$")
# the subject of an encouragement or request is not the issuer
_NOT_ISSUER = re.compile(r"鼓励|支持|引导|推动|要求|督促|指导.+(?:参与|编制)|企业参与")
_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月(?:\s*(\d{1,2})\s*日)?")
_NATIONAL_ISSUER = re.compile(r"国务院|中共中央|党中央|中国共产党.{0,12}中央委员会|全国人大|全国人民代表大会|生态环境部|工业和信息化部|国家发展改革委|"
                              r"国家发展和改革委员会|财政部|住房和城乡建设部|农业农村部|商务部|中国人民银行|自然资源部|"
                              r"交通运输部|公安部|水利部|国家.{1,6}局|市场监管总局|[五六七八九十\d]部门|部委")
_TYPES = [
    ("law", re.compile(r"(?<![办方执司立魔])法$")),
    ("regulation", re.compile(r"条例|规定|细则|办法")),
    ("plan", re.compile(r"方案|规划|计划|要点|纲要|名单|清单|安排")),
    ("opinion", re.compile(r"意见|决定|措施")),
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


def _norm_number(number: str) -> str:
    """`国办发〔2024〕7号`, `公告2024年第4号`; standards as printed: `GB/T 51452—2024`."""
    compact = re.sub(r"\s+", "", number)
    m = re.match(r"^((?:GB|HJ|CJJ|JGJ|DB\d{2,4})(?:/T)?)([\d.]+)([—\-－])(\d{4})$", compact)
    if m:
        return f"{m.group(1)} {m.group(2)}{m.group(3)}{m.group(4)}"
    return compact


def policy_key(title: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", title))


def policy_id(title: str) -> str:
    return "pol-" + hashlib.sha1(policy_key(title).encode("utf-8")).hexdigest()[:10]


def policy_type(title: str) -> str | None:
    """The type named by the title's head noun: the keyword nearest its end, once trailing
    qualifiers（试行）（2024—2026年） and titles quoted inside it 〈...〉 are set aside."""
    head = re.sub(r"〈[^〈〉]*〉|<[^<>]*>", "", title)
    head = re.sub(r"(?:[（(][^（）()]*[）)]\s*)+$", "", head) or title
    best: tuple[int, int, str] | None = None
    for order, (name, pattern) in enumerate(_TYPES):
        for m in pattern.finditer(head):
            key = (m.end(), -order, name)
            if best is None or key > best:
                best = key
    return best[2] if best else None


def _sentence_before(text: str, pos: int) -> str:
    start = max(text.rfind(ch, 0, pos) for ch in "。；！？\n") + 1
    return text[start:pos]


def _issuer(before: str) -> tuple[str | None, str | None]:
    """Issuer and date from the clause before a title: '2024年2月9日，国务院办公厅印发'."""
    # other titles of the same verb, with their numbers: 《A》（公告…）和《B》
    before = re.sub(r"(《[^《》]*》(?:[（(][^（）()]*[）)])*[、和及与]?)+$", "", before)
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
    if _NOT_ISSUER.search(clause):
        return None, date
    previous = None
    while clause != previous:
        previous = clause
        clause = _LEAD.sub("", clause)
        clause = _TRAIL.sub("", clause).strip(" ，,、")
    if not clause or len(clause) > 40 or not (_ORG_END.search(clause) or _place_end(clause)):
        return None, date  # better no issuer than a fragment of the sentence
    return clause, date


def _place_end(clause: str) -> bool:
    """The clause ends with a place name ("西安与咸阳")."""
    return any(end == len(clause) for _, end, _ in gazetteer().find(clause))


def extract(passages: list[dict]) -> list[Policy]:
    """`passages`: dicts with id, text, kind, tags.region (ordered by position)."""
    gaz = gazetteer()
    by_key: dict[str, Policy] = {}
    alias_of: dict[str, str] = {}
    context: dict[str, tuple[str | None, list[str]]] = {}  # kind and places of the first passage
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
                numbers += [_norm_number(n.group(0)) for n in _NUMBER.finditer(inner)]
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
            # the places of the paragraph naming it (its subject comes first), else of the passage
            para = text[text.rfind("\n", 0, m.start()) + 1: m.start()]
            places = [pl.name for _, _, pl in gaz.find(para) if pl.level in ("province", "city", "district")]
            places += [r["name"] for r in p.get("region", []) if r["level"] not in ("national", "region")]
            context.setdefault(policy.id, (p.get("kind"), places))
            if p["id"] not in policy.passages:
                policy.passages.append(p["id"])
    for policy in by_key.values():  # once every mention is seen: region and level
        _place_and_level(policy, *context.get(policy.id, (None, [])))
    return list(by_key.values())


def own_entry(title: str, issuer: str | None, number: str | None, date: str | None, passages: list[str]) -> Policy:
    """A policy notice's own catalog entry, from its title, 文号, issuer and 成文日期."""
    policy = Policy(id=policy_id(policy_key(title)), title=title, issuer=issuer, number=number, date=date,
                    type=policy_type(title), passages=passages)
    _place_and_level(policy, None, [])
    return policy


def is_national_issuer(issuer: str | None) -> bool:
    """A central body (党中央, 国务院, a ministry), not a provincial or city one."""
    return bool(issuer and _NATIONAL_ISSUER.search(issuer) and not any(
        pl.level in ("province", "city", "district") for _, _, pl in gazetteer().find(issuer)))


def _place_and_level(policy: Policy, kind: str | None, local: list[str]) -> None:
    gaz = gazetteer()
    national = _is_national(policy)
    named = [pl for _, _, pl in gaz.find(policy.title + " " + (policy.issuer or "")) if pl.level != "national"]
    if named:
        policy.region = named[0].name
    elif not national and kind in ("provincial_action", "city_progress", "case_study") and local:
        policy.region = local[0]
    policy.level = "national" if national and not named else _level(policy, kind)


def _is_national(policy: Policy) -> bool:
    """Issued by a national body: named as the issuer, or as the title's own issuer
    ("中共中央 国务院关于...的意见")."""
    issuer = policy.issuer or ""
    m = re.match(r"^(.{2,30}?)关于", policy.title)
    if not issuer and m:
        issuer = m.group(1)
    return is_national_issuer(issuer)


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
