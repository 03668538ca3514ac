"""The store: versions only on change, one transaction per notice, refusing files that are not databases."""

from __future__ import annotations

import json
import sqlite3
import zlib
from pathlib import Path

import pytest

from crawler.items import Notice, canonical_url
from store.db import StoreError, open_db
from store.notices import Store, page_bytes


def make_notice(
    text: str, url: str = "http://www.zjsjw.gov.cn/a/202306/t20230626_1_ext.html", **kw
) -> Notice:
    n = Notice(
        site="zjsjw",
        url=url,
        title=kw.get("title", "中共杭州市拱墅区委关于省委巡视整改进展情况的通报"),
        published_at="2023-06-27T09:02:00+08:00",
        source="浙江省纪委省监委网站",
        paragraphs=text.split("\n"),
        header=None,
        raw=kw.get("raw", b"<html>page</html>"),
        encoding="utf-8",
        status=200,
        headers={"etag": '"abc"', "content-type": "text/html"},
        fetched_at="2026-11-23T10:00:00+00:00",
        province="浙江省",
    )
    n.text = text
    return n


def test_new_unchanged_changed(db_path: Path) -> None:
    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    first = store.record(make_notice("第一段\n给予党纪处分8人次"), run)
    again = store.record(make_notice("第一段\n给予党纪处分8人次"), run)
    changed = store.record(make_notice("第一段\n给予党纪处分9人次"), run)
    assert (first.outcome, again.outcome, changed.outcome) == ("new", "unchanged", "changed")
    assert first.notice_id == again.notice_id == changed.notice_id
    assert changed.version == 2
    versions = list(
        store.db.table("versions").rows_where("notice_id = ?", [first.notice_id], order_by="n")
    )
    assert [v["n"] for v in versions] == [1, 2]
    assert store.raw(versions[0]) == store.raw(versions[1]) == b"<html>page</html>"
    assert page_bytes(zlib.compress(b"older rows")) == b"older rows"  # rows stored before zstd
    assert json.loads(versions[0]["headers"])["etag"] == '"abc"'
    assert versions[0]["sha256"] != versions[1]["sha256"]
    hunks = json.loads(versions[1]["char_diff"])
    assert hunks == [
        [["equal", "给予党纪处分"], ["delete", "8"], ["insert", "9"], ["equal", "人次"]]
    ]
    # The line diff is not stored: Store.version derives it from the two texts.
    assert versions[1]["diff"] is None
    diff = store.version(first.notice_id, 2)["diff"]
    assert "-给予党纪处分8人次" in diff and "+给予党纪处分9人次" in diff
    kinds = [e["kind"] for e in store.events()]
    assert kinds == ["new_notice", "new_district", "changed", "facts_changed"]
    assert store.events(kind="new_district")[0]["detail"]["district_code"] == "330105"
    assert [d["code"] for d in store.notice_districts(first.notice_id)] == ["330105"]
    assert store.notice(first.notice_id)["unit"] == "杭州市拱墅区"
    assert store.notice(first.notice_id)["version_count"] == 2


def test_mobile_twin_and_scheme_are_one_notice(db_path: Path) -> None:
    store = Store.open(db_path)
    a = store.record(
        make_notice("正文内容", url="http://www.ccdi.gov.cn/x/202301/t20230101_1.html")
    )
    b = store.record(
        make_notice(
            "正文内容", url="https://WWW.ccdi.gov.cn/x/202301/t20230101_1_m.html?from=a#top"
        )
    )
    assert a.notice_id == b.notice_id and b.outcome == "unchanged"
    assert canonical_url("https://www.ccdi.gov.cn/x/t1_m.html") == "www.ccdi.gov.cn/x/t1.html"


def test_failed_record_leaves_nothing(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store.open(db_path)
    store.record(make_notice("原文"))

    def boom(*args, **kwargs):
        raise RuntimeError("disk went away")

    monkeypatch.setattr(store, "_event", boom)
    with pytest.raises(RuntimeError):
        store.record(make_notice("新文本"))
    assert store.db.table("versions").count == 1
    assert store.db.table("notices").count == 1
    assert store.latest_version(1)["text"] == "原文"


def test_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 10)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a SQLite database"):
        open_db(path)
    assert path.read_bytes() == before
    assert not Path(str(path) + "-wal").exists()


def test_open_sets_wal_and_migrates(db_path: Path) -> None:
    db = open_db(db_path)
    assert db.journal_mode == "wal"
    assert {"runs", "notices", "versions", "events"} <= set(db.table_names())
    db.close()
    # reopening an up-to-date database changes nothing
    db = open_db(db_path)
    assert (
        sqlite3.connect(db_path).execute("select count(*) from _sqlite_migrations").fetchone()[0]
        >= 1
    )
    db.close()


def test_removed_keeps_versions(db_path: Path) -> None:
    store = Store.open(db_path)
    rec = store.record(make_notice("内容"))
    assert store.mark_removed(make_notice("x").url, None, "HTTP 404") == rec.notice_id
    assert store.mark_removed(make_notice("x").url, None, "HTTP 404") is None  # once only
    assert store.notice(rec.notice_id)["removed_at"]
    assert store.db.table("versions").count == 1
    assert [e["kind"] for e in store.events()] == ["new_notice", "new_district", "removed"]


def test_new_district_only_the_first_time(db_path: Path) -> None:
    store = Store.open(db_path)
    a = store.record(make_notice("正文一", url="http://h/a/t20230101_1.html"))
    store.record(make_notice("正文二", url="http://h/a/t20230101_2.html"))
    other = store.record(
        make_notice(
            "正文三",
            url="http://h/a/t20230101_3.html",
            title="中共温州大学委员会关于省委巡视整改情况的通报",
        )
    )
    events = store.events(kind="new_district")
    assert [(e["notice_id"], e["detail"]["district_code"]) for e in events] == [
        (a.notice_id, "330105")
    ]
    assert store.notice(other.notice_id)["unit"] == "温州大学"
    assert store.notice_districts(other.notice_id) == []
    exported = {r["id"]: r for r in store.export_rows()}
    assert exported[a.notice_id]["districts"] == [{"code": "330105", "name": "杭州市拱墅区"}]


def test_site_quiet_once_per_spell(db_path: Path) -> None:
    from store.notices import check_quiet, usual_gap_days

    clock = {"now": "2024-03-01T00:00:00+00:00"}
    store = Store(open_db(db_path), clock=lambda: clock["now"])
    for i, day in enumerate(["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22", "2024-01-29"]):
        n = make_notice(f"正文{i}", url=f"http://h/a/t2024_{i}.html")
        n.published_at = f"{day}T09:00:00+08:00"
        store.record(n)
    # weekly notices: quiet after max(3 x 7, 30) = 30 days
    assert (
        usual_gap_days([__import__("datetime").datetime(2024, 1, d) for d in (1, 8, 15, 22)]) == 30
    )
    clock["now"] = "2024-02-20T00:00:00+00:00"
    assert not check_quiet(store, "zjsjw", None)  # 22 days: not yet
    clock["now"] = "2024-03-05T00:00:00+00:00"
    assert check_quiet(store, "zjsjw", None)
    assert not check_quiet(store, "zjsjw", None)  # once per quiet spell
    [event] = store.events(kind="site_quiet")
    assert "nothing new for 36 days" in event["detail"]["reason"]
    assert check_quiet(store, "shjjjc", None) is False  # no history, no verdict
    assert check_quiet(store, "zjsjw", None, quiet_days=100) is False
