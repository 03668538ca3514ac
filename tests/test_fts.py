"""Full-text search in Chinese: the index of character pairs, its candidates and its upkeep."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from crawler.run import run_crawl
from store import fts
from store.db import migrations, open_db
from store.fts import search, search_filter
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


@pytest.mark.parametrize("flushed", [False, True], ids=["pending", "indexed"])
def test_two_character_and_longer_queries_find_the_right_notices(
    db_path: Path, flushed: bool
) -> None:
    store, n = seed_store(db_path)
    if flushed:
        assert fts.flush(store.db) == 3
    # one or two characters: the index answers them alone
    assert ids(search(store.db, "巡视")) == {n["gongshu"], n["yinzhou"]}
    assert ids(search(store.db, "巡察")) == {n["xuncha"]}
    assert ids(search(store.db, "鄞州")) == {n["yinzhou"]}  # in the title and unit, not the text
    # three or more: the index gives candidates, their texts confirm them
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


@pytest.mark.parametrize("flushed", [False, True], ids=["pending", "indexed"])
def test_index_follows_the_latest_version_title_and_unit(db_path: Path, flushed: bool) -> None:
    store, n = seed_store(db_path)
    if flushed:
        fts.flush(store.db)
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


def test_migration_replaces_the_two_old_indexes_and_answers_the_same(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from store.fts import register_functions

    path = tmp_path / "old.db"
    conn = sqlite3.connect(str(path), isolation_level=None)
    register_functions(conn)
    old = Database(conn)
    migrations.apply(old, stop_before="m012_search_index")
    store = Store(old)
    run = store.start_run("zjsjw")
    texts = ["按照巡视工作有关要求,现将巡视整改进展情况予以公布。", "聚焦违规吃喝问题开展专项整治。",
             "给予党纪处分8人次。", "现将巡察整改进展情况予以公布。", "建立完善制度12项。PDF附件"]  # fmt: skip
    for i in range(40):
        text = "\n".join(texts[j % len(texts)] for j in range(i % 4, i % 4 + 1 + i % 3))
        store.record(
            make_notice(text, url=URL.format(1 + i % 12, i), title=f"某区委关于巡视整改的通报{i}"),
            run,
        )
    # a few notices changed, one title too, while the old indexes kept them
    for i in (3, 17):
        store.record(
            make_notice(
                texts[1] + f"\n第{i}次更正", url=URL.format(1 + i % 12, i), title=f"改名的通报{i}"
            ),
            run,
        )
    queries = ["巡视", "巡察", "违规吃喝", "处分8人次", "更正", "改名", "巡视 违规", "pdf", "12项",
               "通报1", "整"]  # fmt: skip
    before = {q: substring_ids(old, q) for q in queries}  # old notices_fts: a copy of the texts
    sql = "select rowid from notices_fts where notices_fts match ?"  # the old trigram index
    trigram = {q: {r[0] for r in old.execute(sql, [f'"{q}"'])} for q in ("违规吃喝", "改名的通报")}
    assert {"notices_fts", "notices_bigrams"} <= set(old.table_names())
    old.close()

    db = open_db(path)
    tables = set(db.table_names())
    assert "notices_fts_content" not in tables and "notices_bigrams_content" not in tables
    assert not db.execute(
        "select name from sqlite_master where type = 'trigger' "
        "and (name like 'notices_fts%' or name like 'notices_bigrams%')"
    ).fetchall()
    assert all(before.values())
    assert db.execute("select count(*) from notices_search_pending").fetchone()[0] == 0
    db.execute("insert into notices_bigrams(notices_bigrams, rank) values('integrity-check', 1)")
    for q in queries:
        assert ids(search(db, q, limit=100)) == before[q] == bigram_ids(db, q), q
    for q, found in trigram.items():
        assert ids(search(db, q, limit=100)) == found and found, q
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

    # Datasette's search box (the condition store/datasette_plugin.py adds) gives the same
    # answers, on the notices table and on the notice_list view that `xunshi serve` shows.
    from store.datasette import metadata

    meta = metadata(db)
    plugin = meta["plugins"]["xunshi-watch"]["databases"]["x"]
    assert plugin["search"] == {"notices": "id", "notice_list": "id"}
    for q in ("拱墅", "嘉兴市委", "巡视", "违规吃喝"):
        found_by = search_filter(q, "id")
        assert found_by is not None
        where, params = found_by
        rows = store.db.execute(f"select title from notice_list where {where}", params).fetchall()
        assert {row[0] for row in rows} == found(q), q
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


# -- the bigram index (Datasette's search box; the CLI's short Chinese terms) ------------------


def bigram_ids(db, query: str) -> set[int]:
    """What the search box finds: the index's candidates, confirmed where it is not exact."""
    found = search_filter(query, "n.id")
    if found is None:
        return set()
    where, params = found
    return {row[0] for row in db.execute(f"select n.id from notices n where {where}", params)}


def substring_ids(db, query: str) -> set[int]:
    """The truth: notices whose title, unit or latest text holds every term as a substring."""
    rows = db.execute(
        "select rowid, coalesce(title, '') || char(10) || coalesce(unit, '') || char(10) || text"
        " from notices_fts"
    ).fetchall()
    return {rid for rid, text in rows if all(t.lower() in text.lower() for t in query.split())}


def test_bigram_text_and_query_forms() -> None:
    from store.fts import bigram_query, bigrams, exact_term

    # runs of letters and digits, cut into pairs plus the run's last character, each once
    assert bigrams("巡视整改") == "巡视 视整 整改 改"
    assert bigrams("处分12人次。鄞") == "处分 分1 12 2人 人次 次 鄞"
    assert bigrams("AB-c 巡视巡视") == "ab b c 巡视 视巡 视"
    assert bigrams(None) is None
    assert bigram_query("巡视") == '"巡视"'
    assert bigram_query("巡视整改") == '"巡视" AND "视整" AND "整改"'
    assert bigram_query("巡") == '"巡"*'  # the text may go on after it
    assert bigram_query("巡。") == '"巡"'  # here it may not
    assert bigram_query("处分12 鄞州") == '"处分" AND "分1" AND "12" AND "鄞州"'
    assert bigram_query('"AND" OR') == '"an" AND "nd" AND "d" AND "or"'  # operators are text
    assert bigram_query("。,") is None
    assert [exact_term(t) for t in ("巡", "巡视", "a1", "巡视整", "巡。")] == [True] * 3 + [
        False
    ] * 2


def test_bigram_search_finds_exactly_the_substrings(db_path: Path) -> None:
    """Random texts, queries of any length: the index answers what a scan answers."""
    import random

    rng = random.Random(15)
    alphabet = list("巡视整改鄞州区委省") + ["1", "2", "a", "B", "。", " ", "\n"]
    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    texts = []
    for i in range(40):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))).strip() or "巡"
        texts.append(text)
        store.record(make_notice(text, url=URL.format(1 + i % 12, i), title=f"通报{i}"), run)
    queries = {
        "巡视",
        "鄞州",
        "巡",
        "州区委",
        "巡视整改",
        "区 委",
        "视 省巡",
        "a",
        "b1",
        "2a",
        "1 巡",
    }
    for text in texts[:15]:  # substrings of the stored texts, starting and ending anywhere
        a = rng.randrange(len(text))
        queries.add(text[a : a + rng.randint(1, 6)])
    checked = 0
    for q in sorted(queries):
        if not q.strip() or not any(c.isalnum() for c in q):
            continue
        assert bigram_ids(store.db, q) == substring_ids(store.db, q), q
        checked += 1
    assert checked >= 15
    # 32 new notices were indexed together as the 32nd was recorded; 8 wait for the next batch
    assert store.db.execute("select count(*) from notices_search_pending").fetchone()[0] == 8
    store.db.execute(
        "insert into notices_bigrams(notices_bigrams, rank) values('integrity-check', 1)"
    )
    store.close()


def index_ids(db, match: str) -> set[int]:
    """The notices the index itself holds for an FTS5 query (pending ones aside)."""
    return {
        r[0]
        for r in db.execute(
            "select rowid from notices_bigrams where notices_bigrams match ?", [match]
        )
    }


@pytest.mark.parametrize("flushed", [False, True], ids=["pending", "indexed"])
def test_bigram_index_follows_changes_titles_and_deletions(db_path: Path, flushed: bool) -> None:
    store, n = seed_store(db_path)
    run = store.start_run("zjsjw")

    def settle() -> None:
        """Index what is pending (or leave it); the index must hold what its content says."""
        if flushed:
            fts.flush(store.db)
            assert (
                store.db.execute("select count(*) from notices_search_pending").fetchone()[0] == 0
            )
        store.db.execute(
            "insert into notices_bigrams(notices_bigrams, rank) values('integrity-check', 1)"
        )

    settle()
    if flushed:
        assert index_ids(store.db, '"鄞州"') == {n["yinzhou"]}
    gongshu = store.db.execute(
        "select url, title from notices where id = ?", [n["gongshu"]]
    ).fetchone()
    store.record(make_notice("鄞州区的新段落。", url=gongshu[0], title=gongshu[1]), run)
    assert bigram_ids(store.db, "违规吃喝") == substring_ids(store.db, "违规吃喝") == set()
    assert bigram_ids(store.db, "鄞州") == {n["gongshu"], n["yinzhou"]}
    settle()
    if flushed:
        assert index_ids(store.db, '"鄞州"') == {n["gongshu"], n["yinzhou"]}
        assert index_ids(store.db, '"违规" AND "吃喝"') == set()
    store.db.execute(
        "update notices set title = '改名的通报', unit = '海曙区' where id = ?", [n["xuncha"]]
    )
    assert bigram_ids(store.db, "海曙") == {n["xuncha"]}
    assert bigram_ids(store.db, "巡察") == substring_ids(store.db, "巡察")
    settle()
    store.db.execute("update versions set text = '全新的文本' where notice_id = ?", [n["yinzhou"]])
    assert bigram_ids(store.db, "全新") == {n["yinzhou"]}
    assert bigram_ids(store.db, "处分") == set()
    settle()
    store.db.execute("delete from notice_districts")
    store.db.execute("delete from events")
    store.db.execute("delete from versions where notice_id = ?", [n["xuncha"]])
    store.db.execute("delete from notices where id = ?", [n["xuncha"]])
    assert bigram_ids(store.db, "海曙") == set()
    for q in ("巡视", "整改", "通报", "鄞州", "新", "文本", "公布"):
        assert bigram_ids(store.db, q) == substring_ids(store.db, q), q
    settle()
    if flushed:
        assert index_ids(store.db, '"海曙"') == set()
    store.close()


def test_only_the_latest_text_is_indexed(db_path: Path) -> None:
    """Older versions' texts may be stored another way (their column emptied): the index
    neither notices nor minds; a change to the latest text is followed."""
    store, n = seed_store(db_path)
    run = store.start_run("zjsjw")
    url, title = store.db.execute(
        "select url, title from notices where id = ?", [n["xuncha"]]
    ).fetchone()
    store.record(
        make_notice("现将巡察整改进展情况予以公布。\n建立完善制度15项。", url=url, title=title), run
    )
    fts.flush(store.db)
    store.db.execute("update versions set text = '' where notice_id = ? and n = 1", [n["xuncha"]])
    assert store.db.execute("select count(*) from notices_search_pending").fetchone()[0] == 0
    store.db.execute(
        "insert into notices_bigrams(notices_bigrams, rank) values('integrity-check', 1)"
    )
    assert ids(search(store.db, "制度15项")) == {n["xuncha"]}
    assert search(store.db, "制度12项") == []
    store.db.execute(
        "update versions set text = '制度20项' where notice_id = ? and n = 2", [n["xuncha"]]
    )
    assert ids(search(store.db, "制度20项")) == {n["xuncha"]}
    assert search(store.db, "制度15项") == []
    fts.flush(store.db)
    store.db.execute(
        "insert into notices_bigrams(notices_bigrams, rank) values('integrity-check', 1)"
    )
    assert ids(search(store.db, "制度20项")) == {n["xuncha"]}
    store.close()


def test_cli_search_uses_the_bigram_index_for_two_characters(db_path: Path) -> None:
    store, n = seed_store(db_path)
    plan = " ".join(
        str(row[-1])
        for row in store.db.execute(
            "explain query plan select 1 from notices_fts f where f.rowid in "
            "(select rowid from notices_bigrams where notices_bigrams match '\"鄞州\"')"
        ).fetchall()
    )
    assert "notices_bigrams VIRTUAL TABLE INDEX" in plan
    assert ids(search(store.db, "鄞州")) == {n["yinzhou"]}
    assert ids(search(store.db, "巡视 违规吃喝")) == {n["gongshu"]}
    store.close()


def test_a_database_older_than_the_index_gets_no_search_box_until_upgraded(tmp_path: Path) -> None:
    """A read-only copy made before m012 is served as it is: its old bigram table cannot
    answer the search box's query, so the box is not offered (rather than an SQL error)."""
    from sqlite_utils import Database

    from store.datasette import metadata
    from store.fts import register_functions

    path = tmp_path / "old.db"
    conn = sqlite3.connect(str(path), isolation_level=None)
    register_functions(conn)
    old = Database(conn)
    migrations.apply(old, stop_before="m012_search_index")
    Store(old).record(make_notice("鄞州区巡视整改情况"), None)
    assert "notices_bigrams" in old.table_names()
    old.close()

    def box() -> dict:
        return metadata(path)["plugins"]["xunshi-watch"]["databases"]["old"]["search"]

    assert box() == {}
    open_db(path).close()  # what `xunshi serve` does to a writable file first
    assert box() == {"notices": "id", "notice_list": "id"}
