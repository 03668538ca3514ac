"""WARC and WACZ evidence (issue 15 item 3): read back with warcio, checked record by
record against the database."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from store.compress import raw_of
from store.notices import Store
from store.warc import payload_digest, warc_date
from tests.conftest import xunshi
from tests.test_store import make_notice

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's database: two crawls of the recorded sites, a changed notice."""
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    xunshi("demo", "--db", str(db), timeout=300)
    return db


def stored_versions(db: Path, site: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """(URL, WARC-Date) -> the version row, for every version with stored bytes."""
    store = Store.open(db)
    try:
        rows = store.db.query(
            "select v.*, n.url as notice_url, n.site from versions v "
            "join notices n on n.id = v.notice_id where ? is null or n.site = ?",
            [site, site],
        )
        # each row's page as fetched, read back the one way every reader does
        return {(r["fetched_url"] or r["notice_url"], warc_date(r["fetched_at"])):
                {**r, "body": raw_of(store.db, r)} for r in rows}  # fmt: skip
    finally:
        store.close()


def read_warc(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open("rb") as fh:
        for record in ArchiveIterator(fh):
            headers = record.rec_headers
            records.append({
                "type": record.rec_type,
                "uri": headers.get_header("WARC-Target-URI"),
                "date": headers.get_header("WARC-Date"),
                "digest": headers.get_header("WARC-Payload-Digest"),
                "id": headers.get_header("WARC-Record-ID"),
                "concurrent": headers.get_header("WARC-Concurrent-To"),
                "status": record.http_headers.get_statuscode() if record.http_headers else None,
                "http": dict(record.http_headers.headers) if record.http_headers else {},
                "payload": record.raw_stream.read(),
            })  # fmt: skip
    return records


def test_demo_database_as_warc_every_record_matches_the_database(
    demo_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "evidence.warc.gz"
    proc = xunshi("export", "--db", str(demo_db), "--format", "warc", "-o", str(out))
    records = read_warc(out)
    versions = stored_versions(demo_db)
    responses = [r for r in records if r["type"] == "response"]
    assert records[0]["type"] == "warcinfo"
    assert len(responses) == len(versions) >= 8
    assert f"wrote {len(versions)} pages as WARC to {out}" in proc.stderr
    changed = 0
    for record in responses:
        row = versions.pop((record["uri"], record["date"]))
        body = row["body"]
        assert record["payload"] == body  # the bytes as fetched
        assert record["digest"] == payload_digest(body)
        assert record["status"] == str(row["http_status"] or 200)
        stored = json.loads(row["headers"])
        if "content-type" in stored:
            assert record["http"]["Content-Type"] == stored["content-type"]
        assert record["http"]["Content-Length"] == str(len(body))
        changed += row["n"] > 1
    assert not versions and changed >= 1  # every version once; the demo's change is there
    metadata = {
        r["concurrent"]: json.loads(r["payload"]) for r in records if r["type"] == "metadata"
    }
    assert set(metadata) == {r["id"] for r in responses}


def test_demo_database_as_wacz_is_a_complete_wacz(demo_db: Path, tmp_path: Path) -> None:
    """What ReplayWeb.page reads: the hashed datapackage, a CDXJ index whose every line
    points at a response record of the WARC, and the page list."""
    out = tmp_path / "evidence.wacz"
    xunshi("export", "--db", str(demo_db), "--format", "wacz", "-o", str(out), "--site", "zjsjw")
    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None
        files = {name: z.read(name) for name in z.namelist()}
        assert z.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED
    assert set(files) == {"archive/data.warc.gz", "indexes/index.cdxj", "pages/pages.jsonl",
                          "datapackage.json", "datapackage-digest.json"}  # fmt: skip
    package = json.loads(files["datapackage.json"])
    assert package["profile"] == "data-package" and package["wacz_version"] == "1.1.1"
    assert {r["path"] for r in package["resources"]} == set(files) - {
        "datapackage.json", "datapackage-digest.json"}  # fmt: skip
    for resource in package["resources"]:
        data = files[resource["path"]]
        assert resource["bytes"] == len(data)
        assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert json.loads(files["datapackage-digest.json"])["hash"] == (
        "sha256:" + hashlib.sha256(files["datapackage.json"]).hexdigest())  # fmt: skip

    warc = tmp_path / "inner.warc.gz"
    warc.write_bytes(files["archive/data.warc.gz"])
    versions = stored_versions(demo_db, "zjsjw")
    index = [line.split(" ", 2) for line in files["indexes/index.cdxj"].decode().splitlines()]
    assert len(index) == len(versions) and [i[:2] for i in index] == sorted(i[:2] for i in index)
    with warc.open("rb") as fh:
        for surt, ts, fields in index:
            entry = json.loads(fields)
            assert entry["filename"] == "data.warc.gz" and ")/" in surt
            fh.seek(int(entry["offset"]))
            record = next(iter(ArchiveIterator(fh)))
            assert record.rec_type == "response"
            assert record.rec_headers.get_header("WARC-Target-URI") == entry["url"]
            row = versions[(entry["url"], record.rec_headers.get_header("WARC-Date"))]
            assert entry["digest"] == payload_digest(row["body"])
            assert ts == record.rec_headers.get_header("WARC-Date").translate(
                str.maketrans("", "", "-:TZ"))  # fmt: skip
    pages = [json.loads(x) for x in files["pages/pages.jsonl"].decode().splitlines()]
    assert pages[0]["format"] == "json-pages-1.0" and len(pages) == len(versions) + 1
    assert all(p["title"] and p["url"] for p in pages[1:])


def test_headers_site_since_and_bad_input(db_path: Path, tmp_path: Path) -> None:
    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    old = make_notice("巡视整改\n第一段", url="http://www.zjsjw.gov.cn/a/t1_ext.html",
                      raw="<html>旧</html>".encode())  # fmt: skip
    old.fetched_at = "2026-10-01T02:00:00+00:00"
    new = make_notice("巡视整改\n第二段", url="http://www.zjsjw.gov.cn/a/t2_ext.html",
                      raw="<html>新</html>".encode())  # fmt: skip
    new.headers = {"content-type": "text/html; charset=utf-8", "transfer-encoding": "chunked",
                   "content-encoding": "gzip", "content-length": "99", "set-cookie": "a=1"}  # fmt: skip
    store.record(old, run)
    store.record(new, run)
    store.finish_run(run, "ok")
    store.close()

    out = tmp_path / "since.warc.gz"
    xunshi("export", "--db", str(db_path), "--format", "warc", "-o", str(out),
           "--since", "2026-11-01")  # fmt: skip
    (record,) = [r for r in read_warc(out) if r["type"] == "response"]
    assert record["uri"] == new.url and record["date"] == "2026-11-23T10:00:00Z"
    assert record["payload"] == "<html>新</html>".encode()
    http = record["http"]
    assert http["Content-Length"] == str(len(record["payload"]))  # not the stored 99
    assert http["X-Archive-Orig-Transfer-Encoding"] == "chunked"
    assert http["X-Archive-Orig-Content-Encoding"] == "gzip"
    assert "Transfer-Encoding" not in http and "Content-Encoding" not in http

    for args, message in [
        (["--format", "warc"], "give -o FILE.warc.gz"),
        (["--format", "warc", "-o", str(tmp_path / "x.txt")], "ends in .warc.gz"),
        (["--format", "warc", "-o", str(tmp_path / "y.warc.gz"), "--since", "yesterday"],
         "give a date (2026-11-01)"),
        (["--format", "warc", "-o", str(tmp_path / "z.warc.gz"), "--site", "shjjjc"],
         "nothing to export"),
        (["--format", "jsonl", "--since", "2026-01-01"], "--since goes with --format warc"),
    ]:  # fmt: skip
        proc = xunshi("export", "--db", str(db_path), *args, check=False)
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    made = [p.name for p in tmp_path.iterdir() if not p.name.startswith(db_path.name)]
    assert made == ["since.warc.gz"]  # nothing half-made
