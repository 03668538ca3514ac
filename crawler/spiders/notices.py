"""The generic notice spider: walks a site's list pages, picks the 巡视整改 notices, fetches each.

One spider class per registered site is made from its profile, so ``scrapy list`` shows
every site and ``scrapy crawl <site>`` runs it. The spider only routes requests; all
parsing is in crawler.extract, crawler.listpage and crawler.article, all writing in the
store pipeline.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider
from scrapy.http import Response
from twisted.python.failure import Failure

from crawler.article import extract_article
from crawler.discover import MAX_HOPS, adopt_family, next_step, recognise_family
from crawler.downloader import HostUnreachable, TimeLimitReached, connection_problem
from crawler.extract import PageError, classify_title, decode_page
from crawler.families import query_next_page
from crawler.items import Notice, PageEvent, SiteList, canonical_url
from crawler.listpage import BadLink, parse_list, resolve_link
from crawler.middlewares import redact_article, redact_bytes, stored_headers, user_cookie_values
from crawler.sites import SITES, SiteProfile
from store.sites import load_site_state

# Statuses the callbacks handle themselves instead of Scrapy dropping them.
HANDLED_STATUSES = [301, 302, 303, 304, 307, 308, 403, 404, 410, 412, 420, 429]
REDIRECTS = frozenset({301, 302, 303, 307, 308})
SHANGHAI = timezone(timedelta(hours=8))


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _content_type(response: Response) -> str:
    value = response.headers.get("Content-Type")
    return value.decode("latin-1") if value else ""


def is_due(
    row: dict[str, Any], *, now: datetime, full: bool, recent_days: float, old_recheck_days: float
) -> bool:
    """Whether a stored notice should be re-checked: recent notices (published within
    ``recent_days``) every run, older ones when their last check is ``old_recheck_days``
    old; everything in a full crawl."""
    if full:
        return True
    published = _parse_iso(row.get("published_at")) or _parse_iso(row.get("first_seen"))
    if published is not None and now - published <= timedelta(days=recent_days):
        return True
    checked = _parse_iso(row.get("last_checked"))
    return checked is None or now - checked >= timedelta(days=old_recheck_days)


_HEADER_TIME = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})[ T]+(\d{1,2}):(\d{2})(?!\d)")


def publish_time(
    article_published: datetime | None, lines: list[str | None], list_date: str | None
) -> tuple[str | None, str | None]:
    """The notice's publish time (ISO 8601, +08:00) and the rule that gave it (None: the
    extractor's own).

    The page's own time wins: its extracted date, else the time of a date line at the top
    of its text (``2023-07-03 16:30 …``, in ``lines``: the header and first paragraphs);
    the list page's date, at 00:00, only when the page shows none.
    """
    if article_published is not None:
        return article_published.isoformat(), None
    for line in lines:
        m = _HEADER_TIME.match(line or "")
        if not m:
            continue
        y, mo, d, h, mi = (int(x) for x in m.groups())
        try:
            return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI).isoformat(), "date_line"
        except ValueError:
            continue
    if list_date:
        return f"{list_date}T00:00:00+08:00", "list"
    return None, None


class NoticeSpider(scrapy.Spider):
    """Crawl one site's notices; ``-a start_url=URL`` starts at a copy of the site instead."""

    profile: SiteProfile  # per class; discovery may refine it per crawl (_adopt)

    def __init__(
        self, start_url: str | None = None, full: str | bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.start_url_override = start_url
        # -a full=1: walk every list page and re-check every stored notice
        self.full = str(full).lower() in ("1", "true", "yes", "on")
        self.known: dict[str, dict[str, Any]] = {}
        self.requested: set[str] = set()
        self.all_known_pages = 0
        self.list_failed = False
        self.recheck_scheduled = False
        self.listed: set[str] = set()  # every article link the list pages showed
        self.list_trouble = False  # a list page failed, was capped or its pager was unreadable
        if start_url:
            if urlsplit(start_url).scheme not in ("http", "https"):
                raise ValueError(f"start_url must be an http(s) URL, got {start_url!r}")
            self.start_urls = [start_url]
            host = urlsplit(start_url).hostname or ""
            self.allowed_domains = [host]
        else:
            self.start_urls = list(self.profile.start_urls)
            self.allowed_domains = list(self.profile.allowed_domains)
        self.list_pages_seen = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> NoticeSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        # Settings are still open here (Scrapy >= 2.11): a crawl of a local copy needs no
        # politeness delays, a crawl of the real site keeps every default.
        settings = crawler.settings
        if settings.getbool("XUNSHI_LOOPBACK_NO_DELAY") and all(
            map(is_loopback, spider.start_urls)
        ):
            settings.set("DOWNLOAD_DELAY", 0, priority="spider")
            settings.set("DOWNLOAD_DELAY_JITTER", 0, priority="spider")
            settings.set("AUTOTHROTTLE_START_DELAY", 0, priority="spider")
            settings.set("AUTOTHROTTLE_ENABLED", False, priority="spider")
        # spider.known (the stored notices, by canonical URL) is filled by the store
        # pipeline when it opens, from its own connection (store.notices.load_known).
        crawler.signals.connect(spider.on_idle, signal=signals.spider_idle)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.profile.discover:
            yield self._discovery_start()
            return
        for url in self.start_urls:
            yield self._list_request(url)

    # -- discovery: from the home page to the 巡视整改 list (crawler/discover.py) --------------

    def _discovery_start(self) -> scrapy.Request:
        """The list kept from an earlier crawl, else the start page to look from."""
        state = None
        if not self.start_url_override:
            # A distributed crawl's worker has no database: the writer sends the kept list.
            given = self.crawler.settings.get("XUNSHI_KEPT_LIST")
            state = given if given is not None else load_site_state(self.crawler.settings.get("XUNSHI_DB"), self.name)  # fmt: skip
        kept = (state or {}).get("list_url")
        host = urlsplit(kept or "").hostname or ""
        if kept and any(host == d or host.endswith("." + d) for d in self.allowed_domains):
            self.logger.info("starting at the kept 巡视整改 list %s", kept)
            request = self._list_request(kept)
            request.meta.update(kept_list=True, family=(state or {}).get("family"))
            return request
        return self._discover_request(self.start_urls[0], 0)

    def _discover_request(self, url: str, hops: int) -> scrapy.Request:
        # Not filtered: looking again after the kept list failed may lead to pages (and
        # to the same list) fetched earlier in this crawl; hops bound the walk.
        request = self._list_request(url).replace(dont_filter=True)
        request.meta["discover_hops"] = hops
        return request

    def _discovery_route(self, response: Response) -> tuple[list[Any], bool]:
        """Items and requests for a page met while finding the list, and whether that is all.

        Not all (False): the page is the list, and the list walk goes on with it.
        """
        problem = self._problem(response)
        kept = response.meta.get("kept_list")
        if isinstance(problem, scrapy.Request):
            return [problem], True  # a redirect, followed with the same meta
        if problem is not None:
            if kept and problem.kind != "blocked":
                self.logger.warning("the kept list %s stopped answering: looking again", response.url)  # fmt: skip
                return [problem, *self._list_lost(response.url, problem.reason)], True
            return [problem], True
        try:
            text, _ = decode_page(response.body, _content_type(response))
        except PageError as exc:
            return [self._event(response, "parse_failed", f"start page: {exc}")], True
        if kept:
            if response.meta.get("redirects") and urlsplit(response.url).path in ("", "/"):
                # The site sends the old list to its home page: the list has moved.
                reason = f"redirected to {response.url}"
                self.logger.warning("the kept list %s moved (%s): looking again", response.meta["redirects"][0], reason)  # fmt: skip
                return self._list_lost(response.meta["redirects"][0], reason), True
            self._adopt(response.meta.get("family") or recognise_family(text))
            return [SiteList(self.name, response.url, self.profile.family, True, "kept")], False
        hops = int(response.meta["discover_hops"])
        notices = sum(link.verdict == "notice" for link in parse_list(text, response.url, self.profile).links)  # fmt: skip
        step = next_step(text, response.url, tuple(self.allowed_domains), hops, notices)
        fallback = response.meta.get("fallback_list") or (response.url if notices else None)
        if step.action == "follow" and step.url:
            self.logger.info("looking for the 巡视整改 list: %s -> %s (%s)", response.url, step.url, step.reason)  # fmt: skip
            request = self._discover_request(step.url, hops + 1)
            request.meta["fallback_list"] = fallback  # a page with notices met on the way
            return [request], True
        if step.action == "list":
            self._adopt(recognise_family(text))
            self.logger.info("the 巡视整改 list is %s (%s; %s CMS)", response.url, step.reason, self.profile.family)  # fmt: skip
            return [SiteList(self.name, response.url, self.profile.family, True, "discovered")], False  # fmt: skip
        if fallback and fallback != response.url:
            self.logger.info("no better list found: taking %s, which shows notices", fallback)
            request = self._discover_request(fallback, MAX_HOPS)
            request.meta["fallback_list"] = fallback
            return [request.replace(dont_filter=True)], True
        reason = f"no 巡视整改 list found from {self.start_urls[0]}: {step.reason}"
        self.list_trouble = True
        return [self._event(response, "parse_failed", reason)], True

    def _adopt(self, family: str) -> None:
        # An instance attribute: what the list page shows fills what the entry left open.
        self.profile = adopt_family(self.profile, family)

    def _list_lost(self, url: str, reason: str) -> list[Any]:
        return [SiteList(self.name, url, None, False, reason), self._discover_request(self.start_urls[0], 0)]  # fmt: skip

    # -- incremental re-checks ----------------------------------------------------------------

    def is_due(self, row: dict[str, Any], now: datetime | None = None) -> bool:
        """Whether a stored notice should be re-checked in this run (see ``is_due``)."""
        settings = self.crawler.settings
        return is_due(
            row,
            now=now or datetime.now(UTC),
            full=self.full,
            recent_days=settings.getfloat("XUNSHI_RECENT_DAYS"),
            old_recheck_days=settings.getfloat("XUNSHI_OLD_RECHECK_DAYS"),
        )

    def on_idle(self) -> None:
        """After the list walk: re-check the due stored notices that no list page showed,
        or, after a complete full walk, report them as gone from the lists."""
        if self.recheck_scheduled:
            return
        self.recheck_scheduled = True
        engine = self.crawler.engine
        assert engine is not None
        unlisted = [
            row["url"] for key, row in self.known.items()
            if key not in self.requested and not row.get("removed_at") and self.is_due(row)
        ]  # fmt: skip
        # Only a full walk that read every list page cleanly can say a notice is gone
        # from the lists; an incremental walk stops early by design.
        if self.full and not self.list_trouble and self.listed and unlisted:
            self.logger.info("%d stored notices are on no list page any more", len(unlisted))
            engine.crawl(
                scrapy.Request("data:,", callback=self._report_delisted, cb_kwargs={"urls": unlisted},
                               dont_filter=True, meta={"allow_offsite": True})
            )  # fmt: skip
            raise DontCloseSpider
        if not unlisted:
            return
        self.logger.info("re-checking %d stored notices not seen on the list pages", len(unlisted))
        for url in unlisted:
            engine.crawl(self._article_request(url, "known", ""))
        raise DontCloseSpider

    def _report_delisted(self, response: Response, urls: list[str]) -> Iterator[PageEvent]:
        for url in urls:
            yield PageEvent(self.name, url, "delisted", "no longer on the site's list pages")

    # -- requests -------------------------------------------------------------------------

    def _list_request(self, url: str) -> scrapy.Request:
        return scrapy.Request(
            url,
            callback=self.parse_list,
            errback=self.on_error,
            meta={"handle_httpstatus_list": HANDLED_STATUSES, "page_kind": "list"},
        )

    def _article_request(
        self, url: str, verdict: str, list_title: str, list_date: str | None = None
    ) -> scrapy.Request:
        key = canonical_url(url)
        self.requested.add(key)
        headers: dict[str, str] = {}
        row = self.known.get(key)
        if row is not None and not self.full:
            # A conditional request: an unchanged page costs the site a 304 and no body.
            if row.get("etag"):
                headers["If-None-Match"] = row["etag"]
            if row.get("last_modified"):
                headers["If-Modified-Since"] = row["last_modified"]
        return scrapy.Request(
            url,
            callback=self.parse_article,
            errback=self.on_error,
            headers=headers,
            dont_filter=False,
            meta={
                "handle_httpstatus_list": HANDLED_STATUSES,
                "page_kind": "article",
                "verdict": verdict,
                "list_title": list_title,
                "list_date": list_date,
            },
        )

    # -- callbacks ------------------------------------------------------------------------

    def parse_list(self, response: Response) -> Iterator[Any]:
        if response.meta.get("discover_hops") is not None or response.meta.get("kept_list"):
            routed, done = self._discovery_route(response)
            yield from routed
            if done:
                return
        problem = self._problem(response)
        if problem is not None:
            self.list_trouble |= isinstance(problem, PageEvent)
            yield problem
            return
        try:
            text, _ = decode_page(response.body, _content_type(response), nul_ok=True)
            page = parse_list(
                text,
                response.url,
                self.profile,
                max_url_length=self.crawler.settings.getint("URLLENGTH_LIMIT") or None,
            )
        except PageError as exc:
            self.list_trouble = True
            yield self._event(response, "parse_failed", f"list page: {exc}")
            return
        except Exception as exc:  # one hostile page must not end the walk unreported
            self.logger.exception("cannot read the list page %s", response.url)
            self.list_trouble = True
            yield self._event(response, "parse_failed", f"list page: {exc.__class__.__name__}: {exc}")  # fmt: skip
            return
        for bad in page.skipped:
            self.logger.warning("skipped a link on %s: %s (%s)", response.url, bad.href, bad.reason)
            yield PageEvent(self.name, response.url, "skipped", f"{bad.reason}: {bad.href}")
        if not page.next_pages:
            page.next_pages = [u for u in [query_next_page(text, response.url)] if u]  # ?page=N
        self.listed.update(canonical_url(link.url) for link in page.links)
        # A skipped link may be a stored notice's: a full walk cannot call anything delisted.
        self.list_trouble |= bool(page.problems) or bool(page.skipped)
        self.list_pages_seen += 1
        stats = self.crawler.stats
        if stats is not None:
            stats.inc_value("xunshi/list_pages")
            stats.inc_value("xunshi/list_links", len(page.links))
        for problem_text in page.problems:
            self.logger.warning("%s: %s", response.url, problem_text)
        candidates = [link for link in page.links if link.verdict != "no"]
        new_links = 0
        for link in candidates:
            key = canonical_url(link.url)
            row = self.known.get(key)
            if row is None:
                new_links += 1
            elif not self.is_due(row) or key in self.requested:
                continue
            yield self._article_request(link.url, link.verdict, link.title, link.date)
        if candidates and not new_links:
            self.all_known_pages += 1
        settings = self.crawler.settings
        if not self.full and self.all_known_pages >= settings.getint(
            "XUNSHI_STOP_AFTER_KNOWN_PAGES"
        ):
            self.logger.info(
                "%s shows only stored notices: not walking further (--full does)", response.url
            )
            return
        limit = settings.getint("XUNSHI_MAX_LIST_PAGES")
        for url in page.next_pages:
            if self.list_pages_seen >= limit:
                self.logger.warning("stopping at %d list pages (XUNSHI_MAX_LIST_PAGES)", limit)
                self.list_trouble = True
                break
            yield self._list_request(url)

    def parse_article(self, response: Response) -> Iterator[Any]:
        problem = self._problem(response)
        if problem is not None:
            yield problem
            return
        limit = self.crawler.settings.getint("XUNSHI_MAX_PAGE_BYTES")
        if len(response.body) > limit:
            yield self._event(
                response,
                "parse_failed",
                f"page too large ({len(response.body):,} bytes > {limit:,})",
            )
            return
        try:
            text, encoding = decode_page(response.body, _content_type(response))
            article = extract_article(text, response.url, self.profile)
        except PageError as exc:
            yield self._event(response, "parse_failed", str(exc))
            return
        except Exception as exc:  # reported as the page's failure, never a silent loss
            self.logger.exception("cannot read the article %s", response.url)
            yield self._event(response, "parse_failed", f"{exc.__class__.__name__}: {exc}")
            return
        if article.methods.get("body") == "fallback":
            msg = "%s: no body selector matched, text found by the density fallback: %s"
            self.logger.warning(msg, self.name, response.url)
        for name in article.capped:
            self.logger.warning("%s: the %s is too long: stored cut short", response.url, name)
        # A list title can be cut short ("…巡视整改进展…"); the page's own title decides.
        if article.title and classify_title(article.title) == "no":
            self.logger.info("not a rectification notice: %s (%s)", article.title, response.url)
            return
        published, rule = publish_time(
            article.published_at,
            [article.header, *article.paragraphs[:3]],
            response.meta.get("list_date"),
        )
        if rule:
            article.methods["published"] = rule
        secrets = user_cookie_values(self.profile)
        headers = stored_headers(
            {
                k.decode("latin-1").lower(): b", ".join(v).decode("latin-1")
                for k, v in response.headers.items()
            },
            secrets,
        )
        raw = response.body
        if any(secret.encode() in raw for secret in secrets):
            # A page that echoes the user's session: the value is written nowhere.
            self.logger.warning("%s shows the user's cookie: the value is not stored", response.url)
            raw, article = redact_bytes(raw, secrets), redact_article(article, secrets)
        yield Notice(
            site=self.name,
            url=response.url,
            title=article.title,
            published_at=published,
            source=article.source,
            paragraphs=article.paragraphs,
            header=article.header,
            raw=raw,
            encoding=encoding,
            status=response.status,
            headers=headers,
            fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
            methods=article.methods,
            province=self.profile.province,
        )

    def _problem(self, response: Response) -> PageEvent | scrapy.Request | None:
        """What to do instead of parsing: an event to report, a redirect to follow, or None."""
        blocked = response.meta.get("blocked")
        if blocked:
            return self._event(response, "blocked", blocked)
        if response.status in REDIRECTS:
            return self._redirect(response)
        if response.status == 304:
            request = response.request
            asked = request is not None and any(
                request.headers.get(h) for h in ("If-None-Match", "If-Modified-Since")
            )
            if not asked:  # "not modified" since nothing: the server answered no question
                return self._event(
                    response, "fetch_failed", "HTTP 304 to a request that was not conditional"
                )
            return self._event(response, "not_modified", "HTTP 304")
        if response.status in (404, 410):
            return self._event(response, "gone", f"HTTP {response.status}")
        if response.status >= 400:
            return self._event(response, "fetch_failed", f"HTTP {response.status}")
        return None

    def _redirect(self, response: Response) -> PageEvent | scrapy.Request:
        # Redirects are followed here rather than by Scrapy's middleware, which drops a
        # looping or off-site redirect silently: the user must hear of both.
        location = response.headers.get("Location")
        if not location:
            return self._event(
                response, "fetch_failed", f"HTTP {response.status} without a Location"
            )
        try:
            target = resolve_link(response.url, location.decode("latin-1"))
        except BadLink as exc:
            target, bad = None, str(exc)
        else:
            bad = "no page"
        if target is None:
            return self._event(
                response, "fetch_failed", f"HTTP {response.status} to a bad Location ({bad})"
            )
        hops = [*response.meta.get("redirects", []), response.url]
        host = urlsplit(target).hostname or ""
        if target in hops:
            return self._event(
                response, "fetch_failed", f"redirect loop ({len(hops)} hops) at {target}"
            )
        if len(hops) > self.crawler.settings.getint("REDIRECT_MAX_TIMES"):
            return self._event(response, "fetch_failed", f"more than {len(hops) - 1} redirects")
        if not any(host == d or host.endswith("." + d) for d in self.allowed_domains):
            return self._event(
                response, "fetch_failed", f"redirect to another host ({host}): not followed"
            )
        assert response.request is not None
        return response.request.replace(
            url=target, dont_filter=True, meta={**response.meta, "redirects": hops}
        )

    def _event(self, response: Response, kind: str, reason: str) -> PageEvent:
        # A page reached through redirects is reported under the URL that was asked for.
        url = (response.meta.get("redirects") or [response.url])[0]
        return PageEvent(site=self.name, url=url, kind=kind, reason=reason, status=response.status)

    def on_error(self, failure: Failure) -> Iterator[PageEvent]:
        request = failure.request  # type: ignore[attr-defined]
        if failure.check(TimeLimitReached):
            return  # not a failure of the page: the crawl stopped before fetching it
        response = getattr(failure.value, "response", None)
        status = getattr(response, "status", None)
        problem = connection_problem(failure.value) if failure.value else None
        if status:
            reason = f"HTTP {status}"
        elif failure.check(HostUnreachable):
            reason = failure.getErrorMessage()
        elif problem:
            host = urlsplit(request.url).hostname
            reason = f"{host}: {problem} ({failure.value.__class__.__name__})"
        else:
            reason = f"{failure.value.__class__.__name__}: {failure.getErrorMessage()}"
        self.logger.warning("fetch failed: %s (%s)", request.url, reason)
        if request.meta.get("page_kind") == "list":
            self.list_trouble = True
        yield PageEvent(
            site=self.name, url=request.url, kind="fetch_failed", reason=reason, status=status
        )
        if request.meta.get("kept_list"):
            yield from self._list_lost(request.url, reason)


def _spider_class(profile: SiteProfile) -> type[NoticeSpider]:
    attrs: dict[str, Any] = {"name": profile.name, "profile": profile, "__module__": __name__,
                             "__doc__": f"{profile.label} ({profile.base_url})"}  # fmt: skip
    if profile.delay is not None:
        attrs["custom_settings"] = {"DOWNLOAD_DELAY": profile.delay}  # the entry's `delay`
    return type(f"{profile.name.capitalize()}Spider", (NoticeSpider,), attrs)


for _profile in SITES.values():
    if not _profile.custom_spider:  # crawler/spiders/<name>.py defines that one
        globals()[f"{_profile.name.capitalize()}Spider"] = _spider_class(_profile)


def spider_class(profile: SiteProfile) -> type[NoticeSpider]:
    """The spider that crawls ``profile``'s site: its own module's (crawler/spiders/<name>.py)
    when the profile says so, else a generic one made from the profile."""
    if profile.custom_spider:
        import importlib

        module = importlib.import_module(f"crawler.spiders.{profile.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, NoticeSpider)
                and getattr(value, "name", None) == profile.name
            ):
                return value
        raise LookupError(f"crawler/spiders/{profile.name}.py defines no spider {profile.name!r}")
    made = globals().get(f"{profile.name.capitalize()}Spider")
    if isinstance(made, type) and issubclass(made, NoticeSpider) and made.profile == profile:
        return made
    return _spider_class(profile)
