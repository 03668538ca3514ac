"""Discovery: from a site's home or column page to its 巡视整改 list, as pure functions.

A site entry may give only the home page. The list is found by following links whose
text names it: 巡视整改 first, else a 巡视巡察 / 巡视工作 column that may hold it, at most
:data:`MAX_HOPS` links away from the start. A page is the list when it shows notice
links and there is no better-named link to follow. The spider (crawler/spiders/notices.py)
fetches the pages these functions choose, and the store keeps what was found
(store/sites.py) so the next crawl starts at the list, and looks again when it stops
answering. Nothing here fetches or stores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit

from parsel import Selector

from crawler.families import FAMILIES, recognise
from crawler.items import canonical_url
from crawler.normalise import clean_line
from crawler.sites import SiteProfile

MAX_HOPS = 2
# Words of a link to the 巡视整改 list itself, and of columns that may hold it.
LIST_WORDS = ("巡视整改",)
COLUMN_WORDS = ("巡视巡察", "巡视工作", "巡察巡视", "巡视监督")
# Menu entries are short; a longer text naming 巡视整改 is a headline, not a column.
MAX_MENU_CHARS = 12
_DOC_EXT = re.compile(r"\.(?:pdf|docx?|xlsx?|wps|zip|rar|jpg|png|gif)$", re.I)


@dataclass(frozen=True)
class Candidate:
    """A link that may lead to the list: ``kind`` is "list" (named 巡视整改) or "column"."""

    url: str
    text: str
    kind: str


@dataclass(frozen=True)
class Step:
    """What to do with a page met while looking for the list.

    ``action``: "follow" (fetch ``url`` and look again), "list" (this page is the list),
    or "none" (no list here and nothing left to follow); ``reason`` says why.
    """

    action: str
    url: str | None
    reason: str


def _host_ok(host: str, hosts: tuple[str, ...]) -> bool:
    return any(host == h or host.endswith("." + h) for h in hosts if h)


def _fold(url: str) -> str:
    return re.sub(r"/index\.s?html?$", "/", canonical_url(url))


def candidate_links(text: str, url: str, hosts: tuple[str, ...]) -> list[Candidate]:
    """The links of a page that may lead to the 巡视整改 list, best first.

    Only links on the site's ``hosts`` (and this page's host) whose text is a menu entry
    naming 巡视整改 (kind "list") or a column that may hold it (kind "column"); a link back
    to this page is not one. Shorter texts first: 巡视整改 before 巡视整改工作专栏.
    """
    here = urlsplit(url).hostname or ""
    allowed = (here, *hosts)
    found: dict[str, Candidate] = {}
    for a in Selector(text=text, base_url=url).css("a[href]"):
        words = clean_line(" ".join(a.css("::text").getall()) or a.attrib.get("title", ""))
        words = re.sub(r"\s+", "", words)
        href = (a.attrib.get("href") or "").strip()
        if not words or not href or href.startswith(("javascript:", "#", "mailto:")):
            continue
        if len(words) > MAX_MENU_CHARS:
            continue
        if any(w in words for w in LIST_WORDS):
            kind = "list"
        elif any(w in words for w in COLUMN_WORDS):
            kind = "column"
        else:
            continue
        try:
            target = urljoin(url, href).split("#", 1)[0]
            parts = urlsplit(target)
            key = _fold(target)
        except ValueError:  # a hostile href (a bad IPv6 host, a bad port): no column
            continue
        if parts.scheme not in ("http", "https") or not _host_ok(parts.hostname or "", allowed):
            continue
        if _DOC_EXT.search(parts.path) or key == _fold(url):
            continue
        old = found.get(key)
        if old is None or (kind == "list" and old.kind != "list"):
            found[key] = Candidate(target, words, kind)
    order = {"list": 0, "column": 1}
    return sorted(found.values(), key=lambda c: (order[c.kind], len(c.text)))


def page_names(text: str) -> str:
    """What a page says it is: its ``<title>`` and its breadcrumb (当前位置 …) line."""
    sel = Selector(text=text)
    parts = sel.css("title::text").getall()
    for node in sel.xpath("//*[contains(text(), '当前位置')]/.."):
        parts.append(" ".join(node.css("::text").getall()))
    return re.sub(r"\s+", "", "".join(parts))


def next_step(text: str, url: str, hosts: tuple[str, ...], hops: int, notice_links: int) -> Step:
    """Where to go from a page met at ``hops`` links from the start, looking for the list.

    ``notice_links`` is how many links of the page read as 巡视整改 notices (the list
    parser's verdicts). A page with notices whose title or breadcrumb names 巡视整改 is
    the list; else a link named 巡视整改 is followed; a page reached through a link that
    names itself 巡视整改 is the list, notices shown or not; then a page with notices met
    through a link (or named after a 巡视 column) is the list, then a 巡视巡察 / 巡视工作
    column is followed, up to :data:`MAX_HOPS` links from the start. A home page's few
    notice headlines do not make it the list while there is a column to follow.
    """
    candidates = candidate_links(text, url, hosts)
    lists = [c for c in candidates if c.kind == "list"]
    columns = [c for c in candidates if c.kind == "column"]
    can_follow = hops < MAX_HOPS
    names = page_names(text)
    found = f"{notice_links} notice links on the page"
    if notice_links and any(w in names for w in LIST_WORDS):
        return Step("list", url, found + ", which names 巡视整改")
    if lists and can_follow:
        return Step("follow", lists[0].url, f"link {lists[0].text!r}")
    if hops > 0 and any(w in names for w in LIST_WORDS):
        # Reached through a link and titled 巡视整改 (``巡视整改_清风扬帆网``): the column
        # itself, whose notices may sit on later pages or in a Hanweb datastore that the
        # first page's links do not show. Its own menu must not lead the search away.
        return Step("list", url, found + "; the page is titled 巡视整改")
    if notice_links and (hops > 0 or any(w in names for w in COLUMN_WORDS)):
        return Step("list", url, found)
    if columns and can_follow:
        return Step("follow", columns[0].url, f"column link {columns[0].text!r}")
    if notice_links:
        return Step("list", url, found)
    if not can_follow:
        return Step("none", None, f"no notice links {MAX_HOPS} links away from the start page")
    return Step("none", None, "no link named 巡视整改, 巡视巡察 or 巡视工作 and no notice links")


def recognise_family(text: str) -> str:
    """The CMS family of a page (see crawler.families.recognise)."""
    return recognise(text)[0]


def adopt_family(profile: SiteProfile, family: str) -> SiteProfile:
    """``profile`` with what a recognised family adds to an entry that did not name one.

    Only a generic entry without an article pattern changes: it takes the family's
    article pattern and, where it has none, the family's selectors.
    """
    if profile.family != "generic" or profile.article_path is not None or family == "generic":
        return profile
    fam = FAMILIES[family]
    d = fam.defaults
    return replace(
        profile,
        family=family,
        article_path=fam.article,
        list_links=profile.list_links or d.get("list_links", ()),
        title=profile.title or d.get("title", ()),
        published=profile.published or d.get("published", ()),
        source=profile.source or d.get("source", ()),
        body=profile.body or d.get("body", ()),
    )
