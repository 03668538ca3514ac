"""What a version costs on disk and in CPU with store/compress.py (issue 16).

Run from the repo root: ``.venv/bin/python bench/bench_compress.py [--n 300] [--changed 100]``.

Builds a database in a temporary folder through ``Store.record`` with bench_store's notices
(seed 000's text, 23 KB UTF-8, in 60-120 KB pages of the generated site, ``--pad markup``):
``--n`` new notices of one site, then the newest ``--changed`` of them edited a little (a correction
number and one figure, as bench_store does). Prints

1. bytes per version, from SQLite's ``dbstat`` (the pages the ``versions`` table and its
   index take, so row overhead is included) and per column (``length()``): a new version
   (raw, plain latest text) and a changed one (the page and text its predecessor became,
   deltas against it, and the diff columns);
2. CPU per page of each codec step (median µs), against the plain zstd 3 of the pages that
   the store used before;
3. the size/CPU of the zstd levels for a dictionary page, which is how LEVEL was chosen;
4. the same on the real CCDI pages of ../shared/fixtures/ccdi when that folder exists.

No timing is asserted; read the figures against the load average printed first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as common  # noqa: E402
from bench_store import make_notice  # noqa: E402

from store import compress  # noqa: E402
from store.notices import Store, compress_page  # noqa: E402


def us(fn: Callable[[], Any], runs: int = 30) -> float:
    samples = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        samples.append((time.process_time() - start) * 1e6)
    return statistics.median(samples)


def table_bytes(store: Store, name: str) -> int:
    return int(store.db.execute(
        "select coalesce(sum(pgsize), 0) from dbstat where name = ?", [name]
    ).fetchone()[0])  # fmt: skip


def versions_bytes(store: Store) -> int:
    return table_bytes(store, "versions") + table_bytes(store, "idx_versions_notice_id_n")


def columns(store: Store, where: str) -> dict[str, float]:
    row = store.db.execute(
        "select count(*), avg(length(raw)), avg(length(cast(text as blob))), "
        "avg(coalesce(length(diff), 0) + coalesce(length(char_diff), 0)), avg(raw_size), "
        "avg(length(headers) + length(methods) + length(sha256) + length(fetched_url)) "
        f"from versions where {where}"
    ).fetchone()
    return dict(zip(("count", "raw", "text", "diffs", "raw_size", "other"), row, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300, help="new notices (default 300)")
    parser.add_argument("--changed", type=int, default=100, help="of them edited (default 100)")
    args = parser.parse_args()
    common.header("bench_compress: bytes and CPU per version")

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "bench.db")
        run = store.start_run("zjsjw")
        cpu_new: list[float] = []
        before = versions_bytes(store)
        for i in range(args.n):
            item = make_notice(i)
            start = time.process_time()
            store.record(item, run)
            cpu_new.append((time.process_time() - start) * 1e3)
        after_new = versions_bytes(store)
        cpu_changed: list[float] = []
        for i in range(args.n - args.changed, args.n):  # the newest: the first kept as stored
            item = make_notice(i, version=2)
            start = time.process_time()
            store.record(item, run)
            cpu_changed.append((time.process_time() - start) * 1e3)
        after_changed = versions_bytes(store)
        store.db.execute("pragma wal_checkpoint(truncate)")
        file_bytes = (Path(tmp) / "bench.db").stat().st_size

        new_dict = columns(store, f"n = 1 and raw_codec = '{compress.RAW_DICT}'")
        new_text = columns(store, f"n = 1 and raw_codec = '{compress.RAW_TEXT}'")
        changed = columns(store, "n = 2")
        superseded = columns(store, f"n = 1 and raw_codec = '{compress.RAW_NEXT}'")
        latest_plain = columns(store, "text_codec is null and n = 1")
        dicts = list(store.db.query("select id, notices, samples, length(content) as size from page_dicts"))
        print(f"\n{args.n} new notices, {args.changed} changed; dictionaries: "
              + ", ".join(f"#{d['id']} trained at {d['notices']} notices on {d['samples']} pages, "
                          f"{d['size'] / 1000:.0f} KB" for d in dicts))  # fmt: skip
        kb = 1000.0
        rows = [
            ["new version (dbstat, versions table + index)", (after_new - before) / args.n / kb],
            ["changed version (dbstat)", (after_changed - after_new) / max(1, args.changed) / kb],
            ["  page as fetched (raw_size)", new_dict["raw_size"] / kb],
            ["  raw, new page, site dictionary + text", new_dict["raw"] / kb],
            ["  raw, new page before the site had a dictionary (text prefix only)", new_text["raw"] / kb],
            ["  raw, plain zstd 3 (before this change)", len(compress_page(make_notice(5).raw)) / kb],
            ["  text, latest (plain UTF-8)", latest_plain["text"] / kb],
            ["  raw of the version a change superseded (delta against its successor)", superseded["raw"] / kb],
            ["  text of the version a change superseded (delta against its successor)", superseded["text"] / kb],
            ["  raw of the changed version (latest: dictionary + text)", changed["raw"] / kb],
            ["  diff + char_diff of a changed version", changed["diffs"] / kb],
            ["  headers, methods, sha256, url of a version", changed["other"] / kb],
            ["whole file per version (incl. search indexes)", file_bytes / (args.n + args.changed) / kb],
        ]  # fmt: skip
        common.print_table(["bytes per version", "KB"], rows)
        common.print_table(
            ["Store.record CPU (ms, median / p95)", "median", "p95"],
            [
                ["new notice", statistics.median(cpu_new), common.percentile(cpu_new, 95)],
                ["changed notice", statistics.median(cpu_changed), common.percentile(cpu_changed, 95)],
            ],
        )  # fmt: skip

        # CPU of each step on one page
        item, item2 = make_notice(args.n + 7), make_notice(args.n + 7, version=2)
        raw, text, raw2, text2 = item.raw, item.text or "", item2.raw, item2.text or ""
        base = compress.dict_content(store.db, dicts[0]["id"]) if dicts else b""
        frame_dict = compress.encode_page(raw, text, base)
        frame_next = compress.encode_page(raw, text, raw2)
        old_text = compress.encode_text(text, text2)
        v1 = next(store.db.query("select * from versions where n = 1 and text_codec is not null"))
        steps = [
            ["before: zstd 3 of the page", us(lambda: compress_page(raw))],
            ["new page: zstd 3, dictionary + text prefix", us(lambda: compress.encode_page(raw, text, base))],
            ["superseded page: zstd 3 against its successor's page + text", us(lambda: compress.encode_page(raw, text, raw2))],
            ["superseded text: zstd 3 against its successor", us(lambda: compress.encode_text(text, text2))],
            ["read: latest page", us(lambda: compress.decode_page(frame_dict, text, base))],
            ["read: superseded page, given its successor's", us(lambda: compress.decode_page(frame_next, text, raw2))],
            ["read: old text", us(lambda: compress.decode_text(old_text, text2))],
            ["raw_of(db, row) of a superseded version (queries included)", us(lambda: compress.raw_of(store.db, v1))],
        ]  # fmt: skip
        common.print_table(["CPU per page (µs, median of 30)", "µs"], steps)

        levels = []
        for level in (1, 3, 6, 9):
            size = len(compress.encode_page(raw, text, base, level))
            levels.append([level, size / kb, us(lambda lv=level: compress.encode_page(raw, text, base, lv))])  # type: ignore[misc]
        common.print_table(["zstd level (dictionary + text)", "KB", "µs"], levels)
        store.close()

    fixtures = common.REPO.parent / "shared/fixtures/ccdi"
    if fixtures.is_dir():
        real(sorted(fixtures.glob("*.html")))
    return 0


def real(paths: list[Path]) -> None:
    """Real CCDI pages: a dictionary trained on the first 16, the others compressed with it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_costs import page_to_text

    pages = [p.read_bytes() for p in paths]
    texts = []
    for p in pages:
        try:
            texts.append(page_to_text(p))
        except Exception:  # noqa: BLE001 (a page the extractor refuses: no text prefix)
            texts.append("")
    content = compress.train(pages[:16]) or b""
    test = list(zip(pages[16:], texts[16:], strict=True))
    if not test:
        return
    rows = []
    for name, fn in (
        ("plain zstd 3 (before)", lambda p, t: compress_page(p)),
        ("zstd 3 + text prefix", lambda p, t: compress.encode_page(p, t)),
        ("zstd 3 + dictionary", lambda p, t: compress.encode_page(p, None, content)),
        ("zstd 3 + dictionary + text (what is stored)", lambda p, t: compress.encode_page(p, t, content)),
    ):
        rows.append([name, statistics.mean(len(fn(p, t)) for p, t in test) / 1000])
    print(f"\nreal CCDI pages: {len(test)} pages of {statistics.mean(len(p) for p, _ in test) / 1000:.1f} KB "
          f"(text {statistics.mean(len(t.encode()) for _, t in test) / 1000:.1f} KB), "
          f"dictionary of {len(content) / 1000:.0f} KB trained on 16 others")  # fmt: skip
    common.print_table(["real pages", "KB per page"], rows)


if __name__ == "__main__":
    raise SystemExit(main())
