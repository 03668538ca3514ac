"""Deliveries and configuration under hostile conditions (issue 17 items 14-17, issue 15 item 4).

Receivers here run on 127.0.0.1: a well-behaved one (tests/test_deliver.py) and slow ones
that trickle their answer a byte at a time or never finish their headers.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from click.testing import CliRunner

import scheduler
from cli_deliver import outbox as outbox_cmd
from store.deliver import (
    TARGETS,
    ConfigError,
    Delivery,
    DeliveryOptions,
    Target,
    deliver_pending,
    register,
)
from store.notices import Store
from tests.test_deliver import (  # noqa: F401 (fixtures)
    T0,
    Receiver,
    delivery_keys,
    enqueue,
    no_proxies,
    outbox_rows,
    receiver,
    record_run,
)
from tests.test_sites_golden import MANIFEST

ROOT = Path(__file__).resolve().parents[2]
SITE = '[sites.zjsjw]\ncron = "17 7 * * *"\n'


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "xunshi.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- 15.4 deliveries as a registry --------------------------------------------------------


def test_a_new_target_is_one_class(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its type name, keys (types, defaults) and default kinds in one place: the config
    accepts it, checks its keys, and the outbox hands it rows."""
    monkeypatch.setattr("store.deliver.TARGETS", dict(TARGETS))
    got: list[tuple[str, int]] = []

    @register
    class Shout(Target):
        type = "shout"
        default_kinds = ("new_notice",)

        class Options(DeliveryOptions):
            word: str = "新"
            times: int = 1

        def send(self, store: Store, rows: Sequence[Mapping[str, Any]]) -> None:
            got.extend((self.d.word * self.d.times, r["event_id"]) for r in rows)

    path = write_config(tmp_path, SITE + '[[deliveries]]\ntype = "shout"\ntimes = 2\n')
    config = scheduler.load_config(path)
    (d,) = config.deliveries
    assert (d.name, d.type, d.kinds, d.word, d.times) == (
        "shout",
        "shout",
        ("new_notice",),
        "新",
        2,
    )
    with pytest.raises(ConfigError, match="times must be a valid integer, not 'two'"):
        scheduler.load_config(
            write_config(tmp_path, SITE + '[[deliveries]]\ntype = "shout"\ntimes = "two"\n')
        )
    with pytest.raises(ConfigError, match="unknown key.*loud; a shout delivery takes"):
        Delivery.from_config({"type": "shout", "loud": True})

    run, events = record_run(db_path)
    enqueue(db_path, run, d)
    assert deliver_pending(db_path, [d])[0].sent == 3
    assert got == [("新新", e) for e in events]


# -- 17.15 the config is checked up front -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SITE + 'full = "no"\n', "[sites.zjsjw]: full must be a valid boolean, not 'no'"),
        (SITE + "time_limit = inf\n", "[sites.zjsjw]: time_limit must be a finite number, not inf"),
        ("misfire_grace_time = inf\n" + SITE, "misfire_grace_time must be a valid integer, not inf"),
        ("misfire_grace_time = 1.5\n" + SITE, "misfire_grace_time must be a valid integer"),
        ("retry_every = nan\n" + SITE, "retry_every must be a finite number, not nan"),
        ("retry_every = -5\n" + SITE, "retry_every must be a positive number, not -5"),
        ("time_limit = 1e30\n" + SITE, "time_limit must be less than or equal to 604800"),
        ("deliveries = [1]\n" + SITE, "[[deliveries]] #1: must be a table ([[deliveries]]), not 1"),
        ('deliveries = "all"\n' + SITE, "deliveries must be a valid list, not 'all'"),
        ('timezone = 8\n' + SITE, "timezone must be a valid string, not 8"),
        ('db = ""\n' + SITE, "db must have at least 1 character"),
        ("[sites]\nzjsjw = 5\n", '[sites.zjsjw]: must be a table with cron = "…", not 5'),
        (SITE + 'start_url = "file:///etc/passwd"\n', "start_url: must be an http:// or https:// URL"),
        (SITE + '[[deliveries]]\ntype = "webhook"\nurl = "http://h/"\nbatch_size = 1e30\n',
         "[[deliveries]] #1 webhook: batch_size must be a valid integer, not 1e+30"),
        (SITE + '[[deliveries]]\ntype = "webhook"\nurl = "http://h/"\ntimeout = inf\n',
         "timeout must be a finite number, not inf"),
        (SITE + '[[deliveries]]\ntype = "webhook"\nurl = "http://h/"\ntimeout = 86400\n',
         "timeout must be less than or equal to 600"),
        (SITE + '[[deliveries]]\ntype = "jsonl"\npath = "e"\nbackoff = nan\n',
         "backoff must be a finite number, not nan"),
        (SITE + '[[deliveries]]\ntype = "atom"\npath = "f"\nmax_entries = inf\n',
         "max_entries must be a valid integer, not inf"),
        (SITE + '[[deliveries]]\ntype = "csv"\npath = "n.csv"\nbom = "yes"\n',
         "bom must be a valid boolean, not 'yes'"),
        (SITE + '[[deliveries]]\ntype = "jsonl"\npath = "e"\nkinds = "new_notice"\n',
         "kinds must be a valid list"),
        (SITE + '[[deliveries]]\ntype = "webhook"\nurl = "http://h:99999/"\n',
         "url: must be an http:// or https:// URL with a valid host and port"),
        (SITE + '[[deliveries]]\ntype = "jsonl"\npath = "e"\n[[deliveries]]\nname = "b"\n'
                'type = "jsonl"\npath = "./e"\n', "two deliveries write"),
    ],
)  # fmt: skip
def test_config_types_and_ranges_are_checked_with_file_key_and_reason(
    tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        scheduler.load_config(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    # the commands say it in one line, exit 2, and run nothing
    assert scheduler.main(["--config", str(path), "--once"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "xunshi.db").exists()


def test_good_values_keep_their_types(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        "time_limit = 600\nmisfire_grace_time = 60\nretry_every = 30.5\n" + SITE
        + "full = true\n[[deliveries]]\ntype = \"csv\"\npath = \"n.csv\"\nbom = true\n",
    )  # fmt: skip
    config = scheduler.load_config(path)
    site = config.sites[0]
    assert (site.full, site.time_limit, config.retry_every) == (True, 600.0, 30.5)
    assert config.deliveries[0].bom is True and config.deliveries[0].path == tmp_path / "n.csv"


# -- 17.16 credentials in a webhook URL ---------------------------------------------------


def test_credentials_in_a_url_are_basic_auth_and_never_shown(
    db_path: Path,
    receiver: Receiver,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    password = "PA55-w0rd:é"  # percent-encoded in the URL
    hook = receiver.url.replace("http://", "http://bot:PA55-w0rd%3A%C3%A9@")
    path = write_config(
        tmp_path,
        f'db = "{db_path}"\n' + SITE + f'[[deliveries]]\nname = "hook"\ntype = "webhook"\n'
        f'url = "{hook}"\nbackoff = 1\nkinds = ["new_notice"]\n',
    )  # fmt: skip
    config = scheduler.load_config(path)
    (d,) = config.deliveries
    run, events = record_run(db_path)
    enqueue(db_path, run, d)
    caplog.set_level(logging.DEBUG)

    receiver.fail_first = 1  # the first attempt fails: its error is stored and logged
    first = deliver_pending(db_path, [d], now=T0)[0]
    assert first.error and "HTTP 503 from http://127.0.0.1:" in first.error
    assert deliver_pending(db_path, [d], now=T0 + timedelta(seconds=5))[0].sent == 3

    expected = "Basic " + base64.b64encode(f"bot:{password}".encode()).decode()
    assert {r["headers"]["authorization"] for r in receiver.requests} == {expected}
    assert receiver.accepted == delivery_keys(db_path, events)
    listing = scheduler.CrawlScheduler(config).listing()
    assert "webhook http://127.0.0.1:" in listing and "Basic auth" in listing
    seen = caplog.text + listing + json.dumps(outbox_rows(db_path)) + repr(d) + d.describe()
    for secret in ("PA55", "w0rd", "%3A%C3%A9"):
        assert secret not in seen


def test_an_unreachable_url_with_credentials_says_so_without_them(db_path: Path) -> None:
    d = Delivery.from_config(
        {"type": "webhook", "url": "http://bot:PASS@127.0.0.1:9/hook?token=TOK", "timeout": 5}
    )
    run, _ = record_run(db_path)
    enqueue(db_path, run, d)
    result = deliver_pending(db_path, [d])[0]
    assert result.error and result.error.startswith("cannot reach http://127.0.0.1:9/hook")
    stored = json.dumps(outbox_rows(db_path))
    assert "PASS" not in stored + result.error and "TOK" not in stored + result.error


# -- 17.14 slow receivers: a deadline for the whole request; crawls never wait -------------


class SlowReceiver:
    """An HTTP receiver on 127.0.0.1 that reads the request, then answers badly:
    ``trickle`` (the whole answer one byte at a time), ``slow-headers`` (the status line
    at once, then a header line now and then, never the end), or ``hold`` (nothing until
    ``release()``, then 200)."""

    def __init__(self, mode: str, pause: float = 0.3) -> None:
        self.mode, self.pause = mode, pause
        self.requests = 0
        self.active = 0
        self.accepted: list[str] = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.closed = threading.Event()
        receiver = self  # noqa: F811

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests += 1
                    receiver.active += 1
                try:
                    receiver.answer(self)
                except OSError:
                    pass  # the client gave up: what these tests expect
                finally:
                    with receiver.lock:
                        receiver.active -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, h: BaseHTTPRequestHandler) -> None:
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        if self.mode == "trickle":
            for i in range(len(answer)):
                if self.closed.wait(self.pause):
                    return
                h.wfile.write(answer[i : i + 1])
                h.wfile.flush()
        elif self.mode == "slow-headers":
            h.wfile.write(b"HTTP/1.1 200 OK\r\n")
            for i in range(1000):
                if self.closed.wait(self.pause):
                    return
                h.wfile.write(f"X-Wait-{i}: 1\r\n".encode())
                h.wfile.flush()
        else:  # hold
            if not self.released.wait(120) or self.closed.is_set():
                return
            key = h.headers.get("Idempotency-Key") or ""
            with self.lock:
                if key not in self.accepted:
                    self.accepted.append(key)
            h.wfile.write(answer)

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.closed.set()
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow() -> Iterator[Callable[..., SlowReceiver]]:
    made: list[SlowReceiver] = []

    def make(mode: str, pause: float = 0.3) -> SlowReceiver:
        made.append(SlowReceiver(mode, pause))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.mark.parametrize("mode", ["trickle", "slow-headers"])
def test_a_receiver_that_trickles_is_cut_at_the_deadline(
    db_path: Path, slow: Callable[..., SlowReceiver], mode: str
) -> None:
    receiver = slow(mode)  # noqa: F811  # the trickled answer would take 60 x 0.3 s = 18 s, headers forever
    d = Delivery.from_config(
        {"type": "webhook", "url": receiver.url, "timeout": 1.5, "kinds": ["new_notice"]}
    )
    run, _ = record_run(db_path)
    enqueue(db_path, run, d)
    began = time.monotonic()
    result = deliver_pending(db_path, [d], now=T0)[0]
    took = time.monotonic() - began
    assert result.error == f"no answer from {receiver.url} within 1.5 s"
    assert took < 10, f"the request ran {took:.1f} s past its 1.5 s deadline"
    assert (receiver.requests, result.sent) == (1, 0)  # the queue waits behind the first
    assert {r["status"] for r in outbox_rows(db_path)} == {"pending"}
    assert outbox_rows(db_path)[0]["attempts"] == 1  # retried later, with backoff


def test_outbox_retry_ends_by_the_delivery_time_limit(
    db_path: Path, slow: Callable[..., SlowReceiver], tmp_path: Path
) -> None:
    receiver = slow("hold")  # noqa: F811  # never answers while the command runs
    path = write_config(
        tmp_path,
        f'db = "{db_path}"\ndeliver_time_limit = 2\n' + SITE + '[[deliveries]]\nname = "hook"\n'
        f'type = "webhook"\nurl = "{receiver.url}"\ntimeout = 600\nkinds = ["new_notice"]\n',
    )  # fmt: skip
    run, _ = record_run(db_path)
    enqueue(db_path, run, scheduler.load_config(path).deliveries[0])
    began = time.monotonic()
    result = CliRunner().invoke(outbox_cmd, ["--config", str(path), "--retry", "--format", "json"])
    took = time.monotonic() - began
    assert result.exit_code == 0, result.output
    assert took < 20, f"outbox --retry took {took:.1f} s with deliver_time_limit = 2"
    assert json.loads(result.output)["delivered"] == ["hook: 0 sent"]
    rows = outbox_rows(db_path)
    assert {r["status"] for r in rows} == {"pending"} and rows[0]["attempts"] == 0  # not its fault


def two_sites_config(tmp_path: Path, serve: Any, extra: str) -> Path:
    text = 'db = "x.db"\ntime_limit = 120\n'
    for minute, name in enumerate(("zjsjw", "shjjjc")):  # two crons: two crawls
        site = serve(name)
        text += (f'[sites.{name}]\ncron = "{minute} 0 1 1 *"\n'
                 f'start_url = "{site.url(MANIFEST[name]["start"])}"\n')  # fmt: skip
    return write_config(tmp_path, text + extra)


def test_a_receiver_that_never_answers_does_not_delay_the_next_crawl(
    serve: Any, tmp_path: Path, slow: Callable[..., SlowReceiver]
) -> None:
    receiver = slow("hold")  # noqa: F811  # answers only once the test says so
    path = two_sites_config(
        tmp_path, serve,
        f'[[deliveries]]\nname = "hook"\ntype = "webhook"\nurl = "{receiver.url}"\n'
        'timeout = 300\nkinds = ["new_notice"]\n',
    )  # fmt: skip
    config = scheduler.load_config(path)
    held_during: list[tuple[str, int]] = []

    def finished(result: Any) -> None:
        held_during.append((result.site, receiver.active))
        if result.site == "shjjjc" and not receiver.released.is_set():
            receiver.release()  # now let it answer
            crawls.request_stop()

    crawls = scheduler.CrawlScheduler(
        config,
        trigger_for=lambda site, tz: IntervalTrigger(seconds=1, timezone=tz),
        on_result=finished,
    )
    # A watchdog, so that a broken stop fails the test instead of hanging it.
    watchdog = threading.Timer(120, os.kill, (os.getpid(), signal.SIGTERM))
    watchdog.start()
    try:
        assert crawls.run_forever() == 0
    finally:
        watchdog.cancel()
    # zjsjw's crawl queued its events; while the receiver held the first of them, the
    # shjjjc crawl ran and finished: the delivery ran beside it, not before it
    assert held_during[0][0] == "zjsjw"
    assert ("shjjjc", 1) in held_during
    # what the stop left in the outbox goes out on the next pass: every event, once
    deliver_pending(config.db, config.deliveries)
    store = Store.open(config.db)
    try:
        new = store.db.execute("select count(*) from events where kind = 'new_notice'").fetchone()
        sent = store.db.execute("select count(*) from outbox where status = 'sent'").fetchone()
    finally:
        store.close()
    assert sent[0] == new[0] == len(receiver.accepted) > 3


def test_sigterm_while_a_receiver_holds_a_delivery_stops_at_once(
    serve: Any, tmp_path: Path, slow: Callable[..., SlowReceiver]
) -> None:
    receiver = slow("hold")  # noqa: F811
    site = serve("zjsjw")
    path = write_config(
        tmp_path,
        'db = "x.db"\ndeliver_time_limit = 600\n[sites.zjsjw]\ncron = "0 0 1 1 *"\n'
        f'start_url = "{site.url(MANIFEST["zjsjw"]["start"])}"\n[[deliveries]]\nname = "hook"\n'
        f'type = "webhook"\nurl = "{receiver.url}"\ntimeout = 600\nkinds = ["new_notice"]\n',
    )  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "scheduler.py", "--config", str(path), "--once"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(600):  # the crawl, then the first delivery request (up to 60 s)
            if receiver.requests or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert receiver.requests == 1, proc.stderr.read() if proc.poll() is not None else ""
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert took < 15, f"SIGTERM took {took:.1f} s while a delivery waited (timeout 600 s)"
    assert "Traceback" not in err
    store = Store.open(tmp_path / "x.db")
    try:
        rows = list(store.db.table("outbox").rows_where(order_by="event_id"))
    finally:
        store.close()
    assert rows and {r["status"] for r in rows} == {"pending"}
    assert rows[0]["attempts"] == 0  # cut by the stop, not the receiver's fault: due again


# -- 17.17 JSON Lines bookkeeping that survives shared files and recreated databases -------


def jsonl_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_two_jsonl_deliveries_to_one_file_lose_nothing(db_path: Path, tmp_path: Path) -> None:
    """The config refuses it; made anyway (two configs, one file), every event is written."""
    path = tmp_path / "events.jsonl"
    a = Delivery.from_config(
        {"name": "a", "type": "jsonl", "path": str(path), "kinds": ["new_district"]}
    )
    b = Delivery.from_config(
        {"name": "b", "type": "jsonl", "path": str(path), "kinds": ["new_notice"]}
    )
    run, events = record_run(db_path)
    enqueue(db_path, run, a, b)
    first, second = deliver_pending(db_path, [a, b])
    assert first.sent == 3 and second.sent == 3
    lines = jsonl_lines(path)
    assert [x["kind"] for x in lines] == ["new_district"] * 3 + ["new_notice"] * 3
    assert sorted(x["id"] for x in lines if x["kind"] == "new_notice") == events
    sent = {r["uid"] for r in outbox_rows(db_path) if r["status"] == "sent"}
    assert {x["delivery_id"] for x in lines} == sent and len(sent) == 6


def test_a_recreated_database_does_not_make_new_events_look_written(
    db_path: Path, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    d = Delivery.from_config({"name": "log", "type": "jsonl", "path": str(path)})
    run, _ = record_run(db_path)
    enqueue(db_path, run, d)
    assert deliver_pending(db_path, [d])[0].sent == 6
    before = jsonl_lines(path)

    for suffix in ("", "-wal", "-shm"):  # the database is lost; events.jsonl is kept
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    run, events = record_run(  # the new database gives its events the same ids again
        db_path, [("中共台州市椒江区委关于巡视整改的通报", "巡视整改\n第二轮")]
    )
    enqueue(db_path, run, d)
    result = deliver_pending(db_path, [d])[0]
    assert result.sent == 2
    after = jsonl_lines(path)
    assert after[: len(before)] == before
    new = after[len(before) :]
    assert [x["kind"] for x in new] == ["new_notice", "new_district"]
    assert new[0]["id"] == events[0] and new[0]["id"] in {x["id"] for x in before}  # reused id
    assert new[0]["notice"]["title"] == "中共台州市椒江区委关于巡视整改的通报"


def test_a_crash_after_writing_does_not_write_twice(db_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    d = Delivery.from_config({"name": "log", "type": "jsonl", "path": str(path)})
    run, _ = record_run(db_path)
    enqueue(db_path, run, d)

    def crash(delivery: Delivery, ids: list[int]) -> None:
        raise RuntimeError("power cut after the write, before the outbox knew")

    with pytest.raises(RuntimeError):
        deliver_pending(db_path, [d], after_send=crash)
    written = jsonl_lines(path)
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"id": 1, "kind": "torn')  # and the next write was torn
    assert deliver_pending(db_path, [d])[0].sent == 6
    assert jsonl_lines(path) == written  # nothing twice, the torn line gone


def test_a_receiver_that_dedupes_sees_the_events_of_a_recreated_database(
    db_path: Path,
    receiver: Receiver,  # noqa: F811
) -> None:
    """The same family for webhooks: the Idempotency-Key is the delivery_id, not the
    event id that a new database gives out again."""
    d = Delivery.from_config({"name": "hook", "type": "webhook", "url": receiver.url,
                              "kinds": ["new_notice"]})  # fmt: skip
    run, first = record_run(db_path)
    enqueue(db_path, run, d)
    assert deliver_pending(db_path, [d])[0].sent == 3
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    run, second = record_run(
        db_path, [("中共台州市椒江区委关于巡视整改的通报", "巡视整改\n第二轮")]
    )
    assert second[0] in first  # the id is given out again
    enqueue(db_path, run, d)
    assert deliver_pending(db_path, [d])[0].sent == 1
    assert len(receiver.accepted) == 4  # taken as new, not ignored as a repeat
    last = json.loads(receiver.requests[-1]["body"])
    assert last["notice"]["title"] == "中共台州市椒江区委关于巡视整改的通报"
