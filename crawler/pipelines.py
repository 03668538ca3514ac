"""Item pipelines, in order: normalise -> validate -> store. Nothing else."""

from __future__ import annotations

import logging
import os
import sqlite3
from typing import Any

from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.utils.defer import deferred_from_coro

from crawler.extensions import (
    COUNT_KEY,
    acquire_store,
    no_page_reason,
    release_store,
    site_progress,
)
from crawler.extract import gb_mojibake, text_problem
from crawler.items import Notice, PageEvent, SiteList
from crawler.normalise import is_seed_format, normalise, seed_proven
from store.db import StoreError
from store.notices import RUN_COUNTS, Store, load_known
from store.prepare import Prepared, load_tables
from store.sites import list_failed, save_list

logger = logging.getLogger(__name__)


class NormalisePipeline:
    """Turns a notice's extracted paragraphs into seed-format text."""

    def process_item(self, item: Any) -> Any:
        if isinstance(item, Notice):
            item.text = normalise(item.paragraphs, header=item.header)
        return item


class ValidatePipeline:
    """Drops, with a logged reason, a notice whose text cannot be right."""

    def __init__(self, min_chars: int) -> None:
        self.min_chars = min_chars

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidatePipeline:
        return cls(crawler.settings.getint("XUNSHI_MIN_TEXT_CHARS"))

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, Notice):
            return item
        text = item.text or ""
        body = text.split("\n", 1)[1] if item.header and "\n" in text else text
        if len(body) < self.min_chars:
            raise DropItem(f"text too short ({len(body)} characters) at {item.url}")
        # The text NormalisePipeline has just proved in seed format holds no control
        # character (the seed format has none): text_problem need not search for one.
        problem = text_problem(text, seed=seed_proven(text)) or (
            "mojibake in the text (UTF-8 read as GB18030: mixed encodings)"
            if gb_mojibake(text)
            else None
        )
        if problem:
            raise DropItem(f"{problem} at {item.url}")
        if not is_seed_format(text):
            raise DropItem(f"text is not in seed format at {item.url}")
        return item


def run_outcome(
    reason: str, stats: dict[str, Any], store_error: str | None, time_limit: float = 0
) -> tuple[str, str | None]:
    """A run's status and error from why Scrapy closed the spider and what it fetched."""
    if store_error:
        return "failed", f"cannot write to the database: {store_error}"
    if reason in ("time_limit", "closespider_timeout"):
        return "interrupted", f"time limit of {time_limit:g} s reached; crawl stopped"
    if reason == "shutdown":
        return "interrupted", "crawl ended: shutdown"
    if reason != "finished":
        return "failed", f"crawl ended: {reason}"
    nothing = no_page_reason(stats)
    if nothing:
        return "failed", nothing
    return "ok", None


class StorePipeline:
    """Records notices and page events in the database, and the run's counts at the end."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.path = settings.get("XUNSHI_DB")
        run_id = settings.get("XUNSHI_RUN_ID")
        self.run_id: int | None = int(run_id) if run_id else None
        self.own_run = self.run_id is None
        self.counts = dict.fromkeys(RUN_COUNTS, 0)
        self.store: Store | None = None
        self.store_error: str | None = None
        # Writes are committed in batches (open_spider turns it on: a Scrapy crawl), of
        # this many items or this many seconds, whichever comes first, and at the end.
        self.batch_items = max(settings.getint("XUNSHI_STORE_BATCH", 32), 1)
        self.batch_seconds = settings.getfloat("XUNSHI_STORE_BATCH_SECONDS", 1.0)
        self.batching = False
        self._timer: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def _count(self, name: str, n: int = 1) -> None:
        # What a batch recorded counts once it is committed (a batch lost is not counted).
        if self.store is not None and self.store.batch_open:
            self.store.after_commit(lambda: self._add(name, n))
        else:
            self._add(name, n)

    def _add(self, name: str, n: int) -> None:
        self.counts[name] += n
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(COUNT_KEY + name, n)

    def open_spider(self) -> None:
        spider = self.crawler.spider
        assert spider is not None
        try:
            self.store = acquire_store(self.path)
        except StoreError as exc:
            logger.critical("%s", exc)
            raise
        if self.run_id is None:
            self.run_id = self.store.start_run(
                spider.name, {"start_url": getattr(spider, "start_url_override", None)}
            )
        else:
            self.store.update_run(self.run_id, pid=os.getpid())
        if self.crawler.stats is not None:
            self.crawler.stats.set_value("xunshi/run_id", self.run_id)
        if isinstance(getattr(spider, "known", None), dict):
            # What the spider routes by: the site's stored notices (a read-only query).
            spider.known = load_known(self.store, spider.name)  # type: ignore[attr-defined]
        # The tables recording a new notice reads, loaded with the crawl's start (once per
        # process: every site's crawler of a crawl shares them), not by its first notice.
        load_tables()
        self.batching = self.batch_items > 1 and self.batch_seconds > 0
        if self.batching:
            from scrapy.utils.asyncio import create_looping_call

            self._timer = create_looping_call(self._commit_due)
            self._timer.start(self.batch_seconds, now=False)

    def _commit_due(self) -> None:
        if self.store is not None and self.store.batch_due(self.batch_items, self.batch_seconds):
            self._commit()

    def _commit(self) -> None:
        """Commit the open batch; a database error stops the crawl as a failed write does."""
        if self.store is None:
            return
        try:
            self.store.commit_batch()
        except (sqlite3.Error, StoreError) as exc:
            self._store_failed(exc)

    def close_spider(self) -> None:
        # Before spider_closed (and the extensions that read the database then).
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        self._commit()

    def spider_closed(self, spider: Any, reason: str) -> None:
        # Runs after the pipelines have closed, when Scrapy knows why the crawl ended.
        if self._timer is not None and self._timer.running:
            self._timer.stop()
        if self.store is None or self.run_id is None:
            return
        self._commit()
        stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        status, error = run_outcome(
            reason, stats, self.store_error, self.crawler.settings.getfloat("XUNSHI_TIME_LIMIT")
        )
        if self.crawler.stats is not None:
            self.crawler.stats.set_value("xunshi/status", status)
            self.crawler.stats.set_value("xunshi/error", error)
        if status != "ok":
            logger.warning("%s: run %s %s: %s", spider.name, self.run_id, status, error)
        try:
            self.store.finish_run(
                self.run_id,
                status,
                error=error,
                pages=site_progress(stats)["pages"],
                **self.counts,
            )
        except (sqlite3.Error, StoreError) as exc:
            # The runner closes the run from outside when it can; say why here.
            logger.error("cannot record the end of run %s: %s", self.run_id, exc)
        finally:
            self.store = None
            release_store(self.path)

    def process_item(self, item: Any, prepared: Prepared | None = None) -> Any:
        """Record ``item``; ``prepared``: its pure work done by the worker that sent it
        (a distributed crawl's writer), else done here (store/prepare.py)."""
        assert self.store is not None
        if self.store_error:
            raise DropItem("the database cannot be written; crawl stopping")
        try:
            if self.batching:
                self.store.begin_batch()
            self._record(item, prepared)
            if self.batching and self.store.batch_due(self.batch_items, self.batch_seconds):
                self.store.commit_batch()
        except (sqlite3.Error, StoreError) as exc:
            self._store_failed(exc)
            raise DropItem(f"not stored: {exc}") from None
        return item

    def _store_failed(self, exc: Exception) -> None:
        # Disk full, read-only file, lost lock: every later write would fail the same
        # way. Stop the crawl; what was committed before stays whole (each notice in a
        # savepoint, a batch committed whole). The batch the error fell in is kept if it
        # can still be committed, else rolled back whole and not counted.
        assert self.store is not None
        if self.store_error is None:
            self.store_error = str(exc)
        try:
            self.store.commit_batch()
        except (sqlite3.Error, StoreError) as again:
            logger.error("the last batch of records was not stored: %s", again)
            self.store.rollback_batch()
        if self.crawler.stats is not None:
            self.crawler.stats.set_value("xunshi/store_error", self.store_error)
        logger.error("cannot write to the database: %s; stopping the crawl", exc)
        engine = self.crawler.engine
        if engine is not None:
            deferred_from_coro(engine.close_spider_async(reason="store_error"))

    def _record(self, item: Any, prepared: Prepared | None = None) -> None:
        assert self.store is not None
        if isinstance(item, Notice):
            self._count("notices_seen")
            # In one process the store does the pure work itself, and only for a notice
            # that is new or changed (an unchanged one needs none of it).
            if prepared is None:
                recorded = self.store.record(item, self.run_id)
            else:
                recorded = self.store.record(item, self.run_id, prepared)
            self._count(recorded.outcome)
            line = ("%s notice %d v%d: %s", recorded.outcome, recorded.notice_id,
                    recorded.version, item.url)  # fmt: skip
            self.store.after_commit(lambda: logger.info(*line))
        elif isinstance(item, PageEvent):
            self._page_event(item)
        elif isinstance(item, SiteList):
            if item.found:
                save_list(self.store, item.site, item.url, item.family, item.reason)
            else:
                list_failed(self.store, item.site, item.reason)

    def _page_event(self, event: PageEvent) -> None:
        assert self.store is not None
        detail = {"reason": event.reason, "status": event.status}
        if event.kind == "not_modified":
            self._count("not_modified")
            self.store.touch_not_modified(event.url)
        elif event.kind == "skipped":
            # A link a list page shows that cannot be followed: counted in the run, logged
            # by the spider with the link and the reason.
            self._count("skipped")
        elif event.kind == "delisted":
            self.store.mark_removed(event.url, self.run_id, event.reason)
        elif event.kind == "gone":
            if self.store.mark_removed(event.url, self.run_id, event.reason) is None:
                self._count("failed")
                self.store.record_event(
                    self.run_id, "fetch_failed", site=event.site, url=event.url, detail=detail
                )
        elif event.kind == "blocked":
            self._count("blocked")
            logger.warning("blocked: %s (%s)", event.url, event.reason)
            self.store.record_event(
                self.run_id, "blocked", site=event.site, url=event.url, detail=detail
            )
        else:
            self._count("failed")
            if event.kind == "parse_failed" and self.crawler.stats is not None:
                self.crawler.stats.inc_value("xunshi/parse_failures")
            logger.warning("%s: %s (%s)", event.kind, event.url, event.reason)
            self.store.record_event(
                self.run_id, event.kind, site=event.site, url=event.url, detail=detail
            )

    def item_dropped(
        self, item: Any, response: Any, exception: BaseException, spider: Any = None
    ) -> None:
        if self.store is None or self.store_error or not isinstance(item, Notice):
            return
        self._count("dropped")
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value("xunshi/parse_failures")
        found = self.store.find_notice(item.url)
        self.store.record_event(
            self.run_id,
            "parse_failed",
            site=item.site,
            notice_id=found["id"] if found else None,
            url=item.url,
            detail={"reason": str(exception)},
        )
