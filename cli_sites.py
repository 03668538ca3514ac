"""Site health commands: ``check`` what a site's selectors find on its live pages, ``record`` a page as a test fixture.

Both are one-off diagnostics run by a person, so they fetch with plain urllib (the
project's User-Agent, robots.txt asked first, a timeout) instead of starting Scrapy;
everything they report comes from the crawler's own pure functions and the site's
profile, so what ``check`` says is what a crawl would do.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
import urllib.robotparser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import click
from parsel import Selector

from cli_common import format_option
from crawler import settings as crawler_settings
from crawler.extract import (
    ListLink,
    PageError,
    classify_title,
    decode_page,
    detect_block,
    embedded_records,
    extract_article,
    find_column_link,
    parse_list,
    trs_article_pages,
)
from crawler.middlewares import cookie_hosts, host_in, stored_headers, user_cookie_values
from crawler.normalise import clean_line
from crawler.sites import SITES, SiteProfile, get_site

ROOT = Path(__file__).resolve().parent
USER_AGENT: str = crawler_settings.USER_AGENT
MAX_BYTES = 20 * 1024 * 1024  # as DOWNLOAD_MAXSIZE: beyond it a page is not a notice


class FetchError(Exception):
    """A page that could not be fetched at all (no HTTP answer)."""


@dataclass
class Fetched:
    url: str  # after redirects
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class _CookieHostsOnly(urllib.request.HTTPRedirectHandler):
    """Follows redirects; the Cookie header goes on only to the hosts it is meant for."""

    def __init__(self, hosts: list[str]) -> None:
        self.hosts = hosts

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and not host_in(urlsplit(newurl).hostname or "", self.hosts):
            new.remove_header("Cookie")
        return new


def fetch(
    url: str, timeout: float, cookie: str | None = None, cookie_hosts: list[str] | None = None
) -> Fetched:
    """GET ``url``; an HTTP error status is an answer (a 403 page is evidence), not an exception.

    ``cookie`` is sent only to ``cookie_hosts`` (and their subdomains), before and after
    redirects.
    """
    request = urllib.request.Request(
        url, headers={"User-Agent": USER_AGENT, "Accept": "text/html,*/*"}
    )
    hosts = cookie_hosts or []
    if cookie and host_in(urlsplit(url).hostname or "", hosts):
        request.add_header("Cookie", cookie)
    opener = urllib.request.build_opener(_CookieHostsOnly(hosts))
    try:
        with opener.open(request, timeout=timeout) as response:
            return Fetched(
                response.geturl(), response.status, dict(response.headers.items()),
                response.read(MAX_BYTES),
            )  # fmt: skip
    except urllib.error.HTTPError as exc:
        body = exc.read() if exc.fp is not None else b""
        return Fetched(url, exc.code, dict(exc.headers.items()) if exc.headers else {}, body)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, TimeoutError):
            reason = f"timed out after {timeout:g} s"
        raise FetchError(f"{url}: {reason}") from None


class Robots:
    """robots.txt per host, asked once; a missing or refused robots.txt allows all (as Scrapy does)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.parsers: dict[str, urllib.robotparser.RobotFileParser] = {}

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        root = f"{parts.scheme}://{parts.netloc}"
        if root not in self.parsers:
            parser = urllib.robotparser.RobotFileParser()
            try:
                page: Fetched | None = fetch(root + "/robots.txt", self.timeout)
            except FetchError:
                page = None
            ok = page is not None and page.status < 400
            parser.parse(page.body.decode("utf-8", "ignore").splitlines() if page and ok else [])
            self.parsers[root] = parser
        return self.parsers[root].can_fetch(USER_AGENT, url)


# ---------------------------------------------------------------------------------------
# check
# ---------------------------------------------------------------------------------------


@dataclass
class Report:
    """What one site's check found: items in the order checked, each ok, info, warn or fail."""

    site: str
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, check: str, status: str, detail: str, **data: Any) -> None:
        self.items.append({"check": check, "status": status, "detail": detail, **data})

    @property
    def failed(self) -> bool:
        return any(item["status"] == "fail" for item in self.items)


def _matches(sel: Selector, css: str) -> tuple[int, str | None]:
    """How many nodes ``css`` finds, and the first one's text; (-1, why) for a broken selector."""
    try:
        nodes = sel.css(css)
    except Exception as exc:  # a profile typo must be reported, not crash the check
        return -1, f"bad selector: {exc}"
    shown = ".//text()[not(ancestor::script) and not(ancestor::style)]"
    texts = (clean_line(" ".join(n.xpath(shown).getall())) for n in nodes)
    return len(nodes), next((t for t in texts if t), None)


def _short(text: str | None, n: int = 40) -> str:
    if not text:
        return ""
    return text if len(text) <= n else text[: n - 1] + "…"


class Checker:
    def __init__(self, profile: SiteProfile, timeout: float, cookie: str | None) -> None:
        self.profile = profile
        self.timeout = timeout
        self.cookie = cookie
        self.robots = Robots(timeout)
        self.report = Report(profile.name)

    def load(self, what: str, url: str) -> tuple[Fetched, str] | None:
        """Fetch and decode a page, reporting how it went; None when it cannot be used."""
        add = self.report.add
        if not self.robots.allows(url):
            add(what, "fail", f"robots.txt disallows {url}", url=url)
            return None
        try:
            hosts = cookie_hosts(self.profile, list(crawler_settings.XUNSHI_COOKIE_HOSTS))
            page = fetch(url, self.timeout, self.cookie, hosts)
        except FetchError as exc:
            add(what, "fail", f"cannot fetch {exc}", url=url)
            return None
        blocked = detect_block(page.status, page.body)
        if blocked:
            add(
                what,
                "fail",
                f"{page.url}: blocked ({blocked})",
                url=page.url,
                http_status=page.status,
            )
            return None
        if page.status >= 400:
            add(
                what,
                "fail",
                f"{page.url}: HTTP {page.status}",
                url=page.url,
                http_status=page.status,
            )
            return None
        try:
            # As the crawl does: a NUL refuses an article, not a list page.
            nul_ok = what != "article page"
            text, encoding = decode_page(page.body, page.header("Content-Type"), nul_ok=nul_ok)
        except PageError as exc:
            add(what, "fail", f"{page.url}: {exc}", url=page.url, http_status=page.status)
            return None
        add(what, "ok", f"{page.url}: HTTP {page.status}, {len(page.body):,} bytes, {encoding}",
            url=page.url, http_status=page.status, encoding=encoding)  # fmt: skip
        return page, text

    def run(self, start: str) -> Report:
        label = self.profile.column_text
        loaded = self.load("start page" if label else "list page", start)
        if loaded is None:
            return self.report
        page, text = loaded
        if label:
            column = find_column_link(text, page.url, label, self.profile)
            if column is None:
                self.report.add("column link", "info", f"no {label} link: the page is the list")
            else:
                self.report.add("column link", "ok", f"{label}: {column}", url=column)
                loaded = self.load("list page", column)
                if loaded is None:
                    return self.report
                page, text = loaded
        newest = self.check_list(page.url, text)
        if newest is not None:
            self.check_article(newest)
        return self.report

    def check_list(self, url: str, text: str) -> ListLink | None:
        add, profile = self.report.add, self.profile
        sel = Selector(text=text, base_url=url)
        used = None
        for css in profile.list_links:
            n, first = _matches(sel, css)
            if n > 0 and used is None:
                used = css
            mark = " (used)" if used == css and n > 0 else ""
            add("list selector", "ok" if n > 0 else "info",
                f"{css}: {n} matched{mark}" + (f", first {_short(first)}" if first else ""),
                selector=css, matched=n)  # fmt: skip
        records = embedded_records(text)
        if records:
            add("list records", "ok", f"{len(records)} CDATA records in XML data blocks", matched=len(records))  # fmt: skip
        elif used is None:
            add("list selector", "warn" if profile.list_links else "info",
                "no list selector matched: every link of the page is a candidate")  # fmt: skip
        try:
            result = parse_list(text, url, profile)
        except PageError as exc:
            add("list links", "fail", f"the list page cannot be read: {exc}")
            return None
        for bad in result.skipped:  # a crawl skips these too, and counts them
            add("list links", "warn", f"skipped a link: {bad.href} ({bad.reason})", href=bad.href)
        verdicts = [link.verdict for link in result.links]
        links = [{"url": x.url, "title": x.title, "date": x.date, "verdict": x.verdict} for x in result.links]  # fmt: skip
        if not result.links:
            add("list links", "fail", "no article links: has the layout or the article URL pattern changed?", links=links)  # fmt: skip
            return None
        add("list links", "ok",
            f"{len(result.links)} article links: {verdicts.count('notice')} notices, "
            f"{verdicts.count('maybe')} maybe, {verdicts.count('no')} not notices", links=links)  # fmt: skip
        if result.page_count is not None:
            nxt = result.next_pages[0] if result.next_pages else "none (last page)"
            add("pagination", "ok", f"createPageHTML: {result.page_count} pages; next {nxt}",
                pages=result.page_count, next=result.next_pages)  # fmt: skip
        elif result.next_pages:
            add("pagination", "ok", f"next page {result.next_pages[0]}", next=result.next_pages)
        else:
            add("pagination", "warn", "no next page found (a one-page list, or a pager the crawler cannot read)", next=[])  # fmt: skip
        for problem in result.problems:
            add("pagination", "warn", problem)
        notices = [link for link in result.links if link.verdict != "no"]
        if not notices:
            add("newest notice", "warn", "no 巡视整改 notice on this page: checking the newest article instead")  # fmt: skip
            return result.links[0]
        add("newest notice", "ok", f"{notices[0].title} ({notices[0].date or 'no date'})", url=notices[0].url)  # fmt: skip
        return notices[0]

    def check_article(self, link: ListLink) -> None:
        add, profile = self.report.add, self.profile
        loaded = self.load("article page", link.url)
        if loaded is None:
            return
        page, text = loaded
        try:
            article = extract_article(text, page.url, profile)
        except PageError as exc:
            add("body", "fail", str(exc))
            return
        sel = Selector(text=text, base_url=page.url)
        for name, selectors in (("title", profile.title), ("published", profile.published),
                                ("source", profile.source), ("body", profile.body)):  # fmt: skip
            for css in selectors:
                n, first = _matches(sel, css)
                add(f"{name} selector", "ok" if n > 0 else "info",
                    f"{css}: {n} matched" + (f", {_short(first)}" if first else ""),
                    selector=css, matched=n)  # fmt: skip
        methods = article.methods
        if article.title:
            add("title", "ok", f"{article.title} (by {methods['title']})", value=article.title, method=methods["title"])  # fmt: skip
        else:
            add("title", "fail", "no title found", value=None, method=None)
        wanted = "warn" if profile.header_rule == "date_source" else "info"
        when = article.published_at
        stamp = when.strftime("%Y-%m-%d %H:%M" if article.published_has_time else "%Y-%m-%d") if when else None  # fmt: skip
        if stamp:
            add("published", "ok", f"{stamp} (by {methods['published']})", value=stamp, method=methods["published"])  # fmt: skip
        else:
            add("published", wanted, "no publish time found", value=None, method=None)
        if article.source:
            add("source", "ok", f"{article.source} (by {methods['source']})", value=article.source, method=methods["source"])  # fmt: skip
        else:
            add("source", wanted, "no source found", value=None, method=None)
        chars = sum(len(p) for p in article.paragraphs)
        how = methods["body"]
        detail = f"{len(article.paragraphs)} paragraphs, {chars:,} characters (by {how})"
        if how == "fallback":
            detail += ": no body selector matched, the densest block of prose was taken"
        add("body", "warn" if how == "fallback" else "ok", detail,
            paragraphs=len(article.paragraphs), characters=chars, method=how,
            first=_short(article.paragraphs[0], 60))  # fmt: skip
        add("header", "info", article.header or "none: the text starts with the body", value=article.header)  # fmt: skip
        verdict = classify_title(article.title)
        add("classified", "info", f"{verdict} (a 巡视整改 notice)" if verdict == "notice" else verdict, value=verdict)  # fmt: skip
        more = trs_article_pages(text, page.url)
        if more:
            add("article pages", "info", f"{len(more) + 1} pages: {', '.join(more)}", pages=more)


def _print(report: Report) -> None:
    profile = SITES[report.site]
    click.echo(f"{report.site} ({profile.label})")
    marks = {"ok": "ok  ", "info": "    ", "warn": "WARN", "fail": "FAIL"}
    for item in report.items:
        click.echo(f"  {marks[item['status']]} {item['check']:<18} {item['detail']}")
    warnings = sum(item["status"] == "warn" for item in report.items)
    verdict = "FAILED" if report.failed else "ok"
    click.echo(f"  => {verdict}" + (f", {warnings} warning(s)" if warnings else ""))


@click.command()
@click.argument("sites", nargs=-1)
@click.option(
    "--start-url", help="Check this list page (a copy of the site) instead of the real one."
)
@click.option("--timeout", type=float, default=20.0, show_default=True, help="Seconds to wait for each page.")  # fmt: skip
@format_option("text", "json", json_alias=True)
def check(sites: tuple[str, ...], start_url: str | None, timeout: float, fmt: str) -> None:
    """Check that a site's selectors and rules still find what they should.

    Fetches each site's list page (following the column link when the profile has one)
    and its newest notice, and reports for every list, title, date, source and body
    selector of the profile what it matched, which rule found each field (profile,
    meta, label, heading, generic, fallback), the pagination, and the text's header.
    All registered sites when none is named. Exits with status 1 when something
    essential fails: a page that cannot be fetched, is blocked or does not decode, a
    list without article links, an article without title or body. Warnings (a body
    found only by the fallback, no pagination) do not fail.

    \b
    Example:
        xunshi check zjsjw
        xunshi check ccdi --timeout 30 --format json
        xunshi check zjsjw --start-url http://127.0.0.1:8000/gongzuodongtai/xunshixuncha/index.shtml
    """
    as_json = fmt == "json"
    names = list(sites) or list(SITES)
    if start_url and len(names) != 1:
        raise click.UsageError("--start-url needs exactly one site")
    reports = []
    for name in names:
        try:
            profile = get_site(name)
        except KeyError as exc:
            raise click.UsageError(str(exc.args[0])) from None
        cookie = None
        if profile.cookie_env:
            cookie = os.environ.get(profile.cookie_env) or None  # sent, never printed
        report = Checker(profile, timeout, cookie).run(start_url or profile.start_urls[0])
        reports.append(report)
        if not as_json:
            _print(report)
    if as_json:
        out = [{"site": r.site, "ok": not r.failed, "items": r.items} for r in reports]
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
    if any(r.failed for r in reports):
        sys.exit(1)


# ---------------------------------------------------------------------------------------
# record
# ---------------------------------------------------------------------------------------


def fixture_path(url: str, out_dir: Path) -> Path:
    """Where a page of ``url`` goes below ``out_dir``: its URL path, a folder's page as index.html."""
    path = unquote(urlsplit(url).path) or "/"
    if path.endswith("/"):
        path += "index.html"
    target = (out_dir / path.lstrip("/")).resolve()
    if out_dir.resolve() not in target.parents:
        raise click.ClickException(f"{url}: the path leaves {out_dir}")
    if not target.suffix:
        target = target.with_name(target.name + ".html")
    return target


@click.command()
@click.argument("url")
@click.option("--site", required=True, help="The registered site the page belongs to.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False),
              help="Folder of the site copy (default: tests/sites/SITE).")  # fmt: skip
@click.option("--timeout", type=float, default=20.0, show_default=True, help="Seconds to wait.")
def record(url: str, site: str, out_dir: str | None, timeout: float) -> None:
    """Save a page's raw bytes and response headers as a test fixture.

    Writes ``<name>.html`` with the bytes exactly as served (a GBK page stays GBK) and
    ``<name>.headers.json`` (status, final URL, headers) at the URL's path below the
    folder, so the folder can be served as a copy of the site (tests/conftest.py's
    ``serve``). A block or challenge page is saved too, with a warning: it is a
    fixture for block detection. Exits with status 1 when the page cannot be fetched.

    \b
    Example:
        xunshi record https://www.ccdi.gov.cn/xsxcn/ --site ccdi
        xunshi record http://www.zjsjw.gov.cn/gongzuodongtai/xunshixuncha/index.shtml \\
            --site zjsjw -o /tmp/zjsjw-copy
    """
    try:
        profile = get_site(site)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None
    folder = Path(out_dir) if out_dir else ROOT / "tests" / "sites" / profile.name
    host = urlsplit(url).hostname or ""
    if urlsplit(url).scheme not in ("http", "https"):
        raise click.ClickException(f"{url}: not an http(s) URL")
    if host not in profile.allowed_domains and host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: {host} is not {profile.name}'s host ({profile.host})", err=True)
    cookie = None
    if profile.cookie_env:
        cookie = os.environ.get(profile.cookie_env) or None  # sent to the site only, never written
    hosts = cookie_hosts(profile, list(crawler_settings.XUNSHI_COOKIE_HOSTS))
    try:
        page = fetch(url, timeout, cookie, hosts)
    except FetchError as exc:
        raise click.ClickException(f"cannot fetch {exc}") from None
    target = fixture_path(url, folder)
    headers_file = target.with_name(target.stem + ".headers.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(page.body)
    headers = stored_headers(page.headers, user_cookie_values(profile))
    meta = {"url": url, "final_url": page.url, "status": page.status, "headers": headers}
    headers_file.write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    blocked = detect_block(page.status, page.body)
    if blocked:
        click.echo(f"warning: this is a block or challenge page ({blocked})", err=True)
    elif page.status >= 400:
        click.echo(f"warning: HTTP {page.status}", err=True)
    try:
        encoding = decode_page(page.body, page.header("Content-Type"))[1]
    except PageError as exc:
        encoding = f"undecodable: {exc}"
    click.echo(f"saved {target} ({len(page.body):,} bytes, HTTP {page.status}, {encoding})")
    click.echo(f"saved {headers_file}")
