"""Scrapy extensions: a site's health at the end of its crawl (site_broken, site_quiet), and
what a crawl has done so far (for live progress and for the run row).

The pipeline counts what it stores into the crawler's stats (``xunshi/count/<name>``);
this module reads those counts, so that the spider routes requests, the pipeline stores
and nothing else has to know about either.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import CallLaterResult, call_later
from scrapy.utils.defer import deferred_from_coro

from crawler.downloader import TimeLimitReached
from store.db import StoreError
from store.notices import RUN_COUNTS, Store, check_quiet

logger = logging.getLogger(__name__)

COUNT_KEY = "xunshi/count/"


# One open database per process and path: every site of a crawl (one crawler each) shares
# it, instead of each opening, migrating and checking the file again.
_SHARED: dict[str, tuple[Store, int]] = {}


def acquire_store(path: str | None) -> Store:
    key = str(path or "")
    store, users = _SHARED.get(key, (None, 0))
    if store is None:
        store = Store.open(path)
    _SHARED[key] = (store, users + 1)
    return store


def release_store(path: str | None) -> None:
    key = str(path or "")
    store, users = _SHARED.get(key, (None, 0))
    if store is None:
        return
    if users <= 1:
        del _SHARED[key]
        store.close()
    else:
        _SHARED[key] = (store, users - 1)


def site_progress(stats: dict[str, Any]) -> dict[str, int]:
    """What a crawl has done so far, from its Scrapy stats: pages fetched (robots.txt not
    counted) and the run's counters."""
    pages = int(stats.get("downloader/response_count", 0)) - int(
        stats.get("robotstxt/response_count", 0)
    )
    out = {"pages": max(pages, 0)}
    out.update({k: int(stats.get(COUNT_KEY + k, 0)) for k in RUN_COUNTS})
    return out


def broken_reason(stats: dict[str, Any], has_notices: bool) -> str | None:
    """Why a site looks broken after a crawl, or None (a pure function of the crawl's stats)."""
    if stats.get("xunshi/list_pages", 0) and not stats.get("xunshi/list_links", 0):
        if has_notices:
            return "the list pages show no notice links any more: has the layout changed?"
        return None
    failures = int(stats.get("xunshi/parse_failures", 0))
    if failures and not stats.get(COUNT_KEY + "notices_seen", 0):
        return f"{failures} article pages failed to parse and none parsed"
    return None


def _by_status(stats: dict[str, Any], prefix: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for key, value in stats.items():
        if key.startswith(prefix) and key[len(prefix) :].isdigit():
            out[int(key[len(prefix) :])] = int(value)
    return out


def no_page_reason(stats: dict[str, Any]) -> str | None:
    """Why a crawl fetched no usable page (robots.txt, error answers and block pages do
    not count), or None when it fetched one: DNS, refused, timeout, blocked, HTTP errors."""
    answers = _by_status(stats, "downloader/response_status_count/")
    robots = _by_status(stats, "robotstxt/response_status_count/")
    good = sum(n - robots.get(code, 0) for code, n in answers.items() if code < 400)
    if good - int(stats.get(COUNT_KEY + "blocked", 0)) > 0:
        return None
    unreachable = stats.get("xunshi/unreachable")
    if unreachable:
        return f"no page could be fetched: {unreachable}"
    if stats.get("robotstxt/forbidden", 0):
        return "no page could be fetched: robots.txt forbids the start page"
    if stats.get(COUNT_KEY + "blocked", 0):
        return "no page could be fetched: blocked by the site"
    errors = sorted(
        code for code, n in answers.items() if code >= 400 and n - robots.get(code, 0) > 0
    )
    if errors:
        return "no page could be fetched: the site answered " + ", ".join(
            f"HTTP {code}" for code in errors
        )
    return "no page could be fetched"


class SiteHealth:
    """At the end of a site's crawl: a ``site_broken`` event when its lists or articles
    stopped parsing, a ``site_quiet`` event when nothing new appeared for longer than usual."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.path = crawler.settings.get("XUNSHI_DB")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SiteHealth:
        if not crawler.settings.getbool("XUNSHI_SITE_HEALTH", True):
            raise NotConfigured
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_closed(self, spider: Any, reason: str) -> None:
        stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        run_id = stats.get("xunshi/run_id")
        if run_id is None or stats.get("xunshi/store_error"):
            return
        site = spider.name
        try:
            store = acquire_store(self.path)
        except (sqlite3.Error, StoreError) as exc:
            logger.error("site health of %s not checked: %s", site, exc)
            return
        try:
            quiet = self.crawler.settings.getdict("XUNSHI_QUIET_DAYS").get(site)
            check_health(store, site, run_id, stats, quiet_days=quiet)
        finally:
            release_store(self.path)


def check_health(
    store: Store, site: str, run_id: int, stats: dict[str, Any], quiet_days: float | None = None
) -> None:
    """A site's health after its crawl: ``site_broken`` / ``site_quiet`` events (SiteHealth
    in one process, the store writer of a distributed crawl)."""
    try:
        has_notices = bool(
            list(store.db.query("select 1 from notices where site = ? limit 1", [site]))
        )
        broken = broken_reason(stats, has_notices)
        if broken:
            logger.error("site broken: %s: %s", site, broken)
            store.record_event(run_id, "site_broken", site=site, detail={"reason": broken})
        if check_quiet(store, site, run_id, quiet_days=quiet_days):
            logger.warning("site quiet: %s has shown nothing new for longer than usual", site)
    except (sqlite3.Error, StoreError) as exc:
        logger.error("site health of %s not recorded: %s", site, exc)


class TimeLimit:
    """Stops a site's crawl ``XUNSHI_TIME_LIMIT`` seconds after it opened, within a second or
    two: requests waiting in the downloader for their politeness delay are dropped, and
    downloads in flight end by then (``crawler.downloader.HostGuard`` shortens their
    timeout), so closing does not wait for them. The run is recorded "interrupted"."""

    REASON = "time_limit"

    def __init__(self, crawler: Crawler, limit: float) -> None:
        self.crawler = crawler
        self.limit = limit
        self.call: CallLaterResult | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> TimeLimit:
        limit = crawler.settings.getfloat("XUNSHI_TIME_LIMIT")
        if limit <= 0:
            raise NotConfigured
        ext = cls(crawler, limit)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Any = None) -> None:
        self.call = call_later(self.limit, self.expire)

    def spider_closed(self, spider: Any = None) -> None:
        if self.call is not None:
            self.call.cancel()
            self.call = None

    def expire(self) -> None:
        self.call = None
        engine = self.crawler.engine
        if engine is None or engine.spider is None:
            return
        logger.warning("%s: time limit of %g s reached; stopping", engine.spider.name, self.limit)
        for slot in list(engine.downloader.slots.values()):
            slot.close()
            while slot.queue:
                request, dfd = slot.queue.popleft()
                dfd.errback(TimeLimitReached(f"time limit of {self.limit:g} s reached"))
        deferred_from_coro(engine.close_spider_async(reason=self.REASON))
