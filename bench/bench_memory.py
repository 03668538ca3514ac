"""Peak memory of a crawl: the scrapy process's peak RSS for sites of 1k and 10k notices.

Run from the repo root: ``.venv/bin/python bench/bench_memory.py [--sizes 1000,10000]``.

Each size is a fresh generated site (60-120 KB pages, bench/_common.py) served on
127.0.0.1 and a first crawl into a fresh database through crawler.run.run_crawl, with the
project's settings (XUNSHI_MAX_LIST_PAGES raised to reach every list page). While the
crawl runs, the scrapy child's /proc/<pid>/status is read every 0.1 s: VmHWM is the
kernel's own peak RSS of that process, VmRSS gives the curve (RSS at 25/50/75 % of the
crawl's duration). VmHWM is the figure. ru_maxrss (RUSAGE_CHILDREN here, and RUSAGE_SELF
in Scrapy's own memusage/max stat) is shown but is not the child's own peak: Linux carries
the parent's peak RSS into a child through fork/vfork + exec, so it reads at least this
benchmark's own peak (shown too: generating 10k pages raises it). Target: the 10k peak
within 20 % of the 1k one.
The 10k site takes ~0.9 GB in a temporary folder (``--pad comment`` makes the same size;
there is no smaller padding: the figure is about realistic pages).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402


def scrapy_child() -> int | None:
    """The pid of this process's ``scrapy crawl`` child, if it is running."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == me and b"scrapy" in Path(f"/proc/{entry}/cmdline").read_bytes():
                return int(entry)
        except (OSError, ValueError, IndexError):
            continue
    return None


def status_kb(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            out[line.split(":")[0]] = int(line.split()[1])
    return out


def crawl_with_peak(served: common.Served, db: Path, settings: dict[str, Any]) -> dict[str, Any]:
    holder: dict[str, Any] = {}

    def run() -> None:
        holder["result"], holder["stats"] = common.crawl(served, db, settings=settings, timeout=3600)

    thread = threading.Thread(target=run)
    started = time.perf_counter()
    thread.start()
    pid: int | None = None
    hwm = 0
    curve: list[tuple[float, int]] = []
    while thread.is_alive():
        pid = pid or scrapy_child()
        if pid is not None:
            try:
                kb = status_kb(pid)
                hwm = max(hwm, kb.get("VmHWM", 0))
                curve.append((time.perf_counter() - started, kb.get("VmRSS", 0)))
            except OSError:
                pass  # it just exited; VmHWM so far stands
        time.sleep(0.1)
    thread.join()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KB on Linux
    end = curve[-1][0] if curve else 0.0

    def at(frac: float) -> int:
        return next((rss for t, rss in curve if t >= frac * end), curve[-1][1] if curve else 0)

    return {**holder, "hwm": hwm, "ru": ru, "curve": [at(0.25), at(0.5), at(0.75)],
            "seconds": time.perf_counter() - started}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="site sizes (default 1000,10000)")
    parser.add_argument("--pad", choices=["markup", "comment"], default="markup")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    common.header(f"crawl memory: first crawls of {', '.join(f'{s:,}' for s in sizes)} notices")
    rows: list[list[Any]] = []
    peaks: list[int] = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp:
            free = shutil.disk_usage(tmp).free
            if free < n * 150_000:
                print(f"not enough disk in {tmp} for {n} pages ({free / 1e9:.1f} GB free)", file=sys.stderr)
                return 1
            root = Path(tmp) / "site"
            common.build_site(root, n, pad=args.pad)
            site_mb = common.tree_bytes(root) / 1e6
            db = Path(tmp) / "db" / "bench.db"
            db.parent.mkdir()
            list_pages = -(-n // 10)
            with common.serve(root) as served:
                out = crawl_with_peak(served, db, {"XUNSHI_MAX_LIST_PAGES": max(200, list_pages + 1)})
            result = out["result"]
            if result.status != "ok" or result.counts["new"] != n:
                print(f"crawl of {n} went wrong: {result.status} {result.counts}", file=sys.stderr)
                return 1
            parent_hwm = status_kb(os.getpid()).get("VmHWM", 0)
            db_mb = sum(f.stat().st_size for f in db.parent.glob("bench.db*")) / 1e6
            peaks.append(out["hwm"])
            rows.append([n, site_mb, result.counts["pages"], out["seconds"], db_mb,
                         *(kb / 1024 for kb in out["curve"]), out["hwm"] / 1024, out["ru"] / 1024,
                         out["stats"].get("memusage/max", 0) / 2**20, parent_hwm / 1024])  # fmt: skip
            print(f"# {n:,} notices: peak RSS {out['hwm'] / 1024:.0f} MB in {out['seconds']:.0f} s",
                  flush=True)  # fmt: skip
    print()
    common.print_table(
        ["notices", "site MB", "pages", "crawl s", "db MB", "RSS 25% MB", "RSS 50% MB",
         "RSS 75% MB", "peak RSS (VmHWM) MB", "ru_maxrss children MB", "Scrapy memusage/max MB",
         "this bench's own VmHWM MB"],
        rows,
    )  # fmt: skip
    if len(peaks) > 1:
        growth = peaks[-1] / peaks[0] - 1
        print(f"\npeak RSS at {sizes[-1]:,} vs {sizes[0]:,} notices: {growth:+.0%} "
              f"(target within 20 %: {'met' if abs(growth) <= 0.2 else 'not met'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
