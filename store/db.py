"""Open and migrate the database: one SQLite file, WAL, a busy timeout, foreign keys on."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlite_utils import Database, Migrations

from store.fts import register_functions

DEFAULT_DB = "xunshi.db"
SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 30_000


class StoreError(RuntimeError):
    """The database cannot be used; the message says why and what to do."""


def default_path() -> str:
    return os.environ.get("XUNSHI_DB") or DEFAULT_DB


def check_file(path: Path) -> None:
    """Refuse, without touching it, a path that exists but is not a SQLite database.

    The file is read through SQLite, never with ``open()``: closing a descriptor of a
    database file drops every POSIX lock that this process's SQLite connections hold on
    it (sqlite.org/howtocorrupt.html, 2.2), which lets another process checkpoint and
    reset the WAL under them and corrupts the database. Only a file that SQLite has just
    called "not a database" (so no connection of ours can hold it) is read directly.
    """
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a database file")
    if not path.exists() or path.stat().st_size == 0:
        return
    if not os.access(path, os.R_OK):
        raise StoreError(f"cannot read {path}: permission denied")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") != "SQLITE_NOTADB":
            return  # locked, busy, unreadable WAL…: the real open reports it
        try:
            with path.open("rb") as fh:
                head = fh.read(len(SQLITE_MAGIC))
        except OSError as err:
            raise StoreError(f"cannot read {path}: {err.strerror}") from None
        raise StoreError(
            f"{path} is not a SQLite database (it starts with {head[:8]!r}); "
            "it was left untouched. Pass --db with another path."
        ) from None


migrations = Migrations("xunshi")


@migrations()
def m001_initial(db: Database) -> None:
    db.table("runs").create(
        {
            "id": int,
            "site": str,
            "started_at": str,
            "finished_at": str,
            "status": str,  # running | ok | failed | interrupted
            "options": str,  # JSON: start URL, full walk, …
            "pages": int,
            "notices_seen": int,
            "new": int,
            "changed": int,
            "unchanged": int,
            "not_modified": int,
            "dropped": int,
            "failed": int,
            "blocked": int,
            "error": str,
            "pid": int,
        },
        pk="id",
        defaults={
            "pages": 0,
            "notices_seen": 0,
            "new": 0,
            "changed": 0,
            "unchanged": 0,
            "not_modified": 0,
            "dropped": 0,
            "failed": 0,
            "blocked": 0,
        },  # fmt: skip
        not_null={"site", "started_at", "status"},
    )
    db.table("notices").create(
        {
            "id": int,
            "site": str,
            "key": str,  # canonical URL: host + path, scheme and mobile twin folded
            "url": str,
            "title": str,
            "published_at": str,
            "source": str,
            "unit": str,
            "first_seen": str,
            "last_seen": str,
            "last_checked": str,
            "last_changed": str,
            "removed_at": str,
            "version_count": int,
            "etag": str,
            "last_modified": str,
        },
        pk="id",
        not_null={"site", "key", "url", "first_seen"},
        defaults={"version_count": 0},
    )
    db.table("notices").create_index(["key"], unique=True)
    db.table("notices").create_index(["site", "published_at"])
    db.table("versions").create(
        {
            "id": int,
            "notice_id": int,
            "n": int,
            "text": str,
            "sha256": str,
            "title": str,
            "published_at": str,
            "source": str,
            "fetched_at": str,
            "fetched_url": str,
            "run_id": int,
            "http_status": int,
            "encoding": str,
            "headers": str,  # JSON object of the response headers
            "raw": bytes,  # the page bytes, compressed: see store.notices.page_bytes
            "raw_size": int,
            "methods": str,  # JSON: how each field was found (profile, meta, fallback…)
            "diff": str,  # unified line diff against version n-1
            "char_diff": str,  # JSON list of [op, text] for the changed lines
        },
        pk="id",
        foreign_keys=[("notice_id", "notices", "id"), ("run_id", "runs", "id")],
        not_null={"notice_id", "n", "text", "sha256", "fetched_at"},
    )
    db.table("versions").create_index(["notice_id", "n"], unique=True)
    db.table("events").create(
        {
            "id": int,
            "run_id": int,
            "created_at": str,
            "kind": str,
            "site": str,
            "notice_id": int,
            "url": str,
            "detail": str,  # JSON
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id"), ("notice_id", "notices", "id")],
        not_null={"created_at", "kind"},
    )
    db.table("events").create_index(["run_id"])
    db.table("events").create_index(["kind", "created_at"])


@migrations()
def m002_districts(db: Database) -> None:
    db.table("notices").add_column("unit_ambiguous", str)  # JSON list of unresolved names
    db.table("notice_districts").create(
        {"notice_id": int, "code": str, "name": str, "full_name": str, "level": str,
         "province": str, "city": str},
        pk=("notice_id", "code"),
        foreign_keys=[("notice_id", "notices", "id")],
    )  # fmt: skip
    db.table("notice_districts").create_index(["code"])
    db.table("districts").create(
        {"code": str, "name": str, "full_name": str, "level": str, "province": str, "city": str,
         "first_seen": str, "first_notice_id": int},
        pk="code",
        foreign_keys=[("first_notice_id", "notices", "id")],
    )  # fmt: skip


@migrations()
def m003_outbox(db: Database) -> None:
    # One row per (delivery, event): what store/deliver.py still has to hand over, and how
    # its attempts went. Sent rows are kept as the record of what went where.
    db.table("outbox").create(
        {
            "id": int,
            "delivery": str,  # the name of a [[deliveries]] table in the scheduler's config
            "event_id": int,
            "run_id": int,
            "status": str,  # pending | sent | failed (refused by the receiver; `xunshi outbox --retry`)
            "attempts": int,
            "created_at": str,
            "next_attempt_at": str,
            "last_attempt_at": str,
            "sent_at": str,
            "last_error": str,
        },
        pk="id",
        foreign_keys=[("event_id", "events", "id"), ("run_id", "runs", "id")],
        not_null={"delivery", "event_id", "status", "created_at", "next_attempt_at"},
        defaults={"attempts": 0},
    )
    db.table("outbox").create_index(["delivery", "event_id"], unique=True)
    db.table("outbox").create_index(["delivery", "status", "event_id"])
    # Which runs have been enqueued for which delivery: enqueueing happens once per run.
    db.table("outbox_runs").create(
        {"delivery": str, "run_id": int, "enqueued_at": str, "events": int},
        pk=("delivery", "run_id"),
        foreign_keys=[("run_id", "runs", "id")],
    )


# The first full-text search (m004, m005; m012_search_index replaces it): a trigram FTS5
# table with its own copy of each notice's title, unit and latest text, kept by triggers.
_FTS_SQL = (
    """CREATE VIRTUAL TABLE notices_fts USING fts5(title, unit, text, tokenize = 'trigram')""",
    """CREATE TRIGGER notices_fts_version_added AFTER INSERT ON versions
    WHEN NEW.n >= (SELECT max(n) FROM versions WHERE notice_id = NEW.notice_id)
    BEGIN
        DELETE FROM notices_fts WHERE rowid = NEW.notice_id;
        INSERT INTO notices_fts (rowid, title, unit, text)
            SELECT id, title, unit, NEW.text FROM notices WHERE id = NEW.notice_id;
    END""",
    """CREATE TRIGGER notices_fts_version_updated AFTER UPDATE OF text ON versions
    WHEN NEW.n >= (SELECT max(n) FROM versions WHERE notice_id = NEW.notice_id)
    BEGIN
        UPDATE notices_fts SET text = NEW.text WHERE rowid = NEW.notice_id;
    END""",
    """CREATE TRIGGER notices_fts_notice_updated AFTER UPDATE OF title, unit ON notices
    BEGIN
        UPDATE notices_fts SET title = NEW.title, unit = NEW.unit WHERE rowid = NEW.id;
    END""",
    """CREATE TRIGGER notices_fts_notice_deleted AFTER DELETE ON notices
    BEGIN
        DELETE FROM notices_fts WHERE rowid = OLD.id;
    END""",
    """INSERT INTO notices_fts (rowid, title, unit, text)
        SELECT n.id, n.title, n.unit, v.text FROM notices n
        JOIN versions v ON v.notice_id = n.id
        WHERE v.n = (SELECT max(n) FROM versions WHERE notice_id = n.id)""",
)


# m006_bigram_search as it ran (m012_search_index drops it). A contentless table, so a row
# is removed with FTS5's 'delete' command, which needs the values that were indexed: BEFORE
# triggers take them from notices_fts while it still holds them, AFTER triggers index the
# new values.
_OLD_BIGRAM_INDEX = (
    "SELECT rowid, xunshi_bigrams(title), xunshi_bigrams(unit), xunshi_bigrams(text)"
)
_IS_LATEST = "NEW.n >= (SELECT coalesce(max(n), 0) FROM versions WHERE notice_id = NEW.notice_id)"
_BIGRAM_SQL = (
    """CREATE VIRTUAL TABLE notices_bigrams USING fts5(title, unit, text, content = '')""",
    f"""CREATE TRIGGER notices_bigrams_version_adding BEFORE INSERT ON versions
    WHEN {_IS_LATEST}
    BEGIN
        INSERT INTO notices_bigrams (notices_bigrams, rowid, title, unit, text)
            SELECT 'delete', {_OLD_BIGRAM_INDEX[7:]} FROM notices_fts WHERE rowid = NEW.notice_id;
    END""",
    f"""CREATE TRIGGER notices_bigrams_version_added AFTER INSERT ON versions
    WHEN {_IS_LATEST}
    BEGIN
        INSERT INTO notices_bigrams (rowid, title, unit, text)
            SELECT id, xunshi_bigrams(title), xunshi_bigrams(unit),
                xunshi_bigrams(NEW.text) FROM notices WHERE id = NEW.notice_id;
    END""",
    f"""CREATE TRIGGER notices_bigrams_version_updating BEFORE UPDATE OF text ON versions
    WHEN {_IS_LATEST}
    BEGIN
        INSERT INTO notices_bigrams (notices_bigrams, rowid, title, unit, text)
            SELECT 'delete', {_OLD_BIGRAM_INDEX[7:]} FROM notices_fts WHERE rowid = NEW.notice_id;
    END""",
    f"""CREATE TRIGGER notices_bigrams_version_updated AFTER UPDATE OF text ON versions
    WHEN {_IS_LATEST}
    BEGIN
        INSERT INTO notices_bigrams (rowid, title, unit, text)
            SELECT id, xunshi_bigrams(title), xunshi_bigrams(unit),
                xunshi_bigrams(NEW.text) FROM notices WHERE id = NEW.notice_id;
    END""",
    f"""CREATE TRIGGER notices_bigrams_notice_updating BEFORE UPDATE OF title, unit ON notices
    WHEN OLD.title IS NOT NEW.title OR OLD.unit IS NOT NEW.unit
    BEGIN
        INSERT INTO notices_bigrams (notices_bigrams, rowid, title, unit, text)
            SELECT 'delete', {_OLD_BIGRAM_INDEX[7:]} FROM notices_fts WHERE rowid = NEW.id;
    END""",
    """CREATE TRIGGER notices_bigrams_notice_updated AFTER UPDATE OF title, unit ON notices
    WHEN OLD.title IS NOT NEW.title OR OLD.unit IS NOT NEW.unit
    BEGIN
        INSERT INTO notices_bigrams (rowid, title, unit, text)
            SELECT rowid, xunshi_bigrams(NEW.title), xunshi_bigrams(NEW.unit),
                xunshi_bigrams(text) FROM notices_fts WHERE rowid = NEW.id;
    END""",
    f"""CREATE TRIGGER notices_bigrams_notice_deleting BEFORE DELETE ON notices
    BEGIN
        INSERT INTO notices_bigrams (notices_bigrams, rowid, title, unit, text)
            SELECT 'delete', {_OLD_BIGRAM_INDEX[7:]} FROM notices_fts WHERE rowid = OLD.id;
    END""",
    f"""INSERT INTO notices_bigrams (rowid, title, unit, text) {_OLD_BIGRAM_INDEX} FROM notices_fts""",
)


@migrations()
def m004_fts(db: Database) -> None:
    for statement in _FTS_SQL:
        db.execute(statement)


@migrations()
def m005_fts_reindex_only_on_change(db: Database) -> None:
    # Updating a notice's row (last_seen, validators, an unchanged unit) re-tokenised its
    # whole text: a third of a crawl's CPU. Only a real change of title or unit does now.
    db.execute("DROP TRIGGER IF EXISTS notices_fts_notice_updated")
    db.execute(
        """CREATE TRIGGER notices_fts_notice_updated AFTER UPDATE OF title, unit ON notices
        WHEN OLD.title IS NOT NEW.title OR OLD.unit IS NOT NEW.unit
        BEGIN
            UPDATE notices_fts SET title = NEW.title, unit = NEW.unit WHERE rowid = NEW.id;
        END"""
    )


@migrations()
def m006_runs_skipped(db: Database) -> None:
    # Links a list page showed that could not be followed: counted per run (issue 17).
    db.table("runs").add_column("skipped", int, not_null_default=0)


@migrations()
def m006_bigram_search(db: Database) -> None:
    # A second full-text index that finds Chinese words of two characters (巡视, 鄞州) from
    # Datasette's search box. Its triggers call a SQL function that open_db registers on
    # every connection. (Replaced by m012_search_index; kept as it ran.)
    register_functions(db.conn)
    for statement in _BIGRAM_SQL:
        db.execute(statement)


@migrations()
def m007_browse_views(db: Database) -> None:
    # Views made for people (`xunshi serve`): notices, changes, new districts, coverage, timeline.
    from store import datasette

    datasette.create_views(db)


@migrations()
def m008_crawls(db: Database) -> None:
    # A crawl is every run started together (one `xunshi crawl`, one scheduler pass, the
    # demo's rounds): reports with no option cover the latest crawl, every site in it.
    db.table("runs").add_column("crawl", str)
    db.execute("UPDATE runs SET crawl = 'run-' || id WHERE crawl IS NULL")
    db.table("runs").create_index(["crawl"])


@migrations()
def m009_facts(db: Database) -> None:
    # What each version of a notice states (crawler/facts.py): one row per version and key,
    # the value as found (a number or text) and the sentence it came from; a key the text
    # does not state plainly has no row. notice_facts: one wide row per notice, its latest
    # version's facts (for Datasette). Versions stored before this migration are read now.
    from store.facts import create_facts_schema, fill_facts

    create_facts_schema(db)
    fill_facts(db)


@migrations()
def m010_notice_places(db: Database) -> None:
    # notice_places (districts, provinces, cities per notice, kept by triggers) and an index
    # on notices.published_at, so that the views page, count and facet tens of thousands of
    # notices quickly; recreates the views of m007 on them.
    from store import datasette

    datasette.create_views(db)


@migrations()
def m011_outbox_uid(db: Database) -> None:
    # Each outbox row gets its own random id: what file targets write beside each event
    # to know, after a crash, what they already wrote. Event ids are not enough: a
    # database recreated or restored from a backup gives its new events the same ids.
    # (A database made on the deliver branch before the merge has the column as m010.)
    if "uid" not in db.table("outbox").columns_dict:
        db.execute("ALTER TABLE outbox ADD COLUMN uid TEXT")
    db.execute("UPDATE outbox SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL")
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS idx_outbox_uid ON outbox (uid)")


RECOVER_HINT = (
    "To recover: stop every xunshi process, then either restore a backup of the file, or "
    "salvage what is readable with `sqlite3 {path} .recover | sqlite3 {path}.recovered` and "
    "use the .recovered file (check it with `sqlite3 FILE 'pragma integrity_check'`)."
)


class Db(Database):
    """A sqlite-utils Database that knows whether it was opened read-only, and its file."""

    read_only: bool = False
    path: Path | None = None
    checked_at: float = 0.0  # when a full quick_check last found the file sound (epoch s)

    def close(self) -> None:
        super().close()
        if not self.read_only and self.path is not None:
            mark_sound(self.path, self.checked_at)


# -- the integrity check at open ----------------------------------------------------------------
#
# PRAGMA quick_check reads the whole file: minutes on a database of many GB, on every
# command. It is skipped when the file is exactly as a xunshi writer left it at a clean
# close (size, mtime, inode, recorded beside it in <db>-checked, and no WAL left over) and
# a full check found it sound less than RECHECK_DAYS ago: only SQLite's own transactions
# have touched it since. Anything else (a crash, a copy, another program writing it: any
# write moves the mtime) runs the full check at once; damage that no write made (a failing
# disk) is found by the weekly check, or when SQLite reads the page (a clear error, and
# the transaction that read it changes nothing).
RECHECK_DAYS = 7


def _checked_path(p: Path) -> Path:
    return p.with_name(p.name + "-checked")


def _file_state(p: Path) -> dict[str, int] | None:
    try:
        st = p.stat()
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino, "dev": st.st_dev}


def _wal_left(p: Path) -> bool:
    wal = p.with_name(p.name + "-wal")
    try:
        return wal.stat().st_size > 0
    except OSError:
        return False


def _left_sound(p: Path) -> float | None:
    """When the last full check found ``p`` sound, if the file is still exactly as the
    writer after it left it and that was less than RECHECK_DAYS ago; else None."""
    if _wal_left(p):
        return None
    try:
        recorded = json.loads(_checked_path(p).read_text(encoding="utf-8"))
        checked = float(recorded.pop("checked_at"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if recorded != _file_state(p) or time.time() - checked > RECHECK_DAYS * 86400:
        return None
    return checked


def mark_sound(p: Path, checked_at: float) -> None:
    """After a writer's clean close: record the file's state, unless another connection left
    a WAL behind (the file may still change: the next open checks it)."""
    state = _file_state(p)
    target = _checked_path(p)
    try:
        if state is None or not checked_at or _wal_left(p):
            target.unlink(missing_ok=True)
            return
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps({**state, "checked_at": checked_at}), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        pass  # a read-only folder: the next open checks the file


def _check(conn: sqlite3.Connection, p: Path) -> tuple[str | None, float]:
    """What is wrong with the file (None: sound), and when it was last found sound."""
    checked = _left_sound(p)
    if checked is not None:
        return None, checked
    damage = _damage(conn)
    return damage, 0.0 if damage else time.time()


def process_alive(pid: Any, started_at: str | None = None) -> bool:
    """Whether the process ``pid`` that started a run at ``started_at`` still runs.

    A pid the system has since given to a newer process (one started after the run) counts
    as gone. An unknown pid (None) is taken as alive: nothing says it ended.
    """
    if pid is None:
        return True
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if _zombie(pid):
        return False  # killed, not yet reaped by its parent
    if started_at:
        began = _process_start(pid)
        try:
            run_start = datetime.fromisoformat(started_at).timestamp()
        except ValueError:
            return True
        if began is not None and began > run_start + 5:
            return False  # the pid was reused by a later process
    return True


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except (OSError, IndexError):
        return False


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (Linux /proc; None elsewhere or when unreadable)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        ticks = int(stat.rsplit(")", 1)[1].split()[19])
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _is_ours(conn: sqlite3.Connection) -> bool | None:
    """True for a xunshi database, None for an empty one (no tables), False otherwise."""
    tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    if not tables:
        return None
    if "_sqlite_migrations" not in tables:
        return False
    row = conn.execute(
        "select count(*) from _sqlite_migrations where migration_set = ?", [migrations.name]
    ).fetchone()
    return bool(row and row[0])


def _damage(conn: sqlite3.Connection) -> str | None:
    """What quick_check finds wrong with the file, or None when it is sound."""
    rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
    return None if rows == ["ok"] else "; ".join(str(r) for r in rows)


@migrations()
def m010_site_state(db: Database) -> None:
    # Per site: the 巡视整改 list that discovery found (crawler/discover.py), kept so the
    # next crawl starts there; store/sites.py is the only writer.
    db.table("site_state").create(
        {"site": str, "list_url": str, "family": str, "found_by": str, "found_at": str,
         "checked_at": str, "failures": int, "last_error": str},
        pk="site",
        defaults={"failures": 0},
    )  # fmt: skip


@migrations()
def m011_query_in_notice_keys(db: Database) -> None:
    # A notice's key keeps the query parameters that identify a page (show.asp?id=8879)
    # and drops tracking ones (crawler/items.py canonical_url): re-key stored notices
    # from their URL. Keys that were host + path stay the same for ordinary pages.
    from crawler.items import canonical_url

    table = db.table("notices")
    for row in list(db.query("select id, key, url from notices")):
        key = canonical_url(row["url"])
        if key != row["key"] and not list(table.rows_where("key = ?", [key])):
            table.update(row["id"], {"key": key})


@migrations()
def m012_search_index(db: Database) -> None:
    # One small search index instead of two big ones (issue 16): the trigram table and its
    # copy of every latest text (62 KB per notice with the bigram table) give way to
    # notices_bigrams, a detail=none FTS5 index of character pairs over the view
    # notices_fts, which reads the latest text from versions (store/fts.py). Every stored
    # notice is indexed here; the freed pages are reused (VACUUM shrinks the file).
    from store import fts

    fts.register_functions(db.conn)
    for statement in (*fts.OLD_OBJECTS, *fts.SEARCH_SQL):
        db.execute(statement)


@migrations(transactional=False)
def m013_compressed_versions(db: Database) -> None:
    # Raw pages as zstd against a per-site dictionary plus the page's own text, older
    # versions' pages and texts as zstd deltas against their successor's, the latest text
    # plain (store/compress.py, docs/storage.md). Converts stored rows in place, a batch of
    # notices per transaction (re-run after an interruption: converted notices are
    # skipped), checking that every page and text reads back byte for byte.
    import sys

    from store import compress

    compress.create_schema(db)
    todo = compress.notices_to_convert(db)
    total = len(todo)
    shown = total >= compress.PROGRESS_FROM

    def progress(done: int, of: int) -> None:
        if shown:
            print(f"xunshi: compressing stored versions: {done}/{of} notices", file=sys.stderr)

    if shown:
        print(f"xunshi: upgrading the database: compressing {total} notices' versions "
              "(once; it can be interrupted and resumed)", file=sys.stderr)  # fmt: skip
    compress.convert_database(db, progress=progress, transaction=write_transaction, todo=todo)
    if shown:
        print("xunshi: done; new data reuses the space freed (`sqlite3 FILE VACUUM` returns it "
              "to the disk, when nothing else uses the file)", file=sys.stderr)  # fmt: skip


@migrations()
def m014_change_costs(db: Database) -> None:
    # What a version that changes a few characters costs (issue 16). The search index: a
    # notice that changes stays in it until its batch is indexed, and then only the tokens
    # it lost and gained are written (none when no pair of characters is new), not its
    # whole document out and in again (11 KB a change); notices_search_pending.delta
    # holds them (store/fts.py). The facts: a row covers a run of versions
    # (facts.last_version), so a new version that states a fact as the one before extends
    # its row instead of copying it (store/facts.py). Both convert nothing: the index and
    # every row stay as they are, and read back the same.
    from store import fts
    from store.facts import create_fact_ranges

    fts.register_functions(db.conn)
    for statement in fts.DELTA_SQL:
        db.execute(statement)
    create_fact_ranges(db)


@migrations()
def m015_search_tokenizer(db: Database) -> None:
    # The search index cut by FTS5's 'ascii' tokenizer instead of 'unicode61' (issue 16):
    # its documents are lower-cased letters and digits between single spaces already, and
    # unicode61's look-ups in Unicode's tables cost about 0.15 ms per new notice
    # (store/fts.py TOKENIZER). The index is made again from its content view, which gives
    # what it must hold for every notice; searches find the same notices.
    import sys

    from store import compress, fts

    fts.register_functions(db.conn)
    total = db.execute("SELECT count(*) FROM notices").fetchone()[0]
    if total >= compress.PROGRESS_FROM:
        print(f"xunshi: upgrading the database: re-indexing {total} notices for search "
              "(once)", file=sys.stderr)  # fmt: skip
    for statement in fts.TOKENIZER_SQL:
        db.execute(statement)


def open_db(
    path: str | os.PathLike[str] | None = None, *, create: bool = True, write: bool | None = None
) -> Database:
    """Open the database at ``path``; raise StoreError, with what to do, if it is unusable.

    ``create=True`` (crawl, schedule, demo: the writers) creates and migrates it.
    ``create=False`` (every read command) opens it read-only and changes nothing: a
    missing, empty or foreign file, or one from an older version, is refused untouched;
    a read-only file or folder can still be read. ``write=True`` with ``create=False``
    writes to a database that must exist already (``outbox --retry``).
    """
    p = Path(path or default_path())
    check_file(p)
    if not (create or write):
        return _open_read_only(p)
    if not create and (not p.exists() or p.stat().st_size == 0):
        raise StoreError(f"no database at {p}: run `xunshi crawl` first, or pass --db")
    if not p.parent.exists():
        raise StoreError(f"folder {p.parent} does not exist")
    # SQLite in WAL mode writes the file and creates -wal/-shm beside it.
    if p.exists() and not os.access(p, os.W_OK):
        raise StoreError(f"{p} is read-only: cannot record anything in it")
    if not os.access(p.parent, os.W_OK):
        raise StoreError(f"folder {p.parent} is read-only: cannot write the database there")
    try:
        conn = sqlite3.connect(str(p), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 30000")  # = BUSY_TIMEOUT_MS
        register_functions(conn)  # the bigram index's triggers call it (store/fts.py)
        if _is_ours(conn) is False:
            conn.close()
            raise StoreError(
                f"{p} is a SQLite database of something else (no xunshi tables); it was left "
                "untouched. Pass --db with another path."
            )
        damage, checked_at = _check(conn, p)
        if damage:
            conn.close()
            raise StoreError(
                f"{p} is damaged ({damage}); nothing was written to it. "
                + RECOVER_HINT.format(path=p)
            )
        with contextlib.suppress(OSError):
            _checked_path(p).unlink(missing_ok=True)  # it changes from here on
        conn.execute("PRAGMA foreign_keys = ON")
        # With WAL, NORMAL never corrupts the database; a power cut may lose the last
        # commits, which the next crawl fetches again. It halves the cost of a commit.
        conn.execute("PRAGMA synchronous = NORMAL")
        db = Db(conn)
        db.path, db.checked_at = p, checked_at
        if db.journal_mode != "wal":
            with contextlib.suppress(sqlite3.OperationalError):
                db.enable_wal()  # a read-only file keeps its mode
        if migrations.pending(db):
            migrations.apply(db)
    except sqlite3.DatabaseError as exc:
        raise _db_error(p, exc, "nothing was written to it") from None
    return db


def _open_read_only(p: Path) -> Db:
    if not p.exists():
        raise StoreError(f"no database at {p}: run `xunshi crawl` first, or pass --db")
    if p.stat().st_size == 0:
        raise StoreError(
            f"{p} is empty (0 bytes), not a xunshi database; it was left untouched. "
            "`xunshi crawl --db` creates one."
        )
    uri = "file:" + quote(str(p.resolve())) + "?mode=ro"
    last: sqlite3.Error | None = None
    # mode=ro reads through the WAL; a folder nobody may write (no -shm possible) needs
    # immutable=1, which reads the main file alone.
    for suffix in ("", "&immutable=1"):
        try:
            conn = sqlite3.connect(uri + suffix, uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None)  # fmt: skip
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA query_only = 1")
            register_functions(conn)  # what the search index's SQL calls (store/fts.py)
            ours = _is_ours(conn)
            break
        except sqlite3.OperationalError as exc:
            last = exc
            if getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
                # Busy means a writer is at work: immutable=1 would read the main file
                # without its WAL, a torn view of a live database. Say so instead.
                raise StoreError(
                    f"the database {p} stayed busy for {BUSY_TIMEOUT_MS // 1000} s (a crawl "
                    "writing?); try again in a moment"
                ) from None
            continue
        except sqlite3.DatabaseError as exc:
            raise _db_error(p, exc, "it was left untouched") from None
    else:
        raise StoreError(f"cannot read the database {p}: {last}")
    try:
        if not ours:
            raise StoreError(
                f"{p} is not a xunshi database (it holds "
                f"{'no tables' if ours is None else 'tables of something else'}); "
                "it was left untouched. Pass --db with another path."
            )
        db = Db(conn)
        db.read_only = True
        pending = migrations.pending(db)
        if pending:
            raise StoreError(
                f"{p} was made by an older xunshi-watch ({len(pending)} upgrade(s) pending); "
                "read commands change nothing: run `xunshi crawl` to upgrade it first"
            )
        damage, _ = _check(conn, p)
        if damage:
            raise StoreError(
                f"{p} is damaged ({damage}); it was left untouched. " + RECOVER_HINT.format(path=p)
            )
    except StoreError:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise _db_error(p, exc, "it was left untouched") from None
    return db


def _db_error(p: Path, exc: sqlite3.DatabaseError, what: str) -> StoreError:
    """A database error as the user reads it; a damaged file says how to recover."""
    message = str(exc)
    if "malformed" in message or "not a database" in message or "corrupt" in message:
        return StoreError(f"{p} is damaged ({message}); {what}. " + RECOVER_HINT.format(path=p))
    return StoreError(f"cannot use the database {p}: {message}")


@contextlib.contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """One write transaction, taking the write lock at once so concurrent writers queue."""
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield db
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")
