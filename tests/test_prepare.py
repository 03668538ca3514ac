"""The writer's fast path (issue 16): the index document computed faster but the same, and
the prepare step (store/prepare.py) that moves the pure per-notice work out of the writer."""

from __future__ import annotations

import random
import re
import sqlite3
import time
from dataclasses import replace
from operator import add
from pathlib import Path
from typing import Any

import pytest
from scrapy.exceptions import DropItem

from crawler.items import Notice
from store import compress, fts
from store import notices as notices_module
from store.fts import bigrams
from store.notices import Store
from store.prepare import Prepared, code_digest, prepare, text_sha256
from tests import sitegen
from tests.conftest import SEEDS, SHARED

_WORD = re.compile(r"[^\W_]+")


def reference_bigrams(text: str | None) -> str | None:
    """store.fts.bigrams as it was written first (Python loops): the output to keep."""
    if text is None:
        return None
    out: list[str] = []
    for run in _WORD.findall(text.lower()):
        out.extend(map(add, run, run[1:]))
        out.append(run[-1])
    return " ".join(dict.fromkeys(out))


def corpus_texts() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    fixtures = sorted((SHARED / "fixtures" / "ccdi").glob("*.html"))
    texts += [p.read_text(encoding="utf-8", errors="replace") for p in fixtures]
    assert len(texts) >= 10, "the seeds and CCDI fixtures are missing"
    return texts


def test_bigrams_same_document_as_before_on_seeds_and_fixtures() -> None:
    for text in corpus_texts():
        assert bigrams(text) == reference_bigrams(text)
        # the haystack the index's SQL builds: title, unit, text, lower-cased by SQLite
        haystack = "标题Title\n杭州市西湖区\n" + text
        assert bigrams(haystack) == reference_bigrams(haystack)


@pytest.mark.parametrize(
    "text",
    ["", "a", "。", "ab", "a。b", "AbC dEf", "İstanbul", "x_y", "巡视整改。巡视", "\0a\0",
     "𠀀𠀁a𠀀", "12人次\n\n13", "  ", "ＡＢ１２", "ß", "\ud800a",
     # above the table (planes 4-16: tags, private use) and at its end (plane 3)
     "\U00030000\U0003134a\U0003ffffa\U00040000b\U000e0041\U000f0000c\U0010ffff"],
)  # fmt: skip
def test_bigrams_edge_cases(text: str) -> None:
    assert bigrams(text) == reference_bigrams(text)


def test_bigrams_random_strings() -> None:
    rng = random.Random(16)
    alphabet = "巡视整改。 ab_AZ9\n\t，İßẞ\u0307\0𠀀\ud800ÉéΣσς-—１"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        assert bigrams(text) == reference_bigrams(text), repr(text)
    for _ in range(200):  # long texts: many repeated windows, every code point range
        text = "".join(chr(rng.choice([rng.randrange(32, 0x250), rng.randrange(0x4E00, 0x4F00),
                                       rng.randrange(0x20000, 0x20100), 0x3002]))
                       for _ in range(rng.randrange(100, 3000)))  # fmt: skip
        assert bigrams(text) == reference_bigrams(text)


# -- the prepare step: what the writer stores is the same, prepared or not ---------------------


CLOCK = "2026-12-07T08:00:00+00:00"


def generated(i: int, version: int = 1) -> Notice:
    unit = sitegen.UNITS[i % len(sitegen.UNITS)]
    lines = sitegen.notice_lines(i, unit, sitegen.seed_body(), 6 + i % 5)
    if version > 1:
        lines[-1] += f"(第{version}次更正)"
    title = f"中共{unit}委关于巡视整改进展情况的通报"
    published = f"2023-0{1 + i % 9}-1{i % 10} 09:00"
    html = sitegen.article_html(title, published, lines)
    text = "\n".join(lines)
    return Notice(
        site="zjsjw", url=f"http://www.zjsjw.gov.cn/a/t{i}_ext.html", title=title,
        published_at=published.replace(" ", "T") + ":00+08:00" if i % 7 else None,
        source=sitegen.SOURCE, paragraphs=lines, header=None, raw=html.encode("utf-8"),
        encoding="utf-8", status=200, headers={"etag": f'"{i}-{version}"'},
        fetched_at=CLOCK, province="浙江省", text=text,
    )  # fmt: skip


def open_store(path: Path) -> Store:
    return Store(Store.open(path).db, clock=lambda: CLOCK)


def snapshot(store: Store) -> dict[str, Any]:
    """Everything a record writes, as stored (raw pages decoded), by table."""
    db = store.db
    out: dict[str, Any] = {}
    for table in ("notices", "facts", "notice_districts", "districts", "events", "page_dicts"):
        out[table] = [tuple(r) for r in db.execute(f"select * from {table} order by 1, 2")]
    versions = []
    for row in db.execute("select * from versions order by id").fetchall():
        names = [d[0] for d in db.execute("select * from versions limit 0").description]
        data = dict(zip(names, row, strict=True))
        data["raw"] = store.raw(data)
        versions.append(data)
    out["versions"] = versions
    fts.flush(db)
    out["index"] = [
        tuple(r) for r in db.execute("select id, doc from notices_search_doc order by id")
    ]
    db.execute("insert into notices_bigrams(notices_bigrams, rank) values('integrity-check', 1)")
    out["hits"] = [h.notice_id for q in ("巡视", "西湖区", "通报编号7") for h in fts.search(db, q)]
    return out


def record_all(store: Store, notices: list[Notice], how: str) -> None:
    for notice in notices:
        prepared = None
        if how == "prepared":  # as a worker that knows the site's current dictionary
            prepared = prepare(notice, CLOCK, site_dict=store.page_dict(notice.site), page=True)
        store.record(notice, None, prepared)


def forty() -> list[Notice]:
    # 40 new notices (a page dictionary is trained at the 16th), then 5 changed ones
    return [generated(i) for i in range(40)] + [generated(i, 2) for i in (3, 8, 20, 33, 39)]


def test_prepared_records_store_exactly_what_the_writer_computes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = open_store(tmp_path / "plain.db")
    record_all(plain, forty(), "plain")
    expected = snapshot(plain)
    assert expected["page_dicts"] and expected["facts"] and expected["notice_districts"]

    # With every item prepared, the writer computes none of the pure work for a new notice
    # (only the one page the 16th notice's new dictionary makes stale is compressed again).
    calls: dict[str, int] = {"facts": 0, "match": 0, "doc": 0, "encode": 0}

    def counting(name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapper

    prepared = open_store(tmp_path / "prepared.db")
    notices = forty()
    record_all(prepared, notices[:1], "prepared")  # warm: the first flush is not the point
    monkeypatch.setattr(
        notices_module, "extract_facts", counting("facts", notices_module.extract_facts)
    )
    monkeypatch.setattr(
        notices_module, "match_notice", counting("match", notices_module.match_notice)
    )
    monkeypatch.setattr(fts, "bigrams", counting("doc", fts.bigrams))
    monkeypatch.setattr(
        notices_module, "encode_page", counting("encode", notices_module.encode_page)
    )
    record_all(prepared, notices[1:40], "prepared")
    assert calls == {"facts": 0, "match": 0, "doc": 0, "encode": 1}
    monkeypatch.undo()
    record_all(prepared, notices[40:], "prepared")
    assert snapshot(prepared) == expected


def test_a_stale_dictionary_or_a_bad_frame_is_compressed_again(tmp_path: Path) -> None:
    store = open_store(tmp_path / "x.db")
    record_all(store, [generated(i) for i in range(20)], "plain")
    current = store.page_dict("zjsjw")
    assert current is not None
    other = (current[0] + 100, b"a dictionary the writer never made" * 40)
    cases = {
        20: prepare(generated(20), CLOCK, site_dict=other, page=True),  # unknown dict id
        21: prepare(generated(21), CLOCK, site_dict=None, page=True),  # made without one
        22: replace(  # the right id, bytes that do not decode to the page
            prepare(generated(22), CLOCK, site_dict=current, page=True),
            page={
                "raw": b"\x28\xb5\x2f\xfdjunk",
                "raw_codec": compress.RAW_DICT,
                "raw_dict": current[0],
            },
        ),  # fmt: skip
        23: replace(  # a frame of another page against the right dict
            prepare(generated(23), CLOCK, site_dict=current, page=True),
            page=prepare(generated(24), CLOCK, site_dict=current, page=True).page,
        ),
    }
    for i, ready in cases.items():
        notice = generated(i)
        recorded = store.record(notice, None, ready)
        row = store.latest_version(recorded.notice_id)
        assert row is not None
        assert row["raw_dict"] == current[0] and row["raw_codec"] == compress.RAW_DICT
        assert store.raw(row) == notice.raw  # byte for byte


def test_missing_fields_are_computed_and_foreign_work_is_ignored(tmp_path: Path) -> None:
    plain = open_store(tmp_path / "plain.db")
    record_all(plain, [generated(i) for i in range(6)], "plain")
    expected = snapshot(plain)

    store = open_store(tmp_path / "x.db")
    full = [prepare(generated(i), CLOCK) for i in range(6)]
    wrong_facts = {**full[0].facts, "kind": "不是这个"} if full[0].facts else None
    given: list[Any] = [
        replace(full[0], facts=None, match=None, doc=None, page=None),  # nothing but the digest
        replace(full[1], code="another-version", facts=wrong_facts),  # other code: ignored
        replace(full[2], sha256=text_sha256("another text"), facts=wrong_facts),  # other text
        replace(full[3], title="另一个标题", facts=wrong_facts),  # made for another title
        replace(full[4], year=1999),  # matched for another year: districts matched again
        {"not": "a Prepared"},
    ]
    for i, ready in enumerate(given):
        store.record(generated(i), None, ready)
    store.record(generated(5), None, full[5])
    assert snapshot(store) == expected
    assert full[5].code == code_digest() and isinstance(full[5], Prepared)


def test_a_worker_sends_the_prepared_work_with_each_notice() -> None:
    from crawler.items import PageEvent
    from crawler.worker_crawl import _prepared

    notice = generated(3)
    ready = _prepared(notice)
    assert isinstance(ready, Prepared)
    assert ready.sha256 == text_sha256(notice.text or "") and ready.doc and ready.match
    assert ready.match.unit == "宁波市海曙区" and ready.facts is not None
    assert _prepared(PageEvent("zjsjw", notice.url, "blocked", "403")) is None
    assert _prepared(replace(notice, text=None)) is None


# -- the store pipeline's batches ----------------------------------------------------------------


def batching_pipeline(path: Path, items: int) -> Any:
    from crawler.distributed import _WriterCrawler
    from crawler.pipelines import StorePipeline

    store = open_store(path)
    run = store.start_run("zjsjw")
    crawler = _WriterCrawler(run, str(path), None)
    crawler.settings.set("XUNSHI_STORE_BATCH", items)
    crawler.settings.set("XUNSHI_STORE_BATCH_SECONDS", 3600)
    pipeline = StorePipeline(crawler)  # type: ignore[arg-type]
    pipeline.store = store
    pipeline.batching = True  # what open_spider turns on in a Scrapy crawl
    return pipeline


def committed(path: Path) -> int:
    conn = sqlite3.connect(path)  # another connection: only what is committed
    try:
        return int(conn.execute("select count(*) from notices").fetchone()[0])
    finally:
        conn.close()


def test_the_pipeline_commits_in_batches_and_counts_what_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    pipeline = batching_pipeline(path, 4)
    for i in range(3):
        pipeline.process_item(generated(i))
    assert committed(path) == 0 and pipeline.counts["new"] == 0  # the batch is open
    pipeline.process_item(generated(3))
    assert committed(path) == 4 and pipeline.counts["new"] == 4
    assert pipeline.crawler.stats.get_value("xunshi/count/new") == 4
    pipeline.process_item(generated(4))
    pipeline.process_item(generated(1))  # unchanged
    pipeline.close_spider()  # the end of the crawl commits the rest
    assert committed(path) == 5
    assert (pipeline.counts["new"], pipeline.counts["unchanged"]) == (5, 1)


def test_a_batch_the_database_cannot_commit_is_not_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.db"
    pipeline = batching_pipeline(path, 3)
    pipeline.process_item(generated(0))
    pipeline.process_item(generated(1))
    store = pipeline.store
    real = Store.commit_batch

    def disk_full(self: Store) -> None:
        self.rollback_batch()
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Store, "commit_batch", disk_full)
    with pytest.raises(DropItem):
        pipeline.process_item(generated(2))
    monkeypatch.setattr(Store, "commit_batch", real)
    assert pipeline.store_error == "database or disk is full"
    assert committed(path) == 0 and pipeline.counts["new"] == 0 and not store.batch_open
    with pytest.raises(DropItem):  # the crawl is stopping: nothing more is written
        pipeline.process_item(generated(3))
    store.close()
    assert committed(path) == 0


def distributed_writer(tmp_path: Path, server: Any) -> tuple[Store, int, Any, Any]:
    """The store writer of a distributed crawl of one site (crawl "c"), its run's pipeline."""
    from crawler.distributed import _Run, _Writer, _WriterCrawler, writer_settings
    from crawler.pipelines import StorePipeline
    from crawler.run import SiteCrawl

    db = tmp_path / "w.db"
    store = open_store(db)
    run_id = store.start_run("zjsjw")
    pipeline = StorePipeline(_WriterCrawler(run_id, str(db), None))  # type: ignore[arg-type]
    pipeline.store = store
    runs = {run_id: _Run(SiteCrawl("zjsjw"), run_id, pipeline)}
    writer = _Writer(server, "c", store, runs, tmp_path / "w.log", None, writer_settings())
    return store, run_id, pipeline, writer


def test_the_distributed_writer_uses_the_work_its_workers_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crawler.worker_crawl import _prepared

    store, run_id, pipeline, writer = distributed_writer(tmp_path, None)
    messages = [{"kind": "item", "run_id": run_id, "item": generated(i),
                 "prepared": _prepared(generated(i))} for i in range(3)]  # fmt: skip
    messages.append({"kind": "item", "run_id": run_id, "item": generated(3)})  # an old worker

    def not_here(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the writer extracted facts its worker had sent")

    real = notices_module.extract_facts
    monkeypatch.setattr(notices_module, "extract_facts", not_here)
    writer.write_batch(messages[:3])
    monkeypatch.setattr(notices_module, "extract_facts", real)
    writer.write_batch(messages[3:])
    assert writer.store_error is None and pipeline.counts["new"] == 4
    plain = open_store(tmp_path / "plain.db")
    record_all(plain, [generated(i) for i in range(4)], "plain")
    assert snapshot(store)["facts"] == snapshot(plain)["facts"]


class FakeRedis:
    """The two calls the page dictionary's publishing makes, on a dict."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def set(self, name: str, value: Any) -> None:
        self.data[name] = value if isinstance(value, bytes) else str(value).encode()

    def get(self, name: str) -> bytes | None:
        return self.data.get(name)


def test_workers_compress_against_the_dictionary_the_writer_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crawler.worker_crawl import RedisItemPipeline, _prepared

    server = FakeRedis()
    store, run_id, pipeline, writer = distributed_writer(tmp_path, server)
    worker = RedisItemPipeline.__new__(RedisItemPipeline)  # its Redis part only
    worker.server, worker.crawl, worker.dicts = server, "c", {}

    def send(i: int) -> dict[str, Any]:
        worker.dicts.clear()  # as after DICT_CHECK_SECONDS
        notice = generated(i)
        return {"kind": "item", "run_id": run_id, "item": notice,
                "prepared": _prepared(notice, worker._site_dict(notice))}  # fmt: skip

    for at in range(0, 20, 5):
        writer.write_batch([send(i) for i in range(at, at + 5)])
    current = store.page_dict("zjsjw")
    assert current is not None and worker._site_dict(generated(0)) is None  # checked < 5 s ago
    worker.dicts.clear()
    assert worker._site_dict(generated(0)) == current
    encoded: list[int] = []
    real = notices_module.encode_page
    monkeypatch.setattr(notices_module, "encode_page", lambda *a: encoded.append(1) or real(*a))
    writer.write_batch([send(i) for i in range(20, 25)])
    assert not encoded  # every page as the writer would have compressed it
    rows = store.db.execute("select raw_dict from versions where notice_id > 20").fetchall()
    assert rows and {r[0] for r in rows} == {current[0]}
    assert pipeline.counts["new"] == 25 and writer.store_error is None


def test_an_idle_batch_is_committed_when_it_is_old_enough(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    pipeline = batching_pipeline(path, 100)
    pipeline.batch_seconds = 0.2
    pipeline.process_item(generated(0))
    pipeline._commit_due()  # what the pipeline's timer calls every batch_seconds
    assert committed(path) == 0  # younger than 0.2 s
    time.sleep(0.25)
    pipeline._commit_due()
    assert committed(path) == 1 and pipeline.counts["new"] == 1
    pipeline.store.close()


def test_load_tables_loads_what_preparing_a_notice_reads() -> None:
    """A crawl loads the letter table and the division index as it starts
    (StorePipeline.open_spider), so its first new notice does not pay for them."""
    from store import districts, fts
    from store.prepare import load_tables

    fts._letter_table.cache_clear()
    districts._index.cache_clear()
    load_tables()
    assert fts._letter_table.cache_info().currsize == 1
    assert districts._index.cache_info().currsize == 1
    assert fts.bigrams("巡视整改") is not None  # and they serve as before
    assert fts._letter_table.cache_info().misses == 1
