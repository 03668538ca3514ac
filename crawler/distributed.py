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
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import pickle
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from scrapy_redis.queue import FifoQueue
from scrapy_redis.scheduler import Scheduler

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

CRAWLS_KEY = "xunshi:crawls"  # the crawls a worker may join (a sorted set by start time)
# A worker that has not said it is alive for this long is gone.
ALIVE_SECONDS = 5.0
# The writer says it is alive (``writer``) at least this often; a worker whose writer has
# not said so for this long (killed, machine gone) stops instead of crawling for nobody.
WRITER_SECONDS = 20.0


class RedisUnavailable(Exception):
    """Redis cannot be reached or answered with an error: the message says which and why."""


def connect(url: str) -> Any:
    """A client for ``url``, checked with a PING; RedisUnavailable saying why not."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
        client.ping()
    except ValueError as exc:
        raise RedisUnavailable(f"bad Redis URL {url!r}: {exc}") from None
    except redis.RedisError as exc:
        raise RedisUnavailable(f"cannot reach Redis at {url}: {exc}") from None
    return client


def key(crawl: str, *parts: str) -> str:
    return ":".join(("xunshi", crawl, *parts))


# -- scrapy-redis, as the workers use it ----------------------------------------------------


class LeasedQueue(FifoQueue):
    """scrapy-redis's FIFO frontier, with what a worker takes kept in its lease list until
    the worker is done with it (``WorkerExtension`` empties it when the site is idle here).
    scrapy-redis's own queues pop for good (RPOP): a worker killed then loses what it held."""

    def __init__(self, server: Any, spider: Any, key: str, serializer: Any = None) -> None:
        super().__init__(server, spider, key, serializer)
        worker = spider.settings.get("XUNSHI_WORKER_ID")
        self.leased = f"{self.key.rsplit(':', 1)[0]}:leased:{worker}"

    def pop(self, timeout: int = 0) -> Any:
        data = self.server.lmove(self.key, self.leased, "RIGHT", "LEFT")
        if not data:
            return None
        request = self._decode_request(data)
        # LeaseRelease returns it when the request's callback is done
        request.meta[LEASE_META] = (self.leased, data)
        return request


LEASE_META = "xunshi_lease"
PAGES_META = "xunshi_pages"

# Return a lease and count its request's pages, only when the lease is still held: a
# request crawled again after its worker stopped answering is counted once.
_RETURN_LEASE = """
if redis.call('lrem', KEYS[1], 1, ARGV[1]) == 1 then
  if tonumber(ARGV[2]) > 0 then redis.call('incrby', KEYS[2], ARGV[2]) end
  return 1
end
return 0
"""


class PageTally:
    """A downloader middleware: each response a request got (redirects and retries too;
    robots.txt not), kept in the request's meta until its lease is returned, when the
    site's page count in Redis takes it (``<site>:pages``). A worker killed before that
    counts nothing; the request is crawled again and counted once, so a crawl's page
    count is what one process would have counted."""

    @classmethod
    def from_crawler(cls, crawler: Any) -> PageTally:
        from scrapy.exceptions import NotConfigured

        if not crawler.settings.get("XUNSHI_REDIS_CRAWL"):
            raise NotConfigured
        return cls()

    def process_response(self, request: Any, response: Any, spider: Any = None) -> Any:
        if not request.meta.get("dont_obey_robotstxt"):
            request.meta[PAGES_META] = request.meta.get(PAGES_META, 0) + 1
        return response


class LeaseRelease:
    """A spider middleware: a request's lease is returned once its callback (or errback)
    has run and all it yielded has been taken (requests in the frontier, items pushed to
    the writer's queue: item_scraped/dropped/error). Until then, a worker killed holds
    it, and the request goes back to the frontier. What the callback added to the site's list walk
    (``SharedWalk``) is sent first, and the request's pages are counted with the return."""

    def __init__(self, crawler: Any) -> None:
        from scrapy_redis.connection import get_redis_from_settings

        self.crawler = crawler
        self.server = get_redis_from_settings(crawler.settings)
        self.crawl = _crawl_of(crawler.settings)
        self.script = self.server.register_script(_RETURN_LEASE)
        # id(response) -> [items still in the pipelines, callback output done, response]:
        # the engine processes items in parallel tasks (CONCURRENT_ITEMS), so an item can
        # still be on its way to Redis when the callback's output is exhausted; the lease
        # waits for it, or a worker killed in between would lose the notice.
        self.pending: dict[int, list[Any]] = {}

    @classmethod
    def from_crawler(cls, crawler: Any) -> LeaseRelease:
        from scrapy import signals
        from scrapy.exceptions import NotConfigured

        if not crawler.settings.get("XUNSHI_REDIS_CRAWL"):
            raise NotConfigured
        middleware = cls(crawler)
        for sig in (signals.item_scraped, signals.item_dropped, signals.item_error):
            crawler.signals.connect(middleware._item_done, signal=sig)
        return middleware

    def _track(self, response: Any, element: Any) -> None:
        from scrapy import Request

        if not isinstance(element, Request):
            entry = self.pending.setdefault(id(response), [0, False, response])
            entry[0] += 1

    def _output_done(self, response: Any) -> None:
        entry = self.pending.get(id(response))
        if entry is None or entry[0] <= 0:
            self.pending.pop(id(response), None)
            self._release(response)
        else:
            entry[1] = True

    def _item_done(self, item: Any = None, response: Any = None, **_: Any) -> None:
        """An item has left the pipelines (sent, dropped or failed): when it was the last of
        its response's and the callback is done, the lease goes back, after the other
        handlers of this signal (the dropped message is pushed by one of them)."""
        from twisted.internet import reactor

        entry = self.pending.get(id(response))
        if entry is None:
            return
        entry[0] -= 1
        if entry[0] <= 0 and entry[1]:
            del self.pending[id(response)]
            cast(Any, reactor).callLater(0, self._release, response)

    def _release(self, response: Any) -> None:
        request = getattr(response, "request", None)
        if request is None:
            return
        lease = request.meta.pop(LEASE_META, None)
        pages = int(request.meta.pop(PAGES_META, 0))
        spider = self.crawler.spider
        pipe = self.server.pipeline(transaction=False)
        walk = getattr(spider, "xunshi_walk", None)
        if isinstance(walk, SharedWalk):
            walk.send(pipe, spider)
        counter = key(self.crawl, spider.name, "pages")
        if lease:
            self.script(keys=[lease[0], counter], args=[lease[1], pages], client=pipe)
        elif pages:
            pipe.incrby(counter, pages)
        pipe.execute()

    def process_spider_output(self, response: Any, result: Any) -> Any:
        for element in result:
            self._track(response, element)
            yield element
        self._output_done(response)

    async def process_spider_output_async(self, response: Any, result: Any) -> Any:
        async for element in result:
            self._track(response, element)
            yield element
        self._output_done(response)

    def process_spider_exception(self, response: Any, exception: Exception) -> None:
        self._output_done(response)


class Recording(set[str]):
    """A set that remembers what was added to it since it was last asked (``take``)."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self.fresh: list[str] = []

    def add(self, item: str) -> None:
        if item not in self:
            self.fresh.append(item)
            super().add(item)

    def update(self, *others: Any) -> None:
        for other in others:
            for item in other:
                self.add(item)

    def take(self) -> list[str]:
        fresh, self.fresh = self.fresh, []
        return fresh

    def merge(self, items: Any) -> None:
        """Add without remembering (what the other workers already sent)."""
        super().update(items)


class SharedWalk:
    """A site's list walk as every worker saw it, in Redis: the notices requested
    (``<site>:requested``), the links the list pages showed (``<site>:listed``) and whether
    a list page failed (``<site>:trouble``). Once the site is idle everywhere, one worker
    runs the spider's step after the walk (re-checks; with --full, ``delisted``) with all
    of it, as one process does with its own."""

    def __init__(self, server: Any, crawl: str, site: str) -> None:
        self.server = server
        self.keys = {n: key(crawl, site, n) for n in ("requested", "listed", "trouble")}
        self.trouble_sent = False

    def adopt(self, spider: Any) -> None:
        spider.requested = Recording(spider.requested)
        spider.listed = Recording(spider.listed)
        spider.xunshi_walk = self

    def send(self, pipe: Any, spider: Any) -> None:
        for name in ("requested", "listed"):
            values = getattr(spider, name)
            fresh = values.take() if isinstance(values, Recording) else []
            if fresh:
                pipe.sadd(self.keys[name], *fresh)
        if spider.list_trouble and not self.trouble_sent:
            pipe.set(self.keys["trouble"], 1)
            self.trouble_sent = True

    def gather(self, spider: Any) -> None:
        """Everything every worker sent, into this worker's spider."""
        for name in ("requested", "listed"):
            values = {v.decode() for v in self.server.smembers(self.keys[name])}
            getattr(spider, name).merge(values)
        spider.list_trouble = bool(spider.list_trouble or self.server.exists(self.keys["trouble"]))


# The sites this worker process is pinned to (their ``owner`` keys; see LeasedScheduler).
OWNED: set[str] = set()
# The sites the writer stopped (time limit): nothing more is queued or taken for them.
STOPPED: set[str] = set()


class LeasedScheduler(Scheduler):
    """scrapy-redis's Scheduler, for Scrapy 2.19.

    Where 0.9.1 lags: its ``enqueue_request``/``next_request`` pass ``spider=`` to
    ``StatsCollector.inc_value``, deprecated in Scrapy 2.13 (a warning per request): they
    are redone here without it. Its RedisSpider still feeds start requests through
    ``start_requests``; our spiders are not RedisSpiders: they keep Scrapy 2.13+'s
    ``async start()``, whose requests reach this scheduler like any other and are filtered
    by the shared duplicate filter, so every worker may run ``start()`` and each start page
    is still fetched once. ``close`` never clears the frontier (a worker ending must not
    empty the others' queue): the writer deletes the crawl's keys when the crawl ends.
    """

    def close(self, reason: str) -> None:
        name = key(self._crawl(), self.spider.name, "owner")
        if name in OWNED:
            OWNED.discard(name)
            with contextlib.suppress(Exception):
                self.server.delete(name) if self.server.get(name) == self._me() else None
        return None

    def _crawl(self) -> str:
        return _crawl_of(self.spider.settings)

    def _me(self) -> bytes:
        return str(self.spider.settings.get("XUNSHI_WORKER_ID")).encode()

    def _owned(self) -> bool:
        """Whether this worker crawls this site now. Each site is pinned to one worker at a
        time (``<site>:owner``, kept alive by the worker's heartbeat): its hosts' requests
        then never wait for a token another worker holds. A worker takes a free site
        while it has fewer than its share (sites / workers); a killed owner's key
        expires and another worker takes the site over."""
        now = time.monotonic()
        if now - getattr(self, "_checked", 0.0) < 0.2:
            return bool(getattr(self, "_mine", False))
        self._checked = now
        name = key(self._crawl(), self.spider.name, "owner")
        if name in OWNED:
            self._mine = self.server.get(name) == self._me()
            if not self._mine:
                OWNED.discard(name)
            return self._mine
        self._mine = False
        if not len(self.queue):
            return False
        settings = self.spider.settings
        sites = len(settings.getlist("XUNSHI_REDIS_SITES")) or 1
        workers = max(settings.getint("XUNSHI_REDIS_WORKERS"),
                      self.server.scard(key(self._crawl(), "workers")), 1)  # fmt: skip
        share = -(-sites // workers)
        if len(OWNED) < share and self.server.set(
            name, self._me(), nx=True, px=int(ALIVE_SECONDS * 1000)
        ):
            OWNED.add(name)
            self._mine = True
        return self._mine

    def enqueue_request(self, request: Any) -> bool:
        if self.spider.name in STOPPED:
            return False
        if request.meta.get("is_start_request"):
            # Every worker runs the spider's start(); a start request that is not filtered
            # (discovery's) goes into the frontier once, from the first worker.
            starts = key(self._crawl(), self.spider.name, "starts")
            if not self.server.sadd(starts, request.url):
                return False
        if not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            return False
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis")
        self.queue.push(request)
        return True

    def next_request(self) -> Any:
        if self.spider.name in STOPPED or not self._owned():
            return None
        request = self.queue.pop(self.idle_before_close)
        if request and self.stats:
            self.stats.inc_value("scheduler/dequeued/redis")
        return request


def requeue_dead_workers(
    server: Any, crawl: str, sites: list[str], stopped: set[str] | None = None
) -> list[tuple[str, int]]:
    """Put back into the frontier what workers that stopped answering had taken (dropped,
    for a site in ``stopped``); return each such worker and how many requests it had."""
    gone = []
    for raw in server.smembers(key(crawl, "workers")):
        worker = raw.decode()
        if server.exists(key(crawl, "alive", worker)):
            continue
        held = 0
        for site in sites:
            leased = key(crawl, site, "leased", worker)
            if stopped and site in stopped:
                server.delete(leased)
                continue
            while server.lmove(leased, key(crawl, site, "requests"), "LEFT", "LEFT"):
                held += 1
        if server.srem(key(crawl, "workers"), worker):
            gone.append((worker, held))
    return gone


def site_busy(server: Any, crawl: str, site: str) -> bool:
    """Whether a site's crawl is still going: requests in its frontier or leased by a worker."""
    if server.llen(key(crawl, site, "requests")):
        return True
    return any(
        server.llen(key(crawl, site, "leased", raw.decode()))
        for raw in server.smembers(key(crawl, "workers"))
    )


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


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or ''}:{parts.port or ''}"


# -- the workers' Scrapy components ----------------------------------------------------------


def _crawl_of(settings: Any) -> str:
    return str(settings.get("XUNSHI_REDIS_CRAWL"))


class WorkerExtension:
    """A worker's part of one site's crawl: what the spider routes by, the worker's leases,
    the step after the list walk (once, with what every worker saw), when the site is
    done across workers, and the site's end for the writer."""

    def __init__(self, crawler: Any) -> None:
        from scrapy_redis.connection import get_redis_from_settings

        self.crawler = crawler
        self.server = get_redis_from_settings(crawler.settings)
        self.crawl = _crawl_of(crawler.settings)
        self.worker = str(crawler.settings.get("XUNSHI_WORKER_ID"))
        self.run_id = crawler.settings.getint("XUNSHI_RUN_ID")
        self.sites = list(crawler.settings.getlist("XUNSHI_REDIS_SITES"))
        self.walked = False

    @classmethod
    def from_crawler(cls, crawler: Any) -> WorkerExtension:
        from scrapy import signals
        from scrapy.exceptions import NotConfigured

        if not crawler.settings.get("XUNSHI_REDIS_CRAWL"):
            raise NotConfigured
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Any) -> None:
        from scrapy import signals

        raw = self.server.get(key(self.crawl, "known", spider.name))
        if raw and isinstance(getattr(spider, "known", None), dict):
            spider.known = json.loads(raw)
        SharedWalk(self.server, self.crawl, spider.name).adopt(spider)
        # The spider's own step after its walk runs when the site is idle in every worker
        # (spider_idle below), not when this worker alone has nothing to do.
        if callable(getattr(spider, "on_idle", None)):
            self.crawler.signals.disconnect(spider.on_idle, signal=signals.spider_idle)

    def spider_idle(self, spider: Any) -> None:
        from scrapy.exceptions import DontCloseSpider

        # Idle here: every request this worker took for the site is done, its output
        # scheduled (in the frontier) or queued for the writer. The lease is returned.
        pipe = self.server.pipeline(transaction=False)
        walk = getattr(spider, "xunshi_walk", None)
        if isinstance(walk, SharedWalk):
            walk.send(pipe, spider)
        pipe.delete(key(self.crawl, spider.name, "leased", self.worker))
        pipe.execute()
        if spider.name in STOPPED:
            return
        for worker, held in requeue_dead_workers(self.server, self.crawl, self.sites):
            logger.warning("worker %s stopped answering: %d requests back in the frontier",
                           worker, held)  # fmt: skip
        if site_busy(self.server, self.crawl, spider.name):
            raise DontCloseSpider
        if self._after_walk(spider):
            raise DontCloseSpider

    def _after_walk(self, spider: Any) -> bool:
        """The spider's step after its list walk (``on_idle``: re-checks of stored notices
        no list showed; after a clean --full walk, ``delisted``), by the first worker to
        find the site idle everywhere; whether it queued more requests."""
        from scrapy.exceptions import DontCloseSpider

        if self.walked:
            return False
        self.walked = True
        walk = getattr(spider, "xunshi_walk", None)
        on_idle = getattr(spider, "on_idle", None)
        if not isinstance(walk, SharedWalk) or not callable(on_idle):
            return False
        if not self.server.set(key(self.crawl, spider.name, "walked"), self.worker, nx=True):
            return False
        walk.gather(spider)
        try:
            on_idle()
        except DontCloseSpider:
            return True
        return False

    def spider_closed(self, spider: Any, reason: str) -> None:
        stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        message = {"kind": "closed", "run_id": self.run_id, "worker": self.worker,
                   "reason": reason, "stats": stats}  # fmt: skip
        self.server.lpush(key(self.crawl, "items"), pickle.dumps(message))


def _prepared(item: Any, site_dict: tuple[int, bytes] | None = None) -> Any:
    """A notice's pure per-notice work (store/prepare.py), done here in the worker so that
    the one store writer only runs SQL; None when it cannot be done (the writer will).
    ``site_dict``: the site's page dictionary as the writer last published it (None: the
    site has none yet); a page compressed against another than the writer's current one
    is compressed again by the writer."""
    from crawler.items import Notice
    from store.notices import utcnow
    from store.prepare import prepare

    if not isinstance(item, Notice) or not item.text:
        return None
    try:
        return prepare(item, utcnow(), site_dict=site_dict, page=True)
    except Exception:  # noqa: BLE001 (the writer computes what is missing)
        logger.warning("could not prepare %s; the writer will", item.url, exc_info=True)
        return None


DICT_CHECK_SECONDS = 5.0  # how often a worker asks whether a site's page dictionary changed


class RedisItemPipeline:
    """In a worker, in place of the store: every item goes to the writer through Redis."""

    def __init__(self, crawler: Any) -> None:
        from scrapy_redis.connection import get_redis_from_settings

        self.server = get_redis_from_settings(crawler.settings)
        self.crawl = _crawl_of(crawler.settings)
        self.queue = key(self.crawl, "items")
        self.run_id = crawler.settings.getint("XUNSHI_RUN_ID")
        # each site's page dictionary as the writer published it, and when it was checked
        self.dicts: dict[str, tuple[float, tuple[int, bytes] | None]] = {}

    @classmethod
    def from_crawler(cls, crawler: Any) -> RedisItemPipeline:
        from scrapy import signals

        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.item_dropped, signal=signals.item_dropped)
        return pipeline

    def process_item(self, item: Any) -> Any:
        message: dict[str, Any] = {"kind": "item", "run_id": self.run_id, "item": item}
        prepared = _prepared(item, self._site_dict(item))
        if prepared is not None:
            message["prepared"] = prepared
        self.server.lpush(self.queue, pickle.dumps(message))
        return item

    def _site_dict(self, item: Any) -> tuple[int, bytes] | None:
        """The page dictionary the writer published for the item's site (checked again
        every DICT_CHECK_SECONDS; the content is read only when its id changed)."""
        site = getattr(item, "site", None)
        if not isinstance(site, str):
            return None
        now = time.monotonic()
        checked, current = self.dicts.get(site, (None, None))
        if checked is not None and now - checked < DICT_CHECK_SECONDS:
            return current
        try:
            dict_id = self.server.get(key(self.crawl, "dict-id", site))
            if dict_id is not None and (current is None or int(dict_id) != current[0]):
                raw = self.server.get(key(self.crawl, "dict", site))
                current = pickle.loads(raw) if raw else None
        except Exception:  # noqa: BLE001 (the writer compresses the page itself)
            logger.warning("cannot read the page dictionary of %s", site, exc_info=True)
            current = None
        self.dicts[site] = (now, current)
        return current

    def item_dropped(
        self, item: Any, response: Any, exception: BaseException, spider: Any = None
    ) -> None:
        from crawler.items import Notice

        if isinstance(item, Notice):
            message = {"kind": "dropped", "run_id": self.run_id, "item": item,
                       "reason": str(exception)}  # fmt: skip
            self.server.lpush(self.queue, pickle.dumps(message))


# Release a host's token only when it is still ours; keep it ARGV[2] ms (the delay).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  if tonumber(ARGV[2]) > 0 then return redis.call('pexpire', KEYS[1], ARGV[2]) end
  return redis.call('del', KEYS[1])
end
return 0
"""


class HostLock:
    """One request in flight per host across every worker (a downloader middleware, next to
    the download itself): a request waits for its host's token in Redis, holds it until
    the answer, and the token is kept for the site's delay after. A token whose worker
    stopped answering (killed) is taken back at once."""

    def __init__(self, crawler: Any) -> None:
        from scrapy_redis.connection import get_redis_from_settings

        self.crawler = crawler
        self.server = get_redis_from_settings(crawler.settings)
        self.crawl = _crawl_of(crawler.settings)
        self.worker = str(crawler.settings.get("XUNSHI_WORKER_ID"))
        self.release_script = self.server.register_script(_RELEASE)
        self.serial = 0

    @classmethod
    def from_crawler(cls, crawler: Any) -> HostLock:
        from scrapy.exceptions import NotConfigured

        if not crawler.settings.get("XUNSHI_REDIS_CRAWL"):
            raise NotConfigured
        return cls(crawler)

    async def process_request(self, request: Any, spider: Any = None) -> None:
        import asyncio

        if not request.url.startswith(("http://", "https://")):
            return
        name = key(self.crawl, "lock", host_of(request.url))
        self.serial += 1
        token = f"{self.worker}|{self.serial}"
        timeout = float(request.meta.get("download_timeout") or 30)
        ttl = int((timeout + self._delay() + 5) * 1000)
        checked = time.monotonic()
        while not self.server.set(name, token, nx=True, px=ttl):
            if time.monotonic() - checked > 0.5:
                checked = time.monotonic()
                holder = (self.server.get(name) or b"").decode()
                owner = holder.split("|", 1)[0]
                if owner and not self.server.exists(key(self.crawl, "alive", owner)):
                    self.release_script(keys=[name], args=[holder, 0])
            await asyncio.sleep(0.01)
        request.meta["xunshi_host_lock"] = (name, token)

    def _delay(self) -> float:
        return max(self.crawler.settings.getfloat("DOWNLOAD_DELAY"), 0.0)

    def _release(self, request: Any) -> None:
        held = request.meta.pop("xunshi_host_lock", None)
        if held:
            self.release_script(keys=[held[0]], args=[held[1], int(self._delay() * 1000)])

    def process_response(self, request: Any, response: Any, spider: Any = None) -> Any:
        self._release(request)
        return response

    def process_exception(self, request: Any, exception: Exception, spider: Any = None) -> None:
        self._release(request)
