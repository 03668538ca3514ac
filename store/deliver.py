"""Deliveries of events to other tools through an outbox: each event at least once, in order.

After a run, ``Outbox.enqueue_run`` queues the run's events for every configured delivery
(one ``outbox`` row per delivery and event, once per run). ``deliver_pending`` then hands
each delivery its pending rows in event order and marks them sent only after the target
acknowledged them, so a crash or a receiver that is down loses nothing:

* a row that could not be delivered stays pending and is retried with exponential
  backoff (``backoff`` seconds, doubling up to ``max_backoff``); later rows of the same
  delivery wait behind it, so order holds;
* a crash between sending and marking re-sends on the next pass: receivers dedupe by the
  ``delivery_id`` (``Idempotency-Key`` header, ``delivery_id`` field), a random id per
  outbox row, never the event id, which a recreated or restored database reuses;
* a webhook that refuses an event (HTTP 4xx other than 408/425/429) marks it ``failed``
  and the queue moves on; ``xunshi outbox --retry`` queues failed rows again.

Targets (``type`` of a ``[[deliveries]]`` table) are a registry: each is one class that
declares its type name, its keys (types, ranges, defaults) and its default event kinds
(see "targets" below): ``webhook`` (POST JSON, optionally signed with HMAC-SHA256; user and
password in the URL are sent as Basic auth and never shown), ``atom`` (a feed file of new,
changed and removed notices), ``txt`` (seed-format files
``<dir>/<site>/<published date>_<unit>_<id>.v<N>.txt``), ``jsonl`` (one line per event,
appended) and ``csv`` (every notice, rewritten). Files are replaced atomically.

Nothing here waits without a bound: an HTTP request has a deadline for the whole
exchange (a receiver trickling its answer is cut), a delivery pass can be given a time
limit, and a stop request (SIGTERM) cuts a request in flight; what was not delivered
stays in the outbox. This module writes only outbox rows, files and HTTP requests;
everything else in the database is written by store.notices.

Beside it: store/delivery_http.py (the POST with its deadline, signing, credentials),
store/exports.py (seed files, CSV, Atom; also used by the export commands) and
store/messages.py (the text of chat and e-mail messages).
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import hashlib
import itertools
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlite_utils import Database

from store.db import write_transaction
from store.delivery_http import (
    USER_AGENT,
    Deadline,
    DeliveryError,
    post,
    redact_url,
    sign,
    split_credentials,
)
from store.events import EVENT_KINDS, default_kinds
from store.exports import FEED_TITLE, atomic_write, notices_csv, write_atom, write_seed
from store.messages import digest_message, event_message
from store.notices import Store

logger = logging.getLogger(__name__)

FILE_BATCH = 500  # rows handed to a file target at once
DAY = 86400.0


class ConfigError(ValueError):
    """A [[deliveries]] table that cannot work; the message names the table and the key."""


def utc(moment: datetime | None = None) -> str:
    """ISO 8601 UTC to the second: the one timestamp form of the outbox (compares as text)."""
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


# -- configuration ----------------------------------------------------------------------
#
# Each target type is one class (see "targets" below) that declares, in one place, its
# type name, its keys (a pydantic model: types, ranges, defaults) and its default event
# kinds; ``register`` adds it to TARGETS. The config is checked strictly, up front:
# ``full = "no"`` is not a boolean, ``timeout = inf`` and ``backoff = nan`` are not
# numbers of seconds, ``batch_size = 1e30`` is not an integer (pydantic, strict mode).


class DeliveryOptions(BaseModel):
    """The keys every [[deliveries]] table takes; each target's Options adds its own."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)

    name: str | None = Field(None, min_length=1, max_length=100)
    type: str
    kinds: list[str] | None = Field(None, min_length=1)
    backoff: float = Field(60.0, gt=0, le=7 * DAY)  # first wait after a failure; doubles
    max_backoff: float = Field(6 * 3600.0, gt=0, le=30 * DAY)

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: list[str] | None) -> list[str] | None:
        bad = [k for k in kinds or [] if k not in EVENT_KINDS]
        if bad:
            raise ValueError(f"unknown event kind(s) {bad}; known: {', '.join(EVENT_KINDS)}")
        return kinds


class FileOptions(DeliveryOptions):
    """A target that writes one file (``path``), relative to the config's folder."""

    path: str = Field(min_length=1, max_length=4096)


@dataclass(frozen=True)
class Delivery:
    """One [[deliveries]] table of the scheduler's config, checked.

    The keys of its target type are on ``options`` and readable as attributes
    (``d.url``, ``d.batch_size``, ``d.title``…); ``path`` is the file or folder, resolved.
    """

    name: str
    type: str
    kinds: tuple[str, ...]
    options: DeliveryOptions
    path: Path | None = None  # file targets: the file; txt: the folder

    @property
    def backoff(self) -> float:
        return self.options.backoff

    @property
    def max_backoff(self) -> float:
        return self.options.max_backoff

    @property
    def target(self) -> builtins.type[Target]:
        return TARGETS[self.type]

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_") or key == "options":
            raise AttributeError(key)
        return getattr(self.options, key)

    @classmethod
    def from_config(cls, table: Any, base: Path | None = None, where: str = "") -> Delivery:
        """Check one [[deliveries]] table; relative paths are relative to ``base``."""
        kind = table.get("type") if isinstance(table, Mapping) else None
        label = table.get("name") if isinstance(table, Mapping) else None
        where = where or "[[deliveries]]"
        where += f" {label or kind or '(no name)'}" if isinstance(label or kind, str) else ""
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: must be a table ([[deliveries]]), not {_shown(table)}")
        if not isinstance(kind, str) or kind not in TARGETS:
            raise ConfigError(f"{where}: type must be one of {', '.join(TARGETS)}"
                              + (f", not {_shown(kind)}" if "type" in table else ""))  # fmt: skip
        target = TARGETS[kind]
        try:
            options = target.Options.model_validate(dict(table))
        except ValidationError as exc:
            raise ConfigError(f"{where}: {config_errors(exc, target)}") from None
        path = None
        if target.path_key:
            p = Path(str(getattr(options, target.path_key))).expanduser()
            path = p if p.is_absolute() or base is None else base / p
        return cls(
            name=options.name or kind,
            type=kind,
            kinds=tuple(options.kinds or target.kinds_by_default()),
            options=options,
            path=path,
        )

    def describe(self) -> str:
        """What a log line or `--list` may say about this delivery: never a secret."""
        return self.target(self).describe()


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Keys whose values may hold a token: never echoed in an error message.
SECRET_KEYS = frozenset({"url", "urls"})


def config_errors(
    errors: ValidationError | Iterable[Mapping[str, Any]], target: type[Target] | None = None
) -> str:
    """pydantic's errors as one line a user can act on: the key, the reason, the value."""
    if isinstance(errors, ValidationError):
        errors = errors.errors(include_url=False)
    parts: list[str] = []
    unknown = []
    for error in errors:
        loc = [str(x) for x in error["loc"]]
        key = ".".join(loc)
        kind = error["type"]
        value = "" if set(loc) & SECRET_KEYS else f", not {_shown(error.get('input'))}"
        ctx = error.get("ctx") or {}
        if kind == "extra_forbidden":
            unknown.append(key)
        elif kind == "missing":
            parts.append(f"needs {key}")
        elif kind == "greater_than" and ctx.get("gt") == 0:
            parts.append(f"{key} must be a positive number{value}")
        elif kind == "value_error":
            msg = str(error["msg"]).removeprefix("Value error, ")
            parts.append(f"{key}: {msg}" if key else msg)
        else:
            msg = re.sub(r"^\w+ should ", "must ", str(error["msg"]))
            parts.append(f"{key or 'the table'} {msg}{value}")
    if unknown:
        allowed = (
            f"; a {target.type} delivery takes {', '.join(sorted(target.Options.model_fields))}"
            if target
            else ""
        )
        parts.insert(0, f"unknown key(s) {', '.join(unknown)}{allowed}")
    return "; ".join(parts)


def parse_deliveries(tables: Any, base: Path | None = None) -> list[Delivery]:
    if not isinstance(tables, list):
        raise ConfigError(f"deliveries must be [[deliveries]] tables, not {_shown(tables)}")
    deliveries = [
        part
        for i, t in enumerate(tables, 1)
        for part in _expand(Delivery.from_config(t, base, where=f"[[deliveries]] #{i}"))
    ]
    names = [d.name for d in deliveries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"[[deliveries]]: names must be unique; repeated: {', '.join(dupes)}")
    paths = [d.path.resolve() for d in deliveries if d.path is not None]
    shared = sorted({str(p) for p in paths if paths.count(p) > 1})
    if shared:
        raise ConfigError(
            f"[[deliveries]]: two deliveries write {', '.join(shared)}: each needs its own file "
            "(they would overwrite or interleave each other's lines)"
        )
    return deliveries


def _expand(d: Delivery) -> list[Delivery]:
    try:
        return d.target.expand(d)
    except DeliveryError as exc:
        raise ConfigError(f"[[deliveries]] {d.name}: {exc}") from None


def check_http_url(url: str) -> str:
    """An http(s) URL with a host and a valid port, or ValueError saying what is wrong."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        raise ValueError("must be an http:// or https:// URL with a valid host and port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise ValueError("must not contain spaces or control characters")
    return url


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
                # uid: this row's own id, random, so never reused by a recreated database
                rows = [
                    {"delivery": d.name, "event_id": e["id"], "run_id": run_id, "status": "pending",
                     "attempts": 0, "created_at": now, "next_attempt_at": now,
                     "uid": uuid.uuid4().hex}
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
#
# A target type is one class: its ``type`` name, its ``Options`` (keys, types, ranges,
# defaults), its ``default_kinds``, and ``send``. ``register`` adds it to TARGETS, which
# the config check, the scheduler and `xunshi outbox` all read. A new target is one class.


class Target:
    """The base of every target: what the outbox hands rows to."""

    type: ClassVar[str]
    Options: ClassVar[builtins.type[DeliveryOptions]] = DeliveryOptions
    # None: the event-kinds table (store/events.py) says which kinds this type receives
    default_kinds: ClassVar[tuple[str, ...] | None] = None
    path_key: ClassVar[str | None] = None  # the key naming a file or folder, if any

    def __init__(self, delivery: Delivery) -> None:
        self.d = delivery
        # Set by the delivery pass: when it must end (time.monotonic()), and whether it
        # was asked to stop (SIGTERM). A target that waits on the network honours both.
        self.pass_deadline: float | None = None
        self.cancelled: Callable[[], bool] = lambda: False

    @property
    def batch_size(self) -> int:
        """How many outbox rows one ``send`` takes."""
        return FILE_BATCH

    @classmethod
    def kinds_by_default(cls) -> tuple[str, ...]:
        """What a delivery of this type receives when its config names no kinds."""
        return cls.default_kinds if cls.default_kinds is not None else default_kinds(cls.type)

    def take(self, rows: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
        """The rows (a prefix of the due ones) that the next ``send`` handles at once."""
        return rows

    def send(self, store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """One line for logs and `schedule --list`: never a secret."""
        return f"{self.type} {self.d.path}"

    @classmethod
    def expand(cls, delivery: Delivery) -> list[Delivery]:
        """The deliveries the outbox keeps apart (one per receiver, where there are many)."""
        return [delivery]


TARGETS: dict[str, type[Target]] = {}
T = TypeVar("T", bound=type[Target])


def register(cls: T) -> T:
    """Make a target type known to the config (its ``type`` name) and the outbox."""
    TARGETS[cls.type] = cls
    return cls


@register
class WebhookTarget(Target):
    """POST each event (or a batch) as JSON, optionally signed with HMAC-SHA256."""

    type = "webhook"

    class Options(DeliveryOptions):
        # the URL may hold a token or user:password (sent as Basic auth): never shown
        url: str = Field(min_length=1, max_length=4096, repr=False)
        secret_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
        batch_size: int = Field(1, ge=1, le=1000)
        timeout: float = Field(10.0, gt=0, le=600)  # for the whole request, not per read

        @field_validator("url")
        @classmethod
        def _http(cls, url: str) -> str:
            return check_http_url(url)

    @property
    def batch_size(self) -> int:
        return int(self.d.batch_size)

    def send(self, store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
        uids = {r["event_id"]: r["uid"] for r in rows}
        payloads = [
            {**event_payload(store, e), "delivery_id": uids[e["id"]]}
            for e in _events(store, list(uids))
        ]
        batched = self.d.batch_size > 1
        body = json.dumps(
            {"events": payloads} if batched else payloads[0], ensure_ascii=False
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            # The delivery_id (the outbox row's random id: the same on every resend, never
            # reused, unlike event ids after a database is recreated or restored); in
            # batch mode every delivery_id of the body, comma-separated.
            "Idempotency-Key": ",".join(p["delivery_id"] for p in payloads),
            "X-Xunshi-Event": "batch" if batched else payloads[0]["kind"],
        }
        if self.d.secret_env:
            secret = os.environ.get(self.d.secret_env)
            if not secret:
                raise DeliveryError(f"environment variable {self.d.secret_env} is not set")
            headers["X-Xunshi-Signature"] = sign(secret, body)
        url, auth = split_credentials(self.d.url)
        post(url, body, headers, self.deadline(), auth=auth)

    def deadline(self) -> Deadline:
        """The request's deadline: its timeout, or less if the pass must end sooner."""
        seconds = float(self.d.timeout)
        if self.pass_deadline is not None:
            seconds = min(seconds, max(self.pass_deadline - time.monotonic(), 0.01))
        return Deadline(seconds, self.cancelled)

    def describe(self) -> str:
        signed = f", signed with ${self.d.secret_env}" if self.d.secret_env else ""
        batch = f", {self.d.batch_size} events a request" if self.d.batch_size > 1 else ""
        auth = ", Basic auth" if split_credentials(self.d.url)[1] else ""
        return f"webhook {redact_url(self.d.url)}{auth}{signed}{batch}"


@register
class AtomTarget(Target):
    """Rewrites the whole feed (the newest ``max_entries`` feed events) whenever rows arrive."""

    type = "atom"
    path_key = "path"

    class Options(FileOptions):
        title: str = Field(FEED_TITLE, max_length=500)
        feed_id: str | None = Field(None, min_length=1, max_length=500)
        link: str | None = Field(None, max_length=4096)
        max_entries: int = Field(100, ge=1, le=10000)

        @field_validator("link")
        @classmethod
        def _http(cls, url: str | None) -> str | None:
            return check_http_url(url) if url else url

    def send(self, store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
        with _io_errors():
            write_atom(
                store, self.d.path, title=self.d.title, kinds=self.d.kinds,
                feed_id=self.d.feed_id or f"urn:xunshi-watch:{self.d.name}",
                link=self.d.link, max_entries=self.d.max_entries,
            )  # fmt: skip


@register
class TxtTarget(Target):
    """Writes the seed-format text of each new version to ``<dir>/<site>/…v<N>.txt``."""

    type = "txt"
    path_key = "dir"

    class Options(DeliveryOptions):
        dir: str = Field(min_length=1, max_length=4096)

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
                    write_seed(self.d.path, notice, n, version["text"])


@register
class JsonLinesTarget(Target):
    """Appends one JSON object per event, with ``delivery_id``: the outbox row's own id.

    After a crash between writing and marking, rows whose ``delivery_id`` is already in
    the file's tail are not written again. The ``delivery_id`` is random, never reused:
    a database recreated or restored from a backup reuses event ids, and a file kept
    from before must not make its new events look written.
    """

    type = "jsonl"
    path_key = "path"

    class Options(FileOptions):
        pass

    def send(self, store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
        assert self.d.path is not None
        path = self.d.path
        uids = {r["event_id"]: r["uid"] for r in rows}
        with _io_errors():
            path.parent.mkdir(parents=True, exist_ok=True)
            written = _jsonl_delivery_ids(path)
            lines = [
                json.dumps({**event_payload(store, e), "delivery_id": uids[e["id"]]},
                           ensure_ascii=False) + "\n"
                for e in _events(store, list(uids))
                if uids[e["id"]] not in written
            ]  # fmt: skip
            with path.open("a", encoding="utf-8") as fh:
                fh.write("".join(lines))
                fh.flush()
                os.fsync(fh.fileno())


@register
class CsvTarget(Target):
    """Rewrites a CSV of every notice (its latest text, unit and districts)."""

    type = "csv"
    path_key = "path"

    class Options(FileOptions):
        bom: bool = False  # start with a UTF-8 BOM, so Excel reads the Chinese as UTF-8

    def send(self, store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
        assert self.d.path is not None
        text = ("\ufeff" if self.d.bom else "") + notices_csv(store.export_rows())
        with _io_errors():
            atomic_write(self.d.path, text.encode("utf-8"))


# -- Apprise: chat and e-mail --------------------------------------------------------------


@register
class AppriseTarget(Target):
    """Chat and e-mail through Apprise (WeCom, DingTalk, Feishu, Telegram, Slack, SMTP…).

    One message per event, or with ``digest = true`` one per run. Each URL is its own
    delivery in the outbox (``<name>#<hash>``): a receiver that was down gets what it
    missed, one that took a message never gets it again. URLs hold tokens: they come
    from the config or the environment variable ``urls_env`` names, and are never
    written to a log, a report or the database (messages name the service only).
    """

    type = "apprise"

    class Options(DeliveryOptions):
        urls: list[str] | None = Field(None, min_length=1, max_length=50, repr=False)
        urls_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
        digest: bool = False
        timeout: float = Field(30.0, gt=0, le=600)  # for one message

        @model_validator(mode="after")
        def _one_source(self) -> AppriseTarget.Options:
            if (self.urls is None) == (self.urls_env is None):
                raise ValueError('give urls = [...] or urls_env = "VARIABLE" (one of them)')
            for url in self.urls or []:
                _apprise_check(url)
            return self

    @property
    def batch_size(self) -> int:
        return FILE_BATCH if self.d.digest else 1

    def take(self, rows: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
        if not self.d.digest:
            return rows[:1]
        run = rows[0]["run_id"]
        return [r for r in itertools.takewhile(lambda r: r["run_id"] == run, rows)]

    @classmethod
    def urls_of(cls, d: Delivery) -> list[str]:
        if d.urls is not None:
            return list(d.urls)
        value = os.environ.get(d.urls_env or "", "")
        urls = value.split()
        if not urls:
            raise DeliveryError(f"environment variable {d.urls_env} is not set")
        for url in urls:
            try:
                _apprise_check(url)
            except ValueError as exc:
                raise DeliveryError(f"${d.urls_env}: {exc}", retry=False) from None
        return urls

    @classmethod
    def expand(cls, delivery: Delivery) -> list[Delivery]:
        urls = cls.urls_of(delivery)
        if len(urls) == 1 and delivery.urls_env is None:
            return [_one_url(delivery, urls[0], delivery.name)]
        return [
            _one_url(
                delivery, url, f"{delivery.name}#{hashlib.sha256(url.encode()).hexdigest()[:8]}"
            )
            for url in urls
        ]

    def send(self, store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
        import apprise

        _quiet_apprise()
        events = _events(store, [r["event_id"] for r in rows])
        title, body = (
            digest_message(store, events) if self.d.digest else event_message(store, events[0])
        )
        urls = self.urls_of(self.d)
        seconds = float(self.d.timeout)
        if self.pass_deadline is not None:
            seconds = min(seconds, max(self.pass_deadline - time.monotonic(), 0.5))
        for url in urls:
            box = apprise.Apprise()
            if not box.add(url):
                raise DeliveryError(f"{_service(url)}: Apprise cannot use this URL", retry=False)
            result = box.notify(
                body=body, title=title, body_format=apprise.NotifyFormat.TEXT, timeout=seconds
            )
            if not result:
                why = (
                    "; ".join(
                        _scrub_all(str(getattr(e, "message", e)), url)
                        for e in result.logs()
                        if str(getattr(e, "level", "")) in ("WARNING", "ERROR")
                    )
                    or f"status {result.status.name}"
                )
                raise DeliveryError(f"{_service(url)} did not take the message: {why}"[:500])

    def describe(self) -> str:
        try:
            urls = self.urls_of(self.d)
        except DeliveryError as exc:
            return f"apprise ({exc})"
        digest = ", a digest per run" if self.d.digest else ""
        return f"apprise {', '.join(_service(u) for u in urls)}{digest}"


def _one_url(d: Delivery, url: str, name: str) -> Delivery:
    options = d.options.model_copy(update={"urls": [url], "urls_env": None, "name": name})
    return dataclasses.replace(d, name=name, options=options)


def _quiet_apprise() -> None:
    """Keep Apprise's own log lines (its debug lines print service URLs, tokens and all)
    out of ours; a failure's reason is taken from its result, scrubbed (_scrub_all)."""
    logging.getLogger("apprise").propagate = False


def _apprise_check(url: str) -> None:
    import apprise

    _quiet_apprise()

    if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
        raise ValueError(f"Apprise does not know the URL {_service(url)}")


def _service(url: str) -> str:
    """What a message may say about an Apprise URL: its service, never its tokens."""
    import apprise

    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    scheme = url.partition("://")[0][:20] or "?"
    name = getattr(plugin, "service_name", None) or "unknown service"
    return f"{name} ({scheme}://…)"


def _scrub_all(text: str, url: str) -> str:
    """``text`` without any piece of ``url`` that could be a token."""
    pieces = [p for p in re.split(r"[/:@?&=#]+", url.partition("://")[2]) if len(p) >= 4]
    for piece in sorted(set(pieces) | {unquote(p) for p in pieces}, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


# The registered types, and what each receives by default (the event-kinds table).
DELIVERY_TYPES: tuple[str, ...] = tuple(TARGETS)
DEFAULT_KINDS: dict[str, tuple[str, ...]] = {t: default_kinds(t) for t in DELIVERY_TYPES}


@contextlib.contextmanager
def _io_errors() -> Iterator[None]:
    """File targets: a disk that is full or a folder that is not writable is retried later."""
    try:
        yield
    except OSError as exc:
        raise DeliveryError(f"cannot write: {exc}") from None


# -- files ------------------------------------------------------------------------------


JSONL_TAIL = 8 << 20  # bytes of a JSON Lines file searched for rows already written


def _jsonl_delivery_ids(path: Path) -> set[str]:
    """The ``delivery_id`` of the lines at the end of a JSON Lines file.

    A torn last line (a crash mid-write) is cut off first. Rows pending after a crash
    were written last, so the tail is where they are.
    """
    if not path.exists():
        return set()
    with path.open("rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        chunk = min(size, JSONL_TAIL)
        fh.seek(size - chunk)
        tail = fh.read(chunk)
        if tail and not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n") + 1  # 0 when the whole tail is one torn line
            fh.truncate(size - chunk + cut)
            tail = tail[:cut]
    found = set()
    for line in tail.splitlines():
        if b'"delivery_id"' not in line:
            continue
        try:
            value = json.loads(line).get("delivery_id")
        except (ValueError, AttributeError):
            continue
        if isinstance(value, str):
            found.add(value)
    return found


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
    time_limit: float | None = None,
) -> list[PassResult]:
    """Hand every delivery its due rows, in event order; return what happened per delivery.

    With ``time_limit`` (seconds) the pass ends by then: each delivery gets an equal share
    of the time left (what one does not use goes to the next), no request outlives it,
    and what is left stays in the outbox for the next pass. ``should_stop()`` becoming
    true (SIGTERM) ends the pass at once, cutting a request in flight (it is re-sent).

    ``after_send(delivery, event_ids)`` runs after a target took events and before they are
    marked sent (tests pause there to kill the process).
    """
    store = Store.open(db_path)
    outbox = Outbox(store.db, clock=(lambda: now) if now else None)
    end = time.monotonic() + time_limit if time_limit is not None else None
    results = []
    try:
        for i, d in enumerate(deliveries):
            share = None
            if end is not None:
                share = time.monotonic() + max(end - time.monotonic(), 0) / (len(deliveries) - i)
            results.append(_deliver_one(store, outbox, d, should_stop, after_send, share))
    finally:
        store.close()
    return results


def _deliver_one(
    store: Store,
    outbox: Outbox,
    d: Delivery,
    should_stop: Callable[[], bool] | None,
    after_send: AfterSend | None,
    deadline: float | None = None,
) -> PassResult:
    result = PassResult(d.name)
    target = d.target(d)
    target.pass_deadline = deadline
    if should_stop:
        target.cancelled = should_stop
    limit = target.batch_size
    while True:
        if should_stop and should_stop():
            result.stopped = True
            break
        if deadline is not None and time.monotonic() >= deadline:
            result.stopped = True  # out of time for this pass: the rest waits for the next
            break
        rows = outbox.due(d.name, limit)
        if not rows:
            break
        rows = [dict(r) for r in target.take(rows)]
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
            if (should_stop and should_stop()) or (
                deadline is not None and time.monotonic() >= deadline
            ):
                # cut by SIGTERM or the pass's end, not the receiver's fault: still due
                result.stopped = True
                logger.info("%s: events %s wait for the next pass: %s", d.name, ids, exc)
                break
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
