"""Golden files: every recorded page of tests/sites extracts and normalises to its expected text."""

from __future__ import annotations

import json

import pytest

from crawler.article import extract_article
from crawler.extract import classify_title, decode_page
from crawler.listpage import parse_list
from crawler.normalise import normalise
from crawler.sites import get_site
from tests.conftest import SEEDS, SITES_DIR

MANIFEST = json.loads((SITES_DIR / "manifest.json").read_text(encoding="utf-8"))


def expected_text(ref: str) -> str:
    if ref.startswith("seed:"):
        return (SEEDS / ref.removeprefix("seed:")).read_text(encoding="utf-8")
    return (SITES_DIR / ref).read_text(encoding="utf-8")


def page_url(site: str, path: str) -> str:
    return f"{get_site(site).base_url}{path}"


NOTICES = [(site, path, ref) for site, m in MANIFEST.items() for path, ref in m["notices"].items()]
NON_NOTICES = [(site, path) for site, m in MANIFEST.items() for path in m["non_notices"]]


@pytest.mark.parametrize(
    ("site", "path", "ref"), NOTICES, ids=[f"{s}:{p.rsplit('/', 1)[-1]}" for s, p, _ in NOTICES]
)
def test_notice_page_gives_expected_text(site: str, path: str, ref: str) -> None:
    body = (SITES_DIR / site / path.lstrip("/")).read_bytes()
    text, _ = decode_page(body)
    article = extract_article(text, page_url(site, path), get_site(site))
    info = MANIFEST[site]["articles"][path]
    assert normalise(article.paragraphs, header=article.header) == expected_text(ref)
    assert article.title == info["title"]
    assert classify_title(article.title) == "notice"
    if info["published"]:
        assert article.published_at is not None
        assert (
            article.published_at.strftime(
                "%Y-%m-%d %H:%M" if article.published_has_time else "%Y-%m-%d"
            )
            == info["published"]
        )
    if info["source"]:
        assert article.source == info["source"]


@pytest.mark.parametrize(
    ("site", "path"), NON_NOTICES, ids=[f"{s}:{p.rsplit('/', 1)[-1]}" for s, p in NON_NOTICES]
)
def test_non_notice_is_classified_out(site: str, path: str) -> None:
    body = (SITES_DIR / site / path.lstrip("/")).read_bytes()
    text, _ = decode_page(body)
    article = extract_article(text, page_url(site, path), get_site(site))
    assert classify_title(article.title) == "no"


@pytest.mark.parametrize("site", sorted(MANIFEST))
def test_list_pages_find_every_notice(site: str) -> None:
    m = MANIFEST[site]
    found: dict[str, str] = {}
    for path in m["list_pages"]:
        body = (SITES_DIR / site / path.lstrip("/")).read_bytes()
        page = parse_list(decode_page(body)[0], page_url(site, path), get_site(site))
        for link in page.links:
            found[link.url] = link.verdict
    for path in m["notices"]:
        assert found[page_url(site, path)] in ("notice", "maybe")
    for path in m["non_notices"]:
        assert found.get(page_url(site, path), "no") == "no"
    assert not any(u.endswith(".pdf") for u in found)
