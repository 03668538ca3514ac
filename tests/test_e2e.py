"""End to end through the real CLI: crawl the recorded sites on 127.0.0.1, export, compare with the seeds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from store.notices import Store
from tests.conftest import ROOT, xunshi
from tests.test_sites_golden import MANIFEST, expected_text


@pytest.mark.parametrize("site_name", ["zjsjw", "shjjjc"])
def test_crawl_export_equals_seeds_then_second_crawl_adds_nothing(
    serve, tmp_path: Path, site_name: str
) -> None:
    site = serve(site_name)
    db = tmp_path / "x.db"
    m = MANIFEST[site_name]
    proc = xunshi("crawl", site_name, "--db", str(db), "--start-url", site.url(m["start"]))
    assert "Traceback" not in proc.stdout + proc.stderr
    assert f"{len(m['notices'])} new" in proc.stdout, proc.stdout

    exported = [
        json.loads(line)
        for line in xunshi("export", "--db", str(db), "--format", "jsonl").stdout.splitlines()
    ]
    by_path = {row["url"].split(site.base, 1)[1]: row for row in exported}
    assert set(by_path) == set(m["notices"])  # notices only: no 巡察, 进驻, 动员部署, news, PDF
    for path, ref in m["notices"].items():
        row = by_path[path]
        assert row["text"] == expected_text(ref), path
        assert row["versions"] == 1
        assert row["title"] == m["articles"][path]["title"]
        published = m["articles"][path]["published"]
        if published:
            assert row["published_at"].startswith(published[:10])
        assert row["published_at"] is None or row["published_at"].endswith("+08:00")
    # the raw page is kept as evidence, byte for byte as served
    some_path = next(iter(m["notices"]))
    raw = subprocess.run(
        [sys.executable, "-m", "cli", "show", str(by_path[some_path]["id"]), "--raw", "--db", str(db)],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert raw == (site.root / some_path.lstrip("/")).read_bytes()
    # robots.txt was asked for, and the PDF never fetched
    assert "/robots.txt" in site.paths()
    assert not any(p.endswith(".pdf") for p in site.paths())

    second = xunshi(
        "crawl", site_name, "--db", str(db), "--start-url", site.url(m["start"]), "--full"
    )
    assert "0 new, 0 changed" in second.stdout, second.stdout
    store = Store.open(db)
    assert store.db.table("versions").count == len(m["notices"])
    runs = store.runs()
    assert [r["status"] for r in runs] == ["ok", "ok"]
    assert runs[1]["new"] == len(m["notices"]) and runs[0]["unchanged"] == len(m["notices"])
    store.close()


def test_seed_districts_after_crawl(serve, tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    for name in ("zjsjw", "shjjjc"):
        site = serve(name)
        xunshi("crawl", name, "--db", str(db), "--start-url", site.url(MANIFEST[name]["start"]))
    rows = [json.loads(x) for x in xunshi("export", "--db", str(db)).stdout.splitlines()]
    by_title = {r["title"]: r["districts"] for r in rows}
    assert by_title["中共杭州市拱墅区委关于省委巡视整改进展情况的通报"] == [
        {"code": "330105", "name": "杭州市拱墅区"}
    ]
    assert by_title["中共上海市黄浦区委员会关于十二届市委第二轮巡视集中整改进展情况的通报"] == [
        {"code": "310101", "name": "上海市黄浦区"}
    ]


def test_crawl_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database", encoding="utf-8")
    proc = xunshi(
        "crawl", "zjsjw", "--db", str(path), "--start-url", "http://127.0.0.1:9/", check=False
    )
    assert proc.returncode != 0
    assert "not a SQLite database" in proc.stderr and "Traceback" not in proc.stderr
    assert path.read_text(encoding="utf-8") == "not a database"


def test_unknown_site_is_a_clear_error(tmp_path: Path) -> None:
    proc = xunshi("crawl", "nosuchsite", "--db", str(tmp_path / "x.db"), check=False)
    assert proc.returncode == 2 and "unknown site" in proc.stderr and "Traceback" not in proc.stderr
