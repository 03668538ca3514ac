"""Downloader middlewares: recognise anti-bot blocks and challenge pages before anything parses them."""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.http import Response

from crawler.extract import detect_block


class BlockDetectionMiddleware:
    """Marks a response that is a block (403/412/420/429) or a challenge page.

    The spider sees ``response.meta["blocked"]`` and reports the page as blocked instead
    of parsing it; a challenge page is never stored as a notice and never retried.
    """

    def process_response(
        self, request: Request, response: Response, spider: Any = None
    ) -> Response:
        reason = detect_block(response.status, response.body)
        if reason:
            request.meta["blocked"] = reason
        return response
