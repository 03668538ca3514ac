"""Issue 12: several crawl workers over scrapy-redis against a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import scrapy
from scrapy.utils.test import get_crawler

from crawler.sites import SiteProfile
from crawler.spiders.notices import spider_class
from tests.redisserver import redis_server


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with redis_server(tmp_path / "redis") as url:
        yield url


def _scheduler(url: str, spider_cls: type) -> tuple[object, scrapy.Spider]:
    from scrapy_redis.scheduler import Scheduler

    settings = {
        "REDIS_URL": url,
        "SCHEDULER_PERSIST": True,
        "SCHEDULER_QUEUE_KEY": "t:%(spider)s:requests",
        "SCHEDULER_DUPEFILTER_KEY": "t:%(spider)s:dupefilter",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
    }
    crawler = get_crawler(spider_cls, settings)
    spider = spider_cls.from_crawler(crawler)
    crawler.spider = spider
    scheduler = Scheduler.from_crawler(crawler)
    scheduler.open(spider)
    return scheduler, spider


def test_scrapy_redis_shares_frontier_and_dupefilter_between_processes(redis_url: str) -> None:
    """scrapy-redis 0.9.1 with Scrapy 2.19: two schedulers (two workers) on one Redis see
    one frontier and one duplicate filter; a request comes back with our spider's callback."""
    profile = SiteProfile(name="rtest", label="t", province=None, base_url="http://127.0.0.1:9/",
                          start_paths=("list/",), article_path=r"/a/")  # fmt: skip
    cls = spider_class(profile)
    one, spider_one = _scheduler(redis_url, cls)
    two, spider_two = _scheduler(redis_url, cls)
    first = spider_one._article_request("http://127.0.0.1:9/a/1.html", "notice", "标题")
    assert one.enqueue_request(first) is True
    # the same page again, from the other worker: the shared filter drops it
    again = spider_two._article_request("http://127.0.0.1:9/a/1.html", "notice", "标题")
    assert two.enqueue_request(again) is False
    assert one.has_pending_requests() and two.has_pending_requests()
    got = two.next_request()
    assert got is not None and got.url == first.url
    assert got.callback == spider_two.parse_article and got.meta["verdict"] == "notice"
    assert one.next_request() is None and not one.has_pending_requests()
    assert redis.Redis.from_url(redis_url).scard("t:rtest:dupefilter") == 1
