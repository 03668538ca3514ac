"""The crawl's shared frontier in Redis, as the workers use it (issue 12): scrapy-redis's
queue and scheduler with leases (a request a worker takes stays leased to it until its
callbacks are done, and goes back to the frontier when the worker dies), the pages counted
once, and the list walk as every worker saw it. The keys are described in
crawler/distributed.py, which runs the crawl and its store writer."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, cast

from scrapy_redis.queue import FifoQueue
from scrapy_redis.scheduler import Scheduler

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


def crawl_of(settings: Any) -> str:
    """The crawl a worker's Scrapy settings belong to."""
    return str(settings.get("XUNSHI_REDIS_CRAWL"))


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
        self.crawl = crawl_of(crawler.settings)
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

# A request marked seen and put in the frontier in one step: 0 when its start URL was queued
# already, -1 when the duplicate filter had it, 1 when it went in. Done in two calls, another
# worker could find it seen (and drop its own copy) before it was in the frontier, see the
# site idle everywhere, and run the step after the list walk before the walk began.
_ENQUEUE = """
if ARGV[1] ~= '' and redis.call('sadd', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] ~= '' and redis.call('sadd', KEYS[2], ARGV[2]) == 0 then return -1 end
redis.call('lpush', KEYS[3], ARGV[3])
return 1
"""


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
        return crawl_of(self.spider.settings)

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
        # Every worker runs the spider's start(); a start request that is not filtered
        # (discovery's) goes into the frontier once, from the first worker (``starts``).
        # The checks and the push are one step (_ENQUEUE).
        if getattr(self, "_enqueue", None) is None:
            self._enqueue = self.server.register_script(_ENQUEUE)
        added = self._enqueue(
            keys=[key(self._crawl(), self.spider.name, "starts"), self.df.key, self.queue.key],
            args=[
                request.url if request.meta.get("is_start_request") else "",
                "" if request.dont_filter else self.df.request_fingerprint(request),
                self.queue._encode_request(request),
            ],
        )
        if added == -1:
            self.df.log(request, self.spider)
        if added != 1:
            return False
        if self.stats:
            self.stats.inc_value("scheduler/enqueued/redis")
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
