"""Incremental crawling: how many requests each crawl makes, counted in the server's log.

Run from the repo root: ``.venv/bin/python bench/bench_incremental.py [--n N] [--recent R]``.

A site of N notices (default 1,000; 60-120 KB pages, list pages of 10) is served on
127.0.0.1. "Recent" is the crawler's own rule (crawler/spiders/notices.py is_due): a
notice *published* within XUNSHI_RECENT_DAYS (90) is re-checked on every run, an older
one when its last check is XUNSHI_OLD_RECHECK_DAYS (7) old. So the site's dates are made
so that R notices (default 20) were published in the last 80 days and the rest between
2015 and 120 days ago. Crawls, all through crawler.run.run_crawl into one database:

1. first crawl: everything is new;
2. the same site again, unchanged (target: ≤ 3 requests besides the conditional
   re-checks of the R recent notices);
3. after 5 notices changed (3 recent, 2 old) and 5 were added (target: every new page
   and every changed recent page fetched exactly once; an old page is not due yet, so
   its change waits for the weekly re-check);
4. the same, as if 8 days had passed (every notice's last_checked moved back 8 days in
   the database): the weekly re-check of old notices, where the 2 old changes show.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402

CHANGED_RECENT = 3
CHANGED_OLD = 2
ADDED = 5


def site_dates(n: int, recent: int, today: date) -> list[date]:
    """Ascending publish dates: n - recent old ones, then ``recent`` in the last 80 days."""
    old_first, old_last = date(2015, 1, 1), today - timedelta(days=120)
    old = common.spread_dates(n - recent, first=old_first, last=old_last)
    new = [today - timedelta(days=80 - (i * 79) // max(recent - 1, 1)) for i in range(recent)]
    return old + new


def edit(root: Path, path: str, i: int) -> None:
    """Change one line of notice i's text (its page, so its ETag, changes with it)."""
    file = root / path.lstrip("/")
    html = file.read_text(encoding="utf-8")
    old = f"　　通报编号{i}</p>"
    if old not in html:
        raise RuntimeError(f"cannot edit {path}")
    file.write_text(html.replace(old, f"　　通报编号{i}(更正)</p>"), encoding="utf-8")


def tally(served: common.Served, watch: dict[str, set[str]]) -> dict[str, Any]:
    """Requests of one crawl by kind, from the server's own log."""
    log = served.site.log
    statuses = Counter(status for _, status in served.statuses)
    per_path = Counter(r.path for r in log)
    lists = [r for r in log if r.path.startswith(common.COLUMN + "index")]
    articles = [r for r in log if r.path.endswith("_ext.html")]
    conditional = [r for r in articles if "if-none-match" in r.headers or "if-modified-since" in r.headers]
    out: dict[str, Any] = {
        "requests": len(log),
        "robots.txt": per_path["/robots.txt"],
        "list pages": len(lists),
        "articles": len(articles),
        "conditional": len(conditional),
        "200": statuses[200],
        "304": statuses[304],
        "404": statuses[404],
        "other": len(log) - len(lists) - len(articles) - per_path["/robots.txt"],
    }
    for name, paths in watch.items():
        out[name] = sorted(per_path[p] for p in paths)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="notices on the site (default 1000)")
    parser.add_argument("--recent", type=int, default=20,
                        help="notices published in the last 90 days (default 20)")  # fmt: skip
    parser.add_argument("--pad", choices=["markup", "comment"], default="markup")
    args = parser.parse_args()
    if not CHANGED_RECENT <= args.recent < args.n - CHANGED_OLD:
        parser.error("need --recent ≥ 3 and --n > --recent + 2")

    today = date.today()
    dates = site_dates(args.n, args.recent, today)
    list_pages = -(-args.n // 10)
    settings = {"XUNSHI_MAX_LIST_PAGES": max(200, list_pages + 1)}
    common.header(f"incremental crawls: {args.n} notices ({args.recent} published in the last "
                  f"90 days), {list_pages} list pages of 10")  # fmt: skip
    rows: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-incr-") as tmp:
        root = Path(tmp) / "site"
        db = Path(tmp) / "db" / "bench.db"
        db.parent.mkdir()
        notices = common.build_site(root, args.n, dates=dates, pad=args.pad)
        recent_idx = list(range(args.n - args.recent, args.n))
        changed_recent = recent_idx[-CHANGED_RECENT - 7 :: 4][:CHANGED_RECENT]  # not all on page 1
        changed_old = [args.n // 3, 2 * args.n // 3]
        watch: dict[str, set[str]] = {}
        with common.serve(root) as served:

            def crawl(label: str, target: str, check: Any) -> None:
                served.clear()
                result, stats = common.crawl(served, db, settings=settings)
                if result.status != "ok":
                    raise RuntimeError(f"{label}: {result.status} {result.error}")
                t = tally(served, watch)
                c = result.counts
                met = check(t, c)
                rows.append([label, t["requests"], t["robots.txt"], t["list pages"], t["articles"],
                             t["conditional"], t["304"], t["200"], t["404"],
                             f"{c['new']}/{c['changed']}/{c['unchanged'] + c['not_modified']}",
                             " ".join(f"{k}: {t[k]}" for k in watch) or "-",
                             target, met])  # fmt: skip
                print(f"# {label}: {t['requests']} requests ({result.seconds:.1f} s)", flush=True)

            crawl("1. first crawl", f"{args.n + list_pages + 1} (everything)",
                  lambda t, c: "yes" if c["new"] == args.n else f"no: {c['new']} new")  # fmt: skip

            def unchanged_ok(t: dict[str, Any], c: dict[str, int]) -> str:
                rest = t["requests"] - t["conditional"]
                ok = rest <= 3 and t["conditional"] == args.recent and t["304"] == args.recent
                return f"{'yes' if ok else 'no'}: {rest} + {t['conditional']} re-checks"

            crawl("2. unchanged site", f"≤ 3 + {args.recent} re-checks (304)", unchanged_ok)

            # 5 added (published today, newest on the lists), 3 recent and 2 old changed
            site = common.build_site(root, args.n + ADDED, dates=dates + [today] * ADDED, pad=args.pad)
            added = site[args.n :]
            for i in changed_recent + changed_old:
                edit(root, notices[i].path, i)
            watch = {
                "added": {n.path for n in added},
                "changed recent": {notices[i].path for i in changed_recent},
                "changed old": {notices[i].path for i in changed_old},
            }

            def changed_ok(t: dict[str, Any], c: dict[str, int]) -> str:
                once = t["added"] == [1] * ADDED and t["changed recent"] == [1] * CHANGED_RECENT
                counts = c["new"] == ADDED and c["changed"] == CHANGED_RECENT
                return "yes" if once and counts else "no"

            crawl("3. 5 changed, 5 added", "added and changed recent pages: 1 request each",
                  changed_ok)  # fmt: skip

            conn = sqlite3.connect(db)
            with conn:
                conn.execute("update notices set last_checked = datetime(last_checked, '-8 days')")
            conn.close()

            def weekly_ok(t: dict[str, Any], c: dict[str, int]) -> str:
                ok = t["changed old"] == [1] * CHANGED_OLD and c["changed"] == CHANGED_OLD
                return "yes" if ok else "no"

            crawl("4. 8 days later", "old changes found at the weekly re-check", weekly_ok)

    print()
    common.print_table(
        ["crawl", "requests", "robots", "list pages", "articles", "conditional", "304", "200",
         "404", "new/changed/unchanged", "requests per watched page", "target", "met"],
        rows,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
