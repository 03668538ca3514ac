"""Store writer rates and database growth at 1k, 10k and 100k stored notices (issue 16).

Run from the repo root: ``.venv/bin/python bench/bench_store.py [--n 10000] [--runs 3]``
(``--n 100000`` for the issue's 100k row: about 5 min and ~6 GB of temp space).

What is measured goes through ``store.notices.Store.record`` in-process, with
``crawler.items.Notice`` objects as the spider yields them after the normalise pipeline:
seed 000's text, a 60-120 KB page (bench/_common.py), no HTTP. Each measured record is its
own transaction, as in a crawl's pipeline: text hash, lookups, district matching, facts,
the page's compression, the version, events, the search index's triggers and the commit.

The stored base is bulk-loaded, not recorded one by one (100k records would take longer
than the 5 minutes this bench may take): ``TEMPLATES`` notices are recorded through
``Store.record`` (notice 0 is given 20 versions), then every further notice is a copy of
one of them with its own URL, title number and "通报编号" line (so its own text and
hash), written with plain INSERTs in transactions of 1,000 through the schema's own
triggers: the search index is built as a crawl builds it. The raw page of a copy is its
template's page with the copy's number, stored as Store.record stores a page. Only the
index function is memoised per line during the bulk load (copies share most lines); the
bench checks that it gives the same documents.

At each size, ``--runs`` times (the median is printed, every run in ``--verbose``):

* new: ``BATCH`` notices never seen, each recorded alone;
* unchanged: ``UNCHANGED`` stored notices picked at random, fetched again the same;
* changed: ``BATCH`` stored notices picked at random, a few characters edited (a number
  corrected and a correction note, as a real correction does);
* database growth per new and per changed version: used pages (page_count minus the free
  list, after a checkpoint) before and after, divided by the records (a measurement also
  pays for indexing the notices the one before left pending; ``--settle`` flushes the
  search index around each, so each kind pays for its own; bench_growth.py breaks a
  changed version's growth down by table and index);
* new, batched: ``BATCH`` notices never seen through ``Store.record_batch``, ``STREAM_BATCH``
  per transaction (what a streaming writer can do);
* new, prepared: ``BATCH`` notices never seen whose pure work (facts, districts, index
  document, page compressed against the site's current dictionary: store/prepare.py) was
  done beforehand, as a distributed crawl's worker does it; only the writer's part is
  timed (``Store.record`` with the prepared work, one transaction each, and through
  ``Store.record_batch``, ``STREAM_BATCH`` per transaction: what the distributed writer
  runs). The worker's part is shown apart (CPU ms per notice). The full in-process rate
  is the "new" row above, never this one;
* search: a rare term, a common one (巡视整改, top 50), a two-character one (巡视).

Then new records go into the largest database and a copy of the one before it, taken in
turns: their ratio, which the load of the machine (the same for both) decides far less
than two separate measurements. Last, the writer's open with and without the full check.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402

from crawler.facts import extract_facts  # noqa: E402
from crawler.items import Notice  # noqa: E402
from store import fts  # noqa: E402
from store.compress import store_page  # noqa: E402
from store.facts import fact_rows, from_rows, read_facts  # noqa: E402
from store.notices import Store  # noqa: E402
from store.prepare import prepare  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
TEMPLATES = 200
BATCH = 200
UNCHANGED = 1_000
STREAM_BATCH = 50  # notices per transaction through Store.record_batch
HISTORY_VERSIONS = 20
BULK_TXN = 1_000
BASE_URL = "http://www.zjsjw.gov.cn"
SETTLE = False  # --settle: see measure()


# ------------------------------------------------------------------------------ notices


def notice_date(i: int) -> date:
    return date(2010, 1, 1) + timedelta(days=(i * 37) % 5500)


def make_notice(i: int, version: int = 1) -> Notice:
    """Notice i as the spider yields it after the normalise pipeline; version > 1 edits it."""
    gen, html = common.article_page(i, notice_date(i))
    raw = html.encode("utf-8")
    lines = gen.expected.split("\n")
    day = notice_date(i)
    notice = Notice(
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
        headers={
            "content-type": "text/html",
            "etag": '"' + hashlib.sha1(raw).hexdigest()[:16] + '"',
            "last-modified": "Mon, 01 Jan 2024 00:00:00 GMT",
        },  # fmt: skip
        fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
        methods={
            "body": "profile",
            "title": "profile",
            "published": "profile",
            "source": "profile",
        },
        province="浙江省",
        text=gen.expected,
    )
    return edited(notice, i, version) if version > 1 else notice


def edited(notice: Notice, i: int, version: int) -> Notice:
    """Version ``version`` of a notice: its number line corrected, one figure changed."""
    text, raw = notice.text or "", notice.raw.decode("utf-8")
    old, new = f"通报编号{i}", f"通报编号{i}(第{version}次更正)"
    text = text[: text.rfind(old)] + new
    raw = raw.replace(f"　　{old}</p>", f"　　{new}</p>")
    text = text.replace("人次", f"人次({version})", 1)
    raw = raw.replace("人次", f"人次({version})", 1)
    return replace(notice, text=text, raw=raw.encode("utf-8"))


class Corpus:
    """What is stored: templates recorded, then copies of them bulk-loaded."""

    def __init__(self, store: Store, seed: int = 7) -> None:
        self.store = store
        self.rng = random.Random(seed)
        self.templates: list[Notice] = []
        self.versions: dict[int, int] = {}  # notice number -> versions stored
        self.made: set[int] = set()  # notices recorded from make_notice (not copies)
        self.next_id = 0

    # -- copies -------------------------------------------------------------------------

    def copy(self, i: int) -> Notice:
        """Notice i (i >= TEMPLATES): a copy of template i % TEMPLATES with its own URL,
        title and number line, at the version stored."""
        j = i % TEMPLATES
        t = self.templates[j]
        text = (t.text or "").replace(f"通报编号{j}", f"通报编号{i}")
        raw = t.raw.replace(f"通报编号{j}<".encode(), f"通报编号{i}<".encode())
        n = replace(t, url=f"{BASE_URL}/copies/{i // 1000}/t{i}.html", title=f"{t.title}[{i}]",
                    text=text, raw=raw)  # fmt: skip
        version = self.versions.get(i, 1)
        return edited(n, i, version) if version > 1 else n

    def notice(self, i: int) -> Notice:
        """Notice i as stored now (its latest version)."""
        version = self.versions.get(i, 1)
        if i not in self.made:
            return self.copy(i)
        if i < TEMPLATES and version == 1:
            return self.templates[i]
        return make_notice(i, version)

    # -- building -----------------------------------------------------------------------

    def record_templates(self) -> None:
        for i in range(TEMPLATES):
            notice = make_notice(i)
            self.templates.append(notice)
            self.store.record(notice)
            self.versions[i] = 1
            self.made.add(i)
        for v in range(2, HISTORY_VERSIONS + 1):
            self.store.record(make_notice(0, v))
            self.versions[0] = v
        self.next_id = TEMPLATES

    def bulk_to(self, target: int) -> float:
        """Copies until ``target`` notices are stored; the seconds it took (wall clock)."""
        started = time.perf_counter()
        conn = self.store.db.conn
        cached = _cached_bigrams()
        conn.create_function(fts.BIGRAM_FUNCTION, 1, cached, deterministic=True)
        # Written once, not through the WAL and again into the file (the measured records
        # run with the store's own settings: WAL, synchronous=NORMAL).
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = OFF")
        try:
            while self.next_id < target:
                stop = min(target, self.next_id + BULK_TXN)
                conn.execute("BEGIN IMMEDIATE")
                for i in range(self.next_id, stop):
                    self._insert_copy(conn, i)
                conn.execute("COMMIT")
                self.next_id = stop
        finally:
            fts.register_functions(conn)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        sample = self.store.db.execute(
            "select coalesce(title, '') || char(10) || coalesce(unit, '') || char(10) || text "
            "from notices_fts order by random() limit 20"
        ).fetchall()
        for (text,) in sample:
            if cached(text.lower()) != fts.bigrams(text.lower()):
                raise AssertionError("the memoised index function differs from store.fts.bigrams")
        copies = [i for i in range(TEMPLATES, self.next_id)
                  if i not in self.made and self.versions.get(i) == 1]  # fmt: skip
        for i in random.Random(target).sample(copies, min(5, len(copies))):
            n = self.copy(i)
            (notice_id,) = conn.execute("select id from notices where key = ?", [n.key]).fetchone()
            facts = extract_facts(n.text or "", n.title, n.published_at)
            stored = read_facts(self.store.db, notice_id, 1)
            if stored != from_rows((r[2], r[3], r[4]) for r in fact_rows(notice_id, 1, facts)):
                raise AssertionError(f"copy {i}'s facts differ from its template's")
            match, _ = self.store._unit(n, n.fetched_at or "")
            codes = [r[0] for r in conn.execute(
                "select code from notice_districts where notice_id = ? order by rowid", [notice_id]
            )]  # fmt: skip
            if codes != [d.code for d in match.districts]:
                raise AssertionError(f"copy {i}'s districts differ from its template's")
        return time.perf_counter() - started

    def _insert_copy(self, conn: sqlite3.Connection, i: int) -> None:
        n = self.copy(i)
        text = n.text or ""
        now = n.fetched_at
        cur = conn.execute(
            "INSERT INTO notices (site, key, url, title, published_at, source, first_seen, "
            "last_seen, last_checked, last_changed, version_count, unit, unit_ambiguous, etag, "
            "last_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, '[]', ?, ?)",
            (n.site, n.key, n.url, n.title, n.published_at, n.source, now, now, now, now,
             self._unit(i), n.headers.get("etag"), n.headers.get("last-modified")),
        )  # fmt: skip
        notice_id = cur.lastrowid
        page = store_page(self.store.db, n.site, 1, n.raw, text, now)  # as Store.record does
        conn.execute(
            "INSERT INTO versions (notice_id, n, text, sha256, title, published_at, source, "
            "fetched_at, fetched_url, http_status, encoding, headers, raw_size, methods, "
            f"{', '.join(page)}) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, 200, 'utf-8', '{{}}', ?, "
            f"'{{}}', {', '.join('?' * len(page))})",
            (notice_id, text, hashlib.sha256(text.encode("utf-8")).hexdigest(), n.title,
             n.published_at, n.source, now, n.url, len(n.raw), *page.values()),
        )  # fmt: skip
        conn.execute(
            "INSERT INTO events (created_at, kind, site, notice_id, url, detail) "
            "VALUES (?, 'new_notice', ?, ?, ?, ?)",
            (now, n.site, notice_id, n.url, '{"title": "copy"}'),
        )
        # Its facts, as Store.record writes them: the template's (the texts differ only in
        # the number line, which states no fact; bulk_to checks a sample). Without them a
        # change would find every fact new and write a facts_changed event for each.
        conn.execute(
            "INSERT INTO facts (notice_id, version, key, value, evidence) "
            "SELECT ?, 1, key, value, evidence FROM facts WHERE notice_id = ? AND version = 1",
            (notice_id, i % TEMPLATES + 1),
        )
        conn.execute(  # and its districts (the copy's title and text name the same)
            "INSERT INTO notice_districts (notice_id, code, name, full_name, level, province, "
            "city) SELECT ?, code, name, full_name, level, province, city FROM notice_districts "
            "WHERE notice_id = ? ORDER BY rowid",
            (notice_id, i % TEMPLATES + 1),
        )
        self.versions[i] = 1

    @functools.cache  # noqa: B019 (one corpus per run)
    def _unit(self, i: int) -> str | None:
        row = self.store.db.execute(
            "select unit from notices where id = ?", [i % TEMPLATES + 1]
        ).fetchone()
        return row[0] if row else None

    # -- what is measured ---------------------------------------------------------------

    def new(self) -> Notice:
        i = self.next_id
        self.next_id += 1
        self.versions[i] = 1
        self.made.add(i)
        return make_notice(i)

    def unchanged(self) -> Notice:
        return self.notice(self.rng.randrange(TEMPLATES, self.next_id))

    def changed(self) -> Notice:
        i = self.rng.randrange(TEMPLATES, self.next_id)
        self.versions[i] = self.versions.get(i, 1) + 1
        return self.notice(i)


def _cached_bigrams() -> Callable[[str | None], str | None]:
    """store.fts.bigrams, memoised per line (tokens never span a line, so the same result)."""

    @functools.lru_cache(maxsize=65_536)
    def line(text: str) -> tuple[str, ...]:
        doc = fts.bigrams(text)
        return tuple(doc.split(" ")) if doc else ()

    def bigrams(text: str | None) -> str | None:
        if text is None:
            return None
        tokens = itertools.chain.from_iterable(map(line, text.lower().split("\n")))
        return " ".join(dict.fromkeys(tokens))

    return bigrams


# ------------------------------------------------------------------------------ measuring


def used_bytes(db: Any) -> int:
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages, free, size = (db.execute(f"PRAGMA {p}").fetchone()[0]
                         for p in ("page_count", "freelist_count", "page_size"))  # fmt: skip
    return int((pages - free) * size)


def measure(store: Store, notices: list[Notice], expect: str) -> tuple[float, float, float, float]:
    """Records per second (wall clock), per second of this process's CPU, median ms, and
    database growth per record (bytes). Under load the CPU rate is the steadier figure:
    the wall clock also counts the time other processes had the cores.

    With ``--settle`` (SETTLE) the search index is flushed before and after the records
    (the second flush counted in the growth, not in the rates): each kind of record then
    pays for its own indexing, not for the notices the previous measurement left pending."""
    if SETTLE:
        fts.flush(store.db)
    before = used_bytes(store.db)
    samples = []
    cpu = time.process_time()
    for notice in notices:
        start = time.perf_counter()
        outcome = store.record(notice).outcome
        samples.append(time.perf_counter() - start)
        if outcome != expect:
            raise AssertionError(f"expected {expect}, got {outcome}")
    cpu = time.process_time() - cpu
    if SETTLE:
        fts.flush(store.db)
    grown = used_bytes(store.db) - before
    return (len(samples) / sum(samples), len(samples) / cpu, common.median(samples) * 1e3,
            grown / len(notices))  # fmt: skip


def measure_prepared(store: Store, notices: list[Notice]) -> dict[str, float]:
    """New notices prepared first (the worker's part, timed apart), then recorded by the
    writer one per transaction and in batches: rates of the writer's part only."""
    half = len(notices) // 2
    site_dict = store.page_dict(notices[0].site)
    cpu = time.process_time()
    ready = [prepare(n, store.clock(), site_dict=site_dict, page=True) for n in notices]
    out = {"prepare cpu ms": (time.process_time() - cpu) / len(notices) * 1e3}
    cpu, start = time.process_time(), time.perf_counter()
    for notice, prepared in zip(notices[:half], ready[:half], strict=True):
        if store.record(notice, None, prepared).outcome != "new":
            raise AssertionError("a prepared notice was not recorded as new")
    out["one/s"] = half / (time.perf_counter() - start)
    out["one/cpu s"] = half / (time.process_time() - cpu)
    rest = list(zip(notices[half:], [None] * (len(notices) - half), ready[half:], strict=True))
    cpu, start = time.process_time(), time.perf_counter()
    for at in range(0, len(rest), STREAM_BATCH):
        done = store.record_batch(rest[at : at + STREAM_BATCH])
        if any(isinstance(r, Exception) or r.outcome != "new" for r in done):
            raise AssertionError(f"a batch did not record new notices: {done}")
    out["batch/s"] = len(rest) / (time.perf_counter() - start)
    out["batch/cpu s"] = len(rest) / (time.process_time() - cpu)
    return out


def time_query(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median ms of ``runs`` calls (after one warm-up) and the last result."""
    result = fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return common.median(samples), result


def queries(store: Store, corpus: Corpus) -> list[tuple[str, int, float]]:
    db = store.db
    term = f"通报编号{corpus.next_id // 2}"
    out = []
    for label, query, runs in ((f"rare term ({term}), 1 hit", term, 10),
                               ("common term 巡视整改, newest 50", "巡视整改", 5),
                               ("2-character term 巡视, newest 50", "巡视", 5)):  # fmt: skip
        ms, hits = time_query(lambda q=query: fts.search(db, q, limit=50), runs)
        out.append((label, len(hits), ms))
    return out


def size_rows(store: Store, size: int) -> list[list[Any]]:
    db = store.db
    notices = db.execute("select count(*) from notices").fetchone()[0]
    versions = db.execute("select count(*) from versions").fetchone()[0]
    rows: list[list[Any]] = [[size, "used pages", used_bytes(db) / versions / 1000]]
    # (dbstat's sums overflow 32 bits past 4 GB: the big versions table is shown by column)
    for name in ("notices_bigrams_data", "notices_bigrams_idx", "events", "notices"):
        try:
            found = db.execute(
                "select sum(pgsize) from dbstat where name = ? and aggregate = 1", [name]
            ).fetchone()
        except sqlite3.OperationalError:
            continue
        if found and found[0]:
            per = notices if name.startswith(("notices_", "notices")) else versions
            rows.append([size, f"  {name} (per {'notice' if per == notices else 'version'})",
                         found[0] / per / 1000])  # fmt: skip
    raw, text = db.execute(
        "select avg(length(raw)), avg(length(cast(text as blob))) from versions"
    ).fetchone()
    rows.append([size, "  versions.raw", raw / 1000])
    rows.append([size, "  versions.text (UTF-8)", text / 1000])
    return rows


ROUNDS = 5
TURN = 64  # two flushes of the search index per turn


def interleave(
    big: Store, small: Store, corpus: Corpus, small_size: int, big_size: int
) -> list[list[Any]]:
    """New records into the small and the big database by turns: their ratio, which the
    load of the machine (the same for both) decides far less than separate runs."""
    rates: dict[int, list[tuple[float, float]]] = {small_size: [], big_size: []}
    try:
        for _ in range(ROUNDS):
            for size, store in ((small_size, small), (big_size, big)):
                rate, cpu_rate, _, _ = measure(store, [corpus.new() for _ in range(TURN)], "new")
                rates[size].append((rate, cpu_rate))
    finally:
        small.close()
    wall = {k: common.median([r[0] for r in v]) for k, v in rates.items()}
    cpu = {k: common.median([r[1] for r in v]) for k, v in rates.items()}
    return [[k, wall[k], cpu[k], wall[k] / wall[small_size], cpu[k] / cpu[small_size]]
            for k in (small_size, big_size)]  # fmt: skip


def open_costs(path: Path) -> list[list[Any]]:
    """A writer's open as the last clean close left the file, and the full check it skips."""
    from store import db as store_db

    rows: list[list[Any]] = []
    start = time.perf_counter()
    store = Store.open(path)
    rows.append(["Store.open after a clean close (the full check skipped)",
                 (time.perf_counter() - start) * 1e3])  # fmt: skip
    start = time.perf_counter()
    damage = store_db._damage(store.db.conn)
    rows.append([f"PRAGMA quick_check (what every open ran before; found: {damage or 'ok'})",
                 (time.perf_counter() - start) * 1e3])  # fmt: skip
    store.close()
    return rows


# --------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000,
                        help="largest database, in stored notices (default 10,000; 100,000 for the issue's row)")  # fmt: skip
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="measurements at each size (default 3; the median is shown)",
    )
    parser.add_argument(
        "--dir", type=Path, help="where to put the database (default: a temp folder)"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="print every run, not only the medians"
    )
    parser.add_argument(
        "--settle",
        action="store_true",
        help="flush the search index around each measurement, so that each kind of record "
        "pays for its own indexing in the growth figures",
    )
    args = parser.parse_args()
    global SETTLE
    SETTLE = args.settle
    sizes = [s for s in SIZES if s <= args.n] or [args.n]
    if args.n > sizes[-1]:
        sizes.append(args.n)

    common.header(f"store: Store.record at {', '.join(f'{s:,}' for s in sizes)} stored notices, "
                  f"{args.runs} runs each")  # fmt: skip
    clock = common.Stopwatch()
    summary: list[list[Any]] = []
    batch_rows: list[list[Any]] = []
    prepared_rows: list[list[Any]] = []
    runs_out: list[list[Any]] = []
    query_rows: list[list[Any]] = []
    sizes_out: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-store-", dir=args.dir) as tmp:
        store = Store.open(Path(tmp) / "store.db")
        corpus = Corpus(store)
        corpus.record_templates()
        print(f"# recorded {TEMPLATES} templates in {clock.seconds():.0f} s", flush=True)
        for size in sizes:
            cpu = time.process_time()
            took = corpus.bulk_to(size)
            print(f"# bulk-loaded to {size:,} notices in {took:.0f} s ({time.process_time() - cpu:.0f} s "
                  f"of CPU) (total {clock.seconds():.0f} s)", flush=True)  # fmt: skip
            sizes_out += size_rows(store, size)
            figures: dict[str, list[float]] = {}
            for run in range(args.runs):
                news = [corpus.new() for _ in range(BATCH)]
                same = [corpus.unchanged() for _ in range(UNCHANGED)]
                edits = [corpus.changed() for _ in range(BATCH)]
                for kind, batch in (("new", news), ("unchanged", same), ("changed", edits)):
                    rate, cpu_rate, ms, grown = measure(store, batch, kind)
                    runs_out.append([size, run + 1, kind, len(batch), rate, cpu_rate, ms,
                                     grown / 1000])  # fmt: skip
                    figures.setdefault(f"{kind}/s", []).append(rate)
                    figures.setdefault(f"{kind}/cpu s", []).append(cpu_rate)
                    figures.setdefault(f"{kind} growth", []).append(grown / 1000)
                batched = [corpus.new() for _ in range(BATCH)]
                cpu = time.process_time()
                start = time.perf_counter()
                for at in range(0, BATCH, STREAM_BATCH):
                    done = store.record_batch([(n, None) for n in batched[at : at + STREAM_BATCH]])
                    if any(isinstance(r, Exception) or r.outcome != "new" for r in done):
                        raise AssertionError(f"a batch did not record new notices: {done}")
                figures.setdefault("batched/s", []).append(BATCH / (time.perf_counter() - start))
                figures.setdefault("batched/cpu s", []).append(BATCH / (time.process_time() - cpu))
                for name, value in measure_prepared(
                    store, [corpus.new() for _ in range(2 * BATCH)]
                ).items():
                    figures.setdefault(f"prepared {name}", []).append(value)  # fmt: skip
            prepared_rows.append([size] + [common.median(figures[f"prepared {k}"]) for k in (
                "one/s", "one/cpu s", "batch/s", "batch/cpu s", "prepare cpu ms")])  # fmt: skip
            batch_rows.append([size, common.median(figures["batched/s"]),
                               common.median(figures["batched/cpu s"])])  # fmt: skip
            summary.append([size] + [common.median(figures[k]) for k in (
                "new/s", "new/cpu s", "unchanged/s", "unchanged/cpu s", "changed/s",
                "changed/cpu s", "new growth", "changed growth")])  # fmt: skip
            for label, hits, ms in queries(store, corpus):
                query_rows.append([size, label, hits, ms])
            print(f"# measured at {size:,} (total {clock.seconds():.0f} s)", flush=True)
            if len(sizes) > 1 and size == sizes[-2]:  # kept to be measured beside the largest
                small = Path(tmp) / f"at-{size}.db"
                with sqlite3.connect(small) as copy:  # SQLite's backup API, not a file copy
                    store.db.conn.backup(copy)
        interleaved: list[list[Any]] = []
        if len(sizes) > 1:
            interleaved = interleave(store, Store.open(small), corpus, sizes[-2], sizes[-1])
        store.close()
        open_rows = open_costs(Path(tmp) / "store.db")

    print(f"\n## Store.record, one transaction each (median of {args.runs} runs; "
          f"{BATCH} new, {UNCHANGED} unchanged, {BATCH} changed per run)")  # fmt: skip
    common.print_table(["notices stored", "new /s", "new /CPU s", "unchanged /s",
                        "unchanged /CPU s", "changed /s", "changed /CPU s",
                        "KB per new version", "KB per changed version"], summary)  # fmt: skip
    by_size = {row[0]: row for row in summary}
    if 10_000 in by_size and 100_000 in by_size:
        print(f"new at 100k ÷ at 10k: {by_size[100_000][1] / by_size[10_000][1]:.2f} (wall), "
              f"{by_size[100_000][2] / by_size[10_000][2]:.2f} (CPU)")  # fmt: skip
    if args.verbose:
        print("\n## Every run")
        common.print_table(["notices stored", "run", "record", "records", "per second",
                            "per CPU second", "median ms", "KB growth per record"], runs_out)  # fmt: skip
    print(f"\n## New notices through Store.record_batch, {STREAM_BATCH} per transaction "
          f"(a streaming writer; median of {args.runs} runs of {BATCH})")  # fmt: skip
    common.print_table(["notices stored", "new /s", "new /CPU s"], batch_rows)
    print(f"\n## New notices prepared beforehand (store/prepare.py, as a distributed worker does): "
          f"the WRITER's part only (median of {args.runs} runs of {BATCH} one per transaction and "
          f"{BATCH} through Store.record_batch, {STREAM_BATCH} per transaction); the worker's "
          "part apart. The full in-process rate is the first table's 'new'.")  # fmt: skip
    common.print_table(["notices stored", "writer new /s (1 per transaction)", "writer new /CPU s",
                        f"writer new /s ({STREAM_BATCH} per transaction)", "writer new /CPU s (batched)",
                        "prepare, CPU ms per notice (worker)"], prepared_rows)  # fmt: skip
    if interleaved:
        print(f"\n## New notices, the two sizes taken in turns ({ROUNDS} rounds of {TURN} each: "
              "the machine's load falls on both alike)")  # fmt: skip
        common.print_table(["notices stored", "new /s (median)", "new /CPU s (median)",
                            "÷ the smaller (wall)", "÷ the smaller (CPU)"], interleaved)  # fmt: skip
    print("\n## Database size (KB; used pages per version, then the biggest parts)")
    common.print_table(["notices stored", "what", "KB"], sizes_out)
    print("\n## store.fts.search (median ms)")
    common.print_table(["notices stored", "query", "hits", "median ms"], query_rows)
    print(f"\n## Opening the writer at {sizes[-1]:,} notices (ms)")
    common.print_table(["open", "ms"], open_rows)
    print(f"\n# total {clock.seconds():.0f} s; at the end: {common.load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
