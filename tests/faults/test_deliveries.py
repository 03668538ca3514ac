"""Deliveries and configuration under hostile conditions (issue 17 items 14-17, issue 15 item 4).

Receivers here run on 127.0.0.1: a well-behaved one (tests/test_deliver.py) and slow ones
that trickle their answer a byte at a time or never finish their headers.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import scheduler
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
    enqueue,
    no_proxies,
    outbox_rows,
    receiver,
    record_run,
)

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
    assert (d.name, d.type, d.kinds, d.word, d.times) == ("shout", "shout", ("new_notice",), "新", 2)
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
    db_path: Path, receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture  # noqa: F811
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
    assert receiver.accepted == [str(e) for e in events]
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
