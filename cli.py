"""The `xunshi` command: parses arguments, calls the crawler and the store, prints."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from crawler.extract import PageError, decode_page, extract_article
from crawler.normalise import normalise
from crawler.run import run_crawl, summary_line
from crawler.sites import SITES, get_site
from store.db import StoreError, default_path
from store.notices import Store

EXPORT_FIELDS = ["id", "site", "url", "title", "published_at", "source", "unit", "text", "versions",
                 "first_seen", "last_changed", "removed_at"]  # fmt: skip


def db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        "db_path",
        envvar="XUNSHI_DB",
        default="xunshi.db",
        show_default=True,
        type=click.Path(dir_okay=False),
        help="SQLite database file (or set XUNSHI_DB).",
    )(func)


def open_store(db_path: str, *, create: bool = False) -> Store:
    try:
        return Store.open(db_path or default_path(), create=create)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="xunshi-watch")
def main() -> None:
    """xunshi-watch: crawl and monitor 巡视整改 (inspection rectification) notices.

    Notices are kept as plain seed-format text in a SQLite database, with every version.

    \b
    Example:
        xunshi crawl zjsjw            # crawl one site into ./xunshi.db
        xunshi notices                # what is stored
        xunshi show 1                 # the text of notice 1
    """


@main.command()
@click.argument("sites", nargs=-1)
@db_option
@click.option(
    "--start-url", help="Start at this URL (a saved copy of the site) instead of the real site."
)
@click.option(
    "--timeout", type=float, default=None, help="Stop a site's crawl after this many seconds."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object per site instead of text."
)
def crawl(
    sites: tuple[str, ...],
    db_path: str,
    start_url: str | None,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Crawl SITES (all registered sites when none is named) into the database.

    Each site runs as its own Scrapy process; its log goes to logs/ beside the
    database. The summary counts pages, notices (new, changed, unchanged) and
    failures. The exit status is non-zero only when a crawl could not run at all.

    \b
    Example:
        xunshi crawl zjsjw
        xunshi crawl zjsjw --start-url http://127.0.0.1:8000/gongzuodongtai/xunshixuncha/index.shtml
    """
    names = list(sites) or sorted(SITES)
    for name in names:
        if name not in SITES:
            raise click.BadParameter(
                f"unknown site {name!r}; known: {', '.join(sorted(SITES))}", param_hint="SITES"
            )
    if start_url and len(names) != 1:
        raise click.UsageError("--start-url needs exactly one SITE")
    open_store(db_path, create=True).close()
    could_not_run = False
    for name in names:
        if not as_json:
            click.echo(f"crawling {name} ({SITES[name].label}) into {db_path} …", err=True)
        try:
            result = run_crawl(name, db_path=db_path, start_url=start_url, timeout=timeout)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
        if as_json:
            from crawler.run import result_json

            click.echo(result_json(result))
        else:
            click.echo(summary_line(result))
        could_not_run |= not result.ran
    if could_not_run:
        sys.exit(1)


@main.command("sites")
def sites_cmd() -> None:
    """List the registered sites.

    \b
    Example:
        xunshi sites
    """
    for profile in SITES.values():
        click.echo(f"{profile.name:10} {profile.label}  {profile.start_urls[0]}")


def _emit(rows: list[dict[str, Any]], fmt: str, columns: list[str]) -> None:
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif fmt == "jsonl":
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buf.getvalue(), nl=False)
    else:
        click.echo(_table(rows, columns))


def _table(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    from unicodedata import east_asian_width

    def width(s: str) -> int:
        return sum(2 if east_asian_width(c) in "WF" else 1 for c in s)

    def cell(v: Any) -> str:
        s = "" if v is None else str(v)
        return s if width(s) <= 60 else s[:28] + "…"

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([width(c)] + [width(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = [
        "  ".join(c + " " * (w - width(c)) for c, w in zip(columns, widths, strict=True)).rstrip()
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append(
            "  ".join(v + " " * (w - width(v)) for v, w in zip(row, widths, strict=True)).rstrip()
        )
    return "\n".join(lines)


@main.command()
@db_option
@click.option("--site", help="Only this site's notices.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "jsonl", "csv"]),
    default="table",
    show_default=True,
)
def notices(db_path: str, site: str | None, fmt: str) -> None:
    """List the stored notices, newest version count and dates.

    \b
    Example:
        xunshi notices
        xunshi notices --site shjjjc --format csv > notices.csv
    """
    store = open_store(db_path)
    try:
        rows = [
            {
                k: r[k]
                for k in (
                    "id",
                    "site",
                    "published_at",
                    "version_count",
                    "title",
                    "url",
                    "removed_at",
                )
            }
            for r in store.notices(site)
        ]
    finally:
        store.close()
    columns = ["id", "site", "published_at", "version_count", "title"]
    _emit(rows, fmt, columns if fmt == "table" else list(rows[0]) if rows else columns)


@main.command()
@click.argument("notice_id", type=int)
@db_option
@click.option("--version", "version_n", type=int, help="Version number (default: the latest).")
def show(notice_id: int, db_path: str, version_n: int | None) -> None:
    """Print a notice's seed-format text.

    \b
    Example:
        xunshi show 1
        xunshi show 1 --version 1
    """
    store = open_store(db_path)
    try:
        if store.notice(notice_id) is None:
            raise click.ClickException(f"no notice {notice_id}; `xunshi notices` lists them")
        row = store.version(notice_id, version_n)
        if row is None:
            raise click.ClickException(f"notice {notice_id} has no version {version_n}")
        click.echo(row["text"])
    finally:
        store.close()


@main.command()
@db_option
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True
)
@click.option("--site", help="Only this site's notices.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of standard output.",
)
def export(db_path: str, fmt: str, site: str | None, output: str | None) -> None:
    """Export one record per notice with its latest text.

    Fields: id, site, url, title, published_at (ISO 8601, Asia/Shanghai, or null),
    source, unit, text, versions, first_seen, last_changed, removed_at.

    \b
    Example:
        xunshi export --format jsonl > notices.jsonl
        xunshi export --format csv -o notices.csv
    """
    store = open_store(db_path)
    try:
        rows = list(store.export_rows(site))
    finally:
        store.close()
    out = io.StringIO()
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    if output:
        Path(output).write_text(out.getvalue(), encoding="utf-8")
        click.echo(f"wrote {len(rows)} notices to {output}", err=True)
    else:
        click.echo(out.getvalue(), nl=False)


@main.command()
@click.argument("site")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--url", required=True, help="The page's real URL (links and identity depend on it).")
@click.option("--content-type", help="The Content-Type header the page was served with, if known.")
def extract(site: str, file: str, url: str, content_type: str | None) -> None:
    """Run a site's extraction and normalisation on a saved page, offline.

    Prints JSON {title, published_at, source, text, methods}; `methods` says how each
    field was found (profile selector, meta tag, label, or the generic fallback), which
    is what to look at when a site changes its layout.

    \b
    Example:
        xunshi extract zjsjw page.html --url http://www.zjsjw.gov.cn/gongzuodongtai/xunshixuncha/202306/t20230626_20047122_ext.html
    """
    try:
        profile = get_site(site)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="SITE") from None
    body = Path(file).read_bytes()
    try:
        text, encoding = decode_page(body, content_type)
        article = extract_article(text, url, profile)
    except PageError as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    click.echo(
        json.dumps(
            {
                "title": article.title,
                "published_at": article.published_at.isoformat() if article.published_at else None,
                "source": article.source,
                "encoding": encoding,
                "methods": article.methods,
                "text": normalise(article.paragraphs, header=article.header),
            },
            ensure_ascii=False,
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
