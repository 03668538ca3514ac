"""Datasette for `xunshi serve`: the views made for people, and the configuration for any file.

The views (``notice_list``, ``change_list``, ``new_districts``, ``province_coverage``,
``monthly_notices``) and the ``notice_places`` table they read live in the database
(migrations m007 and m010 in store/db.py), so plain ``datasette`` and ``sqlite3`` see them
too. :func:`metadata` writes Datasette's metadata for whatever the database file is
called: titles, descriptions, facets, sort orders, which tables to hide, the Atom feed
query, and the settings of the plugin in store/datasette_plugin.py (two-character search,
diffs as HTML, times in Beijing time, read-only connections).
"""

from __future__ import annotations

import html
import sqlite3
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from store import fts
from store.db import SQLITE_MAGIC, StoreError

PLUGIN = "xunshi-watch"  # the plugin's name in Datasette's metadata ("plugins")

# Times are stored in UTC (fetches) or with their own offset (publication); people read
# them in Beijing time. strftime() takes the offset into account before adding 8 hours.
_BEIJING = "strftime('%Y-%m-%d %H:%M', {col}, '+8 hours')"


def _beijing(col: str) -> str:
    return _BEIJING.format(col=col)


VIEWS: dict[str, str] = {
    # One row per notice, the columns a reader wants first; key and URL last. No ORDER BY
    # (the metadata sorts by published, which has an index), so that counts and facets
    # flatten to plain scans; places are looked up by key in notice_places (subqueries, not
    # a join: Datasette's array facet query finds nothing through a LEFT JOIN view); times
    # are stored values, shown in Beijing time by the plugin.
    "notice_list": """
SELECT
    n.title AS title,
    n.unit AS unit,
    (SELECT districts FROM notice_places p WHERE p.notice_id = n.id) AS districts,
    (SELECT province FROM notice_places p WHERE p.notice_id = n.id) AS province,
    (SELECT city FROM notice_places p WHERE p.notice_id = n.id) AS city,
    n.published_at AS published,
    n.site AS site,
    n.version_count AS versions,
    n.last_changed AS last_changed,
    n.removed_at AS removed,
    n.id AS id,
    n.url AS url
FROM notices n""",
    # One row per stored version after the first: what changed, between which fetches.
    "change_list": f"""
SELECT
    n.title AS title,
    (v.n - 1) || ' → ' || v.n AS versions,
    {_beijing("p.fetched_at")} AS fetched_before,
    {_beijing("v.fetched_at")} AS fetched,
    v.char_diff AS diff,
    n.site AS site,
    n.unit AS unit,
    n.id AS id,
    n.url AS url
FROM versions v
JOIN notices n ON n.id = v.notice_id
LEFT JOIN versions p ON p.notice_id = v.notice_id AND p.n = v.n - 1
WHERE v.n > 1
ORDER BY v.fetched_at DESC, v.id DESC""",
    # Districts in the order they first appeared, with the notice that named them.
    "new_districts": f"""
SELECT
    d.full_name AS name,
    d.code AS code,
    d.province AS province,
    d.city AS city,
    d.level AS level,
    {_beijing("d.first_seen")} AS first_seen,
    n.title AS first_notice,
    n.id AS notice_id,
    n.url AS url
FROM districts d
LEFT JOIN notices n ON n.id = d.first_notice_id
ORDER BY d.first_seen DESC, d.code""",
    # Notices and districts per province (a notice naming no known district: province empty).
    "province_coverage": """
SELECT province, notices, districts, sites, latest_published FROM (
    SELECT
        d.province AS province,
        count(DISTINCT d.notice_id) AS notices,
        count(DISTINCT d.code) AS districts,
        count(DISTINCT n.site) AS sites,
        max(n.published_at) AS latest_published
    FROM notice_districts d
    JOIN notices n ON n.id = d.notice_id
    GROUP BY d.province
    UNION ALL
    SELECT NULL, count(*), 0, count(DISTINCT site), max(published_at)
    FROM notices
    WHERE id NOT IN (SELECT notice_id FROM notice_places)
    HAVING count(*) > 0
)
ORDER BY notices DESC, province""",
    # The timeline: notices per site and month of publication (Beijing time).
    "monthly_notices": """
SELECT
    strftime('%Y-%m', n.published_at, '+8 hours') AS month,
    n.site AS site,
    count(*) AS notices
FROM notices n
WHERE n.published_at IS NOT NULL
GROUP BY month, n.site
ORDER BY month DESC, n.site""",
}


# notice_places: one row per notice that names a district, its districts (a JSON list of
# full names, by code), provinces and cities, kept by triggers on notice_districts. The
# views read it so that filtering and faceting by place does not aggregate every notice's
# districts on every page.
_PLACES_OF = """INSERT INTO notice_places (notice_id, districts, province, city)
        SELECT notice_id, json_group_array(full_name),
            replace(group_concat(DISTINCT province), ',', '、'),
            replace(group_concat(DISTINCT city), ',', '、')
        FROM (SELECT notice_id, full_name, province, city FROM notice_districts
              {where} ORDER BY notice_id, code)
        GROUP BY notice_id"""
PLACES_SQL = (
    """CREATE TABLE IF NOT EXISTS notice_places (
        notice_id INTEGER PRIMARY KEY, districts TEXT, province TEXT, city TEXT)""",
    "CREATE INDEX IF NOT EXISTS notice_places_province ON notice_places (province, city)",
    "CREATE INDEX IF NOT EXISTS notices_published_at ON notices (published_at)",
    *(
        f"""CREATE TRIGGER IF NOT EXISTS notice_places_{event.lower()}_{which.lower()}
        AFTER {event} ON notice_districts
        BEGIN
            DELETE FROM notice_places WHERE notice_id = {which}.notice_id;
            {_PLACES_OF.format(where=f"WHERE notice_id = {which}.notice_id")};
        END"""
        for event, which in (
            ("INSERT", "NEW"),
            ("DELETE", "OLD"),
            ("UPDATE", "OLD"),
            ("UPDATE", "NEW"),
        )
    ),
    "DELETE FROM notice_places",
    _PLACES_OF.format(where=""),
)


def create_views(conn: sqlite3.Connection | Any) -> None:
    """(Re)create notice_places and the views, idempotently (migrations m007 and m010).

    ``conn`` is a sqlite3 connection or a sqlite-utils Database.
    """
    for statement in PLACES_SQL:
        conn.execute(statement)
    db = conn if isinstance(conn, Database) else Database(conn)
    for name, sql in VIEWS.items():
        db.create_view(name, sql.strip(), replace=True)  # dropped first if its SQL changed


# -- what a database must hold to be served --------------------------------------------------

REQUIRED_TABLES = ("notices", "versions", "events", "runs")


def database_name(path: Path) -> str:
    """The name Datasette gives the database: its file name without the suffix."""
    return path.stem


def inspect(path: Path) -> dict[str, list[str]]:
    """Tables and views of an xunshi database, read without writing; StoreError if not one."""
    if not path.exists():
        raise StoreError(
            f"no database at {path}: run `xunshi crawl` (or `xunshi demo --db {path} --keep`) "
            "first, or pass --db"
        )
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a database file")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    if head != SQLITE_MAGIC:
        raise StoreError(f"{path} is not a SQLite database: nothing to serve. Pass --db.")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view')"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot read the database {path}: {exc}") from None
    tables = [name for kind, name in rows if kind == "table"]
    views = [name for kind, name in rows if kind == "view"]
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise StoreError(
            f"{path} is not an xunshi-watch database (no {', '.join(missing)} table): "
            "pass --db with the file `xunshi crawl` writes"
        )
    return {"tables": tables, "views": views}


# -- metadata ----------------------------------------------------------------------------------

_HIDDEN = (
    "notices_fts", "notices_fts_config", "notices_fts_content", "notices_fts_data",
    "notices_fts_docsize", "notices_fts_idx", "notices_bigrams", "notices_bigrams_config",
    "notices_bigrams_data", "notices_bigrams_docsize", "notices_bigrams_idx",
    "notices_search_pending",
    "_sqlite_migrations", "outbox_runs", "notice_places",
    "page_dicts",  # zstd dictionaries of raw pages (store/compress.py)
)  # fmt: skip

# Older versions' texts are stored compressed (store/compress.py); this query shows them,
# through the SQL function the plugin registers on every connection.
VERSION_TEXT_SQL = """
SELECT v.n AS version, v.fetched_at AS fetched, xunshi_version_text(v.notice_id, v.n) AS text
FROM versions v
WHERE v.notice_id = :notice_id
ORDER BY v.n
"""

# The Atom feed of the newest events (datasette-atom renders a query with atom_* columns).
FEED_SQL = """
SELECT
    'tag:xunshi-watch,2026:event-' || e.id AS atom_id,
    CASE e.kind
        WHEN 'new_notice' THEN '新通报 New notice: '
        WHEN 'changed' THEN '修改 Changed: '
        WHEN 'removed' THEN '删除 Removed: '
        WHEN 'new_district' THEN '新地区 New district: '
        ELSE e.kind || ': '
    END || coalesce(
        CASE WHEN e.kind = 'new_district' THEN json_extract(e.detail, '$.name') END,
        n.title, json_extract(e.detail, '$.title'), e.url, e.site, ''
    ) AS atom_title,
    e.created_at AS atom_updated,
    coalesce(n.title, json_extract(e.detail, '$.title'), '') || char(10) ||
        coalesce(n.unit, '') || char(10) || coalesce(e.url, '') AS atom_content,
    coalesce(e.url, n.url) AS atom_link,
    e.kind AS kind,
    e.site AS site
FROM events e
LEFT JOIN notices n ON n.id = e.notice_id
WHERE e.kind IN ('new_notice', 'changed', 'removed', 'new_district')
ORDER BY e.id DESC
LIMIT 100"""

_FACTS_FACETS = ("site", "province", "city", "district", "kind", "level", "round")


def _facts_views(db: dict[str, list[str]], columns: dict[str, list[str]]) -> dict[str, Any]:
    """Settings for the facts table and its views (``notice_facts``), once they exist."""
    if "facts" not in db["tables"]:
        return {}
    out: dict[str, Any] = {
        "facts": {
            "title": "Facts, one per key and run of versions (version to last_version)",
            "facets": ["key"] if "key" in columns.get("facts", []) else [],
        }
    }
    for name in (v for v in db["views"] if "fact" in v and v not in VIEWS):
        cols = columns.get(name, [])
        out[name] = {
            "title": "Facts" if name == "notice_facts" else name.replace("_", " ").capitalize(),
            "description": "One row per notice: what its latest version states plainly "
            "(kind, round, dates, counts); a fact not stated plainly is left empty.",
            "facets": [c for c in _FACTS_FACETS if c in cols],
        }
    return out


def _columns(path: Path, names: list[str]) -> dict[str, list[str]]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return {
            name: [row[0] for row in conn.execute("SELECT name FROM pragma_table_info(?)", [name])]
            for name in names
        }
    finally:
        conn.close()


def metadata(path: Path, *, title: str = "xunshi-watch") -> dict[str, Any]:
    """Datasette metadata for the xunshi database at ``path``, whatever its file name."""
    db = inspect(path)
    name = database_name(path)
    have_views = all(v in db["views"] for v in VIEWS)
    columns = _columns(path, [n for n in db["tables"] + db["views"] if "fact" in n])
    from datasette.utils import tilde_encode  # how Datasette spells a name in its URLs

    base = "/" + html.escape(tilde_encode(name))
    start = (
        "<p>Start here: "
        f'<a href="{base}/notice_list">notices</a> · '
        f'<a href="{base}/change_list">changes</a> (what was edited, character by character) · '
        f'<a href="{base}/new_districts">new districts</a> · '
        f'<a href="{base}/province_coverage">coverage by province</a> · '
        f'<a href="{base}/monthly_notices?_size=max#g.mark=bar&amp;g.x_column=month&amp;g.x_type=ordinal'
        '&amp;g.y_column=notices&amp;g.y_type=quantitative&amp;g.color_column=site">'
        "notices per month</a> · "
        f'<a href="{base}/feed">newest events</a> (<a href="{base}/feed.atom">Atom feed</a>). '
        "The search boxes find Chinese words of any length (巡视, 鄞州, 违规吃喝); "
        "all times are Beijing time. Read-only.</p>"
    )
    tables: dict[str, Any] = {name_: {"hidden": True} for name_ in _HIDDEN if name_ in db["tables"]}
    search = {"notices": "id"}
    if have_views:
        search["notice_list"] = "id"
        tables.update(
            {
                "notice_list": {
                    "title": "Notices",
                    "sort_desc": "published",
                    "description": "Every notice, newest first; published in Beijing time (a date "
                    "alone when the site gives no time). Search finds any Chinese word.",
                    "facets": ["site", "province", "city", {"array": "districts"}],
                },
                "change_list": {
                    "title": "Changes",
                    "description": "Every edit to a notice's text, newest first: the earlier "
                    "and the later version of the changed lines, deleted characters struck "
                    "through, inserted ones underlined; fetch times in Beijing time.",
                    "facets": ["site"],
                },
                "new_districts": {
                    "title": "New districts",
                    "description": "Divisions in the order a notice first named them.",
                    "facets": ["province", "city", "level"],
                },
                "province_coverage": {
                    "title": "Coverage by province",
                    "description": "Notices, districts and sites per province (`xunshi coverage "
                    "--province P` lists the divisions without a notice).",
                },
                "monthly_notices": {
                    "title": "Notices per month and site",
                    "description": "Publication months (Beijing time). Show charting options "
                    "to draw it; the link on the database page draws it.",
                    "facets": ["site"],
                },
            }
        )
    tables["notices"] = {
        "description": "The stored notices as the crawler keeps them (notice_list reads better).",
        "sort_desc": "published_at",
        "facets": ["site"],
    }
    tables["events"] = {"sort_desc": "id", "facets": ["kind", "site"]}
    tables["versions"] = {
        "description": "Every stored version. text is plain for each notice's latest version; "
        "older versions keep theirs compressed (the version_text query shows them), and raw "
        "is the page as fetched, compressed (`xunshi show ID --version N --raw`).",
    }
    tables.update(_facts_views(db, columns))
    if "notice_facts" in db["views"]:
        start = start.replace(
            " · <a href", f' · <a href="{base}/notice_facts">facts</a> · <a href', 1
        )
    return {
        "title": title,
        "description_html": start,
        "databases": {
            name: {
                "description_html": start,
                "tables": tables,
                "queries": {
                    "feed": {
                        "title": "Newest events (new, changed, removed notices, new districts)",
                        "sql": FEED_SQL.strip(),
                    },
                    "version_text": {
                        "title": "Every version's text of one notice",
                        "sql": VERSION_TEXT_SQL.strip(),
                    },
                },
            }
        },
        "plugins": {
            PLUGIN: {
                "databases": {
                    name: {
                        "search": search if fts.PENDING_TABLE in db["tables"] else {},
                        "diff_columns": {"change_list": ["diff"]},
                        "array_columns": {"notice_list": ["districts"]},
                        "time_columns": {
                            "notice_list": {
                                "published": "published",
                                "last_changed": "minute",
                                "removed": "minute",
                            },
                            "province_coverage": {"latest_published": "published"},
                            "notice_facts": {"published_at": "published"},
                        },
                        "notice_links": {
                            "notice_list": ["id"],
                            "change_list": ["id"],
                            "new_districts": ["notice_id"],
                            "notice_facts": ["notice_id"],
                        },
                    }
                }
            },
            "datasette-atom": {"allow_unsafe_html_in_canned_queries": False},
        },
    }
