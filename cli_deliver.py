"""`xunshi` commands for schedules, deliveries, search and the offline demo.

cli.py registers ``schedule``, ``outbox``, ``search`` and ``demo``, and calls
``export_files`` for ``xunshi export --format atom|txt``. Heavy imports (APScheduler,
feedgen) happen inside the commands, so ``xunshi --help`` stays fast.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click

from cli_common import (
    LOCAL_LABEL,
    IdType,
    check_site,
    db_option,
    emit,
    local_time,
    open_store,
    table_formats,
    text_table,
)
from store.db import default_path
from store.notices import Store

# -- schedule -----------------------------------------------------------------------------


@click.command("schedule")
@click.option(
    "--config",
    envvar="XUNSHI_CONFIG",
    default="xunshi.toml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="TOML config: sites, cron schedules, database, deliveries (see xunshi.example.toml).",
)
@click.option("--once", is_flag=True, help="Crawl every site once, deliver, and exit.")
@click.option("--list", "list_only", is_flag=True, help="Show the next run of every site and exit.")
@click.option("-v", "--verbose", is_flag=True, help="Log APScheduler's own steps too.")
def schedule(config: str, once: bool, list_only: bool, verbose: bool) -> None:
    """Crawl the config's sites on their cron schedules (Asia/Shanghai), then report and deliver.

    The same as `python scheduler.py`. Crawls run one at a time, each with its time
    limit; every run is in the runs table with its outcome. Ctrl-C or SIGTERM stops a
    running crawl (recorded "interrupted") and exits. --once suits cron and systemd
    timers; its exit status is non-zero when a crawl could not run.

    \b
    Example:
        cp xunshi.example.toml xunshi.toml     # then edit it
        xunshi schedule --list
        xunshi schedule                        # until Ctrl-C / SIGTERM
        xunshi schedule --once --config /etc/xunshi.toml
    """
    import scheduler

    if once and list_only:
        raise click.UsageError("--once and --list do not go together")
    argv = ["--config", config]
    argv += ["--once"] if once else []
    argv += ["--list"] if list_only else []
    argv += ["--verbose"] if verbose else []
    sys.exit(scheduler.main(argv))


# -- outbox -------------------------------------------------------------------------------


@click.command("outbox")
@click.option(
    "--db",
    "db_path",
    envvar="XUNSHI_DB",
    type=click.Path(dir_okay=False),
    help="SQLite database (default: the config's, else XUNSHI_DB, else xunshi.db).",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, exists=True),
    help="Scheduler config: its database, and with --retry its deliveries, used at once.",
)
@table_formats
@click.option(
    "--retry",
    is_flag=True,
    help="Make waiting and refused rows due now (and, with --config, deliver them now).",
)
@click.option("--all", "show_all", is_flag=True, help="List delivered rows too.")
def outbox(
    db_path: str | None, config: str | None, fmt: str, bom: bool, retry: bool, show_all: bool
) -> None:
    """Show what each delivery still has to hand over: waiting, refused and sent events.

    Rows wait (pending) while their delivery retries with backoff, or were refused
    (failed: the receiver answered 4xx); the last error says why. Without --all only
    rows not yet delivered are listed. --retry --config delivers within the config's
    deliver_time_limit; what is left waits for the next pass. jsonl and csv print one
    line per row.

    \b
    Example:
        xunshi outbox
        xunshi outbox --format json
        xunshi outbox --retry --config xunshi.toml
    """
    from store.deliver import Outbox, deliver_pending

    deliveries: tuple[Any, ...] = ()
    time_limit = None
    if config:
        cfg = _load_config(config)
        deliveries = cfg.deliveries
        time_limit = cfg.deliver_time_limit  # a slow receiver cannot hold the command
        db_path = db_path or str(cfg.db)
    with open_store(db_path or default_path(), write=retry) as store:
        box = Outbox(store.db)
        retried = box.retry() if retry else 0
        summary = box.summary()
        rows = [r for r in box.rows(limit=1000) if show_all or r["status"] != "sent"][:200]
    results = []
    if retry and deliveries:
        results = deliver_pending(db_path or default_path(), deliveries, time_limit=time_limit)
    if fmt == "json":
        click.echo(json.dumps({"deliveries": summary, "rows": rows, "retried": retried,
                               "delivered": [r.line() for r in results]},
                              ensure_ascii=False, indent=2))  # fmt: skip
        return
    if fmt in ("jsonl", "csv"):
        emit(rows, fmt, list(rows[0]) if rows else ["delivery", "event_id", "status"], bom=bom)
        return
    if retry:
        click.echo(f"{retried} rows due now", err=True)
        for result in results:
            click.echo(result.line(), err=True)
        if not deliveries:
            click.echo("they go out on the scheduler's next pass (or now: --config FILE)", err=True)
    if not summary:
        click.echo("the outbox is empty: no run has been delivered yet")
        return
    click.echo(text_table(summary, ["delivery", "pending", "sent", "failed", "next_attempt_at",
                                "last_error"], max_width=60))  # fmt: skip
    if rows:
        click.echo()
        click.echo(text_table(rows, ["delivery", "event_id", "kind", "status", "attempts",
                                 "next_attempt_at", "last_error"]))  # fmt: skip


def _load_config(path: str) -> Any:
    import scheduler
    from store.deliver import ConfigError

    try:
        return scheduler.load_config(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


# -- export -------------------------------------------------------------------------------


def export_files(
    db_path: str, fmt: str, output: str | None, site: str | None = None, since: str | None = None
) -> None:
    """`xunshi export --format atom|txt|warc|wacz`: the Atom feed, every version as a
    seed-format file, or every stored page as web-archive evidence.

    atom: to ``output`` (a file), else to standard output. txt: into the folder ``output``
    (default ``export``) as ``<site>/<published date>_<unit>_<id>.v<N>.txt``. warc, wacz:
    to the file ``output`` (store/warc.py).
    """
    from store.exports import write_atom, write_seed_files

    if fmt in ("warc", "wacz"):
        _export_archive(db_path, fmt, output, site, since)
        return
    if since:
        raise click.UsageError("--since goes with --format warc or wacz")
    with open_store(db_path) as store:
        if fmt == "atom":
            data = write_atom(store, Path(output) if output else None, site=site)
            if output:
                click.echo(f"wrote the feed to {output}", err=True)
            else:
                click.echo(data.decode("utf-8"), nl=False)
        elif fmt == "txt":
            folder = Path(output or "export")
            if folder.exists() and not folder.is_dir():
                raise click.ClickException(
                    f"{folder} is a file: txt export needs a folder (-o DIR)"
                )
            if not output:
                click.echo(f"no -o given: writing the files into {folder.resolve()}/", err=True)
            _refuse_links_out(folder)
            try:
                paths = write_seed_files(store, folder, site=site)
            except ValueError as exc:  # a path that would leave the folder: nothing written there
                raise click.ClickException(f"{exc}; nothing was written outside {folder}") from None
            click.echo(f"wrote {len(paths)} seed-format files under {folder.resolve()}", err=True)
        else:
            raise click.BadParameter(f"export_files does atom and txt, not {fmt}")


def _refuse_links_out(folder: Path) -> None:
    """A folder, or a site folder in it, that is a link to somewhere else is refused before
    anything is written: the export stays inside the folder the user named."""
    if not folder.is_dir():
        return
    base = folder.resolve()
    for child in folder.iterdir():
        if child.is_symlink():
            target = child.resolve()
            if target != base and base not in target.parents:
                raise click.ClickException(
                    f"{child} is a link to {target}, outside {folder}: nothing was written. "
                    "Remove the link or choose another folder (-o DIR)."
                )


def _export_archive(
    db_path: str, fmt: str, output: str | None, site: str | None, since: str | None
) -> None:
    from store import warc

    suffix = ".warc.gz" if fmt == "warc" else ".wacz"
    if not output:
        raise click.UsageError(f"--format {fmt} writes a file: give -o FILE{suffix}")
    path = Path(output)
    if path.is_dir():
        raise click.UsageError(f"{path} is a folder: give -o FILE{suffix}")
    if not path.name.endswith(suffix):
        raise click.UsageError(f"-o {output}: a {fmt} file's name ends in {suffix}")
    try:
        after = warc.parse_since(since)
    except warc.WarcError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None

    def progress(n: int) -> None:
        if n % 500 == 0:
            click.echo(f"  {n} pages…", err=True)

    try:
        with open_store(db_path) as store:
            if fmt == "warc":
                done = warc.export_warc(store, path, site=site, since=after, progress=progress)
            else:
                done = warc.export_wacz(store, path, site=site, since=after, progress=progress)
    except warc.WarcError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
    skipped = f" ({done.skipped} versions without stored bytes left out)" if done.skipped else ""
    click.echo(f"wrote {done.records} pages as {fmt.upper()} to {path}{skipped}", err=True)


# -- search -------------------------------------------------------------------------------


@click.command("search")
@click.argument("query", nargs=-1, required=True)
@db_option
@click.option("--site", help="Only this site's notices.")
@click.option("--limit", type=IdType("limit"), default=20, show_default=True)
@table_formats
def search(
    query: tuple[str, ...], db_path: str, site: str | None, limit: int, fmt: str, bom: bool
) -> None:
    """Find notices whose title, unit or latest text contains every word of QUERY.

    Any substring, Chinese words of any length included (巡视, 违规吃喝), without word
    segmentation; case is ignored; newest first.

    \b
    Example:
        xunshi search 巡视整改
        xunshi search 鄞州 违规吃喝 --format json
    """
    from store.fts import search as fts_search

    with open_store(db_path) as store:
        check_site(store, site)
        hits = [h.as_dict() for h in fts_search(store.db, " ".join(query), site=site, limit=limit)]
    emit(
        hits,
        fmt,
        ["id", "site", "published_at", "title", "snippet"],
        headers=["id", "site", f"published ({LOCAL_LABEL})", "title", "snippet"],
        table_rows=lambda r: {**r, "published_at": local_time(r.get("published_at"))},
        bom=bom,
        empty="no notice matches",
    )


# -- demo ---------------------------------------------------------------------------------

DEMO_SITES = {
    "zjsjw": "/gongzuodongtai/xunshixuncha/index.shtml",
    "shjjjc": "/shsjjjcw/xszg/index.html",
}
# The edits of the demo's second round, on the bundled zjsjw copy.
CHANGED_PAGE = "gongzuodongtai/xunshixuncha/202506/t20250609_23500131_ext.html"
CHANGE = ("给予党纪处分11人次", "给予党纪处分12人次")
NEW_PAGE = "gongzuodongtai/xunshixuncha/202507/t20250718_23600001_ext.html"
NEW_UNIT = (("杭州市西湖区", "宁波市鄞州区"), ("西湖区", "鄞州区"), ("2025-06-10", "2025-07-18"),
            ("2025年6月10日", "2025年7月18日"), ("0571-85200000", "0574-88180000"))  # fmt: skip
LIST_PAGE = "gongzuodongtai/xunshixuncha/index.shtml"


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".shtml": "text/html"}

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serve_folder(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _replace(path: Path, pairs: Iterable[tuple[str, str]]) -> str:
    text = path.read_text(encoding="utf-8")
    for old, new in pairs:
        if old not in text:
            raise click.ClickException(
                f"demo: {path.name} no longer contains {old!r}; update cli_deliver.py"
            )
        text = text.replace(old, new)
    return text


def change_sites(zjsjw: Path) -> tuple[str, str]:
    """Edit one paragraph of a notice and publish a new notice about 宁波市鄞州区; return both titles."""
    page = zjsjw / CHANGED_PAGE
    page.write_text(_replace(page, [CHANGE]), encoding="utf-8")
    new = zjsjw / NEW_PAGE
    new.parent.mkdir(parents=True, exist_ok=True)
    new.write_text(_replace(page, NEW_UNIT), encoding="utf-8")
    title = "中共宁波市鄞州区委关于省委巡视整改进展情况的通报"
    item = (f'<li><a href="./{NEW_PAGE.rsplit("/", 2)[-2]}/{Path(NEW_PAGE).name}" target="_blank" '
            f'title="{title}">{title}</a><span>2025-07-18</span></li>\n')  # fmt: skip
    listing = zjsjw / LIST_PAGE
    text = listing.read_text(encoding="utf-8")
    marker = '<ul class="list">\n'
    if marker not in text:
        raise click.ClickException(
            "demo: the bundled zjsjw list page has changed; update cli_deliver.py"
        )
    listing.write_text(text.replace(marker, marker + item, 1), encoding="utf-8")
    return "中共杭州市西湖区委关于省委巡视整改进展情况的通报", title


def run_demo(work: Path, db: Path, echo: Callable[[str], None] = click.echo) -> int:
    """The whole loop, offline: serve, crawl, deliver, change the sites, crawl again, report."""
    from zoneinfo import ZoneInfo

    from crawler.run import PROJECT_ROOT, summary_line
    from scheduler import TIMEZONE, Config, CrawlScheduler, SiteSchedule
    from store import report
    from store.deliver import Delivery, Outbox
    from store.diff import render_text
    from store.fts import search as fts_search

    bundled = PROJECT_ROOT / "tests" / "sites"
    if not all((bundled / name).is_dir() for name in DEMO_SITES):
        raise click.ClickException(
            f"the recorded sites are not at {bundled}: run the demo from a checkout"
        )
    sites = work / "sites"
    for name in DEMO_SITES:
        shutil.copytree(bundled / name, sites / name)
    out = work / "out"
    deliveries = (
        Delivery.from_config({"name": "feed", "type": "atom", "path": str(out / "xunshi.atom")}),
        Delivery.from_config(
            {"name": "events", "type": "jsonl", "path": str(out / "events.jsonl")}
        ),
        Delivery.from_config({"name": "texts", "type": "txt", "dir": str(out / "texts")}),
    )
    with serve_folder(sites / "zjsjw") as zj, serve_folder(sites / "shjjjc") as sh:
        bases = {"zjsjw": zj, "shjjjc": sh}
        echo("xunshi-watch demo: the whole loop, offline, on the recorded sites in tests/sites/")
        for name, base in bases.items():
            echo(f"  serving {name} on {base}")
        echo(f"  database {db}")

        def crawl_all(full: bool) -> list[Any]:
            config = Config(
                db=db, timezone=ZoneInfo(TIMEZONE), deliveries=deliveries, reports_dir=work / "reports",
                sites=tuple(SiteSchedule(name, "0 0 1 1 *", start_url=bases[name] + path,
                                         full=full and name == "zjsjw", time_limit=120)
                            for name, path in DEMO_SITES.items()),
            )  # fmt: skip
            results: list[Any] = []
            status = CrawlScheduler(config, on_result=results.append).run_once()
            for result in results:
                echo("  " + summary_line(result))
            if status:
                raise click.ClickException("demo stopped: a crawl did not run")
            return results

        echo("\n== 1. First crawl of both sites (together, in one Scrapy process)")
        first = crawl_all(full=False)
        seen = _first_seen(db, [r.run_id for r in first])
        echo(f"  districts seen for the first time: {', '.join(seen) or 'none'}")
        changed_title, new_title = change_sites(sites / "zjsjw")
        echo("\n== 2. The sites change")
        echo(f"  edited one paragraph of 「{changed_title}」: {CHANGE[0]} → {CHANGE[1]}")
        echo(f"  published 「{new_title}」, about a district not seen before")
        echo("\n== 3. Second crawl (zjsjw walks everything: --full)")
        second = crawl_all(full=True)

    with Store.open(db) as store:
        data = report.collect(store)  # the latest crawl: both sites of the second round
        echo(f"\n== 4. Report of the second crawl (store/report.py): {data['scope']}\n")
        echo(report.to_markdown(data))
        run_ids = [r.run_id for r in second]
        for event in store.events(since_run=min(run_ids)):
            if event["kind"] == "changed":
                version = store.version(event["notice_id"], event["detail"]["to_version"])
                chars = json.loads(version["char_diff"]) if version and version["char_diff"] else []
                echo(f"== Character-level diff of notice {event['notice_id']} "
                     f"(v{event['detail']['from_version']} → v{event['detail']['to_version']})")  # fmt: skip
                echo(render_text(chars, color=False))
            elif event["kind"] == "new_district":
                d = event["detail"]
                echo(f"\n== New district: {d['name']} ({d['district_code']}), first seen in notice "
                     f"{event['notice_id']} 「{d.get('title')}」")  # fmt: skip
        echo("\n== Deliveries (outbox: each event at least once, in order)")
        for row in Outbox(store.db).summary():
            where = next((d.describe() for d in deliveries if d.name == row["delivery"]), "")
            echo(f"  {row['delivery']}: {row['sent']} sent, {row['pending']} waiting -> {where}")
        echo("\n== Full-text search (any substring, two-character words included)")
        for query in ("鄞州", "违规吃喝"):
            hits = fts_search(store.db, query, limit=3)
            echo(f"  {query}: {len(hits)} notice(s)")
            for hit in hits:
                echo(f"    notice {hit.notice_id}: {hit.snippet}")
        (work / "reports").mkdir(parents=True, exist_ok=True)
        (work / "reports" / "demo-report.md").write_text(report.to_markdown(data), encoding="utf-8")
        (work / "reports" / "demo-report.html").write_text(report.to_html(data), encoding="utf-8")
    relink_reports(work / "reports", {base: f"../sites/{name}" for name, base in bases.items()})
    return 0


def relink_reports(folder: Path, bases: dict[str, str]) -> None:
    """Point the reports' links at the demo's copies of the sites, which outlive its servers
    (the served URLs die with them): ``http://127.0.0.1:PORT/x`` -> ``../sites/<site>/x``."""
    for path in sorted(folder.glob("*.md")) + sorted(folder.glob("*.html")):
        text = path.read_text(encoding="utf-8")
        for base, local in bases.items():
            if path.suffix == ".md":
                # a link's target [text](<http://…>) becomes [text](path); an autolink
                # <http://…> needs a scheme, so a relative one is [last part](path)
                text = re.sub(
                    r"\]\(<" + re.escape(base) + r"(/[^>\s]*)>\)",
                    lambda m, local=local: f"]({local}{m.group(1)})",
                    text,
                )
                text = re.sub(
                    "<" + re.escape(base) + r"(/[^>\s]*)>",
                    lambda m, local=local: (
                        f"[{m.group(1).rsplit('/', 1)[-1]}]({local}{m.group(1)})"
                    ),
                    text,
                )
            text = text.replace(base + "/", local + "/")
        path.write_text(text, encoding="utf-8")


def _first_seen(db: Path, run_ids: list[int]) -> list[str]:
    with Store.open(db, create=False) as store:
        events = store.events(since_run=min(run_ids), kind="new_district")
        return [e["detail"]["name"] for e in events]


def _demo_folder(folder: str | None, db_path: str | None) -> Path:
    """The one folder the demo keeps everything in: --dir, else the database's folder, else
    a new ./xunshi-demo (./xunshi-demo-2, … when that exists)."""
    if folder:
        path = Path(folder)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise click.ClickException(f"{folder} exists and is not an empty folder")
        return path.resolve()
    if db_path:
        return Path(db_path).resolve().parent
    n, path = 1, Path("xunshi-demo")
    while path.exists():
        n += 1
        path = Path(f"xunshi-demo-{n}")
    return path.resolve()


@click.command("demo")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    help="Write the database here (a new file) instead of a temporary one.",
)
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False),
    help="Keep everything here (a new or empty folder); default: ./xunshi-demo, or --db's folder.",
)
@click.option(
    "--keep", is_flag=True, hidden=True, help="Kept for old scripts: the demo always keeps."
)
def demo(db_path: str | None, folder: str | None, keep: bool) -> None:
    """See everything work in under a minute, offline.

    Serves the recorded sites in tests/sites on 127.0.0.1, crawls both, delivers the
    events (Atom feed, JSON Lines, seed-format files), then edits a paragraph of one
    notice and publishes a notice about a district not seen before, crawls again and
    prints the report: new notices, the change down to the character, the new district,
    the deliveries and a full-text search. Nothing leaves the machine.

    Everything stays in one folder, named at the end: the database, reports/ (whose
    links open the demo's copies of the sites in sites/), out/ (the deliveries), logs/.

    \b
    Example:
        xunshi demo
        xunshi demo --dir /tmp/demo && datasette /tmp/demo/demo.db
    """
    if db_path and Path(db_path).exists():
        raise click.ClickException(f"{db_path} exists: the demo needs a new database file")
    work = _demo_folder(folder, db_path)
    if (work / "sites").exists():
        raise click.ClickException(f"{work / 'sites'} exists: the demo needs a folder of its own")
    work.mkdir(parents=True, exist_ok=True)
    db = Path(db_path).resolve() if db_path else work / "demo.db"
    try:
        run_demo(work, db)
    finally:
        click.echo(
            f"\neverything the demo made is in {work}:\n"
            f"  {db.name} (the database: xunshi notices --db {db})\n"
            f"  reports/demo-report.html (open it in a browser; its links work offline)\n"
            f"  out/ (the deliveries: xunshi.atom, events.jsonl, texts/)\n"
            f"  sites/ (the recorded sites as the demo changed them), logs/"
        )
