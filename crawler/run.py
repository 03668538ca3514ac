"""Start a crawl: the one place that the CLI, the scheduler and the demo share.

A crawl of one site or of many is ONE Scrapy process (``python -m crawler.run``, a child
process because Twisted's reactor cannot restart): one crawler per site in it, each with
its own settings, stats and time limit, sharing the process's downloads (see
crawler/downloader.py). Every site's run row is created before the process starts and
closed after it ends, whatever happened to the process. The child reports each site's
progress as JSON lines on its stdout; its log goes to logs/ beside the database.

``after_crawl`` is what follows every crawl: each run's report, the deliveries' outbox,
and a delivery pass.
"""

from __future__ import annotations

import copy
import gc
import json
import logging
import math
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import crawler
from crawler.sites import SiteProfile, get_site
from store import report
from store.db import StoreError
from store.notices import RUN_COUNTS, Store

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(crawler.__file__).resolve().parent.parent
COUNT_FIELDS = ("pages", *RUN_COUNTS)
# How long past its time limit a site may run before the process is stopped from outside.
OVERDUE_GRACE = 15.0


@dataclass
class CrawlResult:
    site: str
    run_id: int
    status: str  # ok | failed | interrupted
    returncode: int | None
    log_path: Path
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ran(self) -> bool:
        """False when the crawl could not run at all (as opposed to pages failing in it)."""
        return self.status != "failed"


_CRAWL: ContextVar[str | None] = ContextVar("xunshi_crawl", default=None)


def _new_crawl_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ") + f"-{os.getpid()}"


@contextmanager
def crawl_group() -> Iterator[str]:
    """Group the runs started inside (one per site) as one crawl: reports cover all of them.
    (``run_crawls`` makes each of its calls one crawl; this groups several calls.)"""
    token = _CRAWL.set(_new_crawl_id())
    try:
        yield _CRAWL.get() or ""
    finally:
        _CRAWL.reset(token)


def current_crawl() -> str | None:
    """The crawl a run started now belongs to (None: a crawl of its own)."""
    return _CRAWL.get()


def log_dir_for(db_path: str | os.PathLike[str]) -> Path:
    return Path(db_path).resolve().parent / "logs"


def reports_dir_for(db_path: str | os.PathLike[str]) -> Path:
    """Where run reports go: $XUNSHI_REPORTS, else reports/ beside the database."""
    configured = os.environ.get("XUNSHI_REPORTS")
    return Path(configured) if configured else Path(db_path).resolve().parent / "reports"


def write_run_report(
    db_path: str | os.PathLike[str],
    run_id: int,
    reports_dir: str | os.PathLike[str] | None = None,
    store: Store | None = None,
) -> tuple[Path, str]:
    """Write run ``run_id``'s report as Markdown and HTML; return the Markdown path and the summary."""
    folder = Path(reports_dir) if reports_dir else reports_dir_for(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    if store is not None:
        data = report.collect(store, run_id=run_id)
    else:
        own = Store.open(db_path)
        try:
            data = report.collect(own, run_id=run_id)
        finally:
            own.close()
    stem = f"run-{run_id}-{data['runs'][0]['site']}"
    md_path = folder / f"{stem}.md"
    md_path.write_text(report.to_markdown(data), encoding="utf-8")
    (folder / f"{stem}.html").write_text(report.to_html(data), encoding="utf-8")
    return md_path, report.summary(data)


@dataclass(frozen=True)
class SiteCrawl:
    """One site's part of a crawl: which site, from where, how, for how long."""

    site: str
    start_url: str | None = None
    full: bool = False
    timeout: float | None = None  # seconds from the site's start; None: no limit
    options: dict[str, Any] = field(default_factory=dict)


def check_start_url(url: str) -> str:
    """``url`` when it is an absolute http(s) URL with a host; ValueError saying why not."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{url!r} is not an http(s) URL (e.g. http://127.0.0.1:8000/list/index.html)"
        )
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise ValueError(f"{url!r} has a bad port number") from None
    return url.strip()


def check_timeout(timeout: float | None) -> float | None:
    """``timeout`` when it is a positive number of seconds (or None); ValueError otherwise."""
    if timeout is None:
        return None
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not (math.isfinite(timeout) and timeout > 0)
    ):
        raise ValueError(f"the time limit must be a positive number of seconds, not {timeout!r}")
    return float(timeout)


def check_crawls(
    crawls: list[SiteCrawl], profiles: dict[str, SiteProfile] | None = None
) -> list[SiteCrawl]:
    """Refuse a crawl before anything starts: unknown site (KeyError), bad URL or time
    limit (ValueError), a site named twice (ValueError)."""
    seen: set[str] = set()
    for c in crawls:
        if not (profiles and c.site in profiles):
            get_site(c.site)
        if c.site in seen:
            raise ValueError(f"site {c.site!r} is named twice in one crawl")
        seen.add(c.site)
        if c.start_url is not None:
            check_start_url(c.start_url)
        check_timeout(c.timeout)
    return crawls


Progress = Callable[[dict[str, Any]], None]


def run_crawls(
    crawls: list[SiteCrawl],
    *,
    db_path: str | os.PathLike[str],
    settings: dict[str, Any] | None = None,
    on_progress: Progress | None = None,
    profiles: dict[str, SiteProfile] | None = None,
) -> list[CrawlResult]:
    """Crawl several sites in ONE Scrapy process; return what each site's run recorded.

    Every site gets its run row before the process starts (so a crash still leaves each
    site's outcome), its own crawler (its own settings, delays, AutoThrottle, stats and
    time limit), and its own report afterwards; the process runs many sites at once
    (``XUNSHI_SITES_AT_ONCE``) and at most ``CONCURRENT_REQUESTS`` downloads at once over
    all of them, one at a time per host. ``on_progress`` is called with each site's
    counts as they change: ``{"site", "run_id", "state", "pages", "new", …}``.

    ``profiles`` adds sites that are not in the registry (a user's file, the tests).
    Raises KeyError for an unknown site, ValueError for a bad URL or time limit, and
    StoreError for an unusable database, before anything starts.
    """
    check_crawls(crawls, profiles)
    if not crawls:
        return []
    # One crawl: its runs (one per site) share a crawl id, so that reports cover them all.
    crawl_id = current_crawl() or _new_crawl_id()
    with Store.open(db_path) as store:
        run_ids = [
            store.start_run(
                c.site, {"start_url": c.start_url, "full": c.full, **(c.options or {})},
                crawl=crawl_id,
            )
            for c in crawls
        ]  # fmt: skip
    log_dir = log_dir_for(db_path)
    log_dir.mkdir(parents=True, exist_ok=True)
    if len(crawls) == 1:
        log_path = log_dir / f"run-{run_ids[0]}-{crawls[0].site}.log"
    else:
        log_path = log_dir / f"crawl-{run_ids[0]}-{run_ids[-1]}.log"
    plan = {
        "db": str(Path(db_path).resolve()),
        "settings": {k: v for k, v in (settings or {}).items()},
        "profiles": {name: _profile_dict(p) for name, p in (profiles or {}).items()},
        "sites": [
            {"site": c.site, "run_id": run_id, "start_url": c.start_url, "full": c.full,
             "timeout": c.timeout}
            for c, run_id in zip(crawls, run_ids, strict=True)
        ],
    }  # fmt: skip
    env = dict(os.environ)
    env["SCRAPY_SETTINGS_MODULE"] = "crawler.settings"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "crawler.run"]
    started = time.monotonic()
    stopped: str | None = None
    progress: dict[int, dict[str, Any]] = {}
    with log_path.open("ab") as log:
        log.write(("$ " + " ".join(cmd) + f"  # {len(crawls)} sites\n").encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
                cwd=PROJECT_ROOT,
            )  # fmt: skip
        except OSError as exc:
            with Store.open(db_path) as store:
                for run_id in run_ids:
                    store.finish_run(run_id, "failed", error=f"crawl process did not start: {exc}")
            raise
        assert proc.stdin is not None and proc.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True)
        reader.start()
        try:
            proc.stdin.write(json.dumps(plan, ensure_ascii=False).encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        limits = {run_id: c.timeout for c, run_id in zip(crawls, run_ids, strict=True) if c.timeout}
        # The runs with a time limit that are running now, and when each started: what
        # is checked for overdue (a few times a second, not per line: a crawl of 3,000
        # sites sends some 10,000 lines).
        timed: dict[int, float] = {}
        next_check = 0.0
        try:
            while True:
                try:
                    raw = lines.get(timeout=0.2)
                except queue.Empty:
                    raw = None
                if raw == b"":
                    break
                now = time.monotonic()
                if raw:
                    update = _parse_progress(raw)
                    if update is not None:
                        run_id = int(update.get("run_id", 0))
                        update.setdefault("since", now)
                        known = progress.setdefault(run_id, {})
                        known.update(update)
                        if "started" not in known and update.get("state") == "running":
                            known["started"] = now
                            if run_id in limits:
                                timed[run_id] = now
                        elif update.get("state") == "done":
                            timed.pop(run_id, None)
                        if on_progress:
                            on_progress(update)
                overdue = None
                if timed and now >= next_check:
                    next_check = now + 0.2
                    overdue = _overdue(timed, limits, now)
                if overdue:
                    # The process's own time limit did not hold: stop it from outside.
                    stopped = f"time limit of {limits[overdue]:g} s reached; crawl stopped"
                    _stop(proc, grace=5.0)
                    break
        except KeyboardInterrupt:
            stopped = "interrupted by the user"
            _stop(proc)
        returncode = proc.wait()
    seconds = time.monotonic() - started
    results = []
    try:
        store = Store.open(db_path)
        try:
            for c, run_id in zip(crawls, run_ids, strict=True):
                row = store.run(run_id) or {}
                error = None
                if row.get("status") == "running":
                    # The process died before it could close this run, or was stopped.
                    if stopped:
                        status, error = "interrupted", stopped
                    else:
                        status = "failed"
                        error = f"crawl process exited with code {returncode}; see {log_path}"
                    store.finish_run(run_id, status, error=error)
                    row = store.run(run_id) or {}
                results.append(_result(c.site, run_id, row, returncode, log_path,
                                       progress.get(run_id), seconds))  # fmt: skip
        finally:
            store.close()
    except (sqlite3.Error, StoreError) as exc:
        results = [
            _result(c.site, run_id, {"status": "failed", "error": f"cannot write to the database: {exc}"},
                    returncode, log_path, progress.get(run_id), seconds)
            for c, run_id in zip(crawls, run_ids, strict=True)
        ]  # fmt: skip
    return results


def _result(
    site: str,
    run_id: int,
    row: dict[str, Any],
    returncode: int | None,
    log_path: Path,
    progress: dict[str, Any] | None,
    seconds: float,
) -> CrawlResult:
    if progress and "seconds" in progress:
        seconds = float(progress["seconds"])
    return CrawlResult(
        site=site,
        run_id=run_id,
        status=row.get("status", "failed"),
        returncode=returncode,
        log_path=log_path,
        counts={k: int(row.get(k) or 0) for k in COUNT_FIELDS},
        error=row.get("error"),
        seconds=seconds,
    )


def _read_lines(stream: IO[bytes], out: queue.Queue[bytes]) -> None:
    for line in iter(stream.readline, b""):
        out.put(line)
    out.put(b"")


def _parse_progress(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _overdue(
    timed: dict[int, float], limits: dict[int, float], now: float | None = None
) -> int | None:
    """A run (of ``timed``: running ones, by when they started) still going well past its
    time limit (the process did not stop it), or None."""
    now = time.monotonic() if now is None else now
    for run_id, started in timed.items():
        if now - started > limits[run_id] + OVERDUE_GRACE:
            return run_id
    return None


def _profile_dict(profile: SiteProfile) -> dict[str, Any]:
    return {f.name: getattr(profile, f.name) for f in fields(profile)}


def _profile_from(values: dict[str, Any]) -> SiteProfile:
    fixed: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return SiteProfile(**fixed)


def run_crawl(
    site: str,
    *,
    db_path: str | os.PathLike[str],
    start_url: str | None = None,
    full: bool = False,
    settings: dict[str, Any] | None = None,
    timeout: float | None = None,
    options: dict[str, Any] | None = None,
) -> CrawlResult:
    """Crawl one site (``run_crawls`` of one); raises as ``run_crawls`` does."""
    crawl = SiteCrawl(site, start_url=start_url, full=full, timeout=timeout, options=options or {})
    return run_crawls([crawl], db_path=db_path, settings=settings)[0]


def _stop(proc: subprocess.Popen[bytes], grace: float = 20.0) -> int | None:
    """Ask Scrapy to shut down cleanly (SIGINT), then kill it if it does not."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()


def summary_line(result: CrawlResult) -> str:
    c = result.counts
    parts = [
        f"{result.site}: run {result.run_id} {result.status} in {result.seconds:.1f}s",
        f"{c.get('pages', 0)} pages",
        f"{c.get('notices_seen', 0)} notices ({c.get('new', 0)} new, {c.get('changed', 0)} changed, "
        f"{c.get('unchanged', 0) + c.get('not_modified', 0)} unchanged)",
    ]
    problems = {k: c.get(k, 0) for k in ("failed", "blocked", "dropped", "skipped") if c.get(k, 0)}
    if problems:
        parts.append(", ".join(f"{v} {k}" for k, v in problems.items()))
    line = "; ".join(parts)
    if result.error:
        line += f"\n  {result.error}"
    elif not c.get("pages") and c.get("failed"):
        line += "\n  no page could be fetched: is the site reachable from here? (`xunshi events` says why)"
    return line


def crawl_summary(results: Sequence[CrawlResult]) -> str:
    """One line for a crawl of several sites: how many were crawled, what they found."""
    crawled = [r for r in results if r.ran]
    total = {k: sum(r.counts.get(k, 0) for r in results) for k in ("pages", "new", "changed")}
    line = (
        f"{len(results)} sites: {len(crawled)} crawled, {len(results) - len(crawled)} failed; "
        f"{total['pages']} pages, {total['new']} new, {total['changed']} changed"
    )
    return line


def result_json(result: CrawlResult) -> str:
    return json.dumps(
        {"site": result.site, "run_id": result.run_id, "status": result.status, **result.counts,
         "error": result.error, "log": str(result.log_path)},
        ensure_ascii=False,
    )  # fmt: skip


# -- what follows every crawl ------------------------------------------------------------


@dataclass
class AfterCrawl:
    """What ``after_crawl`` did for one run: its report and summary, or why not."""

    result: CrawlResult
    report_path: Path | None = None
    report_summary: str = ""
    error: str | None = None


def after_crawl(
    db_path: str | os.PathLike[str],
    results: Sequence[CrawlResult],
    *,
    reports_dir: str | os.PathLike[str] | None = None,
    deliveries: Sequence[Any] = (),
    should_stop: Callable[[], bool] | None = None,
    deliver: bool = True,
    time_limit: float | None = None,
) -> tuple[list[AfterCrawl], list[Any]]:
    """After a crawl (CLI, scheduler, demo alike): each run's report, then its events into
    the deliveries' outbox, then one delivery pass. Returns what was written per run and
    the delivery pass's results. A report that cannot be written is said, not raised."""
    done: list[AfterCrawl] = []
    store = Store.open(db_path) if results else None
    try:
        for result in results:
            item = AfterCrawl(result)
            try:
                item.report_path, item.report_summary = write_run_report(
                    db_path, result.run_id, reports_dir, store=store
                )
            except (OSError, StoreError, sqlite3.Error) as exc:
                item.error = f"report not written: {exc}"
            done.append(item)
    finally:
        if store is not None:
            store.close()
    passes: list[Any] = []
    if deliveries and results:
        from store.deliver import Outbox, deliver_pending

        store = Store.open(db_path)
        try:
            outbox = Outbox(store.db)
            for result in results:
                outbox.enqueue_run(result.run_id, list(deliveries))
            outbox.enqueue_missed(list(deliveries))
        finally:
            store.close()
        # deliver=False: the caller delivers beside the next crawl (the scheduler);
        # time_limit: the pass ends by then, what is left waits in the outbox
        if deliver and not (should_stop and should_stop()):
            passes = deliver_pending(
                db_path, list(deliveries), should_stop=should_stop, time_limit=time_limit
            )
    return done, passes


# -- the crawl process (python -m crawler.run; reads its plan as JSON on stdin) -----------


def _quick_copy(settings: Any) -> Any:
    """A copy of Scrapy settings as good as ``Settings.copy()`` (a deep copy) for what
    settings hold, in a tenth of the time: a crawl of 3,000 sites makes 3,000 crawlers,
    and the generic deep copy was a third of a site's cost."""
    from scrapy.settings import BaseSettings, SettingsAttribute

    new = copy.copy(settings)
    new.frozen = False
    attributes = {}
    for name, attr in settings.attributes.items():
        value = attr.value
        if isinstance(value, BaseSettings):
            value = _quick_copy(value)
        elif isinstance(value, dict | list | set):
            value = copy.deepcopy(value)
        twin = SettingsAttribute.__new__(SettingsAttribute)
        twin.value, twin.priority = value, attr.priority
        attributes[name] = twin
    new.attributes = attributes
    return new


def cache_scrapy_signatures() -> None:
    """Make Scrapy look at each function's signature once per process, not once per crawler.

    Every new crawler inspects the signature of each of its middlewares' methods (a
    deprecation check for a ``spider`` argument, 45 ``inspect.signature`` calls per site):
    8% of the CPU of an incremental crawl of many sites. A function's signature does not
    change, so this caches it per function (a bound method's by its function).
    ``scrapy.utils.python._signature`` is private: when it is not there (another Scrapy),
    nothing is changed.
    """
    import inspect
    import types

    from scrapy.utils import decorators
    from scrapy.utils import python as scrapy_python

    original = getattr(scrapy_python, "_signature", None)
    if original is None or getattr(original, "xunshi_cached", False):
        return
    # By function and bound or not: the middleware classes' methods, a few dozen. Not
    # closures: those are made per crawler (Scrapy wraps some stats methods per
    # instance), and keeping them would keep every crawler alive.
    cache: dict[tuple[Any, bool], inspect.Signature] = {}

    def signature(func: Callable[..., Any]) -> inspect.Signature:
        if isinstance(func, types.MethodType) and isinstance(func.__func__, types.FunctionType):
            key = (func.__func__, True)
        elif isinstance(func, types.FunctionType):
            key = (func, False)
        else:
            return original(func)
        if key[0].__closure__ is not None:
            return original(func)
        found = cache.get(key)
        if found is None:
            if len(cache) > 10_000:  # functions made on the fly: do not keep them all
                cache.clear()
            found = cache[key] = original(func)
        return found

    signature.xunshi_cached = True  # type: ignore[attr-defined]
    scrapy_python._signature = signature
    if getattr(decorators, "_signature", None) is original:
        decorators._signature = signature


def _child_main() -> int:  # noqa: PLR0915 (one function: the whole life of the process)
    from collections import deque

    from scrapy.crawler import Crawler, CrawlerProcess
    from scrapy.settings import Settings
    from scrapy.utils.project import get_project_settings
    from scrapy.utils.reactor import install_reactor

    from crawler import downloader as dl
    from crawler import sites as registry
    from crawler.extensions import site_progress
    from crawler.launch import add_site

    plan = json.loads(sys.stdin.read())
    for name, values in plan.get("profiles", {}).items():
        registry.SITES[name] = _profile_from(values)
    cache_scrapy_signatures()

    class QuickSettings(Settings):
        def copy(self) -> Any:
            return _quick_copy(self)

    settings = get_project_settings()
    settings.__class__ = QuickSettings
    settings.setdict(plan.get("settings", {}), priority="cmdline")
    settings.set("XUNSHI_DB", plan["db"], priority="cmdline")
    dl.GATE.limit = settings.getint("XUNSHI_PROCESS_CONCURRENCY") or settings.getint(
        "CONCURRENT_REQUESTS"
    )
    at_once = max(1, settings.getint("XUNSHI_SITES_AT_ONCE"))
    out = sys.stdout

    def emit(message: dict[str, Any]) -> None:
        out.write(json.dumps(message, ensure_ascii=False) + "\n")
        out.flush()

    state = {"stopping": False, "quiet": False}

    class SiteCrawler(Crawler):
        def _update_root_log_handler(self) -> None:
            # Scrapy re-installs its root log handler for every crawler (twice), setting
            # the root logger's level, which clears the cache of every logger (one per
            # site): quadratic in the number of sites. Every crawler here logs as the
            # process does; the first one's handler serves them all.
            if not state["quiet"]:
                super()._update_root_log_handler()

    class Process(CrawlerProcess):
        def _signal_shutdown(self, signum: int, _: Any) -> None:
            state["stopping"] = True
            super()._signal_shutdown(signum, _)

        def _create_crawler(self, spidercls: Any) -> Crawler:
            if isinstance(spidercls, str):
                return super()._create_crawler(spidercls)
            return SiteCrawler(spidercls, self.settings)

        def create_crawler(self, crawler_or_spidercls: Any) -> Crawler:
            # crawl() hands over a crawler made by create_crawler from these very
            # settings: merging them into it again (Scrapy's way) changes nothing and
            # was 5% of an incremental crawl's CPU.
            if isinstance(crawler_or_spidercls, SiteCrawler):
                return crawler_or_spidercls
            return super().create_crawler(crawler_or_spidercls)

    process = Process(settings)
    # The reactor is installed here rather than by the first crawler: this process uses it
    # before any crawler exists.
    install_reactor(settings["TWISTED_REACTOR"], settings["ASYNCIO_EVENT_LOOP"])
    process._initialized_reactor = True
    from twisted.internet import reactor as installed_reactor
    from twisted.internet import task
    from twisted.python.failure import Failure

    reactor: Any = installed_reactor
    pending = deque(plan["sites"])
    live: dict[int, tuple[dict[str, Any], Any, float]] = {}
    last: dict[int, dict[str, int]] = {}

    def counts(crawler: Any) -> dict[str, int]:
        return site_progress(crawler.stats.get_stats() if crawler.stats else {})

    def launch() -> None:
        while pending and len(live) < at_once and not state["stopping"]:
            entry = pending.popleft()
            run_id = entry["run_id"]
            try:
                crawler, d = add_site(process, entry)
            except Exception as exc:  # noqa: BLE001 (one site's failure must not stop the others)
                _fail_run(plan["db"], run_id, f"crawl could not start: {exc}")
                emit({"site": entry["site"], "run_id": run_id, "state": "done", "error": str(exc)})
                continue
            live[run_id] = (entry, crawler, time.monotonic())
            emit({"site": entry["site"], "run_id": run_id, "state": "running"})
            if len(plan["sites"]) > 1 and not state["quiet"]:
                # The first site's crawler logged its settings and components; the others
                # are the same, and 3,000 copies would bury the log. Once: each setLevel
                # clears the cache of every logger (one per site), so per site it grew
                # with the square of the number of sites.
                state["quiet"] = True
                for name in ("scrapy.middleware", "scrapy.crawler", "scrapy.addons"):
                    logging.getLogger(name).setLevel(logging.WARNING)
            d.addBoth(finished, run_id)
        if not live and (not pending or state["stopping"]):
            for entry in pending:
                _fail_run(plan["db"], entry["run_id"], "crawl stopped before this site started",
                          status="interrupted")  # fmt: skip
            pending.clear()
            if reactor.running:
                reactor.callLater(0, _stop_reactor)

    def finished(result: Any, run_id: int) -> None:
        entry, crawler, began = live.pop(run_id)
        stats = crawler.stats.get_stats() if crawler.stats else {}
        message = {"site": entry["site"], "run_id": run_id, "state": "done",
                   "seconds": round(time.monotonic() - began, 2), **counts(crawler),
                   "status": stats.get("xunshi/status"), "error": stats.get("xunshi/error")}  # fmt: skip
        if isinstance(result, Failure):
            error = f"crawl failed: {result.getErrorMessage()}"
            logger.error("%s: %s\n%s", entry["site"], error, result.getTraceback())
            _fail_run(plan["db"], run_id, error)
            message["error"] = error
        emit(message)
        launch()

    def report_progress() -> None:
        for run_id, (entry, site_crawler, _) in list(live.items()):
            now = counts(site_crawler)
            if now != last.get(run_id):
                last[run_id] = now
                emit({"site": entry["site"], "run_id": run_id, "state": "running", **now})

    def _stop_reactor() -> None:
        if reactor.running:
            reactor.stop()

    ticker = task.LoopingCall(report_progress)
    reactor.callWhenRunning(launch)
    reactor.callWhenRunning(ticker.start, 0.5, now=False)
    # What is alive now (modules, Scrapy, the pipelines' code, settings) lives as long as the
    # process: frozen, the garbage collector's full passes no longer walk it (they cost a
    # 1,000-page crawl 0.5 ms per page).
    import crawler.pipelines  # noqa: F401  (the first crawler imports it anyway)

    gc.collect()
    gc.freeze()
    process.start(stop_after_crawl=False)
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    emit({"state": "process", "max_rss_kb": usage.ru_maxrss,
          "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3)})  # fmt: skip
    return 0


def _fail_run(db: str, run_id: int, error: str, status: str = "failed") -> None:
    try:
        store = Store.open(db)
        try:
            row = store.run(run_id) or {}
            if row.get("status") == "running":
                store.finish_run(run_id, status, error=error)
        finally:
            store.close()
    except (sqlite3.Error, StoreError) as exc:
        logger.error("cannot record the end of run %s: %s", run_id, exc)


if __name__ == "__main__":
    sys.exit(_child_main())
