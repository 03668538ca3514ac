"""A Scrapy extension for the benchmarks: the crawl process's CPU time from spider open to close.

Enabled through the settings (``bench/bench_crawl.py`` adds it to ``EXTENSIONS`` with
``BENCH_CPU_FILE``); it is no part of the product. At spider open it starts a clock on
the process's CPU time (``time.process_time``: every thread, user and system), so the
figure leaves out start-up (imports, settings, crawler creation). With
``BENCH_CPU_STAGES`` it also wraps the crawler's stages, each a plain function called on
Scrapy's one thread, and adds up the thread CPU time spent in each. The wrappers cost two
clock reads per call (about 1 µs per page in all). At spider close it writes JSON to
``BENCH_CPU_FILE``: total CPU seconds, pages (``downloader/response_count``) and the
seconds per stage.
"""

from __future__ import annotations

import functools
import gc
import importlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scrapy import signals

# (label, module, attribute): a function (or "Class.method") that is looked up at call
# time from that module, so replacing the attribute times every call. Nested stages
# (facts and districts run inside the store's record) are shown as "of which".
STAGES: list[tuple[str, str, str]] = [
    ("detect_block (middleware)", "crawler.middlewares", "detect_block"),
    ("decode_page", "crawler.spiders.notices", "decode_page"),
    ("extract_article", "crawler.spiders.notices", "extract_article"),
    ("parse_list", "crawler.spiders.notices", "parse_list"),
    ("normalise (pipeline)", "crawler.pipelines", "NormalisePipeline.process_item"),
    ("validate (pipeline)", "crawler.pipelines", "ValidatePipeline.process_item"),
    ("store (pipeline: Store.record, events)", "crawler.pipelines", "StorePipeline.process_item"),
    ("  of which extract_facts", "store.notices", "extract_facts"),
    ("  of which match_notice (districts)", "store.notices", "match_notice"),
    # the search index's document, computed by the SQL flush of the pending notices
    ("  of which the index document (store.fts.bigrams)", "store.fts", "bigrams"),
    # the store pipeline's batch commits that no item makes (its timer, the crawl's end)
    (
        "store: batch commits outside items (timer, close)",
        "crawler.pipelines",
        "StorePipeline._commit",
    ),
]


def _timed(fn: Callable[..., Any], totals: dict[str, float], label: str) -> Callable[..., Any]:
    clock = time.thread_time

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[label] += clock() - start

    return wrapper


class CpuClock:
    def __init__(self, crawler: Any) -> None:
        self.crawler = crawler
        self.out = Path(crawler.settings.get("BENCH_CPU_FILE"))
        self.totals: dict[str, float] = {}
        self.started = 0.0
        self.gc_seconds = 0.0
        self.gc_runs = [0, 0, 0]
        self.gc_by_generation = [0.0, 0.0, 0.0]
        self._gc_start = 0.0
        if crawler.settings.getbool("BENCH_CPU_STAGES"):
            for label, module_name, attr in STAGES:
                module = importlib.import_module(module_name)
                owner: Any = module
                name = attr
                if "." in attr:
                    cls_name, name = attr.split(".", 1)
                    owner = getattr(module, cls_name)
                self.totals[label] = 0.0
                setattr(owner, name, _timed(getattr(owner, name), self.totals, label))

    @classmethod
    def from_crawler(cls, crawler: Any) -> CpuClock:
        ext = cls(crawler)
        crawler.signals.connect(ext.opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.closed, signal=signals.spider_closed)
        return ext

    def opened(self, spider: Any) -> None:
        for label in self.totals:
            self.totals[label] = 0.0
        self.gc_seconds = 0.0
        self.gc_runs = [0, 0, 0]
        self.gc_by_generation = [0.0, 0.0, 0.0]
        gc.callbacks.append(self._gc)
        self.started = time.process_time()

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        # The cyclic collector's own time, whichever stage's allocation set it off.
        if phase == "start":
            self._gc_start = time.thread_time()
        else:
            spent = time.thread_time() - self._gc_start
            self.gc_seconds += spent
            self.gc_runs[info["generation"]] += 1
            self.gc_by_generation[info["generation"]] += spent

    def closed(self, spider: Any, reason: str) -> None:
        cpu = time.process_time() - self.started
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)
        stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        self.out.write_text(
            json.dumps(
                {
                    "cpu_seconds": cpu,
                    "pages": stats.get("downloader/response_count", 0),
                    "elapsed_seconds": stats.get("elapsed_time_seconds"),
                    "stages": self.totals,
                    "gc_seconds": self.gc_seconds,
                    "gc_runs": self.gc_runs,
                    "gc_seconds_by_generation": self.gc_by_generation,
                }
            )
        )
