"""The command line as a user meets it: help with examples, documented settings, clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from crawler.items import Notice
from store.notices import Store

ROOT = Path(__file__).resolve().parents[1]


def all_commands():
    return sorted(cli.main.commands.items())


@pytest.mark.parametrize(("name", "command"), all_commands(), ids=[n for n, _ in all_commands()])
def test_every_command_has_help_with_an_example(name: str, command) -> None:
    result = CliRunner().invoke(cli.main, [name, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and f"xunshi {name}" in result.output


def test_every_xunshi_setting_is_documented() -> None:
    lines = (ROOT / "crawler" / "settings.py").read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^XUNSHI_\w+\s*=", line):
            assert lines[i - 1].startswith("#"), (
                f"{line.split('=')[0].strip()} has no comment above it"
            )


@pytest.fixture
def filled_db(tmp_path: Path) -> Path:
    db = tmp_path / "x.db"
    store = Store.open(db)
    run = store.start_run("zjsjw")
    n = Notice(site="zjsjw", url="http://h/a/t20240101_1_ext.html", title="中共杭州市拱墅区委关于省委巡视整改情况的通报",
               published_at=None, source=None, paragraphs=[], header=None, raw=b"", encoding="utf-8",
               status=200, headers={}, fetched_at="2026-01-01T00:00:00+00:00", province="浙江省")  # fmt: skip
    n.text = "第一段\n党纪处分8人次"
    store.record(n, run)
    n.text = "第一段\n党纪处分9人次"
    store.record(n, run)
    store.close()
    return db


def test_events_formats(filled_db: Path) -> None:
    runner = CliRunner()
    table = runner.invoke(cli.main, ["events", "--db", str(filled_db)])
    assert table.exit_code == 0 and "new_notice" in table.output and "changed" in table.output
    rows = [
        json.loads(x)
        for x in runner.invoke(
            cli.main, ["events", "--db", str(filled_db), "--format", "jsonl", "--kind", "changed"]
        ).output.splitlines()
    ]
    assert [r["kind"] for r in rows] == ["changed"] and rows[0]["detail"]["to_version"] == 2
    since = runner.invoke(
        cli.main, ["events", "--db", str(filled_db), "--since", "2999-01-01", "--format", "json"]
    )
    assert json.loads(since.output) == []
    bad = runner.invoke(cli.main, ["events", "--db", str(filled_db), "--since", "yesterday"])
    assert bad.exit_code == 2 and "neither a run id nor an ISO date" in bad.output


def test_show_diff_and_errors(filled_db: Path) -> None:
    runner = CliRunner()
    assert (
        runner.invoke(cli.main, ["show", "1", "--db", str(filled_db)]).output
        == "第一段\n党纪处分9人次\n"
    )
    assert (
        runner.invoke(cli.main, ["show", "1", "--version", "1", "--db", str(filled_db)]).output
        == "第一段\n党纪处分8人次\n"
    )
    missing = runner.invoke(cli.main, ["show", "99", "--db", str(filled_db)])
    assert missing.exit_code == 1 and "no notice 99" in missing.output
    diff = runner.invoke(cli.main, ["diff", "1", "--db", str(filled_db), "--no-color"]).output
    assert "- 党纪处分[-8-]人次" in diff and "+ 党纪处分{+9+}人次" in diff
    page = runner.invoke(cli.main, ["diff", "1", "--db", str(filled_db), "--format", "html"]).output
    assert "<del>8</del>" in page and "<ins>9</ins>" in page and page.startswith("<!DOCTYPE html>")
    nodb = runner.invoke(cli.main, ["notices", "--db", str(filled_db.parent / "none.db")])
    assert nodb.exit_code == 1 and "no database" in nodb.output


def test_extract_command_on_a_saved_page(tmp_path: Path) -> None:
    page = ROOT / "tests/sites/zjsjw/gongzuodongtai/xunshixuncha/202306/t20230626_20047122_ext.html"
    url = "http://www.zjsjw.gov.cn/gongzuodongtai/xunshixuncha/202306/t20230626_20047122_ext.html"
    result = CliRunner().invoke(cli.main, ["extract", "zjsjw", str(page), "--url", url])
    data = json.loads(result.output)
    seed = (ROOT.parent / "shared/seeds/000_6f66318992fdd9a8.txt").read_text(encoding="utf-8")
    assert data["text"] == seed and data["published_at"] == "2023-06-27T09:02:00+08:00"
    junk = tmp_path / "junk.html"
    junk.write_bytes(b"\xff\xfe\x00garbage\xff")
    bad = CliRunner().invoke(cli.main, ["extract", "zjsjw", str(junk), "--url", url])
    assert bad.exit_code == 1 and "cannot decode" in bad.output


def test_export_csv_and_jsonl_carry_districts(filled_db: Path, tmp_path: Path) -> None:
    import csv
    import io

    runner = CliRunner()
    rows = list(
        csv.DictReader(
            io.StringIO(
                runner.invoke(
                    cli.main, ["export", "--db", str(filled_db), "--format", "csv"]
                ).output
            )
        )
    )
    assert (
        rows[0]["districts"] == "330105 杭州市拱墅区" and rows[0]["text"] == "第一段\n党纪处分9人次"
    )
    [line] = runner.invoke(cli.main, ["export", "--db", str(filled_db)]).output.splitlines()
    assert json.loads(line)["districts"] == [{"code": "330105", "name": "杭州市拱墅区"}]
    out = tmp_path / "n.csv"
    result = runner.invoke(
        cli.main, ["export", "--db", str(filled_db), "--format", "csv", "-o", str(out)]
    )
    assert result.exit_code == 0 and out.read_text(encoding="utf-8").startswith("id,")
