"""Several crawl workers over one Redis (issue 12): pages/s for 1, 2 and 3 workers on a
local world whose responses carry latency, and the scaling ratio against one worker.

Run from the repo root: ``.venv/bin/python bench/bench_workers.py [--sites 18]
[--notices 15] [--latency 0.2] [--per-worker 2] [--workers 1 2 3]``; ``--writer N``
measures only the store writer (N notices, one transaction per message vs per batch). Needs
``redis-server`` (started here on a unix socket, persistence off). Heavy: run it once,
not in a loop (the machine is shared).

The world is tests/world.py's (generated TRS sites and recorded copies, each on its own
127.0.x.y address, ``--latency`` seconds on every response). Each run crawls the whole
world into a fresh database with ``crawler.distributed.run_distributed``: N worker
processes on this machine plus the store writer (this process). ``--per-worker`` caps
each worker's downloads in flight over all sites (``XUNSHI_PROCESS_CONCURRENCY``): a worker stands for a
machine with its own bandwidth and address; without a cap, one worker already has every
host busy and more workers cannot add anything on one machine (one request per host at a
time holds across workers). All workers share this machine's cores, so the ratio is a
floor for workers on separate machines.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench._common import machine, print_table  # noqa: E402
from crawler.distributed import run_distributed  # noqa: E402
from crawler.run import SiteCrawl  # noqa: E402
from tests import world  # noqa: E402
from tests.redisserver import redis_server  # noqa: E402


def writer_rates(n: int, batches: list[int]) -> None:
    """The store writer alone: ``n`` new notices recorded from worker messages with one
    write transaction per ``batch`` messages (``crawler.distributed.BATCH`` in a crawl)."""
    from crawler.distributed import _Run, _Writer, _WriterCrawler, writer_settings
    from crawler.pipelines import StorePipeline
    from store.notices import Store
    from tests.test_store import make_notice

    paragraph = "巡视整改进展情况。" * 40
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in batches:
            db = Path(tmp) / f"b{size}.db"
            store = Store.open(db)
            run_id = store.start_run("zjsjw")
            pipeline = StorePipeline(_WriterCrawler(run_id, str(db), None))  # type: ignore[arg-type]
            pipeline.store = store
            runs = {run_id: _Run(SiteCrawl("zjsjw"), run_id, pipeline)}
            writer = _Writer(
                None, "bench", store, runs, Path(tmp) / "w.log", None, writer_settings()
            )
            messages = [
                {"kind": "item", "run_id": run_id,
                 "item": make_notice(f"第{i}号通报\n{paragraph}\n给予党纪处分{i}人次",
                                     url=f"http://www.zjsjw.gov.cn/a/202306/t20230626_{i}_ext.html")}
                for i in range(n)
            ]  # fmt: skip
            started = time.monotonic()
            for at in range(0, n, size):
                writer.write_batch(messages[at : at + size])
            seconds = time.monotonic() - started
            assert pipeline.counts["new"] == n, pipeline.counts
            store.close()
            rows.append([size, n, round(seconds, 2), round(n / seconds, 1)])
    print_table(["messages per transaction", "notices", "s", "notices/s"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--writer", type=int, metavar="N",
        help="measure only the store writer: N notices, one transaction per message vs per batch",
    )  # fmt: skip
    parser.add_argument("--sites", type=int, default=18)
    parser.add_argument("--notices", type=int, default=15, help="notices per generated site")
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--per-worker", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    print(machine())
    if args.writer:
        writer_rates(args.writer, [1, 200])
        return
    print(
        f"world: {args.sites} sites, {args.notices} notices per generated site, "
        f"{args.latency:g} s latency per response, {args.per_worker} downloads per worker"
    )
    rows = []
    base: float | None = None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sites = world.build_world(
            folder / "world", args.sites, sizes=[args.notices] * args.sites, first_address=200
        )
        expected = sum(len(s.expected) for s in sites)
        with world.serving(sites, latency=args.latency), redis_server(folder / "redis") as url:
            profiles = world.profiles(sites)
            for n in args.workers:
                for site in sites:
                    site.stats.peak = 0
                started = time.monotonic()
                results = run_distributed(
                    [SiteCrawl(s.name) for s in sites], db_path=folder / f"w{n}.db",
                    redis_url=url, workers=n, profiles=profiles,
                    settings={"XUNSHI_PROCESS_CONCURRENCY": args.per_worker},
                )  # fmt: skip
                seconds = time.monotonic() - started
                pages = sum(s.stats.requests for s in sites)
                stored = sum(r.counts["new"] for r in results)
                ok = sum(r.status == "ok" for r in results)
                rate = pages / seconds
                base = base or rate
                peak = max(s.stats.peak for s in sites)
                rows.append([n, round(seconds, 2), pages, round(rate, 1),
                             f"{rate / base:.2f}x", f"{stored}/{expected}",
                             f"{ok}/{len(sites)}", peak])  # fmt: skip
                for site in sites:
                    site.stats.requests = 0
    print_table(
        ["workers", "wall s", "requests", "pages/s", "vs 1 worker", "notices stored",
         "sites ok", "peak per host"],
        rows,
    )  # fmt: skip


if __name__ == "__main__":
    main()
