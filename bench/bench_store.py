"""Store throughput and size: Store.record rates (new, unchanged, changed) at growing sizes.

Run from the repo root: ``.venv/bin/python bench/bench_store.py [--n N]``.

The database is built in-process through store.notices.Store.record (text, raw page bytes,
diff, district matching, events, and whatever triggers the schema has) with
crawler.items.Notice objects built from seed 000 and 60-120 KB pages (bench/_common.py),
no HTTP. Sizes measured: 1k, 10k and 100k stored versions, up to ``--n`` (default 10,000:
the 100k case needs ``--n 100000``; see docs/performance.md for its time). One notice
is given 20 versions first (the history query); after that every 10th record changes a
random stored notice. The build commits 200 records per transaction to save fsyncs;
each measured record commits alone, as the crawl's pipeline does. Up to 10,000 versions
(``--bulk-above``) every record goes through the schema's FTS triggers; beyond that the
triggers are suspended while building and the FTS index is rebuilt in one statement (the
migration's backfill), because each trigger-maintained record costs 10-60 ms and 100k of
them would take hours; the measured records run with the triggers back in place.

At each size: notices recorded per second (new, unchanged, changed; 200 each), database
size per version, one notice's history, and text search (store/fts.py's FTS5 trigram index
when the schema has one; a LIKE scan over versions.text in any case). Then zlib (what the
store uses: level 6) against zstd (backports.zstd, a Scrapy dependency) on the raw pages.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402

from crawler.items import Notice  # noqa: E402
from store.notices import Store  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
BATCH = 200
BUILD_TXN = 200
HISTORY_VERSIONS = 20
DIAG_SIZE = 500
BASE_URL = "http://www.zjsjw.gov.cn"


# ------------------------------------------------------------------------------ notices


def notice_date(i: int) -> date:
    return date(2010, 1, 1) + timedelta(days=(i * 37) % 5500)


def make_notice(i: int, version: int = 1) -> Notice:
    """Notice i as the spider yields it after the normalise pipeline; version > 1 edits it."""
    gen, html = common.article_page(i, notice_date(i))
    text = gen.expected
    if version > 1:
        old, new = f"通报编号{i}", f"通报编号{i}(第{version}次更正)"
        text = text[: text.rfind(old)] + new
        html = html.replace(f"　　{old}</p>", f"　　{new}</p>")
        # and one figure in the body, as a real correction does
        text = text.replace("人次", f"人次({version})", 1)
        html = html.replace("人次", f"人次({version})", 1)
    raw = html.encode("utf-8")
    lines = text.split("\n")
    day = notice_date(i)
    return Notice(
        site="zjsjw",
        url=BASE_URL + gen.path,
        title=gen.title,
        published_at=f"{day.isoformat()}T09:{i % 60:02d}:00+08:00",
        source=common.sitegen.SOURCE,
        paragraphs=lines[1:],
        header=lines[0],
        raw=raw,
        encoding="utf-8",
        status=200,
        headers={"content-type": "text/html", "etag": '"' + hashlib.sha1(raw).hexdigest()[:16] + '"',
                 "last-modified": "Mon, 01 Jan 2024 00:00:00 GMT"},  # fmt: skip
        fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
        methods={"body": "profile", "title": "profile", "published": "profile", "source": "profile"},
        province="浙江省",
        text=text,
    )


def unseen_text_page(i: int) -> bytes:
    """A 60-120 KB page of the generated site whose body is seed 002's text, not seed 000's."""
    lines = (common.REPO.parent / "shared/seeds/002_750c7fecf357e703.txt").read_text(
        encoding="utf-8").split("\n")  # fmt: skip
    html = common.sitegen.article_html(f"关于巡视整改进展情况的通报({i})", "2024-01-01 09:00", lines)
    return common.add_markup(html, i, common.page_size(i)).encode("utf-8")


class Corpus:
    """What is stored: notice i has versions[i] versions."""

    def __init__(self, store: Store, seed: int = 7) -> None:
        self.store = store
        self.versions: dict[int, int] = {}
        self.rng = random.Random(seed)
        self.next_id = 0
        self.total = 0

    def new(self) -> Notice:
        i = self.next_id
        self.next_id += 1
        self.versions[i] = 1
        self.total += 1
        return make_notice(i)

    def changed(self, i: int | None = None) -> Notice:
        i = self.rng.randrange(self.next_id) if i is None else i
        self.versions[i] += 1
        self.total += 1
        return make_notice(i, self.versions[i])

    def unchanged(self) -> Notice:
        i = self.rng.randrange(self.next_id)
        return make_notice(i, self.versions[i])

    def grow_to(self, target: int, *, bulk: bool = False) -> float:
        """Record until ``target`` versions are stored; return the seconds it took.

        ``bulk``: suspend the FTS triggers while recording, then rebuild notices_fts with
        the migration's own backfill statement (the same rows the triggers would write, in
        one transaction) and restore the triggers.
        """
        started = time.perf_counter()
        suspended = suspend_fts(self.store.db) if bulk else None
        self._record_until(target)
        if suspended is not None:
            restore_fts(self.store.db, suspended)
        return time.perf_counter() - started

    def _record_until(self, target: int) -> None:
        conn = self.store.db.conn
        pending = 0
        while self.total < target:
            if pending == 0:
                conn.execute("BEGIN IMMEDIATE")
            if self.total == 0:
                notice = self.new()
            elif self.versions.get(0, 0) < HISTORY_VERSIONS:
                notice = self.changed(0)
            elif self.total % 10 == 0:
                notice = self.changed()
            else:
                notice = self.new()
            self.store.record(notice)
            pending += 1
            if pending == BUILD_TXN or self.total >= target:
                conn.execute("COMMIT")
                pending = 0


FTS_BACKFILL = """INSERT INTO notices_fts (rowid, title, unit, text)
        SELECT n.id, n.title, n.unit, v.text FROM notices n
        JOIN versions v ON v.notice_id = n.id
        WHERE v.n = (SELECT max(n) FROM versions WHERE notice_id = n.id)"""


def suspend_fts(db: Any) -> tuple[str, list[str]] | None:
    """Drop the notices_fts triggers; return the table's and the triggers' SQL."""
    table = db.execute("select sql from sqlite_master where name = 'notices_fts'").fetchone()
    if table is None:
        return None
    triggers = db.execute(
        "select name, sql from sqlite_master where type = 'trigger' and sql like '%notices_fts%'"
    ).fetchall()
    for name, _ in triggers:
        db.execute(f'drop trigger "{name}"')
    return table[0], [sql for _, sql in triggers]


def restore_fts(db: Any, saved: tuple[str, list[str]]) -> None:
    """Recreate notices_fts from scratch, fill it as migration m004 does, restore the triggers."""
    try:
        from store.db import _FTS_SQL

        backfill = next(s for s in _FTS_SQL if s.lstrip().upper().startswith("INSERT INTO NOTICES_FTS"))
    except (ImportError, StopIteration):
        backfill = FTS_BACKFILL
    table_sql, triggers = saved
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DROP TABLE notices_fts")
    conn.execute(table_sql)
    conn.execute(backfill)
    for sql in triggers:
        conn.execute(sql)
    conn.execute("COMMIT")


def measure(store: Store, make: Callable[[], Notice], expect: str) -> list[float]:
    """Seconds of each Store.record call (one transaction each, as in a crawl)."""
    notices = [make() for _ in range(BATCH)]
    samples = []
    for notice in notices:
        start = time.perf_counter()
        outcome = store.record(notice).outcome
        samples.append(time.perf_counter() - start)
        if outcome != expect:
            raise AssertionError(f"expected {expect}, got {outcome}")
    return samples


# ------------------------------------------------------------------------------ queries


def time_query(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median ms of ``runs`` calls (after one warm-up) and the last result."""
    result = fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return common.median(samples), result


def has_table(db: Any, name: str) -> bool:
    return bool(db.execute("select 1 from sqlite_master where name = ?", [name]).fetchall())


def queries(store: Store, corpus: Corpus, size: int) -> list[list[Any]]:
    db = store.db
    rows: list[list[Any]] = []
    notice0 = store.find_notice(make_notice(0).url)
    assert notice0 is not None
    nid = notice0["id"]

    def history() -> list[Any]:
        return db.execute(
            "select n, fetched_at, sha256, diff, char_diff from versions where notice_id = ? order by n",
            [nid],
        ).fetchall()

    ms, result = time_query(history, 200)
    rows.append([size, f"history of one notice ({len(result)} versions: n, time, diffs)", len(result), ms])
    ms, _ = time_query(lambda: store.latest_version(nid), 200)
    rows.append([size, "Store.latest_version (select * incl. raw)", 1, ms])

    probe = corpus.next_id // 2
    term = f"通报编号{probe}"
    if has_table(db, "notices_fts"):
        from store import fts

        for label, query, runs in (
            (f"FTS search, rare term ({term})", term, 20),
            ("FTS search, common term (巡视整改, top 50 by rank)", "巡视整改", 3),
            ("FTS search, 2-char term (巡视: instr scan, top 50)", "巡视", 3),
        ):
            ms, hits = time_query(lambda q=query: fts.search(db, q, limit=50), runs)
            rows.append([size, label, len(hits), ms])
    else:
        rows.append([size, "FTS search: no notices_fts table in this schema", "-", "-"])
    like = f"%{term}%"
    ms, result = time_query(
        lambda: db.execute("select count(*) from versions where text like ?", [like]).fetchone(), 2
    )
    rows.append([size, f"LIKE scan of versions.text ({term})", result[0], ms])
    return rows


def size_rows(store: Store, db_path: Path, size: int) -> list[list[Any]]:
    db = store.db
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    versions = db.execute("select count(*) from versions").fetchone()[0]
    notices = db.execute("select count(*) from notices").fetchone()[0]
    file_bytes = db_path.stat().st_size
    raw, text, raw_size = db.execute(
        "select avg(length(raw)), avg(length(cast(text as blob))), avg(raw_size) from versions"
    ).fetchone()
    rows = [[size, "whole file", versions, notices, file_bytes / 1e6, file_bytes / versions / 1000]]
    try:
        parts = db.execute(
            "select name, sum(pgsize) from dbstat group by 1 order by 2 desc"
        ).fetchall()
    except sqlite3.OperationalError:
        parts = []
    for name, pages in parts[:5]:
        rows.append([size, f"  table/index {name}", "", "", pages / 1e6, pages / versions / 1000])
    rows.append([size, f"  versions.raw (zlib 6 of {raw_size / 1000:.0f} KB pages)", "", "", "",
                 raw / 1000])  # fmt: skip
    rows.append([size, "  versions.text (UTF-8, uncompressed)", "", "", "", text / 1000])
    return rows


# ------------------------------------------------------------------------- compression


def compression_rows(pages: list[bytes], train: list[bytes] | None) -> list[list[Any]]:
    from backports import zstd

    total = sum(map(len, pages))
    dictionary = zstd.train_dict(train, 112_640) if train else None

    def z(level: int, zdict: Any = None) -> tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]:
        return (lambda b: zstd.compress(b, level=level, zstd_dict=zdict),
                lambda b: zstd.decompress(b, zstd_dict=zdict))  # fmt: skip

    codecs: list[tuple[str, Callable[[bytes], bytes], Callable[[bytes], bytes]]] = [
        ("zlib level 6 (today)", lambda b: zlib.compress(b, 6), zlib.decompress),
        ("zlib level 1", lambda b: zlib.compress(b, 1), zlib.decompress),
        ("zlib level 9", lambda b: zlib.compress(b, 9), zlib.decompress),
        ("zstd level 3 (default)", *z(3)),
        ("zstd level 9", *z(9)),
        ("zstd level 19", *z(19)),
    ]
    if dictionary is not None:
        codecs += [("zstd level 3 + 110 KB dictionary", *z(3, dictionary)),
                   ("zstd level 9 + 110 KB dictionary", *z(9, dictionary))]  # fmt: skip
    rows = []
    for label, compress, decompress in codecs:
        start = time.perf_counter()
        packed = [compress(p) for p in pages]
        c_s = time.perf_counter() - start
        start = time.perf_counter()
        for p in packed:
            decompress(p)
        d_s = time.perf_counter() - start
        size = sum(map(len, packed))
        rows.append([label, size / total, size / len(pages) / 1000, total / c_s / 1e6,
                     c_s / len(pages) * 1e6, total / d_s / 1e6])  # fmt: skip
    return rows


# --------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000,
                        help="largest database, in stored versions (default 10,000; 100,000 for the full case)")  # fmt: skip
    parser.add_argument("--dir", type=Path, help="where to put the database (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--bulk-above", type=int, default=10_000,
                        help="grow beyond this many versions with the FTS triggers suspended and "
                             "the index rebuilt after (default 10,000; 0: always)")  # fmt: skip
    args = parser.parse_args()
    sizes = [s for s in SIZES if s <= args.n] or [args.n]
    if args.n not in sizes and args.n > sizes[-1]:
        sizes.append(args.n)

    common.header(f"store: Store.record in-process at {', '.join(f'{s:,}' for s in sizes)} stored versions")
    rate_rows: list[list[Any]] = []
    sizes_out: list[list[Any]] = []
    query_rows: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-store-", dir=args.dir) as tmp:
        db_path = Path(tmp) / "store.db"
        store = Store.open(db_path)
        schema = store.db.execute(
            "select name from sqlite_master where type in ('table', 'trigger') "
            "and name not like 'sqlite%' and name not like 'notices_fts_%' order by type, name"
        ).fetchall()
        print(f"# schema: {', '.join(r[0] for r in schema)}")
        corpus = Corpus(store)
        clock = common.Stopwatch()
        for size in sizes:
            bulk = size > args.bulk_above
            build_s = corpus.grow_to(size, bulk=bulk)
            print(f"# built up to {size:,} versions ({corpus.next_id:,} notices) in {build_s:.0f} s"
                  f"{' (bulk: FTS index rebuilt after)' if bulk else ''} (total {clock.seconds():.0f} s)",
                  flush=True)  # fmt: skip
            sizes_out += size_rows(store, db_path, size)
            query_rows += queries(store, corpus, size)
            for kind, make in (("new", corpus.new), ("unchanged", corpus.unchanged),
                               ("changed", corpus.changed)):  # fmt: skip
                samples = measure(store, make, kind)
                rate_rows.append([size, kind, len(samples), len(samples) / sum(samples),
                                  common.median(samples) * 1e3, common.percentile(samples, 0.95) * 1e3])  # fmt: skip
            print(f"# measured at {size:,} (total {clock.seconds():.0f} s)", flush=True)
        store.close()
        if args.keep:
            kept = Path.cwd() / "bench-store.db"
            db_path.rename(kept)
            print(f"# kept the database as {kept}")

    # Diagnostic: the same records into a fresh database without the FTS triggers, and with
    # synchronous=NORMAL, to show where the time of a record goes.
    diag: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-store-diag-", dir=args.dir) as tmp:
        for label, setup in (
            ("schema as is", []),
            ("FTS triggers dropped", ["drop trigger if exists notices_fts_version_added",
                                      "drop trigger if exists notices_fts_version_updated",
                                      "drop trigger if exists notices_fts_notice_updated"]),
            ("FTS triggers dropped + synchronous=NORMAL",
             ["drop trigger if exists notices_fts_version_added",
              "drop trigger if exists notices_fts_version_updated",
              "drop trigger if exists notices_fts_notice_updated", "PRAGMA synchronous=NORMAL"]),
        ):  # fmt: skip
            store = Store.open(Path(tmp) / f"{len(diag)}.db")
            for sql in setup:
                store.db.execute(sql)
            corpus = Corpus(store)
            corpus.grow_to(DIAG_SIZE)
            for kind, make in (("new", corpus.new), ("unchanged", corpus.unchanged),
                               ("changed", corpus.changed)):  # fmt: skip
                samples = measure(store, make, kind)
                diag.append([label, kind, len(samples) / sum(samples), common.median(samples) * 1e3])
            store.close()

    # Every generated notice carries seed 000's body, so a dictionary trained on them would
    # hold the text of the pages it is tested on. Train on seed-000 pages, test on pages
    # that carry seed 002's body instead: only the site's template is shared, as on a real
    # site where each notice's text is new.
    rng = random.Random(3)
    ids = rng.sample(range(100_000), 500)
    pages = [unseen_text_page(i) for i in ids[:300]]
    train = [make_notice(i).raw for i in ids[300:]]
    recorded = [p.read_bytes() for p in (common.REPO / "tests/sites").rglob("*.*htm*")]

    print("\n## Store.record rates (one transaction per record)")
    common.print_table(["versions stored", "record", "runs", "per second", "median ms", "p95 ms"],
                       rate_rows)  # fmt: skip
    print(f"\n## Where a record's time goes ({DIAG_SIZE:,} versions, fresh database each)")
    common.print_table(["database", "record", "per second", "median ms"], diag)
    print("\n## Database size")
    common.print_table(["versions stored", "what", "versions", "notices", "MB", "KB per version"],
                       sizes_out)  # fmt: skip
    print("\n## Queries (median ms)")
    common.print_table(["versions stored", "query", "rows", "median ms"], query_rows)
    print(f"\n## Raw page compression: {len(pages)} generated pages (60-120 KB; zstd dictionary "
          f"trained on {len(train)} other pages of the same site, with other texts)")  # fmt: skip
    common.print_table(["codec", "ratio", "KB per page", "compress MB/s", "µs per page",
                        "decompress MB/s"], compression_rows(pages, train))  # fmt: skip
    print(f"\n## The same on the {len(recorded)} recorded pages of tests/sites (10-44 KB, two sites)")
    common.print_table(["codec", "ratio", "KB per page", "compress MB/s", "µs per page",
                        "decompress MB/s"], compression_rows(recorded, None))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
