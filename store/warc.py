"""Stored pages as web-archive evidence: WARC (warcio) and WACZ, read only.

Every stored version of a notice becomes a WARC ``response`` record: the page bytes as
fetched (``store.compress.raw_of``), the HTTP status and response headers as stored,
``WARC-Date`` = the version's fetch time and ``WARC-Target-URI`` = the URL it was
fetched from; warcio adds ``WARC-Payload-Digest`` (SHA-1 of the bytes, base32) and
``WARC-Block-Digest``. A ``metadata`` record beside each (``WARC-Concurrent-To``) ties it
to the database: notice id, version number, the SHA-256 of the seed-format text, the run.

The request is not stored, so no ``request`` record is made up. Two headers cannot stay
as they were: Scrapy hands over the body de-chunked and decompressed, so
``Transfer-Encoding`` and ``Content-Encoding`` are kept as ``X-Archive-Orig-*`` and
``Content-Length`` is the stored body's length (what replay tools expect).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from io import BytesIO, StringIO
from pathlib import Path
from typing import Any, BinaryIO

from store.compress import PageCache
from store.notices import Store

SOFTWARE = "xunshi-watch (warcio)"
# Headers whose stored value no longer describes the stored body (see the module docstring).
_RENAMED = ("transfer-encoding", "content-encoding")


class WarcError(ValueError):
    """An export that cannot be made (bad --since, nothing to export, no py-wacz)."""


@dataclass(frozen=True)
class Exported:
    path: Path
    records: int  # response records
    skipped: int  # versions without stored bytes


def warc_date(moment: str) -> str:
    """A stored ISO 8601 time as WARC-Date: UTC, to the second, with ``Z``."""
    when = datetime.fromisoformat(moment)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_since(value: str | None) -> str | None:
    """``--since`` (a date or an ISO 8601 time) as a UTC time to compare stored ones with."""
    if not value:
        return None
    text = value.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ][0-9:.]+([+-]\d{2}:?\d{2}|Z)?)?", text):
        raise WarcError(f"--since {value!r}: give a date (2026-11-01) or an ISO 8601 time")
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise WarcError(f"--since {value!r}: {exc}") from None
    if when.tzinfo is None:  # a date or a local time: the sites' time, Asia/Shanghai
        from zoneinfo import ZoneInfo

        when = when.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
    return when.astimezone(UTC).isoformat(timespec="seconds")


def versions(
    store: Store, *, site: str | None = None, since: str | None = None
) -> Iterator[dict[str, Any]]:
    """The stored versions to export, oldest fetch first, with their notice's fields."""
    rows = store.db.query(
        "select v.id, v.notice_id, v.n, v.sha256, v.fetched_at, v.fetched_url, v.http_status, "
        "v.headers, v.raw, v.raw_size, v.run_id, n.url, n.site, n.title "
        "from versions v join notices n on n.id = v.notice_id "
        "where (? is null or n.site = ?) order by v.fetched_at, v.id",
        [site, site],
    )
    for row in rows:
        if since and _utc(row["fetched_at"]) < since:
            continue
        yield row


def _utc(moment: str) -> str:
    when = datetime.fromisoformat(moment)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds")


def http_headers(row: dict[str, Any], body: bytes) -> list[tuple[str, str]]:
    """The stored response headers, fit for the stored body (see the module docstring)."""
    stored = json.loads(row["headers"] or "{}")
    out: list[tuple[str, str]] = []
    for name, value in stored.items():
        key = str(name).lower()
        if key == "content-length":
            continue
        if key in _RENAMED:
            out.append((f"X-Archive-Orig-{key.title()}", str(value)))
            continue
        out.append((_title(key), str(value)))
    out.append(("Content-Length", str(len(body))))
    return out


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


def _status_line(status: int | None) -> str:
    code = int(status or 200)
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


def write_warc(
    store: Store, out: BinaryIO, *, site: str | None = None, since: str | None = None,
    filename: str = "xunshi.warc.gz", progress: Any = None,
) -> tuple[int, int]:  # fmt: skip
    """Write the WARC (gzip per record) to ``out``; return (response records, skipped)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    writer = WARCWriter(out, gzip=True)
    info = writer.create_warcinfo_record(
        filename,
        {
            "software": SOFTWARE,
            "format": "WARC File Format 1.1",
            "description": "巡视整改 notices as stored by xunshi-watch: every version's page as fetched",
            "isPartOf": "xunshi-watch",
        },  # fmt: skip
    )
    writer.write_record(info)
    written = skipped = 0
    pages = PageCache(store.db)
    for row in versions(store, site=site, since=since):
        body = pages.raw(row) if row["raw"] else None
        if body is None:
            skipped += 1
            continue
        uri = row["fetched_url"] or row["url"]
        date = warc_date(row["fetched_at"])
        response = writer.create_warc_record(
            uri,
            "response",
            payload=BytesIO(body),
            length=len(body),
            http_headers=StatusAndHeaders(
                _status_line(row["http_status"]), http_headers(row, body), protocol="HTTP/1.1"
            ),
            warc_headers_dict={"WARC-Date": date},
        )
        writer.write_record(response)
        meta = {"notice_id": row["notice_id"], "version": row["n"], "site": row["site"],
                "title": row["title"], "text_sha256": row["sha256"], "run_id": row["run_id"],
                "fetched_at": row["fetched_at"], "raw_size": row["raw_size"]}  # fmt: skip
        data = json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8")
        metadata = writer.create_warc_record(
            uri,
            "metadata",
            payload=BytesIO(data),
            length=len(data),
            warc_content_type="application/json",
            warc_headers_dict={
                "WARC-Date": date,
                "WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID"),
            },
        )
        writer.write_record(metadata)
        written += 1
        if progress:
            progress(written)
    return written, skipped


def export_warc(
    store: Store, path: Path, *, site: str | None = None, since: str | None = None,
    progress: Any = None,
) -> Exported:  # fmt: skip
    """Write ``path`` (a .warc.gz) atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:50]}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            written, skipped = write_warc(
                store, fh, site=site, since=since, filename=path.name, progress=progress
            )
            fh.flush()
            os.fsync(fh.fileno())
        if not written:
            raise WarcError("no stored page matches: nothing to export")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Exported(path, written, skipped)


def payload_digest(body: bytes) -> str:
    """WARC-Payload-Digest of ``body`` as warcio writes it: ``sha1:`` + base32."""
    import base64

    return "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")


def pages_jsonl(store: Store, *, site: str | None = None, since: str | None = None) -> str:
    """The WACZ page list: one entry per stored version (URL, fetch time, notice title)."""
    lines = [json.dumps({"format": "json-pages-1.0", "id": "pages",
                         "title": "巡视整改 notices (xunshi-watch)"}, ensure_ascii=False)]  # fmt: skip
    for row in versions(store, site=site, since=since):
        if row["raw"]:
            title = row["title"] or row["url"]
            if row["n"] > 1:
                title = f"{title} (v{row['n']})"
            lines.append(json.dumps({"url": row["fetched_url"] or row["url"],
                                     "ts": warc_date(row["fetched_at"]), "title": title},
                                    ensure_ascii=False))  # fmt: skip
    return "\n".join(lines) + "\n"


WACZ_VERSION = "1.1.1"


def export_wacz(
    store: Store, path: Path, *, site: str | None = None, since: str | None = None,
    progress: Any = None,
) -> Exported:  # fmt: skip
    """The WARC packaged as WACZ 1.1.1, which ReplayWeb.page opens as it is.

    The zip holds ``archive/data.warc.gz``, ``indexes/index.cdxj`` (the Webrecorder
    indexer, cdxj-indexer, as py-wacz uses: response records only, so a lookup never
    lands on a metadata record), ``pages/pages.jsonl`` (each version with its notice's
    title), ``datapackage.json`` (every file's size and SHA-256) and
    ``datapackage-digest.json``. Written by hand rather than by py-wacz, whose
    dependencies (frictionless, typer, rich) would change how Datasette prints errors.
    """
    import zipfile

    from cdxj_indexer.main import CDXJIndexer

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".wacz-", dir=path.parent) as work:
        folder = Path(work)
        warc_path = folder / "data.warc.gz"
        done = export_warc(store, warc_path, site=site, since=since, progress=progress)
        index = StringIO()
        CDXJIndexer(output=index, inputs=[str(warc_path)], sort=True, post_append=True,
                    digest_records=True, records="response").process_all()  # fmt: skip
        files = {
            "archive/data.warc.gz": warc_path.read_bytes(),
            "indexes/index.cdxj": index.getvalue().encode("utf-8"),
            "pages/pages.jsonl": pages_jsonl(store, site=site, since=since).encode("utf-8"),
        }
        package = {
            "profile": "data-package",
            "resources": [
                {
                    "name": Path(name).name,
                    "path": name,
                    "bytes": len(data),
                    "hash": "sha256:" + hashlib.sha256(data).hexdigest(),
                }
                for name, data in files.items()
            ],  # fmt: skip
            "title": "巡视整改 notices (xunshi-watch)",
            "description": "Every stored version of each notice's page, as fetched",
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "wacz_version": WACZ_VERSION,
            "software": SOFTWARE,
        }
        files["datapackage.json"] = json.dumps(package, ensure_ascii=False, indent=2).encode()
        digest = {"path": "datapackage.json",
                  "hash": "sha256:" + hashlib.sha256(files["datapackage.json"]).hexdigest()}  # fmt: skip
        files["datapackage-digest.json"] = json.dumps(digest, indent=2).encode()
        tmp = folder / path.name
        with zipfile.ZipFile(tmp, "w") as z:
            for name, data in files.items():
                # the WARC is stored as it is (already gzip per record: replay seeks in it)
                kind = zipfile.ZIP_STORED if name.startswith("archive/") else zipfile.ZIP_DEFLATED
                z.writestr(name, data, compress_type=kind)
        os.replace(tmp, path)
    return Exported(path, done.records, done.skipped)
