"""Retries with exponential backoff: a server in trouble gets time to recover, not a burst."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Response
from scrapy.settings import BaseSettings


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retry rules (RETRY_TIMES, RETRY_HTTP_CODES), with a pause before each retry.

    The n-th retry waits XUNSHI_RETRY_BACKOFF * 2**(n-1) seconds, at most
    XUNSHI_RETRY_BACKOFF_MAX. Only the retried request waits; the crawl goes on.
    """

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.backoff = settings.getfloat("XUNSHI_RETRY_BACKOFF")
        self.backoff_max = settings.getfloat("XUNSHI_RETRY_BACKOFF_MAX")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        mw = cls(crawler.settings)
        mw.crawler = crawler
        return mw

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response, spider: Any = None
    ) -> Request | Response:
        result = super().process_response(request, response)
        if isinstance(result, Request):
            await self._pause(result)
        return result

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception, spider: Any = None
    ) -> Request | Response | None:
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            await self._pause(result)
        return result

    async def _pause(self, retry: Request) -> None:
        attempt = int(retry.meta.get("retry_times", 1))
        delay = min(self.backoff * 2 ** (attempt - 1), self.backoff_max)
        # Never past the site's time limit (set by crawler.downloader.HostGuard).
        deadline = getattr(
            getattr(self, "crawler", None) and self.crawler.spider, "xunshi_deadline", None
        )
        if deadline is not None:
            delay = min(delay, max(deadline - time.monotonic(), 0.0))
        if delay > 0:
            await asyncio.sleep(delay)
