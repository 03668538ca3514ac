"""One site of a crawl plan added to a Scrapy ``CrawlerProcess``: shared by the one-process
crawl (crawler/run.py) and the distributed workers (crawler/worker.py), so that a site is
started the same way in both."""

from __future__ import annotations

from typing import Any

from crawler import sites as registry


def add_site(
    process: Any, entry: dict[str, Any], settings: dict[str, Any] | None = None
) -> tuple[Any, Any]:
    """Create the crawler of ``entry`` (a plan's site: ``site``, ``run_id`` and optional
    ``start_url``, ``full``, ``timeout``) in ``process``, with ``settings`` added to its
    own, and start it; return the crawler and the Deferred that fires when it ends."""
    from crawler.spiders.notices import spider_class

    crawler = process.create_crawler(spider_class(registry.get_site(entry["site"])))
    crawler.settings.set("XUNSHI_RUN_ID", entry["run_id"], priority="cmdline")
    if entry.get("timeout"):
        crawler.settings.set("XUNSHI_TIME_LIMIT", entry["timeout"], priority="cmdline")
    for name, value in (settings or {}).items():
        crawler.settings.set(name, value, priority="cmdline")
    kwargs: dict[str, Any] = {}
    if entry.get("start_url"):
        kwargs["start_url"] = entry["start_url"]
    if entry.get("full"):
        kwargs["full"] = "1"
    return crawler, process.crawl(crawler, **kwargs)
