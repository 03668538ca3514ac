"""The crawler's faster per-page functions against the ones they replaced (issue 16).

Each reference below is a copy of the function as it was; the new one must give the same
result on every page, every element and every line of the corpus (tests/pagecorpus.py:
the CCDI fixtures, every HTML fixture under tests/, the benchmark's pages, random markup
and text full of odd white space, invisible characters, full-width forms and controls).
"""

from __future__ import annotations

import random

from lxml import etree

from crawler.htmltext import BLOCK_TAGS, CELL_TAGS, SKIP_TAGS, element_lines, is_junk, parse_html
from tests import pagecorpus

# ----------------------------------------------------------- element_lines as it was


def _tag_before(el: etree._Element) -> str:
    tag = el.tag
    return tag.lower() if isinstance(tag, str) else ""


def _hidden_before(el: etree._Element) -> bool:
    style = (el.get("style") or "").replace(" ", "").lower()
    return "display:none" in style or "visibility:hidden" in style


class _WalkerBefore:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.buf: list[str] = []

    def flush(self) -> None:
        if self.buf:
            self.lines.append("".join(self.buf))
            self.buf = []

    def walk(self, top: etree._Element) -> None:
        stack: list[tuple[etree._Element, bool, bool]] = [(top, True, False)]
        while stack:
            el, root, leaving = stack.pop()
            tag = _tag_before(el)
            if leaving:
                if tag in BLOCK_TAGS:
                    self.flush()
                if el.tail and not root:
                    self.buf.append(el.tail)
                continue
            skip = not tag or tag in SKIP_TAGS or (not root and is_junk(el)) or _hidden_before(el)
            if skip:
                if el.tail and not root:
                    self.buf.append(el.tail)
                continue
            if tag in BLOCK_TAGS or tag == "br":
                self.flush()
            elif tag in CELL_TAGS:
                self.buf.append(" ")
            if el.text:
                self.buf.append(el.text)
            stack.append((el, root, True))
            stack.extend((child, False, False) for child in reversed(el))


def element_lines_before(el: etree._Element) -> list[str]:
    walker = _WalkerBefore()
    walker.walk(el)
    walker.flush()
    return walker.lines


def _corpus_docs() -> list[etree._Element]:
    docs = []
    for text in pagecorpus.page_texts():
        try:
            docs.append(parse_html(text))
        except ValueError:
            continue
    rng = random.Random(1618)
    docs += [parse_html(pagecorpus.random_html(rng)) for _ in range(3000)]
    return docs


def test_element_lines_agrees_with_the_walker_it_replaced_on_every_element() -> None:
    checked = lines = 0
    wrong = []
    for doc in _corpus_docs():
        for el in doc.iter():
            if not isinstance(el.tag, str):
                continue
            new, old = element_lines(el), element_lines_before(el)
            checked += 1
            lines += len(old)
            if new != old:
                wrong.append((el.tag, old[:3], new[:3]))
    assert wrong == []
    assert checked > 40_000 and lines > 100_000


# ------------------------------------------- the article's lines: counters stripped


def test_counter_search_of_the_joined_lines_strips_what_a_search_per_line_did() -> None:
    from crawler.article import _COUNTER_LABEL, strip_counters
    from crawler.normalise import clean_line

    def before(raw: list[str]) -> list[str]:
        return [strip_counters(clean_line(x)) for x in raw]

    def after(raw: list[str]) -> list[str]:  # as extract_article does it now
        lines = [clean_line(x) for x in raw]
        if _COUNTER_LABEL.search("\n".join(lines)) is not None:
            lines = [strip_counters(x) for x in lines]
        return lines

    cases = [element_lines(el) for doc in _corpus_docs() for el in doc.iter("div", "td", "body")]
    rng = random.Random(1619)
    labels = ["浏览次数：1234", "点击数:56", "【阅读量 789次】", "访问 : 1,234", "查看人次：9", "浏览", "：12"]
    for _ in range(20000):
        lines = [pagecorpus.random_text(rng, rng.randint(0, 8)) for _ in range(rng.randint(1, 5))]
        for _ in range(rng.randint(0, 2)):
            i = rng.randrange(len(lines))
            cut = rng.randint(0, len(lines[i]))
            lines[i] = lines[i][:cut] + rng.choice(labels) + lines[i][cut:]
        cases.append(lines)
    stripped = sum(before(c) != [clean_line(x) for x in c] for c in cases)
    assert stripped > 1000  # the corpus has counters to strip
    assert [c for c in cases if after(c) != before(c)] == []


# ------------------------------------------- gb_mojibake: classes instead of the regex

_UTF8_RUN_BEFORE = __import__("re").compile(
    rb"[\xe4-\xe9][\x80-\xbf]{2}(?:[\xe4-\xe9][\x80-\xbf]{2}){3,}"
)


def _gb_mojibake_before(text: str) -> bool:
    if text.isascii():
        return False
    return _UTF8_RUN_BEFORE.search(text.encode("gb18030", "ignore")) is not None


def test_gb_mojibake_agrees_with_the_regex_it_replaced() -> None:
    from crawler.extract import _UTF8_CLASSES, gb_mojibake

    # the table: L for a UTF-8 lead byte of U+4000-U+9FFF, C for a continuation byte
    assert [chr(c) for c in _UTF8_CLASSES] == [
        "L" if 0xE4 <= b <= 0xE9 else "C" if 0x80 <= b <= 0xBF else "x" for b in range(256)
    ]
    texts = [*pagecorpus.seed_texts(), *pagecorpus.page_texts()]
    # what the check is for: UTF-8 read as GB18030, whole or in part, among clean text
    garbled = [t.encode("utf-8").decode("gb18030", "ignore") for t in texts]
    texts += garbled
    texts += [g[i : i + n] for g in garbled[:20] for i in range(0, 200, 7) for n in (3, 5, 6, 9)]
    rng = random.Random(1620)
    alphabet = "中文巡视整改鎷卞鍖哄锟斤拷浣犲ソ涓枃ab \n。，"
    texts += [pagecorpus.random_text(rng, rng.randint(0, 14), alphabet) for _ in range(50000)]
    texts += [pagecorpus.random_text(rng, rng.randint(0, 12)) for _ in range(20000)]
    # random Chinese (U+4E00-U+9FFF and beyond) read as GB18030: runs of every length
    for _ in range(20000):
        chars = "".join(chr(rng.randint(0x3000, 0x9FFF)) for _ in range(rng.randint(1, 6)))
        texts.append(chars.encode("utf-8").decode("gb18030", "ignore") + rng.choice(["", "a", "中"]))
    # every BMP character between Chinese ones, where its bytes meet theirs
    texts += [f"中{chr(c)}文浣犲" for c in range(0x80, 0x10000) if not 0xD800 <= c < 0xE000]
    found = [_gb_mojibake_before(t) for t in texts]
    assert 1000 < sum(found) < len(texts) - 1000
    assert [t[:40] for t, old in zip(texts, found, strict=True) if gb_mojibake(t) != old] == []


# ------------------------------------------- parse_html: the XML declaration, empty pages


def _parse_html_before(text: str) -> etree._Element:
    import re

    if not text.strip():
        raise ValueError("empty document")
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    parser = etree.HTMLParser(huge_tree=True)
    doc = etree.fromstring(text, parser)
    if doc is None:
        raise etree.ParserError("Document is empty")
    return doc


def _outcome(parse: object, text: str) -> str:
    try:
        return etree.tostring(parse(text), encoding="unicode")  # type: ignore[operator]
    except (ValueError, etree.ParserError) as exc:
        return f"{exc.__class__.__name__}: {exc}"


def test_parse_html_reads_every_page_as_before() -> None:
    declaration = '<?xml version="1.0" encoding="utf-8"?>'
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    texts = ["", *spaces, "".join(spaces), " \n\u3000", "<p>x</p>", "\ufeff<p>x</p>"]
    for page in pagecorpus.page_texts()[::3]:
        texts += [page, declaration + page, " \n" + declaration + page, "\u3000" + declaration + page,
                  "<p>a</p>" + declaration + page, declaration + declaration + page,
                  "<?xml" + page, declaration]  # fmt: skip
    rng = random.Random(1621)
    for _ in range(2000):
        head = "".join(rng.choice([" ", "\n", "\u3000", "\xa0", declaration, "<?xml ?>", "<p>é</p>"])
                       for _ in range(rng.randint(0, 4)))  # fmt: skip
        texts.append(head + pagecorpus.random_html(rng))
    from crawler.htmltext import TooDeep

    def new(text: str) -> etree._Element:
        try:
            return parse_html(text)
        except TooDeep:  # the depth check is the same code before and after
            raise AssertionError("no corpus page is too deep") from None

    wrong = [t[:60] for t in texts if _outcome(new, t) != _outcome(_parse_html_before, t)]
    assert wrong == []
