"""The Datasette plugin `xunshi serve` runs with (registered as a ``datasette`` entry point).

It acts only on the databases its metadata names (store/datasette.py writes it), so a plain
``datasette`` run on another file in the same environment is not affected:

* every connection to them is ``query_only``: no statement a visitor or a plugin sends can
  write (Datasette already opens them ``mode=ro``);
* the table search box of ``notices`` and ``notice_list`` searches the bigram index, so a
  Chinese word of any length is found (store/fts.py);
* the ``diff`` column of ``change_list`` is drawn as HTML with ``<del>``/``<ins>``, every
  character of page text escaped; JSON lists of districts read as ``甲、乙``; a notice's
  id in a view links to its row in ``notices``; stored times show in Beijing time;
* a style sheet keeps titles readable next to long URLs.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from datasette import hookimpl
from datasette.filters import FilterArguments
from datasette.utils import escape_sqlite
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from store import compress
from store.datasette import PLUGIN
from store.diff import render_html_fragment
from store.fts import BIGRAM_TABLE, bigram_query, register_functions

CSS_PATH = "/-/xunshi-watch.css"
CSS = """
td.col-title, td.col-first_notice, td.col-name { min-width: 16em; max-width: 36em; }
td.col-url, td.col-key { max-width: 14em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-size: 0.8em; }
td.col-diff { min-width: 28em; max-width: 48em; }
td.col-districts, td.col-unit { min-width: 6em; }
.xunshi-diff div.old, .xunshi-diff div.new { margin: 0.2em 0; }
.xunshi-diff del { background: #fdd; color: #a00; }
.xunshi-diff ins { background: #dfd; color: #060; }
.xunshi-diff hr.hunk { border: 0; border-top: 1px dashed #bbb; }
"""


BEIJING = ZoneInfo("Asia/Shanghai")


def beijing_time(value: str, *, date_alone: bool = False) -> str | None:
    """An ISO 8601 time as Beijing time, to the minute; a publication date with no time of
    day (00:00) as the date alone. None (Datasette shows the value) if it is not a time."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    when = when.replace(tzinfo=BEIJING) if when.tzinfo is None else when.astimezone(BEIJING)
    if date_alone and (when.hour, when.minute, when.second) == (0, 0, 0):
        return when.strftime("%Y-%m-%d")
    return when.strftime("%Y-%m-%d %H:%M")


def _config(datasette: Any, database: str | None) -> dict[str, Any] | None:
    if database is None:
        return None
    config = datasette.plugin_config(PLUGIN) or {}
    found = (config.get("databases") or {}).get(database)
    return found if isinstance(found, dict) else None


@hookimpl
def prepare_connection(conn: Any, database: str, datasette: Any) -> None:
    if _config(datasette, database) is None:
        return
    conn.execute("PRAGMA query_only = ON")
    register_functions(conn)
    compress.register_functions(conn)  # xunshi_version_text(): the version_text query


@hookimpl(trylast=True)  # after Datasette's own search filter, so this one's context wins
def filters_from_request(request: Any, database: str, table: str, datasette: Any) -> Any:
    config = _config(datasette, database)
    if config is None:
        return None
    pk = (config.get("search") or {}).get(table)
    if pk is None:
        return None
    query = request.args.get("_search", "")
    context: dict[str, Any] = {"supports_search": True}
    if not query.strip():
        return FilterArguments([], extra_context=context)
    context["search"] = query
    match = bigram_query(query)
    if match is None:  # nothing a word is made of: nothing matches
        return FilterArguments(["0"], human_descriptions=[f'search matches "{query}"'],
                               extra_context=context)  # fmt: skip
    where = (
        f"{escape_sqlite(pk)} IN (SELECT rowid FROM {BIGRAM_TABLE} "
        f"WHERE {BIGRAM_TABLE} MATCH :xunshi_search)"
    )
    return FilterArguments(
        [where],
        params={"xunshi_search": match},
        human_descriptions=[f'search matches "{query}"'],
        extra_context=context,
    )


@hookimpl
def render_cell(
    row: Any, value: Any, column: str, table: str | None, database: str, datasette: Any
) -> Any:
    config = _config(datasette, database)
    if config is None or table is None:
        return None
    if table == "versions" and column == "text" and isinstance(value, bytes) and row is not None:
        # an older version's text, stored compressed: the canned query shows it
        notice_id = row["notice_id"]
        if isinstance(notice_id, dict):  # a foreign key Datasette has labelled
            notice_id = notice_id.get("value")
        href = f"{datasette.urls.database(database)}/version_text?notice_id={notice_id}"
        return Markup(f'<a href="{escape(href)}">(older version, stored compressed: read it)</a>')
    if column in (config.get("notice_links") or {}).get(table, []) and isinstance(value, int):
        # the notice's own page: every column, and its versions linked below it
        href = datasette.urls.row(database, "notices", str(value))
        return Markup(f'<a href="{escape(href)}">{value}</a>')
    if not isinstance(value, str):
        return None
    if column in (config.get("diff_columns") or {}).get(table, []):
        try:
            hunks = json.loads(value)
        except ValueError:
            return None
        # render_html_fragment escapes every piece of text; only its own tags remain.
        return Markup(f'<div class="xunshi-diff">{render_html_fragment(hunks)}</div>')
    time_format = ((config.get("time_columns") or {}).get(table) or {}).get(column)
    if time_format:
        return beijing_time(value, date_alone=time_format == "published")
    if column in (config.get("array_columns") or {}).get(table, []):
        try:
            items = json.loads(value)
        except ValueError:
            return None
        if isinstance(items, list):
            return escape("、".join(str(x) for x in items)) if items else Markup("<span></span>")
    return None


@hookimpl
def extra_css_urls(database: str | None, datasette: Any) -> list[str]:
    if database is None and not (datasette.plugin_config(PLUGIN) or {}).get("databases"):
        return []
    if database is not None and _config(datasette, database) is None:
        return []
    return [CSS_PATH]


async def _css(request: Any) -> Any:
    return Response(CSS, content_type="text/css; charset=utf-8")


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/xunshi-watch\.css$", _css)]
