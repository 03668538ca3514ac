"""A monitored site changes between two crawls: exact events, versions, diffs, and nothing lost."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from store.notices import Store
from tests.conftest import xunshi
from tests.sitegen import COLUMN, generate_site

CAPTCHA = b"<html><body><div id='captchaPage'><img src='/comImageValidate?t=1'></div></body></html>"


def crawl(site, db: Path) -> dict:
    proc = xunshi("crawl", "zjsjw", "--db", str(db), "--start-url", site.url(COLUMN + "index.shtml"), "--json")
    assert "Traceback" not in proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_changes_between_two_crawls(serve, tmp_path: Path) -> None:
    root = tmp_path / "site"
    today = date.today()
    dates = [today - timedelta(days=20 - i) for i in range(7)]
    notices = generate_site(root, 6, paragraphs=2, dates=dates[:6])
    site = serve(root)
    db = tmp_path / "x.db"
    first = crawl(site, db)
    assert first["new"] == 6
    store = Store.open(db)
    ids = {row["url"].split(site.base, 1)[1]: row["id"] for row in store.notices()}
    kept_text = store.latest_version(ids[notices[2].path])["text"]
    store.close()

    # edit a paragraph of notice 0, add notice 6, remove notice 1, break notice 2 (500), block notice 3
    edited = root / notices[0].path.lstrip("/")
    page = edited.read_text(encoding="utf-8")
    assert "给予党纪处分８人次" in page or "给予党纪处分8人次" in page
    edited.write_text(page.replace("党纪处分8人次", "党纪处分9人次").replace("党纪处分８人次", "党纪处分９人次"), encoding="utf-8")
    added = generate_site(tmp_path / "next", 7, paragraphs=2, dates=dates)[6]
    target = root / added.path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes((tmp_path / "next" / added.path.lstrip("/")).read_bytes())
    for name in ("index.shtml",):
        (root / COLUMN.strip("/") / name).write_bytes((tmp_path / "next" / COLUMN.strip("/") / name).read_bytes())
    (root / notices[1].path.lstrip("/")).unlink()
    site.overrides[notices[2].path] = lambda req: (500, {"Content-Type": "text/html"}, b"<h1>Internal Server Error</h1>")
    site.overrides[notices[3].path] = lambda req: (200, {"Content-Type": "text/html"}, CAPTCHA)
    site.log.clear()

    second = crawl(site, db)
    assert second["status"] == "ok"
    assert (second["new"], second["changed"], second["blocked"]) == (1, 1, 1)

    store = Store.open(db)
    run_id = second["run_id"]
    events = store.events(run_id=run_id)
    got = sorted((e["kind"], e["url"].split(site.base, 1)[1] if e["url"] else None) for e in events)
    assert got == sorted(
        [
            ("changed", notices[0].path),
            ("facts_changed", notices[0].path),
            ("new_notice", added.path),
            ("new_district", added.path),
            ("removed", notices[1].path),
            ("fetch_failed", notices[2].path),
            ("blocked", notices[3].path),
        ]
    )
    assert store.db.table("versions").count == 6 + 1 + 1
    # the notice that failed kept its text, the removed one kept its version, the blocked page stored nothing
    assert store.latest_version(ids[notices[2].path])["text"] == kept_text
    assert store.notice(ids[notices[1].path])["removed_at"]
    assert store.notice(ids[notices[1].path])["version_count"] == 1
    assert store.notice(ids[notices[3].path])["version_count"] == 1
    texts = [store.version(v["notice_id"], v["n"])["text"] for v in store.db.table("versions").rows]
    assert len(texts) == 8 and CAPTCHA.decode() not in "".join(texts)  # older ones: compressed
    # the character-level diff of the edit is one character
    v2 = store.version(ids[notices[0].path], 2)
    hunks = json.loads(v2["char_diff"])
    assert len(hunks) == 1
    changed = [op for op in hunks[0] if op[0] != "equal"]
    assert changed == [["delete", "8"], ["insert", "9"]]
    store.close()
    # the 500 was retried, the challenge was not
    assert len(site.requests_for(notices[2].path)) == 3
    assert len(site.requests_for(notices[3].path)) == 1

    # the terminal diff shows the one changed character, and the report lists every section
    diff = xunshi("diff", str(ids[notices[0].path]), "--db", str(db)).stdout
    assert "[-8-]" in diff and "{+9+}" in diff
    report = xunshi("report", "--db", str(db), "--run", str(run_id)).stdout
    for heading in ("## New notices", "## Changed notices", "## Removed notices", "## Failures", "## Blocked pages"):
        assert heading in report
    assert "FAILURES: 1 failed, 1 blocked, 1 new, 1 changed, 1 removed" in report
    assert (db.parent / "reports" / f"run-{run_id}-zjsjw.html").is_file()
