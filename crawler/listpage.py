"""Pure list-page parsing: a list page -> notice links, skipped links and next pages.

Nothing here fetches, stores or logs (see crawler/extract.py for the rules of this layer).
"""

from __future__ import annotations

import ipaddress
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from lxml import etree
from parsel import Selector, SelectorList
from w3lib.url import safe_url_string

from crawler.extract import TITLE_MAX, PageError, cap_field, classify_title, parse_datetime
from crawler.htmltext import (
    TooDeep,
    parse_html,
)
from crawler.items import canonical_url
from crawler.normalise import clean_line
from crawler.sites import SiteProfile

# ---------------------------------------------------------------------------------------
# List pages
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListLink:
    url: str
    title: str
    date: str | None
    verdict: str


@dataclass(frozen=True)
class SkippedLink:
    """A link a page shows that cannot be followed: what it said (cut short) and why."""

    href: str
    reason: str


@dataclass
class ListPage:
    links: list[ListLink] = field(default_factory=list)
    next_pages: list[str] = field(default_factory=list)
    page_count: int | None = None
    problems: list[str] = field(default_factory=list)
    skipped: list[SkippedLink] = field(default_factory=list)


# Scrapy's URLLENGTH_LIMIT: a longer request is dropped by its UrlLengthMiddleware with
# one INFO line, so such a link is skipped here, and counted, instead.
URL_LENGTH_LIMIT = 2083
# Links that lead to no page at all: never candidates, never counted.
_NOT_A_PAGE = ("javascript:", "#", "mailto:")
_HREF_PARTS = re.compile(r"[\s'\"(),;]+")
_URL_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_HOST = re.compile(
    r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*\.?"
)


class BadLink(ValueError):
    """A link that cannot be followed; ``web`` is False when it is merely not a web link."""

    def __init__(self, reason: str, *, web: bool = True) -> None:
        super().__init__(reason)
        self.web = web


def _valid_host(host: str) -> bool:
    if ":" in host:  # an IPv6 literal, brackets already removed by urlsplit
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return False
        return True
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return False
    return _HOST.fullmatch(ascii_host) is not None


def resolve_link(base: str, href: str, *, max_length: int | None = URL_LENGTH_LIMIT) -> str | None:
    """The absolute http(s) URL a link leads to (fragment dropped), or None when the link
    leads to no page (``javascript:``, ``mailto:``, ``#…``, empty).

    Raises :class:`BadLink` with a reason for a link that cannot be followed: one that
    does not parse (``http://[object Object]/``, ``http://[::1/…``), a bad port
    (full-width digits, ``:99999``), a bad host name, control characters, another
    scheme (``vbscript:``, ``tel:``, ``data:``: ``BadLink.web`` is False), or a URL longer
    than ``max_length`` once percent-encoded as Scrapy sends it.
    """
    # As a browser does: white space around the value and tabs/newlines inside it go.
    href = re.sub("[\t\n\r]", "", href.strip(" \t\n\r\f"))
    if not href or href.lower().startswith(_NOT_A_PAGE):
        return None
    control = _URL_CONTROL.search(href)
    if control:
        raise BadLink(f"control character U+{ord(control.group()):04X} in the link")
    try:
        url = urljoin(base, href).split("#", 1)[0]
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise BadLink(f"malformed URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadLink(f"not a web link ({parts.scheme or 'no'} scheme)", web=False)
    if not host or not _valid_host(host):
        raise BadLink(f"bad host name {host!r}" if host else "no host name")
    if port == 0:
        raise BadLink("port 0")
    if max_length is not None:
        length = len(safe_url_string(url))
        if length > max_length:
            raise BadLink(f"URL of {length:,} characters, over the limit of {max_length:,}")
    return url


def _skip(page: ListPage, href: str, reason: str) -> None:
    shown = href if len(href) <= 200 else href[:200] + f"… ({len(href):,} characters)"
    page.skipped.append(SkippedLink(shown, reason))


# A call, not the function's definition that TRS list templates often inline.
_CREATE_PAGE = re.compile(r"(?<!function )(?<!function)\bcreatePageHTML\s*\(([^)]*)\)")
_JS_VAR = r"(?:var|let|const)?\s*{name}\s*=\s*(\d+)"
_NEXT_TEXT = re.compile(r"^(?:下一页|下页|后一页|下一頁|next|>|›|»)$", re.I)
_DOC_EXT = re.compile(r"\.(?:pdf|docx?|xlsx?|wps|zip|rar|jpg|png)$", re.I)


def _resolve_js_int(token: str, script: str) -> int | None:
    token = token.strip()
    if token.isdigit():
        return int(token)
    if re.fullmatch(r"[A-Za-z_$][\w$]*", token):
        m = re.search(_JS_VAR.format(name=re.escape(token)), script)
        if m:
            return int(m.group(1))
    return None


def trs_pages(text: str, url: str) -> tuple[int | None, list[str], list[str]]:
    """Pagination written by TRS's ``createPageHTML(total, current, prefix, ext)``.

    Returns the page total, the URL of the next page (if any) and problems found.
    Page 0 is ``prefix.ext``, page N is ``prefix_N.ext``.
    """
    problems: list[str] = []
    for m in _CREATE_PAGE.finditer(text):
        args = [a.strip() for a in m.group(1).split(",")]
        if len(args) < 4:
            problems.append(
                f"createPageHTML({m.group(1)[:60]}) could not be read: {len(args)} arguments"
            )
            continue
        total = _resolve_js_int(args[0], text)
        current = _resolve_js_int(args[1], text)
        prefix = args[2].strip("\"' ")
        ext = args[3].strip("\"' ")
        if total is None or current is None or not re.fullmatch(r"[\w.-]+", prefix + ext):
            problems.append(f"createPageHTML({m.group(1)[:60]}) could not be read")
            continue
        if total > 2000:
            problems.append(f"createPageHTML says {total} pages; capped")
            total = 2000
        nxt = current + 1
        if nxt < total:
            return total, [urljoin(url, f"{prefix}_{nxt}.{ext}")], problems
        return total, [], problems
    return None, [], problems


# Hanweb's jpage lists: the items are CDATA <record>s of an XML data block, inside a
# <script type="text/xml"> of the list page or as the whole answer of its data proxy.
_XML_BLOCK = re.compile(
    r"<script\b[^>]*\btype\s*=\s*[\"']?text/xml[^>]*>(.*?)</script\s*>", re.S | re.I
)
_BARE_DATASTORE = re.compile(r"\s*(?:<\?xml[^>]*>\s*)?<datastore\b", re.I)
_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.S)
_NEXTGROUP = re.compile(r"<nextgroup>\s*<!\[CDATA\[(.*?)\]\]>\s*</nextgroup>", re.S | re.I)
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.I)
_MOBILE_TWIN = re.compile(r"_m(\.s?html?)$")


def embedded_records(text: str) -> list[str]:
    """HTML fragments that a page keeps as CDATA in XML data blocks rather than in its DOM.

    The DOM never shows them (a script's content is text), so a list page built by
    JavaScript from ``<script type="text/xml"><datastore><recordset><record><![CDATA[…]]>``
    looks empty to a selector. The pager's ``<nextgroup>`` is not an item.
    """
    blocks = _XML_BLOCK.findall(text)
    if not blocks and _BARE_DATASTORE.match(text):
        blocks = [text]
    return [frag for block in blocks for frag in _CDATA.findall(_NEXTGROUP.sub("", block))]


def datastore_next(text: str, url: str, records: int) -> tuple[str | None, list[str]]:
    """The next group of a jpage list (Hanweb), and problems found.

    The list page holds the first group of records and, in ``<nextgroup>``, the data
    proxy that serves the rest; a proxy answer is asked for by ``startrecord`` and
    ``endrecord``. A group with fewer records than asked for is the last one.
    """
    if records == 0:
        return None, []
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    try:
        if "startrecord" in query and "endrecord" in query:
            start, end = int(query["startrecord"]), int(query["endrecord"])
            size = end - start + 1
            if size <= 0 or records < size:
                return None, []
            base = url
        else:
            group = _NEXTGROUP.search(text)
            href = _HREF.search(group.group(1)) if group else None
            if href is None:
                return None, []
            base = urljoin(url, href.group(1).replace("&amp;", "&").strip())
            start, size = 1, records
    except ValueError:
        return None, [f"data proxy range in {url} could not be read"]
    nxt = urlsplit(base)
    params = dict(parse_qsl(nxt.query, keep_blank_values=True))
    params.update(
        startrecord=str(start + size), endrecord=str(start + 2 * size - 1), perpage=str(size)
    )
    return urlunsplit(nxt._replace(query=urlencode(params))), []


def _same_page(a: str, b: str) -> bool:
    def fold(u: str) -> str:
        return re.sub(r"/index\.s?html?$", "/", canonical_url(u))

    return fold(a) == fold(b)


def find_column_link(text: str, url: str, label: str, profile: SiteProfile) -> str | None:
    """Where a column index page links to its sub-column whose link text holds ``label``.

    Headlines that hold the same words (…巡视整改进展情况的通报) are articles, not columns;
    of the rest the shortest text wins (a menu entry rather than a sentence). None when
    there is no such link, or when it leads back to this page: the page is the column.
    """
    best: tuple[int, str] | None = None
    for a in Selector(text=text, base_url=url).css("a[href]"):
        words = clean_line(" ".join(a.css("::text").getall()) or a.attrib.get("title", ""))
        if label not in words:
            continue
        try:
            target = resolve_link(url, a.attrib["href"])
        except BadLink:
            continue  # one bad link must not hide the column
        if target is None:
            continue
        if profile.is_article_url(target) or _DOC_EXT.search(urlsplit(target).path):
            continue
        if best is None or len(words) < best[0]:
            best = (len(words), target)
    if best is None or _same_page(best[1], url):
        return None
    return best[1]


_CREATE_PAGE_ZW = re.compile(r"(?<!function )(?<!function)\bcreatePageHTML_ZW\s*\(([^)]*)\)")


def trs_article_pages(text: str, url: str) -> list[str]:
    """The pages after this one of a multi-page TRS article.

    ``createPageHTML_ZW(total, current, name, ext)``: page 0 is ``name.ext``, page N is
    ``name_N.ext``, all in the article's folder.
    """
    for m in _CREATE_PAGE_ZW.finditer(text):
        args = [a.strip().strip("\"' ") for a in m.group(1).split(",")]
        if len(args) < 4 or not (args[0].isdigit() and args[1].isdigit()):
            continue
        total, current, name, ext = min(int(args[0]), 200), int(args[1]), args[2], args[3]
        if not re.fullmatch(r"[\w.-]+", name + ext):
            continue
        return [urljoin(url, f"{name}_{n}.{ext}") for n in range(current + 1, total)]
    return []


class _Rows:
    """The date beside each link of one list page, in time linear in the page's size.

    Each container's answer (does it hold more than one link? which date does it show?)
    is worked out once: asking every link's ancestors afresh cost O(n²) on a page of n
    links outside ``<li>`` (4,000 links: 37 s).
    """

    def __init__(self) -> None:
        self.many: dict[etree._Element, bool] = {}
        self.dates: dict[etree._Element, str | None] = {}

    def _many_links(self, el: etree._Element) -> bool:
        found = self.many.get(el)
        if found is None:
            links = (a for a in el.iter("a") if a.get("href") is not None)
            found = sum(1 for _ in zip(links, range(2), strict=False)) > 1
            self.many[el] = found
        return found

    def date(self, a: Selector) -> str | None:
        """The date a list shows beside a link, as YYYY-MM-DD.

        The row is the link's ``<li>``, else its nearest container holding no other link
        (``<div class="data-list"><h4><a>…</a></h4><p>…</p><span>2025-03-12</span></div>``).
        A short text outside the link (``<span class="more">``) is the date; a date in a
        summary or in the title is only taken when there is none.
        """
        el = a.root
        if not isinstance(el, etree._Element):
            return None
        row = next(el.iterancestors("li"), None)
        if row is None:
            for parent in list(itertools.islice(el.iterancestors(), 3)):
                if self._many_links(parent):
                    break
                row = parent
        if row is None:
            return None
        if row not in self.dates:
            self.dates[row] = _row_date(row)
        return self.dates[row]


def _texts_outside_links(row: etree._Element) -> Iterator[str]:
    """The text nodes of ``row`` that are not inside a link, in document order (as the
    XPath ``.//text()[not(ancestor::a)]``, which libxml2 answers in quadratic time)."""
    in_link = 0
    for event, el in etree.iterwalk(row, events=("start", "end")):
        is_tag = isinstance(el.tag, str)
        is_link = is_tag and el.tag.lower() == "a"
        if event == "start":
            in_link += is_link
            if is_tag and not in_link and el.text:
                yield el.text
        else:
            in_link -= is_link
            if el is not row and not in_link and el.tail:
                yield el.tail


def _row_date(row: etree._Element) -> str | None:
    for text in _texts_outside_links(row):
        text = text.strip()
        if 6 <= len(text) <= 30:
            found = parse_datetime(text)
            if found:
                return found[0].date().isoformat()
    found = parse_datetime(" ".join(row.itertext()))
    return found[0].date().isoformat() if found else None


def parse_list(
    text: str, url: str, profile: SiteProfile, *, max_url_length: int | None = URL_LENGTH_LIMIT
) -> ListPage:
    """Notice links and the next list page(s) of one list page.

    Items are found by the profile's list selectors, and in the CDATA records of XML data
    blocks (Hanweb); only when neither finds any is every link of the page a candidate.
    A mobile twin (``…_m.html``) and its page are one item, kept under the page's URL.

    A link that cannot be followed (see :func:`resolve_link`) is skipped and listed in
    ``skipped``, never allowed to stop the page: a non-web link (``tel:``, ``vbscript:``)
    only when it looks like an article link. Raises PageError for a page that cannot be
    parsed whole (nesting deeper than the parser's limit).
    """
    try:
        sel = Selector(root=parse_html(text), base_url=url)
    except TooDeep as exc:
        raise PageError(str(exc)) from None
    except (ValueError, etree.ParserError) as exc:
        raise PageError(f"not an HTML page: {exc}") from None
    page = ListPage()
    anchors: SelectorList[Selector] = SelectorList()
    for css in profile.list_links:
        anchors = sel.css(css)
        if anchors:
            break
    records = embedded_records(text)
    record_anchors: SelectorList[Selector] = SelectorList()
    if records:
        fragment = Selector(text="<div>" + "".join(records) + "</div>", base_url=url)
        record_anchors = fragment.css("a[href]")
    if not anchors and not record_anchors:
        anchors = sel.css("a[href]")
    # A generic site has no article pattern: no href is article-shaped, the titles decide.
    article_path = re.compile(profile.article_path or r"(?!)")

    def article_shaped(href: str) -> bool:
        """Whether a link, or a path quoted inside it (``javascript:open('/…/t1.html')``),
        looks like an article's: such a link was meant to be followed."""
        return any(article_path.search(part) for part in _HREF_PARTS.split(href) if part)

    rows = _Rows()
    seen: dict[str, int] = {}
    for a in [*anchors, *record_anchors]:
        href = a.attrib.get("href") or ""
        try:
            link = resolve_link(url, href, max_length=None)
        except BadLink as exc:
            if exc.web or article_shaped(href):
                _skip(page, href, str(exc))
            continue
        if link is None:
            if article_shaped(href):  # javascript:openArticle('/…/t2024_1.html')
                _skip(page, href, "an article link that leads to no page (script or anchor)")
            continue
        if _DOC_EXT.search(urlsplit(link).path) or not profile.is_article_url(link):
            continue
        if max_url_length is not None and len(safe_url_string(link)) > max_url_length:
            length = len(safe_url_string(link))
            _skip(page, link, f"URL of {length:,} characters, over the limit of {max_url_length:,}")
            continue
        key = canonical_url(link)
        date = rows.date(a)
        if key in seen:
            # The same item again (a side box, a mobile twin): keep one, with what it lacked.
            kept = page.links[seen[key]]
            if _MOBILE_TWIN.search(urlsplit(kept.url).path) and not _MOBILE_TWIN.search(
                urlsplit(link).path
            ):
                kept = replace(kept, url=link)
            page.links[seen[key]] = replace(kept, date=kept.date or date)
            continue
        seen[key] = len(page.links)
        title = clean_line(a.attrib.get("title") or " ".join(a.css("::text").getall()))
        title = cap_field(title, TITLE_MAX) or ""
        page.links.append(ListLink(link, title, date, classify_title(title)))
    total, nxt, problems = trs_pages(text, url)
    page.page_count, page.problems = total, problems
    if not nxt and records:
        group, group_problems = datastore_next(text, url, len(records))
        page.problems += group_problems
        nxt = [group] if group else []
    if not nxt:
        for a in sel.css("a[href]"):
            label = clean_line(" ".join(a.css("::text").getall()) or a.attrib.get("title", ""))
            if _NEXT_TEXT.match(label):
                try:
                    target = resolve_link(url, a.attrib["href"], max_length=None)
                except BadLink as exc:
                    _skip(page, a.attrib["href"], f"next-page link: {exc}")
                    continue
                if target is not None and target != url.split("#")[0]:
                    nxt = [target]
                    break
    for target in nxt:
        try:
            page.next_pages.append(resolve_link(url, target, max_length=max_url_length) or "")
        except BadLink as exc:
            _skip(page, target, f"next-page link: {exc}")
    page.next_pages = [u for u in page.next_pages if u]
    return page
