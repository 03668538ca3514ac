"""Time the division-table load and match_notice on the seed notices; run from the repo root."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from store import districts  # noqa: E402

SEEDS = REPO.parent / "shared" / "seeds"
NOTICES = [
    (
        "000_6f66318992fdd9a8.txt",
        "中共杭州市拱墅区委关于省委巡视整改进展情况的通报",
        2023,
        "浙江省",
    ),
    (
        "002_750c7fecf357e703.txt",
        "中共上海市黄浦区委员会关于十二届市委第二轮巡视集中整改进展情况的通报",
        2024,
        "上海市",
    ),
]
RUNS = 2000
LOAD_RUNS = 5


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _cold_load() -> float:
    """Microseconds to read the CSV, build the automaton and one year's view."""
    districts._table.cache_clear()
    districts._view.cache_clear()
    districts._province_aliases.cache_clear()
    districts._index.cache_clear()
    districts._match_view.cache_clear()
    start = time.perf_counter()
    districts._table()
    districts._view(2023)
    return (time.perf_counter() - start) * 1e6


def main() -> int:
    loads = [_cold_load() for _ in range(LOAD_RUNS)]
    rows = [("table load (csv + automaton + 1 year)", len(loads), loads)]

    for name, title, year, site in NOTICES:
        path = SEEDS / name
        if not path.is_file():
            print(f"missing seed {path}", file=sys.stderr)
            return 1
        text = path.read_text(encoding="utf-8")
        districts.match_notice(title, text, year=year, site_province=site)  # warm the year view
        samples = []
        for _ in range(RUNS):
            start = time.perf_counter()
            districts.match_notice(title, text, year=year, site_province=site)
            samples.append((time.perf_counter() - start) * 1e6)
        rows.append((f"match_notice {name} ({len(text)} chars)", RUNS, samples))

    print(f"{'what':<48} {'runs':>6} {'median µs':>11} {'p95 µs':>11}")
    for label, n, samples in rows:
        print(
            f"{label:<48} {n:>6} {statistics.median(samples):>11.1f} "
            f"{_percentile(samples, 0.95):>11.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
