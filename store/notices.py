"""Record notices and runs: new | unchanged | changed, each in one transaction with its events."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlite_utils import Database
from sqlite_utils.db import Table

from crawler.facts import LABELS as FACT_LABELS
from crawler.facts import change_line, extract_facts
from crawler.facts import changes as fact_changes
from crawler.items import Notice, canonical_url
from store import events as event_table
from store.compress import (
    RAW_DICT,
    RAW_TEXT,
    CompressError,
    decode_page,
    dict_content,
    encode_page,
    legacy_page,
    raw_of,
    site_dict,
    store_page,
    supersede,
    version_text,
    zstd,
)
from store.compress import enabled as compress_enabled
from store.db import StoreError, default_path, open_db, process_alive, write_transaction
from store.diff import diff_texts, line_diff
from store.districts import UnitMatch, match_notice
from store.events import EVENT_KINDS  # noqa: F401  (the kinds live in one table, store/events.py)
from store.facts import (
    extend_facts,
    fact_rows,
    has_fact_ranges,
    has_facts_table,
    read_facts,
    write_facts,
)
from store.fts import haystack, remember_doc
from store.prepare import Prepared, match_year, text_sha256, usable


def compress_page(data: bytes) -> bytes:
    """A raw page as one plain zstd frame (level 3): how pages were stored before m013.
    Versions store theirs with ``store.compress.store_page`` now."""
    return zstd.compress(data, 3)


def page_bytes(stored: bytes) -> bytes:
    """The page bytes of a frame stored before m013 (one zstd frame, or older zlib).

    Rows stored since carry a method (``raw_codec``) and need their notice's other rows:
    read every version's page with ``raw_of(db, row)`` (store/compress.py)."""
    return legacy_page(stored)


# The per-run counters of the runs table, in the order reports show them.
RUN_COUNTS = (
    "notices_seen",
    "new",
    "changed",
    "unchanged",
    "not_modified",
    "dropped",
    "failed",
    "blocked",
    "skipped",  # links a list page shows that cannot be followed (bad URL, too long)
)


def _last_pk(table: Table) -> int:
    if table.last_pk is None:
        raise RuntimeError(f"no row id after an insert into {table.name}")
    return int(table.last_pk)


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Recorded:
    outcome: str  # "new" | "changed" | "unchanged"
    notice_id: int
    version: int


class Store:
    """The only writer of the database. ``clock`` returns ISO 8601 UTC time (tests freeze it)."""

    def __init__(self, db: Database, clock: Callable[[], str] = utcnow) -> None:
        self.db = db
        self.clock = clock
        self._has_facts: bool | None = None
        self._prepared: Prepared | None = None  # of the notice being recorded
        # An open batch (begin_batch): when it began, its writes, and what to do once
        # it is committed (a pipeline's counts and log lines).
        self._batch_since: float | None = None
        self._batch_writes = 0
        self._after_commit: list[Callable[[], None]] = []
        self._insert_sql: dict[tuple[str, tuple[str, ...]], str] = {}  # SQL text only

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        write: bool | None = None,
    ) -> Store:
        """The store at ``path``; ``create=False`` opens it read-only (see store.db.open_db)."""
        return cls(open_db(path, create=create, write=write))

    def close(self) -> None:
        try:
            self.commit_batch()  # a batch is never left open: what it recorded is kept
        finally:
            self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def writable(self) -> bool:
        return not getattr(self.db, "read_only", False)

    # -- batches: one transaction for many records --------------------------------------

    def begin_batch(self) -> bool:
        """Open a write transaction that the records after it join, each in a savepoint of
        its own (a crash leaves no half notice: a batch is committed whole or not at all).
        False when a transaction is already open (a batch, or a caller's own)."""
        conn = self.db.conn
        if conn.in_transaction:
            return False
        conn.execute("BEGIN IMMEDIATE")
        self._batch_since = time.monotonic()
        self._batch_writes = 0
        return True

    @property
    def batch_open(self) -> bool:
        return self._batch_since is not None

    def after_commit(self, then: Callable[[], None]) -> None:
        """Run ``then`` once what was just written is committed: at once when no batch is
        open (it is committed already), else when the batch is."""
        if self._batch_since is None:
            then()
        else:
            self._after_commit.append(then)

    def batch_due(self, records: int, seconds: float) -> bool:
        """Whether the open batch holds ``records`` notices or is ``seconds`` old."""
        since = self._batch_since
        if since is None:
            return False
        return self._batch_writes >= records or time.monotonic() - since >= seconds

    def commit_batch(self) -> None:
        """Commit the open batch (no-op without one), then run what waited for it. A batch
        the database could not commit is rolled back whole and its waiting work dropped."""
        if self._batch_since is None:
            return
        conn = self.db.conn
        waiting, self._after_commit = self._after_commit, []
        self._batch_since = None
        if not conn.in_transaction:  # SQLite rolled it back itself (disk full, I/O error)
            raise StoreError("the database rolled back the last batch of records")
        try:
            conn.execute("COMMIT")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        for then in waiting:
            then()

    def rollback_batch(self) -> None:
        """Drop the open batch and what waited for it (no-op without one)."""
        if self._batch_since is None:
            return
        self._batch_since = None
        self._after_commit = []
        if self.db.conn.in_transaction:
            self.db.conn.execute("ROLLBACK")

    # -- runs ---------------------------------------------------------------------------

    def start_run(
        self, site: str, options: dict[str, Any] | None = None, *, crawl: str | None = None
    ) -> int:
        """A new "running" row; ``crawl`` groups the runs of one crawl (one per site)."""
        with write_transaction(self.db):
            table = self.db.table("runs")
            table.insert(
                {
                    "site": site,
                    "started_at": self.clock(),
                    "status": "running",
                    "options": json.dumps(options or {}, ensure_ascii=False),
                    "pid": os.getpid(),
                    # (a database not yet migrated has no crawl column: tests of migrations)
                    **({"crawl": crawl} if "crawl" in table.columns_dict else {}),
                }
            )
            run_id = _last_pk(table)
            if crawl is None and "crawl" in table.columns_dict:
                table.update(run_id, {"crawl": f"run-{run_id}"})
            return run_id

    def update_run(self, run_id: int, **fields: Any) -> None:
        with write_transaction(self.db):
            self.db.table("runs").update(run_id, fields)

    def finish_run(
        self, run_id: int, status: str, *, error: str | None = None, **counts: int
    ) -> None:
        fields: dict[str, Any] = {"status": status, "finished_at": self.clock(), **counts}
        if error is not None:
            fields["error"] = error
        self.update_run(run_id, **fields)

    def run(self, run_id: int) -> dict[str, Any] | None:
        """The run's row as stored (the crawl that started it reads it to close it)."""
        rows = list(self.db.table("runs").rows_where("id = ?", [run_id]))
        return rows[0] if rows else None

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = list(self.db.table("runs").rows_where(order_by="id desc", limit=limit))
        return self.settled(rows)

    def close_abandoned_runs(self) -> list[dict[str, Any]]:
        """Every run left "running" whose process is gone, closed (a writer calls this)."""
        rows = list(self.db.table("runs").rows_where("status = 'running'", order_by="id"))
        return [r for r in self.settled(rows) if r["status"] == "interrupted"]

    def crawl_runs(self, crawl: str | None = None) -> list[dict[str, Any]]:
        """The runs of one crawl (default: the latest crawl), oldest first."""
        if crawl is None:
            latest = self.runs(limit=1)
            if not latest:
                return []
            crawl = latest[0]["crawl"] or f"run-{latest[0]['id']}"
        rows = list(
            self.db.table("runs").rows_where(
                "coalesce(crawl, 'run-' || id) = ?", [crawl], order_by="id"
            )
        )
        return self.settled(rows)

    def settled(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Runs left "running" by a process that is gone (kill -9, a failed start) are
        closed as "interrupted": in the database when it is writable, else as shown."""
        for row in rows:
            if row.get("status") != "running" or process_alive(row.get("pid"), row["started_at"]):
                continue
            why = "the process that ran it ended without recording an outcome"
            if self.writable:
                with write_transaction(self.db):
                    self.db.execute(
                        "update runs set status = 'interrupted', error = ?, finished_at = ? "
                        "where id = ? and status = 'running'",
                        [why, self.clock(), row["id"]],
                    )
            row.update(status="interrupted", error=why)
        return rows

    # -- events -------------------------------------------------------------------------

    def _event(
        self,
        run_id: int | None,
        kind: str,
        *,
        site: str | None = None,
        notice_id: int | None = None,
        url: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> int:
        if kind not in event_table.BY_NAME:
            raise ValueError(f"unknown event kind {kind!r}; store/events.py lists the kinds")
        return self._insert(
            "events",
            {
                "run_id": run_id,
                "created_at": self.clock(),
                "kind": kind,
                "site": site,
                "notice_id": notice_id,
                "url": url,
                "detail": json.dumps(detail or {}, ensure_ascii=False),
            },
        )

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        """Insert one row with a plain prepared statement (what Store.record's inner loop
        writes: sqlite-utils' insert looks the table up on every call); its rowid."""
        columns = tuple(row)
        sql = self._insert_sql.get((table, columns))
        if sql is None:
            sql = (
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})"
            )
            self._insert_sql[(table, columns)] = sql
        rowid = self.db.conn.execute(sql, tuple(row.values())).lastrowid
        if rowid is None:
            raise RuntimeError(f"no row id after an insert into {table}")
        return rowid

    def record_event(self, run_id: int | None, kind: str, **kwargs: Any) -> int:
        """Write one event on its own (fetch failures, blocks: nothing else changes)."""
        with write_transaction(self.db):
            return self._event(run_id, kind, **kwargs)

    # -- notices ------------------------------------------------------------------------

    def find_notice(self, url: str) -> dict[str, Any] | None:
        rows = list(self.db.table("notices").rows_where("key = ?", [canonical_url(url)]))
        return rows[0] if rows else None

    def record(
        self, notice: Notice, run_id: int | None = None, prepared: Prepared | None = None
    ) -> Recorded:
        """Store a fetched notice: a new version only when its seed-format text changed.

        One transaction (a savepoint inside a caller's transaction: a batch of records
        that fails in the middle keeps the records before it and nothing of this one).
        ``prepared``: the pure work done beforehand (store/prepare.py); used only where it
        was made by this code for this notice, else computed here.
        """
        if not notice.text:
            raise ValueError("a notice must be normalised before it is recorded")
        text = notice.text
        sha = text_sha256(text)
        self._prepared = usable(prepared, notice, sha)
        if self._batch_since is not None:
            self._batch_writes += 1
        try:
            return self._record(notice, text, sha, run_id)
        finally:
            self._prepared = None

    def _record(self, notice: Notice, text: str, sha: str, run_id: int | None) -> Recorded:
        now = self.clock()
        key = notice.key
        validators = (notice.headers.get("etag"), notice.headers.get("last-modified"))
        conn = self.db.conn
        with write_transaction(self.db):
            row = conn.execute(
                "SELECT id, title, published_at, source FROM notices WHERE key = ?", [key]
            ).fetchone()
            if row is None:
                return self._record_new(notice, text, sha, key, validators, run_id, now)
            notice_id = row[0]
            latest = conn.execute(
                "SELECT n, sha256 FROM versions WHERE notice_id = ? ORDER BY n DESC LIMIT 1",
                [notice_id],
            ).fetchone()
            if latest is not None and latest[1] == sha:
                conn.execute(
                    "UPDATE notices SET last_seen = ?, last_checked = ?, removed_at = NULL, "
                    "etag = ?, last_modified = ? WHERE id = ?",
                    [now, now, *validators, notice_id],
                )
                return Recorded("unchanged", notice_id, latest[0])
            return self._record_changed(notice, text, sha, row, latest, validators, run_id, now)

    def record_batch(
        self, items: Iterable[tuple[Notice, int | None] | tuple[Notice, int | None, Any]]
    ) -> list[Recorded | Exception]:
        """Record many notices (with their run ids) in one transaction: one commit for the
        batch (what a streaming writer such as the distributed one wants), each notice in
        its own savepoint. A notice that cannot be recorded (ValueError, or any error that
        is not the database's) leaves nothing behind, its exception takes its place in the
        result, and the others are kept. A database error (disk full, I/O, locked) rolls
        the whole batch back and is raised: nothing of it is stored.
        """
        results: list[Recorded | Exception] = []
        with write_transaction(self.db):
            for notice, run_id, *prepared in items:
                try:
                    results.append(self.record(notice, run_id, *prepared))
                except sqlite3.Error:
                    raise
                except Exception as exc:
                    results.append(exc)
        return results

    def _record_new(
        self,
        notice: Notice,
        text: str,
        sha: str,
        key: str,
        validators: tuple[str | None, str | None],
        run_id: int | None,
        now: str,
    ) -> Recorded:
        # The unit goes in with the row, so the search index is written once.
        match, unit_columns = self._unit(notice, now)
        notice_id = self._insert(
            "notices",
            {
                "site": notice.site,
                "key": key,
                "url": notice.url,
                "title": notice.title,
                "published_at": notice.published_at,
                "source": notice.source,
                "first_seen": now,
                "last_seen": now,
                "last_checked": now,
                "last_changed": now,
                "version_count": 1,
                **unit_columns,
                "etag": validators[0],
                "last_modified": validators[1],
            },
        )
        self._insert_version(notice, notice_id, 1, sha, run_id, now, None)
        if self.has_facts():
            facts = self._facts_of(notice, text)
            # a new notice has no facts to replace (write_facts deletes them first)
            self.db.conn.executemany(
                "INSERT INTO facts (notice_id, version, key, value, evidence) "
                "VALUES (?, ?, ?, ?, ?)",
                fact_rows(notice_id, 1, facts),
            )
        self._event(
            run_id,
            "new_notice",
            site=notice.site,
            notice_id=notice_id,
            url=notice.url,
            detail={"title": notice.title, "published_at": notice.published_at},
        )
        self._store_districts(match, notice, notice_id, run_id, now)
        return Recorded("new", notice_id, 1)

    def _record_changed(
        self,
        notice: Notice,
        text: str,
        sha: str,
        row: tuple[Any, ...],
        latest: tuple[Any, ...] | None,
        validators: tuple[str | None, str | None],
        run_id: int | None,
        now: str,
    ) -> Recorded:
        notice_id, title, published_at, source = row
        n = (latest[0] if latest else 0) + 1
        old_text = self._latest_text(notice_id, latest[0]) if latest else ""
        diff = diff_texts(old_text, text, old_label=f"v{n - 1}", new_label=f"v{n}")
        match, unit_columns = self._unit(notice, now)
        self._insert_version(notice, notice_id, n, sha, run_id, now, diff)
        facts = self._facts_of(notice, text) if self.has_facts() else {}
        if self.has_facts():
            # (rows covering runs of versions since m014; a database not yet migrated:
            # tests of migrations)
            write = extend_facts if has_fact_ranges(self.db) else write_facts
            write(self.db, notice_id, n, facts)
        self.db.conn.execute(
            "UPDATE notices SET last_seen = ?, last_checked = ?, removed_at = NULL, etag = ?, "
            "last_modified = ?, url = ?, title = ?, published_at = ?, source = ?, "
            "last_changed = ?, version_count = ?, unit = ?, unit_ambiguous = ? WHERE id = ?",
            [now, now, *validators, notice.url, notice.title or title,
             notice.published_at or published_at, notice.source or source, now, n,
             unit_columns["unit"], unit_columns["unit_ambiguous"], notice_id],
        )  # fmt: skip
        self._event(
            run_id,
            "changed",
            site=notice.site,
            notice_id=notice_id,
            url=notice.url,
            detail={
                "title": notice.title,
                "from_version": n - 1,
                "to_version": n,
                "added_lines": diff.added_lines,
                "removed_lines": diff.removed_lines,
            },
        )
        if latest is not None and self.has_facts():
            old_facts = read_facts(self.db, notice_id, latest[0])
            self._facts_changed(notice, notice_id, run_id, n, old_facts, facts)
        self._store_districts(match, notice, notice_id, run_id, now)
        return Recorded("changed", notice_id, n)

    def _latest_text(self, notice_id: int, n: int) -> str:
        """The text of version ``n``, a notice's latest (the latest text is stored plain)."""
        found = self.db.conn.execute(
            "SELECT text FROM versions WHERE notice_id = ? AND n = ?", [notice_id, n]
        ).fetchone()
        return found[0] if found and found[0] is not None else ""

    def has_facts(self) -> bool:
        """Whether the facts table exists (a database opened before its migration has none:
        the migration reads those versions when it runs)."""
        if self._has_facts is None:
            self._has_facts = has_facts_table(self.db)
        return self._has_facts

    def _facts_changed(
        self,
        notice: Notice,
        notice_id: int,
        run_id: int | None,
        n: int,
        old: dict[str, Any],
        new: dict[str, Any],
    ) -> None:
        """One facts_changed event per fact a new version changes: key, old and new value."""
        for change in fact_changes(old, new):
            key = change["key"]
            self._event(
                run_id,
                "facts_changed",
                site=notice.site,
                notice_id=notice_id,
                url=notice.url,
                detail={"title": notice.title, "from_version": n - 1, "to_version": n,
                        **change, "label": FACT_LABELS.get(key, key), "summary": change_line(change),
                        "evidence": new["evidence"].get(key) or old["evidence"].get(key)},
            )  # fmt: skip

    def _facts_of(self, notice: Notice, text: str) -> dict[str, Any]:
        """The facts of a new or changed text: the worker's (prepared for this very text,
        title and date: ``usable``), else extracted here."""
        ready = self._prepared.facts if self._prepared else None
        return (
            ready if ready is not None else extract_facts(text, notice.title, notice.published_at)
        )

    def _unit(self, notice: Notice, now: str) -> tuple[UnitMatch, dict[str, Any]]:
        """The unit and districts of a text, and the notice columns that hold them."""
        year = match_year(notice, now)
        ready = self._prepared
        if ready is not None and ready.match is not None and ready.year == year:
            match = ready.match
            if ready.doc is not None:  # the search index's flush takes it from there
                remember_doc(haystack(notice.title, match.unit, notice.text), ready.doc)
        else:
            match = match_notice(
                notice.title, notice.text or "", year=year, site_province=notice.province
            )
        columns = {
            "unit": match.unit,
            "unit_ambiguous": json.dumps(list(match.ambiguous), ensure_ascii=False),
        }
        return match, columns

    def _store_districts(
        self, match: UnitMatch, notice: Notice, notice_id: int, run_id: int | None, now: str
    ) -> None:
        """Link a notice to its districts; a new_district event for a code never seen."""
        conn = self.db.conn
        stored = conn.execute(
            "SELECT code, name, full_name, level, province, city FROM notice_districts "
            "WHERE notice_id = ? ORDER BY rowid",
            [notice_id],
        ).fetchall()
        if stored == [(d.code, d.name, d.full_name, d.level, d.province, d.city)
                      for d in match.districts]:  # fmt: skip
            return  # the same as stored: the rows stay, not deleted and written again
        conn.execute("DELETE FROM notice_districts WHERE notice_id = ?", [notice_id])
        for d in match.districts:
            row = (d.code, d.name, d.full_name, d.level, d.province, d.city)
            conn.execute(
                "INSERT INTO notice_districts (notice_id, code, name, full_name, level, "
                "province, city) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (notice_id, *row),
            )
            first = conn.execute(
                "INSERT OR IGNORE INTO districts (code, name, full_name, level, province, city, "
                "first_seen, first_notice_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, now, notice_id),
            )
            if first.rowcount == 1:  # a code never seen before
                self._event(
                    run_id,
                    "new_district",
                    site=notice.site,
                    notice_id=notice_id,
                    url=notice.url,
                    detail={"district_code": d.code, "name": d.full_name, "province": d.province,
                            "title": notice.title},
                )  # fmt: skip

    def notice_districts(self, notice_id: int) -> list[dict[str, Any]]:
        return list(
            self.db.table("notice_districts").rows_where(
                "notice_id = ?", [notice_id], order_by="code"
            )
        )

    def district_refs(self, notice_id: int) -> list[dict[str, str]]:
        """A notice's districts as exports and deliveries show them: [{code, name}]."""
        return [
            {"code": d["code"], "name": d["full_name"]} for d in self.notice_districts(notice_id)
        ]

    def _insert_version(
        self,
        notice: Notice,
        notice_id: int,
        n: int,
        sha: str,
        run_id: int | None,
        now: str,
        diff: Any,
    ) -> None:
        """Insert version n; version n-1's text and page then become compressed deltas
        against it (store/compress.py), after the insert, so the search index never sees it."""
        text = notice.text or ""
        page = self._page(notice, n, text, now)
        self._insert(
            "versions",
            {
                "notice_id": notice_id,
                "n": n,
                "text": text,
                "sha256": sha,
                "title": notice.title,
                "published_at": notice.published_at,
                "source": notice.source,
                "fetched_at": notice.fetched_at or now,
                "fetched_url": notice.url,
                "run_id": run_id,
                "http_status": notice.status,
                "encoding": notice.encoding,
                "headers": json.dumps(notice.headers, ensure_ascii=False, sort_keys=True),
                **page,  # raw, raw_codec, raw_dict
                "raw_size": len(notice.raw),
                "methods": json.dumps(notice.methods, sort_keys=True),
                # A later version's line diff is not stored: Store.version derives it from
                # the two texts, which are kept byte for byte (issue 16: 2.3 KB a change).
                "diff": diff.unified if diff and n == 1 else None,
                "char_diff": json.dumps(diff.chars, ensure_ascii=False) if diff else None,
            },
        )
        if n > 1:
            supersede(self.db, notice_id, n - 1, text, notice.raw)

    def _page(self, notice: Notice, n: int, text: str, now: str) -> dict[str, Any]:
        """The page columns of a new latest version: the prepared ones when they were
        made against the site's current dictionary and decode to the page byte for
        byte, else compressed here (``store_page``)."""
        ready = self._prepared.page if self._prepared else None
        if ready is None or not compress_enabled(self.db):
            return store_page(self.db, notice.site, n, notice.raw, text, now)
        dict_id = site_dict(self.db, notice.site, now, new_notice=n == 1)
        base = dict_content(self.db, dict_id) if dict_id is not None else b""
        codec = RAW_DICT if dict_id is not None else RAW_TEXT
        frame = ready.get("raw")
        if ready.get("raw_dict") == dict_id and ready.get("raw_codec") == codec and frame:
            try:
                if decode_page(frame, text, base) == notice.raw:
                    return {"raw": frame, "raw_codec": codec, "raw_dict": dict_id}
            except CompressError:
                pass
        return {"raw": encode_page(notice.raw, text, base), "raw_codec": codec, "raw_dict": dict_id}

    def page_dict(self, site: str) -> tuple[int, bytes] | None:
        """The site's current page dictionary (id, content), what a producer compresses a
        new page against (store/prepare.py); None when it has none (or no m013 yet)."""
        if not compress_enabled(self.db):
            return None
        row = self.db.execute(
            "SELECT id FROM page_dicts WHERE site = ? ORDER BY id DESC LIMIT 1", [site]
        ).fetchone()
        return (int(row[0]), dict_content(self.db, int(row[0]))) if row else None

    def touch_not_modified(self, url: str) -> int | None:
        """A conditional re-check answered 304: the notice is still there, unchanged."""
        row = self.find_notice(url)
        if row is None:
            return None
        now = self.clock()
        with write_transaction(self.db):
            self.db.table("notices").update(
                row["id"], {"last_seen": now, "last_checked": now, "removed_at": None}
            )
        return int(row["id"])

    def mark_removed(self, url: str, run_id: int | None, reason: str) -> int | None:
        """A stored notice is gone (404/410): flag it, keep every version, write one event."""
        row = self.find_notice(url)
        if row is None or row["removed_at"]:
            return None
        with write_transaction(self.db):
            self.db.table("notices").update(row["id"], {"removed_at": self.clock()})
            self._event(
                run_id,
                "removed",
                site=row["site"],
                notice_id=row["id"],
                url=row["url"],
                detail={"title": row["title"], "reason": reason},
            )
        return int(row["id"])

    # -- reading ------------------------------------------------------------------------

    def latest_version(self, notice_id: int) -> dict[str, Any] | None:
        rows = list(
            self.db.table("versions").rows_where(
                "notice_id = ?", [notice_id], order_by="n desc", limit=1
            )
        )
        return self._readable(rows[0]) if rows else None

    def version(self, notice_id: int, n: int | None = None) -> dict[str, Any] | None:
        """A version's row with its ``text`` as recorded (older versions store theirs
        compressed); ``raw`` stays as stored: read the page with ``Store.raw(row)``."""
        if n is None:
            return self.latest_version(notice_id)
        rows = list(self.db.table("versions").rows_where("notice_id = ? and n = ?", [notice_id, n]))
        return self._readable(rows[0]) if rows else None

    def _readable(self, row: dict[str, Any]) -> dict[str, Any]:
        if row.get("text_codec") is not None or not isinstance(row.get("text"), str):
            row["text"] = version_text(self.db, row["notice_id"], row["n"])
            row["text_codec"] = None
        n = row["n"]
        if n > 1 and row.get("diff") is None:
            # Not stored since issue 16: the unified line diff against version n-1, exactly
            # as Store.record computed it when the version was recorded.
            old = version_text(self.db, row["notice_id"], n - 1) or ""
            row["diff"] = line_diff(old, row["text"] or "", old_label=f"v{n - 1}",
                                    new_label=f"v{n}")  # fmt: skip
        return row

    def raw(self, row: dict[str, Any]) -> bytes | None:
        """The page bytes of a version row as fetched (the evidence), byte for byte."""
        return raw_of(self.db, row)

    def facts(self, notice_id: int, n: int | None = None) -> dict[str, Any] | None:
        """The facts of a version (default: the latest), or None if there is no such version."""
        row = self.version(notice_id, n)
        return read_facts(self.db, notice_id, row["n"]) if row else None

    def notice(self, notice_id: int) -> dict[str, Any] | None:
        rows = list(self.db.table("notices").rows_where("id = ?", [notice_id]))
        return rows[0] if rows else None

    def notices(self, site: str | None = None) -> Iterator[dict[str, Any]]:
        if site:
            return self.db.table("notices").rows_where("site = ?", [site], order_by="id")
        return self.db.table("notices").rows_where(order_by="id")

    def export_rows(self, site: str | None = None) -> Iterator[dict[str, Any]]:
        """One record per notice with its latest text: the shape of `xunshi export`."""
        for row in self.notices(site):
            latest = self.latest_version(row["id"])
            yield {
                "id": row["id"],
                "site": row["site"],
                "url": row["url"],
                "title": row["title"],
                "published_at": row["published_at"],
                "source": row["source"],
                "unit": row["unit"],
                "districts": self.district_refs(row["id"]),
                "text": latest["text"] if latest else None,
                "facts": _plain(read_facts(self.db, row["id"], latest["n"]))
                if latest and self.has_facts()
                else None,
                "versions": row["version_count"],
                "first_seen": row["first_seen"],
                "last_changed": row["last_changed"],
                "removed_at": row["removed_at"],
            }

    def events(
        self,
        *,
        run_id: int | None = None,
        since_run: int | None = None,
        since: str | None = None,
        until: str | None = None,
        kind: str | None = None,
        run_ids: list[int] | None = None,
        site: str | None = None,
    ) -> list[dict[str, Any]]:
        where: list[str] = []
        params: list[Any] = []
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        if run_ids is not None:
            where.append(f"run_id in ({', '.join('?' * len(run_ids)) or 'null'})")
            params.extend(run_ids)
        if until is not None:
            where.append("created_at < ?")
            params.append(until)
        if site is not None:
            where.append("site = ?")
            params.append(site)
        if since_run is not None:
            where.append("run_id >= ?")
            params.append(since_run)
        if since is not None:
            where.append("created_at >= ?")
            params.append(since)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        rows = self.db.table("events").rows_where(
            " and ".join(where) or None, params, order_by="id"
        )
        out = []
        for row in rows:
            row["detail"] = json.loads(row["detail"] or "{}")
            out.append(row)
        return out


def _plain(facts: dict[str, Any]) -> dict[str, Any]:
    """Facts as exports carry them: the values and counts, without the evidence."""
    return {k: v for k, v in facts.items() if k != "evidence"}


def load_known(
    source: Store | str | os.PathLike[str] | None, site: str
) -> dict[str, dict[str, Any]]:
    """What a crawl needs to know of a site's stored notices, by canonical URL.

    Read only: given a path, the database is opened read-only and never created or
    migrated (no database yet: nothing is known).
    """
    sql = (
        "select key, url, published_at, first_seen, last_checked, etag, last_modified, removed_at "
        "from notices where site = ?"
    )
    if isinstance(source, Store):
        return {row["key"]: row for row in source.db.query(sql, [site])}
    path = Path(source or default_path())
    if not path.exists():
        return {}
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return {row["key"]: dict(row) for row in conn.execute(sql, [site])}
    except sqlite3.OperationalError:
        return {}  # a database without our tables yet
    finally:
        conn.close()


def district_rows(
    store: Store,
    *,
    province: str | None = None,
    since: str | None = None,
    first_runs: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Districts seen in notices: first seen, notice count, latest notice (newest publish first).

    ``first_runs``: only districts first seen in one of these runs (a crawl's runs).
    """
    rows = store.db.query(
        """
        select d.code, d.full_name as name, d.province, d.city, d.level, d.first_seen,
               count(distinct nd.notice_id) as notices,
               max(coalesce(n.published_at, n.first_seen)) as latest_published
        from districts d
        left join notice_districts nd on nd.code = d.code
        left join notices n on n.id = nd.notice_id
        where (:province is null or d.province = :province)
          and (:since is null or d.first_seen >= :since)
          and (:first_runs is null or exists (
                select 1 from events e
                where e.kind = 'new_district' and e.notice_id = d.first_notice_id
                  and json_extract(e.detail, '$.district_code') = d.code
                  and e.run_id in (select value from json_each(:first_runs))))
        group by d.code
        order by d.first_seen desc, d.code
        """,
        {
            "province": province,
            "since": since,
            "first_runs": None if first_runs is None else json.dumps(first_runs),
        },  # fmt: skip
    )
    out = []
    for row in rows:
        latest = next(
            store.db.query(
                """
                select n.id, n.title from notices n join notice_districts nd on nd.notice_id = n.id
                where nd.code = ? order by coalesce(n.published_at, n.first_seen) desc limit 1
                """,
                [row["code"]],
            ),
            None,
        )
        row["latest_notice_id"] = latest["id"] if latest else None
        row["latest_title"] = latest["title"] if latest else None
        out.append(row)
    return out


def coverage_rows(
    store: Store, divisions: list[Any], *, round_text: str | None = None
) -> list[dict[str, Any]]:
    """For each division, the stored notices about it (optionally only titles naming a round)."""
    out = []
    for d in divisions:
        found = list(
            store.db.query(
                """
                select n.id, n.title, n.published_at, n.first_seen from notices n
                join notice_districts nd on nd.notice_id = n.id
                where nd.code = ? and (:round is null or instr(n.title, :round) > 0)
                order by coalesce(n.published_at, n.first_seen) desc
                """.replace("?", ":code"),
                {"code": d.code, "round": round_text},
            )
        )
        latest = found[0] if found else None
        out.append(
            {
                "code": d.code,
                "name": d.full_name,
                "city": d.city,
                "notices": len(found),
                "published": latest["published_at"][:10]
                if latest and latest["published_at"]
                else None,
                "first_seen": _local_date(latest["first_seen"]) if latest else None,
                "notice_id": latest["id"] if latest else None,
                "title": latest["title"] if latest else None,
            }
        )
    return out


def _local_date(iso: str | None) -> str | None:
    """The Asia/Shanghai date of an ISO time (the sites' own calendar)."""
    if not iso or len(iso) <= 10:
        return iso
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso[:10]
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()


def usual_gap_days(dates: list[datetime]) -> float | None:
    """How long a site usually goes between notices: three times its median gap, at least
    30 days; None with fewer than 4 dated notices (too little history to call it quiet)."""
    days = sorted({d.date() for d in dates})
    if len(days) < 4:
        return None
    gaps = sorted((b - a).days for a, b in zip(days, days[1:], strict=False))
    median = gaps[len(gaps) // 2]
    return max(3.0 * median, 30.0)


def check_quiet(
    store: Store, site: str, run_id: int | None, *, quiet_days: float | None = None
) -> bool:
    """Write one ``site_quiet`` event when a site has shown nothing new for longer than usual.

    ``quiet_days`` overrides the learned threshold. Once per quiet spell: not again until
    a new notice has appeared.
    """
    rows = list(
        store.db.query("select published_at, first_seen from notices where site = ?", [site])
    )
    stamps = [datetime.fromisoformat(r["published_at"] or r["first_seen"]) for r in rows]
    stamps = [s if s.tzinfo else s.replace(tzinfo=UTC) for s in stamps]
    threshold = quiet_days if quiet_days is not None else usual_gap_days(stamps)
    if threshold is None or not stamps:
        return False
    latest = max(stamps)
    now = datetime.fromisoformat(store.clock())
    silent = (now - latest).total_seconds() / 86400
    if silent <= threshold:
        return False
    already = list(
        store.db.query(
            "select 1 from events where kind = 'site_quiet' and site = ? and created_at >= ? limit 1",
            [site, latest.astimezone(UTC).isoformat(timespec="seconds")],
        )
    )
    if already:
        return False
    store.record_event(
        run_id,
        "site_quiet",
        site=site,
        detail={"reason": f"nothing new for {silent:.0f} days (usually at most {threshold:.0f})",
                "last_notice": latest.isoformat(), "threshold_days": threshold},
    )  # fmt: skip
    return True
