"""The HTML report rendered by a real headless Chromium: content shows, page-derived markup stays text."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import html as lxml_html

from crawler.items import Notice
from store import report
from store.notices import Store

XSS_TITLE = "中共某区委关于巡视整改情况的通报<script>document.title='pwned'</script>"
XSS_BODY = "给予党纪处分8人次<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed on CI: .ci/run must install it")
        pytest.skip("chromium not installed (CI installs it)")
    return found


def run_chromium(*args: str, tmp: Path) -> str:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp / 'profile'}", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=True).stdout


def make_report(tmp_path: Path) -> Path:
    store = Store.open(tmp_path / "x.db")
    run = store.start_run("zjsjw")
    base = dict(site="zjsjw", url="http://127.0.0.1/a/t20240101_1_ext.html", title=XSS_TITLE,
                published_at="2024-01-01T09:00:00+08:00", source="来源", paragraphs=[], header=None,
                raw=b"<html>", encoding="utf-8", status=200, headers={}, fetched_at="2026-01-01T00:00:00+00:00",
                province="浙江省")  # fmt: skip
    first = Notice(**base)
    first.text = "根据省委统一部署,省委第一巡视组对杭州市拱墅区开展了常规巡视。\n" + XSS_BODY
    store.record(first, run)
    run2 = store.start_run("zjsjw")
    second = Notice(**base)
    second.text = first.text.replace("8人次", "9人次")
    store.record(second, run2)
    store.record_event(run2, "blocked", site="zjsjw", url="http://127.0.0.1/x<b>y</b>", detail={"reason": "HTTP 412 <i>challenge</i>"})
    path = tmp_path / "report.html"
    path.write_text(report.to_html(report.collect(store, since="2000-01-01")), encoding="utf-8")
    store.close()
    return path


def test_html_report_renders_and_escapes(tmp_path: Path) -> None:
    path = make_report(tmp_path)
    dom = run_chromium("--dump-dom", path.as_uri(), tmp=tmp_path)
    doc = lxml_html.fromstring(dom)
    assert doc.findtext(".//title").startswith("xunshi-watch report")  # the payload did not retitle the page
    assert doc.xpath("//script") == []  # no element came from page content
    assert doc.xpath("//img") == []
    assert doc.get("data-pwned") is None and doc.find("body").get("data-pwned") is None
    text = doc.text_content()
    assert "<script>document.title='pwned'</script>" in text  # shown as text
    assert "0 failed, 1 blocked, 1 new, 1 changed, 0 removed" in text
    # the change is shown character by character
    assert [d.text for d in doc.xpath("//div[@class='diff']//del")] == ["8"]
    assert [i.text for i in doc.xpath("//div[@class='diff']//ins")] == ["9"]
    assert "HTTP 412 <i>challenge</i>" in text


def test_html_report_screenshot(tmp_path: Path) -> None:
    path = make_report(tmp_path)
    shot = tmp_path / "report.png"
    run_chromium(f"--screenshot={shot}", "--window-size=1100,1400", "--hide-scrollbars", path.as_uri(), tmp=tmp_path)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    keep = os.environ.get("XUNSHI_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report.png")
