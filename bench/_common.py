"""Shared pieces of the benchmarks: a generated zjsjw-like site on 127.0.0.1, crawls, the machine.

Nothing here is timed by itself. The site is tests/sitegen.py's (notice text built from
seed 000, TRS list pages of 10, createPageHTML pager), with page chrome added so that
article pages weigh 60-120 KB like the real ones:

* ``pad="markup"`` (default): inert page furniture, as real pages carry: a site-wide
  template (nav lists, scripts, styles, footer link blocks; the same on every page, as a
  CMS template is) cut to the page's size, plus a per-page "related articles" block.
  lxml has to parse it and zlib has to compress it, as on the real site.
* ``pad="comment"``: tests/sitegen.py's own ``pad_bytes`` (one ``<!-- xxx… -->``
  comment): the right size on the wire but free to parse and compressing ~1000:1.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import os
import platform
import random
import re
import sqlite3
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests import sitegen  # noqa: E402
from tests.conftest import LocalSite, _handler  # noqa: E402
from tests.sitegen import COLUMN, GeneratedNotice  # noqa: E402

SITE = "zjsjw"
START_PATH = COLUMN + "index.shtml"
MIN_PAGE = 60_000
MAX_PAGE = 120_000
PACKAGES = ("scrapy", "twisted", "lxml", "parsel", "sqlite-utils", "diff-match-patch",
            "pyahocorasick", "backports.zstd", "numpy")  # fmt: skip


# -------------------------------------------------------------------------------- pages


def _seed_chars() -> str:
    text = sitegen.SEED_000.read_text(encoding="utf-8")
    return re.sub(r"[\s\d,.:;()%、。,;:“”《》()]+", "", text)


def _phrase(rng: random.Random, chars: str, lo: int = 4, hi: int = 16) -> str:
    """A run of seed characters: menu, link and related-article text."""
    n = rng.randint(lo, hi)
    at = rng.randrange(0, len(chars) - n)
    return chars[at : at + n]


def _ident(rng: random.Random) -> str:
    return rng.choice("abcdefghijklmnopqrstuvwxyz") + "".join(
        rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rng.randint(1, 7))
    )


@functools.cache
def template_blocks() -> tuple[str, ...]:
    """The site-wide chrome: one self-contained element per block, ~160 KB in all, fixed."""
    rng = random.Random(2260)
    chars = _seed_chars()
    blocks: list[str] = []
    while sum(map(len, blocks)) < 2 * MAX_PAGE:
        kind = len(blocks) % 4
        if kind == 0:  # a navigation list
            lis = "".join(
                f'<li><a href="/col/col{rng.randint(1000000, 9999999)}/index.html" '
                f'target="_blank" title="{_phrase(rng, chars)}">{_phrase(rng, chars, 2, 8)}</a></li>'
                for _ in range(rng.randint(8, 16))
            )
            blocks.append(f'<div class="nav-block"><ul class="sub-nav">{lis}</ul></div>')
        elif kind == 1:  # minified script
            body = ";".join(
                f"var {_ident(rng)}=function({_ident(rng)},{_ident(rng)}){{return "
                f'{_ident(rng)}.{_ident(rng)}("{_ident(rng)}")+{rng.randint(0, 99999)}}}'
                for _ in range(rng.randint(6, 14))
            )
            blocks.append(f'<script type="text/javascript">{body}</script>')
        elif kind == 2:  # inline style
            rules = "".join(
                f".{_ident(rng)} .{_ident(rng)}{{margin:{rng.randint(0, 30)}px {rng.randint(0, 30)}px;"
                f"color:#{rng.randint(0, 0xFFFFFF):06x};font-size:{rng.randint(12, 22)}px}}"
                for _ in range(rng.randint(8, 16))
            )
            blocks.append(f"<style>{rules}</style>")
        else:  # footer link block with dates
            lis = "".join(
                f'<li><span class="date">20{rng.randint(10, 25)}-{rng.randint(1, 12):02d}-'
                f'{rng.randint(1, 28):02d}</span><a href="/art/20{rng.randint(10, 25)}/'
                f'{rng.randint(1, 12)}/{rng.randint(1, 28)}/art_{rng.randint(1000, 9999)}_'
                f'{rng.randint(1000000, 9999999)}.html">{_phrase(rng, chars, 8, 24)}</a></li>'
                for _ in range(rng.randint(5, 10))
            )
            blocks.append(f'<div class="link-block"><ul>{lis}</ul></div>')
    return tuple(blocks)


def related_block(i: int) -> str:
    """What changes from page to page besides the text: a related-articles list."""
    rng = random.Random(i)
    chars = _seed_chars()
    lis = "".join(
        f'<li><a href="/gongzuodongtai/xunshixuncha/20{rng.randint(15, 25)}{rng.randint(1, 12):02d}/'
        f't20{rng.randint(15, 25)}0{rng.randint(1, 9)}{rng.randint(10, 28)}_{rng.randint(10**7, 10**8)}'
        f'_ext.html">{_phrase(rng, chars, 10, 30)}</a></li>'
        for _ in range(12)
    )
    return f'<div class="xgwz related"><h3>相关文章</h3><ul>{lis}</ul></div>'


def page_size(i: int) -> int:
    """Target size of article page i: spread evenly over 60-120 KB."""
    return MIN_PAGE + (i * 7919) % (MAX_PAGE - MIN_PAGE + 1)


def add_markup(html: str, i: int, target: int) -> str:
    """Insert template chrome (and page i's related block) so the page weighs ~``target`` bytes."""
    related = related_block(i)
    room = target - len(html.encode("utf-8")) - len(related.encode("utf-8"))
    parts: list[str] = [related]
    used = 0
    for block in template_blocks():
        size = len(block.encode("utf-8"))
        if used + size > room:
            break
        parts.append(block)
        used += size
    return html.replace("</body>", "\n".join(parts) + "\n</body>", 1)


def article_page(i: int, day: date, *, pad: str = "markup", size: int | None = None,
                 paragraphs: int | None = None) -> tuple[GeneratedNotice, str]:  # fmt: skip
    """Notice i of the generated site exactly as sitegen.generate_site writes it, padded."""
    unit = sitegen.UNITS[i % len(sitegen.UNITS)]
    title = f"中共{unit}委关于省委巡视整改进展情况的通报({i})"
    published = f"{day.isoformat()} 09:{i % 60:02d}"
    lines = sitegen.notice_lines(i, unit, _seed_body(), paragraphs)
    path = f"{COLUMN}{day:%Y%m}/t{day:%Y%m%d}_{100000 + i}_ext.html"
    target = page_size(i) if size is None else size
    if pad == "comment":
        base = len(sitegen.article_html(title, published, lines).encode("utf-8"))
        html = sitegen.article_html(title, published, lines, max(target - base - 9, 0))
    elif pad == "markup":
        html = add_markup(sitegen.article_html(title, published, lines), i, target)
    elif pad == "none":
        html = sitegen.article_html(title, published, lines)
    else:
        raise ValueError(f"pad must be markup, comment or none, not {pad!r}")
    expected = "\n".join([f"{published} {sitegen.SOURCE}", *lines])
    return GeneratedNotice(path, title, published, expected), html


@functools.cache
def _seed_body() -> list[str]:
    return sitegen.seed_body()


def spread_dates(n: int, *, first: date = date(2000, 1, 1), last: date = date(2024, 12, 31)) -> list[date]:
    """n ascending dates between ``first`` and ``last`` (the list pages show newest first)."""
    span = (last - first).days
    return [first + timedelta(days=(i * span) // max(n - 1, 1)) for i in range(n)]


def build_site(root: Path, n: int, *, dates: list[date] | None = None, pad: str = "markup",
               per_page: int = 10) -> list[GeneratedNotice]:  # fmt: skip
    """Write a site of ``n`` notices under ``root`` (the layout of sitegen.generate_site)."""
    dates = dates or spread_dates(n)
    notices: list[GeneratedNotice] = []
    for i in range(n):
        notice, html = article_page(i, dates[i], pad=pad)
        sitegen.write(root, notice.path, html)
        notices.append(notice)
    sitegen.write_lists(root, notices, per_page)
    return notices


def list_paths(n: int, per_page: int = 10) -> list[str]:
    pages = max(1, -(-n // per_page))
    return [COLUMN + ("index.shtml" if p == 0 else f"index_{p}.shtml") for p in range(pages)]


def tree_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


# ------------------------------------------------------------------------------- server


@dataclass
class Served:
    """A LocalSite (tests/conftest.py) that also records the status of every answer."""

    site: LocalSite
    statuses: list[tuple[str, int]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.site.base

    def url(self, path: str) -> str:
        return self.site.url(path)

    def clear(self) -> None:
        self.site.log.clear()
        self.statuses.clear()


@contextlib.contextmanager
def serve(root: Path, *, latency: float = 0.0) -> Iterator[Served]:
    """Serve ``root`` on 127.0.0.1 (a free port) with the tests' handler: ETag, 304, 404.

    ``latency`` (seconds) delays every answer, as a distant site would.
    """
    site = LocalSite(root=root, base="")
    served = Served(site)
    base_handler: Any = _handler(site)

    class Handler(base_handler):  # type: ignore[misc, valid-type]
        def do_GET(self) -> None:  # noqa: N802
            if latency:
                time.sleep(latency)
            super().do_GET()

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            served.statuses.append((self.path.split("?", 1)[0], status))
            super()._send(status, headers, body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()


# -------------------------------------------------------------------------------- crawls


_STATS_FLOAT = re.compile(r"'(elapsed_time_seconds)': ([0-9.]+)")
_STATS_INT = re.compile(r"'([a-z_/0-9]+)': (\d+),?$", re.M)


def scrapy_stats(log_text: str) -> dict[str, float]:
    """The numbers of the last 'Dumping Scrapy stats' block of a crawl log."""
    at = log_text.rfind("Dumping Scrapy stats")
    if at < 0:
        return {}
    block = log_text[at:]
    out: dict[str, float] = {k: int(v) for k, v in _STATS_INT.findall(block)}
    out.update({k: float(v) for k, v in _STATS_FLOAT.findall(block)})
    return out


def crawl(served: Served, db: Path, *, settings: dict[str, Any] | None = None,
          full: bool = False, timeout: float = 900) -> tuple[Any, dict[str, float]]:  # fmt: skip
    """One real crawl (crawler.run.run_crawl: every pipeline on); its result and Scrapy stats."""
    from crawler.run import run_crawl

    result = run_crawl(SITE, db_path=db, start_url=served.url(START_PATH), full=full,
                       settings=settings, timeout=timeout)  # fmt: skip
    log = result.log_path.read_text(encoding="utf-8", errors="replace")
    # run_crawl appends every run of the same DB folder to one log per run id: fine.
    return result, scrapy_stats(log)


# ------------------------------------------------------------------------------ reporting


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """A plain-text table (also valid Markdown) on stdout."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    sys.stdout.flush()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def machine() -> str:
    """One line: cores, CPU, memory, Python, SQLite and the package versions that matter."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return (
        f"{os.cpu_count()} cores ({cpu}){mem}; Python {platform.python_version()}; "
        f"SQLite {sqlite3.sqlite_version}; " + ", ".join(versions)
    )


def code_state() -> str:
    """The commit measured and the files changed since (others work in this tree too)."""
    import subprocess

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                                  timeout=10).stdout  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return ""

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if len(line) > 3]
    measured = [p for p in changed if p.startswith(("crawler/", "store/"))]
    out = f"code: commit {head}"
    if measured:
        out += f" + uncommitted changes to {', '.join(measured)}"
    return out


def load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def header(title: str) -> None:
    print(f"# {title}")
    print(f"# {machine()}")
    print(f"# {code_state()}")
    print(f"# at start: {load()} (other work on this machine skews every time figure)", flush=True)


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.start
