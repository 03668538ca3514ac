"""Notices written to files: seed-format text files, the CSV export and the Atom feed.

Shared by the file targets of store/deliver.py and the CLI's export commands. Files are
replaced atomically (a reader sees the old file or the new one, never half); nothing here
writes the database.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from store.notices import Store

logger = logging.getLogger(__name__)


FEED_KINDS = ("new_notice", "changed", "removed")


FEED_TITLE = "xunshi-watch: 巡视整改 notices"


FEED_CONTENT_CHARS = 3000  # an entry carries the start of the text or diff, not megabytes


CSV_FIELDS = ["id", "site", "url", "title", "published_at", "source", "unit", "districts", "text",
              "versions", "first_seen", "last_changed", "removed_at"]  # fmt: skip


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:50]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{p}{i}" for p in ("COM", "LPT") for i in [*range(1, 10), "¹", "²", "³"]
}


_NOT_IN_NAMES = re.compile(r'[<>:"/\\|?*]')


def safe_component(text: str | None, max_bytes: int = 90, fallback: str = "_") -> str:
    """One file-name component from page text, safe on Linux, macOS and Windows.

    NFKC first (so a full-width ／ becomes / and is then replaced), then path separators,
    characters Windows forbids and every control/format character (NUL, bidi overrides)
    become ``_``; leading and trailing dots and spaces go (no ``..``, no hidden files);
    reserved device names (CON, NUL, COM1…) get a ``_`` prefix; the result is cut to
    ``max_bytes`` of UTF-8 on a character boundary.
    """
    s = unicodedata.normalize("NFKC", text or "")
    s = "".join("_" if unicodedata.category(c).startswith("C") else c for c in s)
    s = _NOT_IN_NAMES.sub("_", s)
    s = re.sub(r"\s+", " ", s).strip(" .")
    if s.split(".")[0].strip().upper() in _WINDOWS_RESERVED:
        s = "_" + s
    encoded = s.encode("utf-8")[:max_bytes]
    s = encoded.decode("utf-8", errors="ignore").strip(" .")
    return s or fallback


def seed_file_path(root: Path, notice: Mapping[str, Any], n: int) -> Path:
    """``<root>/<site>/<published date>_<unit>_<id>.v<N>.txt``, always inside ``root``."""
    published = str(notice.get("published_at") or "")[:10]
    date = published if re.fullmatch(r"\d{4}-\d{2}-\d{2}", published) else "undated"
    unit = safe_component(notice.get("unit") or notice.get("title"), fallback="notice")
    name = f"{date}_{unit}_{int(notice['id'])}.v{int(n)}.txt"
    path = root / safe_component(notice.get("site"), 40, "site") / name
    base = root.resolve()
    if (
        base not in path.resolve().parents
    ):  # cannot happen after safe_component; never write outside
        raise ValueError(f"refusing to write outside {root}: {path}")
    return path


def write_seed(root: Path, notice: Mapping[str, Any], n: int, text: str) -> Path:
    path = seed_file_path(root, notice, n)
    atomic_write(path, text.encode("utf-8"))
    return path


def write_seed_files(store: Store, root: Path, *, site: str | None = None) -> list[Path]:
    """Every version of every notice as a seed-format file under ``root``; return the paths."""
    written = []
    for notice in list(store.notices(site)):
        for n in range(1, int(notice["version_count"] or 0) + 1):
            version = store.version(notice["id"], n)
            if version:
                written.append(write_seed(root, notice, n, version["text"]))
    return written


def notices_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """CSV of ``Store.export_rows()``; districts as ``code name`` pairs joined by ``; ``."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        districts = "; ".join(f"{d['code']} {d['name']}" for d in row.get("districts") or [])
        writer.writerow({k: _csv_safe(v) for k, v in {**row, "districts": districts}.items()})
    return out.getvalue()


def _csv_safe(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (= + - @ tab CR first): a leading
    apostrophe, as OWASP advises for CSV injection."""
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value
    return value


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_safe(text: str | None) -> str:
    return _XML_ILLEGAL.sub("", text or "")


_FEED_LABELS = {"new_notice": "新通报", "changed": "内容变更", "removed": "已撤下"}


def atom_feed(
    store: Store,
    *,
    title: str = FEED_TITLE,
    feed_id: str = "urn:xunshi-watch:feed",
    link: str | None = None,
    max_entries: int = 100,
    kinds: Sequence[str] = FEED_KINDS,
    site: str | None = None,
) -> bytes:
    """An Atom feed of the newest new/changed/removed events, newest first."""
    from feedgen.feed import FeedGenerator

    wanted = [k for k in kinds if k in FEED_KINDS] or list(FEED_KINDS)
    events = [
        {**row, "detail": json.loads(row["detail"] or "{}")}
        for row in store.db.query(
            "select * from events where kind in (select value from json_each(?)) "
            "and (? is null or site = ?) order by id desc limit ?",
            [json.dumps(wanted), site, site, max_entries],
        )
    ]
    fg = FeedGenerator()
    fg.id(feed_id)
    fg.title(xml_safe(title))
    fg.author({"name": "xunshi-watch"})
    fg.generator("xunshi-watch")
    fg.language("zh-CN")
    if link:
        fg.link(href=link, rel="alternate")
    fg.updated(datetime.fromisoformat(events[0]["created_at"]) if events else datetime.now(UTC))
    for event in events:
        notice = store.notice(event["notice_id"]) if event["notice_id"] else None
        detail = event["detail"]
        name = (notice or {}).get("title") or detail.get("title") or event["url"] or "?"
        entry = fg.add_entry(order="append")
        entry.id(f"{feed_id}:event:{event['id']}")
        label = _FEED_LABELS.get(event["kind"], event["kind"])
        if event["kind"] == "changed":
            label += f" v{detail.get('from_version')}→v{detail.get('to_version')}"
        entry.title(xml_safe(f"【{label}】{name}"))
        when = datetime.fromisoformat(event["created_at"])
        entry.updated(when)
        entry.published(when)
        url = event["url"] or (notice or {}).get("url")
        if url and urlsplit(url).scheme in ("http", "https"):
            entry.link(href=url, rel="alternate")
        entry.category(term=event["kind"])
        meta = " · ".join(
            str(x)
            for x in (event["site"], (notice or {}).get("unit"), (notice or {}).get("published_at"))
            if x
        )
        entry.summary(xml_safe(meta or event["kind"]))
        body = ""
        if event["kind"] == "changed":
            version = store.version(event["notice_id"], detail.get("to_version"))
            body = (version or {}).get("diff") or ""
        elif event["kind"] == "new_notice" and notice:
            version = store.version(notice["id"], 1)
            body = (version or {}).get("text") or ""
        elif event["kind"] == "removed":
            body = str(detail.get("reason") or "")
        if body:
            if len(body) > FEED_CONTENT_CHARS:
                body = body[:FEED_CONTENT_CHARS] + "\n…"
            entry.content(xml_safe(body), type="text")
    data: bytes = fg.atom_str(pretty=True)
    return data


def write_atom(store: Store, path: Path | None, **options: Any) -> bytes:
    data = atom_feed(store, **options)
    if path is not None:
        atomic_write(path, data)
    return data
