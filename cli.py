"""The `xunshi` command: parses arguments, calls the crawler and the store, prints."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cli_common import db_option, format_option, open_store, text_table
from crawler.extract import PageError, decode_page, extract_article
from crawler.normalise import normalise
from crawler.run import result_json, run_crawl, summary_line, write_run_report
from crawler.sites import SITES, get_site
from store.db import StoreError
from store.notices import EVENT_KINDS


class XunshiGroup(click.Group):
    """Turns database errors raised anywhere in a command into one clear line, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
        except sqlite3.Error as exc:
            raise click.ClickException(f"database error: {exc}") from None
        except OSError as exc:
            raise click.ClickException(
                f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
            ) from None


@click.group(cls=XunshiGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="A Scrapy or XUNSHI_ setting for this crawl (repeatable), e.g. --set DOWNLOAD_DELAY=5.",
)
@click.option(
    "--full",
    is_flag=True,
    help="Walk every list page and re-check every stored notice (default: incremental).",
)
@click.option(
    "--reports-dir",
    envvar="XUNSHI_REPORTS",
    type=click.Path(file_okay=False),
    help="Where each run's report goes (default: reports/ beside the database).",
)
@click.option(
    "--sites",
    "sites_file",
    type=click.Path(dir_okay=False),
    help="A TOML site file added to the built-in sites (or XUNSHI_SITES, or sites_file in "
    "xunshi.toml); with no SITES named, every site of the file is crawled.",
)
def crawl(
    sites: tuple[str, ...],
    db_path: str,
    start_url: str | None,
    timeout: float | None,
    as_json: bool,
    overrides: tuple[str, ...],
    full: bool,
    reports_dir: str | None,
    sites_file: str | None = None,
) -> None:
    """Crawl SITES (all registered sites when none is named) into the database.

    Each site runs as its own Scrapy process; its log goes to logs/ beside the
    database, and its report (Markdown and HTML) to reports/. The summary counts
    pages, notices (new, changed, unchanged) and failures. The exit status is
    non-zero only when a crawl could not run at all.

    \b
    Example:
        xunshi crawl zjsjw
        xunshi crawl zjsjw --start-url http://127.0.0.1:8000/gongzuodongtai/xunshixuncha/index.shtml
        xunshi crawl --sites my-sites.toml      # every site of my-sites.toml
    """
    from cli_sites import apply_sites_file

    own = apply_sites_file(sites_file)  # a bad site file stops here: nothing fetched or stored
    names = list(sites) or (sorted(own) if sites_file else sorted(SITES))
    for name in names:
        if name not in SITES:
            raise click.BadParameter(
                f"unknown site {name!r}; known: {', '.join(sorted(SITES))}", param_hint="SITES"
            )
    if start_url and len(names) != 1:
        raise click.UsageError("--start-url needs exactly one SITE")
    settings: dict[str, str] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier() or not key.strip().isupper():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        settings[key.strip()] = value
    open_store(db_path, create=True).close()
    could_not_run = False
    for name in names:
        if not as_json:
            click.echo(f"crawling {name} ({SITES[name].label}) into {db_path} …", err=True)
        try:
            result = run_crawl(
                name,
                db_path=db_path,
                start_url=start_url,
                full=full,
                timeout=timeout,
                settings=settings,
            )
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
        report_path, report_summary = write_run_report(db_path, result.run_id, reports_dir)
        if as_json:
            click.echo(result_json(result))
        else:
            click.echo(summary_line(result))
            click.echo(f"  report: {report_summary} -> {report_path}")
        could_not_run |= not result.ran
    if could_not_run:
        sys.exit(1)


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
        click.echo(text_table(rows, columns))


@main.command()
@db_option
@click.option("--site", help="Only this site's notices.")
@format_option("table", "json", "jsonl", "csv")
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
@click.option(
    "--raw", is_flag=True, help="Print the page bytes as fetched (the evidence), not the text."
)
def show(notice_id: int, db_path: str, version_n: int | None, raw: bool) -> None:
    """Print a notice's seed-format text.

    \b
    Example:
        xunshi show 1
        xunshi show 1 --version 1
        xunshi show 1 --raw > page.html
    """
    store = open_store(db_path)
    try:
        if store.notice(notice_id) is None:
            raise click.ClickException(f"no notice {notice_id}; `xunshi notices` lists them")
        row = store.version(notice_id, version_n)
        if row is None:
            raise click.ClickException(f"notice {notice_id} has no version {version_n}")
        if raw:
            from store.notices import page_bytes

            sys.stdout.buffer.write(page_bytes(row["raw"]))
        else:
            click.echo(row["text"])
    finally:
        store.close()


@main.command()
@db_option
@format_option("jsonl", "csv", "atom", "txt")
@click.option("--site", help="Only this site's notices.")
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    help="A file (jsonl, csv, atom) or, for txt, a folder (default: export/); default: standard output.",
)
def export(db_path: str, fmt: str, site: str | None, output: str | None) -> None:
    """Export the notices: one record per notice with its latest text, a feed, or text files.

    jsonl and csv fields: id, site, url, title, published_at (ISO 8601, Asia/Shanghai,
    or null), source, unit, districts, text, versions, first_seen, last_changed,
    removed_at. atom: a feed of new, changed and removed notices. txt: every version as
    seed-format text, <folder>/<site>/<published date>_<unit>_<id>.v<N>.txt.

    \b
    Example:
        xunshi export --format jsonl > notices.jsonl
        xunshi export --format csv -o notices.csv
        xunshi export --format txt -o texts/
    """
    if fmt in ("atom", "txt"):
        from cli_deliver import export_files

        export_files(db_path, fmt, output, site)
        return
    from store.deliver import notices_csv

    store = open_store(db_path)
    try:
        rows = list(store.export_rows(site))
    finally:
        store.close()
    if fmt == "jsonl":
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    else:
        text = notices_csv(rows)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(rows)} notices to {output}", err=True)
    else:
        click.echo(text, nl=False)


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


def _since_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--since",
        help="A run id (events of that run and later) or a date/time (2026-11-01, 2026-11-01T08:00).",
    )(func)


def _parse_since(since: str | None) -> dict[str, Any]:
    if since is None:
        return {}
    if since.isdigit():
        return {"since_run": int(since)}
    from datetime import datetime

    try:
        datetime.fromisoformat(since)
    except ValueError:
        raise click.BadParameter(
            f"{since!r} is neither a run id nor an ISO date", param_hint="--since"
        ) from None
    return {"since": since}


@main.command()
@db_option
@_since_option
@click.option("--kind", type=click.Choice(list(EVENT_KINDS)), help="Only events of this kind.")
@format_option("table", "json", "jsonl")
def events(db_path: str, since: str | None, kind: str | None, fmt: str) -> None:
    """List events: new_notice, changed, removed, blocked, fetch_failed, parse_failed, site_broken…

    \b
    Example:
        xunshi events --since 2026-11-01
        xunshi events --kind changed --format jsonl
    """
    store = open_store(db_path)
    try:
        rows = store.events(kind=kind, **_parse_since(since))
    finally:
        store.close()
    if fmt == "table":
        for row in rows:
            row["detail"] = row["detail"].get("reason") or row["detail"].get("title") or ""
    _emit(rows, fmt, ["id", "run_id", "created_at", "kind", "site", "notice_id", "detail"])


@main.command()
@click.argument("notice_id", type=int)
@db_option
@click.option("--from", "from_n", type=int, help="Old version (default: the one before --to).")
@click.option("--to", "to_n", type=int, help="New version (default: the latest).")
@format_option("text", "html", "json")
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour the text form (default: when printing to a terminal).",
)
def diff(
    notice_id: int, db_path: str, from_n: int | None, to_n: int | None, fmt: str, color: bool | None
) -> None:
    """Show how a notice changed between two versions, down to the character.

    The text form marks removed characters [-like this-] and added ones {+like this+}
    (or in colour on a terminal); the HTML form is one self-contained page.

    \b
    Example:
        xunshi diff 12
        xunshi diff 12 --from 1 --to 3 --format html > diff.html
    """
    from store.diff import diff_texts, render_text

    store = open_store(db_path)
    try:
        notice = store.notice(notice_id)
        if notice is None:
            raise click.ClickException(f"no notice {notice_id}; `xunshi notices` lists them")
        latest = notice["version_count"]
        to_n = to_n or latest
        from_n = from_n or max(to_n - 1, 1)
        old, new = store.version(notice_id, from_n), store.version(notice_id, to_n)
        if old is None or new is None:
            raise click.ClickException(f"notice {notice_id} has versions 1..{latest}")
    finally:
        store.close()
    d = diff_texts(old["text"], new["text"], old_label=f"v{from_n}", new_label=f"v{to_n}")
    if fmt == "json":
        click.echo(json.dumps({"notice_id": notice_id, "from": from_n, "to": to_n, "unified": d.unified,
                               "chars": d.chars}, ensure_ascii=False, indent=2))  # fmt: skip
    elif fmt == "html":
        from store import report

        data = {"scope": f"notice {notice_id}: v{from_n} → v{to_n}", "runs": [], "per_site": {},
                "new": [], "removed": [], "failures": [], "blocked": [], "new_districts": [],
                "changed": [{"site": notice["site"], "url": notice["url"], "title": notice["title"],
                             "notice_id": notice_id, "detail": {"from_version": from_n, "to_version": to_n},
                             "char_diff": d.chars}]}  # fmt: skip
        click.echo(report.to_html(data))
    else:
        use_color = sys.stdout.isatty() if color is None else color
        click.echo(f"notice {notice_id} · {notice['title']}\n{notice['url']}\nv{from_n} → v{to_n}")
        click.echo(render_text(d.chars, color=use_color) if d.chars else "(no change)")


@main.command("report")
@db_option
@click.option("--run", "run_id", type=int, help="Report of this run (default: the latest run).")
@click.option("--since", help="Report everything since this date/time instead (2026-11-01).")
@format_option("md", "html", "json")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file.")
def report_cmd(
    db_path: str, run_id: int | None, since: str | None, fmt: str, output: str | None
) -> None:
    """Report new notices, changes with their diffs, removals, failures and blocked pages.

    \b
    Example:
        xunshi report                       # the latest run, as Markdown
        xunshi report --since 2026-11-01 --format html -o week.html
    """
    from store import report

    store = open_store(db_path)
    try:
        if run_id is None and since is None:
            runs = store.runs(limit=1)
            if not runs:
                raise click.ClickException("no runs yet: `xunshi crawl` first")
            run_id = runs[0]["id"]
        try:
            data = report.collect(store, run_id=run_id, since=since if run_id is None else None)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    text = report.RENDERERS[fmt](data)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"{report.summary(data)} -> {output}", err=True)
    else:
        click.echo(text)


@main.command()
@db_option
@click.option(
    "--new", "only_new", is_flag=True, help="Only districts first seen in the latest run."
)
@click.option("--since", help="Only districts first seen on or after this date (2026-11-01).")
@click.option("--province", help="Only this province (浙江省, 浙江, 33…).")
@format_option("table", "json", "jsonl", "csv")
def districts(
    db_path: str, only_new: bool, since: str | None, province: str | None, fmt: str
) -> None:
    """List the districts notices are about: first seen, notice count, latest notice.

    \b
    Example:
        xunshi districts
        xunshi districts --new
        xunshi districts --province 上海 --format csv
    """
    from store.districts import normalize_province
    from store.notices import district_rows

    prov = _province(province, normalize_province)
    store = open_store(db_path)
    try:
        first_run = None
        if only_new:
            runs = store.runs(limit=1)
            first_run = runs[0]["id"] if runs else -1
        rows = district_rows(store, province=prov, since=since, first_run=first_run)
    finally:
        store.close()
    _emit(rows, fmt, ["code", "name", "first_seen", "notices", "latest_published", "latest_title"])


def _province(value: str | None, normalize: Callable[[str | None], str | None]) -> str | None:
    if value is None:
        return None
    prov = normalize(value)
    if prov is None:
        raise click.BadParameter(f"unknown province {value!r}", param_hint="--province")
    return prov


@main.command()
@db_option
@click.option("--province", required=True, help="The province (上海市, 浙江, 33…).")
@click.option(
    "--round", "round_text", help="Only notices whose title names this round (十二届市委第二轮)."
)
@click.option(
    "--level", type=click.Choice(["county", "prefecture"]), default="county", show_default=True
)
@click.option("--year", type=int, help="Division table of this year (default: the newest).")
@format_option("table", "json", "jsonl", "csv")
def coverage(
    db_path: str, province: str, round_text: str | None, level: str, year: int | None, fmt: str
) -> None:
    """Which of a province's districts have a notice (and when), and which do not yet.

    \b
    Example:
        xunshi coverage --province 上海 --round 十二届市委第二轮
        xunshi coverage --province 浙江 --level prefecture --format csv
    """
    from crawler.normalise import clean_line
    from store.districts import divisions, normalize_province
    from store.notices import coverage_rows

    prov = _province(province, normalize_province)
    store = open_store(db_path)
    try:
        rows = coverage_rows(
            store,
            divisions(province=prov, level=level, year=year),
            round_text=clean_line(round_text) if round_text else None,
        )
    finally:
        store.close()
    _emit(rows, fmt, ["code", "name", "notices", "published", "first_seen", "title"])
    if fmt == "table":
        have = sum(1 for r in rows if r["notices"])
        scope = f" ({round_text})" if round_text else ""
        click.echo(f"\n{prov}: {have} of {len(rows)} {level}-level divisions have a notice{scope}")


def _register_commands() -> None:
    # Commands that live in their own modules: scheduling and deliveries, site health.
    import cli_deliver
    import cli_serve
    import cli_sites

    for command in (cli_deliver.schedule, cli_deliver.outbox, cli_deliver.demo, cli_deliver.search,
                    cli_sites.check, cli_sites.record, cli_sites.sites):  # fmt: skip
        main.add_command(command)
    main.add_command(cli_serve.serve)


_register_commands()

if __name__ == "__main__":
    main()
