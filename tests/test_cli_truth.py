"""What a user reads must be true (issue 14, items 4-12): reports, times, options, formats, demo."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import cli
from cli_common import text_table
from crawler.items import Notice
from crawler.run import crawl_group, current_crawl
from store import events as event_table
from store import report
from store.deliver import DEFAULT_KINDS, DELIVERY_TYPES
from store.notices import Store

ROOT = Path(__file__).resolve().parents[1]
DEMO = [str(Path(sys.executable).parent / "xunshi"), "demo"]
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def run(*args: str) -> object:
    return CliRunner().invoke(cli.main, list(args))


def notice(url: str, title: str, text: str, **kw: object) -> Notice:
    n = Notice(site=str(kw.get("site", "zjsjw")), url=url, title=title,
               published_at=kw.get("published_at", "2024-01-01T09:00:00+08:00"),  # type: ignore[arg-type]
               source=None, paragraphs=[], header=None, raw=b"<html>", encoding="utf-8", status=200,
               headers={}, fetched_at=str(kw.get("fetched_at", "2026-01-01T00:00:00+00:00")),
               province=str(kw.get("province", "浙江省")))  # fmt: skip
    n.text = text
    return n


class Clock:
    def __init__(self, now: str) -> None:
        self.now = now

    def __call__(self) -> str:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "x.db"


# -- 14.4 the latest crawl, every site in it ---------------------------------------------------


def two_site_crawl(path: Path) -> None:
    """Crawl 1: zjsjw then shjjjc. Crawl 2: zjsjw changes a notice, shjjjc finds a new one."""
    with Store.open(path) as store:
        with crawl_group():
            a = store.start_run("zjsjw", crawl=current_crawl())
            store.record(
                notice("http://h/a/1.html", "杭州市拱墅区巡视整改", "第一段\n处分8人次"), a
            )
            store.finish_run(a, "ok")
            b = store.start_run("shjjjc", crawl=current_crawl())
            store.finish_run(b, "ok")
        with crawl_group():
            c = store.start_run("zjsjw", crawl=current_crawl())
            store.record(
                notice("http://h/a/1.html", "杭州市拱墅区巡视整改", "第一段\n处分9人次"), c
            )
            store.finish_run(c, "ok")
            d = store.start_run("shjjjc", crawl=current_crawl())
            store.record(
                notice(
                    "http://s/b/2.html",
                    "中共上海市黄浦区委关于市委巡视整改进展情况的通报",
                    "黄浦区",
                    site="shjjjc",
                    province="上海市",
                ),
                d,
            )
            store.finish_run(d, "ok")


def test_report_and_new_districts_cover_the_latest_crawl_every_site(db: Path) -> None:
    two_site_crawl(db)
    data = json.loads(run("report", "--db", str(db), "--format", "json").output)
    assert [r["id"] for r in data["runs"]] == [3, 4]
    assert [e["title"] for e in data["changed"]] == ["杭州市拱墅区巡视整改"]  # run 3
    assert [e["title"] for e in data["new"]] == [
        "中共上海市黄浦区委关于市委巡视整改进展情况的通报"
    ]  # run 4
    assert [e["detail"]["name"] for e in data["new_districts"]] == ["上海市黄浦区"]
    md = run("report", "--db", str(db)).output
    assert "Nothing new" not in md and "runs 3-4" in md
    new = json.loads(run("districts", "--db", str(db), "--new", "--format", "json").output)
    assert [d["name"] for d in new] == ["上海市黄浦区"]


def test_runs_outside_a_group_are_each_their_own_crawl(db: Path) -> None:
    with Store.open(db) as store:
        first, second = store.start_run("zjsjw"), store.start_run("shjjjc")
        assert [r["id"] for r in store.crawl_runs()] == [second]
        assert store.run(first)["crawl"] != store.run(second)["crawl"]


# -- 14.5 every event kind in Markdown and HTML ------------------------------------------------


def test_every_event_kind_appears_in_markdown_and_html(db: Path) -> None:
    event_table.check_table()
    with Store.open(db) as store:
        run_id = store.start_run("zjsjw")
        for i, kind in enumerate(event_table.EVENT_KINDS):
            store.record_event(
                run_id, kind, site="zjsjw", url=f"http://h/{i}.html",
                detail={"title": f"标题{i}", "reason": f"原因{i}", "name": f"地区{i}",
                        "district_code": "330000", "from_version": 1, "to_version": 2,
                        "key": f"key{i}", "label": f"标签{i}", "old": 1, "new": 2},
            )  # fmt: skip
        data = report.collect(store, run_id=run_id)
    md, page = report.to_markdown(data), report.to_html(data)
    as_json = json.dumps(data, ensure_ascii=False)
    for i, kind in enumerate(event_table.EVENT_KINDS):
        section = event_table.BY_NAME[kind].section
        heading = event_table.SECTION_HEADINGS[section]
        assert f"## {heading}" in md and f">{heading}</h2>" in page, kind
        # what the JSON has of the event, Markdown and HTML show
        marker = {"new_districts": f"地区{i}"}.get(section, f"标题{i}")
        if kind == "facts_changed":  # shown with its notice's change, above the diff
            marker = f"标签{i}"
        assert marker in as_json and marker in md and marker in page, kind


def test_a_fact_change_whose_notice_change_is_out_of_scope_is_still_shown(db: Path) -> None:
    with Store.open(db) as store:
        run_id = store.start_run("zjsjw")
        store.record_event(run_id, "facts_changed", site="zjsjw", notice_id=None,
                           detail={"title": "某通报", "to_version": 3, "key": "k",
                                   "label": "党纪处分", "old": 11, "new": 12})  # fmt: skip
        data = report.collect(store, run_id=run_id)
    assert [e["kind"] for e in data["changed"]] == ["facts_changed"]
    assert "党纪处分" in report.to_markdown(data) and "党纪处分" in report.to_html(data)


def test_a_kind_added_to_the_table_is_stored_reported_and_offered(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One entry makes a kind: the store accepts it and the report shows it in its section.
    extra = event_table.EventKind("example_kind", "example", "changed", ("jsonl",))
    monkeypatch.setattr(event_table, "KINDS", (*event_table.KINDS, extra))
    monkeypatch.setattr(event_table, "BY_NAME", {**event_table.BY_NAME, extra.name: extra})
    assert "example_kind" in event_table.default_kinds("jsonl")
    with Store.open(db) as store:
        run_id = store.start_run("zjsjw")
        store.record_event(run_id, "example_kind", site="zjsjw", detail={"title": "事实变了"})
        data = report.collect(store, run_id=run_id)
    assert [e["kind"] for e in data["changed"]] == ["example_kind"]
    assert "事实变了" in report.to_markdown(data)


def test_deliveries_and_cli_read_the_one_table() -> None:
    for kind in event_table.KINDS:
        for t in DELIVERY_TYPES:
            assert (kind.name in DEFAULT_KINDS[t]) == (t in kind.deliveries)
    params = {p.name: p for p in cli.main.commands["events"].params}
    assert list(params["kind"].type.choices) == list(event_table.EVENT_KINDS)


# -- 14.6 failures first, headers in words, times in Asia/Shanghai ----------------------------


def test_failures_first_words_for_headers_and_times_in_shanghai(db: Path) -> None:
    with Store.open(db) as store:
        store.clock = Clock("2026-12-01T13:05:00+00:00")
        run_id = store.start_run("zjsjw")
        store.record(notice("http://h/a/1.html", "新通报", "正文"), run_id)
        store.clock.now = "2026-12-01T13:15:00+00:00"
        store.record_event(run_id, "fetch_failed", site="zjsjw", url="http://h/x.html",
                           detail={"reason": "DNS lookup failed"})  # fmt: skip
        store.finish_run(run_id, "ok")
    md = run("report", "--db", str(db)).output
    assert md.index("## Failures") < md.index("## New notices")
    assert "not_modified" not in md and "unchanged (HTTP 304)" in md
    assert "2026-12-01 21:15" in md and "Asia/Shanghai" in md and "13:15" not in md
    page = run("report", "--db", str(db), "--format", "html").output
    assert page.index("id='failures'") < page.index("id='new'")
    table = run("events", "--db", str(db)).output
    assert "when (Asia/Shanghai)" in table.splitlines()[0] and "2026-12-01 21:05" in table
    # --since without an offset is Asia/Shanghai: 21:10 there is 13:10 UTC
    later = json.loads(
        run("events", "--db", str(db), "--since", "2026-12-01T21:10", "--format", "json").output
    )
    assert [e["kind"] for e in later] == ["fetch_failed"]
    same = json.loads(
        run("events", "--db", str(db), "--since", "2026-12-01T13:10Z", "--format", "json").output
    )
    assert [e["kind"] for e in same] == ["fetch_failed"]


def test_a_failed_run_is_a_failure_in_its_report(db: Path) -> None:
    with Store.open(db) as store:
        run_id = store.start_run("zjsjw")
        store.finish_run(run_id, "failed", error="crawl process exited with code -9")
    md = run("report", "--db", str(db)).output
    assert md.startswith("# xunshi-watch report") and "FAILURES" in md
    assert "## Failures" in md and "exited with code -9" in md


# -- 14.7 a notice's diff -----------------------------------------------------------------------


def test_diff_shows_title_fetch_times_context_and_characters(db: Path) -> None:
    paras = [f"第{i}段。" for i in range(1, 8)]
    with Store.open(db) as store:
        run_id = store.start_run("zjsjw")
        store.record(notice("http://h/a/1.html", "关于巡视整改的通报", "\n".join(paras),
                            fetched_at="2026-12-01T01:00:00+00:00"), run_id)  # fmt: skip
        paras[3] = "第4段，处分9人次。"
        store.record(notice("http://h/a/1.html", "关于巡视整改的通报", "\n".join(paras),
                            fetched_at="2026-12-02T02:30:00+00:00"), run_id)  # fmt: skip
    text = run("diff", "1", "--db", str(db), "--no-color").output
    assert "关于巡视整改的通报" in text
    assert "2026-12-01 09:00" in text and "2026-12-02 10:30" in text  # Asia/Shanghai
    assert "  第3段。" in text and "  第5段。" in text  # one paragraph of context each side
    assert "第2段" not in text and "第6段" not in text
    assert "{+，处分9人次+}" in text
    data = json.loads(run("diff", "1", "--db", str(db), "--format", "json").output)
    assert data["title"] == "关于巡视整改的通报"
    assert data["from"]["fetched_at"] == "2026-12-01T01:00:00+00:00" and data["to"]["version"] == 2
    [hunk] = data["hunks"]
    assert [p.get("context") for p in hunk] == ["第3段。", None, "第5段。"]
    assert ["insert", "，处分9人次"] in hunk[1]["chars"]
    page = run("diff", "1", "--db", str(db), "--format", "html").output
    assert "关于巡视整改的通报" in page and "2026-12-02 10:30" in page
    assert "<ins>，处分9人次</ins>" in page and "第3段。" in page
    assert "New notices" not in page and "Removed" not in page


# -- 14.8 one parser for --since/--until/--run; unknown things are errors ----------------------


@pytest.mark.parametrize(
    "args",
    [
        ["report", "--since", "notadate"],
        ["report", "--since", "2026-13-45"],
        ["districts", "--since", "garbage"],
        ["events", "--since", "²"],
        ["events", "--until", "tomorrow"],
        ["report", "--run", "99999999999999999999"],
        ["events", "--since", "99999999999999999999"],
        ["show", "99999999999999999999"],
        ["show", "1", "--version", "99999999999999999999"],
        ["diff", "99999999999999999999"],
        ["diff", "1", "--from", "99999999999999999999"],
        ["search", "巡视", "--limit", "99999999999999999999"],
        ["show", "²"],
    ],
)
def test_a_bad_value_exits_2_showing_the_accepted_forms(db: Path, args: list[str]) -> None:
    two_site_crawl(db)
    result = run(*args, "--db", str(db))
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    option = "--since" if "--since" in args else "--until" if "--until" in args else None
    if option and not args[args.index(option) + 1].startswith("9"):
        assert "2026-12-01T21:10" in result.output  # the forms it accepts


def test_dates_are_parsed_not_compared_as_text(db: Path) -> None:
    with Store.open(db) as store:
        store.clock = Clock("2026-01-20T00:00:00+00:00")
        run_id = store.start_run("zjsjw")
        store.record(notice("http://h/a/1.html", "一月的通报", "正文"), run_id)
    data = json.loads(
        run("report", "--db", str(db), "--since", "2026-1-5", "--format", "json").output
    )
    assert [e["title"] for e in data["new"]] == ["一月的通报"]
    none = json.loads(
        run("report", "--db", str(db), "--since", "2026-1-21", "--format", "json").output
    )
    assert none["new"] == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["notices", "--site", "nosuch"], "unknown site 'nosuch'"),
        (["events", "--site", "nosuch"], "unknown site 'nosuch'"),
        (["events", "--since", "99"], "no run 99"),
        (["report", "--run", "99"], "no run 99"),
        (["report", "--since", "99"], "no run 99"),
        (["show", "999999"], "no notice 999999"),
        (["diff", "999999"], "no notice 999999"),
        (["show", "1", "--version", "7"], "no version 7"),
        (["export", "--site", "nosuch"], "unknown site 'nosuch'"),
        (["search", "巡视", "--site", "nosuch"], "unknown site 'nosuch'"),
    ],
)
def test_an_unknown_run_notice_or_site_is_an_error(db: Path, args: list[str], says: str) -> None:
    two_site_crawl(db)
    result = run(*args, "--db", str(db))
    assert result.exit_code in (1, 2) and says in result.output, result.output


# -- 14.9 read commands change nothing ---------------------------------------------------------

READ_COMMANDS = [
    ["notices"], ["events"], ["report"], ["districts"], ["search", "巡视"], ["show", "1"],
    ["diff", "1"], ["export"], ["export", "--format", "csv"], ["outbox"],
    ["coverage", "--province", "上海"],
]  # fmt: skip


@pytest.mark.parametrize("args", READ_COMMANDS, ids=[" ".join(a) for a in READ_COMMANDS])
def test_read_commands_leave_a_foreign_or_empty_or_missing_file_as_it_was(
    tmp_path: Path, args: list[str]
) -> None:
    import sqlite3

    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("create table photos (id integer primary key, name text)")
    conn.execute("insert into photos (name) values ('a.jpg')")
    conn.commit()
    conn.close()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.db"
    for path, says in ((other, "not a xunshi database"), (empty, "empty (0 bytes)"),
                       (missing, "no database")):  # fmt: skip
        before = path.read_bytes() if path.exists() else None
        result = run(*args, "--db", str(path))
        assert result.exit_code == 1 and says in result.output, (path, result.output)
        assert (path.read_bytes() if path.exists() else None) == before
        assert not Path(f"{path}-wal").exists() and not Path(f"{path}-journal").exists()


def test_read_commands_open_the_database_read_only(db: Path) -> None:
    import sqlite3

    two_site_crawl(db)
    from cli_common import open_store

    with open_store(str(db)) as store, pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.db.execute("create table x (a)")


# -- 14.10 --format everywhere, CSV for spreadsheets --------------------------------------------

TABLE_COMMANDS = [["notices"], ["events"], ["districts"], ["search", "巡视"],
                  ["coverage", "--province", "上海"]]  # fmt: skip


@pytest.mark.parametrize("args", TABLE_COMMANDS, ids=[a[0] for a in TABLE_COMMANDS])
def test_every_table_command_prints_table_json_jsonl_and_csv(db: Path, args: list[str]) -> None:
    two_site_crawl(db)
    with Store.open(db) as store:
        run_id = store.start_run("zjsjw")
        store.record(
            notice("http://h/a/9.html", '=HYPERLINK("http://x","巡视")', "巡视 黄浦区"), run_id
        )
    outputs = {}
    for fmt in ("table", "json", "jsonl", "csv"):
        result = run(*args, "--db", str(db), "--format", fmt)
        assert result.exit_code == 0, result.output
        outputs[fmt] = result.output
    as_json = json.loads(outputs["json"])
    assert as_json and [json.loads(x) for x in outputs["jsonl"].splitlines()] == as_json
    rows = list(csv.DictReader(io.StringIO(outputs["csv"])))
    assert len(rows) == len(as_json)
    for row in rows:
        assert not any(v.startswith(("=", "+", "@")) for v in row.values() if v)
    bom = run(*args, "--db", str(db), "--format", "csv", "--bom").output
    assert bom.startswith("\ufeff") and bom[1:] == outputs["csv"]


def test_csv_neutralises_formulas_in_export_and_keeps_the_text(db: Path) -> None:
    with Store.open(db) as store:
        run_id = store.start_run("zjsjw")
        store.record(
            notice("http://h/a/1.html", '=HYPERLINK("http://evil","点我")', "@SUM(1)\n正文"), run_id
        )
    out = run("export", "--db", str(db), "--format", "csv", "--bom").output
    assert out.startswith("\ufeff")
    [row] = list(csv.DictReader(io.StringIO(out[1:])))
    assert row["title"] == '\'=HYPERLINK("http://evil","点我")' and row["text"] == "'@SUM(1)\n正文"


def test_crawl_takes_format_and_keeps_json_as_an_alias() -> None:
    params = {p.name: p for p in cli.main.commands["crawl"].params}
    assert list(params["fmt"].type.choices) == ["text", "json"]
    assert any("--json" in p.opts for p in cli.main.commands["crawl"].params)


# -- 14.11 the demo keeps everything in one folder; export says where files go ------------------


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    cwd = tmp_path_factory.mktemp("demo-cwd")
    proc = subprocess.run(DEMO, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield cwd / "xunshi-demo", proc.stdout


def test_demo_keeps_its_database_reports_and_deliveries_in_one_named_folder(
    demo_dir: tuple[Path, str],
) -> None:
    folder, out = demo_dir
    assert f"everything the demo made is in {folder}" in out
    for name in ("demo.db", "reports/demo-report.html", "reports/demo-report.md",
                 "out/xunshi.atom", "out/events.jsonl", "out/texts", "logs", "sites"):  # fmt: skip
        assert (folder / name).exists(), name
    page = (folder / "reports" / "demo-report.html").read_text(encoding="utf-8")
    links = re.findall(r'href="([^"]+)"', page)
    assert links and not any("127.0.0.1" in link for link in links)
    for link in links:  # they open the demo's copy of the site, after its servers are gone
        assert (folder / "reports" / link).resolve().is_file(), link
    md = (folder / "reports" / "demo-report.md").read_text(encoding="utf-8")
    assert "127.0.0.1" not in md and "](../sites/" in md


def test_demo_report_covers_the_second_crawl_both_sites(demo_dir: tuple[Path, str]) -> None:
    folder, _ = demo_dir
    data = json.loads(run("report", "--db", str(folder / "demo.db"), "--format", "json").output)
    assert [(r["id"], r["site"]) for r in data["runs"]] == [(3, "zjsjw"), (4, "shjjjc")]
    assert len(data["changed"]) == 1 and [e["detail"]["name"] for e in data["new_districts"]] == [
        "宁波市鄞州区"
    ]
    md = run("report", "--db", str(folder / "demo.db")).output
    assert "## New districts" in md and "宁波市鄞州区" in md


def test_export_txt_without_o_says_where_the_files_go(db: Path, tmp_path: Path) -> None:
    two_site_crawl(db)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(cli.main, ["export", "--db", str(db), "--format", "txt"])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0
    assert f"writing the files into {tmp_path / 'export'}" in result.output
    assert any((tmp_path / "export").rglob("*.txt"))


# -- 14.12 Store is a context manager; no hand-written open/close blocks -------------------------


def test_store_is_a_context_manager(db: Path) -> None:
    import sqlite3

    with Store.open(db) as store:
        store.start_run("zjsjw")
    with pytest.raises(sqlite3.ProgrammingError):
        store.db.execute("select 1")


def test_commands_use_with_not_hand_written_close() -> None:
    for name in ("cli.py", "cli_common.py", "cli_deliver.py"):
        source = (ROOT / name).read_text(encoding="utf-8")
        assert "store.close()" not in source, name


# -- printers -----------------------------------------------------------------------------------


def test_a_huge_title_prints_at_once_trimmed() -> None:
    table = text_table([{"title": "巡" * 1_000_000, "id": 1}], ["id", "title"])
    assert max(len(line) for line in table.splitlines()) < 100 and table.rstrip().endswith("…")


def test_one_xunshi_crawl_is_one_crawl_of_every_site(
    db: Path, monkeypatch: pytest.MonkeyPatch, serve
) -> None:
    import dataclasses

    from crawler import run as crawler_run

    # The real crawl, through the command, of local copies of both sites.
    starts = {"zjsjw": "/gongzuodongtai/xunshixuncha/index.shtml",
              "shjjjc": "/shsjjjcw/xszg/index.html"}  # fmt: skip
    urls = {name: serve(name).url(path) for name, path in starts.items()}

    def local(crawls: list[crawler_run.SiteCrawl], **kw: Any) -> list[crawler_run.CrawlResult]:
        return crawler_run.run_crawls(
            [dataclasses.replace(c, start_url=urls[c.site]) for c in crawls], **kw
        )

    monkeypatch.setattr(cli, "run_crawls", local)
    for _ in range(2):
        assert run("crawl", "zjsjw", "shjjjc", "--db", str(db)).exit_code == 0
    with Store.open(db) as store:
        rows = store.db.table("runs").rows_where(order_by="id")
        seen = [(r["site"], r["crawl"]) for r in rows]
    first, second = {c for _, c in seen[:2]}, {c for _, c in seen[2:]}
    assert len(first) == len(second) == 1 and first != second and None not in first
    data = json.loads(run("report", "--db", str(db), "--format", "json").output)
    assert [(r["id"], r["site"]) for r in data["runs"]] == [(3, "zjsjw"), (4, "shjjjc")]


def test_every_command_with_output_choices_uses_format_and_json_is_only_an_alias() -> None:
    for name, command in cli.main.commands.items():
        opts = {o: p for p in command.params for o in getattr(p, "opts", [])}
        if "--json" in opts:
            assert "--format" in opts and opts["--json"].name == opts["--format"].name, name


def test_outbox_prints_its_rows_as_jsonl_and_csv(db: Path, tmp_path: Path) -> None:
    from store.deliver import Delivery, Outbox

    two_site_crawl(db)
    feed = Delivery.from_config({"name": "events", "type": "jsonl", "path": str(tmp_path / "e.jsonl")})
    with Store.open(db) as store:
        Outbox(store.db).enqueue_run(3, (feed,))
    rows = json.loads(run("outbox", "--db", str(db), "--format", "json").output)["rows"]
    assert rows
    lines = run("outbox", "--db", str(db), "--format", "jsonl").output.splitlines()
    assert [json.loads(x) for x in lines] == rows
    table = run("outbox", "--db", str(db), "--format", "csv", "--bom").output
    assert table.startswith("\ufeff") and len(list(csv.DictReader(io.StringIO(table[1:])))) == len(rows)
