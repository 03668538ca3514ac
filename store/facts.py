"""The facts table: what each stored version of a notice states (see crawler/facts.py).

``facts``: one row per notice version and key — the value as found (a number or text),
and the sentence it came from. A key the text does not state plainly has no row.
``notice_facts``: a view with one wide row per notice, the facts of its latest version.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from sqlite_utils import Database

from crawler.facts import COUNT_KEYS, SCALAR_KEYS, empty_facts, extract_facts, flat
from store.compress import version_text

FACT_KEYS = (*SCALAR_KEYS, *COUNT_KEYS)


def create_facts_schema(db: Database) -> None:
    db.execute(
        """CREATE TABLE IF NOT EXISTS facts (
            notice_id INTEGER NOT NULL REFERENCES notices(id) ON DELETE CASCADE,
            version INTEGER NOT NULL,
            key TEXT NOT NULL,
            value,
            evidence TEXT,
            PRIMARY KEY (notice_id, version, key)
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS facts_key_value ON facts (key, value)")
    _create_view(db, "f.version = v.n")


def _create_view(db: Database, covers: str) -> None:
    columns = ",\n            ".join(
        f"max(CASE WHEN f.key = '{k}' THEN f.value END) AS \"{k}\"" for k in FACT_KEYS
    )
    db.execute("DROP VIEW IF EXISTS notice_facts")
    db.execute(
        f"""CREATE VIEW notice_facts AS
        SELECT n.id AS notice_id, n.site, n.title, n.url, n.published_at, v.n AS version,
            {columns}
        FROM notices n
        JOIN versions v ON v.notice_id = n.id
            AND v.n = (SELECT max(n) FROM versions WHERE notice_id = n.id)
        LEFT JOIN facts f ON f.notice_id = n.id AND {covers}
        GROUP BY n.id"""
    )


# A row holds a fact of the versions from ``version`` to ``last_version`` (NULL: that one
# version): a new version that states a fact as the one before (the same value from the
# same sentence) extends that row instead of copying it (issue 16; m014).
_COVERS = "{f}version <= {n} AND coalesce({f}last_version, {f}version) >= {n}"


def create_fact_ranges(db: Database) -> None:
    """m014: the ``last_version`` column, and the view reading the rows that cover a version."""
    if not has_fact_ranges(db):
        db.execute("ALTER TABLE facts ADD COLUMN last_version INTEGER")
    db._xunshi_fact_ranges = True  # type: ignore[attr-defined]
    _create_view(db, _COVERS.format(f="f.", n="v.n"))


def has_fact_ranges(db: Database) -> bool:
    """Whether rows cover runs of versions (m014). Before, from m009, each holds one
    version (a database opened before its migration: tests of migrations)."""
    known = getattr(db, "_xunshi_fact_ranges", None)
    if known is None:
        columns = db.execute("PRAGMA table_info(facts)").fetchall()
        known = any(c[1] == "last_version" for c in columns)
        db._xunshi_fact_ranges = known  # type: ignore[attr-defined]
    return bool(known)


def has_facts_table(db: Database) -> bool:
    return (
        db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'facts'").fetchone()
        is not None
    )


def fact_rows(notice_id: int, version: int, facts: dict[str, Any]) -> list[tuple[Any, ...]]:
    evidence = facts.get("evidence") or {}
    return [
        (notice_id, version, key, value, evidence.get(key))
        for key, value in flat(facts).items()
        if value is not None
    ]


def write_facts(db: Database, notice_id: int, version: int, facts: dict[str, Any]) -> None:
    db.conn.execute("DELETE FROM facts WHERE notice_id = ? AND version = ?", [notice_id, version])
    db.conn.executemany(
        "INSERT INTO facts (notice_id, version, key, value, evidence) VALUES (?, ?, ?, ?, ?)",
        fact_rows(notice_id, version, facts),
    )


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b  # 4 and 4.0 are stored apart


def extend_facts(db: Database, notice_id: int, version: int, facts: dict[str, Any]) -> None:
    """Write the facts of ``version``, the notice's newest: each fact stated as by version
    ``version - 1`` (same value, same evidence) extends that version's row; the others get
    rows of their own. Reads give every version exactly the facts written for it."""
    # (rows left for this version or later ones by a version deleted and recorded again)
    db.conn.execute("DELETE FROM facts WHERE notice_id = ? AND version >= ?", [notice_id, version])
    db.conn.execute(
        "UPDATE facts SET last_version = ? WHERE notice_id = ? AND last_version >= ?",
        [version - 1, notice_id, version],
    )
    before = {
        key: (start, value, evidence)
        for start, key, value, evidence in db.conn.execute(
            "SELECT version, key, value, evidence FROM facts WHERE notice_id = ? "
            "AND version < ? AND coalesce(last_version, version) = ?",
            [notice_id, version, version - 1],
        )
    }
    for row in fact_rows(notice_id, version, facts):
        key, value, evidence = row[2:]
        old = before.get(key)
        if old is not None and _same(old[1], value) and old[2] == evidence:
            db.conn.execute(
                "UPDATE facts SET last_version = ? WHERE notice_id = ? AND version = ? AND key = ?",
                [version, notice_id, old[0], key],
            )
        else:
            db.conn.execute(
                "INSERT INTO facts (notice_id, version, key, value, evidence) "
                "VALUES (?, ?, ?, ?, ?)",
                row,
            )


def from_rows(rows: Iterable[Any]) -> dict[str, Any]:
    """The facts (extract_facts shape) of ``(key, value, evidence)`` rows."""
    facts = empty_facts()
    for key, value, evidence in rows:
        if key in COUNT_KEYS:
            facts["counts"][key] = value
        elif key in SCALAR_KEYS:
            facts[key] = value
        else:
            continue
        if evidence is not None:
            facts["evidence"][key] = evidence
    facts["counts"] = {k: facts["counts"][k] for k in COUNT_KEYS if k in facts["counts"]}
    return facts


def read_facts(db: Database, notice_id: int, version: int) -> dict[str, Any]:
    return from_rows(
        db.execute(
            "SELECT key, value, evidence FROM facts WHERE notice_id = ? AND "
            + (_COVERS.format(f="", n=":n") if has_fact_ranges(db) else "version = :n")
            + " ORDER BY key",
            [notice_id, version],
        ).fetchall()
    )


def fill_facts(
    db: Database,
    *,
    rebuild: bool = False,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 200,
) -> int:
    """Compute the facts of stored versions: those without any (or all, with ``rebuild``).

    Returns how many versions were read; ``progress(done, total)`` after each batch. The
    caller holds the transaction (a migration, or `xunshi facts --rebuild`).
    """
    ranges = has_fact_ranges(db)
    covers = _COVERS.format(f="f.", n="v.n") if ranges else "f.version = v.n"
    if rebuild:
        db.execute("DELETE FROM facts")
        # each notice's versions in order, so that each can extend the one before
        ids = [r[0] for r in db.execute("SELECT id FROM versions ORDER BY notice_id, n").fetchall()]
    else:
        ids = [
            r[0]
            for r in db.execute(
                f"""SELECT v.id FROM versions v WHERE NOT EXISTS (
                    SELECT 1 FROM facts f WHERE f.notice_id = v.notice_id AND {covers})
                ORDER BY v.id"""
            ).fetchall()
        ]
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            f"""SELECT v.notice_id, v.n, v.text, coalesce(v.title, n.title),
                       coalesce(v.published_at, n.published_at)
                FROM versions v JOIN notices n ON n.id = v.notice_id
                WHERE v.id IN ({marks})""",
            chunk,
        ).fetchall()
        for notice_id, n, text, title, published in sorted(rows, key=lambda r: (r[0], r[1])):
            if not isinstance(text, str):  # an older version: stored compressed
                text = version_text(db, notice_id, n)
            write = extend_facts if rebuild and ranges and n > 1 else write_facts
            write(db, notice_id, n, extract_facts(text or "", title, published))
        if progress:
            progress(min(start + batch, len(ids)), len(ids))
    return len(ids)


def _day(value: str | None) -> date | None:
    if not value or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def days_to_notice(feedback: str | None, published: str | None) -> int | None:
    """Days from the feedback to the notice's publication (both full dates), else None."""
    a, b = _day(feedback), _day(published)
    return (b - a).days if a and b else None


def latest_facts(db: Database, notice_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """The notice_facts rows (one per notice, latest version), optionally of some notices."""
    ids = list(notice_ids) if notice_ids is not None else None
    if ids is not None and not ids:
        return []
    where = f" WHERE notice_id IN ({','.join('?' * len(ids))})" if ids else ""
    cursor = db.execute(f"SELECT * FROM notice_facts{where} ORDER BY notice_id", ids or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def timeline(db: Database, unit: str | None = None) -> list[dict[str, Any]]:
    """Per inspected unit: its inspections (round, group, period, feedback) and its notices
    (published, days from feedback to notice), units in name order."""
    units: dict[str, dict[str, Any]] = {}
    for row in latest_facts(db):
        name = row["inspected_unit"]
        if not name or (unit and unit not in name):
            continue
        entry = units.setdefault(name, {"unit": name, "inspections": [], "notices": []})
        inspection = {
            k: row[k]
            for k in ("kind", "level", "round", "group", "inspection_start", "inspection_end",
                      "feedback_date")
        }  # fmt: skip
        if inspection not in entry["inspections"]:
            entry["inspections"].append(inspection)
        entry["notices"].append(
            {
                "notice_id": row["notice_id"],
                "site": row["site"],
                "title": row["title"],
                "published": (row["published_at"] or "")[:10] or None,
                "round": row["round"],
                "feedback_date": row["feedback_date"],
                "days_from_feedback": days_to_notice(row["feedback_date"], row["published_at"]),
            }
        )
    for entry in units.values():
        entry["inspections"].sort(key=lambda i: (i["inspection_start"] or "", i["group"] or ""))
        entry["notices"].sort(key=lambda n: (n["published"] or "", n["notice_id"]))
    return [units[k] for k in sorted(units)]


_IDS_AT_ONCE = 500


def _latest_facts_of_sites(db: Database, sites: set[str]) -> list[dict[str, Any]]:
    # By notice id (SQLite computes the view for the listed ids alone; not for a
    # subquery), in chunks under SQLite's limit on bound values: a report per run of a
    # 3,000-site crawl read every stored notice's facts for each run.
    ids = [
        row[0]
        for row in db.execute(
            "SELECT id FROM notices WHERE site IN (SELECT value FROM json_each(?)) ORDER BY id",
            [json.dumps(sorted(sites), ensure_ascii=False)],
        )
    ]
    rows: list[dict[str, Any]] = []
    for i in range(0, len(ids), _IDS_AT_ONCE):
        rows.extend(latest_facts(db, ids[i : i + _IDS_AT_ONCE]))
    return rows


def median_days(db: Database, sites: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Median days from feedback to notice, per site and round (notices with both dates)."""
    wanted = set(sites) if sites is not None else None
    rows = latest_facts(db) if wanted is None else _latest_facts_of_sites(db, wanted)
    groups: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        if wanted is not None and row["site"] not in wanted:
            continue
        days = days_to_notice(row["feedback_date"], row["published_at"])
        if days is None:
            continue
        groups.setdefault((row["site"], row["round"] or ""), []).append(days)
    return [
        {"site": site, "round": rnd or None, "notices": len(v), "median_days": statistics.median(v)}
        for (site, rnd), v in sorted(groups.items())
    ]
