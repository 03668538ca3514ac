"""Many sites in one crawl: wall time, pages/s, CPU per page and peak RSS for worlds of
30, 300 and 3,000 sites, for a first crawl and an incremental one (nothing new).

Run from the repo root: ``.venv/bin/python bench/bench_sites.py [--sites 30 300 3000]
[--notices 2] [--latency 0.02]``. Heavy: run it once, not in a loop (the machine is shared).

Each site is a generated TRS site (tests/sitegen.py: ``--notices`` notices published in
2020, one list page) on its own loopback address (127.0.x.y). One server thread answers
for every address: an asyncio server per address, ``--latency`` seconds on every
response, ETag/304 like the real sites, keep-alive. Each world is crawled by
crawler.run.run_crawls (one Scrapy process, every pipeline on, one crawler per site) into
a fresh database, then crawled again: the incremental crawl fetches robots.txt and the
first list page of every site, sees only stored notices and stops (their re-checks are
not due). Peak RSS and CPU are the crawl process's own (it reports them at its end).

Targets (issue 11): the 3,000-site incremental crawl within 2 minutes on a 2-core
machine, peak RSS under 500 MB, wall time growing linearly with the number of sites.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench._common import code_state, load, machine, print_table  # noqa: E402
from crawler.run import SiteCrawl, run_crawls  # noqa: E402
from tests.sitegen import generate_site  # noqa: E402
from tests.world import WorldSite  # noqa: E402


def address(i: int) -> str:
    n = 2 + i
    return f"127.0.{n // 256}.{n % 256}"


def build(folder: Path, n_sites: int, notices: int) -> tuple[list[WorldSite], dict[str, bytes]]:
    """One generated site, served under every address (the same pages; each site its own
    host, so its own notices in the database)."""
    root = folder / "site"
    generate_site(root, notices, start=date(2020, 1, 1))
    files = {
        "/" + str(p.relative_to(root)).replace("\\", "/"): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file()
    }
    sites = [
        WorldSite(f"s{i:05d}", "sitegen", root, address(i),
                  start_path="/gongzuodongtai/xunshixuncha/index.shtml")
        for i in range(n_sites)
    ]  # fmt: skip
    return sites, files


class AsyncWorld:
    """Every site's address served by one asyncio loop in one thread."""

    def __init__(self, sites: list[WorldSite], files: dict[str, bytes], latency: float) -> None:
        self.sites = sites
        self.files = {path: (body, '"' + hashlib.sha1(body).hexdigest()[:16] + '"')
                      for path, body in files.items()}  # fmt: skip
        self.latency = latency
        self.requests = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> AsyncWorld:
        self.thread.start()
        self.ready.wait()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        for site in self.sites:
            server = await asyncio.start_server(self._serve, host=site.address, port=0,
                                                backlog=64)  # fmt: skip
            port = server.sockets[0].getsockname()[1]
            site.base = f"http://{site.address}:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1].split("?", 1)[0]
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (line.partition(":") for line in lines[1:] if line)}  # fmt: skip
                self.requests += 1
                if self.latency:
                    await asyncio.sleep(self.latency)
                found = self.files.get(path)
                if found is None:
                    status, body, extra = "404 Not Found", b"<html>404</html>", ""
                elif headers.get("if-none-match") == found[1]:
                    status, body, extra = "304 Not Modified", b"", f"ETag: {found[1]}\r\n"
                else:
                    status, body, extra = "200 OK", found[0], f"ETag: {found[1]}\r\n"
                writer.write(
                    (f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n{extra}"
                     f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body
                )  # fmt: skip
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()


@contextmanager
def profiled(out: Path | None) -> Iterator[None]:
    """With ``out``: the crawl process started inside runs under cProfile, its profile
    written to ``out`` (wall-clock times; the process's own CPU figure is inflated by it)."""
    if out is None:
        yield
        return
    import crawler.run

    real = subprocess.Popen

    def popen(cmd: list[str], *args: Any, **kwargs: Any) -> Any:
        if cmd[1:] == ["-m", "crawler.run"]:
            cmd = [cmd[0], "-m", "cProfile", "-o", str(out), "-m", "crawler.run"]
        return real(cmd, *args, **kwargs)

    crawler.run.subprocess.Popen = popen  # type: ignore[assignment,misc]
    try:
        yield
    finally:
        crawler.run.subprocess.Popen = real  # type: ignore[misc]


def crawl(sites: list[WorldSite], db: Path, settings: dict[str, Any]) -> dict[str, Any]:
    process: dict[str, Any] = {}

    def on_progress(message: dict[str, Any]) -> None:
        if message.get("state") == "process":
            process.update(message)

    profiles = {s.name: s.profile() for s in sites}
    started = time.monotonic()
    results = run_crawls([SiteCrawl(s.name) for s in sites], db_path=db, profiles=profiles,
                         settings=settings, on_progress=on_progress)  # fmt: skip
    wall = time.monotonic() - started
    pages = sum(r.counts["pages"] for r in results)
    robots = len(sites)  # one robots.txt per host, not counted in pages
    cpu = float(process.get("cpu_seconds", 0.0))
    return {
        "ok": sum(r.status == "ok" for r in results),
        "new": sum(r.counts["new"] for r in results),
        "wall": wall,
        "pages": pages,
        "requests": pages + robots,
        "pages_s": (pages + robots) / wall if wall else 0.0,
        "cpu_ms": 1000 * cpu / (pages + robots) if pages else 0.0,
        "rss_mb": int(process.get("max_rss_kb", 0)) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[30, 300, 3000])
    parser.add_argument("--notices", type=int, default=2, help="notices per site (default 2)")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per response")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="run each crawl process under cProfile: DIR/<sites>-<crawl>.prof "
                             "(compare the cost per site of two sizes with pstats)")  # fmt: skip
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(machine())
    print(code_state())
    print(load())
    print(f"\nworlds of {args.sites} sites, {args.notices} notices each, "
          f"{args.latency * 1000:.0f} ms per response; one crawl process per crawl\n")  # fmt: skip
    settings = {"LOG_LEVEL": "WARNING"}
    rows = []
    for n in args.sites:
        with tempfile.TemporaryDirectory() as tmp:
            sites, files = build(Path(tmp), n, args.notices)
            with AsyncWorld(sites, files, args.latency):
                db = Path(tmp) / "x.db"
                for kind in ("first", "incremental"):
                    out = args.profile / f"{n}-{kind}.prof" if args.profile else None
                    with profiled(out):
                        r = crawl(sites, db, settings)
                    rows.append([n, kind, f"{r['ok']}/{n}", r["new"], r["requests"],
                                 f"{r['wall']:.1f}", f"{r['pages_s']:.0f}", f"{r['cpu_ms']:.1f}",
                                 f"{r['rss_mb']:.0f}", f"{os.getloadavg()[0]:.1f}"])  # fmt: skip
                    print(" ".join(str(c) for c in rows[-1]), flush=True)
    print()
    print_table(["sites", "crawl", "ok", "new", "requests", "wall s", "requests/s",
                 "CPU ms/request", "peak RSS MB", "load after"], rows)  # fmt: skip
    print(f"\n{load()}; 'load after': the 1-minute load average when each crawl ended")


if __name__ == "__main__":
    main()
