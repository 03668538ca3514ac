"""The CCDI spider: the generic notice spider plus the site's quirks (column link, multi-page articles, mobile twins).

Everything else (profile selectors, extraction, block detection, incremental re-checks,
the store) is the generic spider's; the cookies the site sets from JavaScript are
re-sent by crawler.middlewares.JsCookieMiddleware because the profile asks for it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.http import Response

from crawler.article import extract_article
from crawler.extract import PageError, decode_page
from crawler.items import Notice
from crawler.listpage import find_column_link, trs_article_pages
from crawler.middlewares import redact_article, user_cookie_values
from crawler.sites import get_site
from crawler.spiders.notices import HANDLED_STATUSES, NoticeSpider, _content_type

_MOBILE_TWIN = re.compile(r"_m(\.html?)$")


class CcdiSpider(NoticeSpider):
    """中央纪委国家监委网站 (https://www.ccdi.gov.cn): notices of central inspection rounds."""

    name = "ccdi"
    profile = get_site("ccdi")
    # Bursts earned 403/420 answers where one request at a time with random pauses did
    # not: one request at a time, 3-9 s apart (a jitter of ±50% around 6 s), AutoThrottle
    # free to slow down further. A crawl of a local copy drops the delays.
    custom_settings = {
        "CONCURRENT_REQUESTS": 1,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "DOWNLOAD_DELAY": 6.0,
        "DOWNLOAD_DELAY_JITTER": 0.5,
        "AUTOTHROTTLE_START_DELAY": 6.0,
        "AUTOTHROTTLE_MAX_DELAY": 60.0,
    }

    async def start(self) -> AsyncIterator[scrapy.Request]:
        async for request in super().start():
            # The start page may be the 巡视巡察 index rather than the 巡视整改 list itself.
            request.meta["find_column"] = True
            yield request

    def parse_list(self, response: Response) -> Iterator[Any]:
        label = self.profile.column_text
        if label and response.meta.get("find_column") and self._problem(response) is None:
            try:
                text, _ = decode_page(response.body, _content_type(response), nul_ok=True)
            except PageError:
                text = ""  # the generic parse reports it
            column = find_column_link(text, response.url, label, self.profile) if text else None
            if column is not None:
                self.logger.info("following the %s column: %s", label, column)
                yield self._list_request(column)
                return
        yield from super().parse_list(response)

    def _article_request(self, url: str, *args: Any, **kwargs: Any) -> scrapy.Request:
        # A list may link the mobile twin; the desktop page is the one the profile knows.
        return super()._article_request(_MOBILE_TWIN.sub(r"\1", url), *args, **kwargs)

    def parse_article(self, response: Response) -> Iterator[Any]:
        for result in super().parse_article(response):
            if isinstance(result, Notice):
                pages = trs_article_pages(result.raw.decode(result.encoding, "replace"), result.url)
                if pages:
                    yield self._page_request(result, pages)
                    continue
            yield result

    def _page_request(self, notice: Notice, pages: list[str]) -> scrapy.Request:
        """The next page of a multi-page article, carrying what the pages before gave."""
        return scrapy.Request(
            pages[0],
            callback=self.parse_article_page,
            errback=self.on_error,
            meta={
                "handle_httpstatus_list": HANDLED_STATUSES,
                "page_kind": "article_page",
                "notice": notice,
                "pages": pages[1:],
            },
        )

    def parse_article_page(self, response: Response) -> Iterator[Any]:
        """Page 2… of an article: its paragraphs go after the earlier ones; the last page yields the notice.

        A page that fails fails the whole notice: half a text stored as a new version
        would read as a change.
        """
        notice: Notice = response.meta["notice"]
        problem = self._problem(response)
        if problem is not None:
            if not isinstance(problem, scrapy.Request):
                self.logger.warning("%s is incomplete without %s: not stored", notice.url, response.url)  # fmt: skip
            yield problem
            return
        try:
            text, _ = decode_page(response.body, _content_type(response))
            article = extract_article(text, response.url, self.profile)
        except PageError as exc:
            yield self._event(response, "parse_failed", f"page of {notice.url}: {exc}")
            return
        if article.methods.get("body") == "fallback":
            msg = "%s: no body selector matched, text found by the density fallback: %s"
            self.logger.warning(msg, self.name, response.url)
        secrets = user_cookie_values(self.profile)
        if any(secret.encode() in response.body for secret in secrets):
            self.logger.warning("%s shows the user's cookie: the value is not stored", response.url)
            article = redact_article(article, secrets)
        notice.paragraphs = [*notice.paragraphs, *article.paragraphs]
        rest: list[str] = response.meta["pages"]
        yield self._page_request(notice, rest) if rest else notice
