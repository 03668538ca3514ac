"""Reports of what a crawl found: new notices, changes with their diffs, removals, failures.

``collect`` reads the database into one plain dict; ``to_markdown``, ``to_html`` and
``to_json`` render it. Everything that came from a page is escaped in HTML.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from crawler.facts import change_line
from store import events as event_kinds
from store.diff import render_html_fragment, render_notice_diff_html
from store.events import SECTION_HEADINGS, SECTION_KEYS, kinds_in, label
from store.facts import has_facts_table, median_days
from store.notices import RUN_COUNTS, Store

# Per-site columns of a report: the runs table's counters plus removals, with the words a
# person reads above them.
SITE_COLUMNS = [
    "runs",
    "pages",
    "new",
    "changed",
    "unchanged",
    "not_modified",
    "removed",
    "failed",
    "blocked",
    "skipped",
]
COLUMN_LABELS = {
    "runs": "runs",
    "pages": "pages fetched",
    "new": "new",
    "changed": "changed",
    "unchanged": "unchanged",
    "not_modified": "unchanged (HTTP 304)",
    "removed": "removed",
    "failed": "failed fetches",
    "blocked": "blocked",
    "skipped": "links skipped",
}
FAILURE_KINDS = kinds_in("failures")
TIME_LABEL = "Asia/Shanghai"
LOCAL = ZoneInfo(TIME_LABEL)


def shown_time(iso: str | None, *, seconds: bool = False) -> str:
    """An ISO 8601 time as a person reads it, in Asia/Shanghai: '2024-01-01 09:00'
    (with ``seconds``, '2024-01-01 09:00:00').

    A date alone stays a date; a time without an offset is taken as UTC (the database's
    clock always writes its offset).
    """
    if not iso:
        return ""
    s = str(iso)
    if len(s) <= 10:
        return s
    try:
        moment = datetime.fromisoformat(s)
    except ValueError:
        return s
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def collect(
    store: Store,
    *,
    run_id: int | None = None,
    crawl: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> dict[str, Any]:
    """The report of one run, of one crawl (every site started together), or of everything
    between two ISO times. With no argument: the latest crawl."""
    if run_id is not None:
        run = store.run(run_id)
        if run is None:
            raise LookupError(f"no run {run_id}")
        runs = store.settled([run])
        events = store.events(run_id=run_id)
        scope = (
            f"run {run_id} ({run['site']}, started {shown_time(run['started_at'])} {TIME_LABEL})"
        )
    elif since is not None or until is not None:
        runs = [
            r
            for r in store.runs(limit=10_000_000)
            if (since is None or r["started_at"] >= since)
            and (until is None or r["started_at"] < until)
        ]
        runs.reverse()
        events = store.events(since=since, until=until)
        scope = " ".join(
            part
            for part in (
                f"since {shown_time(since)}" if since else "",
                f"until {shown_time(until)}" if until else "",
                f"({TIME_LABEL})",
            )
            if part
        )
    else:
        runs = store.crawl_runs(crawl)
        if crawl is not None and not runs:
            raise LookupError(f"no crawl {crawl}")
        events = store.events(run_ids=[r["id"] for r in runs]) if runs else []
        if runs:
            ids = (
                f"run {runs[0]['id']}"
                if len(runs) == 1
                else f"runs {runs[0]['id']}-{runs[-1]['id']}"
            )
            sites = ", ".join(dict.fromkeys(r["site"] for r in runs))
            scope = (
                f"the crawl started {shown_time(runs[0]['started_at'])} {TIME_LABEL} "
                f"({ids}: {sites})"
            )
        else:
            scope = "no runs yet"
    sections: dict[str, list[dict[str, Any]]] = {key: [] for key in SECTION_KEYS}
    for run in runs:
        if run.get("status") not in ("ok", "running"):
            # A run that failed or was stopped is a failure in itself, shown first.
            sections["failures"].append(
                {
                    "event_id": None,
                    "run_id": run["id"],
                    "kind": f"run {run['status']}",
                    "site": run["site"],
                    "url": None,
                    "time": run.get("finished_at"),
                    "notice_id": None,
                    "title": f"run {run['id']}",
                    "unit": None,
                    "published_at": None,
                    "detail": {"reason": run.get("error") or ""},
                }  # fmt: skip
            )
    fact_changes: list[dict[str, Any]] = []
    for event in events:
        notice = store.notice(event["notice_id"]) if event["notice_id"] else None
        entry = {
            "event_id": event["id"],
            "run_id": event["run_id"],
            "kind": event["kind"],
            "site": event["site"] or (notice or {}).get("site"),
            "url": event["url"] or (notice or {}).get("url"),
            "time": event["created_at"],
            "notice_id": event["notice_id"],
            "title": (notice or {}).get("title") or event["detail"].get("title"),
            "unit": (notice or {}).get("unit"),
            "published_at": (notice or {}).get("published_at"),
            "detail": event["detail"],
        }
        kind = event["kind"]
        if kind == "facts_changed":
            fact_changes.append(entry)  # shown with its changed notice, above the diff
        if kind == "changed":
            version = store.version(event["notice_id"], event["detail"].get("to_version"))
            entry["diff"] = version["diff"] if version else None
            entry["char_diff"] = (
                json.loads(version["char_diff"]) if version and version["char_diff"] else []
            )
        known = event_kinds.BY_NAME.get(kind)
        sections[known.section if known else "failures"].append(entry)
    per_site: dict[str, Counter[str]] = {}
    for run in runs:
        c = per_site.setdefault(run["site"], Counter())
        c["runs"] += 1
        for key in ("pages", *RUN_COUNTS):
            c[key] += int(run.get(key) or 0)
    for entry in sections["removed"]:
        per_site.setdefault(entry["site"] or "?", Counter())["removed"] += 1
    sections["changed"] = _attach_fact_changes(sections["changed"], fact_changes)
    return {
        "scope": scope,
        "time_zone": TIME_LABEL,
        "runs": [
            {
                k: r.get(k)
                for k in ("id", "crawl", "site", "status", "started_at", "finished_at", "error")
            }
            for r in runs
        ],
        "per_site": {site: dict(c) for site, c in sorted(per_site.items())},
        **sections,
        # median days from a group's feedback to the notice, per site and round (all
        # stored notices of the report's sites whose facts give both dates)
        "feedback_to_notice": {
            "median_days": median_days(store.db, per_site) if has_facts_table(store.db) else []
        },
    }


def _change(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry["detail"].get(k) for k in ("key", "label", "old", "new", "evidence")}


def _attach_fact_changes(
    changed: list[dict[str, Any]], facts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each changed notice gets the facts its new version changed, shown above its diff
    (``facts_changed``); a facts change whose changed notice is not in the report stays
    an entry of its own. Returns the section's entries."""
    shown: set[int] = set()
    for entry in changed:
        if entry["kind"] != "changed":
            continue
        to = entry["detail"].get("to_version")
        mine = [f for f in facts if f["notice_id"] is not None
                and f["notice_id"] == entry["notice_id"] and f["detail"].get("to_version") == to]  # fmt: skip
        entry["facts_changed"] = [_change(f) for f in mine if f["detail"].get("key")]
        shown.update(id(f) for f in mine)
    for f in facts:
        f["facts_changed"] = [_change(f)] if f["detail"].get("key") else []
    return [e for e in changed if id(e) not in shown]


def fact_change_line(change: dict[str, Any]) -> str:
    """'党纪处分 (party_discipline): 11 → 12'; an unknown value shows as '—'."""
    return change_line(change)


def _median_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    return list((report.get("feedback_to_notice") or {}).get("median_days") or [])


_SUMMARY = (("failures", "failed"), ("blocked", "blocked"), ("new", "new"), ("changed", "changed"),
            ("removed", "removed"), ("new_districts", "new districts"))  # fmt: skip


def summary(report: dict[str, Any]) -> str:
    """One line: what a user needs to know before opening the report (failures first)."""
    parts = [
        f"{len([e for e in report.get(k) or [] if e.get('kind') != 'facts_changed'])} {label}"
        for k, label in _SUMMARY
    ]
    failed = len(report.get("failures") or [])
    return ("FAILURES: " if failed else "") + ", ".join(parts)


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2)


def _sections(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The report's sections in reading order, and any a newer table added."""
    keys = [(k, SECTION_HEADINGS[k]) for k in SECTION_KEYS]
    extra = [(k, k.replace("_", " ").capitalize()) for k in report
             if isinstance(report[k], list) and k not in SECTION_HEADINGS and k != "runs"]  # fmt: skip
    return keys + extra


def _nothing(report: dict[str, Any]) -> bool:
    return not any(report.get(k) for k, _ in _sections(report))


# -- Markdown --------------------------------------------------------------------------------


def md_text(value: Any) -> str:
    """Page-derived text made inert in Markdown: HTML escaped, table pipes and line breaks
    neutralised, so that a title cannot become markup in whatever renders the report."""
    s = "" if value is None else str(value)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = s.replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    for ch in "*_`[]#":
        s = s.replace(ch, "\\" + ch)
    return s


_md_cell = md_text


def md_link(url: str | None, text: Any = None) -> str:
    """A Markdown link only for a plain http(s) URL; anything else is shown as text."""
    label = md_text(text if text else url)
    if url and url.startswith(("http://", "https://")) and not re.search(r"[\s<>()\[\]`]", url):
        return f"[{label}](<{url}>)" if text else f"<{url}>"
    return label


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return [*out, ""]


def _md_section(key: str, entries: list[dict[str, Any]]) -> list[str]:
    t = TIME_LABEL
    if key == "new":
        return _md_table(
            ["site", "unit", "title", f"published ({t})", "link"],
            [[md_text(e.get("site")), md_text(e.get("unit")), md_text(e.get("title")),
              shown_time(e.get("published_at")), md_link(e.get("url"))] for e in entries],
        )  # fmt: skip
    if key == "changed":
        out: list[str] = []
        for e in entries:
            d = e.get("detail") or {}
            if e.get("kind") == "facts_changed":  # its changed notice is not in the report
                out += [
                    f"### {md_text(e.get('title'))}",
                    "",
                    f"{md_text(e.get('site'))} · notice {e.get('notice_id')} · facts of version "
                    f"{md_text(d.get('to_version'))} · found {shown_time(e.get('time'))} ({t}) · "
                    f"{md_link(e.get('url'))}",
                    "",
                    *[f"- **{md_text(fact_change_line(c))}**" for c in e["facts_changed"]],
                    "",
                ]
                continue
            diff = e.get("diff") or ""
            fence = _fence(diff)
            out += [
                f"### {md_text(e.get('title'))}",
                "",
                f"{md_text(e.get('site'))} · notice {e.get('notice_id')} · "
                f"version {md_text(d.get('from_version'))} → {md_text(d.get('to_version'))} · "
                f"found {shown_time(e.get('time'))} ({t}) · {md_link(e.get('url'))}",
                "",
                *[f"- **{md_text(fact_change_line(c))}**" for c in e.get("facts_changed") or []],
                *([""] if e.get("facts_changed") else []),
                fence + "diff",
                diff,
                fence,
                "",
            ]
        return out
    if key == "new_districts":
        return _md_table(
            ["district", "code", "province", "first notice", f"found ({t})"],
            [[md_text((e.get("detail") or {}).get("name")),
              md_text((e.get("detail") or {}).get("district_code")),
              md_text((e.get("detail") or {}).get("province")),
              md_link(e.get("url"), e.get("title")), shown_time(e.get("time"))] for e in entries],
        )  # fmt: skip
    return _md_table(
        ["site", "what", "page", "reason", f"when ({t})"],
        [[md_text(e.get("site")), md_text(label(str(e.get("kind")))),
          md_link(e.get("url"), e.get("title") or e.get("url")),
          md_text((e.get("detail") or {}).get("reason", "")), shown_time(e.get("time"))]
         for e in entries],
    )  # fmt: skip


def to_markdown(report: dict[str, Any]) -> str:
    out = [f"# xunshi-watch report: {md_text(report.get('scope'))}", "",
           f"**{md_text(summary(report))}**", ""]  # fmt: skip
    if report.get("per_site"):
        out += _md_table(
            ["site", *(COLUMN_LABELS.get(k, k) for k in SITE_COLUMNS)],
            [[md_text(site)] + [str(c.get(k, 0)) for k in SITE_COLUMNS]
             for site, c in report["per_site"].items()],
        )  # fmt: skip
    for key, heading in _sections(report):
        if report.get(key):
            out += [f"## {heading}", "", *_md_section(key, report[key])]
    if _nothing(report):
        out += ["Nothing new, changed, removed or failed.", ""]
    if _median_rows(report):
        out += ["## Days from feedback to notice", ""]
        out += _md_table(
            ["site", "round", "notices", "median days"],
            [[md_text(r["site"]), md_text(r["round"] or "—"), str(r["notices"]),
              f"{r['median_days']:g}"] for r in _median_rows(report)],
        )  # fmt: skip
    out.append(f"Times are {TIME_LABEL}.")
    return "\n".join(out)


_CSS = """
body{font:15px/1.6 -apple-system,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f5f5f5}.summary{font-weight:bold;font-size:1.1em}.meta{color:#666;font-size:.9em}
.diff{border:1px solid #ddd;border-radius:4px;padding:.5em;margin:.5em 0 1.5em;background:#fcfcfc}
.diff .old{background:#fff0f0;padding:.2em .4em}.diff .new{background:#f0fff0;padding:.2em .4em}
del{background:#f8b4b4;text-decoration:line-through}ins{background:#a6f0a6;text-decoration:none}
hr.hunk{border:0;border-top:1px dashed #ccc}.empty{color:#666}
"""


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _link(url: str | None, text: str | None) -> str:
    label = escape(text or url or "")
    if url and url.startswith(("http://", "https://")):
        return f'<a href="{escape(url, quote=True)}">{label}</a>'
    return label


def _html_section(key: str, entries: list[dict[str, Any]]) -> str:
    e_ = escape
    t = TIME_LABEL
    if key == "new":
        return _html_table(
            ["site", "unit", "title", f"published ({t})"],
            [[e_(x.get("site") or ""), e_(x.get("unit") or ""), _link(x.get("url"), x.get("title")),
              e_(shown_time(x.get("published_at")))] for x in entries],
        )  # fmt: skip
    if key == "changed":
        parts = []
        for x in entries:
            d = x.get("detail") or {}
            if x.get("kind") == "facts_changed":  # its changed notice is not in the report
                parts.append(
                    f"<h3>{_link(x.get('url'), x.get('title'))}</h3><p class='meta'>"
                    f"{e_(x.get('site') or '')} · notice {e_(str(x.get('notice_id')))} · facts of "
                    f"version {e_(str(d.get('to_version')))} · found {e_(shown_time(x.get('time')))} ({t})</p>"
                    + "".join(
                        f"<p class='fact'><strong>{e_(fact_change_line(c))}</strong></p>"
                        for c in x["facts_changed"]
                    )
                )
                continue
            parts.append(
                f"<h3>{_link(x.get('url'), x.get('title'))}</h3><p class='meta'>{e_(x.get('site') or '')} · "
                f"notice {e_(str(x.get('notice_id')))} · version {e_(str(d.get('from_version')))} → "
                f"{e_(str(d.get('to_version')))} · found {e_(shown_time(x.get('time')))} ({t})</p>"
                + "".join(
                    f"<p class='fact'><strong>{e_(fact_change_line(c))}</strong></p>"
                    for c in x.get("facts_changed") or []
                )
                + f"<div class='diff'>{render_html_fragment([[(op, s) for op, s in h] for h in x.get('char_diff') or []])}</div>"
            )
        return "\n".join(parts)
    if key == "new_districts":
        return _html_table(
            ["district", "code", "province", "first notice", f"found ({t})"],
            [[e_(str((x.get("detail") or {}).get("name") or "")),
              e_(str((x.get("detail") or {}).get("district_code") or "")),
              e_(str((x.get("detail") or {}).get("province") or "")),
              _link(x.get("url"), x.get("title")), e_(shown_time(x.get("time")))] for x in entries],
        )  # fmt: skip
    return _html_table(
        ["site", "what", "page", "reason", f"when ({t})"],
        [[e_(x.get("site") or ""), e_(label(str(x.get("kind")))),
          _link(x.get("url"), x.get("title") or x.get("url")),
          e_(str((x.get("detail") or {}).get("reason", ""))), e_(shown_time(x.get("time")))]
         for x in entries],
    )  # fmt: skip


def to_html(report: dict[str, Any]) -> str:
    """One self-contained HTML page; every page-derived string is escaped."""
    e_ = escape
    scope = str(report.get("scope") or "")
    parts = [
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>xunshi-watch report: {e_(scope)}</title><style>{_CSS}</style></head><body>",
        f"<h1>xunshi-watch report</h1><p class='meta'>{e_(scope)}</p>",
        f"<p class='summary' id='summary'>{e_(summary(report))}</p>",
    ]
    if report.get("per_site"):
        parts.append(
            _html_table(
                ["site", *(COLUMN_LABELS.get(k, k) for k in SITE_COLUMNS)],
                [
                    [e_(site)] + [str(c.get(k, 0)) for k in SITE_COLUMNS]
                    for site, c in report["per_site"].items()
                ],
            )  # fmt: skip
        )
    for key, heading in _sections(report):
        entries = report.get(key) or []
        if key in ("failures", "blocked") and not entries:
            continue  # an empty failures section would only push the news down
        parts.append(f"<h2 id='{e_(key, quote=True)}'>{e_(heading)}</h2>")
        parts.append(_html_section(key, entries) if entries else "<p class='empty'>None.</p>")
    if _median_rows(report):
        parts.append("<h2 id='days'>Days from feedback to notice</h2>")
        parts.append(
            _html_table(
                ["site", "round", "notices", "median days"],
                [
                    [
                        e_(r["site"] or ""),
                        e_(r["round"] or "—"),
                        str(r["notices"]),
                        f"{r['median_days']:g}",
                    ]
                    for r in _median_rows(report)
                ],
            )  # fmt: skip
        )
    parts.append(f"<p class='meta'>Times are {TIME_LABEL}.</p></body></html>")
    return "\n".join(parts)


def diff_page(data: dict[str, Any]) -> str:
    """`xunshi diff --format html`: one self-contained page about one notice's change."""
    e_ = escape
    f, t = data["from"], data["to"]
    title = str(data.get("title") or "")
    return "\n".join(
        [
            "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>",
            f"<title>{e_(title)} · version {f['version']} → {t['version']}</title>"
            f"<style>{_CSS}.ctx{{color:#555;padding:.2em .4em}}</style></head><body>",
            f"<h1>{_link(data.get('url'), title)}</h1>",
            f"<p class='meta'>{e_(str(data.get('site') or ''))} · notice {e_(str(data['notice_id']))}</p>",
            _html_table(
                ["", "version", f"fetched ({TIME_LABEL})"],
                [
                    ["old", e_(str(f["version"])), e_(shown_time(f["fetched_at"]))],
                    ["new", e_(str(t["version"])), e_(shown_time(t["fetched_at"]))],
                ],
            ),  # fmt: skip
            f"<div class='diff'>{render_notice_diff_html(data)}</div>",
            "</body></html>",
        ]
    )


RENDERERS = {"md": to_markdown, "html": to_html, "json": to_json}
