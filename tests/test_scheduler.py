"""The scheduler: fast triggers run real crawls of a local site, signals stop it cleanly,
every run is in the runs table, the config is checked and the example config stays valid."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.interval import IntervalTrigger

import scheduler
from crawler.run import CrawlResult
from store.deliver import ConfigError
from store.notices import Store
from tests.conftest import LocalSite
from tests.test_sites_golden import MANIFEST

ROOT = Path(__file__).resolve().parents[1]
START = MANIFEST["zjsjw"]["start"]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def write_config(
    tmp_path: Path, site: LocalSite | None, extra: str = "", cron: str = "0 0 1 1 *"
) -> Path:
    start = f'start_url = "{site.url(START)}"\n' if site else ""
    path = tmp_path / "xunshi.toml"
    path.write_text(
        f'db = "x.db"\ntime_limit = 60\n[sites.zjsjw]\ncron = "{cron}"\n{start}{extra}',
        encoding="utf-8",
    )
    return path


def runs(db: Path) -> list[dict]:
    store = Store.open(db)
    try:
        return list(store.db.table("runs").rows_where(order_by="id"))
    finally:
        store.close()


def test_fast_trigger_runs_two_crawls_then_stops(serve, tmp_path: Path) -> None:
    site = serve("zjsjw")
    events = tmp_path / "out" / "events.jsonl"
    config = scheduler.load_config(
        write_config(tmp_path, site, f'[[deliveries]]\ntype = "jsonl"\npath = "{events}"\n')
    )
    results: list[CrawlResult] = []

    def finished(result: CrawlResult) -> None:
        results.append(result)
        if len(results) == 2:
            crawls.request_stop()

    crawls = scheduler.CrawlScheduler(
        config,
        trigger_for=lambda site, tz: IntervalTrigger(seconds=1, timezone=tz),
        on_result=finished,
    )
    # A watchdog, so that a broken stop fails the test instead of hanging it.
    watchdog = threading.Timer(90, os.kill, (os.getpid(), signal.SIGTERM))
    watchdog.start()
    try:
        assert crawls.run_forever() == 0
    finally:
        watchdog.cancel()
    assert len(results) == 2
    rows = runs(tmp_path / "x.db")
    assert [(r["site"], r["status"]) for r in rows] == [("zjsjw", "ok"), ("zjsjw", "ok")]
    # the second, incremental run saw the list page show only stored notices
    assert [(r["new"], r["changed"]) for r in rows] == [(3, 0), (0, 0)]
    assert all(json.loads(r["options"])["by"] == "schedule" for r in rows)
    assert all(r["finished_at"] for r in rows)
    # each run was reported and its events delivered
    assert sorted(p.name for p in (tmp_path / "reports").glob("*.md")) == [
        "run-1-zjsjw.md", "run-2-zjsjw.md"]  # fmt: skip
    delivered = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    assert [e["kind"] for e in delivered].count("new_notice") == 3
    assert {e["run_id"] for e in delivered} == {1}  # the second run found nothing new


def test_jobs_have_one_instance_coalesce_and_a_grace_time(tmp_path: Path) -> None:
    config = scheduler.load_config(
        write_config(tmp_path, None, '[[deliveries]]\ntype = "csv"\npath = "n.csv"\n')
    )
    sched = scheduler.CrawlScheduler(config).build()
    jobs = {job.id: job for job in sched.get_jobs()}
    assert set(jobs) == {"crawl-zjsjw", "deliveries"}
    for job in jobs.values():
        assert (job.max_instances, job.coalesce, job.misfire_grace_time) == (1, True, 3600)


def test_sigterm_during_a_crawl_stops_it_and_records_it_interrupted(serve, tmp_path: Path) -> None:
    site = serve("zjsjw")
    asked, release = threading.Event(), threading.Event()

    def hold(request):  # the list page answers only once the test has sent SIGTERM
        asked.set()
        release.wait(30)

    site.overrides[START] = hold
    config = write_config(tmp_path, site)
    proc = subprocess.Popen(
        [sys.executable, "scheduler.py", "--config", str(config), "--once"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert asked.wait(60), "the crawl never asked for the list page"
        proc.send_signal(signal.SIGTERM)
    finally:
        release.set()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "SIGTERM received: stopping" in err and "Traceback" not in err
    [run] = runs(tmp_path / "x.db")
    assert (run["status"], run["finished_at"] is not None) == ("interrupted", True)
    assert json.loads(run["options"])["by"] == "once"


def test_sigterm_while_waiting_exits_cleanly(tmp_path: Path) -> None:
    config = write_config(tmp_path, None)
    proc = subprocess.Popen(
        [sys.executable, "scheduler.py", "--config", str(config)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:  # wait until it is up: it has said when zjsjw runs next
        lines.append(line)
        if "next zjsjw crawl: " in line:
            break
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(lines) + rest
    assert "scheduler stopped" in rest
    assert not runs(tmp_path / "x.db")  # nothing was due


def test_a_run_left_running_by_a_dead_process_gets_its_outcome(tmp_path: Path) -> None:
    config = scheduler.load_config(write_config(tmp_path, None))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    store = Store.open(config.db)
    orphan = store.start_run("zjsjw")
    store.update_run(orphan, pid=int(dead.stdout))
    alive = store.start_run("zjsjw")  # this process: still running
    store.close()
    scheduler.CrawlScheduler(config).close_abandoned_runs()
    rows = {r["id"]: r for r in runs(config.db)}
    assert rows[orphan]["status"] == "interrupted"
    assert "without recording an outcome" in rows[orphan]["error"]
    assert rows[alive]["status"] == "running"


def test_list_shows_next_fire_times_in_shanghai_time() -> None:
    proc = subprocess.run(
        [sys.executable, "scheduler.py", "--config", "xunshi.example.toml", "--list"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "zjsjw" in proc.stdout and "shjjjc" in proc.stdout and "+08:00" in proc.stdout
    assert (
        "newsroom: webhook https://example.org/hooks/xunshi, signed with $XUNSHI_WEBHOOK_SECRET"
        in proc.stdout
    )


def test_next_fire_time_is_in_the_config_timezone(tmp_path: Path) -> None:
    config = scheduler.load_config(write_config(tmp_path, None, cron="17 7 * * *"))
    now = datetime(2026, 11, 23, 23, 0, tzinfo=ZoneInfo("UTC"))  # 07:00 in Shanghai
    [(site, when)] = scheduler.CrawlScheduler(config).next_fire_times(now)
    assert when == datetime(2026, 11, 24, 7, 17, tzinfo=SHANGHAI)


def test_example_config_is_valid() -> None:
    config = scheduler.load_config(ROOT / "xunshi.example.toml")
    assert [s.site for s in config.sites] == ["zjsjw", "shjjjc"]
    assert [d.type for d in config.deliveries] == ["webhook", "atom", "txt", "jsonl", "csv"]
    assert config.timezone.key == "Asia/Shanghai" and config.db == ROOT / "xunshi.db"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[sites.nosuch]\ncron = "* * * * *"\n', "unknown site"),
        ('[sites.zjsjw]\ncron = "61 * * * *"\n', "cron '61 * * * *'"),
        ('[sites.zjsjw]\n', "needs cron"),
        ('[sites.zjsjw]\ncron = "* * * * *"\nevery = 5\n', "unknown key(s) every"),
        ('dbpath = "x"\n[sites.zjsjw]\ncron = "* * * * *"\n', "unknown key(s) dbpath"),
        ('timezone = "Mars/Olympus"\n[sites.zjsjw]\ncron = "* * * * *"\n', "not an IANA time zone"),
        ('time_limit = 0\n[sites.zjsjw]\ncron = "* * * * *"\n', "time_limit must be a positive"),
        ('db = "x.db"\n', "no [sites.<name>] table"),
        ("[sites.zjsjw\n", "xunshi.toml"),
    ],
)  # fmt: skip
def test_config_errors_say_what_and_where(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "xunshi.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        scheduler.load_config(path)
    assert message in str(info.value)


def test_bad_config_is_exit_status_2_without_a_traceback(tmp_path: Path, capsys) -> None:
    assert scheduler.main(["--config", str(tmp_path / "missing.toml")]) == 2
    assert "copy xunshi.example.toml" in capsys.readouterr().err


def test_importing_has_no_side_effects() -> None:
    code = (
        "import logging, signal; before = signal.getsignal(signal.SIGTERM);"
        "import scheduler; assert signal.getsignal(signal.SIGTERM) is before;"
        "assert not logging.getLogger().handlers; print('ok')"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.stdout.strip() == "ok", proc.stderr
    assert logging.getLogger("xunshi.scheduler").handlers == []


def test_a_signal_raises_only_where_stopping_at_once_is_safe(tmp_path: Path) -> None:
    config = scheduler.load_config(write_config(tmp_path, None))
    for phase, raises in (("idle", True), ("crawl", True), ("work", False)):
        crawls = scheduler.CrawlScheduler(config)
        crawls._phase = phase
        if raises:  # waiting, or in run_crawl's wait: it stops the crawl and records it
            with pytest.raises(KeyboardInterrupt):
                crawls._on_signal(signal.SIGTERM, None)
        else:  # writing a report or delivering: finish that first
            crawls._on_signal(signal.SIGTERM, None)
        assert crawls.stopped and crawls.stop_signal == signal.SIGTERM
        crawls._on_signal(signal.SIGINT, None)  # a second signal changes nothing
        assert crawls.stop_signal == signal.SIGTERM
        assert crawls.run_site(config.sites[0]) is None  # no crawl starts once stopping


def test_schedule_command_is_the_same_code_path() -> None:
    from click.testing import CliRunner

    from cli_deliver import schedule

    result = CliRunner().invoke(schedule, ["--config", str(ROOT / "xunshi.example.toml"), "--list"])
    assert result.exit_code == 0 and "next run" in result.output and "zjsjw" in result.output
    bad = CliRunner().invoke(schedule, ["--config", str(ROOT / "nope.toml")])
    assert bad.exit_code == 2 and "copy xunshi.example.toml" in bad.output
