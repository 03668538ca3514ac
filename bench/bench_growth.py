"""Where the database growth of a changed version goes: per table and per index (issue 16).

Run from the repo root: ``.venv/bin/python bench/bench_growth.py [--n 2000] [--changes 200]``.

Builds bench_store.py's corpus (its templates recorded, then copies bulk-loaded to ``--n``
notices), then records ``--changes`` stored notices picked at random with a few characters
edited (bench_store's "changed" records: a number corrected and a correction note), each
in its own transaction through ``Store.record``. SQLite's ``dbstat`` is read before and
after (after a checkpoint), and each table's and index's growth is printed per change:

* pages: the pages it holds (``pgsize``), which is what the file grows by;
* payload: the bytes of its rows (``payload``, overflow included), what it really stores;
* unused: the free bytes inside its pages (``unused``), B-tree space not filled.

The first line is the whole file's used pages (page_count minus the free list), as
bench_store measures it; the free list's change is its own line.
``--new`` measures new notices the same way instead of changed ones.

``--ccdi`` uses the 25 real CCDI pages of ``../shared/fixtures/ccdi`` instead (their
texts and pages as the ccdi profile extracts them, each stored under ``--n`` / 25 URLs):
a change corrects one figure in the middle of a notice's longest paragraph (or inserts a
note there when it has no figure), in the text and in the page alike.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402
import bench_store  # noqa: E402

from store.notices import Store  # noqa: E402


def dbstat(db: Any) -> dict[str, tuple[int, int, int]]:
    """Pages (bytes), payload and unused bytes of every table and index."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {
        name: (int(pages), int(payload), int(unused))
        for name, pages, payload, unused in db.execute(
            "select name, sum(pgsize), sum(payload), sum(unused) from dbstat "
            "where aggregate = 1 group by name"
        ).fetchall()
    }


def breakdown(
    before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]], per: int
) -> list[list[Any]]:
    rows = []
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name, (0, 0, 0)), after.get(name, (0, 0, 0))
        d = [(a[i] - b[i]) / per / 1000 for i in range(3)]
        if any(abs(x) >= 0.005 for x in d):
            rows.append([name, *d])
    rows.sort(key=lambda r: -abs(r[1]))
    total = [sum(r[i] for r in rows) for i in (1, 2, 3)]
    return [*rows, ["(all tables and indexes)", *total]]


class CcdiCorpus:
    """bench_store.Corpus's interface over the real CCDI pages (``--ccdi``)."""

    def __init__(self, store: Store, n: int) -> None:
        from crawler.article import extract_article
        from crawler.extract import decode_page
        from crawler.items import Notice
        from crawler.normalise import normalise
        from crawler.sites import get_site
        from tests.conftest import SHARED

        profile = get_site("ccdi")
        self.store, self.rng = store, random.Random(7)
        self.pages: list[Notice] = []
        for page in sorted((SHARED / "fixtures" / "ccdi").glob("t*.html")):
            raw = page.read_bytes()
            html, encoding = decode_page(raw)
            url = f"{profile.base_url}/yaowenn/{page.name[1:7]}/{page.name}"
            article = extract_article(html, url, profile)
            text = normalise(article.paragraphs, header=article.header)
            published = article.published_at.isoformat() if article.published_at else None
            self.pages.append(Notice(
                site="ccdi", url=url, title=article.title, published_at=published,
                source=article.source, paragraphs=text.split("\n"), header=None, raw=raw,
                encoding=encoding, status=200, methods=article.methods, text=text,
                headers={"content-type": "text/html; charset=utf-8", "etag": f'"{page.stem}"'},
                fetched_at="2026-12-01T00:00:00+00:00",
            ))  # fmt: skip
        self.count = max(n, len(self.pages))
        self.versions = [1] * self.count
        for i in range(self.count):
            store.record(self.notice(i))

    def notice(self, i: int) -> Any:
        from dataclasses import replace

        base = self.pages[i % len(self.pages)]
        url = base.url.replace(".html", f"_{i}.html") if i >= len(self.pages) else base.url
        text, raw = base.text or "", base.raw
        for k in range(1, self.versions[i]):  # each change corrects one more place
            longest = max(text.split("\n"), key=len)
            digits = [m.start() for m in re.finditer(r"\d", longest)]
            at = digits[len(digits) // 2] if digits else len(longest) // 2
            old = longest[max(at - 6, 0) : at + 6]
            cut = at - max(at - 6, 0)
            if digits:  # the figure one more
                new = old[:cut] + str((int(old[cut]) + 1) % 10) + old[cut + 1 :]
            else:
                new = old[:cut] + f"(更正{k})" + old[cut:]
            if old not in raw.decode("utf-8", "replace"):
                new_raw = raw + f"<!-- {k} -->".encode()
            else:
                new_raw = raw.decode("utf-8").replace(old, new, 1).encode("utf-8")
            text, raw = text.replace(old, new, 1), new_raw
        return replace(base, url=url, text=text, paragraphs=text.split("\n"), raw=raw)

    def new(self) -> Any:
        raise SystemExit("--ccdi measures changed versions only")

    def changed(self) -> Any:
        i = self.rng.randrange(self.count)
        self.versions[i] += 1
        return self.notice(i)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2_000, help="stored notices (default 2,000)")
    parser.add_argument(
        "--changes", type=int, default=200, help="changed versions recorded (default 200)"
    )
    parser.add_argument("--new", action="store_true", help="record new notices instead")
    parser.add_argument(
        "--ccdi", action="store_true", help="the real CCDI pages of ../shared/fixtures/ccdi"
    )
    parser.add_argument("--dir", type=Path, help="where to put the database (default: temp)")
    args = parser.parse_args()
    kind = "new" if args.new else "changed"
    common.header(f"growth: {args.changes} {kind} versions at {args.n:,} notices, by dbstat")
    with tempfile.TemporaryDirectory(prefix="bench-growth-", dir=args.dir) as tmp:
        store = Store.open(Path(tmp) / "store.db")
        corpus: Any
        if args.ccdi:
            corpus = CcdiCorpus(store, args.n)
        else:
            corpus = bench_store.Corpus(store)
            corpus.record_templates()
            corpus.bulk_to(args.n)
        # One warm-up round so that the FTS5 segments and the pages being filled are in a
        # steady state, not the bulk load's.
        for _ in range(min(args.changes, 64)):
            store.record(corpus.new() if args.new else corpus.changed())
        used_before = bench_store.used_bytes(store.db)
        free_before = store.db.execute("PRAGMA freelist_count").fetchone()[0]
        before = dbstat(store.db)
        for _ in range(args.changes):
            outcome = store.record(corpus.new() if args.new else corpus.changed()).outcome
            if outcome != kind:
                raise AssertionError(f"expected {kind}, got {outcome}")
        used_after = bench_store.used_bytes(store.db)
        free_after = store.db.execute("PRAGMA freelist_count").fetchone()[0]
        after = dbstat(store.db)
        page_size = store.db.execute("PRAGMA page_size").fetchone()[0]
        store.close()
    per = args.changes
    print(f"\n## KB per {kind} version ({per} of them, page size {page_size})")
    rows = [["used pages (page_count - freelist)", (used_after - used_before) / per / 1000,
             "", ""],
            ["free list pages", (free_after - free_before) * page_size / per / 1000, "", ""],
            *breakdown(before, after, per)]  # fmt: skip
    common.print_table(["table or index", "pages KB", "payload KB", "unused KB"], rows)
    print(f"\n# at the end: {common.load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
