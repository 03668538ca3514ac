"""Live progress of a crawl of many sites, for a person watching it.

On a terminal: one line per site (state, pages, new, changed, failures, seconds),
redrawn in place as the crawl goes; with more sites than the terminal has lines, one line
for the whole crawl plus a line per site as it ends. Elsewhere (a log, a pipe): a line
per site as it ends. The final summary is the caller's (``crawler.run.summary_line``).
"""

from __future__ import annotations

import shutil
import time
from typing import Any, TextIO

STATES = {"waiting": "waiting", "running": "crawling", "done": "done"}
TOTALS = ("pages", "new", "changed", "failed")


def progress_line(site: str, p: dict[str, Any], width: int = 12, now: float | None = None) -> str:
    """One site's line: ``zjsjw        crawling   12 pages   3 new   1 changed   0 failed   4s``."""
    state = STATES.get(p.get("state", "waiting"), p.get("state", ""))
    if p.get("error") or (p.get("state") == "done" and p.get("status") == "failed"):
        state = "failed"
    failures = int(p.get("failed", 0)) + int(p.get("blocked", 0)) + int(p.get("dropped", 0))
    seconds = p.get("seconds")
    if seconds is None and p.get("started") is not None:
        seconds = (now or time.monotonic()) - p["started"]
    tail = f" {seconds:4.0f}s" if seconds is not None else ""
    return (
        f"{site:<{width}} {state:<8} {int(p.get('pages', 0)):5} pages {int(p.get('new', 0)):4} new "
        f"{int(p.get('changed', 0)):4} changed {failures:4} failed{tail}"
    )


class LiveProgress:
    """Shows ``crawler.run.run_crawls``' progress updates (pass ``update`` as ``on_progress``)."""

    def __init__(self, sites: list[str], stream: TextIO, *, live: bool | None = None) -> None:
        self.sites = list(sites)
        self.stream = stream
        self.width = max([len(s) for s in self.sites] + [4])
        self.state: dict[str, dict[str, Any]] = {s: {"state": "waiting"} for s in self.sites}
        is_tty = bool(getattr(stream, "isatty", lambda: False)())
        self.live = is_tty if live is None else live
        rows = shutil.get_terminal_size((80, 24)).lines
        self.per_site = self.live and len(self.sites) <= max(rows - 3, 1)
        self.drawn = 0
        self.last_draw = 0.0
        self.started = time.monotonic()
        # The whole crawl's line, kept as sites report (not summed over every site per
        # redraw: with 3,000 sites a redraw per site ending was quadratic).
        self.states = {"waiting": len(self.state)}
        self.totals = dict.fromkeys(TOTALS, 0)

    def start(self, message: str) -> None:
        self.stream.write(message + "\n")
        self.stream.flush()
        if self.live:
            self.draw(force=True)

    def update(self, message: dict[str, Any]) -> None:
        site = message.get("site")
        if site not in self.state:
            return
        p = self.state[site]
        if message.get("state") == "running" and p.get("state") != "running":
            p["started"] = time.monotonic()
        self._count(p, -1)
        p.update({k: v for k, v in message.items() if k not in ("site", "since")})
        self._count(p, +1)
        ended = message.get("state") == "done"
        if self.live:
            if ended and not self.per_site:
                self._clear()
                self.stream.write(progress_line(site, p, self.width) + "\n")
            self.draw(force=ended)
        elif ended:
            self.stream.write(progress_line(site, p, self.width) + "\n")
            self.stream.flush()

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_draw < 0.2:
            return
        self.last_draw = now
        self._clear()
        if self.per_site:
            lines = [progress_line(s, self.state[s], self.width, now) for s in self.sites]
        else:
            lines = [self.total_line(now)]
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self.drawn = len(lines)

    def _count(self, p: dict[str, Any], sign: int) -> None:
        state = p.get("state", "waiting")
        self.states[state] = self.states.get(state, 0) + sign
        for k in TOTALS:
            self.totals[k] += sign * int(p.get(k, 0))

    def total_line(self, now: float | None = None) -> str:
        total = self.totals
        return (
            f"{self.states.get('done', 0)}/{len(self.state)} sites done, "
            f"{self.states.get('running', 0)} crawling: "
            f"{total['pages']} pages, {total['new']} new, {total['changed']} changed, "
            f"{total['failed']} failed, {(now or time.monotonic()) - self.started:.0f}s"
        )

    def _clear(self) -> None:
        if self.drawn:
            # Up over what was drawn, and clear to the end of the screen.
            self.stream.write(f"\x1b[{self.drawn}F\x1b[J")
            self.drawn = 0

    def finish(self) -> None:
        if self.live:
            self.draw(force=True)
