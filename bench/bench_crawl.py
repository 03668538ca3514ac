"""Crawl cost: CPU per page of a real crawl (every pipeline on) against a bare Scrapy spider.

Run from the repo root: ``.venv/bin/python bench/bench_crawl.py [--n N] [--repeat R]``.

A site of N notices (60-120 KB pages, see bench/_common.py) is served on 127.0.0.1. Each
run crawls it four times, each in its own process, with the project's settings as a
loopback crawl gets them (no politeness delays, no AutoThrottle):

1. ``bare fetch``: the bare spider below, without our middleware, pipelines and
   callbacks' work: it fetches the very pages the real crawl fetches (every list page and
   article) and does nothing with them;
2. ``bare fetch+parse``: the same spider, which also parses every page with Scrapy's own
   selector (``response.css("title::text")``: the body decoded and parsed by lxml once),
   the least any Scrapy spider does with a page;
3. the real crawl through crawler.run.run_crawl without the store pipeline (extraction,
   normalisation and validation, nothing stored): the crawler alone;
4. the real crawl through crawler.run.run_crawl into a fresh database.

The figure (issue 16: target ≤ 4 ms) is the CPU time each crawl process spends from
spider open to spider close (``time.process_time``; start-up and imports left out,
bench/_cpuclock.py) divided by the pages fetched, real minus bare fetch+parse: the CPU our
crawler adds per page. The real crawl also adds up the CPU spent in each stage (decode,
extraction, pipelines, the store's record); the store pipeline's share is shown apart, and
crawl 3 minus crawl 2 is the crawler's own share. Each figure is the median of
``--repeat`` runs (default 3).

pages/s (Scrapy's ``downloader/response_count / elapsed_time_seconds``) is shown too. With
one request at a time per host on loopback it measures CPU per page, not crawling.
``--all-configs`` adds three diagnostic configurations: AutoThrottle on (the project's
settings for a real site, delays zeroed), 8 requests per host, and a server that takes
50 ms to answer, as a distant site does (the 200 newest notices only, to keep it short).
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
    ("project settings (loopback: 1/host, no delays, AutoThrottle off)", {}, 0.0, None),
    ("AutoThrottle on (delays zeroed)", {"AUTOTHROTTLE_ENABLED": True}, 0.0, None),
    ("8/host", {"CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 8}, 0.0, None),
    ("project settings, server answers in 50 ms (200 notices)", {}, 0.05, 20),
]  # fmt: skip
STAGE_SETTINGS = {"BENCH_CPU_STAGES": True}
# The real crawl without the store pipeline: what the crawler itself adds (nothing stored).
NO_STORE = {"ITEM_PIPELINES": {"crawler.pipelines.NormalisePipeline": 100,
                               "crawler.pipelines.ValidatePipeline": 200}}  # fmt: skip


# --------------------------------------------------------------------------- bare spider


def run_bare_spider(urls_file: str, overrides: dict[str, Any], parse: bool) -> int:
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
                settings.set("DOWNLOAD_DELAY_JITTER", 0, priority="spider")
                settings.set("AUTOTHROTTLE_START_DELAY", 0, priority="spider")
                settings.set("AUTOTHROTTLE_ENABLED", False, priority="spider")
            return spider

        async def start(self) -> Any:
            for url in self.urls:
                yield scrapy.Request(url, callback=self.parse, dont_filter=True,
                                     meta={"handle_httpstatus_list": HANDLED_STATUSES})  # fmt: skip

        def parse(self, response: Any) -> None:
            if parse:  # Scrapy's own parse: decode the body, build the lxml tree once
                response.css("title::text").get()
            return None

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


def child_env() -> dict[str, str]:
    return dict(os.environ, SCRAPY_SETTINGS_MODULE="crawler.settings",
                PYTHONPATH=os.pathsep.join(filter(None, [str(common.REPO), os.environ.get("PYTHONPATH")])))  # fmt: skip


def clock_settings(work: Path, stages: bool) -> tuple[dict[str, Any], Path]:
    """Settings that add bench/_cpuclock.py's clock to the project's extensions."""
    from scrapy.utils.project import get_project_settings

    out = work / "cpu.json"
    out.unlink(missing_ok=True)
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "crawler.settings")
    extensions = dict(get_project_settings().getdict("EXTENSIONS"))
    extensions["bench._cpuclock.CpuClock"] = 0
    settings: dict[str, Any] = {"EXTENSIONS": extensions, "BENCH_CPU_FILE": str(out)}
    if stages:
        settings.update(STAGE_SETTINGS)
    return settings, out


def bare_crawl(urls: list[str], overrides: dict[str, Any], work: Path, parse: bool
               ) -> tuple[dict[str, Any], float, dict[str, Any]]:  # fmt: skip
    urls_file = work / "urls.txt"
    urls_file.write_text("\n".join(urls))
    clock, out = clock_settings(work, stages=False)
    started = time.perf_counter()
    cmd = [sys.executable, __file__, "--bare-spider", str(urls_file),
           "--overrides", json.dumps({**overrides, **clock})]  # fmt: skip
    if parse:
        cmd.append("--bare-parse")
    with (work / "bare.log").open("ab") as log:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, env=child_env(),
                              cwd=common.REPO, timeout=900, check=True)  # fmt: skip
    wall = time.perf_counter() - started
    stats = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    return stats, wall, json.loads(out.read_text())


def real_crawl(served: common.Served, db: Path, settings: dict[str, Any], work: Path
               ) -> tuple[Any, dict[str, float], dict[str, Any]]:  # fmt: skip
    clock, out = clock_settings(work, stages=True)
    result, stats = common.crawl(served, db, settings={**settings, **clock})
    return result, stats, json.loads(out.read_text())


# --------------------------------------------------------------------------------- main


def profile_crawl(served: common.Served, db: Path, out: Path, settings: dict[str, Any]) -> None:
    """One real crawl under Scrapy's --profile (cProfile of the whole crawl process)."""
    cmd = [sys.executable, "-m", "scrapy", "crawl", common.SITE, "--profile", str(out),
           "-s", f"XUNSHI_DB={db}", "-s", "LOG_LEVEL=WARNING",
           "-a", f"start_url={served.url(common.START_PATH)}"]  # fmt: skip
    for key, value in settings.items():
        cmd += ["-s", f"{key}={value}"]
    subprocess.run(cmd, env=child_env(), cwd=common.REPO, timeout=900, check=True)
    import pstats

    print(f"\n# cProfile of one real crawl ({out}), top 25 by cumulative time")
    pstats.Stats(str(out)).sort_stats("cumulative").print_stats(25)


def ms_per_page(clock: dict[str, Any]) -> float:
    return 1000 * clock["cpu_seconds"] / max(clock["pages"], 1)


def gc_ms_per_page(clock: dict[str, Any]) -> float:
    return 1000 * clock.get("gc_seconds", 0.0) / max(clock["pages"], 1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="example: .venv/bin/python bench/bench_crawl.py --n 1000 --repeat 3",
    )
    parser.add_argument("--n", type=int, default=1000, help="notices on the site (default 1000)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each configuration (default 3)"
    )
    parser.add_argument("--pad", choices=["markup", "comment"], default="markup")
    parser.add_argument("--all-configs", action="store_true",
                        help="also run the three diagnostic configurations")  # fmt: skip
    parser.add_argument(
        "--profile", type=Path, help="also write cProfile stats of a real crawl here"
    )
    parser.add_argument("--bare-spider", help=argparse.SUPPRESS)
    parser.add_argument("--bare-parse", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_spider:
        return run_bare_spider(args.bare_spider, json.loads(args.overrides), args.bare_parse)

    configs = CONFIGS if args.all_configs else CONFIGS[:1]
    list_pages = -(-args.n // 10)
    common.header(f"crawl cost: {args.n} notices, {list_pages} list pages, pad={args.pad}, "
                  f"{args.repeat} runs of each")  # fmt: skip
    rows: list[list[Any]] = []
    cpu_rows: list[list[Any]] = []
    stage_runs: dict[str, list[float]] = {}
    loads: list[float] = []
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
            # The pager itself stops at 2000 pages (crawler/listpage.py trs_pages).
            settings = {"XUNSHI_MAX_LIST_PAGES": walk if walk < list_pages else max(200, walk + 1),
                        **overrides}  # fmt: skip
            newest = list(reversed(notices))[: walk * 10]
            per_run: list[dict[str, float]] = []
            with common.serve(work / "site", latency=latency) as served:
                urls = [served.url(p) for p in common.list_paths(args.n)[:walk]] + [
                    served.url(n.path) for n in newest
                ]
                for _ in range(args.repeat):
                    run += 1
                    loads.append(os.getloadavg()[0])
                    figures: dict[str, float] = {}
                    for name, parse in (("fetch", False), ("parse", True)):
                        served.clear()
                        bare, bare_wall, bare_clock = bare_crawl(urls, settings, work, parse)
                        if len(served.statuses) < len(urls):  # (and robots.txt)
                            print(f"bare crawl fetched {len(served.statuses)} of {len(urls)} pages",
                                  file=sys.stderr)  # fmt: skip
                            return 1
                        figures[f"{name} ms"] = ms_per_page(bare_clock)
                        figures[f"{name} gc"] = gc_ms_per_page(bare_clock)
                        figures[f"{name} pages/s"] = (bare["downloader/response_count"]
                                                      / bare["elapsed_time_seconds"])  # fmt: skip
                    # The crawler alone: the real crawl without the store pipeline.
                    served.clear()
                    db = work / f"run{run}" / "nostore.db"
                    db.parent.mkdir()
                    _, _, nostore_clock = real_crawl(served, db, {**settings, **NO_STORE}, work)
                    figures["no store ms"] = ms_per_page(nostore_clock)
                    served.clear()
                    db = work / f"run{run}" / "bench.db"
                    result, stats, real_clock = real_crawl(served, db, settings, work)
                    real_served = len(served.statuses)
                    if result.status != "ok" or result.counts["new"] != len(newest):
                        print(f"real crawl went wrong: {result.status} {result.counts} {result.error}",
                              file=sys.stderr)  # fmt: skip
                        return 1
                    if real_served != len(urls) + 1:  # (and robots.txt)
                        print(f"# note: the real crawl fetched {real_served} pages, the bare "
                              f"{len(urls)}")  # fmt: skip
                    pages = max(real_clock["pages"], 1)
                    stage_ms = {k: 1000 * v / pages for k, v in real_clock["stages"].items()}
                    for k, v in stage_ms.items():
                        stage_runs.setdefault(k, []).append(v)
                    # the pipeline and its batch commits outside items (both top-level rows)
                    store_ms = sum(v for k, v in stage_ms.items() if k.startswith("store"))
                    figures["real ms"] = ms_per_page(real_clock)
                    figures["real gc"] = gc_ms_per_page(real_clock)
                    stage_runs.setdefault("garbage collector (inside the stages above)", []).append(
                        figures["real gc"]
                    )
                    figures["real pages/s"] = (stats["downloader/response_count"]
                                               / stats["elapsed_time_seconds"])  # fmt: skip
                    figures["added"] = figures["real ms"] - figures["parse ms"]
                    figures["store"] = store_ms
                    figures["crawler"] = figures["no store ms"] - figures["parse ms"]
                    per_run.append(figures)
                    print(f"# {label}, run {len(per_run)}: CPU ms/page bare fetch "
                          f"{figures['fetch ms']:.2f}, bare fetch+parse {figures['parse ms']:.2f}, "
                          f"real {figures['real ms']:.2f} (store {store_ms:.2f}), real without "
                          f"the store {figures['no store ms']:.2f}; added {figures['added']:.2f}, "
                          f"by the crawler alone {figures['crawler']:.2f}; "
                          f"garbage collector bare {figures['parse gc']:.2f}, real "
                          f"{figures['real gc']:.2f}",
                          flush=True)  # fmt: skip
                if args.profile and run == args.repeat:
                    db = work / "profile" / "bench.db"
                    db.parent.mkdir()
                    profile_crawl(served, db, args.profile.resolve(), settings)

            def med(key: str, runs: list[dict[str, float]] = per_run) -> float:
                return common.median([r[key] for r in runs])

            cpu_rows.append([label, len(per_run), len(urls), med("fetch ms"), med("parse ms"),
                             med("no store ms"), med("real ms"), med("added"), med("store"),
                             med("crawler"), "yes" if med("added") <= 4 else "no"])  # fmt: skip
            rows.append([label, med("fetch pages/s"), med("parse pages/s"), med("real pages/s"),
                         med("real pages/s") / med("fetch pages/s")])  # fmt: skip
    print(f"\n# load average (1 min) at the start of each run: "
          f"{', '.join(f'{x:.2f}' for x in loads)}")  # fmt: skip
    print("\n# CPU ms per page, spider open to close, median of the runs")
    common.print_table(
        ["configuration", "runs", "pages", "bare fetch", "bare fetch+parse",
         "real without store", "real crawl", "added (real - fetch+parse)",
         "store pipeline (timed in real)", "crawler alone (no store - fetch+parse)",
         "added ≤ 4 ms"],
        cpu_rows,
    )  # fmt: skip
    print(f"\n# where the real crawl's CPU goes ({configs[0][0]}), ms per page, median of the runs")
    common.print_table(["stage", "ms/page"],
                       [[k, common.median(v)] for k, v in stage_runs.items()])  # fmt: skip
    print("\n# pages/s (spider open to close), median of the runs")
    common.print_table(["configuration", "bare fetch", "bare fetch+parse", "real crawl",
                        "real ÷ bare fetch"], rows)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
