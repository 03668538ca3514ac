"""Change monitoring end to end: crawl a local site, change it, crawl again, check events and costs."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from store.notices import Store
from tests.conftest import xunshi
from tests.sitegen import COLUMN, generate_site


def crawl(site, db: Path, *extra: str) -> dict:
    proc = xunshi(
        "crawl",
        "zjsjw",
        "--db",
        str(db),
        "--start-url",
        site.url(COLUMN + "index.shtml"),
        "--json",
        *extra,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_second_crawl_of_unchanged_site_costs_almost_nothing(serve, tmp_path: Path) -> None:
    root = tmp_path / "gen"
    # 50 notices over 5 list pages; the 10 newest are recent (published in the last 90 days).
    today = date.today()
    dates = [today - timedelta(days=400 - i) for i in range(40)] + [
        today - timedelta(days=10 - i) for i in range(10)
    ]
    notices = generate_site(root, 50, paragraphs=3, dates=dates)
    site = serve(root)
    db = tmp_path / "x.db"

    first = crawl(site, db)
    assert (first["new"], first["status"]) == (50, "ok")
    store = Store.open(db)
    texts = {r["url"].split(":", 2)[-1].split("/", 1)[1]: r["text"] for r in store.export_rows()}
    store.close()
    for n in notices:
        assert texts["/".join(n.path.split("/")[1:])] == n.expected

    site.log.clear()
    second = crawl(site, db)
    assert (second["new"], second["changed"]) == (0, 0)
    lists = [p for p in site.paths() if p.startswith(COLUMN + "index")]
    articles = [r for r in site.log if "_ext.html" in r.path]
    assert lists == [COLUMN + "index.shtml"]
    # only the 10 recent notices are re-checked, each with a conditional request answered 304
    assert len(articles) == 10
    assert all("if-none-match" in r.headers for r in articles)
    assert second["not_modified"] == 10
    store = Store.open(db)
    assert store.db.table("versions").count == 50
    store.close()


def test_full_flag_walks_everything(serve, tmp_path: Path) -> None:
    root = tmp_path / "gen"
    generate_site(root, 25, start=date(2020, 1, 1), paragraphs=2)
    site = serve(root)
    db = tmp_path / "x.db"
    crawl(site, db)
    site.log.clear()
    crawl(site, db, "--full")
    lists = [p for p in site.paths() if p.startswith(COLUMN + "index")]
    assert len(lists) == 3
    assert len([p for p in site.paths() if p.endswith("_ext.html")]) == 25
    assert all("if-none-match" not in r.headers for r in site.log)


def test_a_notice_gone_from_the_lists_is_removed_only_by_a_clean_full_walk(
    serve, tmp_path: Path
) -> None:
    from store.notices import Store
    from tests.sitegen import write_lists

    root = tmp_path / "gen"
    notices = generate_site(root, 12, start=date(2020, 1, 1), paragraphs=2)
    site = serve(root)
    db = tmp_path / "x.db"
    crawl(site, db)
    write_lists(
        root, [n for n in notices if n is not notices[3]]
    )  # delisted; its page still answers
    incremental = crawl(site, db)
    store = Store.open(db)
    assert (
        store.events(run_id=incremental["run_id"], kind="removed") == []
    )  # an early-stopping walk says nothing
    store.close()
    site.log.clear()
    full = crawl(site, db, "--full")
    store = Store.open(db)
    [event] = store.events(run_id=full["run_id"], kind="removed")
    assert event["url"] == site.url(notices[3].path)
    assert event["detail"]["reason"] == "no longer on the site's list pages"
    row = store.find_notice(site.url(notices[3].path))
    assert row["removed_at"] and row["version_count"] == 1  # flagged, versions kept
    store.close()
    assert notices[3].path not in site.paths()
    # back on the list: no longer removed
    write_lists(root, notices)
    crawl(site, db, "--full")
    store = Store.open(db)
    assert not store.find_notice(site.url(notices[3].path))["removed_at"]
    store.close()
