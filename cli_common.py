"""What the command modules share: opening the store, the option types, times, tables and formats."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from unicodedata import east_asian_width
from zoneinfo import ZoneInfo

import click

from store import report
from store.db import StoreError, default_path
from store.notices import Store

# Every time shown to a person is in the sites' own zone; the database keeps ISO 8601
# with its offset, and a date or time typed without an offset means this zone too.
LOCAL = ZoneInfo("Asia/Shanghai")
LOCAL_LABEL = "Asia/Shanghai"
SQLITE_MAX_INT = 2**63 - 1


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """The --db option every command that reads or writes the database takes."""
    return click.option(
        "--db",
        "db_path",
        envvar="XUNSHI_DB",
        default="xunshi.db",
        show_default=True,
        type=click.Path(dir_okay=False),
        help="SQLite database file (or set XUNSHI_DB).",
    )(func)


def format_option(
    *choices: str, json_alias: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--format with these choices, the first being the default; ``json_alias`` adds --json."""

    def deco(func: Callable[..., Any]) -> Callable[..., Any]:
        func = click.option(
            "--format",
            "fmt",
            type=click.Choice(list(choices)),
            default=choices[0],
            show_default=True,
            help="Output format.",
        )(func)
        if json_alias:
            func = click.option(
                "--json",
                "fmt",
                flag_value="json",
                type=click.Choice(list(choices)),
                help="The same as --format json.",
            )(func)
        return func

    return deco


def table_formats(func: Callable[..., Any]) -> Callable[..., Any]:
    """--format table|json|jsonl|csv and --bom: what every table-printing command offers."""
    func = click.option(
        "--bom",
        is_flag=True,
        help="Start CSV with a UTF-8 byte-order mark, so that Excel shows the Chinese.",
    )(func)
    return format_option("table", "json", "jsonl", "csv")(func)


def open_store(db_path: str | None, *, create: bool = False, write: bool = False) -> Store:
    """The store at ``db_path``, or a click error that says what is wrong with it.

    Read commands open it read-only: they change nothing, and work on a file they may
    not write. Use it as a context manager: ``with open_store(path) as store: …``.
    """
    try:
        return Store.open(db_path or default_path(), create=create, write=write or create)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


# -- option values --------------------------------------------------------------------------

WHEN_FORMS = (
    "a run id (12), a date (2026-12-01 or 2026-1-5), a date and time (2026-12-01T21:10, "
    "2026-12-01 21:10), or either with an offset (2026-12-01T13:10Z, 2026-12-01T21:10+08:00); "
    f"without an offset the time is {LOCAL_LABEL}"
)
_DATE = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)


@dataclass(frozen=True)
class When:
    """A --since/--until value: a run id, or a moment (ISO 8601 UTC, as the database keeps it)."""

    run: int | None = None
    at: str | None = None
    text: str = ""


def parse_id(value: str, what: str = "id") -> int:
    """A positive integer SQLite can hold, from ASCII digits only; ValueError says why not."""
    s = str(value).strip()
    if not re.fullmatch(r"[0-9]+", s, re.ASCII):
        raise ValueError(f"{value!r} is not a {what} (a whole number such as 12)")
    n = int(s)
    if not 1 <= n <= SQLITE_MAX_INT:
        raise ValueError(f"{what} {s[:24]}{'…' if len(s) > 24 else ''} is out of range")
    return n


def parse_when(value: str) -> When:
    """The one parser of --since/--until: a run id or a date/time; ValueError names the forms."""
    s = value.strip()
    if re.fullmatch(r"[0-9]+", s, re.ASCII):
        return When(run=parse_id(s, "run id"), text=s)
    m = _DATE.fullmatch(s)
    if not m:
        raise ValueError(f"{value!r} is neither a run id nor an ISO date. Accepted: {WHEN_FORMS}")
    y, mo, d, hh, mm, ss, tz = m.groups()
    try:
        day = date(int(y), int(mo), int(d))
        clock = time(int(hh or 0), int(mm or 0), int(ss or 0))
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not a real date or time ({exc}). Accepted: {WHEN_FORMS}"
        ) from None
    moment = datetime.combine(day, clock)
    if tz:
        offset = "+00:00" if tz == "Z" else tz if ":" in tz else f"{tz[:3]}:{tz[3:]}"
        moment = datetime.fromisoformat(moment.isoformat() + offset)
    else:
        moment = moment.replace(tzinfo=LOCAL)
    return When(at=moment.astimezone(UTC).isoformat(timespec="seconds"), text=s)


class WhenType(click.ParamType):
    name = "WHEN"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> When:
        if isinstance(value, When):
            return value
        try:
            return parse_when(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class IdType(click.ParamType):
    """A run, notice or version number: positive, at most SQLite's largest integer."""

    name = "N"

    def __init__(self, what: str = "number") -> None:
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        try:
            return parse_id(str(value), self.what)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


WHEN = WhenType()


def since_option(help_text: str = "Only what happened since this run or date/time.") -> Any:
    return click.option("--since", type=WHEN, help=f"{help_text} {WHEN_FORMS}.")


def until_option(help_text: str = "Only what happened before this run or date/time.") -> Any:
    return click.option("--until", type=WHEN, help=f"{help_text} Same forms as --since.")


def resolve_when(store: Store, when: When | None, option: str) -> str | None:
    """A --since/--until value as an ISO UTC time; a run id must exist (its start time)."""
    if when is None:
        return None
    if when.run is None:
        return when.at
    run = store.run(when.run)
    if run is None:
        raise click.BadParameter(
            f"no run {when.run}; `xunshi events` shows runs", param_hint=option
        )
    return str(run["started_at"])


def check_site(store: Store, site: str | None) -> None:
    """An unknown site is an error, not an empty answer."""
    if site is None:
        return
    from crawler.sites import SITES

    if site in SITES:
        return
    stored = {r["site"] for r in store.db.query("select distinct site from notices")}
    if site not in stored:
        raise click.BadParameter(
            f"unknown site {site!r}; known: {', '.join(sorted(set(SITES) | stored))}",
            param_hint="--site",
        )


# -- times ------------------------------------------------------------------------------------


def local_time(iso: str | None, *, seconds: bool = False) -> str:
    """An ISO 8601 time as a person reads it, in Asia/Shanghai (store.report.shown_time)."""
    return report.shown_time(iso, seconds=seconds)


# -- tables and formats ------------------------------------------------------------------------


def _width(s: str) -> int:
    return sum(2 if east_asian_width(c) in "WF" else 1 for c in s)


def trim(value: Any, max_width: int) -> str:
    """One line of at most ``max_width`` columns, '…' where it was cut: linear in the output."""
    s = "" if value is None else str(value)
    s = s[: max_width * 2 + 2].replace("\n", " ").replace("\r", " ").replace("\t", " ")
    if _width(s) <= max_width:
        return s
    out, used = [], 0
    for c in s:
        w = 2 if east_asian_width(c) in "WF" else 1
        if used + w > max_width - 1:
            break
        out.append(c)
        used += w
    return "".join(out) + "…"


def text_table(
    rows: Iterable[dict[str, Any]],
    columns: list[str],
    max_width: int = 60,
    headers: Sequence[str] | None = None,
) -> str:
    """A plain-text table that lines up Chinese (double-width) characters.

    ``headers`` are what a person reads above the columns (default: the column names).
    """
    heads = list(headers or columns)
    cells = [[trim(r.get(c), max_width) for c in columns] for r in rows]
    widths = [max([_width(h)] + [_width(row[i]) for row in cells]) for i, h in enumerate(heads)]

    def line(values: list[str]) -> str:
        return "  ".join(v + " " * (w - _width(v)) for v, w in zip(values, widths, strict=True))

    out = [line(heads).rstrip(), "  ".join("-" * w for w in widths)]
    out += [line(row).rstrip() for row in cells]
    return "\n".join(out)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run as a formula: one starting with = + - @ tab or
    CR gets a leading apostrophe (OWASP's advice); numbers are left as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_text(rows: Iterable[dict[str, Any]], columns: list[str], *, bom: bool = False) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: safe_cell(_flat(row.get(k))) for k in columns})
    return ("\ufeff" if bom else "") + buf.getvalue()


def _flat(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


def emit(
    rows: list[dict[str, Any]],
    fmt: str,
    columns: list[str],
    *,
    headers: Sequence[str] | None = None,
    table_rows: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    bom: bool = False,
    empty: str | None = None,
) -> None:
    """Print ``rows`` as a table (for people: ``table_rows`` shapes each row, e.g. local
    times), JSON, JSON Lines or CSV (every field of the rows, as stored)."""
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif fmt == "jsonl":
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
    elif fmt == "csv":
        fields = list(rows[0]) if rows else columns
        click.echo(csv_text(rows, fields, bom=bom), nl=False)
    elif not rows and empty:
        click.echo(empty, err=True)
    else:
        shaped = [table_rows(r) for r in rows] if table_rows else rows
        click.echo(text_table(shaped, columns, headers=headers))
