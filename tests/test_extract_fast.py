"""The crawler's faster per-page functions against the ones they replaced (issue 16).

Each reference below is a copy of the function as it was; the new one must give the same
result on every page, every element and every line of the corpus (tests/pagecorpus.py:
the CCDI fixtures, every HTML fixture under tests/, the benchmark's pages, random markup
and text full of odd white space, invisible characters, full-width forms and controls).
"""

from __future__ import annotations

import random
import re

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


# ------------------------------------------- article selectors: lxml instead of parsel


def _in_furniture_before(node: object) -> bool:
    el = node.root  # type: ignore[attr-defined]
    if not isinstance(el, etree._Element):
        return False
    return is_junk(el) or any(is_junk(a) for a in el.iterancestors())


def _first_text_before(sel: object, selectors: tuple[str, ...]) -> str | None:
    from crawler.normalise import clean_line

    for css in selectors:
        try:
            found = sel.css(css)  # type: ignore[attr-defined]
        except Exception:
            continue
        for node in found:
            if _in_furniture_before(node):
                continue
            value = clean_line(" ".join(node.css("::text").getall()))
            if value:
                return value
    return None


def _meta_before(sel: object, names: tuple[str, ...]) -> str | None:
    import html as html_lib

    from crawler.article import _TAGS
    from crawler.normalise import clean_line

    lowered = {n.lower() for n in names}
    for m in sel.xpath("//meta[@content]"):  # type: ignore[attr-defined]
        key = (m.attrib.get("name") or m.attrib.get("property") or "").strip().lower()
        if key in lowered:
            value = clean_line(_TAGS.sub("", html_lib.unescape(m.attrib["content"])))
            if value:
                return value
    return None


def _body_element_before(doc: etree._Element, profile: object) -> tuple[object, str]:
    from parsel import Selector

    from crawler.article import _density_root

    sel_root = Selector(root=doc)
    for css in profile.body:  # type: ignore[attr-defined]
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


def test_article_selectors_find_what_parsel_found() -> None:
    from parsel import Selector

    from crawler import article
    from crawler.sites import SITES, get_site

    get_site("zjsjw")  # the registry loaded
    profiles = list(SITES.values())
    # every selector of every profile, the generic ones, and odd and broken ones
    selectors = sorted({css for p in profiles for css in (*p.title, *p.published, *p.source, *p.body)})
    selectors += ["h1", "h2.tit", "h2.title", "h2", "title", "p::text", "a::attr(href)", "div[",
                  "::text", "meta", "p:nth-child(2)", "div > p + p", "span:contains('时间')",
                  "[class~=share]", "*", "br", "head title"]  # fmt: skip
    groups = [tuple(selectors[i : i + 3]) for i in range(0, len(selectors), 3)]
    groups += [(css,) for css in selectors]
    metas = (article._META_TITLE, article._META_DATE, article._META_SOURCE)
    compared = found = 0
    wrong = []
    for doc in _corpus_docs()[:400]:
        sel = Selector(root=doc)
        blocks = [doc, *doc.iter("div", "td")][:6]
        for scope in blocks:
            scoped = Selector(root=scope)
            for group in groups:
                old = _first_text_before(scoped, group)
                compared += 1
                found += old is not None
                if article._first_text(scope, group) != old:
                    wrong.append((group, old))
        for names in metas:
            if article._meta(doc, names) != _meta_before(sel, names):
                wrong.append((names, "meta"))
        for profile in profiles:
            new_el, new_how = article._body_element(doc, profile)
            old_el, old_how = _body_element_before(doc, profile)
            if new_el is not old_el or new_how != old_how:
                wrong.append((profile.name, "body"))
    assert wrong == []
    assert compared > 80_000 and found > 5_000


# ------------------------------------------- decode_page's NUL search, validate's controls


def test_no_control_character_is_seed_format() -> None:
    # text_problem(seed=True) skips the control search: every character it looks for is
    # one the seed format never holds.
    from crawler.extract import _CONTROL_CHAR
    from crawler.normalise import _NOT_SEED_CHAR

    controls = [chr(c) for c in range(0x110000) if _CONTROL_CHAR.match(chr(c))]
    assert len(controls) == 61
    assert [c for c in controls if not _NOT_SEED_CHAR.match(c)] == []


def test_a_nul_in_the_text_is_a_nul_byte_in_the_codecs_that_skip_the_text_search() -> None:
    from crawler.extract import _NUL_FROM_NUL_BYTE

    rng = random.Random(1622)
    samples = list(pagecorpus.page_bytes())
    samples += [p.encode("gb18030") for p in pagecorpus.page_texts()[:20]]
    samples += [bytes(rng.randrange(256) for _ in range(rng.randint(0, 12))) for _ in range(60000)]
    samples += [bytes(rng.choice(b"\x00\x81\x30\xfe\x39\xe4\xb8\xad") for _ in range(rng.randint(1, 8)))
                for _ in range(60000)]  # fmt: skip
    decoded = 0
    for codec in sorted(_NUL_FROM_NUL_BYTE):
        for body in samples:
            try:
                text = body.decode(codec)
            except UnicodeDecodeError:
                continue
            decoded += 1
            assert ("\x00" in text) == (b"\x00" in body), (codec, body[:40])
    assert decoded > 50_000


def _decode_page_before(body: bytes, content_type: str | None = None, *, nul_ok: bool = False) -> tuple[str, str]:
    import codecs

    from crawler.extract import _UTF8_RUN, PageError, declared_encoding, text_problem

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


def test_decode_page_decides_every_page_as_before() -> None:
    from crawler.extract import PageError, decode_page

    def outcome(fn: object, body: bytes, content_type: str | None, nul_ok: bool) -> object:
        try:
            return fn(body, content_type, nul_ok=nul_ok)  # type: ignore[operator]
        except PageError as exc:
            return str(exc)

    rng = random.Random(1623)
    bodies = list(pagecorpus.page_bytes())
    for page in pagecorpus.page_texts()[::4]:
        cut = rng.randrange(len(page))
        bodies += [page[:cut].encode("gb18030", "replace") + b"\x00" + page[cut:].encode("gb18030", "replace"),
                   page.encode("utf-8") + b"\x01", "锟斤拷".join([page[:100], page[100:200]]).encode(),
                   page[:300].encode("utf-8").decode("gb18030", "ignore").encode("utf-8"),
                   page[:500].encode("cp1252", "ignore") + b"\x00\x80"]  # fmt: skip
    bodies += [pagecorpus.random_text(rng, rng.randint(0, 30)).encode(rng.choice(["utf-8", "gb18030"]))
               for _ in range(5000)]  # fmt: skip
    bodies += [bytes(rng.randrange(256) for _ in range(rng.randint(0, 20))) for _ in range(5000)]
    types = [None, "text/html", "text/html; charset=gbk", "text/html; charset=windows-1252",
             "text/html; charset=utf-16", "text/html; charset=iso-8859-5"]  # fmt: skip
    wrong = []
    for body in bodies:
        for content_type in rng.sample(types, 2):
            for nul_ok in (False, True):
                old = outcome(_decode_page_before, body, content_type, nul_ok)
                if outcome(decode_page, body, content_type, nul_ok) != old:
                    wrong.append((body[:40], content_type, nul_ok, old))
    assert wrong == []


def test_validate_pipeline_drops_and_keeps_what_it_did_before() -> None:
    from scrapy.exceptions import DropItem

    from crawler.article import extract_article
    from crawler.extract import PageError, gb_mojibake, text_problem
    from crawler.items import Notice
    from crawler.normalise import is_seed_format
    from crawler.pipelines import NormalisePipeline, ValidatePipeline
    from crawler.sites import get_site

    def validate_before(item: Notice, min_chars: int) -> str:
        text = item.text or ""
        body = text.split("\n", 1)[1] if item.header and "\n" in text else text
        if len(body) < min_chars:
            return f"text too short ({len(body)} characters) at {item.url}"
        problem = text_problem(text) or (
            "mojibake in the text (UTF-8 read as GB18030: mixed encodings)" if gb_mojibake(text) else None
        )
        if problem:
            return f"{problem} at {item.url}"
        if not is_seed_format(text):
            return f"text is not in seed format at {item.url}"
        return "kept"

    def notice(paragraphs: list[str], header: str | None) -> Notice:
        return Notice(site="s", url="http://127.0.0.1/a", title="t", published_at=None, source=None,
                      paragraphs=paragraphs, header=header, raw=b"", encoding="utf-8", status=200,
                      headers={}, fetched_at="", methods={}, province=None)  # fmt: skip

    cases: list[tuple[list[str], str | None]] = []
    profile = get_site("zjsjw")
    for page in pagecorpus.page_texts():
        try:
            article = extract_article(page, "http://127.0.0.1/a", profile)
        except PageError:
            continue
        cases.append((article.paragraphs, article.header))
        cases.append(([*article.paragraphs, "锟斤拷锟斤拷"], article.header))
        cases.append((article.paragraphs[:2], None))
    rng = random.Random(1624)
    for _ in range(20000):
        paragraphs = [pagecorpus.random_text(rng, rng.randint(0, 12)) for _ in range(rng.randint(0, 4))]
        cases.append((paragraphs, rng.choice([None, "2023-06-27 来源", " 2023 \x07来源"])))
    normalise_pipeline = NormalisePipeline()
    outcomes = set()
    for min_chars in (0, 5, 200):
        validate = ValidatePipeline(min_chars)
        for i, (paragraphs, header) in enumerate(cases):
            item = notice(paragraphs, header)
            if i % 3:
                item = normalise_pipeline.process_item(item)
            else:  # a text that did not come from normalise: nothing is taken on trust
                item.text = "\n".join([header, *paragraphs] if header else paragraphs)
            old = validate_before(item, min_chars)
            try:
                validate.process_item(item)
                new = "kept"
            except DropItem as exc:
                new = str(exc)
            assert new == old, (paragraphs, header)
            outcomes.add(old.split(" (")[0].split(" at ")[0])
    assert len(outcomes) >= 4  # kept, too short, mojibake, ... all seen


# ------------------------------------------- detect_block: re's scan only where a match can be


def _detect_block_before(status: int, body: bytes) -> str | None:
    from crawler.extract import _CHALLENGE, BLOCK_STATUSES

    head = body[:65536].decode("utf-8", "ignore")
    m = _CHALLENGE.search(head)
    if status in BLOCK_STATUSES:
        return f"HTTP {status}" + (f" with a challenge page ({m.group(0)})" if m else "")
    if m:
        return f"challenge page ({m.group(0)})"
    return None


# Strings each alternative of _CHALLENGE matches (and near misses), to plant in pages.
CHALLENGES = [
    "captchaPage", "captchapage", "CaptchaPage", "Captchapage", "seccaptcha.haplat.net",
    "comImageValidate", "$_ts=", "$_ts \u3000=", "$_ts\n=", "FSSBBIl1UgzbN7N80S",
    "_$ab=window", "_$Zz \t= \n window", "请开启JavaScript并刷新该页", "安全验证", "访问验证",
    "滑动验证", "captcha Page", "Captcha_page", "seccaptcha-haplat.net", "comimagevalidate",
    "$_t s=", "_$a=window", "_$abc=window", "请开启javascript并刷新该页", "验 证", "安全验", "验证",
    "aptchaPage", "\ufffd验证",
]  # fmt: skip


def test_holds_is_in() -> None:
    from crawler.extract import _holds

    rng = random.Random(1625)
    alphabet = "验证安全a $_中文请开启"
    for _ in range(50000):
        text = pagecorpus.random_text(rng, rng.randint(0, 12), alphabet)
        needle = pagecorpus.random_text(rng, rng.randint(1, 3), alphabet)
        assert _holds(text, needle) == (needle in text), (text, needle)


def test_detect_block_finds_what_the_full_scan_found() -> None:
    from crawler.extract import detect_block

    rng = random.Random(1626)
    bodies = list(pagecorpus.page_bytes())
    from tests.ccdi_server import CHALLENGE_PAGE

    bodies.append(CHALLENGE_PAGE.encode() if isinstance(CHALLENGE_PAGE, str) else CHALLENGE_PAGE)
    pages = list(pagecorpus.page_bytes())
    for _ in range(3000):
        page = rng.choice(pages)
        planted = rng.choice(CHALLENGES).encode(rng.choice(["utf-8", "utf-8", "gb18030"]))
        if rng.random() < 0.3:  # an invalid byte inside the planted string
            cut = rng.randint(0, len(planted))
            planted = planted[:cut] + rng.choice([b"\xff", b"\x80", b"\xe9"]) + planted[cut:]
        at = rng.choice([0, rng.randrange(len(page) + 1), 65536 - rng.randint(0, len(planted) + 2)])
        at = max(0, min(at, len(page)))
        body = page[:at] + planted + page[at:]
        if rng.random() < 0.3:
            body += b" " + rng.choice(CHALLENGES).encode()  # a second one, maybe past 64 KB
        bodies.append(body)
    for _ in range(20000):
        parts = [rng.choice(CHALLENGES) if rng.random() < 0.3 else pagecorpus.random_text(rng, 4)
                 for _ in range(rng.randint(0, 4))]  # fmt: skip
        bodies.append("".join(parts).encode("utf-8", "replace"))
    found = 0
    wrong = []
    for body in bodies:
        for status in (200, rng.choice([403, 412, 429, 404, 500])):
            old = _detect_block_before(status, body)
            found += old is not None and "challenge" in old
            if detect_block(status, body) != old:
                wrong.append((status, body[:60], old))
    assert wrong == []
    assert found > 5000


def test_every_challenge_alternative_has_its_needed_strings() -> None:
    """detect_block skips re's scan unless a page holds every string of one group of
    _CHALLENGE_NEEDS: each alternative of _CHALLENGE must spell out all of one group's
    strings literally, or a pattern added later would never be searched for."""
    from crawler.extract import _CHALLENGE, _CHALLENGE_NEEDS

    alternatives = _CHALLENGE.pattern.split("|")
    assert "(" not in _CHALLENGE.pattern  # top-level alternatives only: a split is exact
    for alternative in alternatives:
        # the alternative's literal runs: what every match holds as written
        literals = re.split(r"\\[sdwSDW]|\[[^\]]*\]|[.*+?{}()^]|\{\d+(?:,\d*)?\}", alternative)
        runs = [re.sub(r"\\(.)", r"\1", run) for run in literals]
        covered = [needs for needs in _CHALLENGE_NEEDS
                   if all(any(s in run for run in runs) for s in needs)]  # fmt: skip
        assert covered, f"{alternative!r}: add a group of its literal strings to _CHALLENGE_NEEDS"
