"""Bad days on a site never corrupt or lose what is stored, and the user is told what happened.

One baseline crawl stores 10 notices; then every page of the site misbehaves in its own way
(docs/reliability.md lists the cases) and a second crawl runs. Each case below asserts what
is stored afterwards, the event the user sees, and that no traceback was printed.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from store.notices import Store
from tests.conftest import xunshi
from tests.faults import server as fs
from tests.sitegen import COLUMN, article_html, generate_site, list_html

SOURCE = "浙江省纪委省监委网站"
GBK_LINES = [
    "根据省委统一部署,省委第三巡视组对嘉兴市开展了常规巡视,并反馈了巡视意见。",
    "在巡视整改工作中,对沈某堃、王镕等人给予党纪处分3人次。",
    "中共嘉兴市委",
]
TRANSPORT = [
    "500",
    "502",
    "503",
    "reset",
    "truncated",
    "stall",
    "redirect-loop",
    "redirect-offsite",
]
SETTINGS = ["DOWNLOAD_TIMEOUT=1", "XUNSHI_RETRY_BACKOFF=0.05", "RETRY_TIMES=2"]


def page(
    title: str, lines: list[str], shown_date: str | None, charset: str | None = "utf-8"
) -> str:
    meta = (
        f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">'
        if charset
        else ""
    )
    info = f"<span>发布时间：{shown_date}</span>" if shown_date else ""
    paras = "".join(f"<p>　　{x}</p>" for x in lines)
    return (
        f"<html><head>{meta}<title>{title}</title></head><body><div class='article'><h1>{title}</h1>"
        f"<div class='info'>{info}<span>来源：{SOURCE}</span></div><div class='TRS_Editor'>{paras}</div></div></body></html>"
    )


@dataclass
class World:
    server: fs.FaultServer
    db: Path
    baseline: dict[str, str]  # path -> text after the first crawl
    ids: dict[str, int]
    output: str
    log: str
    run: dict[str, Any]
    store: Store

    def events(self, path: str) -> list[dict[str, Any]]:
        url = self.server.base + path
        return [e for e in self.store.events(run_id=self.run["run_id"]) if e["url"] == url]

    def notice(self, path: str) -> dict[str, Any] | None:
        return self.store.find_notice(self.server.base + path)


NEW: dict[str, tuple[str, bytes, dict[str, str]]] = {}


def new_page(name: str, title: str, body: bytes, content_type: str = "text/html") -> str:
    path = f"{COLUMN}202401/t20240101_{900000 + len(NEW)}_ext.html"
    NEW[name] = (path, body, {"Content-Type": content_type})
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("faults")
    root = tmp / "site"
    today = date.today()
    notices = generate_site(
        root, 10, paragraphs=2, dates=[today - timedelta(days=30 - i) for i in range(10)]
    )
    server = fs.FaultServer(root)
    db = tmp / "x.db"
    start = server.base + COLUMN + "index.shtml"
    xunshi("crawl", "zjsjw", "--db", str(db), "--start-url", start)
    store = Store.open(db)
    baseline = {n.path: store.find_notice(server.base + n.path) for n in notices}
    texts = {p: store.latest_version(row["id"])["text"] for p, row in baseline.items()}
    ids = {p: row["id"] for p, row in baseline.items()}
    store.close()

    # -- transport faults on stored notices ----------------------------------------------
    known = {name: notices[i].path for i, name in enumerate(TRANSPORT)}
    for code in ("500", "502", "503"):
        server.faults[known[code]] = fs.status(int(code))
    server.faults[known["reset"]] = fs.reset
    server.faults[known["truncated"]] = fs.truncated
    server.faults[known["stall"]] = fs.stall(3)
    server.faults[known["redirect-loop"]] = fs.redirect(known["redirect-loop"] + "?again")
    server.faults[known["redirect-offsite"]] = fs.redirect("http://127.0.0.2:9/elsewhere.html")

    # -- new pages with encoding, challenge and content faults ---------------------------
    NEW.clear()
    title = "中共嘉兴市委关于省委巡视整改情况的通报"
    gbk = page(title, GBK_LINES, "2024-01-02 10:00", charset="gb2312").encode("gb18030")
    new_page("gbk-declared-gb2312", title, gbk, "text/html; charset=gb2312")
    new_page("gbk-meta-only", title, gbk, "text/html")
    new_page("gbk-says-utf8", title, page(title, GBK_LINES, "2024-01-02 10:00", charset="utf-8").encode("gb18030"),
             "text/html; charset=utf-8")  # fmt: skip
    new_page(
        "gbk-undeclared",
        title,
        page(title, GBK_LINES, "2024-01-02 10:00", charset=None).encode("gb18030"),
    )
    new_page(
        "undecodable",
        title,
        page(title, GBK_LINES, None).encode("gb18030")[:-40] + b"\xff\xfe\x80\xff" * 10,
    )
    new_page(
        "412-js-cookie",
        title,
        b"<html><script>var $_ts=window['$_ts'];document.cookie='FSSBBIl1UgzbN7N80S=x'</script></html>",
    )
    new_page(
        "200-captcha",
        title,
        b"<html><body><div id='captchaPage'><script src='https://seccaptcha.haplat.net/c.js'></script></div></body></html>",
    )
    new_page("403", title, b"<html>Forbidden</html>")
    new_page("420", title, b"<html>Enhance your calm</html>")
    new_page("empty-200", title, b"")
    new_page(
        "title-no-body",
        title,
        f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>".encode(),
    )
    big = page(title, GBK_LINES, "2024-01-02 10:00").replace(
        "</body>", "<!--" + "x" * 10_500_000 + "--></body>"
    )
    new_page("10mb", title, big.encode())
    new_page("date-chinese", title, page(title, GBK_LINES, "2023年6月27日").encode())
    new_page("date-slashes", title, page(title, GBK_LINES, "2023/6/27").encode())
    new_page("date-missing", title, page(title, GBK_LINES, None).encode())
    for name, (path, body, headers) in NEW.items():
        if name in ("412-js-cookie", "403", "420"):
            server.faults[path] = fs.status(int(name[:3]), body)
        else:
            server.faults[path] = fs.content(body, headers["Content-Type"])
    relative = f"{COLUMN}202402/t20240201_950000_ext.html"
    (root / relative.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    (root / relative.lstrip("/")).write_text(
        article_html(title + "(相对链接)", "2024-02-01 09:00", GBK_LINES), encoding="utf-8"
    )

    items = [(n.path.replace(COLUMN, "./"), n.title, n.published[:10]) for n in reversed(notices)]
    items += [
        (p.replace(COLUMN, "./"), title, None if "date-missing" in name else "2024-01-02")
        for name, (p, _, _) in NEW.items()
    ]
    items += [
        ("./202301/P020230101.pdf", "关于巡视整改情况的通报(附件)", "2023-01-01"),
        ("./202301/W020230101.doc", "关于巡视整改情况的通报(全文)", "2023-01-01"),
        (NEW["gbk-meta-only"][0].replace(COLUMN, "./"), title, "2024-01-02"),  # duplicate link
        (
            "../xunshixuncha/202402/../202402/t20240201_950000_ext.html",
            title + "(相对链接)",
            "2024-02-01",
        ),
    ]
    listing = list_html([(h, t, d or "") for h, t, d in items], 0, 1)
    listing = listing.replace(
        'createPageHTML(1, 0, "index", "shtml");', "createPageHTML(oops, , 'index');"
    )
    (root / COLUMN.strip("/") / "index.shtml").write_text(listing, encoding="utf-8")

    server.log.clear()
    proc = xunshi(
        "crawl",
        "zjsjw",
        "--db",
        str(db),
        "--start-url",
        start,
        "--json",
        *[a for s in SETTINGS for a in ("--set", s)],
    )
    run = json.loads(proc.stdout.strip().splitlines()[-1])
    store = Store.open(db)
    world = World(
        server,
        db,
        texts,
        ids,
        proc.stdout + proc.stderr,
        Path(run["log"]).read_text(encoding="utf-8"),
        run,
        store,
    )
    world.known = known  # type: ignore[attr-defined]
    yield world
    store.close()
    server.close()


def test_the_crawl_itself_ran_and_printed_no_traceback(world: World) -> None:
    assert world.run["status"] == "ok"
    assert "Traceback" not in world.output
    assert "Traceback" not in world.log


# -- encodings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["gbk-declared-gb2312", "gbk-meta-only", "gbk-says-utf8", "gbk-undeclared"]
)
def test_gbk_pages_are_stored_right(world: World, name: str) -> None:
    path = NEW[name][0]
    row = world.notice(path)
    assert row is not None, world.events(path)
    text = world.store.latest_version(row["id"])["text"]
    assert text == "\n".join([f"2024-01-02 10:00 {SOURCE}", *GBK_LINES])
    assert "\ufffd" not in text and "锟斤拷" not in text


def test_undecodable_page_is_refused_with_a_reason(world: World) -> None:
    path = NEW["undecodable"][0]
    assert world.notice(path) is None
    [event] = world.events(path)
    assert event["kind"] == "parse_failed" and "decode" in event["detail"]["reason"]


def test_nothing_stored_holds_mojibake(world: World) -> None:
    for row in world.store.db.table("versions").rows:
        v = world.store.version(row["notice_id"], row["n"])  # older texts are stored compressed
        assert "\ufffd" not in v["text"] and "锟斤拷" not in v["text"] and "Ã" not in v["text"]


# -- challenge and anti-bot pages -------------------------------------------------------------


@pytest.mark.parametrize("name", ["412-js-cookie", "200-captcha", "403", "420"])
def test_blocks_are_reported_never_stored_never_retried(world: World, name: str) -> None:
    path = NEW[name][0]
    assert world.notice(path) is None
    assert [e["kind"] for e in world.events(path)] == ["blocked"]
    assert world.server.count(path) == 1


# -- transport ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", TRANSPORT)
def test_transport_failure_leaves_the_stored_notice_as_it_was(world: World, name: str) -> None:
    path = world.known[name]  # type: ignore[attr-defined]
    row = world.store.notice(world.ids[path])
    assert row["version_count"] == 1 and not row["removed_at"]
    assert world.store.latest_version(row["id"])["text"] == world.baseline[path]
    kinds = [e["kind"] for e in world.events(path)]
    assert kinds == ["fetch_failed"], kinds


@pytest.mark.parametrize("name", ["500", "502", "503", "truncated", "stall"])
def test_transient_failures_are_retried_twice(world: World, name: str) -> None:
    assert world.server.count(world.known[name]) == 3  # type: ignore[attr-defined]


def test_connection_reset_is_retried_a_bounded_number_of_times(world: World) -> None:
    # Twisted's connection pool itself retries a request once when a reused connection
    # drops, so each of the 3 attempts may reach the server twice.
    assert 3 <= world.server.count(world.known["reset"]) <= 6  # type: ignore[attr-defined]


def test_redirect_loop_stops(world: World) -> None:
    path = world.known["redirect-loop"]  # type: ignore[attr-defined]
    assert world.server.count(path) == 2
    [event] = world.events(path)
    assert "redirect loop" in event["detail"]["reason"]


def test_redirect_to_another_host_is_not_followed(world: World) -> None:
    assert "/elsewhere.html" not in world.server.log
    [event] = world.events(world.known["redirect-offsite"])  # type: ignore[attr-defined]
    assert "another host (127.0.0.2)" in event["detail"]["reason"]


# -- content ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "words"), [("empty-200", "empty"), ("title-no-body", "body"), ("10mb", "too large")]
)
def test_pages_without_a_notice_are_refused(world: World, name: str, words: str) -> None:
    path = NEW[name][0]
    assert world.notice(path) is None
    [event] = world.events(path)
    assert event["kind"] == "parse_failed" and words in event["detail"]["reason"]


def test_documents_are_not_fetched(world: World) -> None:
    assert not any(p.endswith((".pdf", ".doc")) for p in world.server.log)


def test_duplicate_links_are_fetched_once(world: World) -> None:
    assert world.server.count(NEW["gbk-meta-only"][0]) == 1


def test_relative_links_with_dotdot_resolve(world: World) -> None:
    row = world.notice(f"{COLUMN}202402/t20240201_950000_ext.html")
    assert row is not None and row["published_at"] == "2024-02-01T09:00:00+08:00"


def test_broken_pagination_script_is_logged_and_page_one_still_read(world: World) -> None:
    assert "createPageHTML(oops" in world.log and "could not be read" in world.log
    assert world.notice(NEW["gbk-meta-only"][0]) is not None


@pytest.mark.parametrize(
    ("name", "published", "first_line"),
    [
        ("date-chinese", "2023-06-27T00:00:00+08:00", f"2023-06-27 {SOURCE}"),
        ("date-slashes", "2023-06-27T00:00:00+08:00", f"2023-06-27 {SOURCE}"),
        ("date-missing", None, GBK_LINES[0]),
    ],
)
def test_odd_dates(world: World, name: str, published: str | None, first_line: str) -> None:
    row = world.notice(NEW[name][0])
    assert row is not None and row["published_at"] == published
    assert world.store.latest_version(row["id"])["text"].split("\n")[0] == first_line


def test_database_is_intact(world: World) -> None:
    conn = sqlite3.connect(world.db)
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    orphans = conn.execute(
        "select count(*) from notices n where not exists (select 1 from versions v where v.notice_id = n.id)"
    ).fetchone()[0]
    assert orphans == 0
    conn.close()
