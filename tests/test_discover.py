"""Discovery: from a site's home page to its 巡视整改 list (pure functions, then real crawls)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.discover import MAX_HOPS, adopt_family, candidate_links, next_step, recognise_family
from crawler.families import query_next_page, recognise
from crawler.sites import parse_site_file
from store.notices import Store
from store.sites import site_state
from tests.conftest import SITES_DIR, xunshi
from tests.sitegen import COLUMN, generate_site, write

HOSTS = ("www.x.gov.cn",)
HOME = "http://www.x.gov.cn/"


def page(title: str, links: list[tuple[str, str]], crumb: str = "") -> str:
    anchors = "".join(f'<li><a href="{href}">{text}</a></li>' for href, text in links)
    crumb_html = f'<div class="crumb">当前位置：{crumb}</div>' if crumb else ""
    return f"<html><head><title>{title}</title></head><body>{crumb_html}<ul>{anchors}</ul></body></html>"  # fmt: skip


NOTICE = ("/a/202501/t20250101_1.html", "中共杭州市西湖区委关于省委巡视整改进展情况的通报")


# ---------------------------------------------------------------------------------------
# Pure functions
# ---------------------------------------------------------------------------------------


def test_candidates_are_menu_links_on_the_site_best_first() -> None:
    html = page("首页", [
        ("/xsxc/", "巡视巡察"), ("/xsxc/xszg/", "巡视整改"), ("/xsxc/xszgzl/", "巡视整改工作专栏"),
        ("http://other.gov.cn/xszg/", "巡视整改"),  # another site
        ("/a/t1.html", "中共某区委关于省委巡视整改进展情况的通报"),  # a headline, not a menu
        ("/", "首页"), ("javascript:void(0)", "巡视整改"), ("/doc/xszg.pdf", "巡视整改"),
        ("http://sub.www.x.gov.cn/xsgz/", "巡视工作"),
    ])  # fmt: skip
    found = candidate_links(html, HOME, HOSTS)
    assert [(c.url, c.kind) for c in found] == [
        ("http://www.x.gov.cn/xsxc/xszg/", "list"),
        ("http://www.x.gov.cn/xsxc/xszgzl/", "list"),
        ("http://www.x.gov.cn/xsxc/", "column"),
        ("http://sub.www.x.gov.cn/xsgz/", "column"),
    ]


def test_a_link_back_to_the_page_is_not_a_candidate() -> None:
    html = page("巡视整改", [("/xsxc/xszg/index.html", "巡视整改"), NOTICE])
    assert candidate_links(html, "http://www.x.gov.cn/xsxc/xszg/", HOSTS) == []


def test_home_page_follows_the_list_link_even_with_headlines() -> None:
    html = page("某省纪委监委网站", [("/xsxc/", "巡视巡察"), ("/xsxc/xszg/", "巡视整改"), NOTICE])
    step = next_step(html, HOME, HOSTS, 0, notice_links=1)
    assert (step.action, step.url) == ("follow", "http://www.x.gov.cn/xsxc/xszg/")


def test_home_page_with_only_a_column_link_follows_it() -> None:
    html = page("某省纪委监委网站", [("/gzdt/", "工作动态"), ("/xsgz/", "巡视工作"), NOTICE])
    assert next_step(html, HOME, HOSTS, 0, 1).url == "http://www.x.gov.cn/xsgz/"


def test_a_page_named_after_the_list_with_notices_is_the_list() -> None:
    html = page("巡视整改_某省纪委监委网站", [("/xsxc/", "巡视巡察"), ("/xsxc/xszgzl/", "巡视整改专栏"), NOTICE])  # fmt: skip
    step = next_step(html, "http://www.x.gov.cn/xsxc/xszg/", HOSTS, 0, 1)
    assert (step.action, step.url) == ("list", "http://www.x.gov.cn/xsxc/xszg/")
    # A column page with notices (zjsjw's 巡视巡察) given as the start is the list too.
    column = page("巡视巡察_某省", [("/gzdt/", "工作动态"), NOTICE], crumb="首页 > 巡视巡察")
    assert next_step(column, "http://www.x.gov.cn/xsxc/", HOSTS, 0, 1).action == "list"


def test_notices_met_through_a_link_are_the_list_and_hops_are_limited() -> None:
    html = page("工作动态", [("/xsgz/", "巡视工作"), NOTICE])
    assert next_step(html, "http://www.x.gov.cn/gzdt/", HOSTS, 1, 2).action == "list"
    empty = page("巡视工作", [("/xsgz/xsdt/", "巡视工作动态")])
    assert next_step(empty, "http://www.x.gov.cn/xsgz/", HOSTS, 1, 0).action == "follow"
    last = next_step(empty, "http://www.x.gov.cn/xsgz/", HOSTS, MAX_HOPS, 0)
    assert (last.action, last.url) == ("none", None) and "2 links" in last.reason
    nothing = next_step(page("首页", [("/gzdt/", "工作动态")]), HOME, HOSTS, 0, 0)
    assert nothing.action == "none" and "巡视整改" in nothing.reason


@pytest.mark.parametrize(
    ("html", "family"),
    [
        ('<script>createPageHTML(5, 0, "index", "html");</script>', "trs"),
        ('<a href="/x/202401/t20240101_123.html">a</a>', "trs"),
        ('<script type="text/xml"><datastore><recordset></recordset></datastore></script>', "hanweb"),  # fmt: skip
        ('<a href="/art/2024/1/2/art_37_123.html">a</a>', "hanweb"),
        ('<a href="/xszg/content/c5d32d1e-ec8d-4502-81bc-688ded8ded0f.html">a</a>', "uuid"),
        ('<a href="/show.asp?id=1">a</a><a href="list.asp?page=2">下一页</a>', "generic"),
    ],
)
def test_recognise_family(html: str, family: str) -> None:
    assert recognise_family(html) == family == recognise(html)[0]


def test_generic_pages_say_how_they_paginate() -> None:
    assert recognise('<a href="list.asp?page=2">2</a>') == ("generic", "?page=N links")
    assert recognise('<a href="list_2.html">下一页</a>') == ("generic", "下一页 links")
    assert recognise("<p>nothing</p>") == ("generic", "no CMS mark")


def test_adopting_a_family_fills_only_what_the_entry_left_open() -> None:
    sites = parse_site_file(
        '[sites.a]\nurl = "http://a.gov.cn/"\n\n[sites.b]\nurl = "http://b.gov.cn/"\nbody = "div.mine"\n'  # fmt: skip
        '\n[sites.c]\nurl = "http://c.gov.cn/"\narticle = "/show"\n'
    )
    a = adopt_family(sites["a"], "trs")
    assert (a.family, a.article_path) == ("trs", r"/t\d{8}_\d+(?:_ext)?\.s?html?$")
    assert "div.TRS_Editor" in a.body and a.list_links
    assert adopt_family(sites["b"], "hanweb").body == ("div.mine",)
    assert adopt_family(sites["c"], "trs") == sites["c"]  # it said what an article is
    assert adopt_family(sites["a"], "generic") == sites["a"]


def test_query_pagination() -> None:
    html = '<a href="list.asp?page=1">1</a><a href="list.asp?page=2&cat=3">2</a><a href="/other.asp?page=2">x</a>'  # fmt: skip
    assert query_next_page(html, "http://a.gov.cn/list.asp?cat=3") == "http://a.gov.cn/list.asp?page=2&cat=3"  # fmt: skip
    html2 = '<a href="news.php?cid=15&page=3">3</a><a href="news.php?cid=15&page=1">1</a>'
    assert query_next_page(html2, "http://a.gov.cn/news.php?cid=15&page=2") == "http://a.gov.cn/news.php?cid=15&page=3"  # fmt: skip
    assert query_next_page(html2, "http://a.gov.cn/news.php?cid=15&page=3") is None


# ---------------------------------------------------------------------------------------
# Crawls of a local site given by its home page
# ---------------------------------------------------------------------------------------


def build_home_site(root: Path) -> list:
    """A TRS-like site whose list is two links from the home page: 首页 -> 巡视工作 -> 巡视整改."""
    notices = generate_site(root, 12, per_page=5, paragraphs=3)
    newest = notices[-1]
    write(root, "/index.html", page("某省纪委监委网站", [
        ("/", "首页"), ("/gzdt/", "工作动态"), ("/xsgz/index.html", "巡视工作"),
        (newest.path, newest.title),  # a headline on the home page
    ]))  # fmt: skip
    write(root, "/xsgz/index.html", page("巡视工作_某省纪委监委网站", [
        ("/", "首页"), ("/xsgz/xsfk/", "巡视反馈"), (COLUMN + "index.shtml", "巡视整改"),
        ("/xsgz/t1.html", "省委巡视工作动员部署会召开"),
    ], crumb="首页 > 巡视工作"))  # fmt: skip
    return notices


def sites_file(tmp_path: Path, base: str) -> Path:
    file = tmp_path / "mine.toml"
    file.write_text(f'[sites.home]\nurl = "{base}/"\nprovince = "浙江省"\n', encoding="utf-8")
    return file


def crawl(file: Path, db: Path) -> dict:
    proc = xunshi("crawl", "--sites", str(file), "--db", str(db), "--json")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_site_given_by_its_home_page_is_found_two_links_away(serve, tmp_path: Path) -> None:
    root = tmp_path / "site"
    notices = build_home_site(root)
    site = serve(root)
    file, db = sites_file(tmp_path, site.base), tmp_path / "x.db"

    first = crawl(file, db)
    assert (first["status"], first["new"]) == ("ok", 12)
    assert site.paths()[:4] == ["/robots.txt", "/", "/xsgz/index.html", COLUMN + "index.shtml"]
    store = Store.open(db)
    try:
        texts = {r["url"].removeprefix(site.base): r["text"] for r in store.export_rows()}
        assert texts == {n.path: n.expected for n in notices}  # every notice once, exact text
        state = site_state(store, "home")
        assert state is not None
        assert (state["list_url"], state["family"], state["found_by"]) == (
            site.url(COLUMN + "index.shtml"), "trs", "discovered")  # fmt: skip
    finally:
        store.close()
    listed = json.loads(xunshi("sites", "--sites", str(file), "--db", str(db), "--format", "json").stdout)  # fmt: skip
    home = next(r for r in listed if r["site"] == "home")
    assert home["list"] == site.url(COLUMN + "index.shtml") + " (found)"
    assert (home["list_url"], home["family"], home["last_run"]["new"]) == (site.url(COLUMN + "index.shtml"), "trs", 12)  # fmt: skip

    # The next crawl starts at the kept list: the home page is not asked again.
    site.log.clear()
    second = crawl(file, db)
    assert (second["status"], second["new"]) == ("ok", 0)
    assert "/" not in site.paths() and site.paths()[1] == COLUMN + "index.shtml"

    # The kept list stops answering; the column now links a new list: found again.
    (root / COLUMN.lstrip("/") / "list.shtml").write_bytes((root / COLUMN.lstrip("/") / "index.shtml").read_bytes())  # fmt: skip
    site.overrides[COLUMN + "index.shtml"] = lambda req: (404, {}, b"<html>404</html>")
    write(root, "/xsgz/index.html", page("巡视工作", [(COLUMN + "list.shtml", "巡视整改")]))
    site.log.clear()
    third = crawl(file, db)
    assert third["status"] == "ok" and third["new"] == 0
    assert "/" in site.paths() and COLUMN + "list.shtml" in site.paths()
    store = Store.open(db)
    try:
        state = site_state(store, "home")
        assert state is not None and state["list_url"] == site.url(COLUMN + "list.shtml")
        assert store.db.table("notices").count == 12
    finally:
        store.close()


def test_a_kept_list_sent_to_the_home_page_is_looked_for_again(serve, tmp_path: Path) -> None:
    root = tmp_path / "site"
    build_home_site(root)
    site = serve(root)
    file, db = sites_file(tmp_path, site.base), tmp_path / "x.db"
    assert crawl(file, db)["new"] == 12
    folder = root / COLUMN.lstrip("/")
    (folder / "list.shtml").write_bytes((folder / "index.shtml").read_bytes())
    site.overrides[COLUMN + "index.shtml"] = lambda req: (302, {"Location": "/"}, b"")
    write(root, "/xsgz/index.html", page("巡视工作", [(COLUMN + "list.shtml", "巡视整改")]))
    again = crawl(file, db)
    assert (again["status"], again["new"], again["failed"]) == ("ok", 0, 0)
    store = Store.open(db)
    try:
        state = site_state(store, "home")
        assert state is not None and state["list_url"] == site.url(COLUMN + "list.shtml")
    finally:
        store.close()


def test_a_site_without_a_list_says_so(serve, tmp_path: Path) -> None:
    root = tmp_path / "site"
    write(root, "/index.html", page("某县纪委监委", [("/gzdt/", "工作动态"), ("/lzwh/", "廉政文化")]))
    site = serve(root)
    db = tmp_path / "x.db"
    result = crawl(sites_file(tmp_path, site.base), db)
    assert result["new"] == 0 and result["failed"] == 1
    events = json.loads(xunshi("events", "--db", str(db), "--format", "json").stdout)
    assert any("no 巡视整改 list found" in (e.get("detail") or {}).get("reason", "") for e in events), events


def test_check_follows_discovery_as_a_crawl_would(serve, tmp_path: Path) -> None:
    root = tmp_path / "site"
    build_home_site(root)
    site = serve(root)
    file = sites_file(tmp_path, site.base)
    proc = xunshi("check", "home", "--sites", str(file), "--json")
    items = json.loads(proc.stdout)[0]["items"]
    steps = [i for i in items if i["check"] == "discovery"]
    assert [s["url"] for s in steps] == [
        site.url("/xsgz/index.html"), site.url(COLUMN + "index.shtml"), site.url(COLUMN + "index.shtml")]  # fmt: skip
    assert next(i for i in items if i["check"] == "family")["family"] == "trs"
    links = next(i for i in items if i["check"] == "list links")
    assert links["status"] == "ok" and "5 notices" in links["detail"]
    assert next(i for i in items if i["check"] == "body")["method"] == "profile"  # the TRS selectors
    # A site where no list can be found fails the check, saying why.
    write(root, "/index.html", page("某县纪委监委", [("/gzdt/", "工作动态")]))
    proc = xunshi("check", "home", "--sites", str(file), check=False)
    assert proc.returncode == 1 and "no 巡视整改 list found" in proc.stdout


# ---------------------------------------------------------------------------------------
# A legacy county site: the query is the document, ?page=N pagination, no CMS family
# ---------------------------------------------------------------------------------------


class LegacySite:
    """``/list.asp?cid=3&page=N`` and ``/show.asp?id=N`` served by one handler, as ASP sites do."""

    PER_PAGE = 3

    def __init__(self, n: int) -> None:
        from tests.sitegen import UNITS, notice_lines, seed_body

        body = seed_body()
        self.notices: dict[int, tuple[str, str, list[str]]] = {}
        for i in range(n):
            unit = UNITS[i % len(UNITS)]
            title = f"中共{unit}委关于县委巡视整改进展情况的通报"
            published = f"2024-05-{i + 1:02d} 10:{i:02d}"
            self.notices[101 + i] = (title, published, notice_lines(i, unit, body, 2))
        self.paths: list[str] = []

    def expected(self, i: int) -> str:
        title, published, lines = self.notices[i]
        return "\n".join([f"{published} 某县纪委", *lines])

    def page(self, path: str, query: dict[str, str]) -> str | None:
        ids = sorted(self.notices, reverse=True)
        if path == "/":
            return page("某县纪委监委", [("/", "首页"), ("/list.asp?cid=9", "工作动态"), ("/list.asp?cid=3", "巡视巡察")])  # fmt: skip
        if path == "/list.asp" and query.get("cid") == "3":
            number = int(query.get("page", "1"))
            chunk = ids[(number - 1) * self.PER_PAGE : number * self.PER_PAGE]
            links = [(f"show.asp?id={i}&from=list", self.notices[i][0]) for i in chunk]
            links.append(("show.asp?id=5", "县委理论学习中心组召开专题学习会"))
            pages = -(-len(ids) // self.PER_PAGE)
            links += [(f"list.asp?cid=3&page={p}", str(p)) for p in range(1, pages + 1)]
            return page("巡视巡察_某县纪委监委", links, crumb="首页 > 巡视巡察")
        if path == "/show.asp" and query.get("id", "").isdigit() and int(query["id"]) in self.notices:  # fmt: skip
            title, published, lines = self.notices[int(query["id"])]
            paras = "".join(f"<p>{line}</p>" for line in lines)
            return (f"<html><head><title>{title}</title></head><body><div class='art'><h1>{title}</h1>"
                    f"<div class='info'>发布时间：{published} 来源：某县纪委</div>"
                    f"<div class='content'>{paras}</div></div></body></html>")  # fmt: skip
        return None


def test_a_legacy_site_keyed_by_query_with_query_pagination(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qsl, urlsplit

    legacy = LegacySite(7)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            legacy.paths.append(self.path)
            parts = urlsplit(self.path)
            html = legacy.page(parts.path, dict(parse_qsl(parts.query)))
            body = (html or "<html>404</html>").encode("utf-8")
            self.send_response(200 if html else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        db = tmp_path / "x.db"
        result = crawl(sites_file(tmp_path, base), db)
        assert (result["status"], result["new"]) == ("ok", 7)
        assert "/list.asp?cid=3&page=3" in legacy.paths  # the ?page=N pager was walked
        assert not any(p.startswith("/show.asp?id=5") for p in legacy.paths)  # not a notice
        store = Store.open(db)
        try:
            rows = {r["key"]: r["text"] for r in store.db.query(
                "select n.key, v.text from notices n join versions v on v.notice_id = n.id")}  # fmt: skip
            host = base.removeprefix("http://")
            assert rows == {f"{host}/show.asp?id={i}": legacy.expected(i) for i in legacy.notices}
        finally:
            store.close()
    finally:
        server.shutdown()
        server.server_close()


def test_kept_state_is_read_without_creating_or_writing(tmp_path: Path) -> None:
    from store.sites import load_site_state, save_list

    db = tmp_path / "x.db"
    assert load_site_state(db, "home") is None and not db.exists()
    store = Store.open(db)
    save_list(store, "home", "http://a.gov.cn/xszg/", "trs", "discovered")
    store.close()
    db.chmod(0o444)
    try:
        state = load_site_state(db, "home")
        assert state is not None and (state["list_url"], state["family"]) == ("http://a.gov.cn/xszg/", "trs")  # fmt: skip
        assert load_site_state(db, "other") is None
    finally:
        db.chmod(0o644)


def test_hostile_hrefs_are_no_candidates_and_no_pager() -> None:
    html = ('<a href="http://[::1x/xszg/">巡视整改</a><a href="http://www.x.gov.cn:99999/xsxc/">巡视巡察</a>'
            '<a href="http://[zz/list.asp?page=2">2</a><a href="list.asp?page=2">2</a>')  # fmt: skip
    assert candidate_links(html, HOME, HOSTS) == []
    assert query_next_page(html, "http://www.x.gov.cn/list.asp") == "http://www.x.gov.cn/list.asp?page=2"  # fmt: skip


def test_a_column_titled_xunshi_zhenggai_is_the_list_even_without_visible_notices() -> None:
    # A Hanweb column (recorded jssjw): its notices sit in a <datastore> / jpage proxy, its
    # first page shows no notice link, and its own menu's 巡视巡察 entry points elsewhere.
    # Reached from the home page, it is the list; the search does not wander off.
    page = (SITES_DIR / "jssjw" / "col" / "col37" / "index.html").read_text(encoding="utf-8")
    url = "http://www.jssjw.gov.cn/col/col37/index.html"
    step = next_step(page, url, ("www.jssjw.gov.cn",), hops=1, notice_links=0)
    assert (step.action, step.url) == ("list", url)
    # From the home page itself (hops 0) a title is not enough: follow the column.
    assert next_step(page, url, ("www.jssjw.gov.cn",), hops=0, notice_links=0).action == "follow"
