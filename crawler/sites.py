"""The site registry: sites are data, read from TOML files into one profile per site.

The built-in registry is ``crawler/sites.toml`` (package data); a user's own file
(``xunshi crawl --sites FILE``, ``$XUNSHI_SITES``, ``sites_file`` in xunshi.toml) is read
by the same loader, and an entry of it with a built-in name replaces the built-in one.
A bad entry is refused before anything is fetched, saying the file, the line and the
key. What data cannot say is Python: each CMS family's defaults and pagination in
crawler/families.py, CCDI's cookies and multi-page articles in :data:`QUIRKS` and
crawler/spiders/ccdi.py.

Selectors are tried in order and the first that finds something wins; when none does,
the extractor falls back to generic rules (meta tags, labelled 发布时间/来源 text, the
densest text block) and says so, so that a template change is noticed while data keeps
flowing. Unknowns about a site are written in its ``notes``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crawler.families import (
    FAMILIES,
    HANWEB,
    HANWEB_ARTICLE,
    TRS,
    TRS_ARTICLE,
    UUID,
    UUID_ARTICLE,
    Family,
)

# The header rule of seed-format.md, per site:
#   "date_source": line 1 is "YYYY-MM-DD HH:MM <source>" (zjsjw)
#   "none":        the body starts the text (shjjjc: the body opens with the issuer line)
#   "auto":        the zjsjw form when the article block shows both a time and a source
HEADER_RULES = ("date_source", "none", "auto")


@dataclass(frozen=True)
class SiteProfile:
    """Everything site-specific about crawling one discipline-commission website."""

    name: str
    label: str
    province: str | None
    base_url: str
    start_paths: tuple[str, ...]
    # A regular expression searched in the URL path of a link: is this an article page?
    # None: any link on the site's hosts (the notice classifier then judges its title).
    article_path: str | None
    header_rule: str = "auto"
    # Where list items are; empty means every link on the page is a candidate.
    list_links: tuple[str, ...] = ()
    title: tuple[str, ...] = ()
    published: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    # Elements inside the body that are never text (beyond the generic junk rules).
    drop: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = field(default_factory=tuple)
    # The start page is a column index, not the list: follow its link whose text holds
    # this (e.g. 巡视整改). Only spiders that follow column links honour it (custom_spider).
    column_text: str | None = None
    # The site sets cookies from inline JavaScript (document.cookie = "…") and refuses
    # requests without them: crawler.middlewares.JsCookieMiddleware re-sends them.
    js_cookies: bool = False
    # Environment variable holding a Cookie string the user copied from a browser for
    # this site (sent with this site's requests only, never logged).
    cookie_env: str | None = None
    # True when crawler/spiders/<name>.py defines this site's spider (quirks the generic
    # spider cannot express); crawler/spiders/notices.py then makes none for it.
    custom_spider: bool = False
    # The CMS family (crawler/families.py) whose defaults filled what the entry left out.
    family: str = "generic"
    # Where the entry came from: "built-in" or the path of a user's site file.
    origin: str = "built-in"
    # What has been confirmed on real pages: "address", "list", "article" (markup).
    confirmed: tuple[str, ...] = ()
    # The start URL is the home or a column page: find the 巡视整改 list from it
    # (crawler/discover.py) instead of treating it as the list.
    discover: bool = False
    # Seconds between two requests to the site (DOWNLOAD_DELAY for its spider).
    delay: float | None = None

    def __post_init__(self) -> None:
        if self.header_rule not in HEADER_RULES:
            raise ValueError(f"{self.name}: header_rule must be one of {HEADER_RULES}")
        if self.article_path is not None:
            re.compile(self.article_path)
        if self.column_text and not self.custom_spider:
            # The generic spider would silently treat the column index as the list.
            raise ValueError(f"{self.name}: column_text needs a custom spider that follows it")

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def allowed_domains(self) -> tuple[str, ...]:
        return (self.host, *self.extra_hosts)

    @property
    def start_urls(self) -> tuple[str, ...]:
        return tuple(
            path if path.startswith(("http://", "https://")) else self.base_url.rstrip("/") + path
            for path in self.start_paths
        )

    @property
    def verified(self) -> bool:
        """True when the address, the list page and the article markup were all seen."""
        return {"address", "list", "article"} <= set(self.confirmed)

    def is_article_url(self, url: str) -> bool:
        if self.article_path is None:
            host = (urlsplit(url).hostname or "").lower()
            return any(host == h or host.endswith("." + h) for h in self.allowed_domains if h)
        return re.search(self.article_path, urlsplit(url).path) is not None


# ---------------------------------------------------------------------------------------
# Site files: the loader
# ---------------------------------------------------------------------------------------

BUILTIN_FILE = Path(__file__).with_name("sites.toml")
SITES_ENV = "XUNSHI_SITES"
CONFIRMABLE = ("address", "list", "article")
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_SELECTOR_KEYS = {"items": "list_links", "title": "title", "published": "published",
                  "source": "source", "body": "body", "drop": "drop"}  # fmt: skip
ENTRY_KEYS = ("url", "label", "province", "list", "family", "article", "items", "title",
              "published", "source", "body", "drop", "header", "delay", "cookie_env", "hosts",
              "notes", "confirmed")  # fmt: skip

# What data cannot say, by site name (whatever file the entry comes from): CCDI sets
# cookies from JavaScript and splits long articles over pages, which its own spider
# (crawler/spiders/ccdi.py) handles; its 巡视整改 column is found by its link text.
QUIRKS: dict[str, dict[str, Any]] = {
    "ccdi": {"js_cookies": True, "custom_spider": True, "column_text": "巡视整改"},
}


class SiteFileError(ValueError):
    """A site file that cannot be used: which file, which line, which key, and why."""

    def __init__(self, file: str, line: int | None, where: str, message: str) -> None:
        self.file, self.line, self.where, self.message = file, line, where, message
        place = f"{file}:{line}" if line else file
        super().__init__(f"{place}: {where + ': ' if where else ''}{message}")


_HEADER = re.compile(r"""^\s*\[\s*sites\s*\.\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*\]""")
_TABLE = re.compile(r"^\s*\[")
_KEY = re.compile(r"""^\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*=""")


@dataclass
class _Located:
    """Where each ``[sites.NAME]`` table and each of its keys is in a file (tomllib does not say)."""

    tables: dict[str, int] = field(default_factory=dict)
    keys: dict[str, dict[str, int]] = field(default_factory=dict)
    top: dict[str, int] = field(default_factory=dict)
    twice: list[tuple[str, int, int]] = field(default_factory=list)

    def line(self, name: str | None, key: str | None = None) -> int | None:
        if name is None:
            return self.top.get(key or "")
        if key is not None and key in self.keys.get(name, {}):
            return self.keys[name][key]
        return self.tables.get(name)


def _locate(text: str) -> _Located:
    found = _Located()
    current: str | None = None
    depth = 0  # open brackets of a multi-line array: its lines are values, not keys
    for number, line in enumerate(text.splitlines(), start=1):
        if depth == 0:
            header = _HEADER.match(line)
            if header:
                current = next(g for g in header.groups() if g is not None)
                if current in found.tables:
                    found.twice.append((current, found.tables[current], number))
                else:
                    found.tables[current] = number
                    found.keys[current] = {}
                continue
            if _TABLE.match(line):
                current = "\0other"
                continue
            key = _KEY.match(line)
            if key:
                name = next(g for g in key.groups() if g is not None)
                if current is None:
                    found.top.setdefault(name, number)
                elif current in found.keys:
                    found.keys[current].setdefault(name, number)
        code = re.sub(r"\"(?:\\.|[^\"\\])*\"|'[^']*'|#.*", "", line)
        depth = max(0, depth + code.count("[") - code.count("]"))
    return found


def _selectors(value: Any, fail: Callable[[str], None]) -> tuple[str, ...]:
    from parsel.csstranslator import css2xpath  # parsel is imported by the crawler anyway

    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) and x.strip() for x in items):
        fail("must be a CSS selector or a list of them")
    for css in items:
        try:
            css2xpath(css)
        except Exception as exc:
            fail(f"{css!r} is not a CSS selector: {exc}")
    return tuple(items)


def _strings(value: Any, fail: Callable[[str], None]) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        fail("must be a string or a list of strings")
    return tuple(items)


def _http_url(value: Any, fail: Callable[[str], None]) -> str:
    if not isinstance(value, str) or not value.strip():
        fail("must be a URL")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(f"{value!r} is not an http(s) URL")
    return value.strip()


def site_from_entry(name: str, entry: Any, origin: str = "built-in",
                    file: str = "<sites>", where: _Located | None = None) -> SiteProfile:  # fmt: skip
    """The profile of one ``[sites.NAME]`` entry; raise SiteFileError saying what is wrong."""
    loc = where or _Located()

    def fail(message: str, key: str | None = None) -> None:
        label = f"[sites.{name}]" + (f" {key}" if key else "")
        raise SiteFileError(file, loc.line(name, key), label, message)

    if not NAME.fullmatch(name):
        fail("a site name is lower-case letters, digits and _ (starting with a letter, "
             "at most 40 characters)")  # fmt: skip
    if not isinstance(entry, dict):
        fail("must be a table of keys")
    for key in entry:
        if key not in ENTRY_KEYS:
            fail(f"unknown key; known: {', '.join(ENTRY_KEYS)}", key)
    if "url" not in entry:
        fail('no url: every site needs url = "http(s)://…" (its home, a column or its list page)')

    def check(key: str) -> Callable[[str], None]:
        return lambda message: fail(message, key)

    url = _http_url(entry["url"], check("url"))
    family_name = entry.get("family", "generic")
    if family_name not in FAMILIES:
        fail(f"unknown family {family_name!r}; known: {', '.join(FAMILIES)}", "family")
    family = FAMILIES[family_name]
    for key in ("label", "province", "article", "header", "cookie_env"):
        if key in entry and not isinstance(entry[key], str):
            fail("must be a string", key)
    article = entry.get("article", family.article)
    if article is not None:
        try:
            re.compile(article)
        except re.error as exc:
            fail(f"{article!r} is not a regular expression: {exc}", "article")
    header = entry.get("header", family.defaults.get("header_rule", "auto"))
    if header not in HEADER_RULES:
        fail(f"{header!r}: must be one of {', '.join(HEADER_RULES)}", "header")
    delay = entry.get("delay")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0):  # fmt: skip
        fail("must be a number of seconds (0 or more)", "delay")
    cookie_env = entry.get("cookie_env")
    if cookie_env is not None and not re.fullmatch(r"[A-Z_][A-Z0-9_]*", cookie_env):
        fail("must be the name of an environment variable (A-Z, 0-9, _)", "cookie_env")
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    hosts = _strings(entry.get("hosts", []), check("hosts"))
    if "list" in entry:
        listed = entry["list"]
        if not isinstance(listed, str) or not (
            listed.startswith("/") or urlsplit(listed).scheme in ("http", "https")
        ):
            fail("must be a path (/…) or an http(s) URL of the 巡视整改 list", "list")
        if listed.startswith("/"):
            start = listed
        else:
            start = _http_url(listed, check("list"))
            other = urlsplit(start).hostname or ""
            if other != parts.hostname and other not in hosts:
                hosts = (*hosts, other)
        discover = False
    else:
        start = url[len(base) :] or "/"
        discover = True
    confirmed = _strings(entry.get("confirmed", []), check("confirmed"))
    for item in confirmed:
        if item not in CONFIRMABLE:
            fail(f"{item!r}: confirmed lists what was seen: {', '.join(CONFIRMABLE)}", "confirmed")
    fields: dict[str, Any] = {
        "list_links": family.defaults.get("list_links", ()),
        "title": family.defaults.get("title", ()),
        "published": family.defaults.get("published", ()),
        "source": family.defaults.get("source", ()),
        "body": family.defaults.get("body", ()),
    }
    for key, attr in _SELECTOR_KEYS.items():
        if key in entry:
            fields[attr] = _selectors(entry[key], check(key))
    fields.update(QUIRKS.get(name, {}))
    notes = _strings(entry.get("notes", []), check("notes"))
    try:
        return SiteProfile(
            name=name,
            label=entry.get("label") or parts.hostname or name,
            province=entry.get("province") or None,
            base_url=base,
            start_paths=(start,),
            article_path=article,
            header_rule=header,
            notes=(*family.notes, *notes),
            extra_hosts=hosts,
            cookie_env=cookie_env,
            family=family.name,
            origin=origin,
            confirmed=confirmed,
            discover=discover,
            delay=float(delay) if delay is not None else None,
            **fields,
        )
    except ValueError as exc:
        fail(str(exc))
        raise  # unreachable: fail() raises


def read_site_file(path: str | os.PathLike[str], origin: str | None = None) -> dict[str, SiteProfile]:  # fmt: skip
    """Every entry of a site file, checked; raise SiteFileError at the first bad one."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SiteFileError(file, None, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteFileError(file, None, "", f"cannot read it: {exc}") from None
    return parse_site_file(text, file, origin or file)


def parse_site_file(text: str, file: str = "<sites>", origin: str = "built-in") -> dict[str, SiteProfile]:  # fmt: skip
    """The entries of a site file's text (see :func:`read_site_file`)."""
    where = _locate(text)
    for name, first, again in where.twice:
        raise SiteFileError(file, again, f"[sites.{name}]", f"the name is used twice (first at line {first})")  # fmt: skip
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+)", str(exc))
        raise SiteFileError(file, int(m.group(1)) if m else None, "", f"not valid TOML: {exc}") from None  # fmt: skip
    for key in data:
        if key != "sites":
            raise SiteFileError(file, where.line(None, key), key, "unknown key: a site file holds [sites.NAME] tables")  # fmt: skip
    table = data.get("sites", {})
    if not isinstance(table, dict):
        raise SiteFileError(file, where.line(None, "sites"), "sites", "must be [sites.NAME] tables")
    return {name: site_from_entry(name, entry, origin, file, where) for name, entry in table.items()}  # fmt: skip


def load_registry(user_file: str | os.PathLike[str] | None = None) -> dict[str, SiteProfile]:
    """The built-in sites with a user's file on top (its entries replace same-named ones)."""
    sites = parse_site_file(BUILTIN_FILE.read_text(encoding="utf-8"), str(BUILTIN_FILE))
    if user_file:
        sites.update(read_site_file(user_file))
    return sites


SITES: dict[str, SiteProfile] = {}
# The user's site file in use ($XUNSHI_SITES, or the one use_sites_file() set), and why
# it could not be read: commands that crawl or list sites report it and stop.
REGISTRY_ERROR: SiteFileError | None = None


def use_sites_file(path: str | os.PathLike[str] | None) -> dict[str, SiteProfile]:
    """Make ``path`` the user's site file of this process and of the crawls it starts.

    Checks the whole file first (SiteFileError, nothing changed); then the registry holds
    the built-in sites and the file's, and ``$XUNSHI_SITES`` names the file so that a
    crawl process reads the same registry. Returns the file's own entries.
    """
    global REGISTRY_ERROR
    registry = load_registry(path)
    own = {n: p for n, p in registry.items() if path and p.origin != "built-in"}
    SITES.clear()
    SITES.update(registry)
    REGISTRY_ERROR = None
    if path:
        os.environ[SITES_ENV] = str(Path(path).resolve())
    else:
        os.environ.pop(SITES_ENV, None)
    return own


def _load_default() -> None:
    global REGISTRY_ERROR
    SITES.update(load_registry())
    user = os.environ.get(SITES_ENV)
    if user:
        try:
            SITES.update(read_site_file(user))
        except SiteFileError as exc:
            REGISTRY_ERROR = exc


def register(profile: SiteProfile) -> SiteProfile:
    """Add a profile made in Python (tests, tools); a name can be registered once."""
    if profile.name in SITES:
        raise ValueError(f"site {profile.name!r} registered twice")
    SITES[profile.name] = profile
    return profile


def get_site(name: str) -> SiteProfile:
    try:
        return SITES[name]
    except KeyError:
        known = ", ".join(sorted(SITES))
        raise KeyError(f"unknown site {name!r}; known sites: {known}") from None


# ---------------------------------------------------------------------------------------
# CMS families in Python: a profile of a known family in one call (tools and tests; a
# site file says family = "trs" instead). Keyword arguments override any field, and
# ``notes`` are added to the family's own.
# ---------------------------------------------------------------------------------------

TRS_DEFAULTS: dict[str, Any] = {"article_path": TRS_ARTICLE, **TRS.defaults}
TRS_NOTES = TRS.notes
HANWEB_DEFAULTS: dict[str, Any] = {"article_path": HANWEB_ARTICLE, **HANWEB.defaults}
HANWEB_NOTES = HANWEB.notes
UUID_DEFAULTS: dict[str, Any] = {"article_path": UUID_ARTICLE, **UUID.defaults}
UUID_NOTES = UUID.notes


def _family(family: Family, **fields: Any) -> SiteProfile:
    values = {"article_path": family.article, **family.defaults, "family": family.name, **fields}
    values["notes"] = (*family.notes, *fields.get("notes", ()))
    return SiteProfile(**values)


def trs_site(
    name: str, label: str, province: str | None, base_url: str, list_path: str, **fields: Any
) -> SiteProfile:
    """A TRS WCM site whose 巡视整改 list is at ``list_path`` (a folder or its index page)."""
    return _family(TRS, name=name, label=label, province=province, base_url=base_url,
                   start_paths=(list_path,), **fields)  # fmt: skip


def hanweb_site(
    name: str, label: str, province: str | None, base_url: str, column: int, **fields: Any
) -> SiteProfile:
    """A Hanweb site whose 巡视整改 list is column ``column`` (``/col/col<column>/index.html``)."""
    return _family(HANWEB, name=name, label=label, province=province, base_url=base_url,
                   start_paths=(f"/col/col{column}/index.html",), **fields)  # fmt: skip


def uuid_cms_site(
    name: str, label: str, province: str | None, base_url: str, column_path: str, **fields: Any
) -> SiteProfile:
    """A site on the Shanghai CMS whose 巡视整改 column is ``column_path`` (e.g. ``/xxx/xszg/``)."""
    column = column_path.rstrip("/")
    fields.setdefault("article_path", re.escape(column) + UUID_ARTICLE)
    return _family(UUID, name=name, label=label, province=province, base_url=base_url,
                   start_paths=(f"{column}/index.html",), **fields)  # fmt: skip


_load_default()
