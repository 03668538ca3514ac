"""Site health commands: `check` and `record` run against recorded sites served on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli_sites import check, record
from crawler.sites import get_site
from tests.conftest import SITES_DIR
from tests.test_sites_golden import MANIFEST

CCDI = json.loads((SITES_DIR / "ccdi" / "expected" / "site.json").read_text(encoding="utf-8"))


def run_check(*args: str) -> tuple[Result, list[dict[str, Any]]]:
    result = CliRunner().invoke(check, [*args, "--json", "--timeout", "5"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result, json.loads(result.output)


def items(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [item for item in report["items"] if item["check"] == name]


def one(report: dict[str, Any], name: str) -> dict[str, Any]:
    (item,) = items(report, name)
    return item


def test_every_command_has_an_example() -> None:
    for command in (check, record):
        assert command.help and "Example:" in command.help


def test_check_reports_each_selector_and_rule(serve) -> None:  # type: ignore[no-untyped-def]
    site = serve("zjsjw")
    start = MANIFEST["zjsjw"]["start"]
    result, (report,) = run_check("zjsjw", "--start-url", site.url(start))
    assert result.exit_code == 0 and report["ok"]
    selectors = {i["selector"]: i["matched"] for i in items(report, "list selector")}
    assert selectors == {css: selectors[css] for css in get_site("zjsjw").list_links}
    assert selectors["ul.list li a"] == 3 and selectors[".news_list li a"] == 0
    links = one(report, "list links")["links"]
    assert [link["verdict"] for link in links].count("notice") == 2
    assert one(report, "pagination")["pages"] == 3
    assert one(report, "pagination")["next"] == [
        site.url("/gongzuodongtai/xunshixuncha/index_1.shtml")
    ]
    assert one(report, "article page")["url"] == links[0]["url"]
    title = one(report, "title")
    assert title["value"] == "中共杭州市西湖区委关于省委巡视整改进展情况的通报"
    assert title["method"] == "profile"
    assert (one(report, "published")["value"], one(report, "source")["value"]) == (
        "2025-06-10 09:00", "浙江省纪委省监委网站"
    )  # fmt: skip
    assert one(report, "body")["method"] == "profile" and one(report, "body")["status"] == "ok"
    assert {i["selector"] for i in items(report, "body selector")} == set(get_site("zjsjw").body)
    assert one(report, "header")["value"] == "2025-06-10 09:00 浙江省纪委省监委网站"
    # The text form says the same for people.
    text = CliRunner().invoke(check, ["zjsjw", "--start-url", site.url(start)])
    assert text.exit_code == 0
    assert "ul.list li a: 3 matched (used)" in text.output and "=> ok" in text.output


def test_check_follows_the_ccdi_column_and_sees_multi_page_articles(serve) -> None:  # type: ignore[no-untyped-def]
    site = serve("ccdi")
    result, (report,) = run_check("ccdi", "--start-url", site.url(CCDI["start"]))
    assert result.exit_code == 0, result.output
    assert one(report, "column link")["url"] == site.url(CCDI["column"])
    assert one(report, "title")["method"] == "profile"
    # From the column page itself there is no column link to follow.
    _, (direct,) = run_check("ccdi", "--start-url", site.url(CCDI["column"]))
    assert one(direct, "column link")["status"] == "info" and direct["ok"]


def test_check_warns_about_the_fallback_and_a_list_without_notices(serve) -> None:  # type: ignore[no-untyped-def]
    site = serve("scjc")
    result, (report,) = run_check("scjc", "--start-url", site.url(MANIFEST["scjc"]["start"]))
    assert result.exit_code == 0  # warnings do not fail
    assert one(report, "newest notice")["status"] == "warn"
    body = one(report, "body")
    assert body["status"] == "warn" and body["method"] == "fallback"
    assert (
        one(report, "published")["method"] == "label" and one(report, "title")["method"] == "meta"
    )


def test_check_reads_hanweb_records(serve) -> None:  # type: ignore[no-untyped-def]
    site = serve("jssjw")
    _, (report,) = run_check("jssjw", "--start-url", site.url(MANIFEST["jssjw"]["start"]))
    assert one(report, "list records")["matched"] == 2
    assert "dataproxy.jsp" in one(report, "pagination")["next"][0]


@pytest.mark.parametrize(
    ("case", "reason"),
    [("404", "HTTP 404"), ("blocked", "blocked"), ("no links", "no article links"),
     ("robots", "robots.txt disallows")],
)  # fmt: skip
def test_check_fails_when_something_essential_fails(
    serve, tmp_path: Path, case: str, reason: str
) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "copy"
    shutil.copytree(SITES_DIR / "zjsjw", root)
    start = MANIFEST["zjsjw"]["start"]
    site = serve(root)
    if case == "404":
        (root / start.lstrip("/")).unlink()
    elif case == "blocked":
        site.overrides[start] = lambda req: (
            403,
            {"Content-Type": "text/html"},
            b"<div id='captchaPage'>",
        )
    elif case == "no links":
        (root / start.lstrip("/")).write_text(
            "<html><body><p>改版中</p></body></html>", encoding="utf-8"
        )
    else:
        (root / "robots.txt").write_text(
            "User-agent: *\nDisallow: /gongzuodongtai/\n", encoding="utf-8"
        )
    result, (report,) = run_check("zjsjw", "--start-url", site.url(start))
    assert result.exit_code == 1 and not report["ok"]
    failed = [i for i in report["items"] if i["status"] == "fail"]
    assert len(failed) == 1 and reason in failed[0]["detail"]


def test_check_fails_on_an_article_without_body(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "copy"
    shutil.copytree(SITES_DIR / "zjsjw", root)
    site = serve(root)
    newest = "/gongzuodongtai/xunshixuncha/202506/t20250609_23500131_ext.html"
    (root / newest.lstrip("/")).write_text("<html><head><title>x</title></head><body></body></html>", encoding="utf-8")  # fmt: skip
    result, (report,) = run_check("zjsjw", "--start-url", site.url(MANIFEST["zjsjw"]["start"]))
    assert result.exit_code == 1 and one(report, "body")["status"] == "fail"


def test_check_honours_the_timeout(serve) -> None:  # type: ignore[no-untyped-def]
    site = serve("zjsjw")
    start = MANIFEST["zjsjw"]["start"]

    def slow(req):  # type: ignore[no-untyped-def]
        time.sleep(3)
        return None

    site.overrides[start] = slow
    began = time.monotonic()
    result = CliRunner().invoke(
        check, ["zjsjw", "--start-url", site.url(start), "--timeout", "0.5"]
    )
    assert time.monotonic() - began < 2.5
    assert result.exit_code == 1 and "timed out" in result.output


def test_check_arguments() -> None:
    runner = CliRunner()
    both = runner.invoke(check, ["zjsjw", "shjjjc", "--start-url", "http://127.0.0.1:9/"])
    assert both.exit_code == 2 and "exactly one site" in both.output
    unknown = runner.invoke(check, ["nosuchsite"])
    assert unknown.exit_code == 2 and "unknown site" in unknown.output


def test_record_saves_raw_bytes_and_headers(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site = serve("zjsjw")
    path = "/gongzuodongtai/xunshixuncha/201812/t20181228_1234567.shtml"  # GBK bytes
    out = tmp_path / "fixtures"
    result = CliRunner().invoke(record, [site.url(path), "--site", "zjsjw", "-o", str(out)])
    assert result.exit_code == 0, result.output
    saved = out / path.lstrip("/")
    assert saved.read_bytes() == (SITES_DIR / "zjsjw" / path.lstrip("/")).read_bytes()
    meta = json.loads(saved.with_name("t20181228_1234567.headers.json").read_text(encoding="utf-8"))
    assert meta["status"] == 200 and meta["url"] == site.url(path)
    assert {k.lower() for k in meta["headers"]} >= {"content-type", "etag", "last-modified"}
    assert "gb18030" in result.output

    # A folder URL becomes index.html; the copy can be served as the site.
    folder = CliRunner().invoke(record, [site.url("/gongzuodongtai/xunshixuncha/"), "--site", "zjsjw", "-o", str(out)])  # fmt: skip
    assert folder.exit_code == 0, folder.output
    assert (out / "gongzuodongtai/xunshixuncha/index.html").is_file()
    assert (out / "gongzuodongtai/xunshixuncha/index.headers.json").is_file()


def test_record_keeps_a_challenge_page_with_a_warning(serve, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site = serve("ccdi")
    page = "/xsxcn/xszgn/202401/t20240117_330102.html"
    site.overrides[page] = lambda req: (
        403,
        {"Content-Type": "text/html"},
        b"<div id='captchaPage'></div>",
    )
    result = CliRunner().invoke(record, [site.url(page), "--site", "ccdi", "-o", str(tmp_path)])
    assert result.exit_code == 0
    assert "challenge" in result.output
    meta = json.loads(
        (tmp_path / page.lstrip("/")).with_name("t20240117_330102.headers.json").read_text()
    )
    assert meta["status"] == 403


def test_record_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(record, ["http://127.0.0.1:9/x.html", "--site", "nosuchsite"])
    assert unknown.exit_code == 1 and "unknown site" in unknown.output
    down = runner.invoke(record, ["http://127.0.0.1:9/x.html", "--site", "zjsjw", "-o", str(tmp_path), "--timeout", "2"])  # fmt: skip
    assert down.exit_code == 1 and "cannot fetch" in down.output
    assert not any(tmp_path.iterdir())
