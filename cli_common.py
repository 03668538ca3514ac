"""What the command modules share: opening the store for a command, and plain-text tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from unicodedata import east_asian_width

import click

from store.db import StoreError, default_path
from store.notices import Store


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


def format_option(*choices: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--format with these choices, the first being the default."""
    return click.option(
        "--format", "fmt", type=click.Choice(list(choices)), default=choices[0], show_default=True
    )


def open_store(db_path: str | None, *, create: bool = False) -> Store:
    """The store at ``db_path``, or a click error that says what is wrong with it."""
    try:
        return Store.open(db_path or default_path(), create=create)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


def _width(s: str) -> int:
    return sum(2 if east_asian_width(c) in "WF" else 1 for c in s)


def text_table(rows: Iterable[dict[str, Any]], columns: list[str], max_width: int = 60) -> str:
    """A plain-text table that lines up Chinese (double-width) characters."""

    def cell(value: Any) -> str:
        s = "" if value is None else str(value).replace("\n", " ")
        while _width(s) > max_width:
            s = s[: len(s) - 2] + "…"
        return s

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([_width(c)] + [_width(row[i]) for row in cells]) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v + " " * (w - _width(v)) for v, w in zip(values, widths, strict=True))

    out = [line(columns).rstrip(), "  ".join("-" * w for w in widths)]
    out += [line(row).rstrip() for row in cells]
    return "\n".join(out)
