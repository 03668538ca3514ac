"""A broad corpus of pages and texts for tests that compare a faster function with the one
it replaced (a copy kept in the test as the reference): real CCDI pages, every HTML
fixture under tests/, the benchmark's generated pages, and random text full of odd white
space, invisible characters, full-width forms and control characters."""

from __future__ import annotations

import functools
import random
import sys
from pathlib import Path

from tests.conftest import ROOT, SEEDS, SHARED

CCDI = SHARED / "fixtures" / "ccdi"
HTML_SUFFIXES = (".html", ".htm", ".shtml")

# What pages and pasted text hold: ASCII, CJK and its punctuation, full-width forms, every
# kind of white space, invisible characters, controls, combining marks, compatibility forms.
ODD_ALPHABET = (
    "ab Z09 .,:%$_<>&;=\"'中文巡视整改。，：；（）％！？、“”《》\u3000\u00a0\t\n\r\x0b\x0c"
    "\x1c\x1f\x85\u1680\u2000\u2007\u200a\u200b\u200d\u200f\u2028\u2029\u202f\u205f\u2060"
    "\ufeff\u00ad\x00\x07\x7f\x9fe\u0301\u0300ﬁ①…Å\u212b\uff21\uff10\u30ab\u3099\uff76\uff9e"
    "浏览次数点击阅读量访问查看人次【】[]()"
)


@functools.cache
def html_files() -> tuple[Path, ...]:
    """The CCDI fixtures and every HTML file under tests/."""
    ccdi = sorted(p for p in CCDI.iterdir() if p.suffix in HTML_SUFFIXES)
    ours = sorted(p for p in (ROOT / "tests").rglob("*") if p.suffix in HTML_SUFFIXES)
    return (*ccdi, *ours)


@functools.cache
def bench_pages() -> tuple[bytes, ...]:
    """bench/_common.py's article pages, in its three paddings, some at odd sizes."""
    bench = str(ROOT / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    import _common as common  # noqa: PLC0415 (bench/ is no package)

    days = common.spread_dates(40)
    pages = [common.article_page(i, days[i])[1] for i in range(40)]
    pages += [common.article_page(i, days[i], pad="comment")[1] for i in range(0, 40, 7)]
    pages += [common.article_page(i, days[i], pad="none")[1] for i in range(0, 40, 9)]
    pages += [common.article_page(i, days[i], size=65_536 + i)[1] for i in range(3)]
    return tuple(p.encode("utf-8") for p in pages)


@functools.cache
def page_bytes() -> tuple[bytes, ...]:
    """Every page of the corpus as the server sends it."""
    return (*(p.read_bytes() for p in html_files()), *bench_pages())


@functools.cache
def page_texts() -> tuple[str, ...]:
    """Every page of the corpus decoded (as decode_page would, or with replacement)."""
    from crawler.extract import PageError, decode_page

    texts = []
    for body in page_bytes():
        try:
            texts.append(decode_page(body)[0])
        except PageError:
            texts.append(body.decode("utf-8", "replace"))
    return tuple(texts)


def seed_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]


def random_text(rng: random.Random, length: int, alphabet: str = ODD_ALPHABET) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def random_html(rng: random.Random) -> str:
    """A small page of random markup: blocks, inline elements, cells, breaks, skipped and
    hidden elements, furniture classes, comments, and odd text everywhere."""
    tags = ["p", "div", "span", "font", "td", "th", "tr", "table", "br", "a", "b", "li",
            "ul", "h1", "script", "style", "img", "section", "strong", "em", "center"]  # fmt: skip
    attrs = ["", ' class="share"', ' class="content"', ' id="zoom"', ' style="display:none"',
             ' style="visibility: hidden"', ' class="TRS_Editor"', ' class="x print-y"',
             ' id="related_list"', ' style="color:red"', ' class=""']  # fmt: skip
    out = ["<html><body>"]
    depth: list[str] = []
    for _ in range(rng.randint(1, 40)):
        roll = rng.random()
        if roll < 0.35:
            tag = rng.choice(tags)
            out.append(f"<{tag}{rng.choice(attrs)}>")
            if tag not in ("br", "img"):
                depth.append(tag)
        elif roll < 0.55 and depth:
            out.append(f"</{depth.pop()}>")
        elif roll < 0.6:
            out.append(f"<!-- {random_text(rng, 5, 'ab 中')} -->")
        else:
            text = random_text(rng, rng.randint(0, 12)).replace("&", "&amp;").replace("<", "&lt;")
            out.append(text.replace("\x00", ""))
    out += [f"</{t}>" for t in reversed(depth)]
    out.append("</body></html>")
    return "".join(out)


@functools.cache
def ccdi_notice_texts() -> tuple[tuple[str | None, str, str | None], ...]:
    """(title, seed-format text, publish date) of each real CCDI page that extracts."""
    from crawler.article import extract_article
    from crawler.extract import PageError
    from crawler.normalise import normalise
    from crawler.sites import get_site

    profile = get_site("ccdi")
    out = []
    for page in sorted((SHARED / "fixtures" / "ccdi").glob("t*.html")):
        try:
            art = extract_article(page.read_text(encoding="utf-8"), "https://www.ccdi.gov.cn/x/", profile)
        except PageError:
            continue
        published = art.published_at.date().isoformat() if art.published_at else None
        out.append((art.title, normalise(art.paragraphs, header=art.header), published))
    return tuple(out)
