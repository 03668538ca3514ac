"""`xunshi serve`: browse, search and facet the database in Datasette, read-only."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import sqlite3
from pathlib import Path
from typing import Any

import click

from cli_common import db_option
from store.datasette import database_name, inspect, metadata
from store.db import StoreError, migrations

# Datasette settings: generous limits for facets over a few tens of thousands of notices.
SETTINGS = {
    "sql_time_limit_ms": 3000,
    "facet_time_limit_ms": 500,
    "default_page_size": 50,
    "default_facet_size": 6,  # facets stay short: the rows start on the first screen
    "suggest_facets": False,  # the views name their facets
    "truncate_cells_html": 0,
}


def _upgrade(path: Path) -> str | None:
    """Apply pending migrations (new views and search index) if the file is writable.

    Returns a warning for the user when it cannot be upgraded (a read-only copy).
    """
    from sqlite_utils import Database

    conn = None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        pending = migrations.pending(Database(conn))
    finally:
        if conn is not None:
            conn.close()
    if not pending:
        return None
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        return (
            f"{path} is read-only and was made by an older xunshi-watch: served without "
            "the views and the two-character search that a newer one adds"
        )
    from store.db import open_db

    open_db(path, create=False, write=True).close()  # upgrade, never create
    click.echo(f"upgraded {path}: {', '.join(m.name for m in pending)}", err=True)
    return None


def _check_port(host: str, port: int) -> None:
    """A clear error now instead of a server that dies on start."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"port {port} on {host} is in use (another `xunshi serve` or Datasette?): "
                    "pass --port with another number"
                ) from None
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def build(path: Path, *, write_metadata: Path | None = None) -> Any:
    """The Datasette instance for the database at ``path`` (checked, upgraded if needed)."""
    from datasette.app import Datasette

    inspect(path)  # a clear error for a missing or foreign file, before anything else
    warning = _upgrade(path)
    if warning:
        click.echo(f"warning: {warning}", err=True)
    meta = metadata(path)
    if write_metadata is not None:
        write_metadata.write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    # A mutable database: Datasette opens it mode=ro (the plugin adds query_only), and sees
    # what a crawl running beside it commits. Immutable mode would hide the WAL's pages.
    return Datasette([str(path)], metadata=meta, settings=SETTINGS, cors=False)


@click.command()
@db_option
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True,
              help="Port to listen on.")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 shares it on the network (read-only).")  # fmt: skip
@click.option("--metadata", "metadata_out", type=click.Path(dir_okay=False, writable=True),
              help="Also write the generated Datasette metadata to this JSON file.")  # fmt: skip
def serve(db_path: str, port: int, host: str, metadata_out: str | None) -> None:
    """Browse, search and facet the database in Datasette, read-only.

    Notices, changes (the edited characters struck through and underlined), new
    districts, coverage by province and notices per month, each a page with
    facets; the search boxes find Chinese words of any length; the newest
    events as an Atom feed. Nothing a visitor does can write the database, and
    a crawl may run into it meanwhile.

    \b
    Example:
        xunshi demo --db demo.db --keep
        xunshi serve --db demo.db          # then open http://127.0.0.1:8001/
    """
    path = Path(db_path)
    try:
        ds = build(path, write_metadata=Path(metadata_out) if metadata_out else None)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    _check_port(host, port)
    import datasette.handle_exception
    import uvicorn

    # Datasette prints every error it answers (a visitor's bad SQL is a 400) as a rich
    # traceback with local variables when rich is installed (typer brings it in): the
    # visitor gets the error page; the console stays quiet.
    datasette.handle_exception.rich = None
    asyncio.run(ds.invoke_startup())
    name = database_name(path)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"serving {path} read-only at http://{shown}:{port}/{name} (Ctrl-C stops)")
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning", lifespan="on", workers=1)
