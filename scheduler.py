"""Scheduled crawls (APScheduler 3): one cron job per schedule (sites whose cron fires together crawl together); after each crawl, reports and deliveries.

    python scheduler.py [--config xunshi.toml]    run until SIGINT/SIGTERM
    python scheduler.py --once                    crawl every site once, deliver, exit (cron, timers)
    python scheduler.py --list                    the next fire time of every site

The config is TOML; ``xunshi.example.toml`` documents every key. Each run is
``crawler.run.run_crawls`` (one Scrapy process for the sites whose cron fires together,
each site with its own time limit and run row), so it is in the ``runs`` table with its
outcome; then ``crawler.run.after_crawl``: its report goes to ``reports/``, its events into
the outbox, and the outbox to the deliveries (store/deliver.py).

Deliveries never delay a crawl: each delivery pass runs in its own process, beside the
crawls, and ends by ``deliver_time_limit`` (every HTTP request also has a deadline for
the whole exchange). ``--once`` waits for the last pass, so it is bounded too.

Jobs run one at a time in the main thread (APScheduler's DebugExecutor), which is what
makes stopping clean: SIGINT or SIGTERM during a crawl reaches ``run_crawl`` as
KeyboardInterrupt, exactly like Ctrl-C in ``xunshi crawl``, so the crawl is stopped and its
run recorded "interrupted"; a signal between crawls stops the scheduler at once; a signal
while a report is written lets it finish first. A delivery pass is stopped at once (a
request in flight is cut; what is left stays in the outbox, due). A run whose process died without closing it
(kill -9) is recorded "interrupted" when the scheduler next starts.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_SUBMITTED, JobEvent
from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crawler import sites as sites_registry
from crawler.run import CrawlResult, SiteCrawl, after_crawl, run_crawls, summary_line
from crawler.sites import SITES, SiteFileError, use_sites_file
from store.db import StoreError, process_alive
from store.deliver import (
    ConfigError,
    Delivery,
    Outbox,
    PassResult,
    check_http_url,
    config_errors,
    deliver_pending,
)
from store.deliver import parse_deliveries as _parse_deliveries
from store.notices import Store

logger = logging.getLogger("xunshi.scheduler")

DEFAULT_CONFIG = "xunshi.toml"
TIMEZONE = "Asia/Shanghai"
DEFAULT_TIME_LIMIT = 3600.0
DEFAULT_MISFIRE_GRACE = 3600
DEFAULT_RETRY_EVERY = 300.0
DEFAULT_DELIVER_TIME_LIMIT = 120.0
MAX_TIME_LIMIT = 7 * 86400.0


@dataclass(frozen=True)
class SiteSchedule:
    site: str
    cron: str  # five fields: minute hour day-of-month month day-of-week, in the config's timezone
    start_url: str | None = None
    full: bool = False
    time_limit: float = DEFAULT_TIME_LIMIT


@dataclass(frozen=True)
class Config:
    db: Path
    timezone: ZoneInfo
    sites: tuple[SiteSchedule, ...]
    deliveries: tuple[Delivery, ...] = ()
    reports_dir: Path | None = None
    misfire_grace_time: int = DEFAULT_MISFIRE_GRACE
    retry_every: float = DEFAULT_RETRY_EVERY
    deliver_time_limit: float = DEFAULT_DELIVER_TIME_LIMIT
    path: Path | None = None


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and check a TOML config; raise ConfigError saying what is wrong and where."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no config at {p}: copy xunshi.example.toml to {p} and edit it, or pass --config"
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{p}: {exc}") from None
    try:
        return parse_config(data, base=p.resolve().parent, path=p)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None


class SiteTable(BaseModel):
    """A [sites.<name>] table."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

    cron: str = Field(min_length=1, max_length=200)
    start_url: str | None = Field(None, min_length=1, max_length=4096)
    full: bool = False
    time_limit: float | None = Field(None, gt=0, le=MAX_TIME_LIMIT)

    @field_validator("start_url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        return check_http_url(url) if url else url


class ConfigFile(BaseModel):
    """The top level of the config: its keys, types, ranges and defaults, in one place."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)

    db: str | None = Field(None, min_length=1, max_length=4096)
    timezone: str = TIMEZONE
    reports_dir: str | None = Field(None, min_length=1, max_length=4096)
    time_limit: float = Field(DEFAULT_TIME_LIMIT, gt=0, le=MAX_TIME_LIMIT)
    misfire_grace_time: int = Field(DEFAULT_MISFIRE_GRACE, gt=0, le=int(MAX_TIME_LIMIT))
    retry_every: float = Field(DEFAULT_RETRY_EVERY, gt=0, le=MAX_TIME_LIMIT)
    deliver_time_limit: float = Field(DEFAULT_DELIVER_TIME_LIMIT, gt=0, le=MAX_TIME_LIMIT)
    sites: dict[str, SiteTable] = Field(min_length=1)
    # A user's site file (crawler/sites.py): its sites can be scheduled like built-in ones.
    sites_file: str | None = Field(None, min_length=1, max_length=4096)
    # checked by store.deliver, each by its target type's own Options
    deliveries: list[Any] = Field(default_factory=list)


def _where(loc: tuple[int | str, ...]) -> tuple[tuple[int | str, ...], str]:
    """A pydantic error location as the config reads: ``[sites.zjsjw] full``."""
    if len(loc) >= 2 and loc[0] == "sites":
        return loc[2:], f"[sites.{loc[1]}]"
    return loc, ""


def parse_config(data: Mapping[str, Any], *, base: Path, path: Path | None = None) -> Config:
    """Check a parsed config; relative paths are relative to ``base`` (the config's folder).

    Every key is checked for its type and range before anything runs (pydantic, strict:
    ``full = "no"`` is not a boolean, ``inf``, ``nan`` and ``1e30`` are not numbers of
    seconds or counts); the error names the table, the key and the reason.
    """
    if "sites" not in data:
        raise ConfigError("no [sites.<name>] table: name at least one site and its cron schedule")
    try:
        checked = ConfigFile.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(_config_errors(exc)) from None
    try:
        tz = ZoneInfo(checked.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"timezone {checked.timezone!r} is not an IANA time zone") from None
    if checked.sites_file is not None:
        file = Path(checked.sites_file).expanduser()
        try:
            use_sites_file(file if file.is_absolute() else base / file)
        except SiteFileError as exc:
            raise ConfigError(f"sites_file: {exc}") from None
    elif sites_registry.REGISTRY_ERROR is not None:  # a bad $XUNSHI_SITES
        raise ConfigError(f"XUNSHI_SITES: {sites_registry.REGISTRY_ERROR}")
    sites = []
    for name, table in checked.sites.items():
        where = f"[sites.{name}]"
        if name not in SITES:
            raise ConfigError(f"{where}: unknown site; known: {', '.join(sorted(SITES))}")
        try:
            CronTrigger.from_crontab(table.cron, timezone=tz)
        except ValueError as exc:
            raise ConfigError(f"{where}: cron {table.cron!r}: {exc}") from None
        sites.append(
            SiteSchedule(
                site=name,
                cron=table.cron,
                start_url=table.start_url,
                full=table.full,
                time_limit=table.time_limit or checked.time_limit,
            )
        )
    db = Path(checked.db or os.environ.get("XUNSHI_DB") or "xunshi.db").expanduser()
    reports = checked.reports_dir
    return Config(
        db=db if db.is_absolute() else base / db,
        timezone=tz,
        sites=tuple(sites),
        deliveries=tuple(_parse_deliveries(checked.deliveries, base)),
        reports_dir=(base / Path(reports).expanduser()) if reports else None,
        misfire_grace_time=checked.misfire_grace_time,
        retry_every=checked.retry_every,
        deliver_time_limit=checked.deliver_time_limit,
        path=path,
    )


def _config_errors(exc: ValidationError) -> str:
    """pydantic's errors said as the config says them: ``[sites.zjsjw]: full must be…``."""
    by_table: dict[str, list[Mapping[str, Any]]] = {}
    for error in exc.errors(include_url=False):
        loc, where = _where(tuple(error["loc"]))
        shown: Mapping[str, Any] = {**error, "loc": loc}
        if where and not loc and error["type"] == "model_type":
            got = repr(error.get("input"))[:40]
            shown = {**shown, "type": "value_error",
                     "msg": f'must be a table with cron = "…", not {got}'}  # fmt: skip
        elif where and loc == ("cron",) and error["type"] == "missing":
            shown = {**shown, "loc": (), "type": "value_error",
                     "msg": 'needs cron = "minute hour day month weekday"'}  # fmt: skip
        by_table.setdefault(where, []).append(shown)
    lines = []
    for where, errors in by_table.items():
        text = config_errors(errors)
        lines.append(f"{where}: {text}" if where else text)
    return "; ".join(lines)


TriggerFactory = Callable[[SiteSchedule, ZoneInfo], BaseTrigger]


def cron_trigger(site: SiteSchedule, tz: ZoneInfo) -> BaseTrigger:
    return CronTrigger.from_crontab(site.cron, timezone=tz)


def delivery_pass(config: Config, should_stop: Callable[[], bool]) -> list[PassResult]:
    """Queue runs a crash kept from the outbox, then one delivery pass, within its time limit."""
    if not config.deliveries:
        return []
    try:
        store = Store.open(config.db)
        try:
            Outbox(store.db).enqueue_missed(config.deliveries)
        finally:
            store.close()
        results = deliver_pending(
            config.db,
            config.deliveries,
            should_stop=should_stop,
            time_limit=config.deliver_time_limit,
        )
    except StoreError as exc:
        logger.error("deliveries: %s", exc)
        return []
    for r in results:
        if r.sent or r.refused or r.error:
            (logger.warning if r.error or r.refused else logger.info)("delivery %s", r.line())
    return results


def _child_pass(config: Config) -> None:
    """The delivery process: one pass; SIGTERM or SIGINT cuts it at once (rows stay due)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    _setup_logging(False)
    delivery_pass(config, stop.is_set)


class DeliveryWorker:
    """Delivery passes beside the crawls, so that a slow receiver never holds one up.

    ``kick`` asks for a pass (kicks while one runs fold into one more pass); ``close``
    lets the passes asked for finish, then ends the thread. The thread only waits:
    each pass runs in its own process (see ``_delivery_pass_in_child``).
    """

    def __init__(self, run_pass: Callable[[], object]) -> None:
        self._run_pass = run_pass
        self._cond = threading.Condition()
        self._asked = 0
        self._done = 0
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="deliveries", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def kick(self) -> None:
        with self._cond:
            self._asked += 1
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._asked > self._done or self._closing)
                if self._asked == self._done:
                    return  # closing, nothing asked for
                upto = self._asked
            try:
                self._run_pass()
            except Exception:  # a bug must not kill the thread: the rows stay queued
                logger.exception("deliveries: the pass failed")
            with self._cond:
                self._done = upto
                self._cond.notify_all()

    def close(self, timeout: float) -> bool:
        """Finish the passes asked for, then stop; False if the thread is still busy."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()


class CrawlScheduler:
    """Runs the config's crawls: on their cron schedules (``run_forever``) or once (``run_once``).

    ``trigger_for`` replaces the cron triggers (tests fire every second); ``on_result`` is
    called with each finished crawl.
    """

    def __init__(
        self,
        config: Config,
        *,
        trigger_for: TriggerFactory = cron_trigger,
        on_result: Callable[[CrawlResult], None] | None = None,
    ) -> None:
        self.config = config
        self.trigger_for = trigger_for
        self.on_result = on_result
        self.stop_signal: int | None = None
        self.stopped = False
        # What the main thread is doing, which decides what a signal does (see _on_signal).
        self._phase = "idle"
        self._scheduler: BlockingScheduler | None = None
        self._thread: threading.Thread | None = None
        self._worker: DeliveryWorker | None = None

    # -- one run ------------------------------------------------------------------------

    def run_site(self, site: SiteSchedule, how: str = "schedule") -> CrawlResult | None:
        """Crawl one site, then write its report, queue its events and deliver."""
        results = self.run_sites([site], how)
        return results[0] if results else None

    def run_sites(
        self, sites: Sequence[SiteSchedule], how: str = "schedule"
    ) -> list[CrawlResult] | None:
        """Crawl ``sites`` together (one Scrapy process), then ``after_crawl``: each run's
        report, its events into the outbox, a delivery pass. None when no crawl ran."""
        if self.stopped or not sites:
            return None
        previous, self._phase = self._phase, "crawl"
        cfg = self.config
        names = ", ".join(s.site for s in sites)
        try:
            results = run_crawls(
                [
                    SiteCrawl(s.site, start_url=s.start_url, full=s.full, timeout=s.time_limit,
                              options={"by": how})
                    for s in sites
                ],
                db_path=cfg.db,
            )  # fmt: skip
        except KeyboardInterrupt:
            # The signal landed just before or after the crawl's own wait.
            self._phase = "work"
            self.stopped = True
            self._close_runs(lambda row: row["pid"] == os.getpid(), "stopped by a signal")
            return None
        except (StoreError, KeyError, ValueError) as exc:
            logger.error("%s: crawl could not start: %s", names, exc)
            return None
        finally:
            if self._phase == "crawl":
                self._phase = "work"
        try:
            for result in results:
                logger.info("%s", summary_line(result))
            try:
                done, passes = after_crawl(
                    cfg.db, results, reports_dir=cfg.reports_dir, deliveries=cfg.deliveries,
                    should_stop=lambda: self.stopped, time_limit=cfg.deliver_time_limit,
                    deliver=self._worker is None,  # else the worker delivers, beside crawls
                )  # fmt: skip
            except StoreError as exc:
                logger.error("%s: after the crawl: %s", names, exc)
                done, passes = [], []
            for item in done:
                if item.report_path:
                    logger.info("%s: report: %s -> %s", item.result.site, item.report_summary,
                                item.report_path)  # fmt: skip
                else:
                    logger.error("%s: %s", item.result.site, item.error)
            self._log_passes(passes)
            if cfg.deliveries and self._worker is not None:
                self._worker.kick()
            if self.on_result:
                for result in results:
                    self.on_result(result)
            return results
        finally:
            self._phase = previous

    def kick_deliveries(self) -> None:
        """Deliver what is due: beside the crawls when the worker runs, else now."""
        if self._worker is not None:
            self._worker.kick()
        else:
            self.deliver()

    def deliver(self) -> list[PassResult]:
        """One delivery pass over every delivery's due rows, in this thread.

        It ends by ``deliver_time_limit``; a signal ends it at once (a request in flight is
        cut and re-sent later); what is left stays in the outbox.
        """
        previous, self._phase = self._phase, "work"
        try:
            return self._delivery_pass()
        finally:
            self._phase = previous

    def _delivery_pass(self) -> list[PassResult]:
        if self.stopped:
            return []
        return delivery_pass(self.config, lambda: self.stopped)

    def _delivery_pass_in_child(self) -> None:
        """One delivery pass in a child process; a signal to this one stops it at once.

        A process, not a thread: SQLite's POSIX locks belong to the process, and opening
        the database file anywhere in it (Store.open checks the file's header) would
        drop the locks of a connection another thread holds, which corrupts what that
        connection sees while the crawl's process writes.
        """
        ctx = multiprocessing.get_context("spawn")
        proc = ctx.Process(target=_child_pass, args=(self.config,), name="xunshi-deliveries")
        proc.start()
        asked_to_stop: float | None = None
        while proc.is_alive():
            proc.join(0.1)
            if self.stopped and asked_to_stop is None:
                proc.terminate()  # SIGTERM: the child cuts its request and exits
                asked_to_stop = time.monotonic()
            elif asked_to_stop is not None and time.monotonic() - asked_to_stop > 10:
                proc.kill()  # the outbox is transactional: nothing is lost
                proc.join(5)
                break
        if proc.exitcode not in (0, -signal.SIGTERM, None) and not self.stopped:
            logger.error("deliveries: the delivery process ended with status %s", proc.exitcode)

    @contextlib.contextmanager
    def _deliveries_beside(self) -> Iterator[None]:
        """Run delivery passes in a worker thread while this one crawls (see DeliveryWorker)."""
        if not self.config.deliveries:
            yield
            return
        worker = DeliveryWorker(self._delivery_pass_in_child)
        self._worker = worker
        worker.start()
        try:
            yield
        finally:
            self._worker = None
            # A pass in flight ends by its time limit, or at once after a signal.
            if not worker.close(self.config.deliver_time_limit + 10):
                logger.error("deliveries: the worker did not stop; what is left stays queued")

    @staticmethod
    def _log_passes(results: Sequence[PassResult]) -> None:
        for r in results:
            if r.sent or r.refused or r.error:
                (logger.warning if r.error or r.refused else logger.info)("delivery %s", r.line())

    def _close_runs(self, which: Callable[[dict[str, Any]], bool], why: str) -> None:
        """Record as interrupted the runs left "running" that ``which`` picks."""
        try:
            store = Store.open(self.config.db)
        except StoreError:
            return
        with store:
            for row in list(store.db.table("runs").rows_where("status = 'running'")):
                if which(row):
                    store.finish_run(row["id"], "interrupted", error=why)
                    logger.warning(
                        "run %s (%s) recorded as interrupted: %s", row["id"], row["site"], why
                    )

    def close_abandoned_runs(self) -> None:
        """Runs still "running" whose process is gone (kill -9, power cut) get their outcome."""
        if self.config.db.exists():
            self._close_runs(
                lambda row: row["pid"] is None or not process_alive(row["pid"]),
                "the process that ran it ended without recording an outcome",
            )  # fmt: skip

    # -- stopping -----------------------------------------------------------------------

    def request_stop(self, signum: int | None = None) -> None:
        """Stop after the current job (a running crawl is not interrupted by this call)."""
        self.stopped = True
        self.stop_signal = self.stop_signal or signum
        sched = self._scheduler
        if sched is not None and threading.current_thread() is not self._thread:
            with contextlib.suppress(Exception):
                if sched.state != STATE_STOPPED:
                    sched.shutdown(wait=False)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        first = not self.stopped
        self.stopped = True
        self.stop_signal = self.stop_signal or signum
        if not first:
            return
        logger.warning("%s received: stopping", signal.Signals(signum).name)
        # Waiting for the next job, or in a crawl: raise, as Ctrl-C would (run_crawl then
        # stops the crawl and records it). Writing a report or delivering: finish first.
        if self._phase in ("idle", "crawl"):
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)

    def _after_submit(self, event: JobEvent) -> None:
        # Dispatched once APScheduler has finished with the job: the one safe moment to
        # shut down from inside the main loop.
        sched = self._scheduler
        if self.stopped and sched is not None and sched.state != STATE_STOPPED:
            sched.shutdown(wait=False)

    # -- modes --------------------------------------------------------------------------

    def build(self) -> BlockingScheduler:
        cfg = self.config
        # Jobs run in the main thread, one at a time (see the module docstring).
        sched = BlockingScheduler(timezone=cfg.timezone, executors={"default": DebugExecutor()})
        # One instance of a job at a time; runs missed in a row fold into one; a run more
        # than misfire_grace_time late is skipped until its next time.
        options = {"max_instances": 1, "coalesce": True,
                   "misfire_grace_time": cfg.misfire_grace_time}  # fmt: skip
        # Sites whose cron fires together are crawled together: one Scrapy process.
        groups: dict[str, list[SiteSchedule]] = {}
        for site in cfg.sites:
            groups.setdefault(site.cron, []).append(site)
        for group in groups.values():
            names = [s.site for s in group]
            sched.add_job(
                self.run_sites, self.trigger_for(group[0], cfg.timezone), args=[group],
                id="crawl-" + "+".join(names), name="crawl " + ", ".join(names), **options,
            )  # fmt: skip
        if cfg.deliveries:
            sched.add_job(
                self.kick_deliveries,
                IntervalTrigger(seconds=cfg.retry_every, timezone=cfg.timezone),
                id="deliveries", name="retry deliveries", **options,
            )  # fmt: skip
        sched.add_listener(self._after_submit, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES)
        self._scheduler = sched
        return sched

    def run_forever(self) -> int:
        """Run the schedules until SIGINT/SIGTERM or ``request_stop``; 0 after a clean stop."""
        sched = self.build()
        self._thread = threading.current_thread()
        cfg = self.config
        self._phase = "work"
        # Each firing is one crawl (crawler.run.run_crawls): the sites whose cron fired.
        with self._signals(), self._deliveries_beside():
            self.close_abandoned_runs()
            self.kick_deliveries()  # what a previous process left in the outbox
            logger.info(
                "scheduler started: %d sites, %d deliveries, database %s",
                len(cfg.sites), len(cfg.deliveries), cfg.db,
            )  # fmt: skip
            for site, when in self.next_fire_times():
                logger.info("next %s crawl: %s", site.site, when.isoformat() if when else "never")
            try:
                if not self.stopped:
                    self._phase = "idle"
                    sched.start()  # returns once a job has asked to stop
            except KeyboardInterrupt:
                pass
            finally:
                self._phase = "work"
                if sched.state != STATE_STOPPED:
                    sched.shutdown(wait=False)
        logger.info("scheduler stopped")
        return 0

    def run_once(self) -> int:
        """Crawl every site once, all together (one Scrapy process), then report and deliver;
        the exit status.

        0 when a site could be crawled, 1 when none could, 128 + signal number when stopped.
        """
        self._phase = "work"
        could_not_run = False
        with self._signals():  # one crawl of every site (run_crawls): one report covers them
            with self._deliveries_beside():
                self.close_abandoned_runs()
                results = self.run_sites(self.config.sites, how="once")
                could_not_run = results is None or not any(r.ran for r in results)
                # the last pass: bounded by deliver_time_limit, cut by a signal
                self.kick_deliveries()
            if self.stopped:
                return 128 + (self.stop_signal or signal.SIGTERM)
        return 1 if could_not_run else 0

    def next_fire_times(
        self, now: datetime | None = None
    ) -> list[tuple[SiteSchedule, datetime | None]]:
        moment = now or datetime.now(self.config.timezone)
        return [
            (site, self.trigger_for(site, self.config.timezone).get_next_fire_time(None, moment))
            for site in self.config.sites
        ]

    def listing(self, now: datetime | None = None) -> str:
        cfg = self.config
        lines = [
            f"config: {cfg.path}",
            f"database: {cfg.db}",
            f"timezone: {cfg.timezone.key}; a crawl that misses its time by more than "
            f"{cfg.misfire_grace_time} s is skipped",
            "",
            f"{'site':10} {'cron':18} {'time limit':>10}  next run",
        ]
        for site, when in self.next_fire_times(now):
            nxt = when.isoformat(sep=" ") if when else "never"
            extra = (" (full)" if site.full else "") + (
                f" from {site.start_url}" if site.start_url else ""
            )
            lines.append(f"{site.site:10} {site.cron:18} {site.time_limit:>9.0f}s  {nxt}{extra}")
        if cfg.deliveries:
            lines += ["", f"deliveries (after every run; retried every {cfg.retry_every:.0f} s):"]
            lines += [f"  {d.name}: {d.describe()}" for d in cfg.deliveries]
        else:
            lines += ["", "no deliveries"]
        return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line of ``python scheduler.py`` and ``xunshi schedule``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="scheduler.py",
        description="Crawl the sites of a TOML config on their cron schedules (Asia/Shanghai), "
        "then report and deliver each run. Stop with Ctrl-C or SIGTERM.",
        epilog="Example: python scheduler.py --config xunshi.toml --list",
    )
    parser.add_argument(
        "--config",
        default=os.environ.get("XUNSHI_CONFIG", DEFAULT_CONFIG),
        help="TOML config (default: $XUNSHI_CONFIG or xunshi.toml); see xunshi.example.toml",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="crawl every site once, deliver, exit")
    mode.add_argument("--list", action="store_true", help="show the next fire times and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log APScheduler's steps too")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        sys.stderr.write(f"scheduler.py: {exc}\n")
        return 2
    scheduler = CrawlScheduler(config)
    if args.list:
        sys.stdout.write(scheduler.listing() + "\n")
        return 0
    _setup_logging(args.verbose)
    if args.once:
        return scheduler.run_once()
    return scheduler.run_forever()


def _setup_logging(verbose: bool) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(
            level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
        )
    logging.getLogger("apscheduler").setLevel(logging.INFO if verbose else logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
