"""Facts read off notices (crawler/facts.py): a labelled set, the two seeds, never a wrong value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crawler.facts import COUNT_KEYS, SCALAR_KEYS, changes, extract_facts, flat
from tests.conftest import seed

CASES = json.loads(
    (Path(__file__).parent / "data" / "facts_cases.json").read_text(encoding="utf-8")
)
SEED_000_TITLE = "中共杭州市拱墅区委关于省委巡视整改进展情况的通报"
SEED_002_TITLE = "中共上海市黄浦区委员会关于十二届市委第二轮巡视集中整改进展情况的通报"


def _compare(expect: dict[str, Any], got: dict[str, Any]) -> tuple[list[str], int, int]:
    """(wrong values, labelled facts, labelled facts found)."""
    wrong, labelled, found = [], 0, 0
    pairs = [(k, expect[k], got[k]) for k in SCALAR_KEYS]
    pairs += [(k, expect["counts"].get(k), got["counts"].get(k)) for k in COUNT_KEYS]
    for key, want, have in pairs:
        if want is not None:
            labelled += 1
            found += have == want
        if have is not None and have != want:
            wrong.append(f"{key}: labelled {want!r}, extracted {have!r}")
    return wrong, labelled, found


def test_the_labelled_set_is_large_and_varied() -> None:
    assert len(CASES) >= 40
    assert len({c["id"] for c in CASES}) == len(CASES)
    kinds = {c["expect"]["kind"] for c in CASES}
    levels = {c["expect"]["level"] for c in CASES}
    assert {"巡视", "巡察"} <= kinds
    assert {"中央", "省委", "市委", "区委", "县委"} <= levels
    assert sum(1 for c in CASES if not c["expect"]["counts"]) >= 5  # notices with no counts


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case_has_no_wrong_value(case: dict[str, Any]) -> None:
    got = extract_facts(case["text"], case["title"], case["published"])
    wrong, _, _ = _compare(case["expect"], got)
    assert not wrong, f"{case['id']} ({case['note']}): " + "; ".join(wrong)
    # every fact found says where it came from, and the number is in that sentence
    for key, value in flat(got).items():
        if value is None:
            continue
        evidence = got["evidence"][key]
        assert evidence in case["text"] or evidence == case["title"], key
        if key in COUNT_KEYS and key != "recovered_wan_yuan" and str(value).isdigit():
            assert str(value) in evidence or not any(ch.isdigit() for ch in evidence), key


def test_at_least_95_percent_of_labelled_facts_found() -> None:
    labelled = found = 0
    for case in CASES:
        _, n, k = _compare(
            case["expect"], extract_facts(case["text"], case["title"], case["published"])
        )
        labelled += n
        found += k
    assert labelled >= 300
    assert found / labelled >= 0.95, f"{found}/{labelled}"


def test_seed_000() -> None:
    facts = extract_facts(
        seed("000_6f66318992fdd9a8.txt"), SEED_000_TITLE, "2023-06-27T09:02:00+08:00"
    )
    assert {k: facts[k] for k in SCALAR_KEYS} == {
        "kind": "巡视",
        "level": "省委",
        "round": None,
        "group": "省委第五巡视组",
        "inspected_unit": "杭州市拱墅区",
        "inspection_start": "2022-08-05",
        "inspection_end": "2022-11-04",
        "feedback_date": "2023-01-03",
    }
    # 召开区委常委会会议4次 and 专题会议10次 are meetings; 教育提醒5人 is no key
    assert facts["counts"] == {
        "party_discipline": 8,
        "government_discipline": 4,
        "judicial_referrals": 1,
        "admonished": 4,
        "rules": 43,
        "recovered_wan_yuan": 340.8,
    }
    assert facts["evidence"]["feedback_date"] == "2023年1月3日,省委巡视组向拱墅区委反馈了巡视意见"
    assert "给予党纪处分8人次" in facts["evidence"]["party_discipline"]


def test_seed_002() -> None:
    facts = extract_facts(seed("002_750c7fecf357e703.txt"), SEED_002_TITLE, None)
    assert {k: facts[k] for k in SCALAR_KEYS} == {
        "kind": "巡视",
        "level": "市委",
        "round": "十二届市委第二轮",
        "group": "市委第一巡视组",
        "inspected_unit": "黄浦区",
        "inspection_start": "2023-03-29",
        "inspection_end": "2023-06-16",
        "feedback_date": "2023-08-30",
    }
    # 共性问题9项 (other problems), 开除党籍1人、党内警告7人 (no total of 党纪处分),
    # 新建制度152项,修订完善201项 (two numbers) and 退出违规钱款 (not 挽回) give nothing
    assert facts["counts"] == {
        "problems": 57,
        "problems_rectified": 48,
        "measures": 134,
        "measures_done": 120,
        "cases_filed": 43,
        "admonished": 8,
        "organisational_handling": 12,
    }


def test_odd_input_gives_empty_facts() -> None:
    for text in (
        "",
        "巡视",
        "\n\n",
        "根据省委统一部署,99月99日至88月1日,省委第一巡视组对某某开展了巡视。",
    ):
        facts = extract_facts(text, "", "not a date")
        assert set(facts) == {*SCALAR_KEYS, "counts", "evidence"}
        assert facts["inspection_start"] is None and facts["inspection_end"] is None


def test_publish_date_gives_missing_years() -> None:
    text = "根据省委统一部署,11月5日至12月30日,省委第一巡视组对某市开展了巡视。2月3日,省委巡视组向某市委反馈了巡视意见。"
    facts = extract_facts(text, "", "2024-05-01")
    assert (facts["inspection_start"], facts["inspection_end"], facts["feedback_date"]) == (
        "2023-11-05",
        "2023-12-30",
        "2024-02-03",
    )
    # without a publish date there is no year to give
    facts = extract_facts(text, "", None)
    assert (facts["inspection_start"], facts["feedback_date"]) == (None, None)


def test_changes_name_key_old_and_new() -> None:
    text = seed("000_6f66318992fdd9a8.txt")
    old = extract_facts(text, SEED_000_TITLE, "2023-06-27")
    new = extract_facts(
        text.replace("党纪处分8人次", "党纪处分9人次"), SEED_000_TITLE, "2023-06-27"
    )
    assert changes(old, new) == [{"key": "party_discipline", "old": 8, "new": 9}]
    assert changes(old, old) == []


def test_hostile_text_gives_no_error() -> None:
    import random

    rng = random.Random(13)
    alphabet = "巡视察组对开展反馈问题个项条党纪政务处分诫勉立案0123456789年月日至—-,。、()\n"
    for _ in range(20):
        text = "".join(rng.choice(alphabet) for _ in range(3000))
        facts = extract_facts(text, "巡视", "2024-01-01")
        for key in ("inspection_start", "inspection_end", "feedback_date"):
            value = facts[key]
            assert value is None or (len(value) in (7, 10) and value[:2] in ("19", "20")), value
    # one sentence without a full stop, 60,000 characters long: still answers
    long = "省委第五巡视组对某区开展了巡视。" + "给予党纪处分8人次、政务处分4人次、问题12个" * 2500
    assert extract_facts(long, "", None)["counts"]["party_discipline"] == 8


def test_money_in_chinese_numerals_is_read_not_an_error() -> None:
    text = (
        "根据市委统一部署,2019年10月至12月,市委第二巡察组对某县开展了常规巡察。\n"
        "给予党纪处分三人,挽回经济损失八十四万余元,挽回其他损失两千元。"
    )
    counts = extract_facts(text, "", "2020-05-01")["counts"]
    assert counts["party_discipline"] == 3
    # two amounts for one key: no value (the rule); each is read without an error
    assert "recovered_wan_yuan" not in counts
    one = extract_facts(text.replace(",挽回其他损失两千元", ""), "", "2020-05-01")
    assert one["counts"]["recovered_wan_yuan"] == 84
    two = extract_facts(text.replace("八十四万余元,挽回其他损失", ""), "", "2020-05-01")
    assert two["counts"]["recovered_wan_yuan"] == 0.2
