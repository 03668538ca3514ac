"""Downloader middlewares: recognise anti-bot blocks and challenge pages, re-send cookies set by JavaScript."""

from __future__ import annotations

import logging
import os
import re
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

from crawler.extract import detect_block
from crawler.sites import SiteProfile

logger = logging.getLogger(__name__)


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


# document.cookie = "name=value; path=/" (or '…'), as inline scripts write it.
_JS_COOKIE = re.compile(r"""document\.cookie\s*=\s*(["'])(.*?)(?<!\\)\1""", re.S)
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def parse_cookie_string(value: str) -> dict[str, str]:
    """``"a=1; b=2"`` (a Cookie header, or a browser's copy of one) as ``{"a": "1", "b": "2"}``."""
    cookies: dict[str, str] = {}
    for pair in value.split(";"):
        name, sep, val = pair.partition("=")
        name = name.strip()
        if sep and _COOKIE_NAME.fullmatch(name):
            cookies[name] = val.strip()
    return cookies


def js_cookies(html: str) -> dict[str, str]:
    """The cookies a page's inline scripts set by assigning a string to ``document.cookie``.

    Only the ``name=value`` part counts; attributes (path, expires) are the browser's
    business. A later assignment of the same name wins, as it would in a browser.
    """
    cookies: dict[str, str] = {}
    for m in _JS_COOKIE.finditer(html):
        cookies.update(parse_cookie_string(m.group(2).split(";", 1)[0]))
    return cookies


def user_cookie_values(profile: SiteProfile) -> list[str]:
    """The values of the user's own cookies for a site (``cookie_env``): secrets to keep out
    of everything written. Values shorter than 4 characters (``lang=zh``) are no secret."""
    if not profile.cookie_env:
        return []
    cookies = parse_cookie_string(os.environ.get(profile.cookie_env, ""))
    return [v for v in cookies.values() if len(v) >= 4]


REDACTED = "(not stored)"


def stored_headers(headers: dict[str, str], secrets: list[str]) -> dict[str, str]:
    """Response headers as they may be written down: no cookie values, no secret anywhere.

    ``Set-Cookie`` keeps the cookies' names only (a server may echo the user's session
    back); any other header that carries one of ``secrets`` has it replaced.
    """
    out: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in ("set-cookie", "cookie", "set-cookie2"):
            names = [c.split("=", 1)[0].strip() for c in re.split(r",\s*(?=[^;=,\s]+=)", value)]
            value = ", ".join(f"{n}={REDACTED}" for n in names if n)
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        out[name] = value
    return out


def redact_bytes(data: bytes, secrets: list[str]) -> bytes:
    for secret in secrets:
        data = data.replace(secret.encode(), REDACTED.encode())
    return data


def redact_article(article: Any, secrets: list[str]) -> Any:
    """An extracted article (crawler.article.Article) with ``secrets`` replaced in its text fields."""

    def clean(value: str | None) -> str | None:
        for secret in secrets:
            value = value.replace(secret, REDACTED) if value else value
        return value

    article.title, article.source, article.header = (
        clean(article.title), clean(article.source), clean(article.header)
    )  # fmt: skip
    article.paragraphs = [clean(p) or "" for p in article.paragraphs]
    return article


def cookie_hosts(profile: SiteProfile, extra: list[str]) -> list[str]:
    """Where the user's cookie may go: the site's own hosts, plus hosts the user names in
    ``XUNSHI_COOKIE_HOSTS`` (a local copy of the site); never a ``--start-url`` host."""
    return [*profile.allowed_domains, *extra]


def host_in(host: str, domains: list[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in domains if d)


class JsCookieMiddleware:
    """Re-sends the cookies a site's pages set from inline JavaScript, and the user's own.

    Some sites (ccdi) set cookies in inline scripts and refuse the next request without
    them, and change one (``HOY_TR``) on every page: each HTML response's cookies are
    kept per host, newest value first, and merged into the Cookie header of every later
    request to that host. Challenge pages are not harvested: detect and report, never solve.

    A profile may also name an environment variable (``cookie_env``, e.g.
    ``XUNSHI_CCDI_COOKIE``) holding a Cookie string copied from a browser; it is sent
    with that site's requests only and its value is never logged.

    Only spiders whose profile sets ``js_cookies`` or ``cookie_env`` are touched.
    ``XUNSHI_JS_COOKIES = False`` switches the middleware off.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.jar: dict[str, dict[str, str]] = {}
        self._user: dict[str, str] | None = None
        self.withheld: set[str] = set()  # hosts told once that they get no user cookie

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> JsCookieMiddleware:
        if not crawler.settings.getbool("XUNSHI_JS_COOKIES"):
            raise NotConfigured
        return cls(crawler)

    def _profile(self) -> SiteProfile | None:
        profile = getattr(self.crawler.spider, "profile", None)
        if isinstance(profile, SiteProfile) and (profile.js_cookies or profile.cookie_env):
            return profile
        return None

    def _user_cookies(self, profile: SiteProfile, host: str) -> dict[str, str]:
        if not profile.cookie_env:
            return {}
        # The site's own hosts, not the spider's allowed_domains: with --start-url those
        # are the start URL's host, and the user's session is CCDI's, not that host's.
        extra = self.crawler.settings.getlist("XUNSHI_COOKIE_HOSTS")
        if not host_in(host, cookie_hosts(profile, extra)):
            # Another host (a --start-url, a redirect) never gets the user's session.
            if host not in self.withheld and os.environ.get(profile.cookie_env):
                self.withheld.add(host)
                logger.info(
                    "not sending $%s to %s: not one of %s's hosts (XUNSHI_COOKIE_HOSTS adds one)",
                    profile.cookie_env, host, profile.name,
                )  # fmt: skip
            return {}
        if self._user is None:
            self._user = parse_cookie_string(os.environ.get(profile.cookie_env, ""))
            if self._user:
                logger.info(
                    "sending %d cookie(s) from $%s with %s requests",
                    len(self._user), profile.cookie_env, profile.name,
                )  # fmt: skip
        return self._user

    def process_request(self, request: Request) -> None:
        profile = self._profile()
        host = urlsplit(request.url).hostname or ""
        if profile is None or not host:
            return
        user = self._user_cookies(profile, host)
        ours = {**user, **self.jar.get(host, {})}
        # Runs after Scrapy's CookiesMiddleware, which writes the header from its jar
        # (Set-Cookie cookies): merge into that header, a page's script winning.
        header = b"; ".join(request.headers.getlist("Cookie")).decode("latin-1")
        if not user and profile.cookie_env and header:
            # A request copied from one to the site (a redirect) must not carry it on.
            secrets = set(user_cookie_values(profile))
            kept = {k: v for k, v in parse_cookie_string(header).items() if v not in secrets}
            if len(kept) != len(parse_cookie_string(header)):
                del request.headers["Cookie"]
                if kept:
                    request.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in kept.items())
                header = "; ".join(f"{k}={v}" for k, v in kept.items())
        if not ours:
            return
        merged = {**parse_cookie_string(header), **ours}
        request.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in merged.items())

    def process_response(self, request: Request, response: Response) -> Response:
        profile = self._profile()
        if profile is None or not profile.js_cookies or response.status >= 400:
            return response
        if detect_block(response.status, response.body):
            return response
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1").lower()
        if content_type and "html" not in content_type and "xml" not in content_type:
            return response
        found = js_cookies(response.body.decode("utf-8", "ignore"))
        if found:
            host = urlsplit(response.url).hostname or ""
            self.jar.setdefault(host, {}).update(found)
            logger.debug("%s set cookie(s) %s from JavaScript", response.url, ", ".join(found))
        return response
