"""CCDI: the 25 real pages extract cleanly; the recorded-style site crawls through its cookies, pages and challenges."""

from __future__ import annotations

import html
import json
import re
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import pytest
from lxml import html as lhtml
from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.http import HtmlResponse
from scrapy.settings import Settings
from scrapy.spiderloader import SpiderLoader
from scrapy.utils.test import get_crawler

from crawler import settings as project_settings
from crawler.article import extract_article
from crawler.extract import classify_title, decode_page, parse_datetime
from crawler.listpage import find_column_link, parse_list, trs_article_pages
from crawler.middlewares import JsCookieMiddleware, js_cookies, parse_cookie_string
from crawler.normalise import normalise
from crawler.run import run_crawl
from crawler.sites import SITES, get_site
from crawler.spiders.ccdi import CcdiSpider
from store.notices import Store
from tests.ccdi_server import CHALLENGE_PAGE, install_ccdi_guard
from tests.conftest import SHARED, SITES_DIR, xunshi

PROFILE = get_site("ccdi")
BASE = PROFILE.base_url

# ---------------------------------------------------------------------------------------
# The 25 real pages: what the page shows is computed here with lxml and regular
# expressions, independently of crawler.extract, crawler.article and crawler.htmltext.
# ---------------------------------------------------------------------------------------

FIXTURES = SHARED / "fixtures" / "ccdi"
PAGES = sorted(FIXTURES.glob("t*.html"))
COLUMNS = {"头条": "toutiaon", "要闻": "yaowenn", "评论": "pln"}
_BLOCKS = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
           "section", "blockquote", "center"}  # fmt: skip
# Page furniture around the article: navigation, breadcrumb, share widget (QR code),
# pager, magazine table of contents and cover, 往期回顾, footer.
_FURNITURE = (
    "//header | //nav | //footer | //*[contains(@class,'other_Location')]"
    " | //*[contains(@class,'share')] | //*[contains(@class,'page_con')]"
    " | //*[contains(@class,'wqhb')] | //*[contains(@class,'bqml3')]"
    " | //*[contains(@class,'mag_cover3')]"
)


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = re.sub("[\u200b-\u200f\ufeff]", "", text)
    return re.sub(r"\s+", " ", text).strip()


def real_url(page: Path, raw: str) -> str:
    column = re.search(r'<meta name="ColumnName" content="([^"]*)"', raw)
    if column is None:
        # The one magazine (中国纪检监察杂志) page: its own contents list links it here.
        return f"http://zgjjjc.ccdi.gov.cn/bqml/bqxx/{page.name[1:7]}/{page.name}"
    return f"{BASE}/{COLUMNS[column.group(1)]}/{page.name[1:7]}/{page.name}"


def shown_title(raw: str) -> str:
    """The visible heading (h2.tit; div.tit on the magazine page), its lines joined by a space."""
    m = re.search(r'<h2 class="tit">(.*?)</h2>', raw, re.S) or re.search(
        r'<div class="tit">(.*?)</div>', raw, re.S
    )
    assert m is not None
    lines = re.sub(r"</p>|<br\s*/?>", "\n", m.group(1)).split("\n")
    return " ".join(filter(None, (_clean(html.unescape(re.sub(r"<[^>]+>", "", x))) for x in lines)))


def shown_time_and_source(raw: str) -> tuple[str | None, str | None]:
    when = re.search(r"发布时间：\s*(\d{4}-\d{2}-\d{2} \d{2}:\d{2})", raw)
    source = re.search(r"来源：([^<]+)</em>", raw)
    return (when.group(1) if when else None), (source.group(1).strip() if source else None)


def body_lines(raw: str) -> list[str]:
    """Lines of the article's div.content (the one with most text: the magazine has two)."""
    doc = lhtml.document_fromstring(raw)
    for bad in doc.xpath("//script | //style"):
        bad.drop_tree()
    contents = doc.xpath("//div[contains(concat(' ', normalize-space(@class), ' '), ' content ')]")
    content = max(contents, key=lambda el: len(el.text_content()))
    for el in content.iter():
        if el.tag in _BLOCKS:
            el.text, el.tail = "\n" + (el.text or ""), "\n" + (el.tail or "")
    return [x for x in (_clean(s) for s in content.text_content().split("\n")) if x]


def furniture_lines(raw: str) -> set[str]:
    doc = lhtml.document_fromstring(raw)
    for bad in doc.xpath("//script | //style"):
        bad.drop_tree()
    lines: set[str] = set()
    for el in doc.xpath(_FURNITURE):
        for sub in el.iter():
            if sub.tag in _BLOCKS:
                sub.tail = "\n" + (sub.tail or "")
        lines.update(x for x in (_clean(s) for s in el.text_content().split("\n")) if len(x) > 1)
    return lines


def test_the_fixtures_are_all_there() -> None:
    assert len(PAGES) == 25


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_real_page_extracts_cleanly(page: Path) -> None:
    raw_bytes = page.read_bytes()
    raw = raw_bytes.decode("utf-8")
    text, encoding = decode_page(raw_bytes)
    assert encoding == "utf-8"
    article = extract_article(text, real_url(page, raw), PROFILE)

    assert article.title == shown_title(raw)
    when, source = shown_time_and_source(raw)
    if when is None:
        assert article.published_at is None
    else:
        assert article.published_at is not None and article.published_has_time
        assert article.published_at.strftime("%Y-%m-%d %H:%M") == when
    assert article.source == source

    lines = normalise(article.paragraphs, header=article.header).split("\n")
    header = [f"{when} {source}"] if when and source else []
    assert lines == header + body_lines(raw)
    assert not set(lines) & furniture_lines(raw)
    joined = "\n".join(lines)
    for marker in ("data:image", "base64", "扫一扫", "分享至朋友圈", "返回首页", "当前位置"):
        assert marker not in joined
    assert article.methods["body"] == "profile"
    assert classify_title(article.title) == "no"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_fallback_finds_the_same_text_when_the_selectors_stop_matching(page: Path) -> None:
    text, _ = decode_page(page.read_bytes())
    url = real_url(page, text)
    before = extract_article(text, url, PROFILE)
    # A template change: the body container is renamed; no profile or generic selector fits.
    after = extract_article(
        text.replace('class="content"', 'class="wz_article_2025"'), url, PROFILE
    )
    assert before.methods["body"] == "profile" and after.methods["body"] == "fallback"
    assert after.paragraphs == before.paragraphs
    assert after.header == before.header


def test_pubdate_meta_with_two_spaces_has_the_month_for_minutes() -> None:
    """Why the shown 发布时间 wins: a 'YYYY-MM-DD  HH:MM ' PubDate carries the month as minutes."""
    buggy = 0
    for page in PAGES:
        raw = page.read_text(encoding="utf-8")
        m = re.search(r'name="PubDate" content="\d{4}-(\d{2})-\d{2}  \d{2}:(\d{2}) "', raw)
        if m:
            buggy += 1
            assert m.group(2) == m.group(1)
            when, _ = shown_time_and_source(raw)
            article = extract_article(raw, real_url(page, raw), PROFILE)
            assert article.published_at is not None
            assert article.published_at.strftime("%Y-%m-%d %H:%M") == when
    assert buggy == 7
    # The trailing space of a well-formed PubDate is harmless.
    parsed = parse_datetime("2023-09-20 18:00 ")
    assert parsed is not None and parsed[0].strftime("%H:%M") == "18:00"


# ---------------------------------------------------------------------------------------
# The recorded-style site (tools/build_ccdi_site.py)
# ---------------------------------------------------------------------------------------

SITE = json.loads((SITES_DIR / "ccdi" / "expected" / "site.json").read_text(encoding="utf-8"))
QINGHAI = next(p for p in SITE["notices"] if "330102" in p)
TWO_PAGES = next(p for p, info in SITE["notices"].items() if len(info["pages"]) == 2)


def site_page(path: str) -> str:
    return (SITES_DIR / "ccdi" / path.lstrip("/")).read_text(encoding="utf-8")


def expected(path: str) -> str:
    return (SITES_DIR / SITE["notices"][path]["expected"]).read_text(encoding="utf-8")


def test_the_column_is_found_by_its_link_text() -> None:
    hub = site_page("/xsxcn/index.html")
    for url in (f"{BASE}/xsxcn/", f"{BASE}/xsxcn/index.html"):
        # The hub also shows a headline holding 巡视整改: an article, not the column.
        assert find_column_link(hub, url, "巡视整改", PROFILE) == BASE + SITE["column"]
    column = site_page(SITE["column"] + "index.html")
    for url in (BASE + SITE["column"], BASE + SITE["column"] + "index.html"):
        assert find_column_link(column, url, "巡视整改", PROFILE) is None


def test_list_pages_of_both_templates() -> None:
    first, second = SITE["list_pages"]
    page1 = parse_list(site_page(first), BASE + first, PROFILE)
    page2 = parse_list(site_page(second), BASE + second, PROFILE)
    assert page1.page_count == 2 and page1.next_pages == [BASE + second]
    assert page2.next_pages == []
    verdicts = {link.url: link.verdict for link in page1.links + page2.links}
    for path in SITE["non_notices"]:
        assert verdicts[BASE + path] == "no"
    for path in SITE["notices"]:
        twin = BASE + path.replace(".html", "_m.html")
        assert verdicts.get(BASE + path, verdicts.get(twin)) == "notice"
    assert all(link.date for link in page1.links + page2.links)


def test_mobile_twins_are_one_list_item_under_the_desktop_url() -> None:
    items = "".join(
        f'<li><a href="./202401/t20240115_330001{s}.html">中共甘肃省委关于二十届中央第一轮巡视整改进展情况的通报</a></li>'
        for s in ("_m", "", "_m")
    )
    page = parse_list(f'<ul class="list_news_dl2">{items}</ul>', BASE + SITE["column"], PROFILE)
    assert [link.url for link in page.links] == [
        BASE + SITE["column"] + "202401/t20240115_330001.html"
    ]


@pytest.mark.parametrize("path", list(SITE["notices"]), ids=lambda p: p.rsplit("/", 1)[-1])
def test_site_notice_extracts_to_its_expected_text(path: str) -> None:
    info = SITE["notices"][path]
    paragraphs: list[str] = []
    for n, page_path in enumerate(info["pages"]):
        text = site_page(page_path)
        article = extract_article(text, BASE + page_path, PROFILE)
        if n == 0:
            first = article
        more = [BASE + p for p in info["pages"][n + 1 :]]
        assert trs_article_pages(text, BASE + page_path) == more
        paragraphs += article.paragraphs
    assert first.title == info["title"] and classify_title(first.title) == "notice"
    assert first.source == info["source"]
    assert first.published_at is not None
    assert first.published_at.strftime("%Y-%m-%d %H:%M") == info["published"]
    assert normalise(paragraphs, header=first.header) == expected(path)


# ---------------------------------------------------------------------------------------
# The cookie middleware
# ---------------------------------------------------------------------------------------


def test_js_cookies_are_read_from_inline_scripts() -> None:
    page = (
        '<script>document.cookie="ccdi_vt=5f2c; path=/";'
        "document.cookie = 'HOY_TR=ABC,123; expires=Fri, 31 Dec 2027 23:59:59 GMT';"
        'var old = document.cookie; document.cookie="HOY_TR=DEF,456";</script>'
    )
    assert js_cookies(page) == {"ccdi_vt": "5f2c", "HOY_TR": "DEF,456"}
    assert js_cookies("<p>document.cookie is read here</p>") == {}
    assert parse_cookie_string(" a=1; b = x=y ;junk; =z") == {"a": "1", "b": "x=y"}


def _middleware(profile_name: str, **settings: object) -> JsCookieMiddleware:
    crawler = get_crawler(settings_dict={"XUNSHI_JS_COOKIES": True, **settings})
    profile = get_site(profile_name)
    crawler.spider = SimpleNamespace(profile=profile, allowed_domains=list(profile.allowed_domains))
    return JsCookieMiddleware.from_crawler(crawler)


def _page(url: str, body: bytes) -> HtmlResponse:
    return HtmlResponse(url, body=body, headers={"Content-Type": "text/html; charset=utf-8"})


def test_middleware_resends_the_newest_page_cookies_to_the_same_host() -> None:
    mw = _middleware("ccdi")
    first = b'<script>document.cookie="ccdi_vt=1; path=/";document.cookie="HOY_TR=A";</script>'
    mw.process_response(Request(BASE + "/xsxcn/"), _page(BASE + "/xsxcn/", first))
    mw.process_response(Request(BASE + "/a.html"), _page(BASE + "/a.html", b'<script>document.cookie="HOY_TR=B";</script>'))  # fmt: skip
    request = Request(BASE + "/xsxcn/xszgn/202401/t20240115_330001.html", headers={"Cookie": "jar=1; HOY_TR=old"})  # fmt: skip
    mw.process_request(request)
    assert parse_cookie_string(request.headers["Cookie"].decode()) == {
        "jar": "1", "HOY_TR": "B", "ccdi_vt": "1"
    }  # fmt: skip
    elsewhere = Request("https://other.example/t20240115_330001.html")
    mw.process_request(elsewhere)
    assert b"Cookie" not in elsewhere.headers


def test_middleware_does_not_harvest_challenge_pages_or_other_sites() -> None:
    mw = _middleware("ccdi")
    challenge = CHALLENGE_PAGE.replace(
        b"</head>", b'<script>document.cookie="pass=1";</script></head>'
    )
    mw.process_response(Request(BASE + "/x.html"), _page(BASE + "/x.html", challenge))
    assert mw.jar == {}
    other = _middleware("zjsjw")
    url = "http://www.zjsjw.gov.cn/index.shtml"
    other.process_response(Request(url), _page(url, b'<script>document.cookie="a=1";</script>'))
    request = Request(url)
    other.process_request(request)
    assert other.jar == {} and b"Cookie" not in request.headers


def test_user_cookie_goes_to_the_site_only_and_is_never_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sess-7f3a9c2b1e"
    monkeypatch.setenv("XUNSHI_CCDI_COOKIE", f"ccdi_session={secret}; lang=zh")
    caplog.set_level("DEBUG")
    mw = _middleware("ccdi")
    mine, theirs = Request(BASE + "/xsxcn/"), Request("https://evil.example/steal")
    mw.process_request(mine)
    mw.process_request(theirs)
    assert f"ccdi_session={secret}" in mine.headers["Cookie"].decode()
    assert b"Cookie" not in theirs.headers
    zj = _middleware("zjsjw")
    other = Request("http://www.zjsjw.gov.cn/")
    zj.process_request(other)
    assert b"Cookie" not in other.headers
    assert "XUNSHI_CCDI_COOKIE" in caplog.text and secret not in caplog.text


def test_middleware_can_be_switched_off() -> None:
    with pytest.raises(NotConfigured):
        _middleware("ccdi", XUNSHI_JS_COOKIES=False)


# ---------------------------------------------------------------------------------------
# The spider
# ---------------------------------------------------------------------------------------


def test_ccdi_has_its_own_spider_that_is_polite_on_the_real_site() -> None:
    settings = Settings()
    settings.setmodule(project_settings, priority="project")
    loader = SpiderLoader.from_settings(settings)
    assert loader.load("ccdi") is CcdiSpider
    assert sorted(loader.list()) == sorted(SITES)  # one spider per site, none twice
    CcdiSpider.update_settings(settings)
    assert settings.getint("CONCURRENT_REQUESTS") == 1
    assert settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") == 1
    assert (
        settings.getfloat("DOWNLOAD_DELAY") >= 3 and settings.getfloat("DOWNLOAD_DELAY_JITTER") > 0
    )
    assert settings.getbool("XUNSHI_JS_COOKIES")
    assert PROFILE.js_cookies and PROFILE.cookie_env == "XUNSHI_CCDI_COOKIE"


# ---------------------------------------------------------------------------------------
# Crawls of the site behind the guard (tests/ccdi_server.py), through the real CLI
# ---------------------------------------------------------------------------------------


@pytest.fixture
def guarded(serve):  # type: ignore[no-untyped-def]
    site = serve("ccdi")
    return site, install_ccdi_guard(site)


def _crawl(site, db: Path, *extra: str, start: str | None = None):  # type: ignore[no-untyped-def]
    """A crawl through the real `xunshi` command line."""
    url = site.url(start or SITE["start"])
    return xunshi("crawl", "ccdi", "--db", str(db), "--start-url", url, *extra)


def _run(site, db: Path, start: str | None = None, **kwargs):  # type: ignore[no-untyped-def]
    """A crawl through crawler.run (the `scrapy crawl` process without the CLI around it)."""
    return run_crawl("ccdi", db_path=db, start_url=site.url(start or SITE["start"]), **kwargs)


def _exported(site, db: Path) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    store = Store.open(db)
    try:
        return {row["url"].split(site.base, 1)[1]: row for row in store.export_rows()}
    finally:
        store.close()


def test_crawl_stores_the_notices_through_cookies_pages_and_twins(guarded, tmp_path: Path) -> None:
    site, guard = guarded
    db = tmp_path / "x.db"
    proc = _crawl(site, db)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "3 new" in proc.stdout, proc.stdout
    assert guard.rejected == []  # every article request carried the page's cookies
    rows = _exported(site, db)
    assert set(rows) == set(SITE["notices"])
    for path, info in SITE["notices"].items():
        assert rows[path]["text"] == expected(path), path
        assert rows[path]["title"] == info["title"]
        assert rows[path]["published_at"].startswith(info["published"].replace(" ", "T"))
    paths = site.paths()
    assert TWO_PAGES.replace(".html", "_1.html") in paths
    assert not any(p.endswith("_m.html") for p in paths)  # the twin's desktop page was fetched
    assert not any(p in paths for p in SITE["non_notices"])
    assert paths.index("/xsxcn/index.html") < paths.index(SITE["column"])

    again = _run(site, db, full=True)
    assert again.counts["new"] == again.counts["changed"] == 0
    assert again.counts["unchanged"] == 3 and guard.rejected == []


def test_crawl_can_start_at_the_column_page_itself(guarded, tmp_path: Path) -> None:
    site, _ = guarded
    assert _run(site, tmp_path / "x.db", start=SITE["column"]).counts["new"] == 3
    assert "/xsxcn/index.html" not in site.paths()


def test_challenge_pages_are_blocked_events_and_never_half_a_notice(
    guarded, tmp_path: Path
) -> None:
    site, guard = guarded
    second = SITE["notices"][TWO_PAGES]["pages"][1]
    guard.challenge.update({QINGHAI, second})  # an article, and page 2 of another
    db = tmp_path / "x.db"
    result = _run(site, db)
    assert (result.counts["new"], result.counts["blocked"]) == (1, 2)
    assert set(_exported(site, db)) == set(SITE["notices"]) - {QINGHAI, TWO_PAGES}
    store = Store.open(db)
    blocked = store.events(kind="blocked")
    store.close()
    assert sorted(e["url"] for e in blocked) == sorted([site.url(QINGHAI), site.url(second)])
    assert all("challenge" in e["detail"]["reason"] for e in blocked)
    assert "is incomplete without" in result.log_path.read_text(encoding="utf-8")


def test_without_the_cookie_middleware_the_articles_are_refused(guarded, tmp_path: Path) -> None:
    site, guard = guarded
    result = _run(site, tmp_path / "x.db", settings={"XUNSHI_JS_COOKIES": "False"})
    assert result.counts["new"] == 0 and result.counts["blocked"] == 3
    assert sorted(guard.rejected) == sorted(SITE["notices"])


def test_crawl_sends_the_user_cookie_and_never_writes_it(
    guarded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, guard = guarded
    secret = "sess-7f3a9c2b1e"
    monkeypatch.setenv("XUNSHI_CCDI_COOKIE", f"ccdi_session={secret}")
    db = tmp_path / "x.db"
    # The local copy gets the user's cookie only because it is named a cookie host; without
    # that, no host but CCDI's ever does (tests/faults/test_hostile_site.py).
    result = _run(site, db, settings={"XUNSHI_COOKIE_HOSTS": "127.0.0.1"})
    assert result.counts["new"] == 3 and guard.rejected == []
    pages = [r for r in site.log if r.path.endswith((".html", "/"))]
    assert pages and all(f"ccdi_session={secret}" in r.headers.get("cookie", "") for r in pages)
    # Not in the crawl log, the report or the database.
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert secret.encode() not in file.read_bytes(), file
