"""The Notice item: one shape from the spider, through the pipelines, into the store."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


@dataclass
class Notice:
    """One fetched article page of a 巡视整改 notice; missing values are None."""

    site: str
    url: str
    title: str | None
    published_at: str | None  # ISO 8601 in Asia/Shanghai, e.g. "2023-06-27T09:02:00+08:00"
    source: str | None
    paragraphs: list[str]
    header: str | None  # the date/source line of the seed format, when the site shows one
    raw: bytes
    encoding: str
    status: int
    headers: dict[str, str]
    fetched_at: str  # ISO 8601 UTC
    methods: dict[str, str] = field(default_factory=dict)
    province: str | None = None  # the site's province: resolves 西湖区, 普陀区…
    # Set by the normalise pipeline.
    text: str | None = None

    @property
    def key(self) -> str:
        return canonical_url(self.url)


_MOBILE_TWIN = re.compile(r"_m(\.s?html?)$")
# Query parameters that say where a reader came from, never which page it is.
_TRACKING = re.compile(
    r"utm_\w*|spm|from|isappinstalled|scene|share_?token|sharer?_?\w*|wfr|clicktime|enterid|"
    r"fbclid|gclid|_|nsukey|timestamp|ts|rnd|random",
    re.I,
)


def canonical_url(url: str) -> str:
    """The identity of a notice: host, path and the query parameters that name the page.

    Scheme, fragment, a default port, the mobile twin (``_m.html``) and tracking
    parameters (utm_*, spm, from…) are folded; the other parameters are kept, sorted, since
    on legacy CMSs they are the document (``show.asp?id=8879``, ``content.jsp?id=…``).
    ``http://www.ccdi.gov.cn/a/t1_m.html?utm_source=x#y`` and
    ``https://WWW.ccdi.gov.cn/a/t1.html`` are the same notice; ``show.asp?id=1`` and
    ``show.asp?id=2`` are two.
    """
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    path = _MOBILE_TWIN.sub(r"\1", parts.path or "/")
    params = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING.fullmatch(k)
    )
    return urlunsplit(("", host, path, urlencode(params), "")).lstrip("/")


@dataclass
class PageEvent:
    """Something that happened to a page other than a notice: the store turns it into an event.

    kind: "blocked", "fetch_failed", "parse_failed", "gone" (404/410 of a page that may be
    stored), "not_modified" (a conditional re-check answered 304), "delisted" (a stored
    notice that a complete walk of the list pages no longer shows), "skipped" (a link a
    list page shows that cannot be followed: counted in the run).
    """

    site: str
    url: str
    kind: str
    reason: str
    status: int | None = None


@dataclass
class SiteList:
    """A site's 巡视整改 list as discovery found it (``found``), or a kept list that stopped
    answering (not ``found``): the store keeps it for the next crawl (store/sites.py)."""

    site: str
    url: str
    family: str | None
    found: bool
    reason: str
