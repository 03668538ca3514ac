"""One crawl over several processes and machines (issue 12): a shared frontier in Redis
(scrapy-redis), crawl workers, and ONE store writer.

``xunshi crawl NAME… --redis URL --workers N`` calls ``run_distributed``: it creates every
site's run row (as ``crawler.run.run_crawls`` does), publishes the crawl's plan in Redis,
starts N workers (``python -m crawler.worker``) and becomes the store writer: the only
process that writes the database. ``xunshi worker --redis URL`` joins a crawl from
another machine; a worker needs the project and Redis, never the database.

In Redis, under ``xunshi:<crawl>:`` (every key is deleted when the crawl ends):

- ``plan``: the sites (name, run id, start URL, time limit, kept 巡视整改 list), user
  profiles, settings and, per site, the stored notices the spider routes by
  (``known:<site>``): what a worker needs of the database, which it never opens;
- ``<site>:requests`` / ``<site>:dupefilter``: each site's frontier and duplicate filter,
  scrapy-redis's Scheduler and RFPDupeFilter (one per run: the keys carry the crawl id);
- ``<site>:leased:<worker>``: what a worker took from the frontier and has not finished.
  A request moves there atomically when taken (LMOVE) and the list is emptied when the
  worker's engine is idle for that site (every callback done, its output scheduled or
  queued for the writer). A worker that stops answering (``alive:<worker>`` expires, e.g.
  after SIGKILL) has its leased requests put back in the frontier by whoever sees it first;
- ``lock:<host>``: a host's token: a worker holds it from sending a request to the host
  until the answer, and keeps it for the site's delay after; no host ever has two
  requests in flight, whichever worker sends them;
- ``<site>:pages``: the site's pages, counted as each request's lease is returned
  (``PageTally``, ``LeaseRelease``): a killed worker's unreturned requests are crawled
  again and counted once;
- ``<site>:requested`` / ``<site>:listed`` / ``<site>:trouble``: the list walk as every
  worker saw it (``SharedWalk``); ``<site>:walked``: the worker that ran the spider's
  step after the walk (re-checks, ``delisted``), once the site was idle everywhere;
- ``stopped``: the sites the writer stopped at their time limit; ``writer``: the writer's
  heartbeat (workers stop when it has not answered for WRITER_SECONDS);
- ``items``: what the workers' pipelines produced (notices, page events, drops, and each
  worker's end of a site), for the writer, which records them through the same
  ``StorePipeline`` code a one-process crawl uses, in batches (``_Writer.write_batch``).

A site's crawl ends when its frontier is empty, no worker holds a lease on it and every
worker has said it is done with it (or when the writer stopped it at its time limit):
the writer then closes its run as one process does, with the site's health checks. The
crawl ends when every site's has. A request crawled twice (its worker was killed after
fetching it) is recorded and counted once.

Items and requests are pickled (scrapy-redis's default): the Redis server must be one
only the crawl's machines can reach, as for any Scrapy cluster.

This module runs the crawl and its store writer; crawler/frontier.py holds the frontier's
pieces (the leased queue and scheduler, the page tally, the shared walk) and
crawler/worker_crawl.py the Scrapy components a worker runs (its extension, the pipeline
to the writer, the host lock).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.frontier import (
    CRAWLS_KEY,
    WRITER_SECONDS,
    RedisUnavailable,
    connect,
    key,
    requeue_dead_workers,
    site_busy,
)
from crawler.run import (
    PROJECT_ROOT,
    CrawlResult,
    SiteCrawl,
    _new_crawl_id,
    _profile_dict,
    check_crawls,
    current_crawl,
    log_dir_for,
)
from crawler.sites import SiteProfile
from store.db import StoreError
from store.notices import Store, load_known

logger = logging.getLogger(__name__)

# -- the store writer ------------------------------------------------------------------------

# Messages recorded per write transaction: one COMMIT pays for many notices; each message
# is a SAVEPOINT of its own, so a failing one loses only itself.
BATCH = 200
# How long --workers 0 waits for a `xunshi worker` to join (seconds; None: for ever).
JOIN_TIMEOUT = 600.0
# After the writer stops a site at its time limit: how long its workers have to say so.
STOP_GRACE = 5.0
# How often the writer says it still waits for workers (seconds).
WAIT_NOTE_EVERY = 30.0


@dataclass
class _Run:
    crawl: SiteCrawl
    run_id: int
    pipeline: Any
    closes: list[dict[str, Any]] = field(default_factory=list)
    closed_by: set[str] = field(default_factory=set)
    stats: dict[str, Any] = field(default_factory=dict)
    recorded: set[tuple[str, ...]] = field(default_factory=set)  # what this run stored
    pages: int = 0
    stopping: float | None = None  # when the writer stopped it (time limit)
    finished: bool = False


def writer_settings(overrides: dict[str, Any] | None = None) -> Any:
    """The project's Scrapy settings with a crawl's ``--set`` overrides (the writer's view)."""
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.setdict(dict(overrides or {}), priority="cmdline")
    return settings


class _WriterCrawler:
    """What ``StorePipeline`` needs of a crawler, in the writer (no Scrapy engine here)."""

    def __init__(self, run_id: int, db: str, time_limit: float | None) -> None:
        from scrapy.settings import Settings
        from scrapy.statscollectors import StatsCollector

        # what the pipeline reads (the writer's own settings are writer_settings())
        self.settings = Settings(
            {"XUNSHI_RUN_ID": run_id, "XUNSHI_DB": db, "XUNSHI_TIME_LIMIT": time_limit or 0}
        )
        self.stats = StatsCollector(self)  # type: ignore[arg-type]
        self.engine = None
        self.spider = None


Progress = Callable[[dict[str, Any]], None]


def run_distributed(  # noqa: PLR0915 (the writer's whole life)
    crawls: list[SiteCrawl],
    *,
    db_path: str | os.PathLike[str],
    redis_url: str,
    workers: int,
    settings: dict[str, Any] | None = None,
    on_progress: Progress | None = None,
    profiles: dict[str, SiteProfile] | None = None,
    worker_env: dict[str, str] | None = None,
    join_timeout: float | None = JOIN_TIMEOUT,
    on_wait: Callable[[str], None] | None = None,
) -> list[CrawlResult]:
    """Crawl ``crawls`` with ``workers`` local worker processes (more may join with
    ``xunshi worker``) over the frontier in Redis; this process writes the database.

    Each site's run is closed when the site is done in every worker (or stopped at its
    time limit), with its page count, site health checks and events as in one process.
    With ``workers=0``, ``on_wait`` is told (a line, then every 30 s) that the crawl waits
    for `xunshi worker` processes; none joining within ``join_timeout`` seconds fails
    every run, saying so.

    Raises RedisUnavailable before anything is stored when Redis cannot be reached, and
    what ``run_crawls`` raises for a bad crawl. Redis lost during the crawl: every run
    still open is recorded failed; what was stored before stays as it was.
    """
    from crawler.pipelines import StorePipeline
    from store.sites import site_state

    check_crawls(crawls, profiles)
    if workers < 0:
        raise ValueError("--workers must be 0 or more")
    if join_timeout is not None and join_timeout <= 0:
        raise ValueError("the time to wait for workers must be a positive number of seconds")
    server = connect(redis_url)
    if not crawls:
        return []
    crawl_id = current_crawl() or _new_crawl_id()
    db = str(Path(db_path).resolve())
    store = Store.open(db_path)
    base = writer_settings(settings)
    runs: dict[int, _Run] = {}
    try:
        for c in crawls:
            run_id = store.start_run(
                c.site, {"start_url": c.start_url, "full": c.full, "redis": True, **c.options},
                crawl=crawl_id,
            )  # fmt: skip
            pipeline = StorePipeline(_WriterCrawler(run_id, db, c.timeout))  # type: ignore[arg-type]
            pipeline.store = store
            runs[run_id] = _Run(c, run_id, pipeline)

        def kept(site: str) -> dict[str, Any]:
            # A worker never opens the database: the site's kept list travels in the plan.
            state = site_state(store, site) or {}
            return {k: state[k] for k in ("list_url", "family")} if state.get("list_url") else {}

        plan = {
            "crawl": crawl_id,
            "workers": workers,
            "settings": dict(settings or {}),
            "profiles": {n: _profile_dict(p) for n, p in (profiles or {}).items()},
            "sites": [
                {"site": r.crawl.site, "run_id": r.run_id, "start_url": r.crawl.start_url,
                 "full": r.crawl.full, "timeout": r.crawl.timeout, "kept": kept(r.crawl.site)}
                for r in runs.values()
            ],
        }  # fmt: skip
        pipe = server.pipeline()
        pipe.set(key(crawl_id, "writer"), "1", px=int(WRITER_SECONDS * 1000))
        pipe.set(key(crawl_id, "plan"), json.dumps(plan, ensure_ascii=False))
        for r in runs.values():
            known = load_known(store, r.crawl.site)
            pipe.set(key(crawl_id, "known", r.crawl.site), json.dumps(known, default=str))
        pipe.zadd(CRAWLS_KEY, {crawl_id: time.time()})
        pipe.execute()
    except Exception as exc:
        for run_id in runs:
            store.finish_run(run_id, "failed", error=f"crawl could not start: {exc}")
        store.close()
        if isinstance(exc, RedisUnavailable):
            raise
        import redis

        if isinstance(exc, redis.RedisError):
            raise RedisUnavailable(f"Redis at {redis_url}: {exc}") from None
        raise

    log_dir = log_dir_for(db_path)
    log_dir.mkdir(parents=True, exist_ok=True)
    ids = sorted(runs)
    log_path = log_dir / f"crawl-{ids[0]}-{ids[-1]}-workers.log"
    writer = _Writer(server, crawl_id, store, runs, log_path, on_progress, base)
    writer_log = _WriterLog(log_path)  # the writer's own lines (stored, health) go to the log
    procs = [start_worker(redis_url, crawl_id, log_path, env=worker_env) for _ in range(workers)]
    started = time.monotonic()
    began: float | None = started if workers else None  # when the first worker was there
    last_worker = started
    waiting = f"`xunshi worker --redis {redis_url}`"
    next_note = started + WAIT_NOTE_EVERY
    if not workers and on_wait:
        until = f"; giving up after {join_timeout:g} s" if join_timeout else ""
        on_wait(f"waiting for workers: start {waiting} on a machine that reaches the sites{until}")  # fmt: skip
    error: str | None = None
    stopped: str | None = None

    def running() -> None:
        for r in runs.values():
            if on_progress:
                on_progress({"site": r.crawl.site, "run_id": r.run_id, "state": "running"})

    try:
        if began is not None:
            running()
        last_check = 0.0
        while True:
            batch = _pop_batch(server, key(crawl_id, "items"), BATCH, timeout=0.5)
            if batch:
                writer.write_batch(batch)
                if writer.store_error:
                    error = f"cannot write to the database: {writer.store_error}"
                    break
            now = time.monotonic()
            if batch and now - last_check < 0.5:
                continue
            last_check = now
            server.set(key(crawl_id, "writer"), "1", px=int(WRITER_SECONDS * 1000))
            # nothing to write just now, or a while since the last look: how are the sites?
            for worker, held in requeue_dead_workers(
                server, crawl_id, writer.sites, writer.stopped
            ):
                writer.note(f"worker {worker} stopped answering: {held} requests back in the frontier")  # fmt: skip
            registered = {w.decode() for w in server.smembers(key(crawl_id, "workers"))}
            alive = [p for p in procs if p.poll() is None]
            if registered or alive:
                last_worker = now
            if began is None:
                if registered:
                    began = now
                    running()
                    writer.note(f"worker(s) joined after {now - started:.0f} s: {', '.join(sorted(registered))}")  # fmt: skip
                else:
                    if on_wait and now >= next_note:
                        limit = f" of {join_timeout:g} s" if join_timeout else ""
                        on_wait(f"still waiting for workers: {now - started:.0f} s{limit}")
                        next_note = now + WAIT_NOTE_EVERY
                    if join_timeout and now - started > join_timeout:
                        error = f"no worker joined in {join_timeout:g} s: start {waiting}"
                        break
                    continue
            writer.check_sites(now - began, registered)
            if all(r.finished for r in runs.values()):
                break
            if not alive and not registered and not server.llen(key(crawl_id, "items")):
                # (what the last workers sent is all recorded, and still some site is open)
                if workers:
                    error = "every worker ended before the crawl was done; see " + str(log_path)
                    break
                # only workers from elsewhere: wait for another to join, as long as at first
                if join_timeout and now - last_worker > join_timeout:
                    error = f"no worker for {join_timeout:g} s: start {waiting}"
                    break
    except KeyboardInterrupt:
        stopped = "interrupted by the user"
    except (sqlite3.Error, StoreError) as exc:
        error = f"cannot write to the database: {exc}"
    except Exception as exc:  # noqa: BLE001 (Redis lost: the runs say so, nothing else is touched)
        import redis

        if not isinstance(exc, redis.RedisError):
            raise
        error = f"lost the connection to Redis: {exc}"
    finally:
        seconds = time.monotonic() - started
        if error is None and stopped is None:
            # every site is done: the workers end by themselves; give them a moment
            deadline = time.monotonic() + 5.0
            while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
                time.sleep(0.05)
        for proc in procs:
            _stop(proc)
        try:
            if error is None:
                while True:  # what the last workers queued as they ended
                    batch = _pop_batch(server, key(crawl_id, "items"), BATCH, timeout=None)
                    if not batch:
                        break
                    writer.write_batch(batch)
                writer.read_pages()
        except Exception as exc:  # noqa: BLE001
            error = f"lost the connection to Redis: {exc}"
        results = []
        for r in runs.values():
            try:
                if not r.finished:
                    writer.finish(r, error=error, stopped=stopped)
                row = store.run(r.run_id) or {}
            except (sqlite3.Error, StoreError) as exc:
                row = {"status": "failed", "error": f"cannot write to the database: {exc}"}
            results.append(_result(r, row, log_path, seconds))
        store.close()
        writer_log.close()
        _cleanup(server, crawl_id, writer.sites)
    return results


class _WriterLog:
    """While the writer runs, what the store pipeline and the site health checks log goes
    to the crawl's log (as in one process, where Scrapy's log takes it), not to the
    terminal that shows the crawl's progress."""

    NAMES = ("crawler.pipelines", "crawler.extensions")

    def __init__(self, log_path: Path) -> None:
        self.handler = logging.FileHandler(log_path, encoding="utf-8")
        self.handler.setFormatter(
            logging.Formatter(
                "%(asctime)s [writer] [%(name)s] %(levelname)s: %(message)s", "%Y-%m-%d %H:%M:%S"
            )
        )
        self.saved = []
        for name in self.NAMES:
            log = logging.getLogger(name)
            self.saved.append((log, log.propagate, log.level))
            log.addHandler(self.handler)
            log.propagate = False
            log.setLevel(logging.INFO)

    def close(self) -> None:
        for log, propagate, level in self.saved:
            log.removeHandler(self.handler)
            log.propagate = propagate
            log.setLevel(level)
        self.handler.close()


def _pop_batch(server: Any, name: str, size: int, timeout: float | None) -> list[Any]:
    """Up to ``size`` messages, oldest first; waits ``timeout`` s for the first (None: not)."""
    if timeout is None:
        first = server.rpop(name)
    else:
        got = server.brpop([name], timeout=timeout)
        first = got[1] if got is not None else None
    if first is None:
        return []
    rest = server.rpop(name, size - 1) if size > 1 else None
    return [pickle.loads(first), *(pickle.loads(raw) for raw in rest or [])]


class _Writer:
    """The store writer's part: records what the workers send, in batches, and closes each
    site's run when it is done everywhere (or over its time limit)."""

    def __init__(
        self,
        server: Any,
        crawl: str,
        store: Store,
        runs: dict[int, _Run],
        log_path: Path,
        on_progress: Progress | None,
        settings: Any,
    ) -> None:
        self.server = server
        self.crawl = crawl
        self.store = store
        self.runs = runs
        self.log_path = log_path
        self.on_progress = on_progress
        self.settings = settings
        self.sites = [r.crawl.site for r in runs.values()]
        self.stopped: set[str] = set()
        self.store_error: str | None = None
        self.published: dict[str, int] = {}  # the page dictionary id each site's workers have

    def note(self, line: str) -> None:
        _note(self.log_path, line)

    # -- recording ---------------------------------------------------------------------------

    def write_batch(self, messages: list[dict[str, Any]]) -> None:
        """Record ``messages`` in one write transaction, each in a SAVEPOINT of its own:
        a message that fails is rolled back alone (and said in the log); a crash leaves
        no half of any."""
        from store.db import write_transaction

        touched: dict[int, _Run] = {}
        try:
            with write_transaction(self.store.db):
                for message in messages:
                    try:
                        with write_transaction(self.store.db):  # a SAVEPOINT
                            run = self._write(message)
                    except (sqlite3.Error, StoreError):
                        raise
                    except Exception as exc:  # noqa: BLE001 (one bad message must not stop the crawl)
                        self.note(f"not recorded: {_describe(message)}: {exc.__class__.__name__}: {exc}")  # fmt: skip
                        continue
                    if run is not None:
                        touched[run.run_id] = run
        except (sqlite3.Error, StoreError) as exc:
            self.store_error = str(exc)
            return
        for run in touched.values():
            if run.pipeline.store_error:
                self.store_error = run.pipeline.store_error
            self.publish_dict(run.crawl.site)
        if self.on_progress:
            for run in touched.values():
                self.on_progress(self._progress(run, "running"))

    def publish_dict(self, site: str) -> None:
        """Give the workers the site's current page dictionary (when it is new to them), so
        that they compress its pages as the writer would (store/prepare.py)."""
        if self.server is None or self.store_error:
            return
        try:
            current = self.store.page_dict(site)
        except (sqlite3.Error, StoreError):
            return  # the next write says what is wrong with the database
        if current is None or self.published.get(site) == current[0]:
            return
        try:
            self.server.set(key(self.crawl, "dict", site), pickle.dumps(current))
            self.server.set(key(self.crawl, "dict-id", site), current[0])
        except Exception as exc:  # noqa: BLE001 (a lost Redis is noticed where it matters)
            self.note(f"page dictionary of {site} not published: {exc}")
            return
        self.published[site] = current[0]

    def _write(self, message: dict[str, Any]) -> _Run | None:
        """Record one message from a worker, as the one-process pipeline would."""
        from scrapy.exceptions import DropItem

        from crawler.items import Notice, PageEvent

        run = self.runs.get(int(message.get("run_id", 0)))
        if run is None or run.finished:
            return None
        kind = message["kind"]
        pipeline = run.pipeline
        if kind == "item":
            item = message["item"]
            # A request crawled again after its worker stopped answering sends the same
            # thing twice: what this run already recorded is not counted again.
            once: tuple[str, ...] | None = None
            if isinstance(item, Notice):
                # the text's digest, not the text: a run may see 100,000 notices
                digest = hashlib.blake2b((item.text or "").encode(), digest_size=16).hexdigest()
                once = ("notice", item.url, digest)
            elif isinstance(item, PageEvent) and item.kind != "skipped":
                once = ("event", item.kind, item.url, item.reason or "")
            if once is not None and once in run.recorded:
                return None
            # DropItem: the database cannot be written; the pipeline keeps why (the run fails)
            with contextlib.suppress(DropItem):
                pipeline.process_item(item, message.get("prepared"))
            if once is not None:
                run.recorded.add(once)
        elif kind == "dropped":
            once = ("dropped", message["item"].url, message["reason"])
            if once in run.recorded:
                return None
            pipeline.item_dropped(message["item"], None, Exception(message["reason"]))
            run.recorded.add(once)
        elif kind == "closed":
            run.closes.append(message)
            run.closed_by.add(str(message.get("worker")))
            for name, value in message.get("stats", {}).items():
                had = run.stats.get(name)
                number = isinstance(value, int | float) and not isinstance(value, bool)
                if number and (had is None or isinstance(had, int | float)):
                    run.stats[name] = (had or 0) + value
                elif had is None:
                    run.stats[name] = value
        return run

    # -- the end of each site's run -----------------------------------------------------------

    def read_pages(self) -> None:
        """Each open run's page count, as the workers counted it in Redis (PageTally)."""
        open_runs = [r for r in self.runs.values() if not r.finished]
        if not open_runs:
            return
        values = self.server.mget([key(self.crawl, r.crawl.site, "pages") for r in open_runs])
        for r, value in zip(open_runs, values, strict=True):
            r.pages = int(value or 0)

    def check_sites(self, elapsed: float, registered: set[str]) -> None:
        """Stop the sites over their time limit; close the runs of the sites that are done
        (idle in every worker, each worker's end received) or stopped a while ago."""
        self.read_pages()
        for r in self.runs.values():
            if r.finished:
                continue
            limit = r.crawl.timeout
            if limit and r.stopping is None and elapsed >= limit:
                self._stop_site(r)
            if r.stopping is not None:
                if registered <= r.closed_by or time.monotonic() - r.stopping > STOP_GRACE:
                    self.finish(r)
            elif r.closes and registered <= r.closed_by and not site_busy(self.server, self.crawl, r.crawl.site):  # fmt: skip
                self.finish(r)

    def _stop_site(self, run: _Run) -> None:
        """A site over its time limit: nothing more is taken from its frontier, by any
        worker, alive or joining later (a worker that died cannot keep it going)."""
        site = run.crawl.site
        self.stopped.add(site)
        run.stopping = time.monotonic()
        pipe = self.server.pipeline()
        pipe.sadd(key(self.crawl, "stopped"), site)
        pipe.delete(key(self.crawl, site, "requests"))
        pipe.execute()
        self.note(f"{site}: time limit of {run.crawl.timeout:g} s reached; stopping it in every worker")  # fmt: skip

    def merged_stats(self, run: _Run) -> dict[str, Any]:
        """The site's stats: the workers' (summed) and the writer's own (what it stored)."""
        stats = dict(run.stats)
        collector = run.pipeline.crawler.stats
        if collector is not None:
            stats.update(collector.get_stats())
        return stats

    def finish(self, run: _Run, error: str | None = None, stopped: str | None = None) -> None:
        """Close ``run`` as one process would: status, counts, pages, then the site's health."""
        from crawler.extensions import check_health

        run.finished = True
        status, why = _outcome(run, error, stopped, self.merged_stats(run))
        row = self.store.run(run.run_id) or {}
        if row.get("status") == "running":
            self.store.finish_run(run.run_id, status, error=why, pages=run.pages, **run.pipeline.counts)  # fmt: skip
        if error is None and not run.pipeline.store_error and self.settings.getbool("XUNSHI_SITE_HEALTH", True):  # fmt: skip
            quiet = self.settings.getdict("XUNSHI_QUIET_DAYS").get(run.crawl.site)
            check_health(self.store, run.crawl.site, run.run_id, self.merged_stats(run), quiet_days=quiet)  # fmt: skip
        if self.on_progress:
            self.on_progress({**self._progress(run, "done"), "status": status, "error": why})

    def _progress(self, run: _Run, state: str) -> dict[str, Any]:
        return {"site": run.crawl.site, "run_id": run.run_id, "state": state,
                "pages": run.pages, **run.pipeline.counts}  # fmt: skip


def _describe(message: dict[str, Any]) -> str:
    item = message.get("item")
    return f"{message.get('kind')} {getattr(item, 'url', '') or ''}".strip()


def _outcome(
    run: _Run, error: str | None, stopped: str | None, stats: dict[str, Any]
) -> tuple[str, str | None]:
    from crawler.extensions import no_page_reason
    from crawler.pipelines import run_outcome

    if error:
        return "failed", error
    if stopped:
        return "interrupted", stopped
    if run.stopping is not None:
        reason = "time_limit"
    elif not run.closes:
        return "failed", "no worker crawled this site"
    else:
        reasons = [c.get("reason", "") for c in run.closes]
        # a worker that ended early (time limit, shutdown) decides; else every one finished
        reason = next((r for r in reasons if r != "finished"), "finished")
    status, why = run_outcome(reason, stats, run.pipeline.store_error, run.crawl.timeout or 0)
    if status == "failed" and why == no_page_reason(stats) and run.pipeline.counts["notices_seen"]:
        # The pages were fetched by a worker that was killed before it could send its
        # stats; the notices it sent were stored.
        return "ok", None
    return status, why


def _result(run: _Run, row: dict[str, Any], log_path: Path, seconds: float) -> CrawlResult:
    from crawler.run import COUNT_FIELDS

    return CrawlResult(
        site=run.crawl.site,
        run_id=run.run_id,
        status=row.get("status", "failed"),
        returncode=0,
        log_path=log_path,
        counts={k: int(row.get(k) or 0) for k in COUNT_FIELDS},
        error=row.get("error"),
        seconds=seconds,
    )


def _note(log_path: Path, line: str) -> None:
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [writer] {line}\n")


def _cleanup(server: Any, crawl: str, sites: list[str]) -> None:
    try:
        server.zrem(CRAWLS_KEY, crawl)
        keys = list(server.scan_iter(match=key(crawl, "*"), count=1000))
        if keys:
            server.delete(*keys)
    except Exception as exc:  # noqa: BLE001 (Redis gone: nothing left to clean)
        logger.warning("Redis keys of crawl %s not deleted: %s", crawl, exc)


def start_worker(
    redis_url: str, crawl: str | None, log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """One worker process (``python -m crawler.worker``) for ``crawl`` (None: the next)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["SCRAPY_SETTINGS_MODULE"] = "crawler.settings"
    full_env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(PROJECT_ROOT), full_env.get("PYTHONPATH")])
    )
    cmd = [sys.executable, "-m", "crawler.worker", "--redis", redis_url]
    if crawl:
        cmd += ["--crawl", crawl]
    with log_path.open("ab") as log:
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=full_env, cwd=PROJECT_ROOT
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
