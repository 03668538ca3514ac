"""HTML element to paragraphs: a pure walk that keeps what an article shows and drops page chrome."""

from __future__ import annotations

import re

from lxml import etree

# Elements whose content is never article text.
SKIP_TAGS = frozenset(
    {
        "script", "style", "noscript", "template", "iframe", "object", "embed", "img",
        "svg", "canvas", "video", "audio", "button", "input", "select", "textarea",
        "head", "title", "meta", "link", "map", "area",
    }
)  # fmt: skip
# Elements that start and end a line of text.
BLOCK_TAGS = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "aside", "nav",
        "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd",
        "table", "thead", "tbody", "tfoot", "tr", "caption", "blockquote", "pre",
        "center", "address", "figure", "figcaption", "hr", "form", "fieldset", "body",
    }
)  # fmt: skip
CELL_TAGS = frozenset({"td", "th"})

# class/id words of page furniture that CMS templates and browser plug-ins put inside or
# next to an article: share bars, QR codes, print/close links, font-size switches,
# related lists, pagers. Matched as whole words of the class/id value.
JUNK_ATTR = re.compile(
    r"(?:^|[\s_-])(?:share|bdshare|bdsharebuttonbox|jiathis|fenxiang|social|qr|qrcode|"
    r"erweima|ewm|code-?img|print|dayin|close|guanbi|related|xgwz|xgxw|xgyd|relevant|"
    r"pager|pagination|page-?nav|fontsize|font-?size|zihao|zoom|toolbar|tools|"
    r"breadcrumb|crumbs?|position|location|dqwz|footer|copyright|comment)(?:$|[\s_-])",
    re.I,
)
# Whole lines that are page furniture rather than article text (after NFKC).
JUNK_LINE = re.compile(
    r"^(?:[\[【(]?\s*(?:打印(?:本页|此页|文章)?|关闭(?:窗口|本页)?|返回(?:顶部|首页)?|收藏(?:本页)?|"
    r"分享到?|扫一扫.*|字[体号]\s*:?\s*[大中小\s]*|[大中小]|\|)\s*[\])】]?\s*:?\s*)+$"
)
BREADCRUMB_LINE = re.compile(r"^(?:当前位置|您的位置|你的位置|所在位置|当前的位置)\s*[::]")


def is_junk(el: etree._Element) -> bool:
    """True for an element that is page furniture by its class or id."""
    attrs = " ".join(filter(None, (el.get("class"), el.get("id"))))
    return bool(attrs) and JUNK_ATTR.search(attrs) is not None


def element_lines(el: etree._Element) -> list[str]:
    """The raw lines of text an element shows, in order; not yet cleaned.

    A loop, not recursion: a page may nest 2,000 elements deep. An element is entered
    (skipped whole when it is never text: SKIP_TAGS, furniture by class or id, hidden by
    its style; a block or a <br> starts a new line, a cell adds a space), then its children
    are walked, then it is left (a block ends its line, its tail follows). is_junk and
    _hidden are spelt out inline, and an element without children is left at once: this
    walk runs over every article body, and a function call per element was a third of it.
    """
    lines: list[str] = []
    buf: list[str] = []
    # (element, is it the root?, leaving it?)
    stack: list[tuple[etree._Element, bool, bool]] = [(el, True, False)]
    pop, push, junk_attr = stack.pop, stack.append, JUNK_ATTR.search
    while stack:
        el, root, leaving = pop()
        tag = el.tag
        tag = tag.lower() if isinstance(tag, str) else ""
        if not leaving:
            skip = not tag or tag in SKIP_TAGS
            if not skip and not root:
                cls, eid = el.get("class"), el.get("id")
                if cls or eid:  # is_junk(el)
                    skip = junk_attr(f"{cls} {eid}" if cls and eid else (cls or eid)) is not None
            if not skip:
                style = el.get("style")
                if style:  # _hidden(el)
                    style = style.replace(" ", "").lower()
                    skip = "display:none" in style or "visibility:hidden" in style
            if skip:
                if not root:
                    tail = el.tail
                    if tail:
                        buf.append(tail)
                continue
            if tag in BLOCK_TAGS or tag == "br":
                if buf:
                    lines.append("".join(buf))
                    buf = []
            elif tag in CELL_TAGS:
                buf.append(" ")
            text = el.text
            if text:
                buf.append(text)
            if len(el):
                push((el, root, True))
                children = [(child, False, False) for child in el]
                children.reverse()
                stack.extend(children)
                continue
        # leaving: a block ends its line, the tail follows
        if tag in BLOCK_TAGS and buf:
            lines.append("".join(buf))
            buf = []
        if not root:
            tail = el.tail
            if tail:
                buf.append(tail)
    if buf:
        lines.append("".join(buf))
    return lines


_XML_DECLARATION = re.compile(r"\s*<\?xml[^>]*\?>")


class TooDeep(ValueError):
    """A page nested deeper than the parser can follow: parsed, it would lose its end."""


def parse_html(text: str) -> etree._Element:
    """Parse an HTML document from text (never raises on tag soup).

    Raises ValueError for an empty document, and :class:`TooDeep` when the parser stopped
    at its depth limit: libxml2 drops everything below it (256 levels by default, 2,048
    with ``huge_tree``), and a page cut short must never be read as the whole page.
    """
    if not text or text.isspace():  # (not text.strip(), without copying the page)
        raise ValueError("empty document")
    # lxml refuses str input that carries an XML encoding declaration. A match at the
    # start only: re.sub of "^…" tried the pattern at every character of the page.
    declaration = _XML_DECLARATION.match(text)
    if declaration is not None:
        text = text[declaration.end() :]
    # lxml.etree's parser, not lxml.html's: the same libxml2 parse and tree, without
    # lxml.html's Python class lookup on every element the walk touches.
    parser = etree.HTMLParser(huge_tree=True)
    doc = etree.fromstring(text, parser)
    if doc is None:
        raise etree.ParserError("Document is empty")
    for error in parser.error_log:
        if error.type_name == "ERR_RESOURCE_LIMIT" or error.level_name == "FATAL":
            raise TooDeep(
                f"the page cannot be parsed whole ({error.message.split(',')[0]}): "
                "refused rather than read cut short"
            )
    return doc
