"""`xunshi demo`: the whole loop offline, in a subprocess, as a newcomer would run it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from cli_deliver import demo
from store.notices import Store

ROOT = Path(__file__).resolve().parents[1]
# The installed console script, run from another folder, as a newcomer would.
DEMO = [str(Path(sys.executable).parent / "xunshi"), "demo"]
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_demo_shows_new_notices_a_character_diff_and_a_new_district(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    started = time.monotonic()
    proc = subprocess.run(
        [*DEMO, "--db", str(db)], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120
    )
    elapsed = time.monotonic() - started
    out = proc.stdout
    assert proc.returncode == 0 and "Traceback" not in out + proc.stderr, out + proc.stderr
    assert elapsed < 60
    first, second = out.split("== 3. Second crawl", 1)
    # the first crawl: every notice of both recorded sites is new
    assert "zjsjw: run 1 ok" in first and "(3 new, 0 changed" in first.split("shjjjc: run 2")[0]
    assert "shjjjc: run 2 ok" in first and first.count("(3 new, 0 changed") == 2
    seen_line = next(x for x in first.splitlines() if "districts seen for the first time:" in x)
    seen = set(seen_line.split(":", 1)[1].strip().split(", "))
    # in whatever order the pages arrived
    assert seen == {
        "杭州市拱墅区",
        "杭州市西湖区",
        "浙江省嘉兴市",
        "上海市黄浦区",
        "上海市徐汇区",
        "上海市静安区",
    }
    # the second: one new notice, one changed, shown in the report and down to the character
    assert "zjsjw: run 3 ok" in second and "(1 new, 1 changed" in second
    assert "## New notices" in second
    assert "| zjsjw | 宁波市鄞州区 | 中共宁波市鄞州区委关于省委巡视整改进展情况的通报 |" in second
    assert "## Changed notices" in second and "+在巡视整改工作中,给予党纪处分12人次" in second
    assert "给予党纪处分1[-1-]人次" in second and "给予党纪处分1{+2+}人次" in second
    assert "== New district: 宁波市鄞州区 (330212), first seen in notice" in second
    assert "feed: 8 sent, 0 waiting" in second
    assert "鄞州: 1 notice(s)" in second and "【鄞州】" in second

    store = Store.open(db)
    runs = store.runs()
    assert [(r["site"], r["status"]) for r in reversed(runs)] == [
        ("zjsjw", "ok"), ("shjjjc", "ok"), ("zjsjw", "ok"), ("shjjjc", "ok")]  # fmt: skip
    firsts = [
        (e["run_id"], e["detail"]["district_code"]) for e in store.events(kind="new_district")
    ]
    assert [code for run, code in firsts if run > 2] == ["330212"]  # 宁波市鄞州区, once
    store.close()


def test_demo_refuses_an_existing_database(tmp_path: Path) -> None:
    db = tmp_path / "mine.db"
    db.write_bytes(b"")
    result = CliRunner().invoke(demo, ["--db", str(db)])
    assert result.exit_code != 0 and "exists" in result.output


def test_demo_report_links_to_local_copies_are_never_nested(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A titled link [title](<served URL>) keeps its title; only a bare autolink takes the
    # file name as its text. Before, the titled one became [title]([file](path)).
    from cli_deliver import relink_reports

    (tmp_path / "r.md").write_text(
        "| [标题](<http://127.0.0.1:9/a/b.html>) | <http://127.0.0.1:9/c/d.html> |\n",
        encoding="utf-8",
    )
    relink_reports(tmp_path, {"http://127.0.0.1:9": "../sites/zjsjw"})
    assert (tmp_path / "r.md").read_text(encoding="utf-8") == (
        "| [标题](../sites/zjsjw/a/b.html) | [d.html](../sites/zjsjw/c/d.html) |\n"
    )
