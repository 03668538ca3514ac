"""Versions stored small (store/compress.py): every page and text reads back byte for byte,
new ones and those of a database converted in place by migration m013."""

from __future__ import annotations

import sqlite3
import zlib
from pathlib import Path

import pytest
from sqlite_utils import Database

from crawler.items import Notice
from store import compress
from store.compress import (
    RAW_DICT,
    RAW_NEXT,
    RAW_TEXT,
    TEXT_NEXT,
    TEXT_ZSTD,
    CompressError,
    raw_of,
    version_text,
)
from store.db import migrations, open_db
from store.fts import search
from store.notices import Store
from tests.conftest import seed, xunshi

SEED = seed("000_6f66318992fdd9a8.txt")

TEMPLATE = (
    "<head><meta charset='utf-8'><title>{title}</title><style>body{{font:14px sans-serif}}"
    ".nav li{{display:inline}}</style><script>var _hmt=_hmt||[];(function(){{var hm="
    "document.createElement('script');hm.src='//hm.example/hm.js?{site}';}})();</script>"
    "</head><body><ul class='nav'>"
    + "".join(f"<li><a href='/col{i}/'>栏目{i}</a></li>" for i in range(40))
    + "</ul><div class='crumb'>首页 &gt; 工作动态 &gt; 巡视巡察</div>"
)
FOOTER = "<div class='footer'>" + "".join(
    f"<a href='http://link{i}.gov.cn/'>友情链接{i}</a>" for i in range(60)
) + "<p>主办：{site}纪委监委 版权所有</p></div></body></html>"


def page(site: str, title: str, text: str, extra: str = "") -> bytes:
    body = "".join(f"<p style='text-indent:2em'>{line}</p>\n" for line in text.split("\n"))
    html = (
        "<!DOCTYPE html><html>"
        + TEMPLATE.format(title=title, site=site)
        + f"<div class='article'><h1>{title}</h1>{extra}{body}</div>"
        + FOOTER.format(site=site)
    )
    return html.encode("utf-8")


def text_of(i: int) -> str:
    """A different notice text for each i (the seed's lines rotated, a number changed)."""
    lines = SEED.split("\n")
    k = 1 + i % (len(lines) - 1)
    return "\n".join([lines[0], *lines[k:], *lines[1:k], f"（第{i}号）"])


def notice(site: str, i: int, text: str, raw: bytes | None = None) -> Notice:
    title = f"关于巡视整改进展情况的通报（{site}{i}）"
    n = Notice(
        site=site,
        url=f"http://www.{site}.gov.cn/xsxc/t2023_{i}.html",
        title=title,
        published_at="2023-06-27T09:02:00+08:00",
        source=f"{site}纪委监委",
        paragraphs=text.split("\n"),
        header=None,
        raw=raw if raw is not None else page(site, title, text),
        encoding="utf-8",
        status=200,
        headers={"content-type": "text/html; charset=utf-8"},
        fetched_at=f"2026-11-{1 + i % 28:02d}T10:00:00+00:00",
        province="浙江省",
    )
    n.text = text
    return n


def row(store: Store, notice_id: int, n: int) -> dict:
    return next(store.db.query("select * from versions where notice_id = ? and n = ?",
                               [notice_id, n]))  # fmt: skip


# -- pure functions -------------------------------------------------------------------------


def test_frames_read_back_only_with_their_prefix() -> None:
    raw = page("zjsjw", "标题", SEED)
    for base in (b"", b"<html>some dictionary bytes</html>" * 50, raw[:-100]):
        frame = compress.encode_page(raw, SEED, base)
        assert compress.decode_page(frame, SEED, base) == raw
        assert len(frame) < len(zlib.compress(raw, 6))
    frame = compress.encode_page(raw, SEED, raw[:-100])
    other = raw[:-100].replace(b"<p", b"<q")
    with pytest.raises(CompressError):  # a wrong base is an error (checksum), never wrong bytes
        compress.decode_page(frame, SEED, other)
    old, new = SEED, SEED.replace("8人次", "9人次")
    delta = compress.encode_text(old, new)
    assert compress.decode_text(delta, new) == old and len(delta) < 100
    alone = compress.encode_text(old, None)
    assert compress.decode_text(alone, None) == old and len(alone) < len(old.encode()) / 2
    assert compress.decode_text(compress.encode_text("短", "短文"), "短文") == "短"  # tiny prefix


def test_when_a_site_gets_a_dictionary() -> None:
    assert [compress.should_train(k, None) for k in (1, 15, 16, 40)] == [False, False, True, True]
    assert not compress.should_train(255, 16) and compress.should_train(256, 16)
    assert not compress.should_train(4095, 256) and compress.should_train(4096, 256)
    assert compress.train([b"<html>x</html>"] * 3) is None  # too few samples: none, no error


# -- recording ------------------------------------------------------------------------------


def test_every_version_reads_back_and_only_the_latest_text_is_plain(db_path: Path) -> None:
    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    for i in range(20):  # another site's notices: they get a dictionary, jssjw has none
        store.record(notice("zjsjw", i, text_of(i)), run)
    # one notice edited 19 times: a number each time, a line added every third time
    texts = [SEED + "".join(f"\n补充说明{j}" for j in range(3, k + 1, 3)) + f"\n累计{8 + k}人次"
             for k in range(20)]  # fmt: skip
    raws = [page("jssjw", "多次修改的通报", t, extra=f"<span>浏览{k}次</span>")
            for k, t in enumerate(texts)]  # fmt: skip
    for t, raw in zip(texts, raws, strict=True):
        rec = store.record(notice("jssjw", 99, t, raw), run)
    edited = rec.notice_id
    assert rec.version == 20

    for n, (t, raw) in enumerate(zip(texts, raws, strict=True), start=1):
        v = row(store, edited, n)
        assert raw_of(store.db, v) == raw and store.raw(v) == raw
        assert version_text(store.db, edited, n) == t and store.version(edited, n)["text"] == t
        if n == 20:
            assert v["text"] == t and v["text_codec"] is None  # search and Datasette read it
        else:
            assert isinstance(v["text"], bytes)
            assert v["text_codec"] == (TEXT_ZSTD if n == 16 else TEXT_NEXT)
        # the latest page stands alone (no dictionary for jssjw: its text only), older ones
        # are deltas against the next; every 16th stays whole, so a read decodes at most 16
        assert v["raw_codec"] == (RAW_TEXT if n in (16, 20) else RAW_NEXT)
    assert store.latest_version(edited)["text"] == texts[-1]
    pages = compress.PageCache(store.db, size=8)  # what the WARC export reads through
    for order in (range(1, 21), range(20, 0, -1)):
        assert [pages.raw({"notice_id": edited, "n": n}) for n in order] == [
            raws[n - 1] for n in order
        ]

    small = [row(store, edited, n) for n in range(1, 15) if (n + 1) % 3]
    assert max(len(v["raw"]) for v in small) < 300  # a few characters changed
    assert max(len(row(store, edited, n)["text"]) for n in range(2, 15) if (n + 1) % 3) < 120

    # the search index holds the latest text only: an older version's words are not found
    assert search(store.db, "累计27人次") and not search(store.db, "累计26人次")
    store.close()


def test_a_site_dictionary_is_trained_from_its_own_pages(db_path: Path) -> None:
    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    ids = [store.record(notice("zjsjw", i, text_of(i)), run).notice_id for i in range(24)]
    other = store.record(notice("bjsupervision", 1, text_of(1)), run).notice_id
    [d] = list(store.db.query("select * from page_dicts"))
    assert d["site"] == "zjsjw" and d["notices"] == 16 and d["samples"] == 15
    codecs = [(row(store, i, 1)["raw_codec"], row(store, i, 1)["raw_dict"]) for i in ids]
    assert codecs == [(RAW_TEXT, None)] * 15 + [(RAW_DICT, d["id"])] * 9
    assert row(store, other, 1)["raw_codec"] == RAW_TEXT  # another site's pages: not its dictionary
    for i, notice_id in enumerate(ids):
        assert raw_of(store.db, row(store, notice_id, 1)) == page(
            "zjsjw", f"关于巡视整改进展情况的通报（zjsjw{i}）", text_of(i)
        )
    with_dict = [len(row(store, i, 1)["raw"]) for i in ids[16:]]
    without = [len(row(store, i, 1)["raw"]) for i in ids[1:15]]
    assert max(with_dict) < min(without)
    store.close()

    store = Store.open(db_path)  # another process: it finds the dictionary, trains none
    store.record(notice("zjsjw", 30, text_of(30)), store.start_run("zjsjw"))
    assert store.db.table("page_dicts").count == 1
    store.close()


# -- migration m013 -------------------------------------------------------------------------


def test_migration_converts_a_database_in_place_and_every_byte_reads_back(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    old = Database(sqlite3.connect(str(path), isolation_level=None))
    migrations.apply(old, stop_before="m013_compressed_versions")
    store = Store(old)
    run = store.start_run("zjsjw")
    expected: dict[tuple[int, int], tuple[bytes, str]] = {}

    def record(n: Notice) -> None:
        rec = store.record(n, run)
        assert rec.outcome != "unchanged"
        expected[rec.notice_id, rec.version] = (n.raw, n.text or "")

    for i in range(18):  # a site big enough for a dictionary
        record(notice("zjsjw", i, text_of(i)))
    for site in ("jssjw", "scjc"):  # two small ones, with notices of 3 and 5 versions
        for i in range(3):
            texts = [text_of(i)]
            for k in range(1, 3 + 2 * (i == 2)):
                texts.append(texts[-1] + f"\n修改{k}·第{i}号")
            for k, t in enumerate(texts):
                record(notice(site, i, t, page(site, f"通报{i}", t, extra=f"<i>{k}</i>")))
    record(notice("scjc", 50, "短文", b""))  # a page of no bytes
    # The zlib era: the first notices were stored before zstd.
    zlib_ids = [1, 2, 19]
    for notice_id in zlib_ids:
        for (nid, n), (raw, _) in expected.items():
            if nid == notice_id:
                old.execute("update versions set raw = ? where notice_id = ? and n = ?",
                            [zlib.compress(raw, 6), nid, n])  # fmt: skip
    assert all(isinstance(r[0], str) for r in old.execute("select text from versions"))
    old.close()

    db = open_db(path)  # the writer's open migrates
    assert not migrations.pending(db)
    rows = list(db.query("select * from versions order by notice_id, n"))
    assert len(rows) == len(expected) > 30
    latest = {r["notice_id"]: r["n"] for r in rows}
    for r in rows:
        raw, text = expected[r["notice_id"], r["n"]]
        assert version_text(db, r["notice_id"], r["n"]) == text
        assert (raw_of(db, r) or b"") == raw
        if r["n"] == latest[r["notice_id"]]:
            assert r["text"] == text and r["text_codec"] is None
            assert r["raw_codec"] in (RAW_TEXT, RAW_DICT)
        else:
            assert isinstance(r["text"], bytes) and r["text_codec"] == TEXT_NEXT
            assert r["raw_codec"] == RAW_NEXT
    [d] = list(db.query("select site, notices from page_dicts"))
    assert d == {"site": "zjsjw", "notices": 18}
    assert {r["raw_codec"] for r in rows if r["notice_id"] <= 18} == {RAW_DICT}
    assert search(db, "修改4·第2号")  # the latest texts are still searched
    db.close()

    # The evidence as a user gets it: `show --raw` and the WARC give the bytes as fetched.
    scjc_5 = next(k for k, (raw, t) in expected.items() if "修改4" in t)
    for notice_id, n in ((1, 1), (scjc_5[0], 1), scjc_5):
        shown = xunshi("show", str(notice_id), "--version", str(n), "--raw", "--db", str(path))
        assert shown.stdout.encode("utf-8") == expected[notice_id, n][0]
        assert xunshi("show", str(notice_id), "--version", str(n), "--db", str(path)).stdout == (
            expected[notice_id, n][1] + "\n"
        )
    out = tmp_path / "evidence.warc.gz"
    xunshi("export", "--db", str(path), "--format", "warc", "-o", str(out))
    from warcio.archiveiterator import ArchiveIterator

    with out.open("rb") as fh:
        payloads = [r.raw_stream.read() for r in ArchiveIterator(fh) if r.rec_type == "response"]
    assert sorted(payloads) == sorted(raw for raw, _ in expected.values())  # the empty one too


def test_an_interrupted_conversion_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "old.db"
    old = Database(sqlite3.connect(str(path), isolation_level=None))
    migrations.apply(old, stop_before="m013_compressed_versions")
    store = Store(old)
    run = store.start_run("jssjw")
    expected = {}
    for i in range(6):
        for k in range(3):
            item = notice("jssjw", i, text_of(i) + f"\n第{k}次修改")
            rec = store.record(item, run)
            expected[rec.notice_id, rec.version] = (item.raw, item.text)
    compress.create_schema(old)
    todo = compress.notices_to_convert(old)
    assert len(todo) == 6
    compress.convert_database(old, todo=todo[:2])  # then the process was stopped
    assert len(compress.notices_to_convert(old)) == 4
    old.close()

    monkeypatch.setattr(compress, "PROGRESS_FROM", 3)  # a big database, as it were
    db = open_db(path)
    assert compress.notices_to_convert(db) == [] and not migrations.pending(db)
    err = capsys.readouterr().err
    assert "compressing 4 notices' versions" in err and "4/4 notices" in err and "VACUUM" in err
    for (notice_id, n), (raw, text) in expected.items():
        assert version_text(db, notice_id, n) == text
        assert raw_of(db, {"notice_id": notice_id, "n": n}) == raw
    db.close()


def test_a_damaged_frame_is_an_error_not_wrong_bytes(db_path: Path) -> None:
    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    store.record(notice("zjsjw", 1, SEED), run)
    rec = store.record(notice("zjsjw", 1, SEED + "\n补充"), run)
    store.db.execute("update versions set text = ? where notice_id = ? and n = 2",
                     ["另一个文本", rec.notice_id])  # fmt: skip
    with pytest.raises(CompressError):
        version_text(store.db, rec.notice_id, 1)
    store.close()


def test_show_raw_of_a_changed_notice(db_path: Path) -> None:
    store = Store.open(db_path)
    run = store.start_run("zjsjw")
    first = page("zjsjw", "标题", SEED)
    second = page("zjsjw", "标题", SEED + "\n补充", extra="<b>更新</b>")
    store.record(notice("zjsjw", 1, SEED, first), run)
    rec = store.record(notice("zjsjw", 1, SEED + "\n补充", second), run)
    store.close()
    for n, raw in ((1, first), (2, second)):
        out = xunshi("show", str(rec.notice_id), "--version", str(n), "--raw", "--db", str(db_path))
        assert out.stdout.encode() == raw
