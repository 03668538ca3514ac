"""Crawl throughput: a real crawl (every pipeline on) against a bare Scrapy spider, same pages.

Run from the repo root: ``.venv/bin/python bench/bench_crawl.py [--n N] [--repeat R]``.

A site of N notices (60-120 KB pages, see bench/_common.py) is served on 127.0.0.1. Each
configuration runs, in turn, (1) the bare spider below in its own ``scrapy`` process
with the project's settings minus our middleware and pipelines: it fetches the very pages
the real crawl fetches (every list page and article) and extracts nothing; (2) the real
crawl through crawler.run.run_crawl into a fresh database. pages/s is Scrapy's
``downloader/response_count / elapsed_time_seconds`` (spider open to close, so process
start-up and imports are left out; the wall time is shown beside it). The ratio
real/bare is the figure; target ≥ 0.8.

Configurations: the project's settings as a loopback crawl gets them (one request at a
time per host, AutoThrottle on with the loopback delays); the same without AutoThrottle;
8 requests per host without AutoThrottle, which shows what the machine could do; and
the project's settings against a server that takes 50 ms to answer, as a distant site
does (the 200 newest notices only, to keep it short).
``--profile FILE`` also writes cProfile stats of one real crawl (Scrapy's --profile).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402

# (label, settings overrides, server latency in seconds, list pages to walk: None = all)
CONFIGS: list[tuple[str, dict[str, Any], float, int | None]] = [
    ("project settings (1/host, AutoThrottle)", {}, 0.0, None),
    ("1/host, AutoThrottle off", {"AUTOTHROTTLE_ENABLED": False}, 0.0, None),
    ("8/host, AutoThrottle off", {"AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS": 16,
                                  "CONCURRENT_REQUESTS_PER_DOMAIN": 8}, 0.0, None),
    ("project settings, server answers in 50 ms (200 notices)", {}, 0.05, 20),
]  # fmt: skip


# --------------------------------------------------------------------------- bare spider


def run_bare_spider(urls_file: str, overrides: dict[str, Any]) -> int:
    """In the child process: fetch every URL of ``urls_file`` with the project's settings."""
    import scrapy
    from scrapy.crawler import CrawlerProcess
    from scrapy.utils.project import get_project_settings

    from crawler.spiders.notices import HANDLED_STATUSES, is_loopback

    class BareSpider(scrapy.Spider):
        name = "bare"

        def __init__(self, urls: list[str], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.urls = urls

        @classmethod
        def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> BareSpider:
            spider = super().from_crawler(crawler, *args, **kwargs)
            # The same loopback rule as crawler/spiders/notices.py NoticeSpider.from_crawler.
            settings = crawler.settings
            if settings.getbool("XUNSHI_LOOPBACK_NO_DELAY") and all(map(is_loopback, spider.urls)):
                settings.set("DOWNLOAD_DELAY", 0, priority="spider")
                settings.set("RANDOMIZE_DOWNLOAD_DELAY", False, priority="spider")
                settings.set("AUTOTHROTTLE_START_DELAY", 0, priority="spider")
                settings.set("AUTOTHROTTLE_MAX_DELAY", 0.5, priority="spider")
            return spider

        async def start(self) -> Any:
            for url in self.urls:
                yield scrapy.Request(url, callback=self.parse, dont_filter=True,
                                     meta={"handle_httpstatus_list": HANDLED_STATUSES})  # fmt: skip

        def parse(self, response: Any) -> None:
            return None  # extract nothing

    settings = get_project_settings()
    for key, value in overrides.items():
        settings.set(key, value, priority="cmdline")
    settings.set("ITEM_PIPELINES", {}, priority="cmdline")
    settings.set("DOWNLOADER_MIDDLEWARES", {}, priority="cmdline")
    urls = Path(urls_file).read_text().split()
    process = CrawlerProcess(settings, install_root_handler=True)
    crawler = process.create_crawler(BareSpider)
    process.crawl(crawler, urls=urls)
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    print(json.dumps({k: v for k, v in stats.items() if isinstance(v, (int, float))}))
    return 0


def bare_crawl(urls: list[str], overrides: dict[str, Any], work: Path) -> tuple[dict[str, Any], float]:
    urls_file = work / "urls.txt"
    urls_file.write_text("\n".join(urls))
    env = dict(os.environ, SCRAPY_SETTINGS_MODULE="crawler.settings",
               PYTHONPATH=os.pathsep.join(filter(None, [str(common.REPO), os.environ.get("PYTHONPATH")])))  # fmt: skip
    started = time.perf_counter()
    with (work / "bare.log").open("ab") as log:
        proc = subprocess.run(
            [sys.executable, __file__, "--bare-spider", str(urls_file), "--overrides", json.dumps(overrides)],
            stdout=subprocess.PIPE, stderr=log, env=env, cwd=common.REPO, timeout=900, check=True,
        )  # fmt: skip
    wall = time.perf_counter() - started
    return json.loads(proc.stdout.decode().strip().splitlines()[-1]), wall


# --------------------------------------------------------------------------------- main


def profile_crawl(served: common.Served, db: Path, out: Path, settings: dict[str, Any]) -> None:
    """One real crawl under Scrapy's --profile (cProfile of the whole crawl process)."""
    env = dict(os.environ, SCRAPY_SETTINGS_MODULE="crawler.settings",
               PYTHONPATH=os.pathsep.join(filter(None, [str(common.REPO), os.environ.get("PYTHONPATH")])))  # fmt: skip
    cmd = [sys.executable, "-m", "scrapy", "crawl", common.SITE, "--profile", str(out),
           "-s", f"XUNSHI_DB={db}", "-s", "LOG_LEVEL=WARNING",
           "-a", f"start_url={served.url(common.START_PATH)}"]  # fmt: skip
    for key, value in settings.items():
        cmd += ["-s", f"{key}={value}"]
    subprocess.run(cmd, env=env, cwd=common.REPO, timeout=900, check=True)
    import pstats

    print(f"\n# cProfile of one real crawl ({out}), top 25 by cumulative time")
    pstats.Stats(str(out)).sort_stats("cumulative").print_stats(25)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="notices on the site (default 1000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each configuration")
    parser.add_argument("--pad", choices=["markup", "comment"], default="markup")
    parser.add_argument("--only-project-settings", action="store_true",
                        help="skip the two diagnostic configurations")  # fmt: skip
    parser.add_argument("--profile", type=Path, help="also write cProfile stats of a real crawl here")
    parser.add_argument("--bare-spider", help=argparse.SUPPRESS)
    parser.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_spider:
        return run_bare_spider(args.bare_spider, json.loads(args.overrides))

    configs = CONFIGS[:1] if args.only_project_settings else CONFIGS
    list_pages = -(-args.n // 10)
    common.header(f"crawl throughput: {args.n} notices, {list_pages} list pages, pad={args.pad}")
    rows: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
        work = Path(tmp)
        clock = common.Stopwatch()
        notices = common.build_site(work / "site", args.n, pad=args.pad)
        site_mb = common.tree_bytes(work / "site") / 1e6
        print(f"# site generated in {clock.seconds():.1f} s: {site_mb:.0f} MB, "
              f"{site_mb * 1e6 / (args.n + list_pages) / 1000:.0f} KB/page on average")  # fmt: skip
        run = 0
        for label, overrides, latency, walk in configs:
            walk = min(walk or list_pages, list_pages)
            # The pager itself stops at 2000 pages (crawler/extract.py trs_pages).
            settings = {"XUNSHI_MAX_LIST_PAGES": walk if walk < list_pages else max(200, walk + 1),
                        **overrides}  # fmt: skip
            newest = list(reversed(notices))[: walk * 10]
            with common.serve(work / "site", latency=latency) as served:
                urls = [served.url(p) for p in common.list_paths(args.n)[:walk]] + [
                    served.url(n.path) for n in newest
                ]
                for _ in range(args.repeat):
                    run += 1
                    served.clear()
                    bare, bare_wall = bare_crawl(urls, settings, work)
                    bare_served = len(served.statuses)
                    served.clear()
                    db = work / f"run{run}" / "bench.db"
                    db.parent.mkdir()
                    result, stats = common.crawl(served, db, settings=settings)
                    real_served = len(served.statuses)
                    if result.status != "ok" or result.counts["new"] != len(newest):
                        print(f"real crawl went wrong: {result.status} {result.counts} {result.error}",
                              file=sys.stderr)  # fmt: skip
                        return 1
                    bare_rate = bare["downloader/response_count"] / bare["elapsed_time_seconds"]
                    real_rate = stats["downloader/response_count"] / stats["elapsed_time_seconds"]
                    rows.append([label, bare_served, real_served,
                                 bare["elapsed_time_seconds"], bare_wall, bare_rate,
                                 stats["elapsed_time_seconds"], result.seconds, real_rate,
                                 1000 / real_rate - 1000 / bare_rate, real_rate / bare_rate,
                                 "yes" if real_rate / bare_rate >= 0.8 else "no"])  # fmt: skip
                    print(f"# {label}: bare {bare_rate:.1f} pages/s, real {real_rate:.1f} pages/s",
                          flush=True)  # fmt: skip
                if args.profile and run == 1:
                    db = work / "profile" / "bench.db"
                    db.parent.mkdir()
                    profile_crawl(served, db, args.profile.resolve(), settings)
    print()
    common.print_table(
        ["configuration", "bare: pages served", "real: pages served", "bare s", "bare wall s",
         "bare pages/s", "real s", "real wall s", "real pages/s", "ms/page added", "real/bare",
         "≥ 0.8"],
        rows,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
