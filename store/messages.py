"""Chat and e-mail messages for events: a title and a body per event, or a digest per run.

Pure text built from the store's events and versions, for the Apprise target of
store/deliver.py; nothing here sends or writes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from store.exports import xml_safe
from store.notices import Store

logger = logging.getLogger(__name__)


_LABELS = {"new_notice": "新通报", "changed": "内容变更", "removed": "已撤下",
           "new_district": "新地区", "blocked": "被拦截", "fetch_failed": "抓取失败",
           "parse_failed": "解析失败", "site_broken": "网站异常", "site_quiet": "网站沉寂"}  # fmt: skip


MESSAGE_CHANGES = 5  # changed passages quoted in a message


MESSAGE_CONTEXT = 12  # characters of unchanged text around each


def changed_passages(
    hunks: Sequence[Sequence[Sequence[str]]], limit: int = MESSAGE_CHANGES
) -> list[str]:
    """The changed characters of a version's character diff, each with a little context:
    ``…给予党纪处分[-11-]{+12+}人次…``."""
    out: list[str] = []
    for hunk in hunks:
        ops = [(str(op), str(text)) for op, text in hunk]
        for i, (op, _text) in enumerate(ops):
            if op == "equal" or (i and ops[i - 1][0] != "equal"):
                continue  # a run of changes starts here only after an equal piece
            before = ops[i - 1][1][-MESSAGE_CONTEXT:] if i else ""
            parts, j = [], i
            while j < len(ops) and ops[j][0] != "equal":
                mark = ("[-", "-]") if ops[j][0] == "delete" else ("{+", "+}")
                parts.append(mark[0] + ops[j][1] + mark[1])
                j += 1
            after = ops[j][1][:MESSAGE_CONTEXT] if j < len(ops) else ""
            text = (
                ("…" if before else "") + before + "".join(parts) + after + ("…" if after else "")
            )
            out.append(" ".join(text.split()))
            if len(out) >= limit:
                return out
    return out


def event_message(store: Store, event: Mapping[str, Any]) -> tuple[str, str]:
    """One event as a chat or e-mail message: its title and its body (plain text)."""
    detail = event["detail"]
    detail = json.loads(detail) if isinstance(detail, str) else (detail or {})
    notice = store.notice(event["notice_id"]) if event["notice_id"] else None
    kind = event["kind"]
    label = _LABELS.get(kind, kind)
    title = (notice or {}).get("title") or detail.get("title") or event["url"] or event["site"]
    lines = []
    if kind == "changed":
        label += f" v{detail.get('from_version')}→v{detail.get('to_version')}"
    if kind == "new_district":
        title = f"{detail.get('name')}（{detail.get('district_code')}）"
        lines.append(f"首次出现的地区：{detail.get('name')}，{detail.get('province') or ''}")
        lines.append(f"通报：{detail.get('title') or (notice or {}).get('title') or ''}")
    if notice:
        if notice.get("unit"):
            lines.append(f"单位：{notice['unit']}")
        published = str(notice.get("published_at") or "")[:16].replace("T", " ")
        when = " · ".join(str(x) for x in (published, event["site"]) if x)
        lines.append(f"发布：{when}")
    if kind == "new_notice":
        lines.append("新发布的巡视整改通报")
    elif kind == "changed":
        version = store.version(event["notice_id"], detail.get("to_version")) or {}
        hunks = json.loads(version.get("char_diff") or "[]")
        passages = changed_passages(hunks)
        lines.append(f"内容有变化（{len(hunks)} 处）：" if passages else "内容有变化")
        lines += [f"  {p}" for p in passages]
    elif kind == "removed":
        lines.append(f"已从网站撤下：{detail.get('reason') or ''}")
    elif kind != "new_district":
        lines.append(str(detail.get("reason") or detail.get("error") or kind))
    url = event["url"] or (notice or {}).get("url")
    if url:
        lines.append(f"链接：{url}")
    return f"【{label}】{xml_safe(str(title))}", "\n".join(xml_safe(x) for x in lines)


def digest_message(store: Store, events: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """A run's events as one message: a line per event, then the link."""
    counts: dict[str, int] = {}
    for e in events:
        counts[e["kind"]] = counts.get(e["kind"], 0) + 1
    summary = "，".join(f"{_LABELS.get(k, k)} {n}" for k, n in counts.items())
    sites = ", ".join(sorted({str(e["site"]) for e in events if e["site"]}))
    title = f"巡视整改通报动态（{sites}）：{summary}"
    blocks = []
    for e in events:
        head, body = event_message(store, e)
        blocks.append(head + "\n" + body)
    return title, "\n\n".join(blocks)
