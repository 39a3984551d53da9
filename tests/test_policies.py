"""The policy catalog and the indicator table extracted from the report."""
from __future__ import annotations

import re

import pytest

NATIONAL = {
    # number: (title, date, issuer, type)
    "国办发〔2024〕7号": ("关于加快构建废弃物循环利用体系的意见", "2024-02-09", "国务院办公厅", "opinion"),
    "工信部联节〔2024〕58号": ("磷石膏综合利用行动方案", "2024-03-25", "工业和信息化部等七部门", "plan"),
    "国发〔2024〕7号": ("推动大规模设备更新和消费品以旧换新行动方案", "2024-03-07", "国务院", "plan"),
    "环办固体函〔2024〕99号": ("2024年度“无废城市”建设工作推进计划", "2024-03-06", "生态环境部办公厅", "plan"),
    "环环评〔2024〕79号": ("全面实行排污许可制实施方案", "2024-11-03", "生态环境部", "plan"),
    "工信部联节〔2024〕26号": ("关于加快推动制造业绿色化发展的指导意见", "2024-02-05", "工业和信息化部等七部门", "opinion"),
    "工信部联规〔2024〕53号": ("推动工业领域设备更新实施方案", "2024-03-27", "工业和信息化部等七部门", "plan"),
    "发改环资〔2024〕1104号": ("关于大力支持大规模设备更新和消费品以旧换新的若干措施", "2024-07-24", "国家发展改革委、财政部", None),
    "财资环〔2024〕119号": ("废弃电器电子产品处理专项资金管理办法", "2024-09-13", "财政部、生态环境部", "regulation"),
    "银发〔2024〕5号": ("关于发挥绿色金融作用服务美丽中国建设的意见", "2024-10-12", "中国人民银行等四部门", "opinion"),
    "GB/T 51452—2024": ("生活垃圾焚烧处理与能源利用工程技术标准", "2024-12-26", None, "standard"),
}


@pytest.fixture(scope="module")
def catalog(processed):
    return processed.policies


def by_title(catalog, title):
    found = [p for p in catalog if p["title"] == title]
    assert len(found) == 1, (title, len(found))
    return found[0]


@pytest.mark.parametrize("number", sorted(NATIONAL))
def test_national_documents_of_chapter_one(catalog, processed, number):
    title, date, issuer, kind = NATIONAL[number]
    policy = by_title(catalog, title)
    assert number in (policy["number"] or "").split("；")
    assert policy["date"] == date
    assert policy["level"] == "national" and policy["region"] is None
    if issuer:
        assert policy["issuer"] == issuer
    if kind:
        assert policy["type"] == kind
    ids = {p["id"] for p in processed.passages}
    assert policy["passages"] and set(policy["passages"]) <= ids
    first = next(p for p in processed.passages if p["id"] == policy["passages"][0])
    assert f"《{title}》" in first["text"].replace(" ", "")


def test_the_state_council_opinion_in_full(catalog):
    p = by_title(catalog, "关于加快构建废弃物循环利用体系的意见")
    assert (p["number"], p["issuer"], p["date"], p["level"], p["type"]) == \
        ("国办发〔2024〕7号", "国务院办公厅", "2024-02-09", "national", "opinion")


def test_same_document_named_twice_is_one_entry(catalog, processed):
    title = "“十四五”时期“无废城市”建设名单"
    p = by_title(catalog, title)
    naming = [x["id"] for x in processed.passages if f"《{title}》" in x["text"]]
    assert len(naming) >= 2 and sorted(p["passages"]) == sorted(naming)
    assert p["number"] == "环办固体函〔2022〕164号" and p["level"] == "national" and p["region"] is None
    ids = [x["id"] for x in catalog]
    assert len(ids) == len(set(ids))
    keys = [re.sub(r"\s+", "", x["title"]) for x in catalog]
    assert len(keys) == len(set(keys))


def test_provincial_document(catalog):
    p = by_title(catalog, "广东省全域“无废城市”建设工作方案")
    assert p["level"] == "provincial" and p["region"] == "广东省" and p["type"] == "plan"


def test_issuers_are_names_not_sentence_fragments(catalog):
    bad_tail = re.compile(r"(牵头|组织|首次|编制|制定|印发|发布|再次|积极|全面|参与|审议|更新)$")
    for p in catalog:
        issuer = p["issuer"]
        if issuer is None:
            continue
        assert len(issuer) >= 2 and not bad_tail.search(issuer), (p["title"], issuer)
        assert "《" not in issuer and "，" not in issuer, (p["title"], issuer)
    # the report itself is no policy of its own catalog; the previous year's report is one
    assert not [p for p in catalog if p["title"] == "“无废城市”建设进展研究报告（2024年）"]
    previous = by_title(catalog, "“无废城市”建设进展研究报告（2023年）")
    assert previous["issuer"] == "生态环境部固体废物与化学品管理技术中心"


def test_title_named_issuer_is_national(catalog):
    p = by_title(catalog, "中共中央国务院关于全面推进美丽中国建设的意见")
    assert p["level"] == "national" and p["date"] == "2024-01-11" and p["type"] == "opinion"


def test_types_follow_the_head_noun(catalog):
    from ingest.policies import policy_type

    assert policy_type("关于规范处置动物医疗废物的通知（试行）") == "notice"
    assert policy_type("湖北省畜禽养殖废弃物资源化利用管理办法（试行）") == "regulation"
    assert policy_type("中华人民共和国固体废物污染环境防治法") == "law"
    assert policy_type("安徽省实施〈中华人民共和国固体废物污染环境防治法〉办法") == "regulation"
    assert policy_type("长三角一体化城市管理执法领域建筑垃圾联防联治工作机制") is None
    assert policy_type("黄石市钢铁冶炼行业危险废物规范化环境管理技术指南（试行）") == "guideline"


def test_issuer_extraction_in_general():
    from ingest.policies import _issuer

    assert _issuer("2024年5月，贵州省人民政府印发") == ("贵州省人民政府", "2024-05")
    assert _issuer("自治区住建厅牵头印发") == ("自治区住建厅", None)
    assert _issuer("鼓励磷石膏利用企业参与编制") == (None, None)
    assert _issuer("各地结合实际，积极组织制定") == (None, None)
    assert _issuer("2024年1月，生态环境部相继印发《固体废物分类与代码目录》（公告2024年第4号）和") == \
        ("生态环境部", "2024-01")


INDICATORS = [
    ("工业固体废物产生强度", "吨/万元", 0.66, 0.43),
    ("一般工业固体废物贮存量占比", "%", 8.73, 0.85),
    ("一般工业固体废物综合利用率", "%", 82.47, 91.00),
    ("工业危险废物综合利用率", "%", 59.40, 61.35),
    ("危险废物填埋处置量占比", "%", 20.79, 15.63),
    ("秸秆综合利用率", "%", 95.11, 95.79),
    ("畜禽粪污综合利用率", "%", 91.59, 92.21),
    ("农膜回收率", "%", 91.86, 92.03),
    ("建筑垃圾资源化利用率", "%", 57.88, 65.64),
    ("生活垃圾回收利用率", "%", 37.67, 37.69),
]


def test_indicator_table(processed):
    rows = processed.indicators
    assert [(r["indicator"], r["unit"], r["mean"], r["median"]) for r in rows] == INDICATORS
    ids = {p["id"]: p for p in processed.passages}
    for r in rows:
        assert r["table_caption"].startswith("表1")
        assert r["passage_id"] in ids and r["indicator"] in ids[r["passage_id"]]["text"]
