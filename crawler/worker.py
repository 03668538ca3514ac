"""A crawl worker (issue 12): ``python -m crawler.worker --redis URL [--crawl ID]``.

With ``--crawl``: one Scrapy process that crawls every site of that crawl from the
frontier in Redis (scrapy-redis) and sends what it finds to the store writer through
Redis; it never opens the database. It ends when every site's frontier is empty and no
worker holds a lease (see crawler/distributed.py and crawler/frontier.py).

Without ``--crawl`` (``xunshi worker``, on another machine): waits for crawls to appear in
Redis and works on each in a fresh process (Twisted's reactor cannot restart), until
stopped (Ctrl-C) or, with ``--once``, after one crawl.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from typing import Any

from crawler.frontier import (
    ALIVE_SECONDS,
    CRAWLS_KEY,
    OWNED,
    STOPPED,
    WRITER_SECONDS,
    RedisUnavailable,
    connect,
    key,
)
from crawler.worker_crawl import new_worker_id

# Status lines for whoever started the worker (stderr, plain): ``log_to_stderr`` sets that up
# in each entry point; the worker's Scrapy log goes its own way (Scrapy's root handler).
logger = logging.getLogger("xunshi.worker")


def log_to_stderr() -> None:
    """Send the worker's status lines to stderr as they are, whatever Scrapy does with the
    root logger (it installs its own handler when a crawl starts)."""
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def run_worker(url: str, crawl: str) -> int:
    """Work on ``crawl`` until it is done; 0, or 1 when the crawl is unknown or over."""
    server = connect(url)
    raw = server.get(key(crawl, "plan"))
    if raw is None:
        logger.error("crawl %s is not in Redis (over, or never started)", crawl)
        return 1
    plan = json.loads(raw)
    if not server.exists(key(crawl, "writer")):
        logger.error("crawl %s has no store writer any more (it stopped answering)", crawl)
        return 1

    from scrapy.core.engine import ExecutionEngine
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings
    from twisted.internet import task

    from crawler import sites as registry
    from crawler.extensions import TimeLimit
    from crawler.launch import add_site
    from crawler.run import _profile_from

    for name, values in plan.get("profiles", {}).items():
        registry.SITES[name] = _profile_from(values)
    # The engine polls its scheduler every 5 s when it has nothing to do; a worker waiting
    # for the others' requests should take them sooner.
    ExecutionEngine._SLOT_HEARTBEAT_INTERVAL = 0.5
    worker = new_worker_id()
    sites = [entry["site"] for entry in plan["sites"]]
    settings = get_project_settings()
    settings.setdict(plan.get("settings", {}), priority="cmdline")
    settings.setdict(
        {
            "REDIS_URL": url,
            "XUNSHI_REDIS_CRAWL": crawl,
            # A worker never opens the database: what it needs of it is in the plan (each
            # site's kept list) and in Redis (the stored notices the spider routes by).
            "XUNSHI_DB": None,
            "XUNSHI_REDIS_SITES": sites,
            "XUNSHI_REDIS_WORKERS": int(plan.get("workers") or 0),
            "XUNSHI_WORKER_ID": worker,
            "SCHEDULER": "crawler.frontier.LeasedScheduler",
            "SCHEDULER_QUEUE_CLASS": "crawler.frontier.LeasedQueue",
            "SCHEDULER_QUEUE_KEY": key(crawl, "%(spider)s", "requests"),
            "SCHEDULER_DUPEFILTER_KEY": key(crawl, "%(spider)s", "dupefilter"),
            "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
            "SCHEDULER_PERSIST": True,
            "ITEM_PIPELINES": {
                **settings.getdict("ITEM_PIPELINES"),
                "crawler.pipelines.StorePipeline": None,
                "crawler.worker_crawl.RedisItemPipeline": 300,
            },
            "EXTENSIONS": {
                **settings.getdict("EXTENSIONS"),
                # reads the database: checked by the writer at the end of each site's run
                "crawler.extensions.SiteHealth": None,
                "crawler.worker_crawl.WorkerExtension": 600,
            },
            "SPIDER_MIDDLEWARES": {
                **settings.getdict("SPIDER_MIDDLEWARES"),
                # first to see a callback's output, last to let it go
                "crawler.frontier.LeaseRelease": 10,
            },
            "DOWNLOADER_MIDDLEWARES": {
                **settings.getdict("DOWNLOADER_MIDDLEWARES"),
                "crawler.worker_crawl.HostLock": 950,
                "crawler.frontier.PageTally": 940,
            },
        },
        priority="cmdline",
    )
    alive = key(crawl, "alive", worker)
    server.set(alive, "1", px=int(ALIVE_SECONDS * 1000))
    server.sadd(key(crawl, "workers"), worker)
    logger.info("worker %s on crawl %s: %d sites", worker, crawl, len(sites))

    process = CrawlerProcess(settings)
    crawlers: dict[str, Any] = {}
    limits = {entry["site"]: float(entry.get("timeout") or 0) for entry in plan["sites"]}

    def stop_sites() -> None:
        """The sites the writer stopped at their time limit stop here too, at once."""
        for raw in server.smembers(key(crawl, "stopped")):
            site = raw.decode()
            if site in STOPPED:
                continue
            STOPPED.add(site)
            crawler = crawlers.get(site)
            if crawler is None:
                continue
            try:
                running = crawler.engine.spider is not None
            except RuntimeError:  # not started yet (Scrapy's unset engine)
                running = False
            if running:
                TimeLimit(crawler, limits.get(site) or 0).expire()

    def stop(why: str) -> None:
        heart.stop()
        process.stop()
        logger.info("%s; stopping", why)  # (logging drops it if no one reads stderr any more)

    def beat() -> None:
        try:
            server.set(alive, "1", px=int(ALIVE_SECONDS * 1000))
            server.sadd(key(crawl, "workers"), worker)  # (again, if taken for gone while busy)
            for name in list(OWNED):
                server.pexpire(name, int(ALIVE_SECONDS * 1000))
            if not server.exists(key(crawl, "plan")):
                stop("the writer ended the crawl")  # done, or stopped
                return
            if not server.exists(key(crawl, "writer")):
                stop(f"the store writer has not answered for {WRITER_SECONDS:g} s")
                return
            stop_sites()
        except Exception as exc:  # noqa: BLE001 (Redis gone: stop; the writer records it)
            stop(f"lost Redis: {exc}")

    for entry in plan["sites"]:
        # the kept list ({} when none): the spider does not look for it in a database
        crawler, _ = add_site(process, entry, {"XUNSHI_KEPT_LIST": entry.get("kept") or {}})
        crawlers[entry["site"]] = crawler
    heart = task.LoopingCall(beat)
    server.set(alive, "1", px=int(ALIVE_SECONDS * 1000))
    heart.start(1.0, now=False)  # from when the reactor runs
    try:
        process.start()
    finally:
        try:
            server.srem(key(crawl, "workers"), worker)
            server.delete(alive)
        except Exception:  # noqa: BLE001,S110 (Redis gone: the others see this worker expire)
            pass
    return 0


def serve(url: str, once: bool = False, poll: float = 1.0) -> int:
    """``xunshi worker``: work on every crawl that appears in Redis, one at a time."""
    server = connect(url)
    done: set[str] = set()
    logger.info("waiting for crawls in Redis at %s (Ctrl-C stops)", url)
    while True:
        crawls = [c.decode() for c in server.zrange(CRAWLS_KEY, 0, -1)]
        todo = [c for c in crawls if c not in done]
        if not todo:
            time.sleep(poll)
            continue
        crawl = todo[0]
        done.add(crawl)
        logger.info("joining crawl %s", crawl)
        code = subprocess.call(
            [sys.executable, "-m", "crawler.worker", "--redis", url, "--crawl", crawl],
            env={**os.environ, "SCRAPY_SETTINGS_MODULE": "crawler.settings"},
        )
        if once:
            return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crawler.worker", description=__doc__)
    parser.add_argument("--redis", default=os.environ.get("XUNSHI_REDIS_URL"))
    parser.add_argument("--crawl")
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args(argv)
    log_to_stderr()
    if not args.redis:
        logger.error("no Redis URL: give --redis URL or set XUNSHI_REDIS_URL")
        return 2
    try:
        if args.crawl:
            return run_worker(args.redis, args.crawl)
        return serve(args.redis, once=args.once)
    except RedisUnavailable as exc:
        logger.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
