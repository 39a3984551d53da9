"""The passage tagger against a hand-labelled sample (tests/data/tag_sample.jsonl), plus exact cases.

The sample was labelled by someone who never saw the tagger; the acceptance bar is region
precision/recall >= 0.95 (each place widened to its parent city and province on both sides),
mean per-passage Jaccard >= 0.85 for domain and instrument, kind accuracy >= 0.95.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.structure import parse_heading
from ingest.tag import region_scope, tag
from kb.gazetteer import gazetteer
from kb.text import tidy

SAMPLE = Path(__file__).resolve().parent / "data" / "tag_sample.jsonl"


def _canon(heading: str) -> str:
    heading = tidy(heading)
    parsed = parse_heading(heading)
    return f"{parsed[1]}{parsed[2]}".strip() if parsed else heading


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def _names(tags: list[dict]) -> set[str]:
    return {t["name"] for t in tags}


@pytest.fixture(scope="module")
def figures() -> dict:
    gaz = gazetteer()
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    tp = fp = fn = 0
    dom = ins = kind_ok = 0.0
    for row in rows:
        section = [_canon(s) for s in row["section"]]
        got = tag(tidy(row["text"]), section, doc_year=2024)
        kind_ok += got["kind"] == row["kind"]
        predicted = set(region_scope(got["region"]))
        labelled = set(region_scope([{"name": n} for n in row["region"] if n in gaz.places]))
        tp += len(predicted & labelled)
        fp += len(predicted - labelled)
        fn += len(labelled - predicted)
        dom += _jaccard(set(got["domain"]), set(row["domain"]))
        ins += _jaccard(set(got["instrument"]), set(row["instrument"]))
    n = len(rows)
    return {"n": n, "kind": kind_ok / n, "region_p": tp / (tp + fp), "region_r": tp / (tp + fn),
            "domain": dom / n, "instrument": ins / n}


def _report(f: dict) -> str:
    return (f"n={f['n']} kind={f['kind']:.3f} region P={f['region_p']:.3f} R={f['region_r']:.3f} "
            f"domain={f['domain']:.3f} instrument={f['instrument']:.3f}")


def test_sample_accuracy(figures):
    f = figures
    assert f["n"] >= 100, _report(f)
    assert f["kind"] >= 0.95, _report(f)
    assert f["region_p"] >= 0.95 and f["region_r"] >= 0.95, _report(f)
    assert f["domain"] >= 0.85, _report(f)
    assert f["instrument"] >= 0.85, _report(f)


PROVINCIAL = ["三、省（区、市）“无废城市”建设工作进展"]
CITY = ["四、城市“无废城市”建设工作进展", "（二）重点领域工作进展", "1. 加强组织领导，统筹高位推进"]


def test_shanxi_is_not_shaanxi():
    assert _names(tag("山西省印发《山西省“无废城市”建设工作方案》。", PROVINCIAL)["region"]) == {"山西省"}
    got = _names(tag("陕西省西安与咸阳联合印发共建工作方案。", PROVINCIAL)["region"])
    assert got == {"陕西省", "西安市", "咸阳市"}


def test_bank_is_not_a_place():
    got = _names(tag("北京银行推出“无废贷”，支持固体废物利用项目。", CITY)["region"])
    assert "北京市" not in got


def test_running_national_is_not_a_place():
    got = _names(tag("上海市在全国率先出台“无废城市”建设条例。", PROVINCIAL)["region"])
    assert got == {"上海市"}
    directive = ["一、国家战略部署要求", "（一）党中央、国务院重要部署"]
    assert "全国" in _names(tag("国务院印发意见。", directive)["region"])


def test_case_study_gets_its_place_from_the_heading():
    section = ["五、“无废城市”建设经验做法与探索实践", "（一）重点领域",
               "1. 工业领域：贵阳市拓展磷石膏综合利用产业链，推进大宗工业固体废物减量化", "（2）主要做法"]
    got = tag("出台磷石膏综合利用奖补、税收优惠等激励措施。", section)
    assert got["kind"] == "case_study"
    assert "贵阳市" in _names(got["region"])
    assert "fiscal" in got["instrument"]


def test_year_range():
    got = tag("印发《工作方案（2024—2027年）》。", PROVINCIAL)
    assert got["year"] == [2024, 2025, 2026, 2027]


def test_development_zone_is_tagged_as_its_city():
    got = _names(tag("苏州工业园区建成循环经济产业园。", CITY)["region"])
    assert got == {"苏州市"}


def test_management_measures_are_not_law():
    got = tag("金昌市出台《金昌市社会源危险废物管理办法》。", CITY)
    assert "law" not in got["instrument"]
    assert "law" in tag("珠海市出台《珠海经济特区固体废物污染环境防治条例》。", CITY)["instrument"]
