"""One crawl of many sites in one process (issue 11 item 4, 6b/6d) and the first run's
truths (issue 14 items 1-3): politeness per host, unreachable hosts, failed runs that say
why, exit codes, progress, bad arguments, time limits."""

from __future__ import annotations

import gc
import io
import json
import socket
import threading
import time
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from scrapy.exceptions import CannotResolveHostError
from twisted.internet.error import DNSLookupError

from crawler.downloader import HostGuard, HostUnreachable, connection_problem
from crawler.extensions import broken_reason, no_page_reason, site_progress
from crawler.progress import LiveProgress, progress_line
from crawler.run import SiteCrawl, check_start_url, run_crawls
from crawler.spiders.notices import is_due, publish_time
from store.notices import Store, load_known
from tests import world
from tests.conftest import xunshi
from tests.test_sites_golden import MANIFEST

ZJ_START = MANIFEST["zjsjw"]["start"]


@pytest.fixture
def one_site(tmp_path: Path):  # type: ignore[no-untyped-def]
    """One generated site of 20 notices on 127.0.0.2, 50 ms per response."""
    sites = world.build_world(tmp_path / "w", 1, sizes=[20], recorded_every=0)
    with world.serving(sites, latency=0.05) as served:
        yield served[0]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SilentServer:
    """Accepts connections and never answers: a host that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.connections:
            c.close()


# -- one request at a time per host -------------------------------------------------------


def test_one_request_at_a_time_per_host_without_a_delay(one_site, tmp_path: Path) -> None:
    profiles = world.profiles([one_site])
    # On loopback the politeness delay is dropped (DOWNLOAD_DELAY = 0)...
    result = run_crawls([SiteCrawl(one_site.name)], db_path=tmp_path / "a.db", profiles=profiles)
    assert result[0].status == "ok" and result[0].counts["new"] == 20
    assert one_site.stats.peak == 1
    # ...where Scrapy's own downloader sends several requests to the host at once.
    one_site.stats.peak = 0
    stock = {"DOWNLOADER": "scrapy.core.downloader.Downloader"}
    run_crawls([SiteCrawl(one_site.name)], db_path=tmp_path / "b.db", profiles=profiles,
               settings=stock)  # fmt: skip
    assert one_site.stats.peak > 1


def test_many_hosts_at_once_up_to_concurrent_requests(tmp_path: Path) -> None:
    sites = world.build_world(tmp_path / "w", 6, sizes=[6] * 6, recorded_every=0)
    with world.serving(sites, latency=0.2):
        results = run_crawls(
            [SiteCrawl(s.name) for s in sites], db_path=tmp_path / "x.db",
            profiles=world.profiles(sites), settings={"CONCURRENT_REQUESTS": 3},
        )  # fmt: skip
    assert [r.status for r in results] == ["ok"] * 6
    assert all(s.stats.peak == 1 for s in sites)
    log = results[0].log_path.read_text(encoding="utf-8")
    # the process never had more than 3 downloads in flight, and had 3 at times
    peaks = [int(x) for x in _stat(log, "xunshi/process_peak")]
    assert peaks and max(peaks) == 3


def _stat(log: str, key: str) -> list[str]:
    return [line.split(":", 1)[1].strip(" ,") for line in log.splitlines() if f"'{key}'" in line]


# -- unreachable hosts, failed runs that say why ---------------------------------------------


def test_connection_problems_in_words() -> None:
    assert connection_problem(DNSLookupError("x")) == "DNS lookup failed"
    assert connection_problem(CannotResolveHostError("x")) == "DNS lookup failed"
    assert connection_problem(ValueError("x")) is None


def test_a_host_that_never_answered_is_given_up_at_once() -> None:
    class Crawler:
        settings = __import__("scrapy.settings", fromlist=["Settings"]).Settings(
            {"XUNSHI_FIRST_CONTACT_TIMEOUT": 5, "DOWNLOAD_TIMEOUT": 30}
        )
        stats = None

    from scrapy import Request

    guard = HostGuard(Crawler())  # type: ignore[arg-type]
    first = Request("http://gone.example/robots.txt")
    guard.process_request(first)
    assert first.meta["download_timeout"] == 5  # short, while the host never answered
    guard.process_exception(first, CannotResolveHostError("no such host"))
    assert first.meta["dont_retry"] is True
    with pytest.raises(HostUnreachable, match="gone.example: DNS lookup failed"):
        guard.process_request(Request("http://gone.example/list.html"))
    # a host that answered once keeps the normal timeout and its retries
    ok = Request("http://up.example/a")
    guard.process_response(ok, object())  # type: ignore[arg-type]
    later = Request("http://up.example/b")
    guard.process_request(later)
    assert later.meta["download_timeout"] == 30
    guard.process_exception(later, CannotResolveHostError("blip"))
    assert "dont_retry" not in later.meta


def test_unreachable_sites_fail_fast_saying_why_and_hold_up_no_one(
    one_site, tmp_path: Path
) -> None:
    silent = SilentServer()
    refused = _closed_port()
    profiles = world.profiles([one_site])
    done: list[str] = []
    try:
        results = run_crawls(
            [
                SiteCrawl("zjsjw", start_url=f"http://127.0.0.1:{refused}{ZJ_START}"),
                SiteCrawl("shjjjc", start_url=f"http://127.0.0.1:{silent.port}/x/index.html"),
                SiteCrawl(one_site.name),
            ],
            db_path=tmp_path / "x.db",
            profiles=profiles,
            settings={"XUNSHI_FIRST_CONTACT_TIMEOUT": 2},
            on_progress=lambda m: done.append(m["site"]) if m.get("state") == "done" else None,
        )
    finally:
        silent.close()
    by_site = {r.site: r for r in results}
    assert by_site[one_site.name].status == "ok"
    assert by_site[one_site.name].counts["new"] == 20
    assert by_site["zjsjw"].status == "failed"
    assert by_site["zjsjw"].error == "no page could be fetched: 127.0.0.1: connection refused"
    assert by_site["shjjjc"].status == "failed"
    assert by_site["shjjjc"].error == "no page could be fetched: 127.0.0.1: no answer (timeout)"
    # one try for the host that hangs (robots.txt), none of Scrapy's retries
    assert len(silent.connections) == 1
    assert done.index("zjsjw") < done.index(one_site.name)
    # every site logs into the crawl's log, not only the first one started
    log = results[0].log_path.read_text(encoding="utf-8")
    for r in results[:2]:
        assert f"{r.site}: run {r.run_id} failed: {r.error}" in log
    store = Store.open(tmp_path / "x.db")
    try:
        events = store.events(kind="fetch_failed")
        assert {e["site"] for e in events} == {"zjsjw", "shjjjc"}
    finally:
        store.close()


def test_no_page_reason_and_progress_from_stats() -> None:
    stats: dict[str, Any] = {"downloader/response_count": 1, "robotstxt/response_count": 1,
                             "downloader/response_status_count/200": 1,
                             "robotstxt/response_status_count/200": 1}  # fmt: skip
    assert site_progress(stats)["pages"] == 0
    assert no_page_reason(stats) == "no page could be fetched"
    blocked = {**stats, "downloader/response_status_count/403": 2, "xunshi/count/blocked": 2}
    assert no_page_reason(blocked) == "no page could be fetched: blocked by the site"
    a_challenge = {**stats, "downloader/response_status_count/200": 2, "xunshi/count/blocked": 1}
    assert no_page_reason(a_challenge) == "no page could be fetched: blocked by the site"
    errors = {**stats, "downloader/response_status_count/503": 3,
              "downloader/response_status_count/404": 1}  # fmt: skip
    assert (
        no_page_reason(errors) == "no page could be fetched: the site answered HTTP 404, HTTP 503"
    )
    assert no_page_reason({**stats, "downloader/response_status_count/304": 1}) is None


def test_a_site_that_blocks_every_page_is_not_ok(serve, tmp_path: Path) -> None:
    site = serve("zjsjw")
    site.overrides[ZJ_START] = lambda req: (403, {"Content-Type": "text/html"}, b"Forbidden")
    (result,) = run_crawls([SiteCrawl("zjsjw", start_url=site.url(ZJ_START))],
                           db_path=tmp_path / "x.db")  # fmt: skip
    assert result.status == "failed"
    assert result.error == "no page could be fetched: blocked by the site"
    assert result.counts["blocked"] == 1


def test_a_site_that_cannot_start_fails_alone(one_site, tmp_path: Path) -> None:
    import dataclasses

    profiles = world.profiles([one_site])
    profiles["nospider"] = dataclasses.replace(profiles[one_site.name], name="nospider",
                                               custom_spider=True)  # fmt: skip
    results = run_crawls([SiteCrawl("nospider"), SiteCrawl(one_site.name)],
                         db_path=tmp_path / "x.db", profiles=profiles)  # fmt: skip
    assert [r.status for r in results] == ["failed", "ok"]
    assert results[0].error is not None and results[0].error.startswith("crawl could not start")
    assert results[1].counts["new"] == 20


def test_crawl_command_exits_non_zero_when_no_site_could_be_crawled(tmp_path: Path) -> None:
    port = _closed_port()
    db = tmp_path / "x.db"
    proc = xunshi("crawl", "zjsjw", "--db", str(db), "--start-url",
                  f"http://127.0.0.1:{port}{ZJ_START}", check=False)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "zjsjw: run 1 failed" in proc.stdout
    assert "connection refused" in proc.stdout and "Traceback" not in proc.stderr
    as_json = xunshi("crawl", "zjsjw", "--db", str(db), "--json", "--start-url",
                     f"http://127.0.0.1:{port}{ZJ_START}", check=False)  # fmt: skip
    (line,) = as_json.stdout.splitlines()
    row = json.loads(line)
    assert (row["site"], row["status"], row["pages"]) == ("zjsjw", "failed", 0)
    assert "connection refused" in row["error"]


# -- bad arguments refused before anything starts ---------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["zjsjw", "--start-url", "notaurl"], "is not an http(s) URL"),
        (["zjsjw", "--start-url", "ftp://127.0.0.1/x"], "is not an http(s) URL"),
        (["zjsjw", "--start-url", "http://127.0.0.1:99999/x"], "bad port"),
        (["zjsjw", "--timeout", "0"], "positive number of seconds"),
        (["zjsjw", "--timeout", "nan"], "positive number of seconds"),
        (["zjsjw", "--timeout", "soon"], "is not a valid float"),
        (["nosuchsite"], "unknown site"),
    ],
)
def test_bad_arguments_are_refused_before_anything_starts(
    tmp_path: Path, args: list[str], message: str
) -> None:
    db = tmp_path / "x.db"
    proc = xunshi("crawl", *args, "--db", str(db), check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not db.exists() and not (tmp_path / "logs").exists()


def test_start_url_check() -> None:
    assert check_start_url(" http://127.0.0.1:8000/a ") == "http://127.0.0.1:8000/a"
    for bad in ("notaurl", "http://", "mailto:x@y.cn", "/relative/path"):
        with pytest.raises(ValueError):
            check_start_url(bad)


# -- time limits ------------------------------------------------------------------------------


def test_a_time_limit_holds_within_a_couple_of_seconds(tmp_path: Path) -> None:
    # 40 notices at 0.5 s a page: ~20 s without the limit.
    sites = world.build_world(tmp_path / "w", 1, sizes=[40], recorded_every=0)
    with world.serving(sites, latency=0.5):
        started = time.monotonic()
        (result,) = run_crawls(
            [SiteCrawl(sites[0].name, timeout=2)], db_path=tmp_path / "x.db",
            profiles=world.profiles(sites),
        )  # fmt: skip
        elapsed = time.monotonic() - started
    assert result.status == "interrupted"
    assert result.error == "time limit of 2 s reached; crawl stopped"
    assert 0 < result.counts["new"] < 40
    assert elapsed < 2 + 10  # with the process's start and end (~20 s without a limit)
    store = Store.open(tmp_path / "x.db")
    try:
        row = store.run(result.run_id)
        assert row is not None
        took = datetime.fromisoformat(row["finished_at"]) - datetime.fromisoformat(
            row["started_at"]
        )
        assert took.total_seconds() <= 2 + 3
        assert not store.events(kind="fetch_failed")  # what was not fetched is not a failure
    finally:
        store.close()


# -- progress --------------------------------------------------------------------------------


def test_progress_arrives_while_the_crawl_runs(tmp_path: Path) -> None:
    sites = world.build_world(tmp_path / "w", 2, sizes=[12, 2], recorded_every=0)
    updates: list[dict[str, Any]] = []
    with world.serving(sites, latency=0.1):
        run_crawls([SiteCrawl(s.name) for s in sites], db_path=tmp_path / "x.db",
                   profiles=world.profiles(sites), on_progress=updates.append)  # fmt: skip
    big = [u for u in updates if u.get("site") == sites[0].name]
    assert big[0]["state"] == "running" and big[-1]["state"] == "done"
    pages = [u["pages"] for u in big if u["state"] == "running" and "pages" in u]
    assert len(set(pages)) >= 3 and pages == sorted(pages)  # counts as they grow
    assert big[-1]["new"] == 12 and big[-1]["status"] == "ok"


def test_live_lines_one_per_site_and_a_line_per_site_in_a_log() -> None:
    line = progress_line("zjsjw", {"state": "running", "pages": 12, "new": 3, "changed": 1,
                                   "failed": 2, "blocked": 1, "seconds": 4})  # fmt: skip
    assert line.split() == ["zjsjw", "crawling", "12", "pages", "3", "new", "1", "changed",
                            "3", "failed", "4s"]  # fmt: skip
    out = io.StringIO()
    live = LiveProgress(["a", "b"], out, live=True)
    live.start("crawling 2 sites …")
    live.update({"site": "a", "state": "running", "pages": 1})
    live.update({"site": "a", "state": "done", "pages": 2, "status": "ok"})
    text = out.getvalue()
    assert "\x1b[2F" in text  # the two lines are redrawn in place
    assert text.rsplit("\x1b[J", 1)[1].splitlines()[0].split()[:3] == ["a", "done", "2"]
    log = io.StringIO()
    plain = LiveProgress(["a", "b"], log)
    plain.update({"site": "b", "state": "running", "pages": 1})
    plain.update({"site": "b", "state": "done", "pages": 0, "status": "failed", "failed": 1})
    assert log.getvalue().split()[:2] == ["b", "failed"] and "\x1b" not in log.getvalue()


def test_the_whole_crawl_line_adds_up_what_every_site_said(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LINES", "24")
    names = [f"s{i:04d}" for i in range(50)]
    out = io.StringIO()
    live = LiveProgress(names, out, live=True)
    assert not live.per_site  # more sites than a terminal has lines: one line for all
    for i, name in enumerate(names):
        live.update({"site": name, "state": "running", "pages": 1})
        if i % 2:
            live.update({"site": name, "state": "running", "pages": 3, "new": 2, "failed": 1})
        if i % 5 == 0:
            live.update({"site": name, "state": "done", "pages": 4, "new": 1, "changed": 1,
                         "status": "ok"})  # fmt: skip
    # 10 done (4 pages, 1 new each), 20 running at 3 pages and 2 new, 20 at 1 page; a
    # message keeps what earlier ones said (every odd site's failure stays)
    line = live.total_line(now=live.started + 7)
    assert line == "10/50 sites done, 40 crawling: 120 pages, 50 new, 10 changed, 25 failed, 7s"
    live.update({"site": "s0001", "state": "done", "pages": 3, "new": 2, "failed": 0})
    line = live.total_line(now=live.started)
    assert line == "11/50 sites done, 39 crawling: 120 pages, 50 new, 10 changed, 24 failed, 0s"
    summed = {k: sum(int(p.get(k, 0)) for p in live.state.values()) for k in ("pages", "failed")}
    assert summed == {"pages": 120, "failed": 24}


def test_an_overdue_run_is_found_among_the_running_ones() -> None:
    from crawler.run import OVERDUE_GRACE, _overdue

    limits = {1: 10.0, 2: 60.0, 3: 5.0}
    timed = {1: 100.0, 2: 100.0}  # run 3 has ended: no longer timed
    assert _overdue(timed, limits, now=100.0 + 10 + OVERDUE_GRACE - 0.1) is None
    assert _overdue(timed, limits, now=100.0 + 10 + OVERDUE_GRACE + 0.1) == 1
    assert _overdue({2: 100.0}, limits, now=100.0 + 59 + OVERDUE_GRACE) is None
    assert _overdue({}, limits, now=1e9) is None


def test_scrapy_looks_at_a_signature_once_and_sees_the_same() -> None:
    import inspect

    from scrapy.utils import python as scrapy_python
    from scrapy.utils.deprecate import argument_is_required

    from crawler.run import cache_scrapy_signatures

    class Middleware:
        def old(self, request: Any, spider: Any) -> None: ...

        def new(self, request: Any, spider: Any = None) -> None: ...

    cache_scrapy_signatures()
    cache_scrapy_signatures()  # twice: still one cache
    first, second = Middleware(), Middleware()
    assert argument_is_required(first.old, "spider") and argument_is_required(second.old, "spider")
    assert not argument_is_required(first.new, "spider")
    for func in (first.old, Middleware.old, second.new, len):
        assert scrapy_python._signature(func) == inspect.signature(func)
    # one look per function, whichever instance it is bound to
    assert scrapy_python._signature(first.old) is scrapy_python._signature(second.old)
    assert scrapy_python._signature(first.old) is not scrapy_python._signature(Middleware.old)

    # a function made per crawler (a closure over it) is looked at, never kept: keeping
    # it kept every crawler of a 3,000-site crawl alive (485 MB)
    class Crawler:
        pass

    def made_for(crawler: Crawler) -> Any:
        def open_spider(spider: Any = None) -> Crawler:
            return crawler

        return open_spider

    crawler = Crawler()
    gone = weakref.ref(crawler)
    func = made_for(crawler)
    assert scrapy_python._signature(func) == inspect.signature(func)
    del crawler, func
    gc.collect()
    assert gone() is None


# -- pure routing rules ----------------------------------------------------------------------


def test_the_pages_own_time_beats_the_list_date() -> None:
    lines = ["2023-07-03 16:30 浙江省纪委省监委网站", "正文"]
    assert publish_time(None, lines, "2023-07-03") == ("2023-07-03T16:30:00+08:00", "date_line")
    assert publish_time(None, ["正文"], "2023-07-03") == ("2023-07-03T00:00:00+08:00", "list")
    assert publish_time(None, ["正文"], None) == (None, None)
    when = datetime(2023, 7, 3, 9, 2).astimezone()
    assert publish_time(when, lines, "2023-07-01") == (when.isoformat(), None)


def test_recheck_policy_is_a_pure_function() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    rule = {"now": now, "full": False, "recent_days": 90, "old_recheck_days": 7}
    recent = {"published_at": "2026-11-01T00:00:00+08:00"}
    old = {"published_at": "2020-01-01T00:00:00+08:00", "last_checked": "2026-11-30T00:00:00+00:00"}
    stale = {**old, "last_checked": "2026-11-01T00:00:00+00:00"}
    assert is_due(recent, **rule) and not is_due(old, **rule) and is_due(stale, **rule)
    assert is_due(old, **{**rule, "full": True})


def test_known_notices_are_read_without_creating_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    assert load_known(missing, "zjsjw") == {}
    assert not missing.exists()
    foreign = tmp_path / "foreign.db"
    import sqlite3

    sqlite3.connect(foreign).execute("create table t (x)").connection.commit()
    before = foreign.read_bytes()
    assert load_known(foreign, "zjsjw") == {}
    assert foreign.read_bytes() == before


def test_site_broken_is_checked_by_the_extension(serve, tmp_path: Path) -> None:
    site = serve("zjsjw")
    db = tmp_path / "x.db"
    url = site.url(ZJ_START)
    run_crawls([SiteCrawl("zjsjw", start_url=url)], db_path=db)
    listing = site.root / ZJ_START.lstrip("/")
    listing.write_text("<html><body><div class='new-layout'>改版</div></body></html>", "utf-8")
    run_crawls([SiteCrawl("zjsjw", start_url=url)], db_path=db)
    store = Store.open(db)
    try:
        (event,) = store.events(kind="site_broken")
        assert "no notice links" in event["detail"]["reason"] and event["run_id"] == 2
    finally:
        store.close()
    assert broken_reason({"xunshi/list_pages": 1}, has_notices=False) is None


def test_sites_whose_cron_fires_together_are_one_job(tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    import scheduler

    config = scheduler.Config(
        db=tmp_path / "x.db", timezone=ZoneInfo("Asia/Shanghai"),
        sites=(scheduler.SiteSchedule("zjsjw", "0 6 * * *"),
               scheduler.SiteSchedule("shjjjc", "0 6 * * *"),
               scheduler.SiteSchedule("ccdi", "0 7 * * *")),
    )  # fmt: skip
    jobs = {job.id: job for job in scheduler.CrawlScheduler(config).build().get_jobs()}
    assert set(jobs) == {"crawl-zjsjw+shjjjc", "crawl-ccdi"}
    assert [s.site for s in jobs["crawl-zjsjw+shjjjc"].args[0]] == ["zjsjw", "shjjjc"]
