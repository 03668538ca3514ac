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


def _check_world(sites: list, db: Path, results: list) -> None:
    from tests.test_world import _stored

    assert [r.site for r in results] == [s.name for s in sites]
    for site, result in zip(sites, results, strict=True):
        assert (result.status, result.counts["new"]) == ("ok", len(site.expected)), result
    stored = _stored(db)
    for site in sites:
        got = {url.split(site.base, 1)[1]: text for url, text in stored.get(site.name, [])}
        assert len(stored.get(site.name, [])) == len(site.expected), site.name
        assert got == site.expected, site.name
    # no host ever had two requests in flight, across the workers
    assert {s.name: s.stats.peak for s in sites} == {s.name: 1 for s in sites}


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
    world_sites: list, tmp_path: Path, redis_url: str
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
    _check_world(world_sites, db, results)
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
    )  # fmt: skip
    try:
        db = tmp_path / "shared" / "x.db"
        db.parent.mkdir()
        proc = xunshi("crawl", "zjsjw", "--db", str(db), "--start-url", start, "--json",
                      env={"XUNSHI_REDIS_URL": redis_url}, timeout=180)  # fmt: skip
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    out = worker.stdout.read() if worker.stdout else ""
    assert "joining crawl" in out and "Traceback" not in out + proc.stderr
    row = json.loads(proc.stdout.splitlines()[0])
    assert row["status"] == "ok" and row["new"] == len(m["notices"]) and row["pages"] > 0, row
    assert sorted(_stored(db)["zjsjw"]) == sorted(_stored(one)["zjsjw"])
    assert list((db.parent / "reports").glob(f"run-{row['run_id']}-zjsjw.md"))
