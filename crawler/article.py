"""Pure article extraction: an article page -> title, date, source and the body's lines.

Nothing here fetches, stores or logs (see crawler/extract.py for the rules of this layer).
"""

from __future__ import annotations

import functools
import html as html_lib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree
from parsel import Selector
from parsel.csstranslator import css2xpath

from crawler.extract import (
    SOURCE_MAX,
    TITLE_MAX,
    PageError,
    cap_field,
    control_problem,
    parse_datetime,
)
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
from crawler.normalise import clean_line, header_line
from crawler.sites import SiteProfile

# ---------------------------------------------------------------------------------------
# Article pages
# ---------------------------------------------------------------------------------------


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


# Selectors are run as parsel's Selector.css runs them (its CSS-to-XPath translation, an
# XPath compiled once and evaluated on the element, strings not "smart"), on lxml elements
# directly: wrapping every node found (and every text node of it) in a Selector, as
# parsel does, cost more than the evaluation itself on an article page.
@functools.lru_cache(maxsize=1024)
def _css_xpath(css: str) -> etree.XPath:
    return etree.XPath(css2xpath(css), smart_strings=False)


def _select(root: etree._Element, css: str) -> list[object]:
    """What ``Selector(root=root).css(css)`` finds: elements (or strings), in its order."""
    found = _css_xpath(css)(root)
    return found if isinstance(found, list) else [found]


_METAS = etree.XPath("//meta[@content]", smart_strings=False)
_TEXTS = etree.XPath(css2xpath("::text"), smart_strings=False)  # what node.css("::text") gets


def _meta(doc: etree._Element, names: tuple[str, ...]) -> str | None:
    lowered = {n.lower() for n in names}
    for m in _METAS(doc):
        key = (m.attrib.get("name") or m.attrib.get("property") or "").strip().lower()
        if key in lowered:
            # TRS puts the editor's HTML into ArticleTitle (escaped): strip it.
            value = clean_line(_TAGS.sub("", html_lib.unescape(m.attrib["content"])))
            if value:
                return value
    return None


def _in_furniture(el: etree._Element) -> bool:
    return is_junk(el) or any(is_junk(a) for a in el.iterancestors())


def _first_text(root: etree._Element, selectors: tuple[str, ...]) -> str | None:
    """Text of the first node a selector finds, ignoring related lists, share bars and footers."""
    for css in selectors:
        try:
            found = _select(root, css)
        except Exception:  # a bad selector in a profile must not stop the crawl
            continue
        for node in found:
            # A string found (a selector ending in ::text) has no text nodes of its own.
            if not isinstance(node, etree._Element) or _in_furniture(node):
                continue
            value = clean_line(" ".join(_TEXTS(node)))
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
    for css in profile.body:
        try:
            nodes = _select(doc, css)
        except Exception:
            continue
        for el in nodes:
            if isinstance(el, etree._Element) and len("".join(el.itertext()).strip()) >= 20:
                return el, "profile"
    for css in ("div.TRS_Editor", "div#zoom", "div.content", "div#ivs_content", "div.article-content",
                "div.art_content", "div.news_content", "article"):  # fmt: skip
        for el in _select(doc, css):
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


def _parse_title(sel: etree._Element, profile: SiteProfile) -> tuple[str | None, str | None]:
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
    sel: etree._Element,
    scoped: etree._Element,
    block: Callable[[], list[str]],
    profile: SiteProfile,
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
    sel: etree._Element,
    scoped: etree._Element,
    block: Callable[[], list[str]],
    profile: SiteProfile,
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
    sel = doc  # selectors run on the lxml tree itself (_select)
    methods: dict[str, str] = {}

    body, methods["body"] = _parse_body(doc, profile)
    block_el = _block_element(body)
    scoped = block_el

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
    paragraphs = [clean_line(x) for x in raw_lines]
    # A counter's label in a line is one in the lines joined: one search of them all lets
    # through the article that has none (nearly all) instead of a search per line.
    if _COUNTER_LABEL.search("\n".join(paragraphs)) is not None:
        paragraphs = [strip_counters(x) for x in paragraphs]
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
