"""The store writer: records batched in one transaction, and the integrity check at open."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from store import db as store_db
from store import fts
from store.db import StoreError, open_db, write_transaction
from store.fts import search
from store.notices import Store
from tests.test_store import make_notice

URL = "http://www.zjsjw.gov.cn/a/202306/t20230626_{}_ext.html"


def ids(hits) -> set[int]:
    return {h.notice_id for h in hits}


def integrity(db) -> None:
    """The index holds exactly what its content view says for every notice not pending."""
    db.execute("insert into notices_bigrams(notices_bigrams, rank) values('integrity-check', 1)")


# -- batches: many records in one outer transaction (the distributed writer) -------------------


def test_a_failing_record_in_a_batch_keeps_the_others_and_nothing_of_itself(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    kept = store.record(make_notice("原文。\n给予党纪处分8人次。", url=URL.format("x")), run)
    fts.flush(store.db)  # the notice is in the index, not pending
    events_before = store.events()
    real = Store._store_districts

    def fail_on_the_change(self, match, notice, notice_id, run_id, now):  # type: ignore[no-untyped-def]
        if "更正" in (notice.text or ""):
            raise RuntimeError("disk full (simulated)")
        return real(self, match, notice, notice_id, run_id, now)

    monkeypatch.setattr(Store, "_store_districts", fail_on_the_change)
    outcomes = []
    with write_transaction(store.db):
        for i in range(31):  # 31 pending: the failing record's version makes the 32nd
            outcomes.append(store.record(make_notice(f"第{i}号通报。", url=URL.format(i)), run))
        with pytest.raises(RuntimeError, match="simulated"):
            # it gets as far as its version, the notice update, its event and a flush of
            # the search index before it fails: all of that must go
            store.record(
                make_notice("更正后的原文。\n给予党纪处分9人次。", url=URL.format("x")), run
            )
        outcomes.append(store.record(make_notice("最后一条。", url=URL.format("last")), run))
    monkeypatch.setattr(Store, "_store_districts", real)
    assert [o.outcome for o in outcomes] == ["new"] * 32
    row = store.notice(kept.notice_id)
    assert row is not None and row["version_count"] == 1
    assert [v[0] for v in store.db.execute(
        "select n from versions where notice_id = ?", [kept.notice_id])] == [1]  # fmt: skip
    kinds = [e["kind"] for e in store.events() if e["notice_id"] == kept.notice_id]
    assert kinds == [e["kind"] for e in events_before] == ["new_notice", "new_district"]
    assert ids(search(store.db, "处分8人次")) == {kept.notice_id}
    assert search(store.db, "更正后") == []
    assert len(search(store.db, "号通报", limit=100)) == 31
    integrity(store.db)
    # nothing the failed record left behind trips the next one
    again = store.record(
        make_notice("更正后的原文。\n给予党纪处分9人次。", url=URL.format("x")), run
    )
    assert (again.outcome, again.version) == ("changed", 2)
    assert ids(search(store.db, "处分9人次")) == {kept.notice_id}
    fts.flush(store.db)
    integrity(store.db)
    store.close()


def test_a_batch_that_fails_as_a_whole_keeps_nothing(db_path: Path) -> None:
    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    with pytest.raises(KeyboardInterrupt), write_transaction(store.db):
        for i in range(40):
            store.record(make_notice(f"第{i}号通报。", url=URL.format(i)), run)
        raise KeyboardInterrupt
    assert store.db.execute("select count(*) from notices").fetchone()[0] == 0
    assert store.db.execute("select count(*) from notices_search_pending").fetchone()[0] == 0
    assert search(store.db, "号通报") == []
    integrity(store.db)
    store.close()


def test_record_batch_reports_a_bad_notice_and_keeps_the_others(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    real = Store._store_districts

    def failing(self, match, notice, notice_id, run_id, now):  # type: ignore[no-untyped-def]
        if "坏" in (notice.text or ""):
            raise RuntimeError("a bug met by one notice")
        if "磁盘" in (notice.text or ""):
            raise sqlite3.OperationalError("disk I/O error")
        return real(self, match, notice, notice_id, run_id, now)

    monkeypatch.setattr(Store, "_store_districts", failing)
    unnormalised = make_notice("x", url=URL.format("raw"))
    unnormalised.text = None
    items = [
        (make_notice("第一条。", url=URL.format(1)), run),
        (unnormalised, run),
        (make_notice("坏的一条。", url=URL.format(2)), run),
        (make_notice("第三条。", url=URL.format(3)), run),
        (make_notice("第一条。", url=URL.format(1)), run),  # the same again: unchanged
    ]
    results = store.record_batch(items)
    assert [type(r).__name__ for r in results] == [
        "Recorded", "ValueError", "RuntimeError", "Recorded", "Recorded"]  # fmt: skip
    assert [r.outcome for r in results if not isinstance(r, Exception)] == [
        "new",
        "new",
        "unchanged",
    ]
    urls = {row[0] for row in store.db.execute("select url from notices")}
    assert urls == {URL.format(1), URL.format(3)}
    assert search(store.db, "坏的") == []
    # a database error: the whole batch is rolled back and raised
    with pytest.raises(sqlite3.OperationalError):
        store.record_batch([(make_notice("第四条。", url=URL.format(4)), run),
                            (make_notice("磁盘满了。", url=URL.format(5)), run)])  # fmt: skip
    assert {row[0] for row in store.db.execute("select url from notices")} == urls
    fts.flush(store.db)
    integrity(store.db)
    store.close()


# -- the integrity check at open ------------------------------------------------------------------


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The full checks that run (PRAGMA quick_check), counted."""
    done: list[str] = []
    real = store_db._damage

    def counted(conn: sqlite3.Connection) -> str | None:
        done.append("check")
        return real(conn)

    monkeypatch.setattr(store_db, "_damage", counted)
    return done


def test_the_full_check_is_skipped_only_for_a_file_as_a_writer_left_it(
    db_path: Path, checks: list[str]
) -> None:
    with Store.open(db_path) as store:
        store.record(make_notice("第一段。"), store.start_run("zjsjw"))
    assert checks == ["check"]
    assert Path(f"{db_path}-checked").exists()
    for _ in range(2):  # the writer's clean close left it sound: no full check
        Store.open(db_path).close()
        Store.open(db_path, create=False).close()
    assert checks == ["check"]
    # another program wrote to it: checked again
    conn = sqlite3.connect(db_path)
    conn.execute("update runs set status = 'ok'")
    conn.commit()
    conn.close()
    Store.open(db_path, create=False).close()
    assert checks == ["check"] * 2
    Store.open(db_path).close()  # (a read does not vouch for the file; a writer's open does)
    assert checks == ["check"] * 3
    Store.open(db_path).close()
    assert checks == ["check"] * 3
    # a writer that never closed (killed): the next open checks
    crashed = Store.open(db_path)
    crashed.record(make_notice("第二段。"), crashed.start_run("zjsjw"))
    assert not Path(f"{db_path}-checked").exists()
    Store.open(db_path, create=False).close()
    assert checks == ["check"] * 4
    crashed.close()
    # a week after the last full check, the file is checked again
    stamp = Path(f"{db_path}-checked")
    import json

    data = json.loads(stamp.read_text())
    stamp.write_text(json.dumps({**data, "checked_at": data["checked_at"] - 8 * 86400}))
    Store.open(db_path).close()
    assert checks == ["check"] * 5


def test_a_file_damaged_after_a_clean_close_is_refused_untouched(db_path: Path) -> None:
    with Store.open(db_path) as store:
        run = store.start_run("zjsjw")
        for i in range(100):
            store.record(make_notice(f"第{i}段。" * 200, url=URL.format(i)), run)
    pages = os.path.getsize(db_path) // 4096
    with db_path.open("r+b") as fh:
        fh.seek((pages // 2) * 4096)
        fh.write(os.urandom(4096))
    before = db_path.read_bytes()
    with pytest.raises(StoreError, match="damaged"):
        open_db(db_path)
    with pytest.raises(StoreError, match="damaged"):
        open_db(db_path, create=False)
    assert db_path.read_bytes() == before
