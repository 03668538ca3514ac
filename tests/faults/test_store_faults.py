"""The database survives concurrent writers, killed crawls, full disks, read-only files and old schemas."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from store.db import migrations, open_db
from store.notices import Store
from tests.conftest import ROOT, xunshi
from tests.faults import server as fs
from tests.sitegen import COLUMN, generate_site


def recent_site(root: Path, n: int, offset: int = 0) -> list:
    today = date.today()
    return generate_site(
        root, n, paragraphs=2, dates=[today - timedelta(days=60 - i - offset) for i in range(n)]
    )


def intact(db: Path) -> None:
    conn = sqlite3.connect(db)
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    orphans = conn.execute(
        "select count(*) from notices n where not exists (select 1 from versions v where v.notice_id = n.id)"
    ).fetchone()[0]
    assert orphans == 0, "a notice without a version: a half-written notice"
    conn.close()


def cli(*args: str, **kw) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_two_crawls_write_the_same_database_at_once(tmp_path: Path) -> None:
    servers = []
    for name in ("a", "b"):
        recent_site(tmp_path / name, 15, offset=0 if name == "a" else 20)
        servers.append(fs.FaultServer(tmp_path / name))
    db = tmp_path / "x.db"
    open_db(db).close()
    procs = [
        cli(
            "crawl",
            "zjsjw",
            "--db",
            str(db),
            "--json",
            "--start-url",
            s.base + COLUMN + "index.shtml",
        )
        for s in servers
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for (out, err), p in zip(outs, procs, strict=True):
        assert p.returncode == 0, err
        assert "Traceback" not in out + err
        assert json.loads(out.strip().splitlines()[-1])["new"] == 15
    intact(db)
    store = Store.open(db)
    assert store.db.table("notices").count == 30
    assert [r["status"] for r in store.runs()] == ["ok", "ok"]
    store.close()
    for s in servers:
        s.close()


def test_crawl_killed_mid_run_leaves_no_half_written_notice(tmp_path: Path) -> None:
    recent_site(tmp_path / "site", 30)
    server = fs.FaultServer(tmp_path / "site")
    slow = {}
    for file in (tmp_path / "site").rglob("t*_ext.html"):
        path = "/" + str(file.relative_to(tmp_path / "site"))
        body = file.read_bytes()
        slow[path] = (lambda b: lambda h: (time.sleep(0.15), fs.send(h, 200, b)))(body)
    server.faults.update(slow)
    db = tmp_path / "x.db"
    proc = cli(
        "crawl", "zjsjw", "--db", str(db), "--start-url", server.base + COLUMN + "index.shtml"
    )
    deadline = time.monotonic() + 60
    pid = None
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if not db.exists():
            continue
        try:
            conn = sqlite3.connect(db, timeout=5)
            stored = conn.execute("select count(*) from notices").fetchone()[0]
            row = conn.execute("select pid from runs order by id desc limit 1").fetchone()
            conn.close()
            pid = row[0] if row else None
        except sqlite3.Error:
            continue
        if stored >= 3 and pid and pid != proc.pid:
            break
    assert pid and pid != proc.pid, "the crawl process never recorded its pid"
    os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in out + err
    assert "failed" in out and "exited with code -9" in out
    intact(db)
    store = Store.open(db)
    stored = store.db.table("notices").count
    assert 3 <= stored < 30
    [run] = store.runs()
    assert run["status"] == "failed" and "-9" in run["error"]
    store.close()

    server.faults.clear()
    again = xunshi(
        "crawl",
        "zjsjw",
        "--db",
        str(db),
        "--json",
        "--start-url",
        server.base + COLUMN + "index.shtml",
    )
    result = json.loads(again.stdout.strip().splitlines()[-1])
    assert result["status"] == "ok" and result["new"] == 30 - stored
    intact(db)
    server.close()


def test_disk_full_stops_the_crawl_with_a_clear_error(tmp_path: Path) -> None:
    recent_site(tmp_path / "site", 5)
    server = fs.FaultServer(tmp_path / "site")
    db = tmp_path / "x.db"
    start = server.base + COLUMN + "index.shtml"
    xunshi("crawl", "zjsjw", "--db", str(db), "--start-url", start)
    before = {r["id"]: r["version_count"] for r in Store.open(db).notices()}
    shutil.rmtree(tmp_path / "site")
    recent_site(tmp_path / "site", 40)  # 35 more notices than the database can take

    def limit() -> None:
        # Files may not grow past 200 KB: the database's WAL soon cannot take another notice.
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    proc = subprocess.run(
        [sys.executable, "-m", "cli", "crawl", "zjsjw", "--db", str(db), "--start-url", start],
        cwd=ROOT, capture_output=True, text=True, timeout=120, preexec_fn=limit,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert "database or disk is full" in out or "disk I/O error" in out, out
    log = sorted((tmp_path / "logs").glob("run-*.log"))[-1].read_text(
        encoding="utf-8", errors="replace"
    )
    assert "Traceback" not in log and "stopping the crawl" in log
    intact(db)
    store = Store.open(db)
    after = {r["id"]: r["version_count"] for r in store.notices()}
    assert all(after[k] == v for k, v in before.items())  # nothing stored was lost
    assert len(after) < 40
    store.close()
    server.close()


def test_read_only_database_is_a_clear_error(request: pytest.FixtureRequest) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to run as an unprivileged user")
    # pytest's temp root is private to root (0700): the unprivileged user needs a folder it
    # can read but not write, so make one outside it.
    folder = Path(tempfile.mkdtemp(prefix="xunshi-ro-"))
    request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
    db = folder / "x.db"
    store = Store.open(db)
    store.start_run("zjsjw")
    store.close()
    sqlite3.connect(db).execute("pragma wal_checkpoint(truncate)").close()
    folder.chmod(0o755)
    db.chmod(0o644)
    before = db.read_bytes()
    nobody = (
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    )
    # Root may write any file, so the case needs an unprivileged user who can read the
    # checkout (not so in a 0700 folder such as one made by mktemp -d).
    probe = subprocess.run(
        [*nobody, sys.executable, "-c", "import cli"], cwd=ROOT, capture_output=True, timeout=60
    )
    if probe.returncode != 0:
        pytest.skip(
            f"an unprivileged user cannot read this checkout ({ROOT}): {probe.stderr.decode()[-120:]}"
        )
    proc = subprocess.run(
        [*nobody, sys.executable, "-m", "cli", "crawl", "zjsjw", "--db", str(db), "--start-url", "http://127.0.0.1:9/"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": "/tmp"},
    )  # fmt: skip
    assert proc.returncode == 1
    assert "read-only" in proc.stderr and "Traceback" not in proc.stderr
    assert db.read_bytes() == before


def test_database_from_an_older_schema_is_migrated_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = Database(path)
    migrations.apply(db, stop_before="m002_districts")
    db.table("notices").insert(
        {
            "site": "zjsjw",
            "key": "h/a.html",
            "url": "http://h/a.html",
            "title": "旧通报",
            "first_seen": "2020-01-01",
        }
    )
    db.table("versions").insert(
        {"notice_id": 1, "n": 1, "text": "旧文本", "sha256": "x", "fetched_at": "2020-01-01"}
    )
    db.close()
    store = Store.open(path)
    assert "notice_districts" in store.db.table_names()
    assert store.notice(1)["title"] == "旧通报" and store.latest_version(1)["text"] == "旧文本"
    assert [m.name for m in migrations.pending(store.db)] == []
    store.close()


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "important.db"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(4096))
    before = path.read_bytes()
    for args in (["crawl", "zjsjw", "--start-url", "http://127.0.0.1:9/"], ["notices"], ["export"]):
        proc = xunshi(*args, "--db", str(path), check=False)
        assert (
            proc.returncode == 1
            and "not a SQLite database" in proc.stderr
            and "Traceback" not in proc.stderr
        )
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()
