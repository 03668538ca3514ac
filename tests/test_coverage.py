"""Districts and coverage: which districts have published, first appearances, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import xunshi
from tests.test_sites_golden import MANIFEST


def crawl_both(serve, db: Path) -> None:
    for name in ("zjsjw", "shjjjc"):
        site = serve(name)
        xunshi("crawl", name, "--db", str(db), "--start-url", site.url(MANIFEST[name]["start"]))


def test_districts_and_coverage(serve, tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    crawl_both(serve, db)
    rows = json.loads(xunshi("districts", "--db", str(db), "--format", "json").stdout)
    assert {r["code"] for r in rows} == {"330105", "330106", "330400", "310101", "310104", "310106"}
    assert all(r["notices"] == 1 for r in rows)
    # --new: the latest run was shjjjc's, whose three districts were new in it
    new = json.loads(xunshi("districts", "--db", str(db), "--new", "--format", "json").stdout)
    assert {r["code"] for r in new} == {"310101", "310104", "310106"}
    shanghai = json.loads(
        xunshi("districts", "--db", str(db), "--province", "上海", "--format", "json").stdout
    )
    assert {r["province"] for r in shanghai} == {"上海市"}

    cov = json.loads(
        xunshi(
            "coverage",
            "--db",
            str(db),
            "--province",
            "上海市",
            "--round",
            "十二届市委第二轮",
            "--format",
            "json",
        ).stdout
    )
    assert len(cov) == 16
    have = {r["name"]: r for r in cov if r["notices"]}
    assert set(have) == {"上海市黄浦区", "上海市徐汇区", "上海市静安区"}
    assert have["上海市黄浦区"]["published"] == "2024-01-31"
    # 静安's page shows no date: the date shown beside its link on the list page is used
    assert have["上海市静安区"]["published"] == "2024-01-31"
    other_round = json.loads(
        xunshi(
            "coverage",
            "--db",
            str(db),
            "--province",
            "上海",
            "--round",
            "十二届市委第一轮",
            "--format",
            "json",
        ).stdout
    )
    assert not any(r["notices"] for r in other_round)
    table = xunshi("coverage", "--db", str(db), "--province", "上海").stdout
    assert "上海市: 3 of 16 county-level divisions have a notice" in table
    bad = xunshi("coverage", "--db", str(db), "--province", "火星", check=False)
    assert bad.returncode == 2 and "unknown province" in bad.stderr
