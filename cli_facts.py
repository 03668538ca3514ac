"""`xunshi facts` and `xunshi timeline`: what the notices state, as data (crawler/facts.py)."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from cli_common import db_option, format_option, open_store, text_table
from crawler.facts import SCALAR_KEYS, extract_facts, flat
from store.db import write_transaction
from store.facts import FACT_KEYS, fill_facts, median_days, timeline

_TABLE_COLUMNS = ["notice_id", "unit", "kind", "level", "round", "group", "period", "feedback",
                  "counts"]  # fmt: skip


def _counts_cell(facts: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in (facts.get("counts") or {}).items())  # fmt: skip


def _period(facts: dict[str, Any]) -> str | None:
    start, end = facts.get("inspection_start"), facts.get("inspection_end")
    if not start and not end:
        return None
    return f"{start or '?'} → {end or '?'}"


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


_HEADER = re.compile(r"(\d{4}-\d{2}-\d{2}) \d{2}:\d{2} ")


def _file_facts(path: str, title: str | None, published: str | None, fmt: str) -> None:
    file = Path(path)
    if not file.is_file():
        raise click.BadParameter(
            f"{path} is neither a notice id nor a file", param_hint="NOTICE_ID…|FILE"
        )
    if published is not None:
        try:
            date.fromisoformat(published)
        except ValueError:
            raise click.BadParameter(
                f"{published!r} is not a date like 2023-06-27", param_hint="--published"
            ) from None
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{path} is not UTF-8 text (the seed format is)") from None
    if published is None:
        # a seed-format text that opens with its publish time (zjsjw form) gives the date
        head = _HEADER.match(text)
        published = head.group(1) if head else None
    facts = extract_facts(text, title, published)
    if fmt == "json":
        click.echo(json.dumps(facts, ensure_ascii=False, indent=2))
    elif fmt == "jsonl":
        click.echo(json.dumps(facts, ensure_ascii=False))
    elif fmt == "csv":
        click.echo(_csv([flat(facts)], list(FACT_KEYS)), nl=False)
    else:
        rows = [{"key": k, "value": v, "evidence": facts["evidence"].get(k)}
                for k, v in flat(facts).items()]  # fmt: skip
        click.echo(text_table(rows, ["key", "value", "evidence"]))


def _rebuild(db_path: str) -> None:
    store = open_store(db_path, write=True)  # an existing database, upgraded if older
    try:
        total = store.db.execute("SELECT count(*) FROM versions").fetchone()[0]
        click.echo(f"recomputing the facts of {total} stored versions…", err=True)

        def progress(done: int, of: int) -> None:
            if sys.stderr.isatty() or done == of:
                click.echo(f"  {done}/{of} versions", err=True)

        with write_transaction(store.db):
            n = fill_facts(store.db, rebuild=True, progress=progress)
        facts = store.db.execute("SELECT count(*) FROM facts").fetchone()[0]
    finally:
        store.close()
    click.echo(f"recomputed the facts of {n} versions: {facts} facts stored")


@click.command("facts")
@click.argument("args", nargs=-1, metavar="[NOTICE_ID…] | FILE")
@db_option
@click.option("--title", help="With FILE: the notice's title (a round is often named only there).")
@click.option(
    "--published", metavar="YYYY-MM-DD", help="With FILE: the publish date (gives missing years)."
)
@format_option("table", "json", "jsonl", "csv")
@click.option(
    "--rebuild", is_flag=True, help="Recompute the facts of every stored version, then stop."
)
def facts(
    args: tuple[str, ...],
    db_path: str,
    title: str | None,
    published: str | None,
    fmt: str,
    rebuild: bool,
) -> None:
    """Print what notices state: round, group, unit, dates and counts, as data.

    With NOTICE_IDs (default: every stored notice), the facts of each notice's latest
    version. With a FILE of seed-format text, its facts, offline: json prints one object
    with kind, level, round, group, inspected_unit, inspection_start, inspection_end,
    feedback_date, counts (a flat object of numbers) and evidence (the sentence each
    fact came from); without --published, a text that opens with its publish time (the
    zjsjw form) gives the date. A fact the text does not state plainly is null, never guessed.
    --rebuild recomputes the stored facts after the rules change.

    \b
    Example:
        xunshi facts
        xunshi facts 1 2 --format json
        xunshi facts notice.txt --title "关于十二届市委第二轮巡视集中整改进展情况的通报" --published 2023-12-28 --format json
        xunshi facts --rebuild
    """
    if rebuild:
        if args:
            raise click.UsageError("--rebuild takes no NOTICE_ID or FILE")
        _rebuild(db_path)
        return
    if len(args) == 1 and not args[0].isdigit():
        _file_facts(args[0], title, published, fmt)
        return
    bad = [a for a in args if not a.isdigit()]
    if bad:
        raise click.BadParameter(
            f"{bad[0]!r} is not a notice id (a FILE is read alone)", param_hint="NOTICE_ID…"
        )
    if title or published:
        raise click.UsageError("--title and --published go with a FILE, not with notice ids")
    store = open_store(db_path)
    try:
        ids = [int(a) for a in args] or [row["id"] for row in store.notices()]
        rows = []
        for notice_id in ids:
            notice = store.notice(notice_id)
            if notice is None:
                raise click.ClickException(f"no notice {notice_id}; `xunshi notices` lists them")
            found = store.facts(notice_id) or {**dict.fromkeys(SCALAR_KEYS), "counts": {}}
            rows.append({"notice_id": notice_id, "version": notice["version_count"],
                         "site": notice["site"], "title": notice["title"],
                         "published_at": notice["published_at"], **found})  # fmt: skip
    finally:
        store.close()
    if fmt in ("json", "jsonl"):
        text = (
            json.dumps(rows, ensure_ascii=False, indent=2)
            if fmt == "json"
            else "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
        )
        if text:
            click.echo(text)
    elif fmt == "csv":
        columns = ["notice_id", "version", "site", "title", "published_at", *FACT_KEYS]
        click.echo(_csv([{**r, **flat(r)} for r in rows], columns), nl=False)
    else:
        table = [{"notice_id": r["notice_id"], "unit": r["inspected_unit"], "kind": r["kind"],
                  "level": r["level"], "round": r["round"], "group": r["group"],
                  "period": _period(r), "feedback": r["feedback_date"],
                  "counts": _counts_cell(r)} for r in rows]  # fmt: skip
        click.echo(text_table(table, _TABLE_COLUMNS))


@click.command("timeline")
@click.argument("unit", required=False)
@db_option
@format_option("table", "json", "jsonl")
def timeline_cmd(unit: str | None, db_path: str, fmt: str) -> None:
    """Per inspected unit: its inspections and its notices, with the days between.

    For each unit the notices name (all, or those whose name contains UNIT): each
    inspection (round, group, period, feedback date) and each notice (published, and the
    days from the feedback to the notice); then the median days per site and round.

    \b
    Example:
        xunshi timeline
        xunshi timeline 拱墅区
        xunshi timeline --format json > timeline.json
    """
    store = open_store(db_path)
    try:
        units = timeline(store.db, unit)
        sites = {n["site"] for u in units for n in u["notices"]}
        medians = median_days(store.db, sites)
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps({"units": units, "median_days": medians}, ensure_ascii=False,
                              indent=2))  # fmt: skip
        return
    if fmt == "jsonl":
        for u in units:
            click.echo(json.dumps(u, ensure_ascii=False))
        return
    if not units:
        what = f"whose name contains {unit!r}" if unit else "named by a stored notice"
        click.echo(f"no inspected unit {what} (`xunshi facts` shows what each notice states)")
        return
    for u in units:
        click.echo(u["unit"])
        for i in u["inspections"]:
            period = _period(i) or "period unknown"
            click.echo(f"  {i['kind'] or '巡视/巡察?'}  {i['round'] or 'round unknown'}  "
                       f"{i['group'] or i['level'] or 'group unknown'}  {period}  "
                       f"feedback {i['feedback_date'] or 'unknown'}")  # fmt: skip
        for n in u["notices"]:
            days = n["days_from_feedback"]
            gap = f"{days} days after feedback" if days is not None else "days unknown"
            click.echo(f"    notice {n['notice_id']}  {n['site']}  published "
                       f"{n['published'] or 'unknown'}  {gap}  {n['title'] or ''}")  # fmt: skip
    if medians:
        click.echo("\nmedian days from feedback to notice")
        click.echo(text_table([{**m, "round": m["round"] or "—"} for m in medians],
                              ["site", "round", "notices", "median_days"]))  # fmt: skip
