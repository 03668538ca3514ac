"""What a changed version costs (issue 16): the search index takes only the tokens a change
adds and drops, and the line diff is derived from the texts instead of stored."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from crawler.facts import extract_facts
from store import fts
from store.db import migrations, write_transaction
from store.diff import diff_texts
from store.facts import fact_rows, fill_facts, from_rows
from store.fts import search
from store.notices import Store
from tests.test_fts import URL, index_ids, seed_store, substring_ids
from tests.test_store import make_notice


def integrity(db: Database) -> None:
    db.execute("insert into notices_bigrams(notices_bigrams, rank) values('integrity-check', 1)")


def index_pages(db: Database) -> list[tuple[int, bytes]]:
    return db.execute("select id, block from notices_bigrams_data order by id").fetchall()


def hit_ids(db: Database, query: str) -> set[int]:
    return {h.notice_id for h in search(db, query)}


def change(store: Store, notice_id: int, text: str) -> None:
    url, title = store.db.execute(
        "select url, title from notices where id = ?", [notice_id]
    ).fetchone()
    assert store.record(make_notice(text, url=url, title=title)).outcome == "changed"


def test_a_change_that_keeps_every_token_leaves_the_index_untouched(db_path: Path) -> None:
    store, n = seed_store(db_path)
    fts.flush(store.db)
    before = index_pages(store.db)
    # Punctuation changed, runs of letters untouched: the same pairs of characters.
    change(store, n["yinzhou"], "现将巡视整改进展情况予以公布!\n给予党纪处分8人次;")
    assert store.db.execute("select count(*) from notices_search_pending").fetchone()[0] == 1
    assert hit_ids(store.db, "公布!") == {n["yinzhou"]}  # pending: its text is searched
    assert fts.flush(store.db) == 1
    assert index_pages(store.db) == before  # not a byte of the index written
    integrity(store.db)
    assert hit_ids(store.db, "处分8人次;") == {n["yinzhou"]}
    assert hit_ids(store.db, "公布。") == {n["gongshu"], n["xuncha"]}
    store.close()


def test_a_change_of_tokens_writes_only_them_and_search_follows(db_path: Path) -> None:
    store, n = seed_store(db_path)
    fts.flush(store.db)
    change(store, n["yinzhou"], "现将巡视整改进展情况予以公布。\n给予党纪处分9人次,诫勉谈话3人。")
    # Pending: the index still holds the old tokens, search reads the text instead.
    assert index_ids(store.db, '"8人"') == {n["yinzhou"]}
    assert hit_ids(store.db, "8人次") == set()
    assert hit_ids(store.db, "9人次") == hit_ids(store.db, "诫勉") == {n["yinzhou"]}
    assert hit_ids(store.db, "8") == set()  # one character: exact for indexed notices
    delta = store.db.execute("select delta from notices_search_pending").fetchone()[0]
    dropped, added = (set(part.split()) for part in delta.split("\n"))
    assert dropped == {"分8", "8人"}
    assert added == {"分9", "9人", "诫勉", "勉谈", "谈话", "话3", "3人", "人"}
    fts.flush(store.db)
    integrity(store.db)
    assert index_ids(store.db, '"8人"') == set()
    assert index_ids(store.db, '"9人"') == index_ids(store.db, '"诫勉"') == {n["yinzhou"]}
    assert index_ids(store.db, '"巡视"') == {n["gongshu"], n["yinzhou"]}
    assert hit_ids(store.db, "8人次") == set()
    assert hit_ids(store.db, "处分9人次") == {n["yinzhou"]}
    # changed again, then its title: one pending entry, still the document the index holds
    change(store, n["yinzhou"], "现将巡视整改进展情况予以公布。\n给予党纪处分10人次。")
    store.db.execute("update notices set title = '改名的通报' where id = ?", [n["yinzhou"]])
    assert hit_ids(store.db, "改名") == {n["yinzhou"]}
    assert hit_ids(store.db, "区委关于") == {n["gongshu"]}  # the old title's words are gone
    assert hit_ids(store.db, "鄞州") == {n["yinzhou"]}  # still its unit
    fts.flush(store.db)
    integrity(store.db)
    assert index_ids(store.db, '"委关"') == {n["gongshu"]}
    assert index_ids(store.db, '"诫勉"') == set()
    assert index_ids(store.db, '"鄞州"') == index_ids(store.db, '"改名"') == {n["yinzhou"]}
    assert hit_ids(store.db, "处分10人次 改名") == {n["yinzhou"]}
    store.close()


def test_letters_that_unicode61_folded_together_are_tokens_of_their_own(db_path: Path) -> None:
    store, n = seed_store(db_path)
    fts.flush(store.db)
    # ſ is a letter to Python; FTS5's unicode61 (before m015) folded it to s, so that the
    # tokens "ſ" and "s" were one and a delta could not be trusted with it. The 'ascii'
    # tokenizer keeps every token as the document writes it: a change writes its delta.
    change(store, n["xuncha"], "现将巡察整改进展情况予以公布。\n制度12项,as,ſ,x²。")
    delta = store.db.execute("select delta from notices_search_pending").fetchone()[0]
    dropped, added = delta.split("\n")
    assert {"ſ", "s", "x²", "²"} <= set(added.split())
    assert index_ids(store.db, '"巡察"') == {n["xuncha"]}  # still in the index meanwhile
    integrity(store.db)
    assert hit_ids(store.db, "巡察") == hit_ids(store.db, "x²") == {n["xuncha"]}
    fts.flush(store.db)
    integrity(store.db)
    assert index_ids(store.db, '"ſ"') == index_ids(store.db, '"s"') == {n["xuncha"]}
    assert hit_ids(store.db, "x²") == hit_ids(store.db, "s") == hit_ids(store.db, "ſ")
    assert hit_ids(store.db, "ſ") == {n["xuncha"]}
    change(store, n["xuncha"], "现将巡察整改进展情况予以公布。\n制度13项,as。")
    delta = store.db.execute("select delta from notices_search_pending").fetchone()[0]
    assert {"ſ", "x²", "²"} <= set(delta.split("\n")[0].split())
    assert "s" not in delta.split("\n")[0].split()  # "as" still holds it
    fts.flush(store.db)
    integrity(store.db)
    assert index_ids(store.db, '"ſ"') == set()
    assert index_ids(store.db, '"s"') == {n["xuncha"]}
    assert hit_ids(store.db, "s") == {n["xuncha"]}  # still in the index, from "as"
    assert hit_ids(store.db, "x²") == hit_ids(store.db, "ſ") == set()
    assert hit_ids(store.db, "制度13项") == {n["xuncha"]}
    store.close()


def test_the_tokenizer_cuts_every_document_into_exactly_its_tokens() -> None:
    """What next_delta relies on to write only a difference: FTS5's tokenizer (this
    SQLite's) cuts the document of any text into exactly its space-separated tokens. The
    text holds every letter and digit of Unicode, alone and next to the following one."""
    letters = [c for c in map(chr, range(0x110000)) if c.isalnum()]
    text = " ".join(letters) + "。" + "".join(letters) + "-" + "".join(letters[::-7])
    doc = fts.bigrams(text)
    assert doc is not None and len(set(doc.split())) > 2 * len(letters)
    conn = sqlite3.connect(":memory:")
    conn.execute(
        f"create virtual table t using fts5(doc, detail = none, tokenize = '{fts.TOKENIZER}')"
    )
    conn.execute("create virtual table v using fts5vocab(t, 'row')")
    conn.execute("insert into t (rowid, doc) values (1, ?)", [doc])
    assert {r[0] for r in conn.execute("select term from v")} == set(doc.split())
    # and a query's tokens are cut the same way
    for letter in "ſǅⅷ²Ａ𠀀İßΣ鄞":
        at = letters.index(letter)
        for term in (letter, letter + letters[at + 1]):  # each a part of the text
            match = fts.bigram_query(term)
            found = conn.execute("select rowid from t where t match ?", [match]).fetchall()
            assert found == [(1,)], term


def test_the_line_diff_is_derived_from_the_texts_exactly_as_it_was_stored(
    db_path: Path,
) -> None:
    store = Store.open(db_path)
    url = URL.format(1, 1)
    texts = [f"第一段\n给予党纪处分{k}人次\n建立制度{k * 3}项\n尾段" for k in range(1, 20)]
    for text in texts:
        store.record(make_notice(text, url=url))
    notice_id = store.find_notice(url)["id"]
    stored = store.db.execute(
        "select n, diff from versions where notice_id = ? order by n", [notice_id]
    ).fetchall()
    assert [d for _, d in stored] == [None] * len(texts)  # not stored (version 1 has none)
    for n in range(2, len(texts) + 1):  # older texts are compressed, some across keyframes
        expect = diff_texts(texts[n - 2], texts[n - 1], old_label=f"v{n - 1}", new_label=f"v{n}")
        assert store.version(notice_id, n)["diff"] == expect.unified
    assert store.version(notice_id, 1)["diff"] is None
    # A row recorded before keeps the diff it stored.
    store.db.execute(
        "update versions set diff = 'as stored' where notice_id = ? and n = 2", [notice_id]
    )
    assert store.version(notice_id, 2)["diff"] == "as stored"
    store.close()


def test_m014_keeps_the_index_and_the_pending_notices_of_an_older_database(
    tmp_path: Path,
) -> None:
    path2 = tmp_path / "m012.db"
    raw = Database(sqlite3.connect(path2))
    fts.register_functions(raw.conn)
    migrations.apply(raw, stop_before="m014_change_costs")
    store = Store(raw)
    urls = [URL.format(3, i) for i in range(40)]
    for i, url in enumerate(urls):
        store.record(make_notice(f"第{i}号通报\n给予党纪处分{i}人次。", url=url))
    pending = raw.execute("select count(*) from notices_search_pending").fetchone()[0]
    assert 0 < pending < 40
    assert "delta" not in raw["notices_search_pending"].columns_dict
    data = index_pages(raw)
    migrations.apply(raw, stop_before="m015_search_tokenizer")  # m014 runs
    assert "delta" in raw["notices_search_pending"].columns_dict
    assert raw.execute("select count(*) from notices_search_pending").fetchone()[0] == pending
    assert index_pages(raw) == data  # the index as it was
    raw.conn.close()
    store = Store.open(path2)  # and the rest
    integrity(store.db)
    for i in (0, 5, 39):
        assert hit_ids(store.db, f"第{i}号") == {store.find_notice(urls[i])["id"]}
    change(store, store.find_notice(urls[0])["id"], "第0号通报\n给予党纪处分100人次。")
    fts.flush(store.db)
    integrity(store.db)
    assert hit_ids(store.db, "处分100人次") == {store.find_notice(urls[0])["id"]}
    assert hit_ids(store.db, "39人次") == {store.find_notice(urls[39])["id"]}
    store.close()


def test_m015_makes_the_index_again_and_search_finds_the_same(tmp_path: Path) -> None:
    """An index of m012's unicode61 tokenizer, with pending notices new and changed (their
    deltas), is made again with the 'ascii' one: FTS5's integrity check passes, every
    search gives what a substring scan gives, before the flush and after it."""
    path = tmp_path / "m014.db"
    raw = Database(sqlite3.connect(path))
    fts.register_functions(raw.conn)
    migrations.apply(raw, stop_before="m015_search_tokenizer")
    store = Store(raw)
    urls = [URL.format(6, i) for i in range(40)]  # hits: 50 at most
    for i, url in enumerate(urls):
        store.record(make_notice(f"第{i}号通报\n给予党纪处分{i}人次。Ab,ſ{i % 3}", url=url))
    fts.flush(raw)
    for i in range(0, 40, 9):  # changed after the flush: pending with a delta
        change(store, store.find_notice(urls[i])["id"], f"第{i}号通报\n给予党纪处分{i + 100}人次。")
    for i in range(40, 45):  # new: pending, out of the index
        urls.append(URL.format(6, i))
        store.record(make_notice(f"第{i}号通报\n新的通报,诫勉{i}人。", url=urls[-1]))
    pending = raw.execute("select count(*), count(delta) from notices_search_pending").fetchone()
    assert pending[0] > pending[1] > 0
    words = ["第1号", "处分109人次", "诫勉42人", "ab", "ſ1", "s", "通报", "处分9人次", "号通"]
    before = {w: substring_ids(raw, w) for w in words}
    assert before["ſ1"] and not before["s"]
    assert (
        "unicode61"
        in raw.execute("select sql from sqlite_master where name = 'notices_bigrams'").fetchone()[0]
    )
    raw.conn.close()
    store = Store.open(path)  # m015 runs
    sql = store.db.execute("select sql from sqlite_master where name = 'notices_bigrams'")
    assert f"tokenize = '{fts.TOKENIZER}'" in sql.fetchone()[0]
    assert (
        store.db.execute("select count(*), count(delta) from notices_search_pending").fetchone()
        == pending
    )
    integrity(store.db)
    for word in words:
        assert hit_ids(store.db, word) == before[word] == substring_ids(store.db, word), word
    fts.flush(store.db)
    integrity(store.db)
    for word in words:
        assert hit_ids(store.db, word) == before[word], word
    store.close()


def test_random_changes_keep_search_exact_and_the_index_sound(db_path: Path) -> None:
    """Texts, titles and units changed at random, several times before a flush, sometimes
    with characters that send a notice out of the index whole; after every step search
    agrees with a plain substring scan, and after every flush FTS5's integrity check
    (the index against its content) passes."""
    rng = random.Random(16)
    words = ["巡视", "整改", "处分", "诫勉", "制度", "8人次", "9人次", "鄞州", "ab1", "谈话",
             "移送", "司法", "党纪", "政务", "问责", "追责", "挽回", "损失", "12项", "万元", "as"]  # fmt: skip
    # Characters FTS5's unicode61 cut otherwise (ſ was folded to s), now tokens as written.
    odd = ["x²", "ｆ类", "ſ"]
    checked = [*words, "x²", "ｆ类", "ſ", "s"]
    store = Store.open(db_path)
    urls = [URL.format(4, i) for i in range(12)]

    def text() -> str:
        lines = ["".join(rng.choices(words, k=rng.randint(1, 4))) for _ in range(3)]
        if rng.random() < 0.1:
            lines.append(rng.choice(odd))
        return "\n".join(lines)

    for url in urls:
        store.record(make_notice(text(), url=url, title="".join(rng.choices(words, k=2))))
    fts.flush(store.db)
    for step in range(120):
        url = rng.choice(urls)
        notice_id = store.find_notice(url)["id"]
        if rng.random() < 0.25:
            column = rng.choice(["title", "unit"])
            store.db.execute(
                f"update notices set {column} = ? where id = ?",
                ["".join(rng.choices(words, k=2)), notice_id],
            )
        else:
            title = store.notice(notice_id)["title"]
            store.record(make_notice(text(), url=url, title=title))
        for word in rng.sample(checked, 8):
            assert hit_ids(store.db, word) == substring_ids(store.db, word), (step, word)
        if rng.random() < 0.2:
            fts.flush(store.db)
            integrity(store.db)
    fts.flush(store.db)
    integrity(store.db)
    for word in checked:
        assert hit_ids(store.db, word) == substring_ids(store.db, word), word
    store.close()


FACT_TEXT = (
    "根据省委统一部署,2023年3月2日至5月31日,省委第10巡视组对绍兴市越城区开展了常规巡视。\n"
    "2023年7月26日,省委巡视组向越城区委反馈了巡视意见。\n"
    "在巡视整改工作中,给予党纪处分{n}人次,政务处分4人次;移送司法1人;诫勉4人,建立完善制度43项。"
)
FACT_TEXTS = [
    FACT_TEXT.format(n=8),
    FACT_TEXT.format(n=9),  # two counts' sentence changed
    FACT_TEXT.format(n=9) + "\n附:整改台账。",  # no fact changed
    "现将巡视整改进展情况予以公布。",  # every fact of the text gone
    FACT_TEXT.format(n=9),  # back again: rows of their own
]


def facts_json(store: Store, notice_id: int, n: int) -> str:
    return json.dumps(store.facts(notice_id, n), ensure_ascii=False)


def test_a_fact_stated_as_before_extends_its_row(db_path: Path) -> None:
    store = Store.open(db_path)
    url = URL.format(5, 1)
    rows_after = []
    for text in FACT_TEXTS:
        store.record(make_notice(text, url=url))
        rows_after.append(store.db.execute("select count(*) from facts").fetchone()[0])
    notice_id = store.find_notice(url)["id"]
    notice = store.notice(notice_id)
    for n, text in enumerate(FACT_TEXTS, 1):
        expect = extract_facts(text, notice["title"], notice["published_at"])
        rows = sorted((r[2], r[3], r[4]) for r in fact_rows(notice_id, n, expect))
        assert store.facts(notice_id, n) == from_rows(rows), n
    assert store.facts(notice_id, 2)["counts"]["party_discipline"] == 9
    assert store.facts(notice_id, 4)["counts"] == {}
    # version 1 wrote 12 rows; version 2 the two counts of the changed sentence; version 3
    # nothing; version 4 its two facts (kind and level, from the title, said otherwise);
    # version 5 its 12 anew
    assert rows_after == [12, 14, 14, 16, 28]
    assert store.db.execute(
        "select version, last_version from facts where key = 'group' order by version"
    ).fetchall() == [(1, 3), (5, None)]
    events = store.events(kind="facts_changed")
    assert {
        (e["detail"]["to_version"], e["detail"]["key"])
        for e in events
        if e["detail"]["to_version"] == 2
    } == {(2, "party_discipline")}
    latest = store.db.execute(
        'select party_discipline, "group", version from notice_facts where notice_id = ?',
        [notice_id],
    ).fetchone()
    assert latest == (9, "省委第10巡视组", 5)
    before = [facts_json(store, notice_id, n) for n in range(1, 6)]
    with write_transaction(store.db):
        assert fill_facts(store.db) == 0  # every version has its facts
    rows = store.db.execute("select * from facts order by notice_id, version, key").fetchall()
    with write_transaction(store.db):
        fill_facts(store.db, rebuild=True)  # each version extends the one before, again
    assert [facts_json(store, notice_id, n) for n in range(1, 6)] == before
    assert (
        store.db.execute("select * from facts order by notice_id, version, key").fetchall() == rows
    )
    # rows left for versions not stored (one deleted by hand, say) do not cover the next
    store.db.execute(
        "update facts set last_version = 9 where notice_id = ? and version = 5 and key = 'group'",
        [notice_id],
    )
    store.db.execute(
        "insert into facts (notice_id, version, key, value) values (?, 6, 'round', '第九轮')",
        [notice_id],
    )
    store.record(make_notice(FACT_TEXTS[2], url=url))
    assert facts_json(store, notice_id, 6) == before[2]
    assert [facts_json(store, notice_id, n) for n in range(1, 6)] == before
    store.close()


def test_m014_reads_every_version_s_facts_as_before(tmp_path: Path) -> None:
    path = tmp_path / "m013.db"
    raw = Database(sqlite3.connect(path))
    fts.register_functions(raw.conn)
    migrations.apply(raw, stop_before="m014_change_costs")
    store = Store(raw)
    url = URL.format(5, 2)
    for text in FACT_TEXTS:
        store.record(make_notice(text, url=url))
    notice_id = store.find_notice(url)["id"]
    rows = raw.execute("select * from facts order by notice_id, version, key").fetchall()
    before = [facts_json(store, notice_id, n) for n in range(1, 6)]
    view = raw.execute("select * from notice_facts").fetchall()
    stored = {t: raw.execute(f"select * from {t} order by id").fetchall()
              for t in ("versions", "events", "notices")}  # fmt: skip
    read = [(v["text"], v["diff"], v["char_diff"], store.raw(v))
            for v in (store.version(notice_id, n) for n in range(1, 6))]  # fmt: skip
    raw.conn.close()
    store = Store.open(path)  # m014 runs
    for table, table_rows in stored.items():
        assert store.db.execute(f"select * from {table} order by id").fetchall() == table_rows
    assert [(v["text"], v["diff"], v["char_diff"], store.raw(v))
            for v in (store.version(notice_id, n) for n in range(1, 6))] == read  # fmt: skip
    assert [facts_json(store, notice_id, n) for n in range(1, 6)] == before
    assert store.db.execute("select * from notice_facts").fetchall() == view
    after = store.db.execute(
        "select notice_id, version, key, value, evidence from facts "
        "order by notice_id, version, key"
    ).fetchall()
    assert after == rows  # nothing converted
    store.record(make_notice(FACT_TEXTS[-1] + "\n附件。", url=url))
    assert store.facts(notice_id, 6) == store.facts(notice_id, 5)
    assert len(store.db.execute("select * from facts").fetchall()) == len(rows)
    assert [facts_json(store, notice_id, n) for n in range(1, 6)] == before
    store.close()


def test_a_change_keeping_the_districts_leaves_their_rows(db_path: Path) -> None:
    store = Store.open(db_path)
    url = URL.format(6, 1)
    first = store.record(make_notice("拱墅区委整改情况。\n给予党纪处分8人次。", url=url))
    store.record(make_notice("拱墅区委整改情况。", url=URL.format(6, 2)))  # rows after it

    def rows() -> list[tuple[int, str]]:
        return store.db.execute(
            "select rowid, code from notice_districts where notice_id = ? order by rowid",
            [first.notice_id],
        ).fetchall()

    before = rows()
    assert [code for _, code in before] == ["330105"]
    store.record(make_notice("拱墅区委整改情况。\n给予党纪处分9人次。", url=url))
    assert rows() == before  # the same row, not deleted and written again
    title = "中共宁波市鄞州区委关于省委巡视整改进展情况的通报"
    store.record(make_notice("鄞州区委整改情况。\n给予党纪处分9人次。", url=url, title=title))
    assert [code for _, code in rows()] == ["330212"]
    assert [e["detail"]["district_code"] for e in store.events(kind="new_district")] == [
        "330105",
        "330212",
    ]
    store.close()


def test_a_superseded_version_moves_to_the_end_of_the_table_as_stored(db_path: Path) -> None:
    """Its text and page become deltas in a new row at the end of the table (a row shrunk
    in place leaves its leaf page partly empty for good); every other column is as stored."""
    store = Store.open(db_path)
    url = URL.format(7, 1)
    texts = [
        "第一段\n给予党纪处分8人次。",
        "第一段\n给予党纪处分9人次。",
        "第一段\n给予党纪处分10人次。",
    ]
    pages = [f"<html><p>{t}</p>{'模板' * 500}</html>".encode() for t in texts]
    rows = []
    for text, page in zip(texts, pages, strict=True):
        store.record(make_notice(text, url=url, raw=page))
        rows.append(  # version k as recorded, before k + 1 supersedes it
            store.db.execute("select * from versions order by n desc limit 1").fetchone()
        )
    names = [d[1] for d in store.db.execute("pragma table_info(versions)")]
    notice_id = store.find_notice(url)["id"]
    stored = {r[names.index("n")]: r for r in store.db.execute(
        "select * from versions where notice_id = ?", [notice_id])}  # fmt: skip
    assert sorted(stored) == [1, 2, 3]
    assert stored[3] == rows[2]  # the latest stays where it was, untouched
    for n in (1, 2):  # moved behind the version that superseded it
        assert stored[n][0] > rows[n][0] > rows[n - 1][0]
    kept = [i for i, c in enumerate(names)
            if c not in ("id", "text", "text_codec", "raw", "raw_codec", "raw_dict")]  # fmt: skip
    for n in (1, 2):
        assert [stored[n][i] for i in kept] == [rows[n - 1][i] for i in kept]
        assert len(stored[n][names.index("raw")]) < 100  # a delta against the next page
        version = store.version(notice_id, n)
        assert version["text"] == texts[n - 1]
        assert store.raw(version) == pages[n - 1]
    assert store.db.execute("select count(*) from versions where n < 1").fetchone()[0] == 0
    fts.flush(store.db)
    integrity(store.db)
    assert hit_ids(store.db, "处分10人次") == {notice_id}
    store.close()
