"""What the crawler keeps per site between runs: the 巡视整改 list it found, and how crawls went.

Discovery (crawler/discover.py) finds a site's list from its home page; the list is
kept here so that the next crawl starts there, and found again when it stops answering.
Only this module writes the ``site_state`` table.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from store.db import default_path, write_transaction
from store.notices import Store, utcnow


def save_list(
    store: Store, site: str, list_url: str, family: str | None, how: str, at: str | None = None
) -> None:
    """Keep ``list_url`` as ``site``'s 巡视整改 list (``how``: discovered | kept | configured)."""
    now = at or utcnow()
    with write_transaction(store.db):
        table = store.db.table("site_state")
        rows = list(table.rows_where("site = ?", [site]))
        row = rows[0] if rows else {}
        same = row.get("list_url") == list_url
        table.upsert(
            {
                "site": site,
                "list_url": list_url,
                "family": family or row.get("family"),
                "found_by": how if not same or how != "kept" else row.get("found_by") or how,
                "found_at": row.get("found_at") if same and row.get("found_at") else now,
                "checked_at": now,
                "failures": 0,
            },
            pk="site",
        )


def list_failed(store: Store, site: str, reason: str, at: str | None = None) -> None:
    """The kept list did not answer (or was no list): the next crawl discovers it again."""
    now = at or utcnow()
    with write_transaction(store.db):
        table = store.db.table("site_state")
        rows = list(table.rows_where("site = ?", [site]))
        failures = int(rows[0].get("failures") or 0) + 1 if rows else 1
        table.upsert(
            {"site": site, "checked_at": now, "failures": failures, "last_error": reason},
            pk="site",
        )


def site_state(store: Store, site: str) -> dict[str, Any] | None:
    table = store.db.table("site_state")
    if not table.exists():  # an older database opened read-only, not migrated yet
        return None
    rows = list(table.rows_where("site = ?", [site]))
    return rows[0] if rows else None


def site_states(store: Store) -> dict[str, dict[str, Any]]:
    table = store.db.table("site_state")
    return {row["site"]: row for row in table.rows} if table.exists() else {}


def load_site_state(path: str | os.PathLike[str] | None, site: str) -> dict[str, Any] | None:
    """``site``'s kept state, for a crawl about to start.

    Read only: the file is opened with ``mode=ro`` and never created or migrated; no
    database, or one without the table yet, keeps nothing.
    """
    file = Path(path or default_path())
    if not file.is_file():
        return None
    conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        conn.row_factory = sqlite3.Row
        row = conn.execute("select * from site_state where site = ?", [site]).fetchone()
    except sqlite3.OperationalError:
        return None  # an older database: no site_state table until the store migrates it
    finally:
        conn.close()
    return dict(row) if row else None


def last_runs(store: Store) -> dict[str, dict[str, Any]]:
    """Each site's latest run."""
    return {
        row["site"]: row
        for row in store.db.query(
            "select r.* from runs r join (select site, max(id) as id from runs group by site) m "
            "on r.id = m.id"
        )
    }
