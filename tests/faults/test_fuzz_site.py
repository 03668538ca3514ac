"""A hostile-site fuzz test: random bad links, deep nesting, huge attributes, broken
entities and mixed encodings on the list and article pages of a site served on 127.0.0.1.

Each seed builds one site (3 list pages, 24 articles, a seeded RNG: the same site every
run) and crawls it once, bounded by the crawl's time limit. Whatever the RNG picked, the
crawl must follow every good link (no bad element stops the site), count and log every
skipped link, store every article whole (its last line present, nothing cut, no
mojibake or U+FFFD) or refuse it with an event that says why.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import pytest

from crawler.extract import text_problem
from store.notices import Store
from tests.conftest import xunshi
from tests.faults import server as fs
from tests.sitegen import _TO_PAGE, COLUMN, SOURCE, article_html, list_html, seed_body

SEEDS = [17, 2026]
PAGES, PER_PAGE = 3, 8
# What an article may carry; REFUSED pages must be refused with a reason, the rest stored.
FEATURES = ["deep", "too-deep", "huge-attr", "entities", "gbk", "gbk-says-utf8", "mixed",
            "gbk-with-utf8", "control-in-script", "control-in-text", "plain"]  # fmt: skip
REFUSED = ("too-deep", "mixed", "gbk-with-utf8", "control-in-text")
CONTROLS = ["\x00", "\x01", "\x08", "\x0b", "\x1b", "\x7f", "\x85", "\x9f"]
HOST_JUNK = [" ", "\u3000", "..", "<", "\\"]
BROKEN_ENTITIES = ["&amp", "&nbsp", "&;", "&#xZZ;", "&unknown;", "&lt", "&#38", "&copy", "&&&"]


def bad_link(rng: random.Random, path: str) -> str:
    """An article-shaped link that cannot be followed, of a random family."""
    junk = "".join(rng.choice("[]{}@:% \u3000０８") for _ in range(rng.randint(1, 6)))
    return rng.choice(
        [
            f"http://[object Object]{path}",
            f"http://[{junk}]{path}",
            f"http://127.0.0.1:{rng.choice(['８０', '99999', '-1', '0', '8o', '65536'])}{path}",
            f"http://[::1{path}",
            f"{rng.choice(['vbscript', 'tel', 'data', 'ftp', 'JavaScript', 'jAvAsCrIpT', 'file'])}:{path}",
            f"http://ex{rng.choice(HOST_JUNK)}ample.cn{path}",
            f"{path}?{'q' * rng.randint(2100, 20_000)}",
        ]
    )


@dataclass
class Article:
    path: str
    title: str
    lines: list[str]
    feature: str
    entity_line: str | None = None

    @property
    def end(self) -> str:
        return self.lines[-1]


@dataclass
class Site:
    articles: list[Article] = field(default_factory=list)
    bad_links: int = 0


def article_bytes(rng: random.Random, a: Article) -> bytes:
    html = article_html(a.title, "2024-03-01 10:00", a.lines)
    shown = [escape(x.translate(_TO_PAGE)) for x in a.lines]
    middle = shown[len(shown) // 2]
    if a.feature in ("deep", "too-deep"):
        depth = rng.randint(100, 1800) if a.feature == "deep" else rng.randint(2100, 2600)
        tag = rng.choice(["span", "font", "b", "div"])
        html = html.replace(middle, f"<{tag}>" * depth + middle + f"</{tag}>" * depth, 1)
    elif a.feature == "huge-attr":
        value = "x" * rng.randint(100_000, 400_000)
        html = html.replace(
            '<div class="TRS_Editor">', f'<div class="TRS_Editor" data-x="{value}">'
        )
        html = html.replace("<p ", f'<p title="{"巡" * 50_000}" ', 1)
    elif a.feature == "entities":
        assert a.entity_line is not None
        garbage = "".join(rng.choice(BROKEN_ENTITIES) for _ in range(rng.randint(1, 5)))
        html = html.replace(middle, middle + f"</p><p>实体前{garbage}实体后", 1)
    elif a.feature == "control-in-script":
        script = f"<script>var k = '{rng.choice(CONTROLS[1:])}';</script>"
        html = html.replace("</head>", script + "</head>", 1)
    elif a.feature == "control-in-text":
        html = html.replace(middle, middle[:3] + rng.choice(CONTROLS) + middle[3:], 1)
    if a.feature == "gbk":
        return html.replace("charset=utf-8", "charset=gb2312").encode("gb18030")
    if a.feature == "gbk-says-utf8":
        return html.encode("gb18030")
    if a.feature == "mixed":  # a UTF-8 page with one paragraph pasted in as GBK
        body = html.encode("utf-8")
        return body.replace(middle.encode("utf-8"), middle.encode("gb18030"), 1)
    if a.feature == "gbk-with-utf8":  # a GBK page with a short line pasted in as UTF-8
        body = html.replace("charset=utf-8", "charset=gb2312").encode("gb18030")
        pasted = "拱墅区委把巡视整改作为重大政治任务来抓"[: rng.randint(6, 19)]
        return body.replace(middle.encode("gb18030"), middle.encode("gb18030") + pasted.encode(), 1)
    return html.encode("utf-8")


def build(rng: random.Random, server: fs.FaultServer) -> Site:
    site = Site()
    body = seed_body()
    n = 0
    # Every feature at least twice, in a random order.
    features = FEATURES * 2
    features += [rng.choice(FEATURES) for _ in range(PAGES * PER_PAGE - len(features))]
    rng.shuffle(features)
    for page in range(PAGES):
        items: list[tuple[str, str, str]] = []
        for _ in range(PER_PAGE):
            n += 1
            path = f"{COLUMN}202403/t20240301_{800 + n}_ext.html"
            start = rng.randrange(0, len(body) - 4)
            lines = [*body[start : start + rng.randint(2, 4)], f"通报编号{n}完。"]
            feature = features.pop()
            a = Article(path, f"关于巡视整改情况的通报({n})", lines, feature)
            if feature == "entities":
                a.entity_line = "实体前"
            site.articles.append(a)
            server.faults[path] = fs.content(article_bytes(rng, a), "text/html")
            for _ in range(rng.randint(0, 3)):  # bad links around the good one
                items.append((bad_link(rng, path), a.title, "2024-03-01"))
                site.bad_links += 1
            title = a.title
            if rng.random() < 0.3:
                title = rng.choice(BROKEN_ENTITIES) + title
            items.append(("." + path[len(COLUMN) - 1 :], title, "2024-03-01"))
        text = list_html([(h, t, d) for h, t, d in items], page, PAGES)
        # list_html escapes the hrefs it is given; the broken entities must stay broken
        for entity in BROKEN_ENTITIES:
            text = text.replace(escape(entity), entity)
        if rng.random() < 0.5:  # nest the list deep, but within the parser's limit
            depth = rng.randint(100, 1500)
            text = text.replace('<ul class="list">', "<div>" * depth + '<ul class="list">')
        if rng.random() < 0.5:
            text = text.replace("<li>", f'<li data-junk="{"y" * 50_000}">', 1)
        name = "index.shtml" if page == 0 else f"index_{page}.shtml"
        server.faults[COLUMN + name] = fs.content(text.encode("utf-8"), "text/html; charset=utf-8")
    return site


@pytest.fixture(scope="module", params=SEEDS, ids=lambda s: f"seed{s}")
def fuzzed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    rng = random.Random(request.param)
    tmp = tmp_path_factory.mktemp(f"fuzz{request.param}")
    server = fs.FaultServer(tmp)
    site = build(rng, server)
    db = tmp / "x.db"
    proc = xunshi(
        "crawl", "zjsjw", "--db", str(db), "--start-url", server.base + COLUMN + "index.shtml",
        "--json", "--set", "RETRY_TIMES=0", timeout=180,
    )  # fmt: skip
    run = json.loads(proc.stdout.strip().splitlines()[-1])
    log = Path(run["log"]).read_text(encoding="utf-8")
    store = Store.open(db)
    yield site, server, store, run, proc.stdout + proc.stderr + log
    store.close()
    server.close()


def test_the_crawl_finishes_without_a_traceback(fuzzed: Any) -> None:
    _, _, _, run, output = fuzzed
    assert run["status"] == "ok" and "Traceback" not in output


def test_no_bad_element_stops_the_site(fuzzed: Any) -> None:
    site, server, _, _, _ = fuzzed
    for page in range(1, PAGES):
        assert f"{COLUMN}index_{page}.shtml" in server.log
    for a in site.articles:
        assert a.path in server.log, (a.path, a.feature)


def test_every_skipped_link_is_counted_and_logged(fuzzed: Any) -> None:
    site, _, _, run, output = fuzzed
    assert site.bad_links > 0
    assert run["skipped"] == site.bad_links
    assert output.count("skipped a link on") == site.bad_links


def test_every_article_is_stored_whole_or_refused_with_a_reason(fuzzed: Any) -> None:
    site, server, store, run, _ = fuzzed
    events = {e["url"]: e for e in store.events(run_id=run["run_id"])}
    for a in site.articles:
        row = store.find_notice(server.base + a.path)
        if a.feature in REFUSED:
            assert row is None, (a.feature, a.path)
        if row is None:
            event = events.get(server.base + a.path)
            assert event is not None and event["kind"] == "parse_failed", (a.feature, event)
            assert event["detail"]["reason"]
            continue
        text = store.latest_version(row["id"])["text"]
        lines = text.split("\n")
        assert lines[0] == f"2024-03-01 10:00 {SOURCE}"
        assert lines[-1] == a.end, (a.feature, "cut short")
        assert text_problem(text) is None and "锟斤拷" not in text
        if a.feature == "entities":
            [entity_line] = [x for x in lines if x.startswith("实体前")]
            assert entity_line.endswith("实体后")
            assert [x for x in lines if x != entity_line] == [lines[0], *a.lines]
        else:
            assert lines[1:] == a.lines, a.feature


def test_refusals_say_why(fuzzed: Any) -> None:
    site, server, store, run, _ = fuzzed
    reasons = {e["url"]: e["detail"].get("reason", "") for e in store.events(run_id=run["run_id"])}
    for a in site.articles:
        reason = reasons.get(server.base + a.path, "")
        if a.feature == "too-deep":
            assert "cannot be parsed whole" in reason
        elif a.feature in ("mixed", "gbk-with-utf8"):
            assert "mixed encodings" in reason or "cannot decode" in reason, reason
        elif a.feature == "control-in-text":
            assert "(U+00" in reason and "FFFD" not in reason, reason
