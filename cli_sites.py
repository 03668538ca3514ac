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
import tomllib
import urllib.error
import urllib.request
import urllib.robotparser
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import click
from parsel import Selector

from cli_common import db_option, format_option, open_store, text_table
from crawler import settings as crawler_settings
from crawler import sites as sites_registry
from crawler.article import extract_article
from crawler.discover import MAX_HOPS, adopt_family, next_step
from crawler.extract import PageError, classify_title, decode_page, detect_block
from crawler.families import FAMILIES, recognise
from crawler.listpage import (
    ListLink,
    embedded_records,
    find_column_link,
    parse_list,
    trs_article_pages,
)
from crawler.middlewares import cookie_hosts, host_in, stored_headers, user_cookie_values
from crawler.normalise import clean_line
from crawler.sites import SITES, SiteFileError, SiteProfile, get_site

ROOT = Path(__file__).resolve().parent
USER_AGENT: str = crawler_settings.USER_AGENT
MAX_BYTES = 20 * 1024 * 1024  # as DOWNLOAD_MAXSIZE: beyond it a page is not a notice


def sites_option(func: Any) -> Any:
    """--sites FILE: a user's site file on top of the built-in registry."""
    return click.option(
        "--sites",
        "sites_file",
        type=click.Path(dir_okay=False),
        help="A TOML site file added to the built-in sites (or set XUNSHI_SITES, or "
        "sites_file in xunshi.toml); its entries replace built-in ones of the same name.",
    )(func)


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
        if self.profile.discover:
            found = self.discover(start)
            if found is not None:
                newest = self.check_list(*found)
                if newest is not None:
                    self.check_article(newest)
            return self.report
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

    def discover(self, start: str) -> tuple[str, str] | None:
        """Find the 巡视整改 list from the start page as a crawl would (crawler/discover.py)."""
        url, hops, fallback = start, 0, None
        while True:
            loaded = self.load("start page" if hops == 0 else "discovery page", url)
            if loaded is None:
                return None
            page, text = loaded
            links = parse_list(text, page.url, self.profile).links
            notices = sum(link.verdict == "notice" for link in links)
            fallback = fallback or (page.url if notices else None)
            step = next_step(text, page.url, self.profile.allowed_domains, hops, notices)
            if step.action == "follow" and step.url:
                self.report.add("discovery", "ok", f"{page.url} -> {step.url} ({step.reason})", url=step.url)  # fmt: skip
                url, hops = step.url, hops + 1
                continue
            if step.action == "list":
                family = recognise(text)
                self.profile = adopt_family(self.profile, family[0])
                self.report.add("discovery", "ok", f"the 巡视整改 list is {page.url} ({step.reason})", url=page.url)  # fmt: skip
                self.report.add("family", "info", f"{self.profile.family} (page shows {family[1]!r})", family=self.profile.family)  # fmt: skip
                return page.url, text
            if fallback and fallback != page.url:
                self.report.add("discovery", "warn", f"{step.reason}: taking {fallback}, which shows notices")  # fmt: skip
                url, hops = fallback, MAX_HOPS
                continue
            self.report.add("discovery", "fail", f"no 巡视整改 list found from {start}: {step.reason}")  # fmt: skip
            return None

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
@sites_option
def check(
    sites: tuple[str, ...], start_url: str | None, timeout: float, fmt: str, sites_file: str | None
) -> None:
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
    apply_sites_file(sites_file)
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


# ---------------------------------------------------------------------------------------
# sites: the registry (built-in sites and a user's site file)
# ---------------------------------------------------------------------------------------


def configured_sites_file(explicit: str | None = None) -> Path | None:
    """The user's site file: --sites, else $XUNSHI_SITES, else ``sites_file`` in xunshi.toml.

    xunshi.toml is $XUNSHI_CONFIG or ./xunshi.toml; its ``sites_file`` is relative to it.
    """
    if explicit:
        return Path(explicit)
    env = os.environ.get(sites_registry.SITES_ENV)
    if env:
        return Path(env)
    config = Path(os.environ.get("XUNSHI_CONFIG") or "xunshi.toml")
    if not config.is_file():
        return None
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise click.ClickException(f"{config}: {exc}") from None
    value = data.get("sites_file")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise click.ClickException(f"{config}: sites_file must be the path of a site file")
    path = Path(value).expanduser()
    return path if path.is_absolute() else config.resolve().parent / path


def apply_sites_file(explicit: str | None = None) -> dict[str, SiteProfile]:
    """Load the user's site file into the registry (and for the crawls started from here).

    Returns the file's entries; a bad file stops the command with its file, line and key
    before anything is fetched or stored.
    """
    path = configured_sites_file(explicit)
    try:
        return sites_registry.use_sites_file(path) if path else _builtin_only()
    except SiteFileError as exc:
        raise click.ClickException(f"bad site file: {exc}") from None


def _builtin_only() -> dict[str, SiteProfile]:
    if sites_registry.REGISTRY_ERROR is not None:
        raise sites_registry.REGISTRY_ERROR
    return {}


RUN_FIELDS = ("id", "status", "started_at", "finished_at", "new", "changed", "failed", "blocked", "error")  # fmt: skip


def _list_shown(profile: SiteProfile, state: dict[str, Any] | None) -> str:
    if not profile.discover:
        return profile.start_urls[0]
    if state and state.get("list_url"):
        return state["list_url"] + " (found)"
    return "not found yet (from " + profile.start_urls[0] + ")"


def _last_crawl(run: dict[str, Any] | None) -> str:
    if not run:
        return "never crawled"
    when = (run.get("finished_at") or run.get("started_at") or "")[:16].replace("T", " ")
    parts = [f"{run['status']} {when}", f"{run.get('new') or 0} new"]
    problems = sum(int(run.get(k) or 0) for k in ("failed", "blocked"))
    if problems:
        parts.append(f"{problems} failed/blocked")
    return ", ".join(parts)


@click.group(invoke_without_command=True)
@sites_option
@db_option
@format_option("table", "json")
@click.pass_context
def sites(ctx: click.Context, sites_file: str | None, db_path: str, fmt: str) -> None:
    """List the sites: built-in ones and those of your site file.

    For each: where the entry comes from (built-in or your file), what has been
    confirmed on real pages (address, list page, article markup; "verified" when all
    three), the 巡视整改 list (configured, or the one discovery found and kept), and
    how its last crawl went (from the database, when there is one).

    \b
    Example:
        xunshi sites
        xunshi sites --sites my-sites.toml --format json
        xunshi sites add hzjw http://www.hzjw.gov.cn/ --province 浙江省 --sites my-sites.toml
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"sites_file": sites_file}
        return
    apply_sites_file(sites_file)
    states: dict[str, dict[str, Any]] = {}
    runs: dict[str, dict[str, Any]] = {}
    if Path(db_path).is_file():
        from store.sites import last_runs, site_states

        store = open_store(db_path)
        try:
            states, runs = site_states(store), last_runs(store)
        finally:
            store.close()
    rows = []
    for name, profile in SITES.items():
        state = states.get(name) or {}
        run = runs.get(name)
        confirmed = ", ".join(profile.confirmed) or "nothing"
        rows.append(
            {
                "site": name,
                "label": profile.label,
                "province": profile.province,
                "origin": profile.origin,
                "family": state.get("family") or profile.family,
                "verified": profile.verified,
                "confirmed": "verified" if profile.verified else confirmed,
                "list": _list_shown(profile, state),
                "list_url": state.get("list_url") if profile.discover else profile.start_urls[0],
                "last_crawl": _last_crawl(run),
                "last_run": {k: run.get(k) for k in RUN_FIELDS} if run else None,
                "url": profile.start_urls[0] if profile.discover else profile.base_url + "/",
            }
        )
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    click.echo(text_table(rows, ["site", "label", "origin", "confirmed", "list", "last_crawl"], max_width=70))  # fmt: skip
    click.echo(f"\n{len(rows)} sites; `xunshi check SITE` tests one against its live pages")


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


@sites.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--province", help="The site's province (helps district matching), e.g. 浙江省.")
@click.option("--label", help="The site's name, e.g. 杭州市纪委市监委.")
@click.option("--list", "list_url", help="The 巡视整改 list, when you know it (else it is found from URL).")  # fmt: skip
@click.option("--family", type=click.Choice(sorted(FAMILIES)), help="The CMS family, when you know it.")  # fmt: skip
@sites_option
@click.pass_context
def sites_add(
    ctx: click.Context,
    name: str,
    url: str,
    province: str | None,
    label: str | None,
    list_url: str | None,
    family: str | None,
    sites_file: str | None,
) -> None:
    """Add a site to your site file: a name and the URL of its home, column or list page.

    The entry is checked as a crawl would check it (the name, an http(s) URL, a known
    province) and appended to the site file (--sites FILE, $XUNSHI_SITES or sites_file
    in xunshi.toml; created when missing). A name that is built in replaces the
    built-in entry. Nothing is fetched: run `xunshi check NAME` or `xunshi crawl NAME`.

    \b
    Example:
        xunshi sites add hzjw http://www.hzjw.gov.cn/ --province 浙江省 --label 杭州市纪委市监委 --sites my-sites.toml
    """
    from store.districts import normalize_province

    path = configured_sites_file(sites_file or (ctx.obj or {}).get("sites_file"))
    if path is None:
        raise click.UsageError(
            "which site file? pass --sites FILE, or set XUNSHI_SITES or sites_file in xunshi.toml"
        )
    if province is not None:
        known = normalize_province(province)
        if known is None:
            raise click.BadParameter(f"unknown province {province!r}", param_hint="--province")
        province = known
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    try:
        existing = sites_registry.parse_site_file(old, str(path), str(path)) if old else {}
    except SiteFileError as exc:
        raise click.ClickException(f"bad site file: {exc}") from None
    if name in existing:
        raise click.ClickException(f"{path}: a site named {name!r} is already there")
    lines = [f"[sites.{name}]", f"url = {_toml_string(url)}"]
    for key, value in (("label", label), ("province", province), ("list", list_url), ("family", family)):  # fmt: skip
        if value:
            lines.append(f"{key} = {_toml_string(value)}")
    entry = "\n".join(lines) + "\n"
    text = old + ("\n" if old and not old.endswith("\n\n") else "") + entry
    try:
        added = sites_registry.parse_site_file(text, str(path), str(path))[name]
    except SiteFileError as exc:
        # The line numbers of the new text are not the file's: say what was refused.
        raise click.ClickException(f"not added: {exc.where or name}: {exc.message}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    replaced = " (replaces the built-in entry)" if name in sites_registry.load_registry() else ""
    how = "its list is found from there" if added.discover else f"list {added.start_urls[0]}"
    click.echo(f"added {name}{replaced} to {path}: {added.base_url}, {how}")
    click.echo(
        f"next: xunshi check {name} --sites {path}   or   xunshi crawl {name} --sites {path}"
    )
