"""Deliveries of events to other tools through an outbox: each event at least once, in order.

After a run, ``Outbox.enqueue_run`` queues the run's events for every configured delivery
(one ``outbox`` row per delivery and event, once per run). ``deliver_pending`` then hands
each delivery its pending rows in event order and marks them sent only after the target
acknowledged them, so a crash or a receiver that is down loses nothing:

* a row that could not be delivered stays pending and is retried with exponential
  backoff (``backoff`` seconds, doubling up to ``max_backoff``); later rows of the same
  delivery wait behind it, so order holds;
* a crash between sending and marking re-sends on the next pass: receivers dedupe by the
  event id (``Idempotency-Key`` header, ``id`` field);
* a webhook that refuses an event (HTTP 4xx other than 408/425/429) marks it ``failed``
  and the queue moves on; ``xunshi outbox --retry`` queues failed rows again.

Targets (``type`` of a ``[[deliveries]]`` table): ``webhook`` (POST JSON, optionally signed
with HMAC-SHA256), ``atom`` (a feed file of new, changed and removed notices), ``txt``
(seed-format files ``<dir>/<site>/<published date>_<unit>_<id>.v<N>.txt``), ``jsonl``
(one line per event, appended) and ``csv`` (every notice, rewritten). Files are replaced
atomically. This module writes only outbox rows, files and HTTP requests; everything
else in the database is written by store.notices.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import http.client
import io
import json
import logging
import os
import re
import tempfile
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from sqlite_utils import Database

from store.db import write_transaction
from store.events import EVENT_KINDS, default_kinds
from store.notices import Store

logger = logging.getLogger(__name__)

USER_AGENT = "xunshi-watch/0.1 (deliveries)"
DELIVERY_TYPES = ("webhook", "atom", "txt", "jsonl", "csv")
FEED_KINDS = ("new_notice", "changed", "removed")
# What each type receives when its config names no kinds: the event-kinds table says.
DEFAULT_KINDS: dict[str, tuple[str, ...]] = {t: default_kinds(t) for t in DELIVERY_TYPES}
# Keys a [[deliveries]] table may have, besides name, type, kinds, backoff and max_backoff.
TYPE_KEYS: dict[str, frozenset[str]] = {
    "webhook": frozenset({"url", "secret_env", "batch_size", "timeout"}),
    "atom": frozenset({"path", "title", "feed_id", "link", "max_entries"}),
    "txt": frozenset({"dir"}),
    "jsonl": frozenset({"path"}),
    "csv": frozenset({"path"}),
}
COMMON_KEYS = frozenset({"name", "type", "kinds", "backoff", "max_backoff"})
FEED_TITLE = "xunshi-watch: 巡视整改 notices"
FEED_CONTENT_CHARS = 3000  # an entry carries the start of the text or diff, not megabytes
RETRY_STATUSES = frozenset({408, 425, 429})
FILE_BATCH = 500  # rows handed to a file target at once
CSV_FIELDS = ["id", "site", "url", "title", "published_at", "source", "unit", "districts", "text",
              "versions", "first_seen", "last_changed", "removed_at"]  # fmt: skip


class ConfigError(ValueError):
    """A [[deliveries]] table that cannot work; the message names the table and the key."""


class DeliveryError(Exception):
    """A target did not take the events. ``retry``: try again later (else: refused for good)."""

    def __init__(self, message: str, *, retry: bool = True, retry_after: float | None = None):
        super().__init__(message)
        self.retry = retry
        self.retry_after = retry_after


def utc(moment: datetime | None = None) -> str:
    """ISO 8601 UTC to the second: the one timestamp form of the outbox (compares as text)."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


# -- configuration ----------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One [[deliveries]] table of the scheduler's config, checked."""

    name: str
    type: str
    kinds: tuple[str, ...]
    path: Path | None = None  # atom, jsonl, csv: the file; txt: the folder
    url: str | None = None
    secret_env: str | None = None  # the NAME of the variable holding the HMAC secret
    batch_size: int = 1
    timeout: float = 10.0
    backoff: float = 60.0
    max_backoff: float = 6 * 3600.0
    title: str = FEED_TITLE
    feed_id: str | None = None
    link: str | None = None
    max_entries: int = 100

    @classmethod
    def from_config(cls, table: Mapping[str, Any], base: Path | None = None) -> Delivery:
        """Check one [[deliveries]] table; relative paths are relative to ``base``."""
        kind = table.get("type")
        name = str(table.get("name") or kind or "")
        where = f"[[deliveries]] {name or '(no name)'}"
        if kind not in DELIVERY_TYPES:
            raise ConfigError(f"{where}: type must be one of {', '.join(DELIVERY_TYPES)}")
        unknown = set(table) - COMMON_KEYS - TYPE_KEYS[kind]
        if unknown:
            allowed = ", ".join(sorted(COMMON_KEYS | TYPE_KEYS[kind]))
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                              f"a {kind} delivery takes {allowed}")  # fmt: skip
        kinds = tuple(table.get("kinds") or DEFAULT_KINDS[kind])
        bad = [k for k in kinds if k not in EVENT_KINDS]
        if bad:
            raise ConfigError(f"{where}: unknown event kind(s) {bad}; known: {EVENT_KINDS}")
        options: dict[str, Any] = {"name": name, "type": kind, "kinds": kinds}
        for key in ("backoff", "max_backoff", "timeout"):
            if key in table:
                options[key] = _positive(table[key], where, key)
        if kind == "webhook":
            url = str(table.get("url") or "")
            if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
                raise ConfigError(f"{where}: url must be an http:// or https:// URL")
            options["url"] = url
            if table.get("secret_env"):
                options["secret_env"] = str(table["secret_env"])
            if "batch_size" in table:
                options["batch_size"] = int(_positive(table["batch_size"], where, "batch_size"))
        else:
            key = "dir" if kind == "txt" else "path"
            if not table.get(key):
                raise ConfigError(f"{where}: a {kind} delivery needs {key}")
            p = Path(str(table[key])).expanduser()
            options["path"] = p if p.is_absolute() or base is None else base / p
        if kind == "atom":
            for key in ("title", "feed_id", "link"):
                if key in table:
                    options[key] = str(table[key])
            if "max_entries" in table:
                options["max_entries"] = int(_positive(table["max_entries"], where, "max_entries"))
        return cls(**options)

    def describe(self) -> str:
        """What a log line or `--list` may say about this delivery: never a secret."""
        if self.type == "webhook":
            signed = f", signed with ${self.secret_env}" if self.secret_env else ""
            batch = f", {self.batch_size} events a request" if self.batch_size > 1 else ""
            return f"webhook {redact_url(self.url or '')}{signed}{batch}"
        return f"{self.type} {self.path}"


def _positive(value: Any, where: str, key: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    if number <= 0:
        raise ConfigError(f"{where}: {key} must be a positive number")
    return number


def parse_deliveries(
    tables: Iterable[Mapping[str, Any]], base: Path | None = None
) -> list[Delivery]:
    deliveries = [Delivery.from_config(t, base) for t in tables]
    names = [d.name for d in deliveries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"[[deliveries]]: names must be unique; repeated: {', '.join(dupes)}")
    return deliveries


def redact_url(url: str) -> str:
    """A URL without user info or query, which may carry tokens."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


# -- the outbox -------------------------------------------------------------------------


class Outbox:
    """The outbox tables: what each delivery still has to hand over. Their only writer."""

    def __init__(self, db: Database, clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self.clock = clock or (lambda: datetime.now(UTC))

    def enqueue_run(self, run_id: int, deliveries: Sequence[Delivery]) -> int:
        """Queue run ``run_id``'s events for each delivery, once; return the rows added."""
        added = 0
        with write_transaction(self.db):
            now = utc(self.clock())
            events = list(
                self.db.query("select id, kind from events where run_id = ? order by id", [run_id])
            )
            marks = self.db.table("outbox_runs")
            for d in deliveries:
                if marks.count_where("delivery = ? and run_id = ?", [d.name, run_id]):
                    continue
                rows = [
                    {"delivery": d.name, "event_id": e["id"], "run_id": run_id, "status": "pending",
                     "attempts": 0, "created_at": now, "next_attempt_at": now}
                    for e in events if e["kind"] in d.kinds
                ]  # fmt: skip
                before = self.db.conn.total_changes
                self.db.table("outbox").insert_all(rows, ignore=True)
                added += self.db.conn.total_changes - before
                marks.insert(
                    {"delivery": d.name, "run_id": run_id, "enqueued_at": now, "events": len(rows)}
                )
        return added

    def enqueue_missed(self, deliveries: Sequence[Delivery]) -> int:
        """Queue the finished runs a crash kept from being queued (or crawled by `xunshi crawl`).

        A delivery starts with the first run queued for it; runs before that are not sent.
        """
        added = 0
        for d in deliveries:
            first = self.db.execute(
                "select min(run_id) from outbox_runs where delivery = ?", [d.name]
            ).fetchone()[0]
            if first is None:
                continue
            missed = self.db.execute(
                "select id from runs where id > ? and status != 'running' and id not in "
                "(select run_id from outbox_runs where delivery = ?) order by id",
                [first, d.name],
            ).fetchall()
            for (run_id,) in missed:
                added += self.enqueue_run(run_id, [d])
        return added

    def due(self, delivery: str, limit: int, now: datetime | None = None) -> list[dict[str, Any]]:
        """The next pending rows of a delivery, in event order, if the first one is due."""
        moment = utc(now or self.clock())
        rows = list(
            self.db.table("outbox").rows_where(
                "delivery = ? and status = 'pending'", [delivery], order_by="event_id", limit=limit
            )
        )
        due = []
        for row in rows:
            if row["next_attempt_at"] > moment:
                break  # wait for this one: later events never overtake it
            due.append(row)
        return due

    def mark_sent(self, rows: Sequence[Mapping[str, Any]], now: datetime | None = None) -> None:
        moment = utc(now or self.clock())
        with write_transaction(self.db):
            for row in rows:
                self.db.table("outbox").update(
                    row["id"],
                    {"status": "sent", "attempts": int(row["attempts"]) + 1, "sent_at": moment,
                     "last_attempt_at": moment, "last_error": None},
                )  # fmt: skip

    def mark_retry(
        self,
        rows: Sequence[Mapping[str, Any]],
        error: str,
        delivery: Delivery,
        now: datetime | None = None,
        retry_after: float | None = None,
    ) -> str:
        """Count a failed attempt and put the rows off: backoff × 2^(attempts-1), capped."""
        moment = now or self.clock()
        attempts = int(rows[0]["attempts"]) + 1
        delay = min(delivery.backoff * 2 ** (attempts - 1), delivery.max_backoff)
        if retry_after:
            delay = max(delay, min(retry_after, delivery.max_backoff))
        next_at = utc(moment + timedelta(seconds=delay))
        with write_transaction(self.db):
            for row in rows:
                self.db.table("outbox").update(
                    row["id"],
                    {"attempts": int(row["attempts"]) + 1, "last_attempt_at": utc(moment),
                     "next_attempt_at": next_at, "last_error": error},
                )  # fmt: skip
        return next_at

    def mark_failed(
        self, rows: Sequence[Mapping[str, Any]], error: str, now: datetime | None = None
    ) -> None:
        moment = utc(now or self.clock())
        with write_transaction(self.db):
            for row in rows:
                self.db.table("outbox").update(
                    row["id"],
                    {"status": "failed", "attempts": int(row["attempts"]) + 1,
                     "last_attempt_at": moment, "last_error": error},
                )  # fmt: skip

    def retry(self, delivery: str | None = None, now: datetime | None = None) -> int:
        """Make failed and waiting rows due now; return how many."""
        moment = utc(now or self.clock())
        with write_transaction(self.db):
            cursor = self.db.execute(
                "update outbox set status = 'pending', next_attempt_at = ? "
                "where status in ('pending', 'failed') and (? is null or delivery = ?)",
                [moment, delivery, delivery],
            )
            return int(cursor.rowcount)

    def summary(self) -> list[dict[str, Any]]:
        """Per delivery: how many rows are pending, sent and failed, and the next attempt."""
        return [
            dict(row)
            for row in self.db.query(
                "select delivery, "
                "sum(status = 'pending') as pending, sum(status = 'sent') as sent, "
                "sum(status = 'failed') as failed, max(attempts) as max_attempts, "
                # the queue's head decides when the delivery next tries
                "(select next_attempt_at from outbox o2 where o2.delivery = o.delivery and "
                " o2.status = 'pending' order by o2.event_id limit 1) as next_attempt_at, "
                "(select last_error from outbox o2 where o2.delivery = o.delivery and "
                " o2.status != 'sent' and o2.last_error is not null order by o2.event_id limit 1) "
                "as last_error "
                "from outbox o group by delivery order by delivery"
            )
        ]

    def rows(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Outbox rows with their event's kind and URL, oldest first."""
        return list(
            self.db.query(
                "select o.id, o.delivery, o.event_id, e.kind, e.url, o.status, o.attempts, "
                "o.next_attempt_at, o.sent_at, o.last_error from outbox o "
                "join events e on e.id = o.event_id where (? is null or o.status = ?) "
                "order by o.delivery, o.event_id limit ?",
                [status, status, limit],
            )
        )


# -- what is delivered ------------------------------------------------------------------


def event_payload(store: Store, event: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form of an event (webhook body, JSON Lines line): the event and its notice."""
    detail = event["detail"]
    payload: dict[str, Any] = {
        "id": event["id"],
        "kind": event["kind"],
        "run_id": event["run_id"],
        "created_at": event["created_at"],
        "site": event["site"],
        "notice_id": event["notice_id"],
        "url": event["url"],
        "detail": json.loads(detail) if isinstance(detail, str) else (detail or {}),
        "notice": None,
        "facts": None,
    }
    notice = store.notice(event["notice_id"]) if event["notice_id"] else None
    if notice:
        payload["notice"] = {
            "title": notice["title"],
            "unit": notice["unit"],
            "published_at": notice["published_at"],
            "source": notice["source"],
            "versions": notice["version_count"],
            "removed_at": notice["removed_at"],
            "districts": store.district_refs(notice["id"]),
        }
        # the facts of the notice's latest version (values and counts; evidence in the db)
        facts = store.facts(notice["id"]) if store.has_facts() else None
        payload["facts"] = {k: v for k, v in facts.items() if k != "evidence"} if facts else None
    return payload


def _events(store: Store, ids: Sequence[int]) -> list[dict[str, Any]]:
    table = store.db.table("events")
    return [dict(table.get(i)) for i in ids]


# -- targets ----------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would be re-sent as an empty GET by urllib: refuse it instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def sign(secret: str, body: bytes) -> str:
    """The X-Xunshi-Signature header value: ``sha256=`` + HMAC-SHA256 of the body, in hex."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _retry_after(headers: Message | None) -> float | None:
    value = (headers or Message()).get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None


class WebhookTarget:
    def __init__(self, delivery: Delivery) -> None:
        self.d = delivery
        self.opener = urllib.request.build_opener(_NoRedirect)

    def send(self, store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
        payloads = [event_payload(store, e) for e in _events(store, [r["event_id"] for r in rows])]
        batched = self.d.batch_size > 1
        body = json.dumps(
            {"events": payloads} if batched else payloads[0], ensure_ascii=False
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            # One id, or in batch mode every id of the body, comma-separated.
            "Idempotency-Key": ",".join(str(p["id"]) for p in payloads),
            "X-Xunshi-Event": "batch" if batched else payloads[0]["kind"],
        }
        if self.d.secret_env:
            secret = os.environ.get(self.d.secret_env)
            if not secret:
                raise DeliveryError(f"environment variable {self.d.secret_env} is not set")
            headers["X-Xunshi-Signature"] = sign(secret, body)
        shown = redact_url(self.d.url or "")
        request = urllib.request.Request(
            self.d.url or "", data=body, headers=headers, method="POST"
        )
        try:
            with self.opener.open(request, timeout=self.d.timeout) as response:
                response.read(1 << 20)
        except urllib.error.HTTPError as exc:
            code = exc.code
            if 300 <= code < 400:
                where = redact_url(exc.headers.get("Location", "") if exc.headers else "")
                raise DeliveryError(
                    f"HTTP {code} from {shown}: redirected to {where or '?'}; "
                    "point the delivery at the new URL",
                    retry=False,
                ) from None
            retry = code >= 500 or code in RETRY_STATUSES
            raise DeliveryError(
                f"HTTP {code} from {shown}", retry=retry, retry_after=_retry_after(exc.headers)
            ) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"cannot reach {shown}: {reason}") from None


class AtomTarget:
    """Rewrites the whole feed (the newest ``max_entries`` feed events) whenever rows arrive."""

    def __init__(self, delivery: Delivery) -> None:
        self.d = delivery

    def send(self, store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
        with _io_errors():
            write_atom(
                store, self.d.path, title=self.d.title, kinds=self.d.kinds,
                feed_id=self.d.feed_id or f"urn:xunshi-watch:{self.d.name}",
                link=self.d.link, max_entries=self.d.max_entries,
            )  # fmt: skip


class TxtTarget:
    """Writes the seed-format text of each new version to ``<dir>/<site>/…v<N>.txt``."""

    def __init__(self, delivery: Delivery) -> None:
        self.d = delivery

    def send(self, store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
        assert self.d.path is not None
        for event in _events(store, [r["event_id"] for r in rows]):
            if event["kind"] not in ("new_notice", "changed") or not event["notice_id"]:
                continue
            # new_notice is always version 1; changed says which version it made.
            n = int(json.loads(event["detail"] or "{}").get("to_version") or 1)
            notice = store.notice(event["notice_id"])
            version = store.version(event["notice_id"], n)
            if notice and version:
                with _io_errors():
                    _write_seed(self.d.path, notice, n, version["text"])


class JsonLinesTarget:
    """Appends one JSON object per event; after a crash, lines already written are skipped."""

    def __init__(self, delivery: Delivery) -> None:
        self.d = delivery

    def send(self, store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
        assert self.d.path is not None
        path = self.d.path
        with _io_errors():
            path.parent.mkdir(parents=True, exist_ok=True)
            last = _last_jsonl_id(path)
            lines = [
                json.dumps(event_payload(store, e), ensure_ascii=False) + "\n"
                for e in _events(store, [r["event_id"] for r in rows])
                if last is None or e["id"] > last
            ]
            with path.open("a", encoding="utf-8") as fh:
                fh.write("".join(lines))
                fh.flush()
                os.fsync(fh.fileno())


class CsvTarget:
    """Rewrites a CSV of every notice (its latest text, unit and districts)."""

    def __init__(self, delivery: Delivery) -> None:
        self.d = delivery

    def send(self, store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
        assert self.d.path is not None
        with _io_errors():
            atomic_write(self.d.path, notices_csv(store.export_rows()).encode("utf-8"))


class Target(Protocol):
    def send(self, store: Store, rows: Sequence[Mapping[str, Any]]) -> None: ...


TARGETS: dict[str, Callable[[Delivery], Target]] = {
    "webhook": WebhookTarget,
    "atom": AtomTarget,
    "txt": TxtTarget,
    "jsonl": JsonLinesTarget,
    "csv": CsvTarget,
}


@contextlib.contextmanager
def _io_errors() -> Iterator[None]:
    """File targets: a disk that is full or a folder that is not writable is retried later."""
    try:
        yield
    except OSError as exc:
        raise DeliveryError(f"cannot write: {exc}") from None


# -- files ------------------------------------------------------------------------------


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


def _write_seed(root: Path, notice: Mapping[str, Any], n: int, text: str) -> Path:
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
                written.append(_write_seed(root, notice, n, version["text"]))
    return written


def _last_jsonl_id(path: Path) -> int | None:
    """The id on the last complete line of a JSON Lines file; a torn last line is cut off."""
    if not path.exists():
        return None
    with path.open("rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        chunk = min(size, 1 << 20)
        fh.seek(size - chunk)
        tail = fh.read(chunk)
        if tail and not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n") + 1  # 0 when the whole tail is one torn line
            fh.truncate(size - chunk + cut)
            tail = tail[:cut]
    lines = tail.rstrip(b"\n").rsplit(b"\n", 1)
    try:
        value = json.loads(lines[-1]).get("id") if lines[-1] else None
    except (ValueError, AttributeError):
        return None
    return int(value) if isinstance(value, int) else None


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


def _xml(text: str | None) -> str:
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
    fg.title(_xml(title))
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
        entry.title(_xml(f"【{label}】{name}"))
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
        entry.summary(_xml(meta or event["kind"]))
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
            entry.content(_xml(body), type="text")
    data: bytes = fg.atom_str(pretty=True)
    return data


def write_atom(store: Store, path: Path | None, **options: Any) -> bytes:
    data = atom_feed(store, **options)
    if path is not None:
        atomic_write(path, data)
    return data


# -- delivering -------------------------------------------------------------------------


@dataclass
class PassResult:
    """What one delivery pass did for one delivery."""

    delivery: str
    sent: int = 0
    refused: int = 0
    error: str | None = None  # the last failure, when rows were put off
    next_attempt_at: str | None = None
    stopped: bool = False
    sent_ids: list[int] = field(default_factory=list)

    def line(self) -> str:
        text = f"{self.delivery}: {self.sent} sent"
        if self.refused:
            text += f", {self.refused} refused"
        if self.error:
            text += f"; retry at {self.next_attempt_at}: {self.error}"
        return text


AfterSend = Callable[[Delivery, list[int]], None]


def deliver_pending(
    db_path: str | os.PathLike[str],
    deliveries: Sequence[Delivery],
    *,
    now: datetime | None = None,
    should_stop: Callable[[], bool] | None = None,
    after_send: AfterSend | None = None,
) -> list[PassResult]:
    """Hand every delivery its due rows, in event order; return what happened per delivery.

    ``after_send(delivery, event_ids)`` runs after a target took events and before they are
    marked sent (tests pause there to kill the process).
    """
    store = Store.open(db_path)
    outbox = Outbox(store.db, clock=(lambda: now) if now else None)
    results = []
    try:
        for d in deliveries:
            results.append(_deliver_one(store, outbox, d, should_stop, after_send))
    finally:
        store.close()
    return results


def _deliver_one(
    store: Store,
    outbox: Outbox,
    d: Delivery,
    should_stop: Callable[[], bool] | None,
    after_send: AfterSend | None,
) -> PassResult:
    result = PassResult(d.name)
    target = TARGETS[d.type](d)
    limit = d.batch_size if d.type == "webhook" else FILE_BATCH
    while True:
        if should_stop and should_stop():
            result.stopped = True
            break
        rows = outbox.due(d.name, limit)
        if not rows:
            break
        ids = [r["event_id"] for r in rows]
        try:
            try:
                target.send(store, rows)
            except DeliveryError:
                raise
            except Exception as exc:  # a bug in a target must not stop the other deliveries
                logger.exception("%s: delivering events %s failed", d.name, ids)
                raise DeliveryError(f"internal error: {exc!r}") from exc
        except DeliveryError as exc:
            if exc.retry:
                result.error = str(exc)
                result.next_attempt_at = outbox.mark_retry(
                    rows, str(exc), d, retry_after=exc.retry_after
                )
                logger.warning("%s: events %s put off to %s: %s", d.name, ids,
                               result.next_attempt_at, exc)  # fmt: skip
                break
            outbox.mark_failed(rows, str(exc))
            result.refused += len(rows)
            logger.error("%s: events %s refused: %s", d.name, ids, exc)
            continue
        if after_send:
            after_send(d, ids)
        outbox.mark_sent(rows)
        result.sent += len(rows)
        result.sent_ids += ids
    if result.sent:
        logger.debug("%s: delivered %d events (%s)", d.name, result.sent, d.describe())
    return result
