"""The `xunshi` command: parses arguments, calls the crawler and the store, prints."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cli_common import (
    LOCAL_LABEL,
    IdType,
    check_site,
    db_option,
    emit,
    format_option,
    local_time,
    open_store,
    resolve_when,
    since_option,
    table_formats,
    until_option,
)
from crawler.article import extract_article
from crawler.extract import PageError, decode_page
from crawler.normalise import normalise
from crawler.progress import LiveProgress
from crawler.run import (
    SiteCrawl,
    after_crawl,
    check_start_url,
    check_timeout,
    crawl_summary,
    result_json,
    run_crawls,
    summary_line,
)
from crawler.sites import SITES, get_site
from store.db import StoreError
from store.events import EVENT_KINDS


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


def _start_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_start_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _time_limit(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    try:
        return check_timeout(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command()
@click.argument("sites", nargs=-1)
@db_option
@click.option(
    "--start-url",
    callback=_start_url,
    help="Start at this URL (a saved copy of the site) instead of the real site.",
)
@click.option(
    "--timeout",
    type=float,
    default=None,
    callback=_time_limit,
    help="Stop each site's crawl this many seconds after it started.",
)
@format_option("text", "json", json_alias=True)
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
@click.option(
    "--redis",
    "redis_url",
    envvar="XUNSHI_REDIS_URL",
    metavar="URL",
    help="Share the crawl through this Redis (e.g. redis://host:6379/0): worker processes "
    "fetch, this one alone writes the database. Also $XUNSHI_REDIS_URL.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="With --redis: start this many crawl workers here (default 1; 0: only workers "
    "started elsewhere with `xunshi worker`).",
)
@click.option(
    "--join-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    metavar="SECONDS",
    help="With --workers 0: how long to wait for a `xunshi worker` to join before giving up.",
)
def crawl(
    sites: tuple[str, ...],
    db_path: str,
    start_url: str | None,
    timeout: float | None,
    fmt: str,
    overrides: tuple[str, ...],
    full: bool,
    reports_dir: str | None,
    sites_file: str | None = None,
    redis_url: str | None = None,
    workers: int | None = None,
    join_timeout: float = 600.0,
) -> None:
    """Crawl SITES (all registered sites when none is named) into the database.

    All the sites are crawled together in one Scrapy process, many hosts at once and one
    request at a time per host; each site has its own run, counts and report. On a
    terminal, one live line per site shows pages, new, changed and failures. The log
    goes to logs/ beside the database, each run's report (Markdown and HTML) to reports/.

    A site of which no page could be fetched is "failed", saying why (DNS, refused,
    timeout, blocked). Exit status: 0 when every site was crawled, 1 when none could
    be, 3 when some could not.

    \b
    Example:
        xunshi crawl zjsjw
        xunshi crawl zjsjw shjjjc --timeout 600 --json
        xunshi crawl zjsjw --start-url http://127.0.0.1:8000/gongzuodongtai/xunshixuncha/index.shtml
        xunshi crawl --sites my-sites.toml      # every site of my-sites.toml
        xunshi crawl zjsjw shjjjc --redis redis://10.0.0.5:6379/0 --workers 3

    With --redis, the frontier is in Redis (scrapy-redis): --workers processes here and
    any `xunshi worker` elsewhere share it, one request at a time per host across all of
    them; this process is the only one that writes the database (see the README).
    """
    if workers is not None and not redis_url:
        raise click.UsageError("--workers needs --redis URL (or $XUNSHI_REDIS_URL)")
    from cli_sites import apply_sites_file

    own = apply_sites_file(sites_file)  # a bad site file stops here: nothing fetched or stored
    names = list(dict.fromkeys(sites)) or (sorted(own) if sites_file else sorted(SITES))
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
    as_json = fmt == "json"
    if redis_url:
        from crawler.frontier import RedisUnavailable, connect

        try:
            connect(redis_url).close()
        except RedisUnavailable as exc:
            raise click.ClickException(str(exc)) from None
    with open_store(db_path, create=True) as store:
        for row in store.close_abandoned_runs():
            click.echo(
                f"run {row['id']} ({row['site']}) recorded as interrupted: {row['error']}", err=True
            )
    crawls = [SiteCrawl(name, start_url=start_url, full=full, timeout=timeout) for name in names]
    progress = LiveProgress(names, sys.stderr)
    if not as_json or progress.live:
        what = f"{len(names)} sites" if len(names) > 1 else f"{names[0]} ({SITES[names[0]].label})"
        progress.start(f"crawling {what} into {db_path} …")
    try:
        if redis_url:
            from crawler.distributed import run_distributed
            from crawler.frontier import RedisUnavailable

            try:
                results = run_distributed(
                    crawls, db_path=db_path, redis_url=redis_url,
                    workers=1 if workers is None else workers, settings=settings,
                    on_progress=progress.update,
                    # a user's sites travel with the plan: a worker elsewhere has no file
                    profiles={n: SITES[n] for n in names if SITES[n].origin != "built-in"},
                    join_timeout=join_timeout, on_wait=lambda line: _say(progress, line),
                )  # fmt: skip
            except RedisUnavailable as exc:
                raise click.ClickException(str(exc)) from None
        else:
            results = run_crawls(
                crawls, db_path=db_path, settings=settings, on_progress=progress.update
            )
    except (KeyError, ValueError) as exc:
        raise click.UsageError(str(exc).strip("'\"")) from None
    progress.finish()
    done, _ = after_crawl(db_path, results, reports_dir=reports_dir)
    # Failures first: they are what a person must act on.
    for item in sorted(done, key=lambda d: d.result.status == "ok"):
        if as_json:
            click.echo(result_json(item.result))
            continue
        click.echo(summary_line(item.result))
        if item.report_path:
            click.echo(f"  report: {item.report_summary} -> {item.report_path}")
        else:
            click.echo(f"  {item.error}")
    if not as_json and len(results) > 1:
        click.echo(crawl_summary(results))
    crawled = [r for r in results if r.ran]
    if not crawled:
        sys.exit(1)
    if len(crawled) < len(results):
        sys.exit(3)


def _say(progress: LiveProgress, line: str) -> None:
    """A line above the live progress lines (they are drawn again below it)."""
    if progress.live:
        progress._clear()
    click.echo(line, err=True)
    if progress.live:
        progress.draw(force=True)


NOTICE = IdType("notice id")
VERSION = IdType("version number")
RUN = IdType("run id")


@main.command()
@db_option
@click.option("--site", help="Only this site's notices.")
@table_formats
def notices(db_path: str, site: str | None, fmt: str, bom: bool) -> None:
    """List the stored notices, newest version count and dates.

    The table shows times in Asia/Shanghai; json, jsonl and csv keep ISO 8601 with the offset.

    \b
    Example:
        xunshi notices
        xunshi notices --site shjjjc --format csv --bom > notices.csv
    """
    fields = ("id", "site", "published_at", "version_count", "title", "url", "removed_at")
    with open_store(db_path) as store:
        check_site(store, site)
        rows = [{k: r[k] for k in fields} for r in store.notices(site)]
    emit(
        rows,
        fmt,
        ["id", "site", "published_at", "version_count", "title"],
        headers=["id", "site", f"published ({LOCAL_LABEL})", "versions", "title"],
        table_rows=lambda r: {**r, "published_at": local_time(r["published_at"])},
        bom=bom,
        empty="no notices stored yet: `xunshi crawl` first" if site is None else None,
    )


@main.command()
@click.argument("notice_id", type=NOTICE)
@db_option
@click.option("--version", "version_n", type=VERSION, help="Version number (default: the latest).")
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
    with open_store(db_path) as store:
        notice = store.notice(notice_id)
        if notice is None:
            raise click.ClickException(f"no notice {notice_id}; `xunshi notices` lists them")
        row = store.version(notice_id, version_n)
        if row is None:
            raise click.ClickException(
                f"notice {notice_id} has no version {version_n} "
                f"(it has 1..{notice['version_count']})"
            )
        if raw:
            page = store.raw(row)
            if page is None:
                raise click.ClickException(
                    f"notice {notice_id} version {row['n']} has no stored page bytes"
                )
            sys.stdout.buffer.write(page)
        else:
            click.echo(row["text"])


@main.command()
@db_option
@format_option("jsonl", "csv", "atom", "txt", "warc", "wacz")
@click.option("--site", help="Only this site's notices.")
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    help="A file (jsonl, csv, atom) or, for txt, a folder (default: export/); default: standard output.",
)
@click.option("--bom", is_flag=True, help="csv: start with a UTF-8 byte-order mark (for Excel).")
@click.option(
    "--since",
    help="warc, wacz: only pages fetched since this date or ISO 8601 time (Asia/Shanghai).",
)
def export(
    db_path: str, fmt: str, site: str | None, output: str | None, bom: bool, since: str | None
) -> None:
    """Export the notices: one record per notice with its latest text, a feed, or text files.

    jsonl and csv fields: id, site, url, title, published_at (ISO 8601, Asia/Shanghai,
    or null), source, unit, districts, text, versions, first_seen, last_changed,
    removed_at; jsonl also facts (what the notice states, see `xunshi facts`). csv
    cells that a spreadsheet would run as a formula (= + - @) start with
    an apostrophe. atom: a feed of new, changed and removed notices. txt: every version as
    seed-format text, <folder>/<site>/<published date>_<unit>_<id>.v<N>.txt. warc: every
    stored page as fetched (bytes, status, headers, fetch time; -o FILE.warc.gz), for
    web-archive tools; wacz: the same packaged for ReplayWeb.page (-o FILE.wacz).

    \b
    Example:
        xunshi export --format jsonl > notices.jsonl
        xunshi export --format csv --bom -o notices.csv
        xunshi export --format txt -o texts/
        xunshi export --format warc -o evidence.warc.gz --site zjsjw --since 2026-11-01
    """
    if since and fmt not in ("warc", "wacz"):
        raise click.UsageError("--since goes with --format warc or wacz")
    with open_store(db_path) as store:
        check_site(store, site)
    if fmt in ("atom", "txt", "warc", "wacz"):
        from cli_deliver import export_files

        export_files(db_path, fmt, output, site, since)
        return
    from store.exports import notices_csv

    with open_store(db_path) as store:
        rows = list(store.export_rows(site))
    if fmt == "jsonl":
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    else:
        text = ("\ufeff" if bom else "") + notices_csv(rows)
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


@main.command()
@db_option
@since_option("Only events of this run and later, or since this date/time.")
@until_option("Only events before this run, or before this date/time.")
@click.option("--kind", type=click.Choice(list(EVENT_KINDS)), help="Only events of this kind.")
@click.option("--site", help="Only this site's events.")
@table_formats
def events(
    db_path: str,
    since: Any,
    until: Any,
    kind: str | None,
    site: str | None,
    fmt: str,
    bom: bool,
) -> None:
    """List events: new_notice, changed, removed, blocked, fetch_failed, parse_failed, site_broken…

    The table shows times in Asia/Shanghai; json, jsonl and csv keep ISO 8601 with the offset.

    \b
    Example:
        xunshi events --since 2026-11-01
        xunshi events --since 12 --kind changed --format jsonl
    """
    with open_store(db_path) as store:
        check_site(store, site)
        query: dict[str, Any] = {"kind": kind, "site": site}
        if since is not None and since.run is not None:
            resolve_when(store, since, "--since")  # the run must exist
            query["since_run"] = since.run
        else:
            query["since"] = resolve_when(store, since, "--since")
        if until is not None and until.run is not None:
            resolve_when(store, until, "--until")
            rows = [r for r in store.events(**query) if (r["run_id"] or 0) < until.run]
        else:
            rows = store.events(**query, until=resolve_when(store, until, "--until"))

    def shaped(row: dict[str, Any]) -> dict[str, Any]:
        detail = row["detail"]
        return {**row, "created_at": local_time(row["created_at"]),
                "detail": detail.get("reason") or detail.get("summary") or detail.get("name")
                or detail.get("title") or ""}  # fmt: skip

    emit(
        rows,
        fmt,
        ["id", "run_id", "created_at", "kind", "site", "notice_id", "detail"],
        headers=["event", "run", f"when ({LOCAL_LABEL})", "kind", "site", "notice", "detail"],
        table_rows=shaped,
        bom=bom,
    )


@main.command()
@click.argument("notice_id", type=NOTICE)
@db_option
@click.option("--from", "from_n", type=VERSION, help="Old version (default: the one before --to).")
@click.option("--to", "to_n", type=VERSION, help="New version (default: the latest).")
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

    Shows the notice's title, both versions' fetch times (Asia/Shanghai), and each
    changed paragraph with one paragraph of context on either side. The text form marks
    removed characters [-like this-] and added ones {+like this+} (or in colour on a
    terminal); the HTML form is one self-contained page; JSON carries the same.

    \b
    Example:
        xunshi diff 12
        xunshi diff 12 --from 1 --to 3 --format html > diff.html
    """
    from store.diff import notice_diff, render_notice_diff_text
    from store.report import diff_page

    with open_store(db_path) as store:
        notice = store.notice(notice_id)
        if notice is None:
            raise click.ClickException(f"no notice {notice_id}; `xunshi notices` lists them")
        latest = int(notice["version_count"] or 0)
        to_n = to_n or latest
        from_n = from_n or max(to_n - 1, 1)
        old, new = store.version(notice_id, from_n), store.version(notice_id, to_n)
        if old is None or new is None:
            raise click.ClickException(f"notice {notice_id} has versions 1..{latest}")
    data = notice_diff(notice, old, new)
    if fmt == "json":
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    elif fmt == "html":
        click.echo(diff_page(data))
    else:
        use_color = sys.stdout.isatty() if color is None else color
        click.echo(render_notice_diff_text(data, color=use_color, shown_time=local_time))


@main.command("report")
@db_option
@click.option("--run", "run_id", type=RUN, help="Report of this run only.")
@since_option("Report everything since this run or date/time instead of the latest crawl.")
@until_option("With --since: up to this run or date/time.")
@format_option("md", "html", "json")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file.")
def report_cmd(
    db_path: str, run_id: int | None, since: Any, until: Any, fmt: str, output: str | None
) -> None:
    """Report failures, new notices, changes with their diffs, removals, blocked pages and new
    districts. With no option: the latest crawl, every site in it. Times are Asia/Shanghai.

    \b
    Example:
        xunshi report                       # the latest crawl, as Markdown
        xunshi report --since 2026-11-01 --format html -o week.html
    """
    from store import report

    if run_id is not None and (since is not None or until is not None):
        raise click.UsageError("--run and --since/--until do not go together")
    with open_store(db_path) as store:
        if run_id is not None and store.run(run_id) is None:
            raise click.BadParameter(f"no run {run_id}", param_hint="--run")
        start = resolve_when(store, since, "--since")
        end = resolve_when(store, until, "--until")
        if run_id is None and start is None and end is None and not store.runs(limit=1):
            raise click.ClickException("no runs yet: `xunshi crawl` first")
        try:
            data = report.collect(store, run_id=run_id, since=start, until=end)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
    text = report.RENDERERS[fmt](data)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"{report.summary(data)} -> {output}", err=True)
    else:
        click.echo(text)


@main.command()
@db_option
@click.option(
    "--new", "only_new", is_flag=True, help="Only districts first seen in the latest crawl."
)
@since_option("Only districts first seen since this run or date/time.")
@click.option("--province", help="Only this province (浙江省, 浙江, 33…).")
@table_formats
def districts(
    db_path: str, only_new: bool, since: Any, province: str | None, fmt: str, bom: bool
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
    with open_store(db_path) as store:
        first_runs = None
        if only_new:
            first_runs = [r["id"] for r in store.crawl_runs()]
        rows = district_rows(
            store, province=prov, since=resolve_when(store, since, "--since"), first_runs=first_runs
        )
    emit(
        rows,
        fmt,
        ["code", "name", "first_seen", "notices", "latest_published", "latest_title"],
        headers=[
            "code",
            "district",
            f"first seen ({LOCAL_LABEL})",
            "notices",
            f"latest published ({LOCAL_LABEL})",
            "latest notice",
        ],  # fmt: skip
        table_rows=lambda r: {
            **r,
            "first_seen": local_time(r["first_seen"]),
            "latest_published": local_time(r["latest_published"]),
        },  # fmt: skip
        bom=bom,
    )


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
@click.option(
    "--year",
    type=click.IntRange(1980, 2100),
    help="Division table of this year (default: the newest).",
)
@table_formats
def coverage(
    db_path: str,
    province: str,
    round_text: str | None,
    level: str,
    year: int | None,
    fmt: str,
    bom: bool,
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
    with open_store(db_path) as store:
        rows = coverage_rows(
            store,
            divisions(province=prov, level=level, year=year),
            round_text=clean_line(round_text) if round_text else None,
        )
    emit(
        rows,
        fmt,
        ["code", "name", "notices", "published", "first_seen", "title"],
        headers=["code", "district", "notices", "published", "first seen", "latest notice"],
        bom=bom,
    )
    if fmt == "table":
        have = sum(1 for r in rows if r["notices"])
        scope = f" ({round_text})" if round_text else ""
        click.echo(f"\n{prov}: {have} of {len(rows)} {level}-level divisions have a notice{scope}")


def _register_commands() -> None:
    # Commands that live in their own modules: scheduling and deliveries, site health.
    import cli_deliver
    import cli_facts
    import cli_serve
    import cli_sites

    for command in (cli_deliver.schedule, cli_deliver.outbox, cli_deliver.demo, cli_deliver.search,
                    cli_sites.check, cli_sites.record, cli_sites.sites):  # fmt: skip
        main.add_command(command)
    main.add_command(cli_facts.facts)
    main.add_command(cli_facts.timeline_cmd)
    main.add_command(cli_serve.serve)
    import cli_worker

    main.add_command(cli_worker.worker)


_register_commands()

if __name__ == "__main__":
    main()
