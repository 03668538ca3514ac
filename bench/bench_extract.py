"""The crawler's own work per page, function by function (CPU ms per page, issue 16).

Run from the repo root: ``.venv/bin/python bench/bench_extract.py [--n N] [--rounds R]``.

The N first pages of bench_crawl.py's site (bench/_common.py article_page: 60-120 KB,
markup padding) go through each stage of what the crawler does with an article page
besides Scrapy's own fetch: detect_block (the block middleware), decode_page,
extract_article (its lxml parse included), element_lines of the article body (part of
extract_article), and the normalise and validate pipelines one after the other, as a crawl
runs them. Each stage runs over all N pages in one timed loop (``time.process_time``), R
times; the table gives the fastest round, in ms per page. Run it at two commits to compare
them (the figures in docs/performance.md were taken so, one after the other).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402

from crawler.article import extract_article  # noqa: E402
from crawler.extract import decode_page, detect_block  # noqa: E402
from crawler.htmltext import element_lines, parse_html  # noqa: E402
from crawler.items import Notice  # noqa: E402
from crawler.pipelines import NormalisePipeline, ValidatePipeline  # noqa: E402
from crawler.sites import get_site  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="example: .venv/bin/python bench/bench_extract.py --n 300 --rounds 5",
    )
    parser.add_argument("--n", type=int, default=300, help="pages (default 300)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds; the fastest counts (default 5)"
    )
    args = parser.parse_args()

    profile = get_site(common.SITE)
    days = common.spread_dates(args.n)
    pages = []
    for i in range(args.n):
        notice, html = common.article_page(i, days[i])
        pages.append((f"http://127.0.0.1:8000{notice.path}", html.encode("utf-8")))
    texts = [decode_page(body, "text/html")[0] for _, body in pages]
    articles = [
        extract_article(text, url, profile) for text, (url, _) in zip(texts, pages, strict=True)
    ]
    items = [
        Notice(site=common.SITE, url=url, title=a.title, published_at=None, source=a.source,
               paragraphs=a.paragraphs, header=a.header, raw=b"", encoding="utf-8", status=200,
               headers={}, fetched_at="", methods={}, province=None)
        for a, (url, _) in zip(articles, pages, strict=True)
    ]  # fmt: skip
    bodies = [parse_html(text).xpath("//div[@class='TRS_Editor']")[0] for text in texts]
    normalise, validate = NormalisePipeline(), ValidatePipeline(200)

    def pipelines() -> None:
        for item in items:
            validate.process_item(normalise.process_item(item))

    def each(fn: Callable[..., object], inputs: list[Any]) -> Callable[[], None]:
        def run() -> None:
            for args in inputs:
                fn(*args)  # the result dropped at once, as a crawl drops a page's

        return run

    stages: list[tuple[str, Callable[[], None]]] = [
        ("detect_block (middleware)", each(detect_block, [(200, body) for _, body in pages])),
        ("decode_page", each(decode_page, [(body, "text/html") for _, body in pages])),
        ("extract_article (parse included)",
         each(extract_article, [(t, u, profile) for t, (u, _) in zip(texts, pages, strict=True)])),
        ("  of which element_lines of the body", each(element_lines, [(b,) for b in bodies])),
        ("normalise + validate pipelines", pipelines),
    ]  # fmt: skip
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for label, run in stages:
            gc.collect()
            start = time.process_time()
            run()
            ms = (time.process_time() - start) / args.n * 1000
            best[label] = min(best.get(label, ms), ms)
    common.header(
        f"the crawler's work per page, CPU ms (fastest of {args.rounds} rounds, {args.n} pages)"
    )
    common.print_table(
        ["stage", "ms/page"], [[label, round(best[label], 3)] for label, _ in stages]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
