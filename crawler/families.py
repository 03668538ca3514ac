"""CMS families: what the sites built on one content-management system share, in one place.

A site entry names its family (``family = "trs"``) or lets discovery recognise it from a
page (:func:`recognise`); the family then gives everything the entry does not say: the
article URL pattern, the list-item and article selectors, the header rule, the notes that
say what is known about the family, and how its list pages link to the next page.

Families are code rather than data only where data cannot say it: the pagination
parsers. Everything here is pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

from parsel import Selector


@dataclass(frozen=True)
class Family:
    """One CMS family: its defaults for a site entry and what is known about it."""

    name: str
    label: str
    # A regular expression searched in an article URL's path; None: any link on the
    # site's hosts whose title passes the notice classifier is an article.
    article: str | None
    defaults: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


# TRS WCM (zjsjw, ccdi, bjsupervision): static lists index.html, index_1.html… written by
# createPageHTML(total, current, "index", "html"); articles <col>/YYYYMM/tYYYYMMDD_<id>.html.
TRS_ARTICLE = r"/t\d{8}_\d+(?:_ext)?\.s?html?$"
TRS = Family(
    "trs",
    "TRS WCM",
    TRS_ARTICLE,
    {
        "list_links": ("ul.list li a", ".list li a", ".news_list li a", "ul.list_news_dl2 li a",
                       "ul.list_news_dl li a"),
        "title": ("div.article h1", "div.Article_61 > .tit", "h2.tit", ".artTitle", "h1.title"),
        "published": ("span#pubtime_baidu", ".info span:contains('发布时间')", "em.e2", ".pubtime"),
        "source": ("span#source_baidu", ".info span:contains('来源')", "em.e1", ".source"),
        "body": ("div.TRS_Editor", "div.zw", "div.Article_61 > div.content", "div.artCon", "#zoom"),
    },
    (
        "TRS WCM: list pages index.html, index_1.html… counted by createPageHTML(total, …) [V]",
        "pages carry the standard government-site metas ArticleTitle, PubDate, ContentSource [V]",
    ),
)  # fmt: skip

# Hanweb (jssjw): list pages col/colN/index.html hold their items as CDATA <record>s of a
# <script type="text/xml"><datastore>; later groups come from /module/web/jpage/dataproxy.jsp.
HANWEB_ARTICLE = r"/art/\d{4}/\d{1,2}/\d{1,2}/art_\d+_\d+\.html$"
HANWEB = Family(
    "hanweb",
    "Hanweb",
    HANWEB_ARTICLE,
    {
        "list_links": (),  # the items are in the datastore records, which parse_list reads
        "title": ("div.article h1", ".article-title", "td.title", "h1.title"),
        "published": (".pubtime", "span:contains('发布日期')", "span:contains('发布时间')"),
        "source": (".source", "span:contains('来源')"),
        "body": ("div#zoom", "div#Zoom", "div.article-content", "div.bt-content"),
    },
    (
        'Hanweb CMS: list items are CDATA records in a <script type="text/xml"> datastore [V]',
        "groups after the first come from /module/web/jpage/dataproxy.jsp (the datastore's "
        "<nextgroup> link + startrecord/endrecord/perpage); a GET of it is unverified [U]",
    ),
)

# The Shanghai CMS (shjjjc): articles <column>/content/<uuid4>.html, no date in URL or text.
UUID_ARTICLE = r"/content/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.html$"
UUID = Family(
    "uuid",
    "Shanghai uuid CMS",
    UUID_ARTICLE,
    {
        "header_rule": "none",
        "list_links": ("ul.news-list li a", ".list li a", "ul li a"),
        "title": ("h2.title", "div#ivs_title", "h1"),
        "published": (".time", "span.date"),
        "source": (),
        "body": ("div#ivs_content", "div.Article_content", "div.article-content"),
    },
    (
        "Shanghai CMS: articles <column>/content/<uuid4>.html; the date, when there is one, is "
        "only in the page (publishdate meta, .time) [V]",
    ),
)

# Anything else: no article pattern (a link whose title passes the notice classifier is
# an article), the generic extraction rules, a 下一页 link or ?page=N for the next page.
GENERIC = Family(
    "generic",
    "generic",
    None,
    {},
    (),
)

FAMILIES: dict[str, Family] = {f.name: f for f in (TRS, HANWEB, UUID, GENERIC)}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown family {name!r}; known: {', '.join(FAMILIES)}") from None


# ---------------------------------------------------------------------------------------
# Recognising a family from a page
# ---------------------------------------------------------------------------------------

_TRS_MARK = re.compile(r"\bcreatePageHTML\s*\(|TRS_Editor|/t\d{8}_\d+(?:_ext)?\.s?html?\b")
_HANWEB_MARK = re.compile(r"<datastore\b|/module/web/jpage/|/art/\d{4}/\d{1,2}/\d{1,2}/art_\d+_\d+\.html", re.I)  # fmt: skip
_QUERY_PAGER = re.compile(r"""href\s*=\s*["'][^"']*[?&](?:page|pageNo|pageIndex|p|pn)=\d+""", re.I)
_NEXT_LINK = re.compile(r">\s*(?:下一页|下页)\s*<")
_UUID_MARK = re.compile(r"/content/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.html")  # fmt: skip


def recognise(text: str) -> tuple[str, str]:
    """The CMS family a page was built with, and the mark that says so.

    TRS: a ``createPageHTML(`` pager call, a ``TRS_Editor`` block or ``tYYYYMMDD_<id>``
    article links; Hanweb: a ``<datastore>`` or links to its jpage proxy or ``art_<col>_<id>``
    articles; the uuid CMS: ``/content/<uuid4>.html`` links. Anything else is generic.
    """
    for family, mark in (("hanweb", _HANWEB_MARK), ("trs", _TRS_MARK), ("uuid", _UUID_MARK)):
        m = mark.search(text)
        if m:
            return family, m.group(0)
    if _QUERY_PAGER.search(text):
        return "generic", "?page=N links"
    if _NEXT_LINK.search(text):
        return "generic", "下一页 links"
    return "generic", "no CMS mark"


# ---------------------------------------------------------------------------------------
# Pagination that the list parser does not read itself
# ---------------------------------------------------------------------------------------

_PAGE_KEYS = ("page", "pageNo", "pageno", "pageIndex", "pageindex", "p", "pn", "curpage")


def _page_param(query: str) -> tuple[str, int] | None:
    params = dict(parse_qsl(query, keep_blank_values=True))
    for key in _PAGE_KEYS:
        value = params.get(key)
        if value is not None and value.isdigit():
            return key, int(value)
    return None


def query_next_page(text: str, url: str) -> str | None:
    """The next page of a list paginated by a query parameter (``list.asp?page=2``).

    The page links to ``?page=N+1`` (or pageNo, pageIndex, p, pn…) on the same path,
    where N is this page's number (1 when the URL has none). None when it does not.
    """
    here = urlsplit(url)
    current = _page_param(here.query)
    number = current[1] if current else 1
    for href in Selector(text=text, base_url=url).css("a::attr(href)").getall():
        href = href.strip()
        if not href or href.startswith(("javascript:", "#", "mailto:")):
            continue
        try:
            target = urlsplit(urljoin(url, href))
            if (target.hostname, target.path) != (here.hostname, here.path):
                continue
        except ValueError:  # a hostile href (a bad IPv6 host, a bad port): not a pager link
            continue
        found = _page_param(target.query)
        if found and found[1] == number + 1 and (current is None or found[0] == current[0]):
            return urlunsplit(target._replace(fragment=""))
    return None
