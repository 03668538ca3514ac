"""Per-notice CPU costs: decode + extraction + normalisation, diff, district matching, facts (µs).

Run from the repo root: ``.venv/bin/python bench/bench_costs.py [--seconds S]``.
Every row runs the real function on a seed-sized input until ``--seconds`` (default 1.5)
or ``--max-runs`` is reached (at least 5 runs), after one warm-up call; the table gives
median and p95. Each run is timed by the thread's CPU clock (``time.thread_time``), so other
work on the machine does not count; ``--clock wall`` times it by the wall clock instead.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import zlib
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402

from crawler.article import extract_article  # noqa: E402
from crawler.extract import decode_page, detect_block  # noqa: E402
from crawler.facts import extract_facts  # noqa: E402
from crawler.htmltext import parse_html  # noqa: E402
from crawler.listpage import parse_list  # noqa: E402
from crawler.normalise import is_seed_format, normalise  # noqa: E402
from crawler.sites import get_site  # noqa: E402
from store.diff import diff_texts  # noqa: E402
from store.districts import match_notice  # noqa: E402

SEEDS = common.REPO.parent / "shared" / "seeds"
RECORDED_SEED_PAGE = (
    common.REPO / "tests/sites/zjsjw/gongzuodongtai/xunshixuncha/202306/t20230626_20047122_ext.html"
)
URL = "http://127.0.0.1:8000/gongzuodongtai/xunshixuncha/202306/t20230626_20047122_ext.html"


CLOCK = time.thread_time


def timed(fn: Callable[[], Any], seconds: float, max_runs: int) -> list[float]:
    fn()  # warm caches (division table, compiled selectors)
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(samples) < max_runs and (len(samples) < 5 or time.perf_counter() < deadline):
        start = CLOCK()
        fn()
        samples.append((CLOCK() - start) * 1e6)
    return samples


def page_to_text(body: bytes) -> str:
    """What the spider and the normalise pipeline do to one article page."""
    text, _ = decode_page(body, "text/html")
    article = extract_article(text, URL, PROFILE)
    return normalise(article.paragraphs, header=article.header)


def validate(text: str) -> bool:
    """What ValidatePipeline does besides the length check."""
    from crawler.extract import text_problem

    return text_problem(text) is None and is_seed_format(text)


PROFILE = get_site("zjsjw")


def edited(text: str, how: str) -> str:
    lines = text.split("\n")
    if how == "one number":
        for i, line in enumerate(lines):
            if "人次" in line:
                lines[i] = line.replace("人次", "0人次", 1)
                break
    elif how == "5 lines":
        for i in range(5, len(lines), max(len(lines) // 5, 1))[:5]:
            lines[i] = lines[i][: len(lines[i]) // 2] + "(已更正)" + lines[i][len(lines[i]) // 2 :]
    elif how == "paragraph added, one removed":
        lines.insert(10, "根据巡视反馈意见,进一步完善了整改台账,逐项明确责任单位和完成时限。" * 3)
        del lines[30]
    elif how == "every line touched":
        # what a change of extraction or normalisation rules does to every stored notice
        lines = [line.replace("。", "。 ", 1) if "。" in line else line + "." for line in lines]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="time per row (default 1.5)")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                        help="time each run by the thread's CPU time (default) or the wall clock")  # fmt: skip
    parser.add_argument("--max-runs", type=int, default=2000)
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.thread_time if args.clock == "cpu" else time.perf_counter

    _, generated = common.article_page(7, date(2023, 6, 27), pad="markup", size=90_000)
    _, commented = common.article_page(7, date(2023, 6, 27), pad="comment", size=90_000)
    gen_bytes, com_bytes = generated.encode(), commented.encode()
    recorded = RECORDED_SEED_PAGE.read_bytes()
    seed0 = (SEEDS / "000_6f66318992fdd9a8.txt").read_text(encoding="utf-8")
    seed2 = (SEEDS / "002_750c7fecf357e703.txt").read_text(encoding="utf-8")
    gen_text = page_to_text(gen_bytes)
    decoded, _ = decode_page(gen_bytes, "text/html")
    list_page = (common.REPO / "tests/sites/zjsjw" / common.START_PATH.lstrip("/")).read_bytes()
    list_text = list_page.decode("utf-8")

    rows: list[tuple[str, Callable[[], Any]]] = [
        (f"page -> seed text, generated page ({len(gen_bytes) // 1000} KB, markup)",
         lambda: page_to_text(gen_bytes)),
        (f"page -> seed text, generated page ({len(com_bytes) // 1000} KB, comment pad)",
         lambda: page_to_text(com_bytes)),
        (f"page -> seed text, recorded seed-000 page ({len(recorded) // 1000} KB)",
         lambda: page_to_text(recorded)),
        ("  of which decode_page (90 KB)", lambda: decode_page(gen_bytes, "text/html")),
        ("  of which parse_html (lxml, 90 KB)", lambda: parse_html(decoded)),
        ("  of which extract_article (90 KB)", lambda: extract_article(decoded, URL, PROFILE)),
        ("  of which normalise (8.3k chars)",
         lambda: normalise(gen_text.split("\n")[1:], header=gen_text.split("\n")[0])),
        ("validate pipeline: text_problem + is_seed_format", lambda: validate(gen_text)),
        ("detect_block middleware (90 KB response)", lambda: detect_block(200, gen_bytes)),
        ("parse_list (recorded list page)", lambda: parse_list(list_text, URL, PROFILE)),
        ("sha256 of the text", lambda: hashlib.sha256(gen_text.encode()).hexdigest()),
        ("zlib level 6 of the raw page (90 KB)", lambda: zlib.compress(gen_bytes, 6)),
    ]  # fmt: skip
    for how in ("one number", "5 lines", "paragraph added, one removed", "every line touched"):
        new = edited(seed0, how)
        assert new != seed0, how
        rows.append(
            (f"diff_texts seed 000 v1 -> v2 ({how})", lambda new=new: diff_texts(seed0, new))
        )
    rows.append(("diff_texts seed 000 -> seed 002 (all different)",
                 lambda: diff_texts(seed0, seed2)))  # fmt: skip
    match_cases = [
        ("match_notice seed 000", "中共杭州市拱墅区委关于省委巡视整改进展情况的通报", seed0, 2023, "浙江省"),
        ("match_notice seed 002", "中共上海市黄浦区委员会关于十二届市委第二轮巡视集中整改进展情况的通报",
         seed2, 2024, "上海市"),
        ("match_notice generated notice", "中共杭州市滨江区委关于省委巡视整改进展情况的通报(7)",
         gen_text, 2023, "浙江省"),
    ]  # fmt: skip
    for label, title, text, year, province in match_cases:
        rows.append(
            (label, lambda t=title, x=text, y=year, p=province: match_notice(t, x, year=y, site_province=p))
        )

    # the facts of a notice (crawler/facts.py), computed once per stored version
    for label, text, title, published in (
        ("extract_facts seed 000", seed0, "中共杭州市拱墅区委关于省委巡视整改进展情况的通报", "2023-06-27"),
        ("extract_facts seed 002", seed2, "中共上海市黄浦区委员会关于十二届市委第二轮巡视集中整改进展情况的通报",
         None),
        ("extract_facts generated notice", gen_text, "中共杭州市滨江区委关于省委巡视整改进展情况的通报(7)",
         "2023-06-27"),
    ):  # fmt: skip
        rows.append((label, lambda x=text, t=title, p=published: extract_facts(x, t, p)))

    common.header(f"per-notice costs (µs, {args.clock} time)")
    table = []
    for label, fn in rows:
        samples = timed(fn, args.seconds, args.max_runs)
        table.append([label, len(samples), common.median(samples), common.percentile(samples, 0.95)])
    common.print_table(["what", "runs", "median µs", "p95 µs"], table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
