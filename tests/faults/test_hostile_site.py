"""Hostile input from a site (issue 17, items 1-8 and 18): each case fails before its fix.

The pure functions are tested directly; what a crawl does with each case is tested by
crawling a generated site served on 127.0.0.1 (tests/faults/server.py), once, and
asserting what is stored, counted and reported. docs/reliability.md lists the cases.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from crawler.article import extract_article, strip_counters
from crawler.extract import TITLE_MAX, PageError, decode_page, text_problem
from crawler.htmltext import element_lines, parse_html
from crawler.listpage import URL_LENGTH_LIMIT, BadLink, find_column_link, parse_list, resolve_link
from crawler.middlewares import REDACTED, stored_headers
from crawler.sites import get_site
from store.compress import raw_of
from store.notices import Store
from tests.conftest import xunshi
from tests.faults import server as fs
from tests.sitegen import _TO_PAGE, COLUMN, SOURCE, article_html, generate_site, list_html

ZJSJW = get_site("zjsjw")
LIST_URL = "http://127.0.0.1:8000" + COLUMN + "index.shtml"
TITLE = "中共杭州市委关于省委巡视整改进展情况的通报"
LINES = [
    "根据省委统一部署,省委第三巡视组对杭州市开展了常规巡视,并反馈了巡视意见。",
    "在巡视整改工作中,对沈某堃、王镕等人给予党纪处分3人次。",
    "中共杭州市委",
]

# One of each family of links that cannot be followed, all article-shaped: they used to
# raise in parse_list (or be sent to Scrapy and fail there) and end the page's walk.
BAD_LINKS = {
    "object-object": "http://[object Object]/",
    "fullwidth-port": "http://127.0.0.1:８０/gongzuodongtai/xunshixuncha/202401/t20240101_1_ext.html",
    "port-too-big": "http://127.0.0.1:99999/gongzuodongtai/xunshixuncha/202401/t20240101_2_ext.html",
    "port-letters": "http://127.0.0.1:8o/gongzuodongtai/xunshixuncha/202401/t20240101_3_ext.html",
    "ipv6-unclosed": "http://[::1/gongzuodongtai/xunshixuncha/202401/t20240101_4_ext.html",
    "ipv6-bogus": "http://[zz::1]/gongzuodongtai/xunshixuncha/202401/t20240101_5_ext.html",
    "vbscript": "vbscript:/gongzuodongtai/xunshixuncha/202401/t20240101_6_ext.html",
    "tel": "tel:/gongzuodongtai/xunshixuncha/202401/t20240101_7_ext.html",
    "JavaScript-caps": "JavaScript:/gongzuodongtai/xunshixuncha/202401/t20240101_8_ext.html",
    "javascript-call": "javascript:openArticle('/gongzuodongtai/xunshixuncha/202401/t20240101_17_ext.html');",
    "data": "data:text/html,/gongzuodongtai/xunshixuncha/202401/t20240101_9_ext.html",
    "ftp": "ftp://127.0.0.1/gongzuodongtai/xunshixuncha/202401/t20240101_10_ext.html",
    "space-in-host": "http://exa mple.com/gongzuodongtai/xunshixuncha/202401/t20240101_11_ext.html",
    "ideographic-space-host": "http://\u3000/gongzuodongtai/xunshixuncha/202401/t20240101_12_ext.html",
    "empty-label-host": "http://a..b/gongzuodongtai/xunshixuncha/202401/t20240101_13_ext.html",
    "port-zero": "http://127.0.0.1:0/gongzuodongtai/xunshixuncha/202401/t20240101_14_ext.html",
    "too-long": "/gongzuodongtai/xunshixuncha/202401/t20240101_16_ext.html?" + "q" * 100_000,
}
# Links that lead to no page: skipped silently, as before (every page has some).
HARMLESS = ["javascript:void(0)", "JAVASCRIPT:window.print()", "#top", "mailto:a@b.cn", "", "  "]


def good(n: int) -> str:
    return f"./202401/t20240101_{500 + n}_ext.html"


def listing(hrefs: list[str]) -> str:
    return list_html([(h, f"{TITLE}({i})", "2024-01-01") for i, h in enumerate(hrefs)], 0, 1)


@contextmanager
def cap(seconds: int) -> Iterator[None]:
    """A hang guard, not a timing assertion: the test fails instead of running for minutes."""

    def expired(*_: object) -> None:
        raise TimeoutError(f"did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# -- 1, 2: one bad link never stops a page ------------------------------------------------


@pytest.mark.parametrize("name", list(BAD_LINKS))
def test_a_bad_link_is_skipped_and_listed_and_the_page_goes_on(name: str) -> None:
    page = parse_list(listing([good(1), BAD_LINKS[name], good(2)]), LIST_URL, ZJSJW)
    assert [link.url.rsplit("/", 1)[1] for link in page.links] == [
        "t20240101_501_ext.html",
        "t20240101_502_ext.html",
    ]
    [skipped] = page.skipped
    assert skipped.reason and len(skipped.href) < 300  # a 100 KB link is not repeated whole


@pytest.mark.parametrize("href", HARMLESS)
def test_links_to_no_page_are_not_counted(href: str) -> None:
    page = parse_list(listing([good(1), href]), LIST_URL, ZJSJW)
    assert len(page.links) == 1 and page.skipped == []


def test_off_pattern_non_web_links_are_not_counted() -> None:
    page = parse_list(listing([good(1), "tel:0571-8888", "vbscript:msgbox(1)"]), LIST_URL, ZJSJW)
    assert len(page.links) == 1 and page.skipped == []


def test_resolve_link_names_the_reason() -> None:
    base = "http://127.0.0.1:8000/a/index.html"
    assert resolve_link(base, " ../b/t1.html#x ") == "http://127.0.0.1:8000/b/t1.html"
    assert resolve_link(base, "/巡视/t1.html") == "http://127.0.0.1:8000/巡视/t1.html"
    assert resolve_link(base, "http://中纪委.中国/t1.html") == "http://中纪委.中国/t1.html"
    assert resolve_link(base, "/a\n/t1.html") == "http://127.0.0.1:8000/a/t1.html"
    for href, words in [
        ("http://[object Object]/", "malformed"),
        ("http://h:８０/", "malformed"),
        ("http://h:99999/", "malformed"),
        ("vbscript:x", "not a web link"),
        ("http://a b/", "bad host"),
        ("/x\x00", r"U\+0000"),
        ("/" + "字" * 300, "over the limit of 2,083"),  # 300 characters, 2,700 once encoded
    ]:
        with pytest.raises(BadLink, match=words):
            resolve_link(base, href)


def test_the_url_length_limit_is_scrapys() -> None:
    from scrapy.settings.default_settings import URLLENGTH_LIMIT

    assert URL_LENGTH_LIMIT == URLLENGTH_LIMIT
    long = good(1) + "?" + "q" * 2100
    assert parse_list(listing([long]), LIST_URL, ZJSJW, max_url_length=None).skipped == []
    assert "over the limit" in parse_list(listing([long]), LIST_URL, ZJSJW).skipped[0].reason


def test_a_bad_next_page_link_is_skipped_and_listed() -> None:
    text = (
        listing([good(1)])
        .replace(
            "</body>",
            '<a href="http://[object Object]/">下一页</a><a href="index_1.shtml">下一页</a></body>',
        )
        .replace('createPageHTML(1, 0, "index", "shtml");', "")
    )
    page = parse_list(text, LIST_URL, ZJSJW)
    assert page.next_pages == [LIST_URL.replace("index.shtml", "index_1.shtml")]
    assert [s.reason.split(":")[0] for s in page.skipped] == ["next-page link"]


def test_the_column_finder_survives_bad_links() -> None:
    ccdi = get_site("ccdi")
    text = (
        '<html><body><a href="http://[object Object]/">巡视整改</a>'
        '<a href="http://h:８０/x/">巡视整改</a><a href="/xsxcn/xszgn/">巡视整改</a></body></html>'
    )
    found = find_column_link(text, "https://www.ccdi.gov.cn/xsxcn/", "巡视整改", ccdi)
    assert found == "https://www.ccdi.gov.cn/xsxcn/xszgn/"


# -- 3: a list page costs O(n) ------------------------------------------------------------


@pytest.mark.parametrize("wrap", ["div", "li-all", "bare"])
def test_twenty_thousand_links_outside_li_are_read_in_linear_time(wrap: str) -> None:
    n = 20_000
    items = [f'<a href="./202401/t20240101_{i}_ext.html">{TITLE}({i})</a> <span>2024-01-{i % 28 + 1:02d}</span>'
             for i in range(n)]  # fmt: skip
    if wrap == "div":
        body = "".join(f"<div>{x}</div>" for x in items)
    elif wrap == "li-all":  # one <li> holding every link: each link's row is the same
        body = "<ul><li>" + "".join(items) + "</li></ul>"
    else:
        body = "".join(items)
    # 4,000 such links took 37 s before (O(n²)): 20,000 would take over 14 minutes.
    with cap(120):
        page = parse_list(f"<html><body>{body}</body></html>", LIST_URL, ZJSJW)
    assert len(page.links) == n
    if wrap == "div":
        assert [link.date for link in page.links[:3]] == ["2024-01-01", "2024-01-02", "2024-01-03"]


# -- 4: deep nesting is parsed whole or refused -------------------------------------------


def nested(depth: int, tag: str = "span") -> str:
    return (
        f"<html><head><title>{TITLE}</title></head><body><h1>{TITLE}</h1><div class='TRS_Editor'>"
        f"<p>{LINES[0]}</p>" + f"<{tag}>" * depth + LINES[1] + f"</{tag}>" * depth
        + f"<p>{LINES[2]}</p></div></body></html>"
    )  # fmt: skip


@pytest.mark.parametrize("depth", [300, 1500])
def test_deep_nesting_keeps_every_line(depth: int) -> None:
    article = extract_article(nested(depth), "http://127.0.0.1/t1.html", ZJSJW)
    assert article.paragraphs == LINES


def test_deep_block_nesting_is_walked_without_recursion() -> None:
    doc = parse_html(nested(1900, "div"))
    assert LINES[1] in element_lines(doc)


def test_nesting_past_the_parsers_limit_is_refused_not_cut() -> None:
    with pytest.raises(PageError, match="cannot be parsed whole.*Excessive depth"):
        extract_article(nested(3000), "http://127.0.0.1/t1.html", ZJSJW)
    deep_list = listing([good(1)]).replace("<ul", "<div>" * 3000 + "<ul")
    with pytest.raises(PageError, match="cannot be parsed whole"):
        parse_list(deep_list, LIST_URL, ZJSJW)


# -- 5: huge fields are capped at extraction ----------------------------------------------


def test_a_huge_title_and_source_are_capped_and_say_so() -> None:
    huge = "巡视整改" * 250_000  # 1 M characters
    text = article_html(huge, "2024-01-02 10:00", LINES).replace(SOURCE, "来" * 100_000)
    article = extract_article(text, "http://127.0.0.1/t1.html", ZJSJW)
    assert article.title is not None and len(article.title) == TITLE_MAX
    assert article.title.endswith("…") and article.title.startswith("巡视整改")
    assert article.source is not None and len(article.source) <= 200
    assert article.capped == ["title", "source"]
    assert article.paragraphs[-3:] == LINES  # the body is never cut
    page = parse_list(listing([good(1)]).replace(f"{TITLE}(0)", huge), LIST_URL, ZJSJW)
    assert len(page.links[0].title) == TITLE_MAX


# -- 6: hit counters are not part of the notice --------------------------------------------


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("浏览次数：1234", ""),
        ("【浏览次数：1234次】", ""),
        ("发布时间：2024-01-02 来源：省纪委 点击数: 56", "发布时间:2024-01-02 来源:省纪委"),
        ("阅读量：7,890 【打印】", "【打印】"),
        ("访问量:12 人", "人"),
        ("给予党纪处分3人次。", "给予党纪处分3人次。"),
        ("阅读了3份文件", "阅读了3份文件"),
        ("浏览次数：", "浏览次数:"),
    ],
)
def test_hit_counters_are_cut_from_lines(line: str, kept: str) -> None:
    from crawler.normalise import clean_line

    assert strip_counters(clean_line(line)) == kept


def test_an_article_whose_counter_moved_extracts_the_same() -> None:
    def with_counter(n: int) -> str:
        body = [*LINES[:2], f"浏览次数：{n}", LINES[2] + f" 【点击数：{n * 3}】"]
        return article_html(TITLE, "2024-01-02 10:00", body)

    first = extract_article(with_counter(17), "http://127.0.0.1/t1.html", ZJSJW)
    second = extract_article(with_counter(18), "http://127.0.0.1/t1.html", ZJSJW)
    assert first.paragraphs == second.paragraphs == LINES


# -- 8: control characters are named -------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "words"),
    [("\x00", "a NUL byte (U+0000)"), ("\x1b", "a control character (U+001B)"),
     ("\x7f", "a DEL character (U+007F)"), ("\x85", "a control character (U+0085)")],
)  # fmt: skip
def test_control_characters_are_refused_by_name(char: str, words: str) -> None:
    body = article_html(TITLE, "2024-02-01 09:00", [LINES[0] + char + LINES[1]]).encode()
    with pytest.raises(PageError) as caught:
        text, _ = decode_page(body, "text/html; charset=utf-8")
        extract_article(text, "http://127.0.0.1/t1.html", ZJSJW)
    assert words in str(caught.value) and "FFFD" not in str(caught.value)
    assert text_problem("正文\t\n\r\x0c正文") is None  # white space is not a control character


@pytest.mark.parametrize("char", ["\x01", "\x1b", "\x7f"])
def test_a_control_character_outside_the_article_text_is_no_reason_to_refuse(char: str) -> None:
    page = article_html(TITLE, "2024-02-01 09:00", LINES).replace(
        "</head>", f"<script>var k = '{char}';</script></head>"
    )
    text, _ = decode_page(page.encode(), "text/html; charset=utf-8")
    assert extract_article(text, "http://127.0.0.1/t1.html", ZJSJW).paragraphs[-3:] == LINES


def test_a_list_page_with_a_nul_is_still_read() -> None:
    body = listing([good(1), good(2)]).replace("</body>", "<!-- \x00\x1b --></body>").encode()
    with pytest.raises(PageError, match="NUL"):
        decode_page(body, "text/html; charset=utf-8")
    text, _ = decode_page(body, "text/html; charset=utf-8", nul_ok=True)
    assert len(parse_list(text, LIST_URL, ZJSJW).links) == 2


# -- 18: the cookie secret is written nowhere ----------------------------------------------


def test_stored_headers_keep_no_cookie_values_and_no_secret() -> None:
    secret = "sess-7f3a9c2b1e"
    headers = {
        "set-cookie": f"ccdi_session={secret}; Path=/; HttpOnly, HOY_TR=ABC; Expires=Fri, 31 Dec 2027 23:59:59 GMT",
        "x-echo": f"you sent ccdi_session={secret}",
        "content-type": "text/html",
    }
    stored = stored_headers(headers, [secret])
    assert secret not in json.dumps(stored)
    assert stored["set-cookie"] == f"ccdi_session={REDACTED}, HOY_TR={REDACTED}"
    assert stored["x-echo"] == f"you sent ccdi_session={REDACTED}"
    assert stored["content-type"] == "text/html"


# ---------------------------------------------------------------------------------------
# What a crawl does with each case: one generated site, a baseline crawl, then hostile pages
# ---------------------------------------------------------------------------------------

SETTINGS = ["XUNSHI_RETRY_BACKOFF=0.05", "RETRY_TIMES=0"]


def new_path(n: int) -> str:
    return f"{COLUMN}202402/t20240201_{700 + n}_ext.html"


HOSTILE_PAGES = {
    "deep-300": new_path(1),
    "deep-3000": new_path(2),
    "huge-h1": new_path(3),
    "nul": new_path(4),
    "304-unasked": new_path(5),
    "bad-location": new_path(6),
    "page-two": new_path(7),
}


@dataclass
class Crawled:
    server: fs.FaultServer
    store: Store
    run: dict[str, Any]
    log: str
    output: str
    stored: list[str]  # paths stored by the baseline crawl
    broken: dict[str, Any]  # the run of a crawl whose list shows only bad links
    broken_events: list[dict[str, Any]]

    def events(self, path: str) -> list[dict[str, Any]]:
        url = self.server.base + path
        return [e for e in self.store.events(run_id=self.run["run_id"]) if e["url"] == url]

    def notice(self, path: str) -> dict[str, Any] | None:
        return self.store.find_notice(self.server.base + path)


def crawl(server: fs.FaultServer, db: Path, *extra: str) -> tuple[dict[str, Any], str, str]:
    proc = xunshi(
        "crawl", "zjsjw", "--db", str(db), "--start-url", server.base + COLUMN + "index.shtml",
        "--json", *[a for s in SETTINGS for a in ("--set", s)], *extra,
    )  # fmt: skip
    run = json.loads(proc.stdout.strip().splitlines()[-1])
    return run, Path(run["log"]).read_text(encoding="utf-8"), proc.stdout + proc.stderr


def with_counter(body: str, hits: list[int]) -> fs.Behaviour:
    """The page with a hit counter that goes up on every fetch."""

    def behave(handler: Any) -> None:
        hits[0] += 1
        shown = body.replace("</p>\n</div>", f"</p><p>浏览次数：{hits[0]}</p>\n</div>", 1)
        fs.send(handler, 200, shown.encode(), {"Content-Type": "text/html; charset=utf-8"})

    return behave


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    tmp = tmp_path_factory.mktemp("hostile")
    root = tmp / "site"
    today = date.today()
    notices = generate_site(
        root, 3, paragraphs=2, dates=[today - timedelta(days=5 - i) for i in range(3)]
    )
    server = fs.FaultServer(root)
    counter_page = notices[0]
    body = (root / counter_page.path.lstrip("/")).read_text(encoding="utf-8")
    server.faults[counter_page.path] = with_counter(body, [0])
    db = tmp / "x.db"
    crawl(server, db)

    def article(title: str, lines: list[str]) -> str:
        return article_html(title, "2024-02-01 09:00", lines)

    shown = LINES[1].translate(_TO_PAGE)  # as the page shows it (full-width commas)
    deep = article(TITLE + "(深)", LINES).replace(shown, "<span>" * 300 + shown + "</span>" * 300)
    deeper = article(TITLE + "(更深)", LINES).replace(
        shown, "<span>" * 3000 + shown + "</span>" * 3000
    )
    assert deep.count("<span>") >= 300 and deeper.count("<span>") >= 3000
    huge = article("巡视整改情况的通报" * 40_000, LINES)  # a 1 MB <h1>, <title> and meta
    nul = article(TITLE + "(NUL)", [LINES[0] + "\x00" + LINES[1], LINES[2]])
    for name, text in [("deep-300", deep), ("deep-3000", deeper), ("huge-h1", huge), ("nul", nul),
                       ("page-two", article(TITLE + "(第二页)", LINES))]:  # fmt: skip
        server.faults[HOSTILE_PAGES[name]] = fs.content(text.encode(), "text/html; charset=utf-8")
    server.faults[HOSTILE_PAGES["304-unasked"]] = fs.status(304, b"")
    server.faults[HOSTILE_PAGES["bad-location"]] = fs.redirect("http://[object Object]/")

    def rel(path: str) -> str:
        return "." + path[len(COLUMN) - 1 :]

    hrefs: list[str] = []
    firsts = [rel(n.path) for n in reversed(notices)] + [
        rel(HOSTILE_PAGES[k]) for k in HOSTILE_PAGES if k != "page-two"
    ]
    bad = list(BAD_LINKS.values())
    for i, href in enumerate(firsts):  # a bad link before and after every good one
        hrefs += [bad[i % len(bad)], href]
    hrefs += bad[len(firsts) :]
    assert set(bad) <= set(hrefs)
    page_one = list_html([(h, f"{TITLE}({i})", "2024-02-01") for i, h in enumerate(hrefs)], 0, 2)
    (root / COLUMN.lstrip("/") / "index.shtml").write_text(page_one, encoding="utf-8")
    page_two = list_html([(rel(HOSTILE_PAGES["page-two"]), TITLE, "2024-02-01")], 1, 2)
    (root / COLUMN.lstrip("/") / "index_1.shtml").write_text(page_two, encoding="utf-8")

    server.log.clear()
    run, log, output = crawl(server, db)

    # The same site, its list now showing nothing but bad links.
    broken_list = list_html([(h, f"{TITLE}({i})", "2024-02-01") for i, h in enumerate(bad)], 0, 1)
    (root / COLUMN.lstrip("/") / "index.shtml").write_text(broken_list, encoding="utf-8")
    broken, _, _ = crawl(server, db)
    store = Store.open(db)
    yield Crawled(
        server, store, run, log, output, [n.path for n in notices], broken,
        store.events(run_id=broken["run_id"]),
    )  # fmt: skip
    store.close()
    server.close()


def test_the_hostile_crawl_ran_and_printed_no_traceback(crawled: Crawled) -> None:
    assert crawled.run["status"] == "ok", crawled.output
    assert "Traceback" not in crawled.output and "Traceback" not in crawled.log


def test_bad_links_never_stop_the_walk(crawled: Crawled) -> None:
    # Every good link of page one, around the bad ones, and page two were followed.
    for path in [*crawled.stored, *HOSTILE_PAGES.values()]:
        assert path in crawled.server.log, path
    assert crawled.notice(HOSTILE_PAGES["page-two"]) is not None


def test_every_skipped_link_is_counted_and_logged(crawled: Crawled) -> None:
    assert crawled.run["skipped"] == len(BAD_LINKS)
    row = crawled.store.run(crawled.run["run_id"])
    assert row is not None and row["skipped"] == len(BAD_LINKS)
    assert crawled.log.count("skipped a link on") == len(BAD_LINKS)
    for reason in ("malformed URL", "not a web link", "bad host name", "over the limit of 2,083"):
        assert reason in crawled.log


def test_the_run_report_and_summary_show_the_skipped_count(crawled: Crawled) -> None:
    from crawler.run import CrawlResult, summary_line
    from store import report

    data = report.collect(crawled.store, run_id=crawled.run["run_id"])
    assert data["per_site"]["zjsjw"]["skipped"] == len(BAD_LINKS)
    label = report.COLUMN_LABELS["skipped"]
    assert f"| {label} |" in report.to_markdown(data)
    counts = {k: v for k, v in crawled.run.items() if isinstance(v, int) and k != "run_id"}
    result = CrawlResult("zjsjw", crawled.run["run_id"], "ok", 0, Path("x.log"), counts)
    assert f"{len(BAD_LINKS)} skipped" in summary_line(result)


def test_a_list_that_shows_only_bad_links_is_site_broken(crawled: Crawled) -> None:
    assert crawled.broken["status"] == "ok" and crawled.broken["skipped"] == len(BAD_LINKS)
    assert [e["kind"] for e in crawled.broken_events] == ["site_broken"]


def test_a_redirect_to_a_bad_location_is_a_failed_fetch(crawled: Crawled) -> None:
    [event] = crawled.events(HOSTILE_PAGES["bad-location"])
    assert event["kind"] == "fetch_failed" and "bad Location" in event["detail"]["reason"]


def test_deep_nesting_is_stored_whole(crawled: Crawled) -> None:
    row = crawled.notice(HOSTILE_PAGES["deep-300"])
    assert row is not None
    assert crawled.store.latest_version(row["id"])["text"].split("\n")[1:] == LINES


def test_nesting_too_deep_to_parse_is_refused_not_stored_cut(crawled: Crawled) -> None:
    assert crawled.notice(HOSTILE_PAGES["deep-3000"]) is None
    [event] = crawled.events(HOSTILE_PAGES["deep-3000"])
    assert event["kind"] == "parse_failed" and "cannot be parsed whole" in event["detail"]["reason"]


def test_a_huge_title_is_stored_capped(crawled: Crawled) -> None:
    row = crawled.notice(HOSTILE_PAGES["huge-h1"])
    assert row is not None, crawled.events(HOSTILE_PAGES["huge-h1"])
    assert row is not None and len(row["title"]) == TITLE_MAX
    assert len(crawled.store.latest_version(row["id"])["title"]) == TITLE_MAX
    assert "the title is too long: stored cut short" in crawled.log


def test_a_hit_counter_makes_no_new_version(crawled: Crawled) -> None:
    path = crawled.stored[0]
    assert crawled.server.count(path) >= 1  # fetched again, its counter went up
    row = crawled.notice(path)
    assert row is not None and row["version_count"] == 1
    assert "浏览次数" not in crawled.store.latest_version(row["id"])["text"]


def test_a_304_to_a_plain_request_is_a_failed_fetch(crawled: Crawled) -> None:
    assert crawled.notice(HOSTILE_PAGES["304-unasked"]) is None
    [event] = crawled.events(HOSTILE_PAGES["304-unasked"])
    assert event["kind"] == "fetch_failed" and "not conditional" in event["detail"]["reason"]
    assert crawled.run["not_modified"] == 0


def test_a_nul_byte_is_refused_by_name(crawled: Crawled) -> None:
    assert crawled.notice(HOSTILE_PAGES["nul"]) is None
    [event] = crawled.events(HOSTILE_PAGES["nul"])
    assert event["kind"] == "parse_failed"
    assert "a NUL byte (U+0000)" in event["detail"]["reason"]
    assert "FFFD" not in event["detail"]["reason"]


# ---------------------------------------------------------------------------------------
# 18: the CCDI cookie secret goes to CCDI's hosts only and is written nowhere
# ---------------------------------------------------------------------------------------

SECRET = "sess-9d41c07e5a"


def secret_env(**extra: str) -> dict[str, str]:
    return {"XUNSHI_CCDI_COOKIE": f"ccdi_session={SECRET}; lang=zh", **extra}


def assert_written_nowhere(folder: Path) -> None:
    for file in folder.rglob("*"):
        if file.is_file():
            assert SECRET.encode() not in file.read_bytes(), file


def test_a_start_url_host_never_gets_the_cookie(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.ccdi_server import install_ccdi_guard
    from tests.test_ccdi import SITE

    site = serve("ccdi")
    guard = install_ccdi_guard(site)
    db = tmp_path / "x.db"
    proc = xunshi(
        "crawl", "ccdi", "--db", str(db), "--start-url", site.url(SITE["start"]), env=secret_env()
    )
    assert "3 new" in proc.stdout and guard.rejected == []  # the page cookies still work
    assert site.log and all(SECRET not in r.headers.get("cookie", "") for r in site.log)
    log = next((tmp_path / "logs").glob("run-*.log")).read_text(encoding="utf-8")
    assert "not sending $XUNSHI_CCDI_COOKIE to 127.0.0.1: not one of ccdi's hosts" in log
    assert_written_nowhere(tmp_path)


def test_an_echo_of_the_secret_is_not_stored(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.ccdi_server import install_ccdi_guard
    from tests.test_ccdi import SITE

    site = serve("ccdi")
    install_ccdi_guard(site)

    def echoing(answer: Any) -> Any:
        def wrapped(request: Any) -> Any:
            result = answer(request)
            if result is None:
                return None
            status, headers, body = result
            echo = f"ccdi_session={SECRET}; Path=/; HttpOnly"
            body = body.replace(b"</body>", f"<!-- session {SECRET} --></body>".encode())
            return status, {**headers, "Set-Cookie": echo, "X-Debug-Cookie": SECRET}, body

        return wrapped

    site.overrides = {path: echoing(answer) for path, answer in site.overrides.items()}
    db = tmp_path / "x.db"
    env = secret_env(XUNSHI_COOKIE_HOSTS="127.0.0.1")  # the local copy is named: it gets the cookie
    proc = xunshi("crawl", "ccdi", "--db", str(db), "--start-url", site.url(SITE["start"]), env=env)
    assert "3 new" in proc.stdout, proc.stdout + proc.stderr
    assert any(SECRET in r.headers.get("cookie", "") for r in site.log)
    store = Store.open(db)
    versions = list(store.db.table("versions").rows)
    pages = [raw_of(store.db, v) or b"" for v in versions]  # stored compressed: look inside
    store.close()
    headers = [json.loads(v["headers"]) for v in versions]
    assert headers and all(h["set-cookie"] == f"ccdi_session={REDACTED}" for h in headers)
    for raw in pages:
        assert SECRET.encode() not in raw and f"session {REDACTED}".encode() in raw
    assert_written_nowhere(tmp_path)


class _Recorder(ThreadingHTTPServer):
    seen: list[dict[str, str]]


def _server(host: str, answer: Any) -> _Recorder:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            self.server.seen.append({k.lower(): v for k, v in self.headers.items()})  # type: ignore[attr-defined]
            status, headers, body = answer(self)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = _Recorder((host, 0), Handler)
    server.seen = []
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_record_carries_no_cookie_across_a_redirect_and_writes_none(tmp_path: Path) -> None:
    page = article_html(TITLE, "2024-02-01 09:00", LINES).encode()
    echo = {
        "Set-Cookie": f"ccdi_session={SECRET}; Path=/",
        "Content-Type": "text/html; charset=utf-8",
    }
    other = _server(
        "127.0.0.2", lambda h: (200, echo, page)
    )  # another host: loopback, not 127.0.0.1
    there = f"http://127.0.0.2:{other.server_address[1]}/xsxcn/t20240201_1.html"
    first = _server("127.0.0.1", lambda h: (302, {**echo, "Location": there}, b""))
    try:
        url = f"http://127.0.0.1:{first.server_address[1]}/xsxcn/t20240201_1.html"
        out = tmp_path / "copy"
        proc = xunshi("record", url, "--site", "ccdi", "-o", str(out),
                      env=secret_env(XUNSHI_COOKIE_HOSTS="127.0.0.1"))  # fmt: skip
    finally:
        first.shutdown()
        other.shutdown()
    assert "saved" in proc.stdout
    assert SECRET in first.seen[0].get("cookie", "")  # the named host got it
    assert other.seen and all(SECRET not in h.get("cookie", "") for h in other.seen)
    [headers_file] = out.rglob("*.headers.json")
    assert json.loads(headers_file.read_text(encoding="utf-8"))["final_url"] == there
    assert_written_nowhere(tmp_path)
    # Without naming the host, a local URL gets no cookie at all.
    plain = _server("127.0.0.1", lambda h: (200, echo, page))
    try:
        xunshi("record", f"http://127.0.0.1:{plain.server_address[1]}/xsxcn/t20240201_2.html",
               "--site", "ccdi", "-o", str(out), env=secret_env())  # fmt: skip
    finally:
        plain.shutdown()
    assert plain.seen and "cookie" not in plain.seen[0]
    assert_written_nowhere(tmp_path)


def test_the_seeds_hold_no_counter_to_cut() -> None:
    from tests.conftest import SEEDS

    for seed in sorted(SEEDS.glob("*.txt")):
        for line in seed.read_text(encoding="utf-8").split("\n"):
            assert strip_counters(line) == line, (seed.name, line)


def test_mixed_encodings_are_named_and_never_stored_as_mojibake() -> None:
    from crawler.extract import gb_mojibake

    page = article_html(TITLE, "2024-02-01 09:00", LINES)
    utf8_with_gbk = page.encode().replace(TITLE.encode(), TITLE.encode("gb18030"), 1)
    with pytest.raises(PageError, match="mixed encodings"):
        decode_page(utf8_with_gbk, "text/html; charset=utf-8")
    # A short UTF-8 line in a GBK page decodes "cleanly" as GB18030: the text tells.
    pasted = "拱墅区委把巡视整改作为重"
    misread = pasted.encode().decode("gb18030")
    assert gb_mojibake(misread) and not gb_mojibake(pasted) and not gb_mojibake("abc")
    for line in LINES:
        assert not gb_mojibake(line)


def test_check_lists_skipped_links_and_refuses_a_list_too_deep_to_read(
    serve, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from tests.conftest import SITES_DIR
    from tests.test_cli_sites import run_check
    from tests.test_sites_golden import MANIFEST

    root = tmp_path / "copy"
    shutil.copytree(SITES_DIR / "zjsjw", root)
    start = MANIFEST["zjsjw"]["start"]
    page = root / start.lstrip("/")
    original = page.read_text(encoding="utf-8")
    bad = '<li><a href="http://[object Object]/">x</a></li><li><a href="http://h:８０/a/t20240101_1_ext.html">y</a></li>'
    first_item = '<li><a href="./202506/t20250609_23500131_ext.html"'
    assert first_item in original
    page.write_text(original.replace(first_item, bad + first_item), encoding="utf-8")
    site = serve(root)
    _, (report,) = run_check("zjsjw", "--start-url", site.url(start))
    skipped = [i for i in report["items"] if i["detail"].startswith("skipped a link")]
    assert [i["status"] for i in skipped] == ["warn", "warn"]
    page.write_text(original.replace("</body>", "<!-- \x00 --></body>", 1), encoding="utf-8")
    _, (report,) = run_check("zjsjw", "--start-url", site.url(start))
    assert not [i for i in report["items"] if i["status"] == "fail"]  # as a crawl reads it
    page.write_text(original.replace("<body>", "<body>" + "<div>" * 3000, 1), encoding="utf-8")
    result, (report,) = run_check("zjsjw", "--start-url", site.url(start))
    failed = [i for i in report["items"] if i["status"] == "fail"]
    assert result.exit_code == 1 and "cannot be parsed whole" in failed[0]["detail"]


def test_deep_nesting_without_a_body_selector_is_read_in_linear_time() -> None:
    # No selector matches: the density fallback scores every element. It used to walk
    # every element's ancestors and join every span's text again: 1,900 nested <span>s
    # cost 15 s, and eight such chains would take minutes.
    chains = "".join(
        "<span>" * 1900 + f"第{i}段,巡视整改落实情况。" + "</span>" * 1900 for i in range(8)
    )
    page = (
        f"<html><body><h1>{TITLE}</h1><div class='x'><p>{LINES[0]}</p>{chains}"
        f"<p>{LINES[2]}</p></div></body></html>"
    )
    with cap(60):
        article = extract_article(page, "http://127.0.0.1/t1.html", ZJSJW)
    assert article.methods["body"] == "fallback"
    assert article.paragraphs[0] == LINES[0] and article.paragraphs[-1] == LINES[2]
    assert all(f"第{i}段" in "".join(article.paragraphs) for i in range(8))
