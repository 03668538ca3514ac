"""`xunshi serve`: Datasette on a demo database, looked at in a real headless Chromium.

The demo (two recorded sites crawled twice on 127.0.0.1) is stored under a name that is
not xunshi.db, a notice whose title and text carry markup is added and changed, then
`xunshi serve` runs as a user would start it and the pages are driven by keyboard.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli_serve import build, serve
from crawler.items import Notice
from store.datasette import metadata
from store.notices import Store
from tests.browser import Browser, chromium_path

XUNSHI = str(Path(sys.executable).parent / "xunshi")
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
# Markup from a page: it must show as text, and never run.
HOSTILE_TITLE = "中共某区委关于巡视整改情况的通报<script>window.xssran='title'</script>"
HOSTILE_TEXT = "给予党纪处分8人次<img src=x onerror=\"window.xssran='text'\">"
HOSTILE_CHANGE = "给予党纪处分9人次<img src=y onerror=\"window.xssran='diff'\">"
NAME = "journal"  # the database is journal.db: nothing may depend on it being xunshi.db
ATOM = "{http://www.w3.org/2005/Atom}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_hostile_notice(db: Path) -> None:
    store = Store.open(db)
    base = dict(site="zjsjw", url="http://127.0.0.1/a/t20200101_9_ext.html", title=HOSTILE_TITLE,
                published_at="2020-01-01T09:00:00+08:00", source="来源", paragraphs=[], header=None,
                raw=b"<html>", encoding="utf-8", status=200, headers={},
                fetched_at="2026-01-01T00:00:00+00:00", province="浙江省")  # fmt: skip
    for run_site, text in (("zjsjw", HOSTILE_TEXT), ("zjsjw", HOSTILE_CHANGE)):
        notice = Notice(**base)  # type: ignore[arg-type]
        notice.text = "根据省委统一部署,省委巡视组开展了巡视。\n" + text
        store.record(notice, store.start_run(run_site))
    store.close()


@dataclass
class Served:
    db: Path
    base: str  # http://127.0.0.1:PORT
    digest: str  # the database file before the server started
    proc: subprocess.Popen[str]

    def url(self, path: str) -> str:
        return f"{self.base}/{NAME}{path}"

    def get(self, path: str, *, root: bool = False) -> tuple[int, bytes]:
        try:
            url = self.base + path if root else self.url(path)
            with urllib.request.urlopen(url, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def db_rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"{self.db.as_uri()}?mode=ro", uri=True)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("serve")
    db = work / f"{NAME}.db"
    proc = subprocess.run([XUNSHI, "demo", "--db", str(db)], cwd=work, env=ENV,
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    add_hostile_notice(db)
    return db


@pytest.fixture(scope="module")
def served(demo_db: Path) -> Iterator[Served]:
    port = free_port()
    digest = sha256(demo_db)
    proc = subprocess.Popen(
        [XUNSHI, "serve", "--db", str(demo_db), "--port", str(port)], cwd=demo_db.parent,
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/-/versions.json", timeout=5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"xunshi serve did not start: {proc.communicate()[0]}")
            time.sleep(0.2)
    yield Served(demo_db, base, digest, proc)
    proc.terminate()
    out = proc.communicate(timeout=30)[0]
    assert "Traceback" not in out, out


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    chromium_path()
    b = Browser(tmp_path / "profile", width=1280, height=800)
    yield b
    b.close()


def keep_screenshot(b: Browser, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    data = b.screenshot(shot)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    keep = os.environ.get("XUNSHI_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / name)
    return shot


NOT_RUN = "window.xssran === undefined"
TITLES = "[...document.querySelectorAll('td.col-title')].map(td => td.textContent)"


def test_notices_page_reads_at_1280_px(served: Served, browser: Browser, tmp_path: Path) -> None:
    browser.goto(served.url("/notice_list"))
    keep_screenshot(browser, tmp_path, "serve-notices.png")
    headers = browser.js("[...document.querySelectorAll('table.rows-and-columns th')]"
                         ".map(th => th.getAttribute('data-column'))")  # fmt: skip
    assert headers[:3] == ["title", "unit", "districts"] and headers[-1] == "url"
    assert "key" not in headers
    assert {"published", "site", "versions", "province", "city"} <= set(headers)
    # the newest notice first, its title on the first screen and wide enough to read
    newest = served.db_rows("select title from notices order by published_at desc limit 1")[0][0]
    box = browser.js("(() => { const r = document.querySelector('td.col-title').getBoundingClientRect();"
                     " return {top: r.top, bottom: r.bottom, width: r.width,"
                     " text: document.querySelector('td.col-title').textContent,"
                     " size: parseFloat(getComputedStyle(document.querySelector('td.col-title')).fontSize)}; })()")  # fmt: skip
    assert box["text"] == newest
    assert box["top"] > 0 and box["bottom"] <= 800, box  # on the first screen, whole
    assert box["width"] / box["size"] >= 10, box  # ten characters a line at least
    # published in Beijing time, districts as names, facets for site, province, city, district
    row = browser.js("Object.fromEntries([...document.querySelector('table.rows-and-columns tbody tr')"
                     ".querySelectorAll('td')].map(td => [td.className.split(' ')[0], td.textContent.trim()]))")  # fmt: skip
    assert row["col-published"] == "2025-07-18 09:00" and row["col-districts"] == "宁波市鄞州区"
    facets = browser.js(
        "[...document.querySelectorAll('.facet-info')].map(f => f.getAttribute('data-column'))"
    )
    assert set(facets) == {"site", "province", "city", "districts"}
    counts = browser.js(
        "Object.fromEntries([...document.querySelectorAll('.facet-info')].map(f =>"
        " [f.getAttribute('data-column'), f.querySelectorAll('li a').length]))"
    )
    assert counts["site"] == 2 and counts["province"] == 2 and counts["districts"] >= 6, counts
    # the id links to the notice's own row (all its columns, its versions linked)
    newest_id = served.db_rows("select id from notices where title = ?", (newest,))[0][0]
    link = browser.js("document.querySelector('td.col-id a').getAttribute('href')")
    assert link == f"/{NAME}/notices/{newest_id}"
    assert browser.js(NOT_RUN)
    hostile = browser.js(TITLES + ".filter(t => t.includes('某区委'))")
    assert hostile == [HOSTILE_TITLE]  # shown as text, not run
    assert browser.js("document.querySelectorAll('td img, td script').length") == 0


def test_search_box_finds_two_character_words(
    served: Served, browser: Browser, tmp_path: Path
) -> None:
    for word in ("巡视", "鄞州", "违规吃喝"):
        browser.goto(served.url("/notice_list"))
        browser.type_and_enter("#_search", word)
        assert browser.js("new URL(location.href).searchParams.get('_search')") == word
        found = browser.js(TITLES)
        want = served.db_rows(
            "select n.title from notices n join notices_fts f on f.rowid = n.id where "
            "instr(coalesce(f.title, '') || char(10) || coalesce(f.unit, '') || char(10) || f.text, ?)"
            " order by n.published_at desc, n.id desc",
            (word,),
        )  # fmt: skip
        assert sorted(found) == sorted(w[0] for w in want) and found, word
        published = browser.js(
            "[...document.querySelectorAll('td.col-published')].map(td => td.textContent.trim())"
        )
        assert published == sorted(published, reverse=True), published  # newest first
        if word == "鄞州":
            assert found == ["中共宁波市鄞州区委关于省委巡视整改进展情况的通报"]
            keep_screenshot(browser, tmp_path, "serve-search.png")
    assert len(served.db_rows("select id from notices")) == 8
    # the stored notices' own page searches the same way
    browser.goto(served.url("/notices"))
    browser.type_and_enter("#_search", "鄞州")
    assert browser.js(
        "[...document.querySelectorAll('td.col-title')].map(td => td.textContent)"
    ) == ["中共宁波市鄞州区委关于省委巡视整改进展情况的通报"]


def test_changes_show_the_diff_as_safe_html(
    served: Served, browser: Browser, tmp_path: Path
) -> None:
    browser.goto(served.url("/change_list"))
    keep_screenshot(browser, tmp_path, "serve-changes.png")
    diffs = browser.js("[...document.querySelectorAll('td.col-diff')].map(td => ({"
                       "del: [...td.querySelectorAll('del')].map(e => e.textContent),"
                       "ins: [...td.querySelectorAll('ins')].map(e => e.textContent)}))")  # fmt: skip
    assert {"del": ["1"], "ins": ["2"]} in diffs  # 处分11人次 -> 处分12人次 in the demo
    texts = browser.js("[...document.querySelectorAll('td.col-diff')].map(td => td.textContent)")
    assert any("<img src=y onerror=" in t for t in texts)  # the page's markup, as text
    assert browser.js("document.querySelectorAll('td img, td script').length") == 0
    assert browser.js(NOT_RUN)
    titles = browser.js(TITLES)
    assert HOSTILE_TITLE in titles
    cells = browser.js("[...document.querySelector('table.rows-and-columns tbody tr').querySelectorAll('td')]"
                       ".map(td => td.className.split(' ')[0])")  # fmt: skip
    assert cells[:4] == ["col-title", "col-versions", "col-fetched_before", "col-fetched"]


def test_database_page_timeline_and_feed(served: Served, browser: Browser, tmp_path: Path) -> None:
    browser.goto(served.url(""))
    keep_screenshot(browser, tmp_path, "serve-database.png")
    links = browser.js("[...document.querySelectorAll('a')].map(a => a.getAttribute('href'))")
    for view in ("notice_list", "change_list", "new_districts", "province_coverage"):
        assert f"/{NAME}/{view}" in links
    timeline = next(h for h in links if h.startswith(f"/{NAME}/monthly_notices?"))
    browser.goto(served.base + timeline)
    drawn = browser.js("new Promise(ok => { let n = 0; const t = setInterval(() => {"
                       " const c = document.querySelector('.vega-embed canvas, .vega-embed svg');"
                       " if (c || ++n > 50) { clearInterval(t); ok(!!c); } }, 100); })")  # fmt: skip
    assert drawn, "the notices-per-month chart was not drawn"
    keep_screenshot(browser, tmp_path, "serve-timeline.png")
    months = served.db_rows("select month, site, notices from monthly_notices")
    assert ("2025-07", "zjsjw", 1) in months and ("2024-01", "shjjjc", 3) in months

    browser.goto(served.url("/new_districts"))
    names = browser.js("[...document.querySelectorAll('td.col-name')].map(td => td.textContent)")
    assert names[0] == "宁波市鄞州区" and len(names) == 7
    browser.goto(served.url("/province_coverage"))
    cover = browser.js(
        "[...document.querySelectorAll('tbody tr')].map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent.trim()))"
    )
    zhejiang = served.db_rows(
        "select count(distinct notice_id), count(distinct code) from notice_districts"
        " where province = '浙江省'"
    )[0]
    assert ["浙江省", str(zhejiang[0]), str(zhejiang[1]), "1", "2025-07-18 09:00"] in cover

    status, body = served.get("/feed.atom")
    assert status == 200
    feed = ET.fromstring(body)  # well-formed although a title holds <script>
    titles = [e.findtext(f"{ATOM}title") for e in feed.iter(f"{ATOM}entry")]
    assert "新地区 New district: 宁波市鄞州区" in titles
    assert "修改 Changed: " + HOSTILE_TITLE in titles


def test_nothing_a_visitor_does_writes(served: Served) -> None:
    count = served.db_rows("select count(*) from notices")[0][0]
    for sql in ("delete from notices", "update notices set title = 'x'", "pragma query_only = 0",
                "select 1; delete from notices"):  # fmt: skip
        status, body = served.get(".json?sql=" + urllib.request.quote(sql))
        assert status >= 400 or json.loads(body).get("ok") is False, (sql, body[:200])
    status, body = served.get("/feed.json")
    assert status == 200
    status, body = served.get("/-/plugins.json", root=True)
    plugins = {p["name"] for p in json.loads(body)} if status == 200 else None
    assert plugins == {"datasette-atom", "datasette-vega", "xunshi-watch"}
    assert served.db_rows("select count(*) from notices")[0][0] == count
    assert sha256(served.db) == served.digest


def test_a_write_on_datasettes_own_connection_is_refused(demo_db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    shutil.copy(demo_db, copy)
    ds = build(copy)

    async def write() -> None:
        await ds.invoke_startup()
        await ds.get_database("copy").execute_write("delete from notices")

    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
        asyncio.run(write())
    conn = sqlite3.connect(copy)
    assert conn.execute("select count(*) from notices").fetchone()[0] == 8
    conn.close()


# -- errors -------------------------------------------------------------------------------------


def run_serve(*args: str) -> Any:
    return CliRunner().invoke(serve, list(args))


def test_missing_foreign_and_broken_databases_are_clear_errors(tmp_path: Path) -> None:
    result = run_serve("--db", str(tmp_path / "nothere.db"))
    assert result.exit_code == 1 and "no database at" in result.output
    assert not (tmp_path / "nothere.db").exists()
    text = tmp_path / "notes.db"
    text.write_text("not a database")
    result = run_serve("--db", str(text))
    assert result.exit_code == 1 and "is not a SQLite database" in result.output
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("create table birds (name text)")
    conn.close()
    before = sha256(other)
    result = run_serve("--db", str(other))
    assert result.exit_code == 1 and "not an xunshi-watch database" in result.output
    assert sha256(other) == before
    result = run_serve("--db", str(tmp_path))
    assert result.exit_code != 0 and "directory" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_port_in_use_is_a_clear_error(demo_db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "x.db"
    shutil.copy(demo_db, copy)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([XUNSHI, "serve", "--db", str(copy), "--port", str(port)],
                              env=ENV, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_metadata_follows_the_file_name_and_adds_facts_when_they_exist(
    demo_db: Path, tmp_path: Path
) -> None:
    # the facts migration's table and view get facets
    assert metadata(demo_db)["databases"]["journal"]["tables"]["notice_facts"]["facets"] == [
        "site",
        "kind",
        "level",
        "round",
    ]
    copy = tmp_path / "my data.v2.db"
    shutil.copy(demo_db, copy)
    plugin = metadata(demo_db)["plugins"]["xunshi-watch"]["databases"]["journal"]
    assert plugin["notice_links"]["notice_facts"] == ["notice_id"]
    assert plugin["time_columns"]["notice_facts"] == {"published_at": "published"}
    conn = sqlite3.connect(copy)  # a database without them: no facts settings
    conn.execute("drop view notice_facts")
    conn.execute("drop table facts")
    conn.commit()
    conn.close()
    meta = metadata(copy)
    assert list(meta["databases"]) == ["my data.v2"]
    assert (
        '<a href="/my+data~2Ev2/notice_list">'
        in meta["databases"]["my data.v2"]["description_html"]
    )
    assert "facts" not in meta["databases"]["my data.v2"]["tables"]
    conn = sqlite3.connect(copy)  # what the facts migration adds (issue 13)
    conn.execute("create table facts (notice_id int, version int, key text, value, evidence text)")
    conn.execute(
        "create view notice_facts as select n.id as notice_id, n.site, n.title, n.url,"
        " null as kind, null as level, null as round, null as problems from notices n"
    )
    conn.close()
    meta = metadata(copy)["databases"]["my data.v2"]
    assert meta["tables"]["facts"]["facets"] == ["key"]
    assert meta["tables"]["notice_facts"]["facets"] == ["site", "kind", "level", "round"]
    assert '<a href="/my+data~2Ev2/notice_facts">facts</a>' in meta["description_html"]


def test_an_older_database_gets_the_views_and_the_index_before_it_is_served(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from store.db import migrations
    from tests.test_store import make_notice

    path = tmp_path / "old.db"
    old = Database(sqlite3.connect(str(path), isolation_level=None))
    migrations.apply(old, stop_before="m006_bigram_search")
    store = Store(old)
    store.record(make_notice("第一段\n鄞州区巡视整改情况", title="中共宁波市鄞州区委关于巡视整改的通报"),
                 store.start_run("zjsjw"))  # fmt: skip
    old.close()
    ds = build(path)

    async def pages() -> list[Any]:
        await ds.invoke_startup()
        out = []
        for url in ("/old/notice_list.json?_search=鄞州&_shape=array",
                    "/old/notice_list.json?districts__arraycontains=宁波市鄞州区&_shape=array",
                    "/old/notice_list.json?_search=海曙&_shape=array",
                    '/old/notice_list.json?_search="巡视 OR NEAR(*&_shape=array',
                    "/old/notices.json?_search=。&_shape=array"):  # fmt: skip
            response = await ds.client.get(url)
            assert response.status_code == 200, response.text
            out.append([row["title"] for row in response.json()])
        return out

    found, district, nothing, operators, punctuation = asyncio.run(pages())
    assert found == district == ["中共宁波市鄞州区委关于巡视整改的通报"]
    assert nothing == operators == punctuation == []  # typed operators are words, not syntax


def test_notice_places_follow_the_districts_table(demo_db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "places.db"
    shutil.copy(demo_db, copy)
    store = Store.open(copy)
    db = store.db

    def places() -> dict[int, tuple[Any, ...]]:
        return {
            r[0]: r[1:] for r in db.execute("select id, districts, province, city from notice_list")
        }

    def truth() -> dict[int, tuple[Any, ...]]:
        out: dict[int, tuple[Any, ...]] = {
            r[0]: (None, None, None) for r in db.execute("select id from notices")
        }
        for nid in {r[0] for r in db.execute("select notice_id from notice_districts")}:
            rows = db.execute("select full_name, province, city from notice_districts"
                              " where notice_id = ? order by code", [nid]).fetchall()  # fmt: skip
            out[nid] = (json.dumps([r[0] for r in rows], ensure_ascii=False),
                        "、".join(sorted({r[1] for r in rows})), "、".join(sorted({r[2] for r in rows})))  # fmt: skip
        return out

    def same() -> None:
        got, want = places(), truth()
        for nid, (districts, province, city) in want.items():
            g = got[nid]
            assert (json.loads(g[0]) if g[0] else None) == (
                json.loads(districts) if districts else None
            ), nid
            assert (sorted((g[1] or "").split("、")), sorted((g[2] or "").split("、"))) == (
                sorted((province or "").split("、")), sorted((city or "").split("、"))), nid  # fmt: skip

    same()
    first = db.execute(
        "select notice_id from notice_districts order by notice_id limit 1"
    ).fetchone()[0]
    db.execute("insert into notice_districts values (?, '320102', '玄武区', '南京市玄武区', 'county',"
               " '江苏省', '南京市')", [first])  # fmt: skip
    same()
    assert "江苏省" in places()[first][1] and "、" in places()[first][1]
    db.execute(
        "update notice_districts set city = '某市' where notice_id = ? and code = '320102'", [first]
    )
    same()
    db.execute("delete from notice_districts where notice_id = ?", [first])
    same()
    assert places()[first] == (None, None, None)
    store.close()


def test_times_show_in_beijing_time() -> None:
    from store.datasette_plugin import beijing_time

    assert beijing_time("2026-12-07T01:38:51+00:00") == "2026-12-07 09:38"  # a fetch, UTC
    assert beijing_time("2025-07-18T09:00:00+08:00", date_alone=True) == "2025-07-18 09:00"
    assert beijing_time("2024-01-31T00:00:00+08:00", date_alone=True) == "2024-01-31"
    assert beijing_time("2024-01-30T16:00:00+00:00", date_alone=True) == "2024-01-31"
    assert beijing_time("2024-01-31T00:00:00+08:00") == "2024-01-31 00:00"
    assert beijing_time("2024-01-31 08:30") == "2024-01-31 08:30"  # no offset: Beijing time
    assert beijing_time("soon") is None  # shown as stored


def test_older_versions_texts_are_read_through_the_version_text_query(served: Served) -> None:
    """Only the latest text is stored plain (store/compress.py): the versions table links an
    older one to the canned query that decodes it."""
    [(notice_id,)] = served.db_rows("select max(id) from notices")  # add_hostile_notice's
    assert served.db_rows(
        "select n, text_codec is not null from versions where notice_id = ? order by n",
        (notice_id,),
    ) == [(1, 1), (2, 0)]
    status, body = served.get(f"/version_text.json?notice_id={notice_id}&_shape=array")
    assert status == 200
    rows = json.loads(body)
    assert [r["version"] for r in rows] == [1, 2]
    assert rows[0]["text"].endswith(HOSTILE_TEXT) and rows[1]["text"].endswith(HOSTILE_CHANGE)
    status, body = served.get(f"/versions?notice_id={notice_id}")
    assert status == 200 and f"version_text?notice_id={notice_id}" in body.decode()
    assert b"older version, stored compressed" in body
