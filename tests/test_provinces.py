"""More provinces: CMS family helpers, Hanweb datastore lists, crawls of the recorded copies, the fallback's warning."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from crawler.article import extract_article
from crawler.extract import decode_page
from crawler.listpage import datastore_next, embedded_records, parse_list
from crawler.normalise import normalise
from crawler.run import run_crawl
from crawler.sites import (
    SITES,
    TRS_NOTES,
    SiteProfile,
    get_site,
    hanweb_site,
    trs_site,
    uuid_cms_site,
)
from store.notices import Store
from tests.conftest import SITES_DIR, xunshi
from tests.test_sites_golden import MANIFEST, expected_text

PROVINCES = ["bjsupervision", "scjc", "jssjw"]


def read(site: str, path: str) -> str:
    return decode_page((SITES_DIR / site / path.lstrip("/")).read_bytes())[0]


# ---------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------


def test_every_registered_site_has_a_recorded_copy() -> None:
    for name, profile in SITES.items():
        if profile.discover:
            # Given by its home page only: nothing site-specific is claimed that a copy
            # could check, and the entry says so.
            assert not {"list", "article"} & set(profile.confirmed), name
            assert any("[U]" in note for note in profile.notes), name
            continue
        assert (SITES_DIR / name).is_dir(), name
        assert name in MANIFEST or (SITES_DIR / name / "expected" / "site.json").is_file(), name
        assert profile.notes, f"{name}: what is not known about the site belongs in notes"


@pytest.mark.parametrize("name", PROVINCES)
def test_province_profiles_say_what_is_unknown(name: str) -> None:
    profile = get_site(name)
    assert profile.province and profile.header_rule == "auto"
    assert any("[U]" in note for note in profile.notes)
    start = MANIFEST[name]["start"]
    assert profile.start_urls == (profile.base_url + start,)
    for path in [*MANIFEST[name]["notices"], *MANIFEST[name]["non_notices"]]:
        assert profile.is_article_url(profile.base_url + path), path


def _golden(profile: SiteProfile, site: str) -> None:
    """``profile`` extracts every recorded notice of ``site`` to its expected text and finds it listed."""
    m = MANIFEST[site]
    for path, ref in m["notices"].items():
        article = extract_article(read(site, path), profile.base_url + path, profile)
        assert normalise(article.paragraphs, header=article.header) == expected_text(ref), path
        assert article.title == m["articles"][path]["title"]
    found = {}
    for path in m["list_pages"]:
        for link in parse_list(read(site, path), profile.base_url + path, profile).links:
            found[link.url.removeprefix(profile.base_url)] = link.verdict
    assert all(found[path] == "notice" for path in m["notices"])
    assert all(found.get(path, "no") == "no" for path in m["non_notices"])


def test_a_new_trs_site_is_a_few_lines() -> None:
    # zjsjw's recorded pages (current and legacy GBK template) through the family defaults.
    profile = trs_site(
        "trs_example", "测试", "浙江省", "http://www.zjsjw.gov.cn",
        "/gongzuodongtai/xunshixuncha/index.shtml", header_rule="date_source",
    )  # fmt: skip
    assert profile.notes == TRS_NOTES
    _golden(profile, "zjsjw")


def test_a_new_shanghai_cms_site_is_a_few_lines() -> None:
    profile = uuid_cms_site("uuid_example", "测试", "上海市", "https://www.shjjjc.gov.cn", "/shsjjjcw/xszg/")  # fmt: skip
    assert profile.start_urls == ("https://www.shjjjc.gov.cn/shsjjjcw/xszg/index.html",)
    assert profile.header_rule == "none"
    assert not profile.is_article_url(
        "https://www.shjjjc.gov.cn/other/content/a592591b-f2b9-4cfd-8ea0-74e89e314c51.html"
    )
    _golden(profile, "shjjjc")


def test_a_new_hanweb_site_is_a_few_lines() -> None:
    profile = hanweb_site("hanweb_example", "测试", "江苏省", "http://www.jssjw.gov.cn", 37)
    assert profile.start_urls == ("http://www.jssjw.gov.cn/col/col37/index.html",)
    _golden(profile, "jssjw")


def test_family_fields_can_be_overridden_and_notes_add_up() -> None:
    profile = trs_site("x", "测试", None, "http://example.gov.cn", "/a/", body=("div.zw",), notes=("mine [U]",))  # fmt: skip
    assert profile.body == ("div.zw",)
    assert profile.notes[-1] == "mine [U]" and len(profile.notes) > 1


def test_column_text_needs_a_spider_that_follows_it() -> None:
    with pytest.raises(ValueError, match="column_text"):
        trs_site("x", "测试", None, "http://example.gov.cn", "/a/", column_text="巡视整改")


# ---------------------------------------------------------------------------------------
# Links inside script/CDATA record blocks (Hanweb's jpage), generic
# ---------------------------------------------------------------------------------------

GENERIC = SiteProfile(
    name="generic", label="测试", province=None, base_url="http://example.gov.cn",
    start_paths=("/",), article_path=r"/art/\d{4}/\d{1,2}/\d{1,2}/art_\d+_\d+\.html$",
)  # fmt: skip
RECORD = (
    "<record><![CDATA[<li><a href=\"/art/2024/1/{d}/art_5_{i}.html\" title='{t}'>{t}</a>"
    "<span>2024-01-0{d}</span></li>]]></record>"
)
NOTICE = "中共某某市委关于省委巡视整改进展情况的通报"


def _datastore(*records: str, nextgroup: str | None = None) -> str:
    group = f'<nextgroup><![CDATA[<a href="{nextgroup}"></a>]]></nextgroup>' if nextgroup else ""
    return f"<datastore>{group}<recordset>{''.join(records)}</recordset></datastore>"


def test_links_in_script_records_are_list_items() -> None:
    records = [RECORD.format(d=d, i=100 + d, t=NOTICE if d == 1 else "全省巡视工作会议召开") for d in (1, 2)]  # fmt: skip
    page = (
        '<html><body><div class="side"><a href="/art/2023/5/5/art_5_1.html">热点</a></div>'
        f'<script type="text/xml">{_datastore(*records, nextgroup="/module/web/jpage/dataproxy.jsp?page=1&amp;columnid=5")}</script>'
        "</body></html>"
    )  # fmt: skip
    assert len(embedded_records(page)) == 2  # the pager's <nextgroup> is not an item
    result = parse_list(page, "http://example.gov.cn/col/col5/index.html", GENERIC)
    # The side box is not the list: the records are.
    assert [(link.url, link.date, link.verdict) for link in result.links] == [
        ("http://example.gov.cn/art/2024/1/1/art_5_101.html", "2024-01-01", "notice"),
        ("http://example.gov.cn/art/2024/1/2/art_5_102.html", "2024-01-02", "no"),
    ]
    assert result.next_pages == [
        "http://example.gov.cn/module/web/jpage/dataproxy.jsp?page=1&columnid=5"
        "&startrecord=3&endrecord=4&perpage=2"
    ]


def test_data_proxy_answers_are_walked_until_a_short_group() -> None:
    url = "http://example.gov.cn/module/web/jpage/dataproxy.jsp?columnid=5&startrecord=3&endrecord=4&perpage=2"  # fmt: skip
    full = '<?xml version="1.0" encoding="UTF-8"?>\n' + _datastore(
        RECORD.format(d=3, i=103, t=NOTICE), RECORD.format(d=4, i=104, t=NOTICE)
    )
    result = parse_list(full, url, GENERIC)
    assert len(result.links) == 2
    assert result.next_pages == [
        url.replace("startrecord=3&endrecord=4", "startrecord=5&endrecord=6")
    ]
    short = _datastore(RECORD.format(d=5, i=105, t=NOTICE))
    assert parse_list(short, url, GENERIC).next_pages == []
    assert datastore_next(_datastore(), url, 0) == (None, [])
    assert datastore_next("", "http://example.gov.cn/x?startrecord=a&endrecord=2", 3)[1]


def test_pages_without_records_are_read_as_before() -> None:
    page = (
        '<ul class="list"><li><a href="/art/2024/1/1/art_5_1.html">'
        + NOTICE
        + "</a> 2024-01-01</li></ul>"
    )
    assert embedded_records(page) == []
    result = parse_list(page, "http://example.gov.cn/col/col5/index.html", GENERIC)
    assert [link.date for link in result.links] == ["2024-01-01"] and result.next_pages == []


def test_list_date_beside_a_link_outside_li_rows() -> None:
    path = MANIFEST["scjc"]["list_pages"][1]
    links = parse_list(read("scjc", path), get_site("scjc").base_url + path, get_site("scjc")).links
    # The summary under the link holds 2024年8月27日; the date of the row is its own span.
    assert [link.date for link in links] == ["2025-04-28"]


# ---------------------------------------------------------------------------------------
# Crawls of the recorded copies, through the real CLI
# ---------------------------------------------------------------------------------------


def _rows(db: Path) -> list[dict]:  # type: ignore[type-arg]
    store = Store.open(db)
    try:
        return list(store.export_rows())
    finally:
        store.close()


def _serve(serve, name: str, root: Path | None = None):  # type: ignore[no-untyped-def]
    site = serve(root) if root else serve(name)
    site.content_types["/module/web/jpage/dataproxy.jsp"] = "text/xml; charset=utf-8"
    return site


@pytest.mark.parametrize("name", PROVINCES)
def test_crawl_of_the_recorded_copy_stores_the_notice(serve, tmp_path: Path, name: str) -> None:
    site = _serve(serve, name)
    db = tmp_path / "x.db"
    m = MANIFEST[name]
    if name == "bjsupervision":  # one of them through the real command line
        proc = xunshi("crawl", name, "--db", str(db), "--start-url", site.url(m["start"]))
        assert "Traceback" not in proc.stdout + proc.stderr
        assert f"{len(m['notices'])} new" in proc.stdout, proc.stdout
    else:
        result = run_crawl(name, db_path=db, start_url=site.url(m["start"]))
        assert result.status == "ok" and result.counts["new"] == len(m["notices"])
    by_path = {row["url"].split(site.base, 1)[1]: row for row in _rows(db)}
    assert set(by_path) == set(m["notices"])  # reached through page 2 only
    for path, ref in m["notices"].items():
        assert by_path[path]["text"] == expected_text(ref)
        assert by_path[path]["title"] == m["articles"][path]["title"]
    assert m["list_pages"][1] in site.paths()


def test_selectors_that_stop_matching_fall_back_with_a_warning(serve, tmp_path: Path) -> None:
    name = "bjsupervision"
    m = MANIFEST[name]
    ((path, ref),) = m["notices"].items()
    root = tmp_path / "copy"
    shutil.copytree(SITES_DIR / name, root)
    page = root / path.lstrip("/")
    # A template change: the TRS body container is renamed.
    page.write_text(
        page.read_text(encoding="utf-8").replace('class="TRS_Editor"', 'class="art_body_2025"'),
        encoding="utf-8",
    )
    site = _serve(serve, name, root)
    db = tmp_path / "x.db"
    assert run_crawl(name, db_path=db, start_url=site.url(m["start"])).counts["new"] == 1
    (row,) = _rows(db)
    assert row["text"] == expected_text(ref)  # the same text, found another way
    (log,) = (tmp_path / "logs").glob(f"run-*-{name}.log")
    warnings = [
        line for line in log.read_text(encoding="utf-8").splitlines()
        if "WARNING" in line and "density fallback" in line
    ]  # fmt: skip
    assert len(warnings) == 1
    assert name in warnings[0] and site.url(path) in warnings[0]
    assert re.search(r"\[bjsupervision\] WARNING", warnings[0])
