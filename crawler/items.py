"""The Notice item: one shape from the spider, through the pipelines, into the store."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit


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


def canonical_url(url: str) -> str:
    """The identity of a notice: host and path, with scheme, query, fragment and mobile twin folded.

    ``http://www.ccdi.gov.cn/a/t1_m.html?x#y`` and ``https://WWW.ccdi.gov.cn/a/t1.html``
    are the same notice.
    """
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    path = _MOBILE_TWIN.sub(r"\1", parts.path or "/")
    return urlunsplit(("", host, path, "", "")).lstrip("/")


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
