"""Hostile pages: how list parsing and extraction scale with links and nesting (seconds).

Run from the repo root: ``.venv/bin/python bench/bench_hostile.py [--quick]``.
Each row times one call of the real function on a generated page (one warm-up call
first); the cost per element should stay flat as the page grows (issue 17 items 3, 4:
4,000 links outside ``<li>`` took 37 s and 1,900 nested ``<span>`` 15 s before).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler.article import extract_article  # noqa: E402
from crawler.listpage import parse_list  # noqa: E402
from crawler.sites import get_site  # noqa: E402

PROFILE = get_site("zjsjw")
LIST_URL = "http://127.0.0.1:8000/gongzuodongtai/xunshixuncha/index.shtml"
TITLE = "中共杭州市委关于省委巡视整改进展情况的通报"


def links_page(n: int, wrap: str) -> str:
    items = [f'<a href="./202401/t20240101_{i}_ext.html">{TITLE}({i})</a> <span>2024-01-01</span>'
             for i in range(n)]  # fmt: skip
    if wrap == "div":
        return "<html><body>" + "".join(f"<div>{x}</div>" for x in items) + "</body></html>"
    return "<html><body><ul><li>" + "".join(items) + "</li></ul></body></html>"


def deep_page(depth: int, chains: int) -> str:
    body = "".join("<span>" * depth + f"第{i}段,巡视整改落实情况。" + "</span>" * depth
                   for i in range(chains))  # fmt: skip
    return f"<html><body><h1>{TITLE}</h1><div class='x'><p>根据统一部署,现将情况公布。</p>{body}</div></body></html>"


def once(fn: Callable[[], Any]) -> float:
    fn()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller pages only")
    args = parser.parse_args()
    sizes = [1_000, 4_000] if args.quick else [1_000, 4_000, 20_000]
    print(f"{'case':<44} {'seconds':>8} {'µs per element':>15}")
    for wrap in ("div", "li"):
        for n in sizes:
            page = links_page(n, wrap)
            seconds = once(lambda p=page: parse_list(p, LIST_URL, PROFILE))
            print(f"{f'parse_list: {n:,} links, one <{wrap}> per link' if wrap == 'div' else f'parse_list: {n:,} links in one <li>':<44} "
                  f"{seconds:>8.2f} {seconds / n * 1e6:>15.1f}")  # fmt: skip
    for depth in [300, 1_000, 1_900]:
        for chains in [1, 8]:
            page = deep_page(depth, chains)
            seconds = once(lambda p=page: extract_article(p, "http://127.0.0.1/t1.html", PROFILE))
            label = f"extract (fallback): {chains} x {depth:,} nested <span>"
            print(f"{label:<44} {seconds:>8.2f} {seconds / (depth * chains) * 1e6:>15.1f}")


if __name__ == "__main__":
    main()
