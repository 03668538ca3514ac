"""Notifications through Apprise (issue 15 item 2): a real SMTP server (aiosmtpd) and
Apprise's json:// to a local HTTP receiver, both on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

import scheduler
from store.deliver import deliver_pending, parse_deliveries
from store.notices import Store
from tests.test_deliver import (  # noqa: F401 (fixtures)
    T0,
    URL,
    Receiver,
    enqueue,
    no_proxies,
    outbox_rows,
    receiver,
    record_run,
)
from tests.test_sites_golden import MANIFEST
from tests.test_store import make_notice

TOKEN = "tok3n-NEVER-shown"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[arg-type]
        )
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]

    def bodies(self) -> list[str]:
        return [m.get_body(("plain",)).get_content() for m in self.messages]  # type: ignore[union-attr]


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def mail_url(port: int) -> str:
    return f"mailto://127.0.0.1:{port}?from=xunshi@example.org&to=desk@example.org&mode=insecure"


def json_url(receiver: Receiver) -> str:  # noqa: F811
    return receiver.url.replace("http://", f"json://bot:{TOKEN}@")


def posted(receiver: Receiver) -> list[dict[str, Any]]:  # noqa: F811
    return [json.loads(r["body"]) for r in receiver.requests]


def test_one_message_per_event_and_url_resent_after_a_receiver_was_down(
    db_path: Path,
    smtp: tuple[Mailbox, int],
    receiver: Receiver,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    mailbox, port = smtp
    deliveries = parse_deliveries([
        {"name": "alerts", "type": "apprise", "urls": [mail_url(port), json_url(receiver)],
         "kinds": ["new_notice", "changed"], "backoff": 60}
    ])  # fmt: skip
    assert len(deliveries) == 2  # one outbox queue per URL
    caplog.set_level(logging.DEBUG)
    run, events = record_run(db_path)
    enqueue(db_path, run, *deliveries)

    receiver.fail_first = 1  # the json receiver is down for the first message
    mail, hook = deliver_pending(db_path, deliveries, now=T0)
    assert (mail.sent, hook.sent) == (3, 0) and hook.error
    assert "JSON (json://…) did not take the message" in hook.error
    assert len(mailbox.messages) == 3 and len(receiver.requests) == 1

    mail, hook = deliver_pending(db_path, deliveries, now=T0 + timedelta(seconds=61))
    assert (mail.sent, hook.sent) == (0, 3)  # resent to the one that was down, only
    again = deliver_pending(db_path, deliveries, now=T0 + timedelta(hours=1))
    assert [r.sent for r in again] == [0, 0]  # acknowledged: never twice

    titles = [f"【新通报】{t}" for t in (
        "中共杭州市拱墅区委关于省委巡视整改进展情况的通报",
        "中共宁波市鄞州区委关于省委巡视整改进展情况的通报",
        "中共嘉兴市委关于省委巡视整改情况的通报")]  # fmt: skip
    assert mailbox.subjects() == titles
    assert [p["title"] for p in posted(receiver)] == [titles[0], *titles]
    first = mailbox.bodies()[0]
    assert "单位：杭州市拱墅区" in first and f"链接：{URL.format(1, 0)}" in first
    assert posted(receiver)[1]["message"].splitlines() == first.strip().splitlines()
    assert "发布：2023-06-27 09:02 · zjsjw" in first

    # a change: the message quotes the changed characters
    store = Store.open(db_path)
    run2 = store.start_run("zjsjw")
    store.record(make_notice("第一段巡视整改\n给予党纪处分9人次", url=URL.format(1, 0)), run2)
    store.finish_run(run2, "ok")
    store.close()
    enqueue(db_path, run2, *deliveries)
    deliver_pending(db_path, deliveries, now=T0 + timedelta(hours=2))
    assert mailbox.subjects()[-1].startswith("【内容变更 v1→v2】中共杭州市拱墅区委")
    assert "…给予党纪处分[-8-]{+9+}人次" in mailbox.bodies()[-1]
    assert posted(receiver)[-1]["title"] == mailbox.subjects()[-1]

    store = Store.open(db_path)
    stored = json.dumps([dict(r) for r in store.db.query("select * from outbox")])
    stored += json.dumps([dict(r) for r in store.db.query("select * from outbox_runs")])
    store.close()
    shown = caplog.text + stored + "".join(d.describe() + repr(d) for d in deliveries)
    assert TOKEN not in shown and "bot:" not in shown


def test_a_digest_per_run_from_urls_in_the_environment(
    db_path: Path,
    receiver: Receiver,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XUNSHI_TEST_APPRISE", json_url(receiver))
    (d,) = parse_deliveries([
        {"name": "digest", "type": "apprise", "urls_env": "XUNSHI_TEST_APPRISE", "digest": True}
    ])  # fmt: skip
    run1, _ = record_run(db_path)
    run2, _ = record_run(
        db_path, [("中共台州市椒江区委关于巡视整改的通报", "巡视整改\n第二轮")], 10
    )
    enqueue(db_path, run1, d)
    enqueue(db_path, run2, d)
    assert deliver_pending(db_path, [d])[0].sent == 8  # 3 + 3 new districts, 1 + 1
    first, second = posted(receiver)
    assert first["title"] == "巡视整改通报动态（zjsjw）：新通报 3，新地区 3"
    assert first["message"].count("【新通报】") == 3 and first["message"].count("【新地区】") == 3
    assert "【新地区】宁波市鄞州区（330212）" in first["message"]
    assert second["title"] == "巡视整改通报动态（zjsjw）：新通报 1，新地区 1"
    assert "JSON (json://…)" in d.describe() and TOKEN not in d.describe()


def test_config_refusals() -> None:
    from store.deliver import ConfigError

    for table, message in [
        ({"type": "apprise"}, "give urls = [...] or urls_env"),
        ({"type": "apprise", "urls": ["nosuch://x"]}, "Apprise does not know the URL"),
        ({"type": "apprise", "urls": [f"json://a:{TOKEN}@h/"], "urls_env": "X"}, "one of them"),
        ({"type": "apprise", "urls_env": "XUNSHI_TEST_UNSET_VARIABLE"}, "is not set"),
        ({"type": "apprise", "urls": "json://h/"}, "urls must be a valid list"),
    ]:
        with pytest.raises(ConfigError, match=message.replace("[", r"\[")) as info:
            parse_deliveries([table])
        assert TOKEN not in str(info.value)


def test_a_crawl_that_finds_new_notices_alerts_mail_and_json_once(
    serve: Any,
    tmp_path: Path,
    smtp: tuple[Mailbox, int],
    receiver: Receiver,  # noqa: F811
) -> None:
    mailbox, port = smtp
    site = serve("zjsjw")
    config = tmp_path / "xunshi.toml"
    config.write_text(
        f'db = "x.db"\n[sites.zjsjw]\ncron = "0 0 1 1 *"\n'
        f'start_url = "{site.url(MANIFEST["zjsjw"]["start"])}"\n'
        f'[[deliveries]]\nname = "alerts"\ntype = "apprise"\nkinds = ["new_notice"]\n'
        f'urls = ["{mail_url(port)}", "{json_url(receiver)}"]\n',
        encoding="utf-8",
    )
    crawls = scheduler.CrawlScheduler(scheduler.load_config(config))
    assert crawls.run_once() == 0
    assert len(mailbox.messages) == len(receiver.requests) == 3
    assert sorted(mailbox.subjects()) == sorted(p["title"] for p in posted(receiver))
    assert scheduler.CrawlScheduler(scheduler.load_config(config)).run_once() == 0
    assert len(mailbox.messages) == len(receiver.requests) == 3  # nothing new: nothing sent
    assert TOKEN not in (tmp_path / "x.db").read_bytes().decode("utf-8", "replace")
    logs = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "logs").glob("*"))
    assert TOKEN not in logs
