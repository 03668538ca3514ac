"""Reports of what a crawl found: new notices, changes with their diffs, removals, failures.

``collect`` reads the database into one plain dict; ``to_markdown``, ``to_html`` and
``to_json`` render it. Everything that came from a page is escaped in HTML.
"""

from __future__ import annotations

import json
from collections import Counter
from html import escape
from typing import Any

from store.diff import render_html_fragment
from store.notices import RUN_COUNTS, Store

FAILURE_KINDS = ("fetch_failed", "parse_failed", "site_broken", "site_quiet")
# Per-site columns of a report: the runs table's counters plus removals.
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
    "skipped",  # links a list page showed that could not be followed
]


def collect(store: Store, *, run_id: int | None = None, since: str | None = None) -> dict[str, Any]:
    """The report of one run, or of everything since an ISO date/time."""
    if run_id is not None:
        run = store.run(run_id)
        if run is None:
            raise LookupError(f"no run {run_id}")
        runs = [run]
        events = store.events(run_id=run_id)
        scope = f"run {run_id} ({run['site']}, started {run['started_at']})"
    else:
        runs = [r for r in store.runs(limit=100_000) if since is None or r["started_at"] >= since]
        runs.reverse()
        events = store.events(since=since)
        scope = f"since {since}" if since else "all runs"
    sections: dict[str, list[dict[str, Any]]] = {
        "new": [], "changed": [], "removed": [], "failures": [], "blocked": [], "new_districts": [],
    }  # fmt: skip
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
        if kind == "new_notice":
            sections["new"].append(entry)
        elif kind == "changed":
            version = store.version(event["notice_id"], event["detail"].get("to_version"))
            entry["diff"] = version["diff"] if version else None
            entry["char_diff"] = (
                json.loads(version["char_diff"]) if version and version["char_diff"] else []
            )
            sections["changed"].append(entry)
        elif kind == "removed":
            sections["removed"].append(entry)
        elif kind == "blocked":
            sections["blocked"].append(entry)
        elif kind == "new_district":
            sections["new_districts"].append(entry)
        elif kind in FAILURE_KINDS:
            sections["failures"].append(entry)
    per_site: dict[str, Counter[str]] = {}
    for run in runs:
        c = per_site.setdefault(run["site"], Counter())
        c["runs"] += 1
        for key in ("pages", *RUN_COUNTS):
            c[key] += int(run.get(key) or 0)
    for entry in sections["removed"]:
        per_site.setdefault(entry["site"] or "?", Counter())["removed"] += 1
    return {
        "scope": scope,
        "runs": [
            {k: r.get(k) for k in ("id", "site", "status", "started_at", "finished_at", "error")}
            for r in runs
        ],
        "per_site": {site: dict(c) for site, c in sorted(per_site.items())},
        **sections,
    }


def summary(report: dict[str, Any]) -> str:
    """One line: what a user needs to know before opening the report."""
    parts = [f"{len(report[k])} {label}" for k, label in
             (("new", "new"), ("changed", "changed"), ("removed", "removed"),
              ("failures", "failed"), ("blocked", "blocked"))]  # fmt: skip
    return ", ".join(parts)


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2)


def shown_time(iso: str | None) -> str:
    """'2024-01-01T09:00:00+08:00' -> '2024-01-01 09:00' (Asia/Shanghai, as the sites show it)."""
    if not iso:
        return ""
    return iso[:16].replace("T", " ").removesuffix(" 00:00")


def _md_cell(value: Any) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def to_markdown(report: dict[str, Any]) -> str:
    out = [f"# xunshi-watch report: {report['scope']}", "", f"**{summary(report)}**", ""]
    if report["per_site"]:
        cols = SITE_COLUMNS
        out += ["| site | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for site, c in report["per_site"].items():
            out.append(f"| {site} | " + " | ".join(str(c.get(k, 0)) for k in cols) + " |")
        out.append("")
    if report["new"]:
        out += [
            "## New notices",
            "",
            "| site | unit | title | published | link |",
            "|---|---|---|---|---|",
        ]
        for e in report["new"]:
            out.append(
                f"| {_md_cell(e['site'])} | {_md_cell(e['unit'])} | {_md_cell(e['title'])} | "
                f"{shown_time(e['published_at'])} | <{e['url']}> |"
            )
        out.append("")
    if report["changed"]:
        out += ["## Changed notices", ""]
        for e in report["changed"]:
            d = e["detail"]
            out += [
                f"### {_md_cell(e['title'])}",
                "",
                f"{e['site']} · notice {e['notice_id']} · v{d.get('from_version')} → v{d.get('to_version')} · <{e['url']}>",
                "",
                "```diff",
                e.get("diff") or "",
                "```",
                "",
            ]
    for key, heading in (
        ("removed", "Removed notices"),
        ("failures", "Failures"),
        ("blocked", "Blocked pages"),
    ):
        if report[key]:
            out += [f"## {heading}", "", "| site | kind | page | reason |", "|---|---|---|---|"]
            for e in report[key]:
                reason = e["detail"].get("reason", "")
                out.append(
                    f"| {_md_cell(e['site'])} | {e['kind']} | {_md_cell(e['title'] or e['url'])} | {_md_cell(reason)} |"
                )
            out.append("")
    if not any(report[k] for k in ("new", "changed", "removed", "failures", "blocked")):
        out += ["Nothing new, changed, removed or failed.", ""]
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


def to_html(report: dict[str, Any]) -> str:
    """One self-contained HTML page; every page-derived string is escaped."""
    e_ = escape
    parts = [
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>xunshi-watch report: {e_(report['scope'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>xunshi-watch report</h1><p class='meta'>{e_(report['scope'])}</p>",
        f"<p class='summary' id='summary'>{e_(summary(report))}</p>",
    ]
    if report["per_site"]:
        cols = SITE_COLUMNS
        parts.append(
            _html_table(
                ["site", *cols],
                [
                    [e_(site)] + [str(c.get(k, 0)) for k in cols]
                    for site, c in report["per_site"].items()
                ],
            )
        )
    parts.append("<h2 id='new'>New notices</h2>")
    if report["new"]:
        parts.append(
            _html_table(
                ["site", "unit", "title", "published"],
                [
                    [
                        e_(x["site"] or ""),
                        e_(x["unit"] or ""),
                        _link(x["url"], x["title"]),
                        e_(x["published_at"] or ""),
                    ]
                    for x in report["new"]
                ],
            )  # fmt: skip
        )
    else:
        parts.append("<p class='empty'>None.</p>")
    parts.append("<h2 id='changed'>Changed notices</h2>")
    if not report["changed"]:
        parts.append("<p class='empty'>None.</p>")
    for x in report["changed"]:
        d = x["detail"]
        parts.append(
            f"<h3>{_link(x['url'], x['title'])}</h3><p class='meta'>{e_(x['site'] or '')} · notice {x['notice_id']} · "
            f"v{e_(str(d.get('from_version')))} → v{e_(str(d.get('to_version')))}</p>"
            f"<div class='diff'>{render_html_fragment([[(op, t) for op, t in h] for h in x.get('char_diff') or []])}</div>"
        )
    for key, heading in (
        ("removed", "Removed notices"),
        ("failures", "Failures"),
        ("blocked", "Blocked pages"),
    ):
        parts.append(f"<h2 id='{key}'>{heading}</h2>")
        if report[key]:
            parts.append(
                _html_table(
                    ["site", "kind", "page", "reason"],
                    [
                        [
                            e_(x["site"] or ""),
                            e_(x["kind"]),
                            _link(x["url"], x["title"] or x["url"]),
                            e_(str(x["detail"].get("reason", ""))),
                        ]
                        for x in report[key]
                    ],
                )  # fmt: skip
            )
        else:
            parts.append("<p class='empty'>None.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


RENDERERS = {"md": to_markdown, "html": to_html, "json": to_json}
