"""Politeness and fast failure below the spider: one request at a time per host, one gate for
the whole process, and hosts that never answered given up on in seconds.

``PoliteDownloader`` (the ``DOWNLOADER`` setting) is Scrapy's downloader with two changes:

- A request counts against its slot's concurrency from the moment it is handed over, not
  from when its download task first runs. Scrapy 2.19 hands a request over by scheduling a
  task (``_schedule_coro``); with ``DOWNLOAD_DELAY = 0`` its loop then saw the slot still
  free and handed over every queued request in one pass: 3-4 requests to one host at once
  although ``CONCURRENT_REQUESTS_PER_DOMAIN = 1``.
- One gate for every crawler of the process: at most ``XUNSHI_PROCESS_CONCURRENCY``
  downloads in flight over all sites together (each site is its own crawler, with its own
  slots, delays and AutoThrottle; the gate is what ``CONCURRENT_REQUESTS`` is for a crawl
  of one site). A slot waiting for the gate is woken when any download ends.

``HostGuard`` (a downloader middleware) gives up on a host that never answered: the first
connection failure of a host that has not answered once in this crawl (DNS, refused,
timeout) is not retried, and every later request to it fails at once with the same
reason. A host's first requests use the short ``XUNSHI_FIRST_CONTACT_TIMEOUT``; once it
has answered, ``DOWNLOAD_TIMEOUT`` applies. It also keeps every download within the site's
time limit (``XUNSHI_DEADLINE``), so that a time limit holds within a second or two.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.core.downloader import Downloader, Slot
from scrapy.crawler import Crawler
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
)
from scrapy.http import Response
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro
from twisted.internet.error import (
    ConnectError,
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)


class ProcessGate:
    """How many downloads are in flight in this process, and who waits for a free place."""

    def __init__(self, limit: int = 0) -> None:
        self.limit = limit  # 0: no limit
        self.in_flight = 0
        self.peak = 0
        self.waiting: deque[tuple[PoliteDownloader, Slot]] = deque()

    def free(self) -> bool:
        return self.limit <= 0 or self.in_flight < self.limit

    def take(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def release(self) -> None:
        self.in_flight -= 1
        while self.waiting and self.free():
            downloader, slot = self.waiting.popleft()
            if not downloader.closed:
                downloader._process_queue(slot)

    def wait(self, downloader: PoliteDownloader, slot: Slot) -> None:
        if (downloader, slot) not in self.waiting:
            self.waiting.append((downloader, slot))


# One per process: every crawler of a crawl shares it (crawler.run sets its limit).
GATE = ProcessGate()


class PoliteDownloader(Downloader):
    """Scrapy's downloader, with a request counted against its slot from hand-over, and the process gate."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.closed = False
        limit = crawler.settings.getint("XUNSHI_PROCESS_CONCURRENCY")
        if limit and not GATE.limit:
            GATE.limit = limit

    def _process_queue(self, slot: Slot) -> None:
        if slot.latercall or self.closed:
            return
        now = time.monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = call_later(penalty, self._latercall, slot)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            if not GATE.free():
                GATE.wait(self, slot)
                return
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            # Counted from now: the task below starts later, and the slot must not look free.
            slot.transferring.add(request)
            GATE.take()
            _schedule_coro(self._gated_download(slot, request, queue_dfd))
            if delay:
                self._process_queue(slot)
                break

    async def _gated_download(self, slot: Slot, request: Request, queue_dfd: Any) -> None:
        try:
            await self._wait_for_download(slot, request, queue_dfd)
        finally:
            GATE.release()

    def close(self) -> None:
        self.closed = True
        if self.crawler.stats is not None:
            self.crawler.stats.set_value("xunshi/process_peak", GATE.peak)
        super().close()


# -- hosts that never answered ---------------------------------------------------------------


def connection_problem(exc: BaseException) -> str | None:
    """Why a host could not be reached, in words, or None for any other failure."""
    if isinstance(exc, DNSLookupError | CannotResolveHostError):
        return "DNS lookup failed"
    if isinstance(exc, ConnectionRefusedError | DownloadConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TCPTimedOutError | TimeoutError | DownloadTimeoutError):
        return "no answer (timeout)"
    if isinstance(exc, ConnectError):
        return f"cannot connect ({exc.__class__.__name__})"
    return None


class TimeLimitReached(IgnoreRequest):
    """A request dropped because its site's time limit was reached."""


class HostUnreachable(IgnoreRequest):
    """A request not sent: its host never answered in this crawl."""


class HostGuard:
    """Fails fast on hosts that never answered; keeps every download inside the time limit."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.first_contact = settings.getfloat("XUNSHI_FIRST_CONTACT_TIMEOUT")
        self.download_timeout = settings.getfloat("DOWNLOAD_TIMEOUT")
        self.answered: set[str] = set()
        self.dead: dict[str, str] = {}
        self.deadline: float | None = None
        self.limit = settings.getfloat("XUNSHI_TIME_LIMIT")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HostGuard:
        guard = cls(crawler)
        crawler.signals.connect(guard.spider_opened, signal=signals.spider_opened)
        return guard

    def spider_opened(self, spider: Any = None) -> None:
        if self.limit > 0:
            self.deadline = time.monotonic() + self.limit
            # crawler.retry shortens its backoff pauses to what is left.
            if spider is not None:
                spider.xunshi_deadline = self.deadline

    def process_request(self, request: Request, spider: Any = None) -> None:
        host = urlsplit(request.url).hostname or ""
        if host in self.dead:
            raise HostUnreachable(f"{host}: {self.dead[host]} (no answer in this crawl)")
        timeout = request.meta.get("download_timeout") or self.download_timeout
        if host not in self.answered and self.first_contact > 0:
            timeout = min(timeout, self.first_contact)
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeLimitReached("time limit reached")
            timeout = min(timeout, left + 0.5)
        request.meta["download_timeout"] = max(timeout, 0.1)

    def process_response(
        self, request: Request, response: Response, spider: Any = None
    ) -> Response:
        self.answered.add(urlsplit(request.url).hostname or "")
        return response

    def process_exception(self, request: Request, exception: Exception, spider: Any = None) -> None:
        host = urlsplit(request.url).hostname or ""
        problem = connection_problem(exception)
        if problem and host not in self.answered:
            # Not retried: a host that never answered gets one try per crawl.
            request.meta["dont_retry"] = True
            self.dead.setdefault(host, problem)
            if self.crawler.stats is not None:
                self.crawler.stats.set_value("xunshi/unreachable", f"{host}: {problem}")
