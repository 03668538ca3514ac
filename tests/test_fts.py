"""Full-text search in Chinese: the trigram index, the scan for short words, and its upkeep."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from crawler.run import run_crawl
from store.db import migrations, open_db
from store.fts import search
from store.notices import Store
from tests.test_sites_golden import MANIFEST
from tests.test_store import make_notice

ROOT = Path(__file__).resolve().parents[1]
URL = "http://www.zjsjw.gov.cn/gongzuodongtai/xunshixuncha/2025{:02d}/t_{}_ext.html"


def ids(hits) -> set[int]:
    return {h.notice_id for h in hits}


def seed_store(db_path: Path) -> tuple[Store, dict[str, int]]:
    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    texts = {
        "gongshu": ("中共杭州市拱墅区委关于省委巡视整改进展情况的通报",
                    "按照巡视工作有关要求,现将巡视整改进展情况予以公布。\n聚焦违规吃喝问题开展专项整治。"),
        "yinzhou": ("中共宁波市鄞州区委关于省委巡视整改进展情况的通报",
                    "现将巡视整改进展情况予以公布。\n给予党纪处分8人次。"),
        "xuncha": ("中共某县文化局党组关于县委巡察整改进展情况的通报",
                   "现将巡察整改进展情况予以公布。\n建立完善制度12项。"),
    }  # fmt: skip
    found = {}
    for i, (key, (title, text)) in enumerate(texts.items()):
        found[key] = store.record(make_notice(text, url=URL.format(i + 1, i), title=title), run)
    return store, {k: r.notice_id for k, r in found.items()}


def test_two_character_and_longer_queries_find_the_right_notices(db_path: Path) -> None:
    store, n = seed_store(db_path)
    # two characters: below what a trigram index can look up, answered by the scan
    assert ids(search(store.db, "巡视")) == {n["gongshu"], n["yinzhou"]}
    assert ids(search(store.db, "巡察")) == {n["xuncha"]}
    assert ids(search(store.db, "鄞州")) == {n["yinzhou"]}  # in the title and unit, not the text
    # three or more: the index
    assert ids(search(store.db, "违规吃喝")) == {n["gongshu"]}
    assert ids(search(store.db, "巡视整改进展")) == {n["gongshu"], n["yinzhou"]}
    assert ids(search(store.db, "拱墅区委")) == {n["gongshu"]}
    # every word must occur, short and long mixed
    assert ids(search(store.db, "巡视 处分8人次")) == {n["yinzhou"]}
    assert search(store.db, "巡视 制度12项") == []
    assert search(store.db, "   ") == []
    assert ids(search(store.db, "巡视", site="shjjjc")) == set()
    hit = search(store.db, "违规吃喝")[0]
    assert "【违规吃喝】" in hit.snippet and hit.title.startswith("中共杭州市拱墅区委")
    # quotes and FTS5 operators in a query are text, not syntax
    assert search(store.db, 'AND "OR NEAR(') == []
    store.close()


def test_index_follows_the_latest_version_title_and_unit(db_path: Path) -> None:
    store, n = seed_store(db_path)
    run = store.start_run("zjsjw")
    url = URL.format(2, 1)
    title = "中共宁波市鄞州区委关于省委巡视整改进展情况的通报"
    store.record(
        make_notice("现将巡视整改进展情况予以公布。\n给予党纪处分9人次。", url=url, title=title),
        run,
    )
    assert search(store.db, "处分8人次") == []
    assert ids(search(store.db, "处分9人次")) == {n["yinzhou"]}
    # a new version with a new title (and the unit it brings) is searchable at once
    store.record(
        make_notice("现将巡视整改进展情况予以公布。\n给予党纪处分10人次。", url=url,
                    title="中共宁波市海曙区委关于省委巡视整改进展情况的通报"),
        run,
    )  # fmt: skip
    assert ids(search(store.db, "海曙")) == {n["yinzhou"]}
    assert search(store.db, "鄞州") == []
    count = store.db.execute("select count(*) from notices_fts").fetchone()[0]
    assert count == store.db.table("notices").count == 3
    store.close()


def test_migration_indexes_notices_stored_before_it(tmp_path: Path) -> None:
    from sqlite_utils import Database

    path = tmp_path / "old.db"
    old = Database(sqlite3.connect(str(path), isolation_level=None))
    migrations.apply(old, stop_before="m003_outbox")
    store = Store(old)
    run = store.start_run("zjsjw")
    store.record(
        make_notice("第一段\n巡视整改情况", title="中共杭州市拱墅区委关于巡视整改的通报"), run
    )
    store.record(
        make_notice("第一段\n巡视整改情况已完成", title="中共杭州市拱墅区委关于巡视整改的通报"), run
    )
    assert "notices_fts" not in old.table_names()
    old.close()

    db = open_db(path)
    assert [h.snippet for h in search(db, "已完成")] == ["第一段 巡视整改情况【已完成】"]
    assert search(db, "巡视")[0].title == "中共杭州市拱墅区委关于巡视整改的通报"
    db.close()


def test_search_a_crawled_site_and_the_datasette_canned_query(serve, tmp_path: Path) -> None:
    site = serve("zjsjw")
    db = tmp_path / "x.db"
    result = run_crawl("zjsjw", db_path=db, start_url=site.url(MANIFEST["zjsjw"]["start"]))
    assert (result.status, result.counts["new"]) == ("ok", 3)
    store = Store.open(db)
    titles = {r["id"]: r["title"] for r in store.notices()}

    def found(q: str) -> set[str]:
        return {titles[h.notice_id] for h in search(store.db, q)}

    assert found("拱墅") == {"中共杭州市拱墅区委关于省委巡视整改进展情况的通报"}
    assert found("嘉兴市委") == {"中共嘉兴市委关于省委巡视整改情况的通报"}
    assert len(found("巡视")) == 3

    # The canned query documented in docs/datasette.md gives the same answers.
    doc = (ROOT / "docs" / "datasette.md").read_text(encoding="utf-8")
    metadata = json.loads(re.search(r"```json\n(.*?)```", doc, re.S).group(1))
    queries = metadata["databases"]["xunshi"]["queries"]
    conn = sqlite3.connect(db)
    for q in ("拱墅", "嘉兴市委", "巡视", "违规吃喝"):
        rows = conn.execute(queries["search"]["sql"], {"q": q}).fetchall()
        assert {row[4] for row in rows} == found(q), q
    for name in ("changes", "new_districts"):
        conn.execute(queries[name]["sql"]).fetchall()
    assert metadata["databases"]["xunshi"]["tables"]["notices"]["fts_table"] == "notices_fts"
    conn.close()
    store.close()


def test_search_command(db_path: Path) -> None:
    from click.testing import CliRunner

    from cli_deliver import search as search_cmd

    store, n = seed_store(db_path)
    store.close()
    result = CliRunner().invoke(
        search_cmd, ["巡视", "处分8人次", "--db", str(db_path), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    [hit] = json.loads(result.output)
    assert hit["id"] == n["yinzhou"] and "【巡视】" in hit["snippet"]
    table = CliRunner().invoke(search_cmd, ["违规吃喝", "--db", str(db_path)])
    assert "拱墅区" in table.output and "【违规吃喝】" in table.output
