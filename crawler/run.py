"""Start a crawl: the one place that the CLI, the scheduler and the demo share.

Each crawl is its own ``scrapy crawl <site>`` process (Twisted's reactor cannot restart
in one process), with its run row created before it starts and closed after it ends,
whatever happened to the process.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crawler
from crawler.sites import get_site
from store import report
from store.db import StoreError
from store.notices import RUN_COUNTS, Store

PROJECT_ROOT = Path(crawler.__file__).resolve().parent.parent
COUNT_FIELDS = ("pages", *RUN_COUNTS)


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


def log_dir_for(db_path: str | os.PathLike[str]) -> Path:
    return Path(db_path).resolve().parent / "logs"


def reports_dir_for(db_path: str | os.PathLike[str]) -> Path:
    """Where run reports go: $XUNSHI_REPORTS, else reports/ beside the database."""
    configured = os.environ.get("XUNSHI_REPORTS")
    return Path(configured) if configured else Path(db_path).resolve().parent / "reports"


def write_run_report(
    db_path: str | os.PathLike[str], run_id: int, reports_dir: str | os.PathLike[str] | None = None
) -> tuple[Path, str]:
    """Write run ``run_id``'s report as Markdown and HTML; return the Markdown path and the summary."""
    folder = Path(reports_dir) if reports_dir else reports_dir_for(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    store = Store.open(db_path)
    try:
        data = report.collect(store, run_id=run_id)
    finally:
        store.close()
    stem = f"run-{run_id}-{data['runs'][0]['site']}"
    md_path = folder / f"{stem}.md"
    md_path.write_text(report.to_markdown(data), encoding="utf-8")
    (folder / f"{stem}.html").write_text(report.to_html(data), encoding="utf-8")
    return md_path, report.summary(data)


def crawl_command(
    site: str,
    *,
    db_path: str | os.PathLike[str],
    run_id: int,
    start_url: str | None = None,
    full: bool = False,
    settings: dict[str, Any] | None = None,
) -> list[str]:
    cmd = [sys.executable, "-m", "scrapy", "crawl", site, "-s", f"XUNSHI_DB={Path(db_path).resolve()}",
           "-s", f"XUNSHI_RUN_ID={run_id}"]  # fmt: skip
    for key, value in (settings or {}).items():
        cmd += ["-s", f"{key}={value}"]
    if start_url:
        cmd += ["-a", f"start_url={start_url}"]
    if full:
        cmd += ["-a", "full=1"]
    return cmd


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
    """Crawl one site into the database at ``db_path`` and return what the run recorded.

    Raises KeyError for an unknown site and StoreError for an unusable database, before
    anything starts.
    """
    get_site(site)
    store = Store.open(db_path)
    try:
        run_id = store.start_run(site, {"start_url": start_url, "full": full, **(options or {})})
    finally:
        store.close()
    log_dir = log_dir_for(db_path)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"run-{run_id}-{site}.log"
    env = dict(os.environ)
    env["SCRAPY_SETTINGS_MODULE"] = "crawler.settings"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    cmd = crawl_command(
        site, db_path=db_path, run_id=run_id, start_url=start_url, full=full, settings=settings
    )
    started = time.monotonic()
    returncode: int | None = None
    error: str | None = None
    with log_path.open("ab") as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=PROJECT_ROOT
        )
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            error = f"time limit of {timeout:g} s reached; crawl stopped"
            returncode = _stop(proc)
        except KeyboardInterrupt:
            error = "interrupted by the user"
            returncode = _stop(proc)
    seconds = time.monotonic() - started
    row: dict[str, Any] = {}
    try:
        store = Store.open(db_path)
        try:
            row = store.run(run_id) or {}
            if row.get("status") == "running" or error:
                # The process died before it could close its run, or was stopped: say so.
                status = "interrupted" if error else "failed"
                if not error:
                    error = f"crawl process exited with code {returncode}; see {log_path}"
                store.finish_run(run_id, status, error=error)
                row = store.run(run_id) or {}
        finally:
            store.close()
    except (sqlite3.Error, StoreError) as exc:
        row = {**row, "status": "failed", "error": f"cannot write to the database: {exc}"}
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
    if not c.get("pages") and c.get("failed"):
        line += "\n  no page could be fetched: is the site reachable from here? (`xunshi events` says why)"
    if result.error:
        line += f"\n  {result.error}"
    return line


def result_json(result: CrawlResult) -> str:
    return json.dumps(
        {"site": result.site, "run_id": result.run_id, "status": result.status, **result.counts,
         "error": result.error, "log": str(result.log_path)},
        ensure_ascii=False,
    )  # fmt: skip
