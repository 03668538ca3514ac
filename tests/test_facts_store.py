"""Facts in the store: computed at record time, a migration for older versions, facts_changed
events, reports, deliveries, exports, and the `facts` and `timeline` commands."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from crawler.run import run_crawl
from store.db import migrations, open_db
from store.deliver import event_payload
from store.facts import median_days
from store.notices import Store
from store.report import collect, to_html, to_markdown
from tests.conftest import seed
from tests.sitegen import COLUMN, generate_site
from tests.test_store import make_notice

SEED_000 = seed("000_6f66318992fdd9a8.txt")


def _events(store: Store, kind: str) -> list[dict]:
    return store.events(kind=kind)


def test_facts_are_stored_with_each_version(db_path: Path) -> None:
    store = Store.open(db_path)
    first = store.record(make_notice(SEED_000), store.start_run("zjsjw"))
    rows = {
        r["key"]: r
        for r in store.db.query("select * from facts where notice_id = ?", [first.notice_id])
    }
    assert rows["group"]["value"] == "省委第五巡视组" and rows["group"]["version"] == 1
    assert rows["party_discipline"]["value"] == 8  # a number, not text
    assert "给予党纪处分8人次" in rows["party_discipline"]["evidence"]
    assert "round" not in rows  # not stated: no row
    wide = next(store.db.query("select * from notice_facts"))
    assert (wide["notice_id"], wide["group"], wide["feedback_date"], wide["rules"]) == (
        first.notice_id,
        "省委第五巡视组",
        "2023-01-03",
        43,
    )
    assert store.facts(first.notice_id)["counts"]["recovered_wan_yuan"] == 340.8
    store.close()


def test_a_changed_count_is_one_facts_changed_event(db_path: Path) -> None:
    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    store.record(make_notice(SEED_000), run)
    # a change that touches no fact: a changed event, no facts_changed
    store.record(make_notice(SEED_000.replace("深刻认识", "深入认识")), run)
    assert len(_events(store, "changed")) == 1 and not _events(store, "facts_changed")
    edited = SEED_000.replace("深刻认识", "深入认识").replace("党纪处分8人次", "党纪处分11人次")
    rec = store.record(make_notice(edited), run)
    assert rec.outcome == "changed" and rec.version == 3
    events = _events(store, "facts_changed")
    assert len(events) == 1
    detail = events[0]["detail"]
    assert (detail["key"], detail["old"], detail["new"]) == ("party_discipline", 8, 11)
    assert (detail["from_version"], detail["to_version"], detail["label"]) == (2, 3, "党纪处分")
    assert "党纪处分11人次" in detail["evidence"]
    # the old version keeps its facts
    assert store.facts(rec.notice_id, 2)["counts"]["party_discipline"] == 8
    assert store.facts(rec.notice_id)["counts"]["party_discipline"] == 11

    # reports show the change above the character diff
    report = collect(store, run_id=run)
    md = to_markdown(report)
    line = "- **党纪处分 (party\\_discipline): 8 → 11**"  # Markdown-escaped
    assert line in md
    assert md.index(line) < md.index("```diff", md.index("version 2 → 3"))
    html = to_html(report)
    assert html.index("8 → 11") < html.index("class='diff'", html.index("version 2 → 3"))
    (v3,) = [
        e for e in report["changed"] if e["kind"] == "changed" and e["detail"]["to_version"] == 3
    ]
    assert v3["facts_changed"][0]["new"] == 11
    # the facts change is shown once, with its notice, not as an entry of its own
    assert [e["kind"] for e in report["changed"]] == ["changed", "changed"]
    assert md.count("8 → 11") == 1 and html.count("8 → 11") == 1
    assert "2 changed" in md  # two new versions; the facts change is not a third

    # deliveries and exports carry the facts
    payload = event_payload(store, store.db.table("events").get(events[0]["id"]))
    assert payload["detail"]["old"] == 8
    assert payload["facts"]["counts"]["party_discipline"] == 11
    assert "evidence" not in payload["facts"]
    row = next(store.export_rows())
    assert row["facts"]["group"] == "省委第五巡视组"
    assert row["facts"]["counts"]["party_discipline"] == 11
    store.close()
    listed = CliRunner().invoke(main, ["events", "--kind", "facts_changed", "--db", str(db_path)])
    assert "党纪处分 (party_discipline): 8 → 11" in listed.output


def test_a_fact_that_disappears_is_a_change_to_null(db_path: Path) -> None:
    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    store.record(make_notice(SEED_000), run)
    # now the text counts two things at once: no value rather than the old one
    store.record(
        make_notice(SEED_000.replace("党纪处分8人次,政务处分4人次", "党纪政务处分12人次")), run
    )
    got = {
        e["detail"]["key"]: (e["detail"]["old"], e["detail"]["new"])
        for e in _events(store, "facts_changed")
    }
    assert got == {"party_discipline": (8, None), "government_discipline": (4, None)}
    assert "党纪处分 (party\\_discipline): 8 → —" in to_markdown(collect(store, run_id=run))
    store.close()


def test_migration_fills_facts_of_versions_stored_before_it(tmp_path: Path) -> None:
    from sqlite_utils import Database

    path = tmp_path / "old.db"
    old = Database(sqlite3.connect(str(path), isolation_level=None))
    migrations.apply(old, stop_before="m009_facts")
    store = Store(old)
    run = store.start_run("zjsjw")
    store.record(make_notice(SEED_000), run)
    store.record(make_notice(SEED_000.replace("党纪处分8人次", "党纪处分9人次")), run)
    assert "facts" not in old.table_names()
    old.close()

    db = open_db(path)
    values = {
        (r["version"], r["key"]): r["value"]
        for r in db.query("select * from facts where key in ('party_discipline', 'group')")
    }
    assert values == {
        (1, "party_discipline"): 8,
        (2, "party_discipline"): 9,
        (1, "group"): "省委第五巡视组",
        (2, "group"): "省委第五巡视组",
    }
    assert [r["party_discipline"] for r in db.query("select * from notice_facts")] == [9]
    db.close()


def test_facts_command_on_stored_notices_and_rebuild(db_path: Path) -> None:
    store = Store.open(db_path)
    rec = store.record(make_notice(SEED_000), store.start_run("zjsjw"))
    store.db.execute("delete from facts")  # as if the rules had changed since
    store.close()
    runner = CliRunner()
    empty = runner.invoke(
        main, ["facts", str(rec.notice_id), "--db", str(db_path), "--format", "json"]
    )
    assert empty.exit_code == 0 and json.loads(empty.output)[0]["group"] is None

    rebuilt = runner.invoke(main, ["facts", "--rebuild", "--db", str(db_path)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "recomputed the facts of 1 versions" in rebuilt.output
    out = runner.invoke(main, ["facts", "--db", str(db_path), "--format", "json"])
    (row,) = json.loads(out.output)
    assert (row["notice_id"], row["group"], row["counts"]["party_discipline"]) == (
        rec.notice_id,
        "省委第五巡视组",
        8,
    )
    assert "给予党纪处分8人次" in row["evidence"]["party_discipline"]
    table = runner.invoke(main, ["facts", "--db", str(db_path)]).output
    assert "杭州市拱墅区" in table and "party_discipline=8" in table
    csv_out = runner.invoke(main, ["facts", "--db", str(db_path), "--format", "csv"]).output
    header, line = csv_out.splitlines()
    assert header.split(",")[:6] == [
        "notice_id",
        "version",
        "site",
        "title",
        "published_at",
        "kind",
    ]
    assert "省委第五巡视组" in line
    missing = runner.invoke(main, ["facts", "999", "--db", str(db_path)])
    assert missing.exit_code != 0 and "no notice 999" in missing.output
    assert "Traceback" not in missing.output


def test_facts_command_on_a_file_offline(tmp_path: Path) -> None:
    path = tmp_path / "notice.txt"
    path.write_text(seed("002_750c7fecf357e703.txt"), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["facts", str(path), "--title", "关于十二届市委第二轮巡视集中整改进展情况的通报",
         "--published", "2023-12-28", "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert (facts["group"], facts["inspection_start"], facts["inspection_end"]) == (
        "市委第一巡视组",
        "2023-03-29",
        "2023-06-16",
    )
    assert facts["feedback_date"] == "2023-08-30"
    assert facts["counts"]["problems"] == 57 and facts["counts"]["problems_rectified"] == 48
    assert all(isinstance(v, int | float) for v in facts["counts"].values())
    assert set(facts["evidence"]) >= {"group", "problems"}
    # bad input: a clear error, no traceback
    for args in (
        [str(path), "--published", "28/12/2023"],
        [str(tmp_path / "nope.txt")],
        ["1", "nope.txt"],
    ):
        bad = runner.invoke(main, ["facts", *args, "--db", str(tmp_path / "x.db")])
        assert bad.exit_code == 2 and "Traceback" not in bad.output, bad.output
    # no --published: the zjsjw header line of the seed format gives the year
    headed = tmp_path / "headed.txt"
    headed.write_text(
        "2024-03-01 10:00 浙江省纪委省监委网站\n根据省委统一部署,11月5日至12月30日,"
        "省委第一巡视组对某市开展了巡视。2月3日,省委巡视组向某市委反馈了巡视意见。",
        encoding="utf-8",
    )
    got = json.loads(runner.invoke(main, ["facts", str(headed), "--format", "json"]).output)
    assert (got["inspection_start"], got["feedback_date"]) == ("2023-11-05", "2024-02-03")
    binary = tmp_path / "page.bin"
    binary.write_bytes(b"\xff\xfe\x00bad")
    bad = runner.invoke(main, ["facts", str(binary)])
    assert bad.exit_code == 1 and "not UTF-8" in bad.output


def test_timeline_per_unit(db_path: Path) -> None:
    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    store.record(make_notice(SEED_000), run)
    other = make_notice(SEED_000, url="http://www.zjsjw.gov.cn/a/202306/t20230626_2_ext.html")
    other.published_at = "2023-03-04T10:00:00+08:00"
    store.record(other, run)
    store.close()
    runner = CliRunner()
    out = runner.invoke(main, ["timeline", "拱墅", "--db", str(db_path), "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    (unit,) = data["units"]
    assert unit["unit"] == "杭州市拱墅区"
    assert unit["inspections"] == [
        {"kind": "巡视", "level": "省委", "round": None, "group": "省委第五巡视组",
         "inspection_start": "2022-08-05", "inspection_end": "2022-11-04",
         "feedback_date": "2023-01-03"}
    ]  # fmt: skip
    # 2023-01-03 -> 2023-03-04 is 60 days, -> 2023-06-27 is 175 days
    assert [n["days_from_feedback"] for n in unit["notices"]] == [60, 175]
    assert data["median_days"] == [
        {"site": "zjsjw", "round": None, "notices": 2, "median_days": 117.5}
    ]
    text = runner.invoke(main, ["timeline", "--db", str(db_path)]).output
    assert "省委第五巡视组" in text and "175 days after feedback" in text
    none = runner.invoke(main, ["timeline", "黄浦", "--db", str(db_path)])
    assert none.exit_code == 0 and "no inspected unit whose name contains '黄浦'" in none.output


def test_a_crawl_that_changes_a_count(serve, tmp_path: Path) -> None:
    """Two crawls of a local site; between them one notice's 党纪处分 goes from 8 to 11."""
    root = tmp_path / "site"
    today = date.today()
    notices = generate_site(
        root, 3, paragraphs=2, dates=[today - timedelta(days=9 - i) for i in range(3)]
    )
    site = serve(root)
    db = tmp_path / "x.db"
    start = site.url(COLUMN + "index.shtml")
    first = run_crawl("zjsjw", db_path=db, start_url=start)
    assert (first.status, first.counts["new"]) == ("ok", 3)
    store = Store.open(db)
    assert not _events(store, "facts_changed")
    assert [r["party_discipline"] for r in store.db.query("select * from notice_facts")] == [
        8,
        8,
        8,
    ]
    store.close()

    page = root / notices[1].path.lstrip("/")
    html = page.read_text(encoding="utf-8")
    assert "党纪处分8人次" in html
    page.write_text(html.replace("党纪处分8人次", "党纪处分11人次"), encoding="utf-8")
    second = run_crawl("zjsjw", db_path=db, start_url=start, full=True)
    assert (second.status, second.counts["changed"]) == ("ok", 1)

    store = Store.open(db)
    events = store.events(kind="facts_changed")
    assert len(events) == 1
    assert events[0]["url"].endswith(notices[1].path)
    assert (events[0]["detail"]["key"], events[0]["detail"]["old"], events[0]["detail"]["new"]) == (
        "party_discipline",
        8,
        11,
    )
    assert events[0]["run_id"] == second.run_id
    store.close()


def test_datasette_shows_the_facts(db_path: Path) -> None:
    import asyncio

    from cli_serve import build

    store = Store.open(db_path)
    store.record(make_notice(SEED_000), store.start_run("zjsjw"))
    store.close()
    ds = build(db_path)
    name = db_path.stem

    async def get(url: str) -> list[dict]:
        await ds.invoke_startup()
        response = await ds.client.get(url)
        assert response.status_code == 200, url
        return response.json()

    wide = asyncio.run(get(f"/{name}/notice_facts.json?level=省委&_shape=array"))
    assert [(r["group"], r["party_discipline"], r["problems"]) for r in wide] == [
        ("省委第五巡视组", 8, None)
    ]
    assert asyncio.run(get(f"/{name}/notice_facts.json?level=中央&_shape=array")) == []
    rows = asyncio.run(get(f"/{name}/facts.json?key=rules&_shape=array"))
    assert rows[0]["value"] == 43 and "建立完善制度43项" in rows[0]["evidence"]


def test_median_days_of_some_sites_reads_their_notices_alone(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import store.facts as facts_module

    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    days = {"zjsjw": [60, 175], "a": [10, 20, 40], "b": [5]}  # after the 2023-01-03 feedback
    for site, offsets in days.items():
        for i, offset in enumerate(offsets):
            notice = make_notice(SEED_000, url=f"http://www.{site}.gov.cn/a/t{i}_{offset}.html")
            notice.site = site
            published = date(2023, 1, 3) + timedelta(days=offset)
            notice.published_at = f"{published.isoformat()}T10:00:00+08:00"
            store.record(notice, run)
    everything = median_days(store.db)
    assert [(r["site"], r["median_days"]) for r in everything] == [
        ("a", 20), ("b", 5), ("zjsjw", 117.5)
    ]  # fmt: skip
    monkeypatch.setattr(facts_module, "_IDS_AT_ONCE", 2)  # several chunks of notice ids
    assert median_days(store.db, ["zjsjw", "a"]) == [r for r in everything if r["site"] != "b"]
    assert median_days(store.db, {"b"}) == [r for r in everything if r["site"] == "b"]
    assert median_days(store.db, ["nosuch"]) == [] and median_days(store.db, []) == []
    store.close()
