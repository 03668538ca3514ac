"""Pure extraction: page bytes -> text; list page -> notice links and next pages; article -> fields.

Nothing here fetches, stores or logs: every function takes bytes or text and returns
values, or raises :class:`PageError` with a reason a user can read.
"""

from __future__ import annotations

import codecs
import functools
import html as html_lib
import ipaddress
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from lxml import etree
from parsel import Selector, SelectorList
from w3lib.url import safe_url_string

from crawler.htmltext import (
    BLOCK_TAGS,
    BREADCRUMB_LINE,
    JUNK_LINE,
    SKIP_TAGS,
    TooDeep,
    element_lines,
    is_junk,
    parse_html,
)
from crawler.items import canonical_url
from crawler.normalise import clean_line, header_line
from crawler.sites import SiteProfile

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


class PageError(ValueError):
    """A page that cannot be turned into a notice; the message says why."""


# ---------------------------------------------------------------------------------------
# Bytes to text
# ---------------------------------------------------------------------------------------

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-:.]+)", re.I)
# GB2312 and GBK are subsets of GB18030; pages declared as either routinely use
# characters only the larger sets have (镕, 堃, 珺 in names).
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030",
              "csgb2312": "gb18030", "euc-cn": "gb18030", "iso-8859-1": "cp1252",
              "latin-1": "cp1252", "ascii": "cp1252", "us-ascii": "cp1252"}  # fmt: skip
# What UTF-8 text looks like when it was decoded as GBK, or GBK as Latin-1, or what
# a replacement character becomes in GBK: the marks of mojibake. Every alternative starts
# with a literal character, so that re scans for those few characters alone (one that
# starts with a class, [ÃÂâ], makes re try the whole pattern at every position: 3x slower).
_LATIN1_TAIL = "[\x80-\xbf€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ¡-¿]"
_MOJIBAKE = re.compile(f"锟斤拷|烫烫烫|屯屯屯|Ã{_LATIN1_TAIL}|Â{_LATIN1_TAIL}|â{_LATIN1_TAIL}|ï»¿")
# The characters a match starts with: a page holding none of them (nearly every page) is
# let through by seven substring scans, 20x faster than re's scan of the page.
_MOJIBAKE_FIRST = "锟烫屯ÃÂâï"


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().lower()
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def declared_encoding(body: bytes, content_type: str | None) -> str | None:
    """The encoding the server or the page declares (HTTP header first, then BOM, then meta)."""
    if content_type:
        m = _HEADER_CHARSET.search(content_type)
        if m and _codec(m.group(1)):
            return _codec(m.group(1))
    if body.startswith(codecs.BOM_UTF8):
        return "utf-8"
    meta = _META_CHARSET.search(body[:8192])
    if meta:
        return _codec(meta.group(1).decode("ascii", "ignore"))
    return None


def decode_page(
    body: bytes, content_type: str | None = None, *, nul_ok: bool = False
) -> tuple[str, str]:
    """Decode page bytes to text, returning ``(text, encoding)``.

    Declarations are often wrong on these sites (GBK pages that say UTF-8, GB18030 text
    declared as gb2312), so a declaration is a hint: bytes that are valid UTF-8 and not
    plain ASCII are UTF-8 whatever they claim, then the declared codec (widened to
    GB18030) must decode strictly, then GB18030. Anything that only decodes with
    replacement characters is refused rather than stored as mojibake, and so is a NUL
    byte (named as such: the parser would turn it into U+FFFD) unless ``nul_ok`` (a list
    page, whose text is not stored: one NUL must not stop a site's walk).
    """
    if not body.strip():
        raise PageError("empty page")
    body = body.removeprefix(codecs.BOM_UTF8)
    declared = declared_encoding(body, content_type)
    candidates: list[str] = []
    if not body.isascii():
        candidates.append("utf-8")
    if declared:
        candidates.append(declared)
    candidates += ["utf-8", "gb18030"]
    for encoding in dict.fromkeys(candidates):
        try:
            text = body.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        # Bytes that decode cleanly but read as mojibake were garbled before they reached
        # us (or by the site's own CMS): another codec would only garble them further.
        problem = text_problem(text.replace("\x00", "") if nul_ok else text, controls=False)
        if problem is not None:
            raise PageError(f"the page decodes as {encoding} but holds {problem}")
        return text, encoding
    if _UTF8_RUN.search(body):
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PageError(
                "cannot decode the page: mixed encodings (UTF-8 text with bytes that are not "
                f"UTF-8 at byte {exc.start:,}, another encoding pasted in?)"
            ) from None
    raise PageError(
        f"cannot decode the page: declared {declared or 'nothing'}, "
        "and neither UTF-8 nor GB18030 decodes it cleanly"
    )


# C0 and C1 control characters other than the white space ones (tab, newline, form
# feed, carriage return): no page text holds them; a NUL byte ends a C string.
_CONTROL_CHAR = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_CONTROL_NAMES = {0x00: "a NUL byte", 0x7F: "a DEL character"}


# Four Chinese characters in a row as UTF-8 bytes: GBK text almost never holds such a run
# (neither seed does), so GB18030 text that encodes to one is UTF-8 read as GB18030.
# (One character spelt out before the repeat: re then scans for its first byte alone.)
_UTF8_RUN = re.compile(rb"[\xe4-\xe9][\x80-\xbf]{2}(?:[\xe4-\xe9][\x80-\xbf]{2}){3,}")


def gb_mojibake(text: str) -> bool:
    """True when ``text`` is UTF-8 text that was decoded as GB18030 (``鎷卞鍖哄…``).

    Used on extracted text, not whole pages: a GBK page may carry a UTF-8 script.
    """
    if text.isascii():
        return False
    return _UTF8_RUN.search(text.encode("gb18030", "ignore")) is not None


def control_problem(text: str, pattern: re.Pattern[str] | None = None) -> str | None:
    """The control characters ``text`` holds, named (``a NUL byte (U+0000) at character 12``)."""
    pattern = pattern or _CONTROL_CHAR
    control = pattern.search(text)
    if control is None:
        return None
    code = ord(control.group())
    name = _CONTROL_NAMES.get(code, "a control character")
    count = len(pattern.findall(text))
    more = f" and {count - 1:,} more" if count > 1 else ""
    return f"{name} (U+{code:04X}) at character {control.start():,}{more}"


_NUL = re.compile("\x00")


def text_problem(text: str, *, controls: bool = True) -> str | None:
    """Why ``text`` cannot be right (control characters, replacement characters,
    mojibake), or None. Control characters are named first: parsers turn a NUL into
    U+FFFD, and "U+FFFD" would not tell the user what the page held. With
    ``controls=False`` only a NUL counts (a whole page: a stray control character in
    a script is no reason to refuse it; the article's own text is checked by
    :func:`extract_article`)."""
    control = control_problem(text, None if controls else _NUL)
    if control:
        return control
    if "\ufffd" in text:
        return "replacement characters (U+FFFD) in the text"
    if any(c in text for c in _MOJIBAKE_FIRST) and _MOJIBAKE.search(text):
        return "mojibake in the text"
    return None


# ---------------------------------------------------------------------------------------
# Blocked and challenge pages
# ---------------------------------------------------------------------------------------

BLOCK_STATUSES = frozenset({403, 412, 420, 429})
# Case-sensitive on purpose: a case-insensitive scan of 64 KB per response cost 1.6 ms. Each
# alternative starts with a literal character (not [cC]), so that re looks for those
# characters alone before trying the pattern: 0.18 ms instead of 0.54 ms per page.
_CHALLENGE = re.compile(
    r"captcha[pP]age|Captcha[pP]age|seccaptcha\.haplat\.net|comImageValidate|\$_ts\s*=|FSSBBIl1UgzbN7N80S|"
    r"_\$[a-zA-Z]{2}\s*=\s*window|请开启JavaScript并刷新该页|安全验证|访问验证|滑动验证",
)


def detect_block(status: int, body: bytes) -> str | None:
    """A reason when a response is an anti-bot block or challenge rather than content."""
    head = body[:65536].decode("utf-8", "ignore")
    m = _CHALLENGE.search(head)
    if status in BLOCK_STATUSES:
        return f"HTTP {status}" + (f" with a challenge page ({m.group(0)})" if m else "")
    if m:
        return f"challenge page ({m.group(0)})"
    return None


# ---------------------------------------------------------------------------------------
# Which titles are 巡视整改 notices
# ---------------------------------------------------------------------------------------

_NOT_NOTICE = re.compile(
    r"召开|动员|部署会|推进会|进驻|培训|座谈|民主生活会|专题会|答记者问|解读|评论|述评"
)


def classify_title(title: str | None) -> str:
    """``"notice"``, ``"maybe"`` (a truncated title worth fetching) or ``"no"``.

    A rectification notice speaks of 巡视 (not only 巡察) and of 整改, and is a report or
    announcement (通报, 情况, 公告, 公布); 巡视反馈, 进驻 and 动员部署 news are not.
    """
    if not title:
        return "no"
    t = clean_line(title)
    if "巡视" not in t or _NOT_NOTICE.search(t):
        return "no"
    if "整改" in t and re.search(r"通报|情况|公告|公布|报告", t):
        return "notice"
    if t.endswith(("...", "…", "..")):
        return "maybe"
    return "no"


# ---------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------

_DATE = re.compile(
    r"(?P<y>(?:19|20)\d{2})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:\s*(?:T|\s)?\s*(?P<H>\d{1,2})\s*[:时]\s*(?P<M>\d{2})(?:\s*[:分]\s*(?P<S>\d{2}))?)?"
)


def parse_datetime(text: str | None) -> tuple[datetime, bool] | None:
    """The first date (and time) in ``text`` as Asia/Shanghai time, and whether it had a time."""
    if not text:
        return None
    m = _DATE.search(clean_line(text))
    if not m:
        return None
    try:
        has_time = m.group("H") is not None
        value = datetime(
            int(m.group("y")),
            int(m.group("m")),
            int(m.group("d")),
            int(m.group("H") or 0),
            int(m.group("M") or 0),
            int(m.group("S") or 0),
            tzinfo=SHANGHAI,
        )
    except ValueError:
        return None
    return value, has_time


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


# ---------------------------------------------------------------------------------------
# Article pages
# ---------------------------------------------------------------------------------------


# Longest field values kept: a real title is under 200 characters, a source under 50.
# A longer one (a 1 MB <h1>) is cut here, at extraction, marked with "…", and the
# Article says which fields were cut; the body text is never cut.
TITLE_MAX = 500
SOURCE_MAX = 200


def cap_field(value: str | None, limit: int) -> str | None:
    """``value`` cut to ``limit`` characters (the last one "…") when longer."""
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


# Page furniture that changes on every fetch: hit counters (浏览次数：1234, 点击数:56,
# 阅读量 789). Cut from the text so a counter never makes a new version.
_HIT_COUNTER = re.compile(
    r"[\[【(]?\s*(?:浏览|点击|阅读|访问|查看)(?:次数|量|数|率|人次)?\s*[:：]\s*\d[\d,]*\s*次?\s*[\])】]?"
)
_COUNTER_LABEL = re.compile(r"(?:浏览|点击|阅读|访问|查看)(?:次数|量|数|率|人次)?\s*[:：]\s*\d")


def strip_counters(line: str) -> str:
    """``line`` without hit counters (``浏览次数：1234``); other numbers are left alone."""
    if not _COUNTER_LABEL.search(line):
        return line
    return clean_line(_HIT_COUNTER.sub(" ", line))


@dataclass
class Article:
    """The fields of one article page, before it becomes a Notice."""

    title: str | None
    published_at: datetime | None
    published_has_time: bool
    source: str | None
    paragraphs: list[str]
    header: str | None  # the seed format's date/source line, when the site's rule wants one
    # How each field was found: "profile", "label", "meta", "heading" or "fallback".
    methods: dict[str, str] = field(default_factory=dict)
    capped: list[str] = field(default_factory=list)  # fields cut to TITLE_MAX/SOURCE_MAX


_META_TITLE = ("ArticleTitle", "og:title", "title", "dc.title")
_META_DATE = ("PubDate", "publishdate", "pubdate", "PublishDate", "article:published_time",
              "firstpublishedtime", "dc.date", "date", "published_time")  # fmt: skip
_META_SOURCE = ("ContentSource", "source", "og:site_name_source", "dc.source")
_LABEL_DATE = re.compile(r"(?:发布时间|发布日期|发稿时间|时间|日期|发布)\s*[::]\s*(.{6,40})")
_LABEL_SOURCE = re.compile(r"(?:来源|来 源|稿件来源|信息来源)\s*[::]\s*([^\s|｜:：【】\[\]]+)")
_TAGS = re.compile(r"<[^>]+>")


def _meta(sel: Selector, names: tuple[str, ...]) -> str | None:
    lowered = {n.lower() for n in names}
    for m in sel.xpath("//meta[@content]"):
        key = (m.attrib.get("name") or m.attrib.get("property") or "").strip().lower()
        if key in lowered:
            # TRS puts the editor's HTML into ArticleTitle (escaped): strip it.
            value = clean_line(_TAGS.sub("", html_lib.unescape(m.attrib["content"])))
            if value:
                return value
    return None


def _in_furniture(node: Selector) -> bool:
    el = node.root
    if not isinstance(el, etree._Element):
        return False
    return is_junk(el) or any(is_junk(a) for a in el.iterancestors())


def _first_text(sel: Selector, selectors: tuple[str, ...]) -> str | None:
    """Text of the first node a selector finds, ignoring related lists, share bars and footers."""
    for css in selectors:
        try:
            found = sel.css(css)
        except Exception:  # a bad selector in a profile must not stop the crawl
            continue
        for node in found:
            if _in_furniture(node):
                continue
            value = clean_line(" ".join(node.css("::text").getall()))
            if value:
                return value
    return None


_SPACES = re.compile(r"\s+")
_SENTENCE_MARKS = re.compile(r"[。,，;；!！?？、]")


def _density_root(root: etree._Element) -> etree._Element | None:
    """The element holding the article text: the one whose paragraphs carry most prose.

    Each paragraph gives its score (characters, plus a bonus per sentence mark, as
    readability does with commas) to its container and half to the one above; link
    lists, navigation and furniture score nothing.
    """
    # Everything is worked out once per element, parents before children (children first
    # for sums), so a page nested 2,000 deep costs O(n), not O(n x depth) (1,900 <span>s
    # took 15 s). Texts are never joined: a paragraph's score only needs its number of
    # non-space characters and of sentence marks, and both add up over its text nodes.
    elements = list(root.iter())
    junk: dict[etree._Element, bool] = {}
    for el in elements:
        parent = el.getparent()
        inherited = junk.get(parent, False) if parent is not None else False
        junk[el] = inherited or (isinstance(el.tag, str) and is_junk(el))

    def count(text: str | None) -> tuple[int, int]:
        if not text:
            return 0, 0
        return len(_SPACES.sub("", text)), len(_SENTENCE_MARKS.findall(text))

    full: dict[etree._Element, tuple[int, int]] = {}  # all its text, as itertext() gives it
    inline: dict[etree._Element, tuple[int, int]] = {}  # outside block-level children
    links: dict[etree._Element, int] = {}  # non-space characters inside links
    for el in reversed(elements):
        is_tag = isinstance(el.tag, str)
        own = count(el.text) if is_tag else (0, 0)
        f_chars, f_marks = own
        i_chars, i_marks = own
        link_chars = 0
        for child in el:
            tail = count(child.tail)
            c_chars, c_marks = full[child]
            f_chars, f_marks = f_chars + c_chars + tail[0], f_marks + c_marks + tail[1]
            tag = child.tag.lower() if isinstance(child.tag, str) else ""
            if tag and tag not in BLOCK_TAGS and tag not in SKIP_TAGS:
                i_chars, i_marks = i_chars + c_chars, i_marks + c_marks
            i_chars, i_marks = i_chars + tail[0], i_marks + tail[1]
            link_chars += links[child]
        full[el], inline[el] = (f_chars, f_marks), (i_chars, i_marks)
        links[el] = f_chars if el.tag == "a" else link_chars
    outer: dict[etree._Element, etree._Element | None] = {}  # nearest non-inline ancestor

    def container_of(el: etree._Element) -> etree._Element | None:
        node = el.getparent() if el.tag in ("p", "span", "font") else el
        chain = []
        while node is not None and node.tag in ("span", "font", "p"):
            if node in outer:
                node = outer[node]
                break
            chain.append(node)
            node = node.getparent()
        for inline_el in chain:
            outer[inline_el] = node
        return node

    scores: dict[etree._Element, float] = {}
    for el in root.iter("p", "div", "td", "section", "article", "font", "span"):
        if junk[el]:
            continue
        chars, marks = full[el] if el.tag == "p" else inline[el]
        if chars < 5:
            continue
        if links[el] > chars / 2:
            continue
        if el.tag != "p" and marks == 0:
            continue  # a line of labels (date, source, menu), not prose
        score = chars + 5 * marks
        container = container_of(el)
        if container is None:
            continue
        scores[container] = scores.get(container, 0) + score
        above = container.getparent()
        if above is not None:
            scores[above] = scores.get(above, 0) + score / 2
    if not scores:
        return None
    return max(scores, key=lambda e: scores[e])


def _body_element(doc: etree._Element, profile: SiteProfile) -> tuple[etree._Element | None, str]:
    sel_root = Selector(root=doc)
    for css in profile.body:
        try:
            nodes = sel_root.css(css)
        except Exception:
            continue
        for node in nodes:
            el = node.root
            if isinstance(el, etree._Element) and len("".join(el.itertext()).strip()) >= 20:
                return el, "profile"
    for css in ("div.TRS_Editor", "div#zoom", "div.content", "div#ivs_content", "div.article-content",
                "div.art_content", "div.news_content", "article"):  # fmt: skip
        for node in sel_root.css(css):
            el = node.root
            if isinstance(el, etree._Element) and len("".join(el.itertext()).strip()) >= 200:
                return el, "generic"
    return _density_root(doc), "fallback"


def _labelled(lines: Callable[[], list[str]], pattern: re.Pattern[str]) -> str | None:
    for line in lines():
        m = pattern.search(clean_line(line))
        if m:
            return m.group(1).strip()
    return None


def _block_element(body: etree._Element) -> etree._Element:
    """The article block around the body (title, date/source line, body): up to 3 levels up."""
    block = body
    for _ in range(3):
        parent = block.getparent()
        if parent is None or parent.tag == "body":
            break
        block = parent
    return block


def _parse_title(sel: Selector, profile: SiteProfile) -> tuple[str | None, str | None]:
    """The title, and the rule that found it: profile, meta, heading (or None)."""
    title = _first_text(sel, profile.title)
    if title:
        return title, "profile"
    title = _meta(sel, _META_TITLE)
    if title:
        return title, "meta"
    title = _first_text(sel, ("h1", "h2.tit", "h2.title", "h2"))
    if not title:
        raw = _first_text(sel, ("title",))
        title = re.split(r"\s*(?:_|\||——|-{2,}| - )\s*", raw)[0] if raw else None
    return (title, "heading") if title else (None, None)


def _parse_published(
    sel: Selector, scoped: Selector, block: Callable[[], list[str]], profile: SiteProfile
) -> tuple[tuple[datetime, bool] | None, str | None]:
    """The publish time (and whether it has a time of day), and its rule: profile, label, meta.

    The rules profile and label read a time the page shows; meta does not.
    """
    raw_date = _first_text(scoped, profile.published) or _first_text(sel, profile.published)
    if raw_date:
        published = parse_datetime(raw_date)
        if published is not None:
            return published, "profile"
    published = parse_datetime(_labelled(block, _LABEL_DATE))
    if published is not None:
        return published, "label"
    published = parse_datetime(_meta(sel, _META_DATE))
    return (published, "meta") if published is not None else (None, None)


def _parse_source(
    sel: Selector, scoped: Selector, block: Callable[[], list[str]], profile: SiteProfile
) -> tuple[str | None, str | None]:
    """The source (来源), and its rule: profile, label (both shown in the page), meta."""
    raw_source = _first_text(scoped, profile.source) or _first_text(sel, profile.source)
    if raw_source:
        m = _LABEL_SOURCE.search(raw_source)
        return (m.group(1) if m else raw_source), "profile"
    source = _labelled(block, _LABEL_SOURCE)
    if source:
        return source, "label"
    source = _meta(sel, _META_SOURCE)
    return (source, "meta") if source else (None, None)


def _parse_body(doc: etree._Element, profile: SiteProfile) -> tuple[etree._Element, str]:
    """The element holding the article text, and its rule: profile, generic, fallback."""
    body, how = _body_element(doc, profile)
    if body is None:
        raise PageError("no article body found on the page")
    return body, how


def extract_article(text: str, url: str, profile: SiteProfile) -> Article:
    """Title, publish time, source and seed-format text of an article page.

    Each field is found by its own ``_parse_<field>`` function, which says which rule
    found it (recorded in ``methods``). Raises PageError when the page has no article body.
    """
    try:
        doc = parse_html(text)
    except TooDeep as exc:
        raise PageError(str(exc)) from None
    except (ValueError, etree.ParserError) as exc:
        raise PageError(f"not an HTML page: {exc}") from None
    for css in profile.drop:
        for node in Selector(root=doc).css(css):
            el = node.root
            if isinstance(el, etree._Element) and el.getparent() is not None:
                el.getparent().remove(el)
    sel = Selector(root=doc, base_url=url)
    methods: dict[str, str] = {}

    body, methods["body"] = _parse_body(doc, profile)
    block_el = _block_element(body)
    scoped = Selector(root=block_el)

    @functools.cache
    def block() -> list[str]:
        # The block's lines are only read when the profile's selectors find no date or
        # source: made on first use (walking and cleaning them cost a third of a page).
        return [clean_line(x) for x in element_lines(block_el)]

    title, how = _parse_title(sel, profile)
    methods["title"] = how or "heading"
    published, how = _parse_published(sel, scoped, block, profile)
    if how:
        methods["published"] = how
    shown_date = how in ("profile", "label")
    source, how = _parse_source(sel, scoped, block, profile)
    if how:
        methods["source"] = how
    shown_source = how in ("profile", "label")

    raw_lines = element_lines(body)
    control = control_problem("\n".join(raw_lines))
    if control:
        raise PageError(f"the article text holds {control}")
    paragraphs = [strip_counters(clean_line(x)) for x in raw_lines]
    paragraphs = _drop_chrome(paragraphs, title)
    if not paragraphs:
        raise PageError("the article body is empty")
    capped = [name for name, value, limit in (("title", title, TITLE_MAX), ("source", source, SOURCE_MAX))
              if value and len(value) > limit]  # fmt: skip
    title, source = cap_field(title, TITLE_MAX), cap_field(source, SOURCE_MAX)

    when, has_time = published if published else (None, False)
    header = None
    if profile.header_rule == "date_source" or (
        profile.header_rule == "auto" and shown_date and shown_source
    ):
        header = header_line(when, source, has_time=has_time)
    return Article(
        title=title,
        published_at=when,
        published_has_time=has_time,
        source=source,
        paragraphs=paragraphs,
        header=header,
        methods=methods,
        capped=capped,
    )


def _drop_chrome(lines: list[str], title: str | None) -> list[str]:
    """Drop empty lines, furniture lines, and a leading repeat of the title or breadcrumb."""
    out = [x for x in lines if x and not JUNK_LINE.match(x) and not BREADCRUMB_LINE.match(x)]
    t = clean_line(title) if title else None
    while out and t and out[0] == t:
        out.pop(0)
    while out and (_LABEL_DATE.match(out[0]) or _LABEL_SOURCE.match(out[0])):
        out.pop(0)
    return out
