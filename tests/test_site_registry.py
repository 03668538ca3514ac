"""Sites are data: the TOML registry, a user's site file, bad entries refused with file/line/key, URL identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.items import canonical_url
from crawler.sites import (
    BUILTIN_FILE,
    SiteFileError,
    load_registry,
    parse_site_file,
    read_site_file,
)
from store.db import m011_query_in_notice_keys
from store.notices import Store
from tests.conftest import xunshi
from tests.test_store import make_notice

GOOD = """\
# my newsroom's sites
[sites.hzjw]
url = "http://www.hzjw.gov.cn/"
label = "杭州市纪委市监委"
province = "浙江省"

[sites.zjsjw]
url = "http://127.0.0.1:9/gongzuodongtai/xunshixuncha/index.shtml"
family = "trs"
"""


# ---------------------------------------------------------------------------------------
# The loader
# ---------------------------------------------------------------------------------------


def test_builtin_registry_is_the_package_data_file() -> None:
    sites = load_registry()
    assert BUILTIN_FILE.name == "sites.toml" and BUILTIN_FILE.is_file()
    assert sites == read_site_file(BUILTIN_FILE, "built-in")
    assert all(p.origin == "built-in" for p in sites.values())


def test_a_one_line_entry_gets_its_family_defaults(tmp_path: Path) -> None:
    file = tmp_path / "mine.toml"
    file.write_text(GOOD, encoding="utf-8")
    sites = read_site_file(file)
    hzjw = sites["hzjw"]
    assert hzjw.discover and hzjw.start_urls == ("http://www.hzjw.gov.cn/",)
    assert hzjw.family == "generic" and hzjw.article_path is None and hzjw.origin == str(file)
    # Without an article pattern any link on the site's hosts is a candidate article.
    assert hzjw.is_article_url("http://www.hzjw.gov.cn/a/b.html")
    assert not hzjw.is_article_url("http://www.example.com/a/b.html")
    zj = sites["zjsjw"]
    assert zj.family == "trs" and zj.is_article_url("http://127.0.0.1:9/x/202306/t20230626_1_ext.html")
    assert "div.TRS_Editor" in zj.body and zj.list_links  # the TRS defaults


def test_a_user_entry_replaces_the_builtin_one(tmp_path: Path) -> None:
    file = tmp_path / "mine.toml"
    file.write_text(GOOD, encoding="utf-8")
    builtin = load_registry()
    merged = load_registry(file)
    assert set(merged) == set(builtin) | {"hzjw"}
    assert merged["zjsjw"].base_url == "http://127.0.0.1:9" and merged["zjsjw"].origin == str(file)
    assert merged["shjjjc"] == builtin["shjjjc"]


BAD = [
    # (file text, line, key in the message, words in the message)
    ('[sites.a]\nlabel = "x"\n', 1, "[sites.a]", "no url"),
    ('[sites.a]\nurl = "http://a.gov.cn/"\ncolour = "red"\n', 3, "[sites.a] colour", "unknown key"),
    ('[sites.a]\nurl = "http://a.gov.cn/"\n\nfamily = "wordpress"\n', 4, "[sites.a] family", "unknown family"),  # fmt: skip
    ("[sites.a]\nurl = \"http://a.gov.cn/\"\narticle = '/t(\\d+.html'\n", 3, "[sites.a] article", "not a regular expression"),  # fmt: skip
    ('[sites.a]\nurl = "ftp://a.gov.cn/"\n', 2, "[sites.a] url", "not an http(s) URL"),
    ('[sites.a]\nurl = "http://a.gov.cn/"\n\n[sites.b]\nurl = "http://b.gov.cn/"\n\n[sites.a]\nurl = "http://c.gov.cn/"\n', 7, "[sites.a]", "used twice (first at line 1)"),  # fmt: skip
    ('[sites.a]\nurl = "http://a.gov.cn/"\nbody = ["div.ok", "div[[bad"]\n', 3, "[sites.a] body", "not a CSS selector"),  # fmt: skip
    ('[sites.A-1]\nurl = "http://a.gov.cn/"\n', 1, "[sites.A-1]", "lower-case"),
    ('[sites.a]\nurl = "http://a.gov.cn/"\nheader = "top"\n', 3, "[sites.a] header", "must be one of"),
    ('[sites.a]\nurl = "http://a.gov.cn/"\nconfirmed = ["address", "rumour"]\n', 3, "[sites.a] confirmed", "rumour"),  # fmt: skip
    ('[sites.a]\nurl = "http://a.gov.cn/"\nlist = "xszg/"\n', 3, "[sites.a] list", "a path"),
    ('[sites.a]\nurl = "http://a.gov.cn/"\ndelay = -1\n', 3, "[sites.a] delay", "number of seconds"),
    ('[sites.a]\nurl = "http://a.gov.cn/\n', 2, "", "not valid TOML"),
    ('db = "x.db"\n[sites.a]\nurl = "http://a.gov.cn/"\n', 1, "db", "unknown key"),
]


@pytest.mark.parametrize(("text", "line", "where", "words"), BAD)
def test_a_bad_entry_is_refused_with_file_line_and_key(
    tmp_path: Path, text: str, line: int, where: str, words: str
) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(SiteFileError) as caught:
        read_site_file(file)
    err = caught.value
    assert (err.file, err.line, err.where) == (str(file), line, where)
    assert words in err.message and str(err).startswith(f"{file}:{line}: ")


def test_a_multiline_array_is_not_mistaken_for_keys() -> None:
    text = '[sites.a]\nurl = "http://a.gov.cn/"\nnotes = [\n  "x = y",\n  "[sites.b]",\n]\ncolour = 1\n'  # fmt: skip
    with pytest.raises(SiteFileError) as caught:
        parse_site_file(text, "f.toml")
    assert caught.value.line == 7 and caught.value.where == "[sites.a] colour"


# ---------------------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------------------


def test_crawl_with_a_bad_site_file_fetches_and_stores_nothing(serve, tmp_path: Path) -> None:
    site = serve("zjsjw")
    file = tmp_path / "sites.toml"
    file.write_text(
        f'[sites.good]\nurl = "{site.url("/gongzuodongtai/xunshixuncha/index.shtml")}"\n\n'
        f'[sites.bad]\nurl = "{site.url("/")}"\nfamily = "trs"\nbody = "div.x"\nselector = "div.y"\n',
        encoding="utf-8",
    )
    db = tmp_path / "x.db"
    proc = xunshi("crawl", "--sites", str(file), "--db", str(db), check=False)
    assert proc.returncode != 0
    assert f"{file}:8: [sites.bad] selector: unknown key" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert site.log == [] and not db.exists()
    # The same through $XUNSHI_SITES, naming a good site of it.
    proc = xunshi("crawl", "good", "--db", str(db), env={"XUNSHI_SITES": str(file)}, check=False)
    assert proc.returncode != 0 and f"{file}:8:" in proc.stderr
    assert site.log == [] and not db.exists()


def test_crawl_sites_file_crawls_every_site_of_it(serve, tmp_path: Path) -> None:
    site = serve("zjsjw")
    file = tmp_path / "mine.toml"
    file.write_text(
        "[sites.zjcopy]\n"
        f'url = "{site.url("/gongzuodongtai/xunshixuncha/index.shtml")}"\n'
        'family = "trs"\nheader = "date_source"\nprovince = "浙江省"\n',
        encoding="utf-8",
    )
    db = tmp_path / "x.db"
    proc = xunshi("crawl", "--sites", str(file), "--db", str(db), "--json")
    runs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["site"] for r in runs] == ["zjcopy"] and runs[0]["new"] > 0
    store = Store.open(db)
    try:
        assert {n["site"] for n in store.notices()} == {"zjcopy"}
    finally:
        store.close()
    listed = json.loads(xunshi("sites", "--sites", str(file), "--db", str(db), "--format", "json").stdout)  # fmt: skip
    row = next(r for r in listed if r["site"] == "zjcopy")
    assert row["origin"] == str(file) and row["last_crawl"].startswith("ok ")
    assert f"{runs[0]['new']} new" in row["last_crawl"]


def test_sites_add_appends_a_checked_entry(tmp_path: Path) -> None:
    file = tmp_path / "mine.toml"
    out = xunshi("sites", "add", "hzjw", "http://www.hzjw.gov.cn/", "--province", "浙江",
                 "--label", "杭州市纪委市监委", "--sites", str(file)).stdout  # fmt: skip
    assert "added hzjw" in out
    entry = read_site_file(file)["hzjw"]
    assert (entry.label, entry.province, entry.discover) == ("杭州市纪委市监委", "浙江省", True)
    before = file.read_text(encoding="utf-8")
    for args, words in (
        (["hzjw", "http://www.hzjw.gov.cn/"], "already there"),
        (["Bad-Name", "http://x.gov.cn/"], "lower-case"),
        (["ok", "javascript:alert(1)"], "not an http(s) URL"),
        (["ok2", "http://x.gov.cn/", "--province", "火星"], "unknown province"),
    ):
        proc = xunshi("sites", "add", *args, "--sites", str(file), check=False)
        assert proc.returncode != 0 and words in proc.stderr, (args, proc.stderr)
        assert file.read_text(encoding="utf-8") == before
    xunshi("sites", "add", "zjsjw", "http://www.zjsjw.gov.cn/", "--sites", str(file))
    listed = json.loads(xunshi("sites", "--sites", str(file), "--db", str(tmp_path / "none.db"),
                               "--format", "json").stdout)  # fmt: skip
    origins = {r["site"]: r["origin"] for r in listed}
    assert origins["zjsjw"] == origins["hzjw"] == str(file) and origins["ccdi"] == "built-in"
    assert not (tmp_path / "none.db").exists()  # listing never creates a database


def test_sites_add_needs_a_file(tmp_path: Path) -> None:
    proc = xunshi("sites", "add", "x", "http://x.gov.cn/", check=False,
                  env={"XUNSHI_CONFIG": str(tmp_path / "none.toml")})  # fmt: skip
    assert proc.returncode == 2 and "--sites FILE" in proc.stderr


def test_sites_file_in_the_config(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text('[sites.hzjw]\nurl = "http://www.hzjw.gov.cn/"\n', encoding="utf-8")  # fmt: skip
    config = tmp_path / "xunshi.toml"
    config.write_text('sites_file = "mine.toml"\n[sites.hzjw]\ncron = "0 8 * * *"\n', encoding="utf-8")  # fmt: skip
    listed = xunshi("sites", "--format", "json", "--db", str(tmp_path / "n.db"),
                    env={"XUNSHI_CONFIG": str(config)}).stdout  # fmt: skip
    assert any(r["site"] == "hzjw" for r in json.loads(listed))
    assert "hzjw" in xunshi("schedule", "--list", "--config", str(config)).stdout


# ---------------------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------------------

CANONICAL = [
    ("http://www.a.gov.cn/show.asp?id=8879", "www.a.gov.cn/show.asp?id=8879"),
    ("http://www.a.gov.cn/info_show.asp?infoid=8879&utm_source=wx&from=timeline#p2",
     "www.a.gov.cn/info_show.asp?infoid=8879"),  # fmt: skip
    ("https://a.gov.cn/content.jsp?id=12&spm=a.b.c", "a.gov.cn/content.jsp?id=12"),
    ("http://a.gov.cn/news.php?page=1&cid=15", "a.gov.cn/news.php?cid=15&page=1"),  # sorted
    ("https://WWW.ccdi.gov.cn/x/t1_m.html?from=a#top", "www.ccdi.gov.cn/x/t1.html"),
    ("http://a.gov.cn:8080/a.html", "a.gov.cn:8080/a.html"),
    ("http://a.gov.cn:80/a.html?", "a.gov.cn/a.html"),
]


@pytest.mark.parametrize(("url", "key"), CANONICAL)
def test_canonical_url(url: str, key: str) -> None:
    assert canonical_url(url) == key


def test_pages_told_apart_by_their_query_are_two_notices(db_path: Path) -> None:
    store = Store.open(db_path)
    a = store.record(make_notice("甲", url="http://www.x.gov.cn/show.asp?id=1"))
    b = store.record(make_notice("乙", url="http://www.x.gov.cn/show.asp?id=2&utm_medium=x"))
    c = store.record(make_notice("乙", url="http://www.x.gov.cn/show.asp?utm_medium=y&id=2"))
    assert a.notice_id != b.notice_id == c.notice_id and c.outcome == "unchanged"
    store.close()


def test_migration_rekeys_stored_notices(db_path: Path) -> None:
    store = Store.open(db_path)
    legacy = store.record(make_notice("甲", url="http://www.x.gov.cn/show.asp?id=1"))
    plain = store.record(make_notice("乙"))
    # What an older version stored: the query dropped from the key.
    store.db.execute("update notices set key = 'www.x.gov.cn/show.asp' where id = ?", [legacy.notice_id])  # fmt: skip
    m011_query_in_notice_keys(store.db)
    keys = {r["id"]: r["key"] for r in store.db.query("select id, key from notices")}
    assert keys[legacy.notice_id] == "www.x.gov.cn/show.asp?id=1"
    assert keys[plain.notice_id] == "www.zjsjw.gov.cn/a/202306/t20230626_1_ext.html"
    again = store.record(make_notice("甲", url="https://www.x.gov.cn/show.asp?id=1#x"))
    assert again.notice_id == legacy.notice_id and again.outcome == "unchanged"
    store.close()


# ---------------------------------------------------------------------------------------
# The registry and its documentation
# ---------------------------------------------------------------------------------------


def test_docs_and_readme_tables_match_the_registry() -> None:
    from crawler.registry_doc import rendered

    for path, text in rendered().items():
        assert path.read_text(encoding="utf-8") == text, f"{path}: run python -m crawler.registry_doc"  # fmt: skip


def test_the_registry_covers_the_ccdi_and_provinces_it_can_name() -> None:
    from store.districts import normalize_province

    sites = load_registry()
    assert "ccdi" in sites and sites["ccdi"].province is None
    provinces = [p.province for p in sites.values() if p.province]
    assert len(provinces) == len(set(provinces)) == 31  # one commission per province
    assert all(normalize_province(p) == p for p in provinces)
    for p in sites.values():
        assert "address" in p.confirmed and p.notes, p.name
        # What is not confirmed is said in the notes.
        if not p.verified:
            assert any("[U]" in n or "[I]" in n for n in p.notes), p.name
        assert p.base_url.startswith(("http://", "https://")) and p.base_url.count("/") == 2


def test_an_entry_delay_is_its_spiders_download_delay() -> None:
    from crawler.spiders.notices import _spider_class

    sites = parse_site_file('[sites.slow]\nurl = "http://a.gov.cn/"\ndelay = 3\n\n[sites.quick]\nurl = "http://b.gov.cn/"\n')  # fmt: skip
    assert _spider_class(sites["slow"]).custom_settings == {"DOWNLOAD_DELAY": 3.0}
    assert not _spider_class(sites["quick"]).custom_settings


def test_a_bad_xunshi_sites_file_stops_the_scheduler_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[sites.x]\nlabel = "no url"\n', encoding="utf-8")
    config = tmp_path / "xunshi.toml"
    config.write_text('[sites.zjsjw]\ncron = "0 8 * * *"\n', encoding="utf-8")
    proc = xunshi("schedule", "--list", "--config", str(config), env={"XUNSHI_SITES": str(bad)}, check=False)  # fmt: skip
    assert proc.returncode != 0 and f"{bad}:1: [sites.x]: no url" in proc.stderr
    proc = xunshi("sites", env={"XUNSHI_SITES": str(bad)}, check=False)
    assert proc.returncode != 0 and f"{bad}:1:" in proc.stderr and "Traceback" not in proc.stderr
