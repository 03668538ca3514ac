"""Deliveries through the outbox: webhooks (retries, order, idempotency keys, a kill -9), Atom,
seed-format files with hostile names, JSON Lines, CSV, and the `xunshi outbox` command.

Run as a program (``python -m tests.test_deliver DB URL``) this file is the deliverer of the
kill -9 test; XUNSHI_TEST_PAUSE_AFTER_SEND makes it stop between sending and marking sent.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli_deliver import outbox as outbox_cmd
from store.deliver import ConfigError, Delivery, Outbox, deliver_pending
from store.exports import safe_component, seed_file_path, write_seed_files
from store.notices import Store
from tests.test_store import make_notice

ROOT = Path(__file__).resolve().parents[1]
ATOM = "{http://www.w3.org/2005/Atom}"
SECRET_ENV = "XUNSHI_TEST_WEBHOOK_SECRET"
SECRET = "s3cret-never-logged"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver is on 127.0.0.1: make sure no proxy setting sends requests elsewhere."""
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


# -- a webhook receiver on 127.0.0.1 ------------------------------------------------------


@dataclass
class Receiver:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)  # idempotency keys, first time only
    fail_first: int = 0  # answer 503 to this many requests
    answer: Callable[[dict[str, Any]], tuple[int, dict[str, str]] | None] | None = None

    def keys(self) -> list[str]:
        return [r["key"] for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            req = {"key": self.headers.get("Idempotency-Key"), "body": body,
                   "headers": {k.lower(): v for k, v in self.headers.items()}}  # fmt: skip
            with lock:
                rec.requests.append(req)
                status, headers = 200, {}
                if len(rec.requests) <= rec.fail_first:
                    status = 503
                elif rec.answer and (answer := rec.answer(req)):
                    status, headers = answer
                if status == 200 and req["key"] not in rec.accepted:
                    rec.accepted.append(req["key"])  # a repeat is acknowledged and ignored
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield rec
    server.shutdown()
    server.server_close()


def webhook(url: str, **extra: Any) -> Delivery:
    return Delivery.from_config(
        {"name": "hook", "type": "webhook", "url": url, "secret_env": SECRET_ENV,
         "kinds": ["new_notice", "changed", "removed"], "backoff": 60, **extra}
    )  # fmt: skip


URL = "http://www.zjsjw.gov.cn/gongzuodongtai/xunshixuncha/2025{:02d}/t{}_ext.html"


def record_run(
    db_path: Path, notices: list[tuple[str, str]] | None = None, first: int = 0
) -> tuple[int, list[int]]:
    """A run that recorded some notices (at URL i + first); its id and new_notice event ids."""
    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    for i, (title, text) in enumerate(notices or [
        ("中共杭州市拱墅区委关于省委巡视整改进展情况的通报", "第一段巡视整改\n给予党纪处分8人次"),
        ("中共宁波市鄞州区委关于省委巡视整改进展情况的通报", "第一段巡视整改\n建立完善制度12项"),
        ("中共嘉兴市委关于省委巡视整改情况的通报", "第一段巡视整改\n挽回经济损失625.4万元"),
    ]):  # fmt: skip
        store.record(make_notice(text, url=URL.format(i + 1, first + i), title=title), run)
    store.finish_run(run, "ok")
    events = [e["id"] for e in store.events(run_id=run, kind="new_notice")]
    store.close()
    return run, events


def enqueue(db_path: Path, run: int, *deliveries: Delivery) -> int:
    """Queue a run at T0 (tests then deliver at T0 + their own delays)."""
    store = Store.open(db_path)
    try:
        return Outbox(store.db, clock=lambda: T0).enqueue_run(run, deliveries)
    finally:
        store.close()


def delivery_keys(db_path: Path, events: list[int]) -> list[str]:
    """The Idempotency-Keys of these events: their outbox rows' delivery_id (one delivery)."""
    uid = {r["event_id"]: r["uid"] for r in outbox_rows(db_path)}
    return [uid[e] for e in events]


def outbox_rows(db_path: Path) -> list[dict[str, Any]]:
    store = Store.open(db_path)
    try:
        return list(store.db.table("outbox").rows_where(order_by="id"))
    finally:
        store.close()


# -- webhooks -----------------------------------------------------------------------------


def test_receiver_down_twice_gets_every_event_once_in_order(
    db_path: Path,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    run, events = record_run(db_path)
    d = webhook(receiver.url)
    assert enqueue(db_path, run, d) == 3
    assert enqueue(db_path, run, d) == 0  # once per run
    receiver.fail_first = 2

    first = deliver_pending(db_path, [d], now=T0)[0]
    assert (first.sent, first.error) == (0, f"HTTP 503 from {receiver.url}")
    assert first.next_attempt_at == (T0 + timedelta(seconds=60)).isoformat()
    assert receiver.keys() == delivery_keys(db_path, events[:1])  # waits behind its head: order
    assert deliver_pending(db_path, [d], now=T0 + timedelta(seconds=59))[0].sent == 0
    assert len(receiver.requests) == 1  # not before its time

    second = deliver_pending(db_path, [d], now=T0 + timedelta(seconds=60))[0]
    assert second.next_attempt_at == (T0 + timedelta(seconds=60 + 120)).isoformat()  # doubled
    third = deliver_pending(db_path, [d], now=T0 + timedelta(seconds=180))[0]
    assert (third.sent, third.error, third.sent_ids) == (3, None, events)

    assert receiver.accepted == delivery_keys(db_path, events)
    keys = delivery_keys(db_path, events)
    assert receiver.keys() == keys[:1] * 3 + keys[1:]
    for req in receiver.requests:
        body = json.loads(req["body"])
        assert body["delivery_id"] == req["key"] and body["kind"] == "new_notice"
        assert body["id"] == events[keys.index(req["key"])]  # the event id, beside it
        assert body["notice"]["title"] and body["notice"]["unit"]
        expected = hmac.new(SECRET.encode(), req["body"], hashlib.sha256).hexdigest()
        assert req["headers"]["x-xunshi-signature"] == f"sha256={expected}"
        assert req["headers"]["x-xunshi-event"] == "new_notice"
    rows = outbox_rows(db_path)
    assert [(r["status"], r["attempts"]) for r in rows] == [("sent", 3), ("sent", 1), ("sent", 1)]
    assert SECRET not in caplog.text + json.dumps(rows)


def test_batches_refusals_redirects_and_a_missing_secret(
    db_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, events = record_run(db_path)
    d = webhook(receiver.url, batch_size=2)
    enqueue(db_path, run, d)

    # the secret's variable is not set: nothing is sent unsigned, the rows wait
    monkeypatch.delenv(SECRET_ENV, raising=False)
    result = deliver_pending(db_path, [d], now=T0)[0]
    assert result.error == f"environment variable {SECRET_ENV} is not set" and not receiver.requests

    monkeypatch.setenv(SECRET_ENV, SECRET)
    first_two = ",".join(delivery_keys(db_path, events[:2]))
    receiver.answer = lambda req: (400, {}) if req["key"] == first_two else None
    result = deliver_pending(db_path, [d], now=T0 + timedelta(hours=1))[0]
    assert (result.refused, result.sent) == (2, 1)  # refused for good; the queue moved on
    assert receiver.keys() == [first_two, *delivery_keys(db_path, events[2:])]
    assert [e["id"] for e in json.loads(receiver.requests[0]["body"])["events"]] == events[:2]
    assert receiver.requests[0]["headers"]["x-xunshi-event"] == "batch"

    # `xunshi outbox --retry` queues refused rows again
    receiver.answer = lambda req: (301, {"Location": "https://elsewhere.example/new?token=x"})
    store = Store.open(db_path)
    assert Outbox(store.db).retry() == 2
    store.close()
    result = deliver_pending(db_path, [d])[0]
    assert result.refused == 2
    failed = [r for r in outbox_rows(db_path) if r["status"] == "failed"]
    assert "redirected to https://elsewhere.example/new" in failed[0]["last_error"]
    assert "token" not in failed[0]["last_error"]


def test_unreachable_receiver_is_retried(db_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the delivery: nothing listens there
    run, _ = record_run(db_path)
    d = Delivery.from_config({"type": "webhook", "url": f"http://127.0.0.1:{port}/", "timeout": 5})
    enqueue(db_path, run, d)
    result = deliver_pending(db_path, [d], now=T0)[0]
    assert result.error and result.error.startswith(f"cannot reach http://127.0.0.1:{port}/")
    assert {r["status"] for r in outbox_rows(db_path)} == {"pending"}


def test_kill_9_between_send_and_acknowledgement_resends_with_the_same_key(
    db_path: Path, receiver: Receiver
) -> None:
    run, events = record_run(db_path)
    enqueue(db_path, run, webhook(receiver.url))
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
    env.update({"XUNSHI_TEST_PAUSE_AFTER_SEND": "1", SECRET_ENV: SECRET})
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.test_deliver", str(db_path), receiver.url],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the deliverer says it sent, then waits to be killed
    assert line.split() == ["sent", str(events[0])], proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    keys = delivery_keys(db_path, events)
    assert receiver.keys() == keys[:1]
    assert outbox_rows(db_path)[0]["status"] == "pending"  # never acknowledged

    os.environ[SECRET_ENV] = SECRET
    try:
        result = deliver_pending(db_path, [webhook(receiver.url)])[0]
    finally:
        del os.environ[SECRET_ENV]
    assert result.sent == 3
    assert receiver.keys() == [keys[0], *keys]
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]
    assert receiver.accepted == keys  # deduped by the key: each once


def _deliver_main(argv: list[str]) -> None:
    """The deliverer as its own process, for the kill -9 test."""
    db, url = argv

    def pause_after_send(delivery: Delivery, ids: list[int]) -> None:
        if os.environ.get("XUNSHI_TEST_PAUSE_AFTER_SEND") == "1":
            print("sent", *ids, flush=True)
            signal.pause()  # until the test kills this process

    deliver_pending(db, [webhook(url)], after_send=pause_after_send)


# -- files --------------------------------------------------------------------------------


def test_atom_feed_parses_with_new_changed_and_removed_entries(
    db_path: Path, tmp_path: Path
) -> None:
    run, _ = record_run(db_path, [
        ("中共杭州市拱墅区委关于省委巡视整改进展情况的通报", "第一段巡视整改\n给予党纪处分8人次"),
        ("标题带\x00控制\x0b字符 <script>&amp;", "第一段巡视整改\n建立完善制度12项"),
    ])  # fmt: skip
    store = Store.open(db_path)
    store.record(make_notice("第一段巡视整改\n给予党纪处分9人次", url=URL.format(1, 0)), run)
    store.mark_removed(URL.format(2, 1), run, "HTTP 404")
    store.close()
    feed = tmp_path / "out" / "feed.atom"
    d = Delivery.from_config(
        {"name": "feed", "type": "atom", "path": str(feed), "title": "巡视整改"}
    )
    enqueue(db_path, run, d)
    assert deliver_pending(db_path, [d])[0].sent == 4

    root = ET.parse(feed).getroot()
    assert root.tag == f"{ATOM}feed" and root.findtext(f"{ATOM}title") == "巡视整改"
    entries = root.findall(f"{ATOM}entry")
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert titles == [  # newest first
        "【已撤下】标题带控制字符 <script>&amp;",
        "【内容变更 v1→v2】中共杭州市拱墅区委关于省委巡视整改进展情况的通报",
        "【新通报】标题带控制字符 <script>&amp;",
        "【新通报】中共杭州市拱墅区委关于省委巡视整改进展情况的通报",
    ]
    assert len({e.findtext(f"{ATOM}id") for e in entries}) == 4
    assert entries[0].find(f"{ATOM}link").get("href") == URL.format(2, 1)
    assert [e.find(f"{ATOM}category").get("term") for e in entries] == [
        "removed", "changed", "new_notice", "new_notice"]  # fmt: skip
    assert "+给予党纪处分9人次" in entries[1].findtext(f"{ATOM}content")


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "a/b\\c", "nul\x00byte", "CON", "con.txt", "LPT1", "COM¹", "x" * 1000,
     "中" * 200, "...", "", None, "\u202egnp.exe", 'a:b*c?d"<>|', "  spaced  ", "／etc／passwd",
     "\n\t", ".hidden"],
)  # fmt: skip
def test_safe_component_is_one_harmless_name(name: str | None) -> None:
    s = safe_component(name)
    assert s and s not in (".", "..") and Path(s).name == s
    assert not set(s) & set('/\\:*?"<>|\x00\n\t\u202e')
    assert not s.startswith(".") and not s.endswith((".", " "))
    assert s.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "LPT1", "COM1"}
    assert len(s.encode("utf-8")) <= 90


def test_text_files_stay_inside_the_export_folder(db_path: Path, tmp_path: Path) -> None:
    run, _ = record_run(db_path, [
        ("../../etc/passwd", "第一段巡视整改\n给予党纪处分8人次"),
        ("/abs\x00olute/" + "长" * 300, "第一段巡视整改\n建立完善制度12项"),
    ])  # fmt: skip
    store = Store.open(db_path)
    store.record(make_notice("第一段巡视整改\n给予党纪处分9人次", url=URL.format(1, 0),
                             title="../../etc/passwd"), run)  # fmt: skip
    store.close()
    out = tmp_path / "work" / "export"
    d = Delivery.from_config({"name": "texts", "type": "txt", "dir": str(out)})
    enqueue(db_path, run, d)
    assert deliver_pending(db_path, [d])[0].sent == 3
    files = sorted(p for p in (tmp_path / "work").rglob("*") if p.is_file())
    assert [p.relative_to(out).parts[0] for p in files] == ["zjsjw"] * 3
    names = [p.name for p in files]
    assert "2023-06-27__.._etc_passwd_1.v1.txt" in names
    assert "2023-06-27__.._etc_passwd_1.v2.txt" in names
    assert not (tmp_path / "etc").exists()
    assert (out / "zjsjw" / "2023-06-27__.._etc_passwd_1.v2.txt").read_text(encoding="utf-8") == (
        "第一段巡视整改\n给予党纪处分9人次"  # the seed format: no trailing newline
    )
    # on demand (`xunshi export --format txt`): every version of every notice
    store = Store.open(db_path)
    again = write_seed_files(store, tmp_path / "all")
    assert sorted(p.name for p in again) == sorted(names)
    hostile = seed_file_path(
        out, {"id": 7, "site": "../..", "unit": "..", "published_at": "../x"}, 1
    )
    assert out.resolve() in hostile.resolve().parents
    store.close()


def test_json_lines_survive_a_crash_and_a_torn_line(db_path: Path, tmp_path: Path) -> None:
    run, events = record_run(db_path)
    path = tmp_path / "events.jsonl"
    d = Delivery.from_config({"name": "log", "type": "jsonl", "path": str(path)})
    enqueue(db_path, run, d)

    def crash(delivery: Delivery, ids: list[int]) -> None:
        raise RuntimeError("power cut after the write, before the outbox knew")

    with pytest.raises(RuntimeError):
        deliver_pending(db_path, [d], after_send=crash)
    assert {r["status"] for r in outbox_rows(db_path)} == {"pending"}
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"id": 999, "kind": "torn')  # a half-written line
    assert deliver_pending(db_path, [d])[0].sent == len(outbox_rows(db_path))
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    ids = [x["id"] for x in lines]
    assert ids == sorted(set(ids)) and set(events) <= set(ids) and 999 not in ids


def test_csv_of_notices(db_path: Path, tmp_path: Path) -> None:
    run, _ = record_run(db_path)
    d = Delivery.from_config({"name": "sheet", "type": "csv", "path": str(tmp_path / "n.csv")})
    enqueue(db_path, run, d)
    deliver_pending(db_path, [d])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "n.csv").read_text(encoding="utf-8"))))
    assert [r["unit"] for r in rows] == ["杭州市拱墅区", "宁波市鄞州区", "嘉兴市"]
    assert rows[0]["districts"] == "330105 杭州市拱墅区"
    assert rows[0]["text"] == "第一段巡视整改\n给予党纪处分8人次"


# -- the outbox ---------------------------------------------------------------------------


def test_enqueue_once_per_run_and_catch_up_after_a_crash(db_path: Path, tmp_path: Path) -> None:
    d = Delivery.from_config(
        {"type": "jsonl", "path": str(tmp_path / "e.jsonl"), "kinds": ["new_notice"]}
    )
    new = Delivery.from_config(
        {"name": "added-later", "type": "jsonl", "path": str(tmp_path / "f")}
    )
    run1, events1 = record_run(db_path)
    assert enqueue(db_path, run1, d) == 3
    # run 2 finishes, then the process dies before queueing it
    run2, events2 = record_run(
        db_path, [("中共台州市椒江区委关于巡视整改的通报", "巡视整改\n第二轮")], first=10
    )
    store = Store.open(db_path)
    box = Outbox(store.db)
    assert box.enqueue_missed([d, new]) == 1  # run 2 for d; nothing for a delivery never queued
    assert box.enqueue_missed([d, new]) == 0
    assert [r["event_id"] for r in box.rows()] == events1 + events2
    store.close()


def test_outbox_command(db_path: Path, receiver: Receiver, tmp_path: Path) -> None:
    run, events = record_run(db_path)
    d = webhook(receiver.url)
    enqueue(db_path, run, d)
    deliver_pending(db_path, [d], now=T0)  # no secret in the environment: waits
    runner = CliRunner()
    shown = runner.invoke(outbox_cmd, ["--db", str(db_path), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    assert data["deliveries"][0] | {"last_error": None} == {
        "delivery": "hook", "pending": 3, "sent": 0, "failed": 0, "max_attempts": 1,
        "next_attempt_at": (T0 + timedelta(seconds=60)).isoformat(), "last_error": None}  # fmt: skip
    assert SECRET_ENV in data["deliveries"][0]["last_error"]
    assert [r["event_id"] for r in data["rows"]] == events
    table = runner.invoke(outbox_cmd, ["--db", str(db_path)])
    assert "hook" in table.output and "not set" in table.output

    config = tmp_path / "x.toml"
    config.write_text(
        f'db = "{db_path}"\n[sites.zjsjw]\ncron = "0 0 1 1 *"\n'
        f'[[deliveries]]\nname = "hook"\ntype = "webhook"\nurl = "{receiver.url}"\n',
        encoding="utf-8",
    )
    retried = runner.invoke(outbox_cmd, ["--config", str(config), "--retry", "--format", "json"])
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.output)["delivered"] == ["hook: 3 sent"]
    assert receiver.accepted == delivery_keys(db_path, events)


def test_export_on_demand(
    db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli_deliver import export_files

    record_run(db_path)
    export_files(str(db_path), "atom", None)
    feed = ET.fromstring(capsys.readouterr().out.encode("utf-8"))
    assert len(feed.findall(f"{ATOM}entry")) == 3
    export_files(str(db_path), "txt", str(tmp_path / "texts"), site="zjsjw")
    assert "wrote 3 seed-format files" in capsys.readouterr().err
    assert len(list((tmp_path / "texts" / "zjsjw").glob("*.v1.txt"))) == 3


def test_a_failing_target_does_not_stop_the_others(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _ = record_run(db_path)
    feed = Delivery.from_config({"type": "atom", "path": str(tmp_path / "f.atom")})
    log = Delivery.from_config({"type": "jsonl", "path": str(tmp_path / "e.jsonl")})
    enqueue(db_path, run, feed, log)

    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise ValueError("a bug")

    monkeypatch.setattr("store.deliver.write_atom", broken)
    first, second = deliver_pending(db_path, [feed, log])
    assert first.error == "internal error: ValueError('a bug')" and first.sent == 0
    assert second.sent == len((tmp_path / "e.jsonl").read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"type": "ftp"}, "type must be one of"),
        ({"type": "webhook", "url": "file:///etc/passwd"}, "http:// or https://"),
        (
            {"type": "webhook", "url": "https://x.example", "secret": "inline"},
            "unknown key(s) secret",
        ),
        ({"type": "atom"}, "needs path"),
        ({"type": "txt", "dir": "out", "kinds": ["nope"]}, "unknown event kind"),
        ({"type": "jsonl", "path": "x", "backoff": -1}, "backoff must be a positive number"),
    ],
)
def test_delivery_config_errors(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Delivery.from_config(table)


def test_describe_never_shows_secrets() -> None:
    d = Delivery.from_config({"type": "webhook", "url": "https://user:pw@hooks.example/x?token=abc",
                              "secret_env": "HOOK_SECRET"})  # fmt: skip
    assert d.describe() == "webhook https://hooks.example/x, Basic auth, signed with $HOOK_SECRET"


if __name__ == "__main__":
    _deliver_main(sys.argv[1:])
