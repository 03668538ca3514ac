"""The Scrapy components a crawl worker runs (issue 12; crawler/worker.py starts it): its
part of each site's crawl (WorkerExtension), the pipeline that sends what it finds to the
store writer through Redis, with each notice's pure work prepared (RedisItemPipeline), and
the per-host lock that keeps one request in flight per host across workers (HostLock).
See crawler/distributed.py for the whole design."""

from __future__ import annotations

import json
import logging
import os
import pickle
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from crawler.frontier import (
    STOPPED,
    SharedWalk,
    crawl_of,
    key,
    requeue_dead_workers,
    site_busy,
)

logger = logging.getLogger(__name__)


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or ''}:{parts.port or ''}"


# -- the workers' Scrapy components ----------------------------------------------------------


class WorkerExtension:
    """A worker's part of one site's crawl: what the spider routes by, the worker's leases,
    the step after the list walk (once, with what every worker saw), when the site is
    done across workers, and the site's end for the writer."""

    def __init__(self, crawler: Any) -> None:
        from scrapy_redis.connection import get_redis_from_settings

        self.crawler = crawler
        self.server = get_redis_from_settings(crawler.settings)
        self.crawl = crawl_of(crawler.settings)
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
        self.crawl = crawl_of(crawler.settings)
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
        self.crawl = crawl_of(crawler.settings)
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
