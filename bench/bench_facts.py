"""CPU per notice of the facts (crawler/facts.py) and the district match (store/districts.py).

Run from the repo root::

    .venv/bin/python bench/bench_facts.py            # 3 runs, 400 bench pages
    .venv/bin/python bench/bench_facts.py --n 1000 --runs 5 --profile facts

Three corpora, each timed with ``time.process_time`` (this process's CPU, every thread):

* ``bench pages``: the texts of bench/_common.py's ``article_page`` notices (what
  bench_crawl.py crawls: seed 000's body, 16 units, dates spread over 2000-2024, so a
  crawl meets ~25 years of the division table);
* ``seeds``: the two seed notices of shared/seeds;
* ``ccdi``: the texts of the 25 real CCDI pages in shared/fixtures/ccdi (not notices:
  what the store also meets).

For the district match two figures: ``cold``, every year view built afresh inside the
run (the caches are cleared before it: what a crawl process pays the first time it meets
each year), and ``warm`` (the views already built). Each figure is the median of
``--runs`` runs; the load average is printed beside them, since other processes on the
machine disturb even CPU time (shared caches, the sibling hyperthread).

The code before issue 16's CPU work is commit 73f0d3e (tests/test_facts_equivalence.py
holds the current code to its outputs): run this script from a checkout of it to time it.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench._common import article_page, spread_dates  # noqa: E402
from crawler.facts import extract_facts  # noqa: E402
from store import districts  # noqa: E402
from store.districts import match_notice  # noqa: E402

SHARED = REPO.parent / "shared"
SEED_TITLES = {
    "000_6f66318992fdd9a8.txt": ("中共杭州市拱墅区委关于省委巡视整改进展情况的通报", "2023-06-27", "浙江省"),
    "002_750c7fecf357e703.txt": (
        "中共上海市黄浦区委员会关于十二届市委第二轮巡视集中整改进展情况的通报",
        "2024-01-17",
        "上海市",
    ),
}

# (title, text, published "YYYY-MM-DD" or None, province or None)
Notice = tuple[str | None, str, str | None, str | None]


def bench_pages(n: int) -> list[Notice]:
    out: list[Notice] = []
    for i, day in enumerate(spread_dates(n)):
        notice, _ = article_page(i, day, pad="none")
        out.append((notice.title, notice.expected, notice.published[:10], "浙江省"))
    return out


def seeds() -> list[Notice]:
    out: list[Notice] = []
    for name, (title, published, province) in SEED_TITLES.items():
        path = SHARED / "seeds" / name
        if path.is_file():
            out.append((title, path.read_text(encoding="utf-8"), published, province))
    return out


def ccdi() -> list[Notice]:
    from tests.pagecorpus import ccdi_notice_texts

    return [(title, text, published, None) for title, text, published in ccdi_notice_texts()]


def _year(published: str | None) -> int:
    return int(published[:4]) if published else 2025


def _clear_views() -> None:
    districts._view.cache_clear()
    districts._match_view.cache_clear()


def run_facts(notices: list[Notice], extract: Callable[..., Any] = extract_facts) -> float:
    start = time.process_time()
    for title, text, published, _ in notices:
        extract(text, title, published)
    return time.process_time() - start


def run_districts(notices: list[Notice], match: Callable[..., Any] = match_notice) -> float:
    start = time.process_time()
    for title, text, published, province in notices:
        match(title, text, year=_year(published), site_province=province)
    return time.process_time() - start


def median_ms(fn: Callable[[list[Notice]], float], notices: list[Notice], runs: int,
              before: Callable[[], None] | None = None) -> tuple[float, float, float]:  # fmt: skip
    samples = []
    for _ in range(runs):
        if before is not None:
            before()
        samples.append(fn(notices) * 1000 / len(notices))
    return statistics.median(samples), min(samples), max(samples)


def corpus_items(corpora: dict[str, list[Notice]]) -> list[tuple[str, list[Notice]]]:
    return [(name, notices) for name, notices in corpora.items() if notices]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=400, help="bench pages (default 400)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument("--profile", choices=("facts", "districts"),
                        help="print a cProfile of one run over the bench pages instead")  # fmt: skip
    args = parser.parse_args()

    corpora = {"bench pages": bench_pages(args.n), "seeds": seeds(), "ccdi": ccdi()}
    districts._table()  # the table's load is start-up, not per notice
    if args.profile:
        fn = run_facts if args.profile == "facts" else run_districts
        _clear_views()
        prof = cProfile.Profile()
        prof.enable()
        fn(corpora["bench pages"])
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return 0

    print(f"load average at start: {os.getloadavg()[0]:.2f}; median (min-max) of {args.runs} runs, "
          "ms of CPU per notice")  # fmt: skip
    kinds: list[tuple[str, Callable[[list[Notice]], float], Callable[[], None] | None]] = [
        ("facts", run_facts, None),
        ("districts cold", run_districts, _clear_views),
        ("districts warm", run_districts, None),
    ]
    header = f"{'corpus':<14} {'notices':>7} {'what':<15} {'now':>22}"
    print(header)
    for name, notices in corpus_items(corpora):
        chars = sum(len(n[1]) for n in notices) // len(notices)
        for label, fn, clear in kinds:
            m, lo, hi = median_ms(fn, notices, args.runs, before=clear)
            print(f"{name:<14} {len(notices):>7} {label:<15} {m:>7.3f} ({lo:.3f}-{hi:.3f})"
                  f"   {chars} chars")  # fmt: skip
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
