"""Issue 12: several crawl workers over scrapy-redis against a real redis-server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import scrapy
from scrapy.utils.test import get_crawler

from crawler.sites import SiteProfile
from crawler.spiders.notices import spider_class
from tests.redisserver import redis_server


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path / "redis") as url:
        yield url


def _scheduler(url: str, spider_cls: type) -> tuple[object, scrapy.Spider]:
    from scrapy_redis.scheduler import Scheduler

    settings = {
        "REDIS_URL": url,
        "SCHEDULER_PERSIST": True,
        "SCHEDULER_QUEUE_KEY": "t:%(spider)s:requests",
        "SCHEDULER_DUPEFILTER_KEY": "t:%(spider)s:dupefilter",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
    }
    crawler = get_crawler(spider_cls, settings)
    spider = spider_cls.from_crawler(crawler)
    crawler.spider = spider
    scheduler = Scheduler.from_crawler(crawler)
    scheduler.open(spider)
    return scheduler, spider


def test_scrapy_redis_shares_frontier_and_dupefilter_between_processes(redis_url: str) -> None:
    """scrapy-redis 0.9.1 with Scrapy 2.19: two schedulers (two workers) on one Redis see
    one frontier and one duplicate filter; a request comes back with our spider's callback."""
    profile = SiteProfile(name="rtest", label="t", province=None, base_url="http://127.0.0.1:9/",
                          start_paths=("list/",), article_path=r"/a/")  # fmt: skip
    cls = spider_class(profile)
    one, spider_one = _scheduler(redis_url, cls)
    two, spider_two = _scheduler(redis_url, cls)
    first = spider_one._article_request("http://127.0.0.1:9/a/1.html", "notice", "标题")
    assert one.enqueue_request(first) is True
    # the same page again, from the other worker: the shared filter drops it
    again = spider_two._article_request("http://127.0.0.1:9/a/1.html", "notice", "标题")
    assert two.enqueue_request(again) is False
    assert one.has_pending_requests() and two.has_pending_requests()
    got = two.next_request()
    assert got is not None and got.url == first.url
    assert got.callback == spider_two.parse_article and got.meta["verdict"] == "notice"
    assert one.next_request() is None and not one.has_pending_requests()
    assert redis.Redis.from_url(redis_url).scard("t:rtest:dupefilter") == 1


# -- the local multi-site world, crawled by three workers -----------------------------------

N_SITES = 6
LATENCY = 0.05


@pytest.fixture(scope="module")
def world_sites(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests import world

    folder = tmp_path_factory.mktemp("redis-world")
    sizes = [24] + [3 + i % 3 for i in range(1, N_SITES)]
    built = world.build_world(folder, N_SITES, sizes=sizes, first_address=100)
    with world.serving(built, latency=LATENCY) as served:
        yield served


@pytest.fixture(scope="module")
def one_process(world_sites: list, tmp_path_factory: pytest.TempPathFactory) -> dict:  # type: ignore[type-arg]
    """Each site's counts when the world is crawled in one process (crawler.run)."""
    from crawler.run import SiteCrawl, run_crawls
    from tests import world

    db = tmp_path_factory.mktemp("one-process") / "one.db"
    results = run_crawls([SiteCrawl(s.name) for s in world_sites], db_path=db,
                         profiles=world.profiles(world_sites))  # fmt: skip
    return {r.site: r.counts for r in results}


def _check_world(sites: list, db: Path, results: list, one_process: dict | None = None) -> None:  # type: ignore[type-arg]
    from tests.test_world import check_every_notice_once

    assert [r.site for r in results] == [s.name for s in sites]
    if one_process is not None:
        # the same pages and notices counted as in one process, whatever the workers did
        assert {r.site: r.counts for r in results} == one_process
    # every notice once with its exact text; no host ever two requests in flight, across workers
    check_every_notice_once(sites, db, results)


def test_three_workers_crawl_the_world(world_sites: list, tmp_path: Path, redis_url: str) -> None:
    from crawler.distributed import run_distributed
    from crawler.run import SiteCrawl
    from tests import world

    for site in world_sites:
        site.stats.peak = 0
    db = tmp_path / "w.db"
    # half the world given by its home page: the list is found by discovery in a worker
    results = run_distributed(
        [SiteCrawl(s.name) for s in world_sites], db_path=db, redis_url=redis_url, workers=3,
        profiles=world.profiles(world_sites, half_by_home=True),
    )  # fmt: skip
    _check_world(world_sites, db, results)
    # the crawl's keys are gone from Redis
    assert redis.Redis.from_url(redis_url).keys("xunshi:*") == []


def test_redis_unreachable_at_start_is_one_line_and_nothing_stored(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cli import main

    db = tmp_path / "x.db"
    url = f"unix://{tmp_path / 'no-redis.sock'}"
    runner = CliRunner()
    result = runner.invoke(
        main, ["crawl", "zjsjw", "--db", str(db), "--redis", url, "--workers", "2"]
    )
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: cannot reach Redis at {url}"), lines
    assert not db.exists()
    # $XUNSHI_REDIS_URL works as --redis; `xunshi worker` says the same
    result = runner.invoke(main, ["worker"], env={"XUNSHI_REDIS_URL": url})
    assert result.exit_code != 0 and "cannot reach Redis" in result.output
    result = runner.invoke(main, ["crawl", "zjsjw", "--db", str(db)], env={"XUNSHI_REDIS_URL": url})
    assert result.exit_code != 0 and "cannot reach Redis" in result.output
    result = runner.invoke(main, ["crawl", "zjsjw", "--db", str(db), "--workers", "2"])
    assert result.exit_code == 2 and "--workers needs --redis" in result.output


def _workers_of(pid: int) -> list[int]:
    """The worker processes this process started (their command line says ``worker``)."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"crawler.worker" in cmdline:
            out.append(int(proc.name))
    return out


def test_a_worker_killed_partway_loses_nothing(
    world_sites: list,
    tmp_path: Path,
    redis_url: str,
    one_process: dict,  # type: ignore[type-arg]
) -> None:
    import os
    import signal

    from crawler.distributed import run_distributed
    from crawler.run import SiteCrawl
    from tests import world

    for site in world_sites:
        site.stats.peak = 0
    biggest = world_sites[0]
    killed: list[int] = []

    client = redis.Redis.from_url(redis_url)

    def on_progress(update: dict) -> None:
        # partway through the biggest site: SIGKILL a worker that holds taken requests
        if killed or update["site"] != biggest.name or update.get("new", 0) < 3:
            return
        workers = _workers_of(os.getpid())
        assert len(workers) == 3, workers
        for name in client.scan_iter(match="xunshi:*:leased:*"):
            pid = int(name.decode().rsplit(":", 1)[1].split("-")[-2])
            if client.llen(name) and pid in workers:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return

    db = tmp_path / "k.db"
    results = run_distributed(
        [SiteCrawl(s.name) for s in world_sites], db_path=db, redis_url=redis_url, workers=3,
        profiles=world.profiles(world_sites), on_progress=on_progress,
    )  # fmt: skip
    assert killed, "no worker was killed: the crawl ended too soon for this test"
    _check_world(world_sites, db, results, one_process)
    # the others saw it stop answering and put back what it had taken
    log = results[0].log_path.read_text(encoding="utf-8")
    line = next(x for x in log.splitlines() if f"-{killed[0]}-" in x and "stopped answering" in x)
    held = re.search(r"stopped answering: (\d+) requests back in the frontier", line)
    assert held and int(held.group(1)) >= 1, line


def test_redis_lost_mid_crawl_fails_the_runs_and_damages_nothing(
    world_sites: list, tmp_path: Path, redis_url: str
) -> None:
    import sqlite3

    from crawler.distributed import run_distributed
    from crawler.run import SiteCrawl
    from tests import world
    from tests.test_world import _stored

    biggest = world_sites[0]
    lost: list[bool] = []

    def on_progress(update: dict) -> None:
        if not lost and update["site"] == biggest.name and update.get("new", 0) >= 3:
            lost.append(True)
            redis.Redis.from_url(redis_url).shutdown(nosave=True)

    db = tmp_path / "l.db"
    results = run_distributed(
        [SiteCrawl(s.name) for s in world_sites], db_path=db, redis_url=redis_url, workers=2,
        profiles=world.profiles(world_sites), on_progress=on_progress,
    )  # fmt: skip
    assert lost
    for result in results:
        assert result.status == "failed" and "lost the connection to Redis" in (result.error or "")
    conn = sqlite3.connect(db)
    assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
    conn.close()
    # what was stored is whole: each notice with its exact text, at least those before the loss
    stored = _stored(db)
    assert len(stored.get(biggest.name, [])) >= 3
    for site in world_sites:
        for url, text in stored.get(site.name, []):
            assert site.expected[url.split(site.base, 1)[1]] == text


def test_cli_crawl_with_a_worker_started_elsewhere(serve, tmp_path: Path, redis_url: str) -> None:
    """`xunshi worker` (another machine) + `xunshi crawl --redis --workers 0` (the writer):
    the same notices, run and report as a crawl in one process."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT, xunshi
    from tests.test_sites_golden import MANIFEST
    from tests.test_world import _stored

    site = serve("zjsjw")
    m = MANIFEST["zjsjw"]
    start = site.url(m["start"])
    one = tmp_path / "one.db"
    xunshi("crawl", "zjsjw", "--db", str(one), "--start-url", start)
    worker = subprocess.Popen(
        [sys.executable, "-m", "cli", "worker", "--redis", redis_url, "--once"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its crawl process too is stopped if the test fails
    )  # fmt: skip
    try:
        db = tmp_path / "shared" / "x.db"
        db.parent.mkdir()
        proc = xunshi("crawl", "zjsjw", "--db", str(db), "--start-url", start, "--json",
                      "--workers", "0", env={"XUNSHI_REDIS_URL": redis_url},
                      timeout=180)  # fmt: skip
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            import os
            import signal

            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    out = worker.stdout.read() if worker.stdout else ""
    assert "joining crawl" in out and "Traceback" not in out + proc.stderr
    assert f"waiting for workers: start `xunshi worker --redis {redis_url}`" in proc.stderr
    row = json.loads(proc.stdout.splitlines()[0])
    assert row["status"] == "ok" and row["new"] == len(m["notices"]) and row["pages"] > 0, row
    assert sorted(_stored(db)["zjsjw"]) == sorted(_stored(one)["zjsjw"])
    assert list((db.parent / "reports").glob(f"run-{row['run_id']}-zjsjw.md"))


# -- the store writer: batches, site ends, health, delisting, time limits (issue 12's gaps) --


def test_writer_records_a_batch_in_one_commit_and_loses_only_the_failing_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages popped from Redis are recorded in ONE write transaction, each in its own
    SAVEPOINT: a notice that fails after the store wrote part of it leaves nothing behind,
    and the others of the batch are stored."""
    from crawler.distributed import _Run, _Writer, _WriterCrawler, writer_settings
    from crawler.pipelines import StorePipeline
    from crawler.run import SiteCrawl
    from store.notices import Store
    from tests.test_store import make_notice

    db = tmp_path / "b.db"
    store = Store.open(db)
    run_id = store.start_run("zjsjw")
    pipeline = StorePipeline(_WriterCrawler(run_id, str(db), None))  # type: ignore[arg-type]
    pipeline.store = store
    runs = {run_id: _Run(SiteCrawl("zjsjw"), run_id, pipeline)}
    writer = _Writer(None, "c", store, runs, tmp_path / "w.log", None, writer_settings())
    base = "http://www.zjsjw.gov.cn/a/202306/"
    urls = [f"{base}t2023062{i}_{i}_ext.html" for i in range(5)]
    bad = urls[2]
    record = Store.record

    def flaky(self: Store, notice: object, run: int | None = None) -> object:
        done = record(self, notice, run)  # type: ignore[arg-type]
        if notice.url == bad:  # type: ignore[attr-defined]
            raise RuntimeError("facts could not be read")
        return done

    monkeypatch.setattr(Store, "record", flaky)
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    batch = [{"kind": "item", "run_id": run_id,
              "item": make_notice(f"第一段\n给予党纪处分{i}人次", url=url)}
             for i, url in enumerate(urls)]  # fmt: skip
    writer.write_batch(batch)
    store.db.conn.set_trace_callback(None)
    assert [s for s in statements if s.strip().upper() == "COMMIT"] == ["COMMIT"]
    stored = {row["url"] for row in store.db.query("select url from notices")}
    assert stored == set(urls) - {bad}
    assert store.db.table("versions").count == 4
    assert pipeline.counts["new"] == 4 and writer.store_error is None
    assert f"not recorded: item {bad}: RuntimeError: facts could not be read" in (
        tmp_path / "w.log"
    ).read_text(encoding="utf-8")
    # the same notice sent again (its worker was killed before returning the lease) is
    # not counted twice
    writer.write_batch(batch[:1])
    assert pipeline.counts["new"] == 4 and pipeline.counts["unchanged"] == 0
    store.close()


def test_site_health_is_checked_by_the_writer(
    serve, tmp_path: Path, redis_url: str, capfd: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    """site_broken / site_quiet at the end of a site's distributed run, as in one process
    (crawler.extensions.SiteHealth), with the crawl's settings."""
    import json

    from crawler.distributed import run_distributed
    from crawler.run import SiteCrawl
    from store.notices import Store
    from tests.test_onecrawl import ZJ_START

    site = serve("zjsjw")
    db = tmp_path / "h.db"
    crawl = [SiteCrawl("zjsjw", start_url=site.url(ZJ_START))]
    # the recorded notices are from 2023: with a 1-day threshold the site is quiet
    settings = {"XUNSHI_QUIET_DAYS": json.dumps({"zjsjw": 1})}
    (first,) = run_distributed(crawl, db_path=db, redis_url=redis_url, workers=1, settings=settings)
    assert first.status == "ok" and first.counts["new"] > 0
    # what the writer logs goes to the crawl's log, not over the live progress lines
    assert "site quiet: zjsjw" in first.log_path.read_text(encoding="utf-8")
    assert "site quiet" not in capfd.readouterr().err
    listing = site.root / ZJ_START.lstrip("/")
    listing.write_text("<html><body><div class='new-layout'>改版</div></body></html>", "utf-8")
    (second,) = run_distributed(crawl, db_path=db, redis_url=redis_url, workers=1)
    store = Store.open(db)
    try:
        (quiet,) = store.events(kind="site_quiet")
        assert quiet["run_id"] == first.run_id
        (broken,) = store.events(kind="site_broken")
        assert broken["run_id"] == second.run_id and "no notice links" in broken["detail"]["reason"]
    finally:
        store.close()


def test_a_full_distributed_walk_reports_a_notice_gone_from_the_lists(
    serve, tmp_path: Path, redis_url: str
) -> None:  # type: ignore[no-untyped-def]
    """Delisting (`removed`) needs every list page: two workers share what they saw."""
    from datetime import date

    from crawler.distributed import run_distributed
    from crawler.run import SiteCrawl
    from store.notices import Store
    from tests.sitegen import COLUMN, generate_site, write_lists

    root = tmp_path / "gen"
    notices = generate_site(root, 25, start=date(2020, 1, 1), paragraphs=2)
    site = serve(root)
    db = tmp_path / "d.db"
    start = site.url(COLUMN + "index.shtml")

    def crawl(full: bool = False):  # type: ignore[no-untyped-def]
        (result,) = run_distributed([SiteCrawl("zjsjw", start_url=start, full=full)],
                                    db_path=db, redis_url=redis_url, workers=2)  # fmt: skip
        assert result.status == "ok", result
        return result

    assert crawl().counts["new"] == 25
    gone = notices[3]  # on the last list page
    write_lists(root, [n for n in notices if n is not gone])
    incremental = crawl()
    store = Store.open(db)
    assert store.events(run_id=incremental.run_id, kind="removed") == []
    store.close()
    site.log.clear()
    full = crawl(full=True)
    store = Store.open(db)
    try:
        (event,) = store.events(run_id=full.run_id, kind="removed")
        assert event["url"] == site.url(gone.path)
        assert event["detail"]["reason"] == "no longer on the site's list pages"
        assert store.find_notice(site.url(gone.path))["removed_at"]
    finally:
        store.close()
    # every list page walked, every listed notice checked, the delisted one not fetched
    assert len([p for p in site.paths() if p.startswith(COLUMN + "index")]) == 3
    assert len([p for p in site.paths() if p.endswith("_ext.html")]) == 24
    assert gone.path not in site.paths()
    assert full.counts["unchanged"] == 24


def _kill_site_owners(client: redis.Redis, killed: list[int]) -> None:
    """SIGKILL each of this test's local workers that owns a site of the crawl in Redis."""
    import os
    import signal

    workers = _workers_of(os.getpid())
    for name in client.scan_iter(match="xunshi:*:owner"):
        holder = client.get(name)
        pid = int(holder.decode().split("-")[-2]) if holder else 0
        if pid in workers:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)


def test_a_site_over_its_time_limit_is_stopped_even_when_its_worker_died(
    serve, tmp_path: Path, redis_url: str
) -> None:  # type: ignore[no-untyped-def]
    import time
    from datetime import date

    from crawler.distributed import STOP_GRACE, run_distributed
    from crawler.run import SiteCrawl
    from tests.sitegen import COLUMN, generate_site

    root = tmp_path / "slow"
    notices = generate_site(root, 40, start=date(2020, 1, 1), paragraphs=2)
    site = serve(root)

    def slow(req: object) -> None:
        time.sleep(0.4)  # 40 articles: 16 s, far over the limit

    for n in notices:
        site.overrides[n.path] = slow
    client = redis.Redis.from_url(redis_url)
    killed: list[int] = []

    def on_progress(update: dict) -> None:
        if killed or update.get("new", 0) < 2:
            return
        _kill_site_owners(client, killed)

    limit = 4.0
    started = time.monotonic()
    (result,) = run_distributed(
        [SiteCrawl("zjsjw", start_url=site.url(COLUMN + "index.shtml"), timeout=limit)],
        db_path=tmp_path / "t.db", redis_url=redis_url, workers=2, on_progress=on_progress,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert killed, "the worker crawling the site was not killed"
    assert result.status == "interrupted", result
    assert result.error == f"time limit of {limit:g} s reached; crawl stopped"
    assert 2 <= result.counts["new"] < len(notices)
    assert seconds < limit + STOP_GRACE + 10, seconds
    assert client.keys("xunshi:*") == []


def test_workers_0_says_it_waits_for_workers_and_gives_up(tmp_path: Path, redis_url: str) -> None:
    from click.testing import CliRunner

    from cli import main
    from store.notices import Store

    db = tmp_path / "z.db"
    result = CliRunner().invoke(main, ["crawl", "zjsjw", "--db", str(db), "--redis", redis_url,
                                       "--workers", "0", "--join-timeout", "1.5"])  # fmt: skip
    assert result.exit_code == 1, result.output
    waiting = [x for x in result.output.splitlines() if x.startswith("waiting for workers")]
    assert waiting and f"start `xunshi worker --redis {redis_url}`" in waiting[0], result.output
    assert waiting[0].endswith("; giving up after 1.5 s")
    assert f"no worker joined in 1.5 s: start `xunshi worker --redis {redis_url}`" in result.output
    assert "Traceback" not in result.output
    store = Store.open(db)
    try:
        (run,) = store.runs()
        assert run["status"] == "failed" and "no worker joined" in run["error"]
    finally:
        store.close()
    assert redis.Redis.from_url(redis_url).keys("xunshi:*") == []


def test_workers_start_at_the_kept_list_without_opening_the_database(
    tmp_path: Path, redis_url: str
) -> None:
    """The writer sends each site's kept 巡视整改 list (found by discovery in an earlier
    crawl) with the plan: a worker never opens the database, and starts there."""
    from crawler.distributed import run_distributed
    from crawler.run import SiteCrawl
    from tests import world

    hook = tmp_path / "hook"
    hook.mkdir()
    opened = tmp_path / "opened.txt"
    # in every worker process: note any SQLite database it opens
    (hook / "sitecustomize.py").write_text(
        "import sqlite3\n"
        "_connect = sqlite3.connect\n"
        "def connect(*args, **kwargs):\n"
        f"    with open({str(opened)!r}, 'a') as f:\n"
        "        f.write(repr(args[:1]) + '\\n')\n"
        "    return _connect(*args, **kwargs)\n"
        "sqlite3.connect = connect\n",
        encoding="utf-8",
    )
    sites = world.build_world(tmp_path / "world", 1, sizes=[4], first_address=140)
    with world.serving(sites, latency=0) as served:
        (site,) = served
        profiles = {site.name: site.profile(by_home=True)}
        db = tmp_path / "k.db"

        def crawl():  # type: ignore[no-untyped-def]
            (result,) = run_distributed(
                [SiteCrawl(site.name)], db_path=db, redis_url=redis_url, workers=1,
                profiles=profiles, worker_env={"PYTHONPATH": str(hook)},
            )  # fmt: skip
            assert result.status == "ok", result
            return result

        assert crawl().counts["new"] == 4
        assert "/index.html" in site.stats.paths  # found from the home page
        site.stats.paths.clear()
        crawl()
        assert "/index.html" not in site.stats.paths, site.stats.paths
        assert site.start_path in site.stats.paths
    assert not opened.exists(), opened.read_text()


def test_a_distributed_incremental_crawl_rechecks_what_one_process_does(
    serve, tmp_path: Path, redis_url: str
) -> None:  # type: ignore[no-untyped-def]
    """After the list walk (here: one page, all known), the due stored notices no list page
    showed are re-checked once, with conditional requests, as in one process."""
    from datetime import date, timedelta

    from crawler.distributed import run_distributed
    from crawler.run import SiteCrawl, run_crawls
    from tests.sitegen import COLUMN, generate_site

    root = tmp_path / "gen"
    today = date.today()
    # the 10 recent notices are listed last (page 3): only the re-check step reaches them
    dates = [today - timedelta(days=10 - i) for i in range(10)] + [
        today - timedelta(days=400 - i) for i in range(20)
    ]
    generate_site(root, 30, paragraphs=2, dates=dates)
    site = serve(root)
    crawl = [SiteCrawl("zjsjw", start_url=site.url(COLUMN + "index.shtml"))]
    one, many = tmp_path / "one.db", tmp_path / "many.db"
    (first,) = run_crawls(crawl, db_path=one)
    (first_d,) = run_distributed(crawl, db_path=many, redis_url=redis_url, workers=2)
    assert first.counts["new"] == first_d.counts["new"] == 30
    site.log.clear()
    (second,) = run_crawls(crawl, db_path=one)
    one_paths = sorted(site.paths())
    site.log.clear()
    (second_d,) = run_distributed(crawl, db_path=many, redis_url=redis_url, workers=2)
    # each worker process reads robots.txt itself before its first request to the host:
    # once per worker that took one of the site's requests, the rest exactly as one process
    many_paths = sorted(site.paths())
    assert 1 <= many_paths.count("/robots.txt") <= 2 and one_paths.count("/robots.txt") == 1
    assert [p for p in many_paths if p != "/robots.txt"] == [
        p for p in one_paths if p != "/robots.txt"
    ]
    articles = [r for r in site.log if r.path.endswith("_ext.html")]
    assert len(articles) == 10 and all("if-none-match" in r.headers for r in articles)
    assert second_d.counts == second.counts and second.counts["not_modified"] == 10


def test_delisting_after_the_worker_walking_the_lists_was_killed(
    serve, tmp_path: Path, redis_url: str
) -> None:  # type: ignore[no-untyped-def]
    """The worker that walked the first list page is SIGKILLed; another walks the rest.
    What the dead one requested is in Redis: only the notice really gone is `removed`."""
    import time
    from datetime import date

    from crawler.distributed import run_distributed
    from crawler.run import SiteCrawl
    from store.notices import Store
    from tests.sitegen import COLUMN, generate_site, write_lists

    root = tmp_path / "gen"
    notices = generate_site(root, 25, start=date(2020, 1, 1), paragraphs=2)
    site = serve(root)
    db = tmp_path / "d.db"
    crawl = [SiteCrawl("zjsjw", start_url=site.url(COLUMN + "index.shtml"), full=True)]
    (first,) = run_distributed(crawl, db_path=db, redis_url=redis_url, workers=2)
    assert first.counts["new"] == 25
    gone = notices[3]
    write_lists(root, [n for n in notices if n is not gone])

    def slow(req: object) -> None:
        time.sleep(0.3)

    for n in notices:
        site.overrides[n.path] = slow
    client = redis.Redis.from_url(redis_url)
    killed: list[int] = []

    def on_progress(update: dict) -> None:
        # partway through the first list page's notices: kill the worker walking the site
        if killed or update.get("unchanged", 0) < 2:
            return
        _kill_site_owners(client, killed)

    (full,) = run_distributed(crawl, db_path=db, redis_url=redis_url, workers=2,
                              on_progress=on_progress)  # fmt: skip
    assert killed and full.status == "ok", full
    assert full.counts["unchanged"] == 24
    store = Store.open(db)
    try:
        removed = store.events(run_id=full.run_id, kind="removed")
        assert [e["url"] for e in removed] == [site.url(gone.path)]
    finally:
        store.close()


def test_workers_stop_when_the_store_writer_is_killed(
    serve, tmp_path: Path, redis_url: str
) -> None:  # type: ignore[no-untyped-def]
    """The writer (`xunshi crawl --redis`) SIGKILLed mid-crawl: its workers do not crawl on
    for nobody; they stop once it has not answered for WRITER_SECONDS."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from datetime import date

    from crawler.frontier import WRITER_SECONDS
    from tests.conftest import ROOT
    from tests.sitegen import COLUMN, generate_site

    root = tmp_path / "gen"
    notices = generate_site(root, 40, start=date(2020, 1, 1), paragraphs=2)
    site = serve(root)

    def slow(req: object) -> None:
        time.sleep(1.0)  # 40 articles: 40 s, longer than the workers may wait

    for n in notices:
        site.overrides[n.path] = slow
    writer = subprocess.Popen(
        [sys.executable, "-m", "cli", "crawl", "zjsjw", "--db", str(tmp_path / "w.db"),
         "--start-url", site.url(COLUMN + "index.shtml"), "--redis", redis_url, "--workers", "1"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not any(p.endswith("_ext.html") for p in site.paths()):
            assert time.monotonic() < deadline and writer.poll() is None, "the crawl did not start"
            time.sleep(0.1)
        workers = _workers_of(writer.pid)
        assert len(workers) == 1, workers
        writer.kill()
        writer.wait()
        killed = time.monotonic()
        while (
            Path(f"/proc/{workers[0]}").exists() and time.monotonic() - killed < WRITER_SECONDS + 30
        ):
            time.sleep(0.2)
        gone = not Path(f"/proc/{workers[0]}").exists() or (
            Path(f"/proc/{workers[0]}/stat").read_text().split(") ", 1)[1].startswith("Z")
        )
        assert gone, (
            f"the worker still runs {time.monotonic() - killed:.0f} s after its writer died"
        )
        assert len([p for p in site.paths() if p.endswith("_ext.html")]) < len(notices)
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(writer.pid, signal.SIGKILL)
        for pid in workers:
            with __import__("contextlib").suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_lease_is_returned_only_once_its_items_have_left_the_pipelines(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The engine runs items through the pipelines in parallel tasks: the callback's output
    can be exhausted while an item is not yet in Redis. The lease waits for that item (a
    worker killed in between must leave the request to the others, not lose the notice)."""
    from scrapy import Request
    from scrapy.http import HtmlResponse
    from twisted.internet import reactor

    from crawler.frontier import LeaseRelease

    monkeypatch.setattr(reactor, "callLater", lambda _delay, f, *a: f(*a))
    released: list = []  # type: ignore[type-arg]
    mw = LeaseRelease.__new__(LeaseRelease)
    mw.pending = {}
    mw._release = released.append  # type: ignore[method-assign]

    def response(path: str) -> HtmlResponse:
        url = f"http://127.0.0.1/{path}"
        return HtmlResponse(url, body=b"<html></html>", request=Request(url))

    # a list page: requests only, returned when its output is exhausted
    page = response("list")
    assert len(list(mw.process_spider_output(page, [Request("http://127.0.0.1/b")]))) == 1
    assert released == [page]
    # an article whose item is still in the pipelines when its output ends: held
    article, item = response("a"), {"title": "x"}
    assert list(mw.process_spider_output(article, [item])) == [item]
    assert released == [page]
    mw._item_done(item, response=article)
    assert released == [page, article] and mw.pending == {}
    # an item through the pipelines before the output ended: returned at the output's end
    other, item2 = response("c"), {"title": "y"}
    gen = mw.process_spider_output(other, [item2])
    assert next(gen) is item2
    mw._item_done(item2, response=other)
    assert released == [page, article]
    assert list(gen) == [] and released == [page, article, other]
