"""A local world of 30 sites, each on its own 127.0.0.x address with latency on every
response, crawled in ONE command (issue 11 item 4).

Half the sites are given by their list page, the other half by their home page alone, so
that the crawl finds their 巡视整改 list by discovery (crawler/discover.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from crawler.run import SiteCrawl, run_crawls
from store.notices import Store
from tests import world

N_SITES = 30
# Latency, not CPU, is what a crawl of real sites waits for: a politeness delay and a
# slow server per host. With it the world's crawl is bound by its biggest site.
LATENCY = 0.12


def _stored(db: Path) -> dict[str, list[tuple[str, str]]]:
    """site -> [(url, latest text)] of every stored notice."""
    store = Store.open(db)
    try:
        rows = store.db.query(
            "select n.site, n.url, v.text from notices n join versions v on v.notice_id = n.id "
            "where v.n = (select max(n) from versions where notice_id = n.id)"
        )
        out: dict[str, list[tuple[str, str]]] = {}
        for row in rows:
            out.setdefault(row["site"], []).append((row["url"], row["text"]))
        return out
    finally:
        store.close()


def check_every_notice_once(sites: list[world.WorldSite], db: Path, results: list) -> None:  # type: ignore[type-arg]
    """Each site's run ok with all its notices new, every notice stored once with its exact
    text, and no host ever with two requests in flight (the world's servers count them)."""
    for site, result in zip(sites, results, strict=True):
        assert (result.status, result.counts["new"]) == ("ok", len(site.expected)), result
    stored = _stored(db)
    for site in sites:
        got = {url.split(site.base, 1)[1]: text for url, text in stored.get(site.name, [])}
        assert len(stored.get(site.name, [])) == len(site.expected), site.name
        assert got == site.expected, site.name
    assert {s.name: s.stats.peak for s in sites} == {s.name: 1 for s in sites}


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("world")
    # One big site (60 notices, 6 list pages) and 29 smaller ones, 10 of them recorded
    # copies of five CMS families.
    sizes = [60] + [2 + i % 4 for i in range(1, N_SITES)]
    built = world.build_world(folder, N_SITES, sizes=sizes)
    with world.serving(built, latency=LATENCY) as served:
        yield served


def test_thirty_sites_in_one_command(sites: list[world.WorldSite], tmp_path: Path) -> None:
    assert len({s.address for s in sites}) == N_SITES
    assert {s.family for s in sites} >= {"sitegen", "zjsjw", "shjjjc", "jssjw", "scjc"}
    profiles = world.profiles(sites, half_by_home=True)
    assert sum(p.discover for p in profiles.values()) == N_SITES // 2
    biggest = max(sites, key=lambda s: len(s.expected))

    started = time.monotonic()
    alone = run_crawls([SiteCrawl(biggest.name)], db_path=tmp_path / "alone.db", profiles=profiles)
    alone_seconds = time.monotonic() - started
    assert alone[0].status == "ok" and alone[0].counts["new"] == len(biggest.expected)
    for site in sites:
        site.stats.peak = 0

    db = tmp_path / "world.db"
    started = time.monotonic()
    results = run_crawls([SiteCrawl(s.name) for s in sites], db_path=db, profiles=profiles)
    world_seconds = time.monotonic() - started

    # one run per site, each ok, each with its own counts
    assert [r.site for r in results] == [s.name for s in sites]
    assert len({r.run_id for r in results}) == N_SITES
    assert {r.log_path for r in results} == {results[0].log_path}  # one process, one log
    check_every_notice_once(sites, db, results)
    # the home-page half was crawled from its home page, whose link led to the list
    homes = world.home_urls(sites)
    for site in sites:
        if site.name in homes:
            assert {"/index.html", site.start_path} <= set(site.stats.paths), site.name
        else:
            assert "/index.html" not in site.stats.paths, site.name
    # the whole world in at most twice the time of its biggest site alone
    assert world_seconds <= 2 * alone_seconds, (world_seconds, alone_seconds)
