#!/usr/bin/env python3
"""Build recorded-style test sites for the province registry entries: bjsupervision, scjc, jssjw.

sites.md knows these sites' URL shapes and list mechanics, not their article
templates, so each site here is what is known plus a plausible template, and every
guess is written in the site's ``notes`` in crawler/sites.py:

* ``bjsupervision`` - 北京纪检监察网, TRS: list ``/zt/shejswxc/xsfk/`` paged by
  ``createPageHTML(2, n, "index", "html")``; articles ``/lzbj/YYYYMM/tYYYYMMDD_<id>.html``.
* ``scjc`` - 廉洁四川: list ``/scjc/xszg/xszg.shtml`` then ``xszg_2.shtml`` through a
  下一页 link, items ``.data-list > h4 a``; articles ``/scjc/xszg/Y/M/D/<32 hex>.shtml``.
  The article template has no selector in the profile: the generic rules carry it.
* ``jssjw`` - 清风扬帆网, Hanweb: list ``/col/col37/index.html`` whose items are CDATA
  records in a ``<script type="text/xml">`` datastore; the next group comes from the
  data proxy ``/module/web/jpage/dataproxy.jsp`` (served from one file: the test server
  ignores query strings); articles ``/art/Y/M/D/art_37_<id>.html``.

Each site has two list pages, one 巡视整改 notice (reachable only through page 2) and
non-notices. Texts are synthetic: units are real names, every figure, date, phone
number and address is made up (the 广元市 inspection dates are those sites.md lists).

Every notice is written as its expected seed-format text first and its page built
from it; an independent lxml check re-reads each built page and fails the build
(exit 1) when it does not give the text back. Written: the three site folders with
``expected/<name>.txt``, and the three sites' entries of ``tests/sites/manifest.json``
(other sites' entries are kept as they are).

Usage::

    .venv/bin/python tools/build_province_sites.py            # build, check, write
    .venv/bin/python tools/build_province_sites.py --check    # check what is on disk
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from lxml import html as lhtml

ROOT = Path(__file__).resolve().parents[1]
SITES = ROOT / "tests" / "sites"
_TO_PAGE = str.maketrans({",": "，", "(": "（", ")": "）", ":": "：", ";": "；", "%": "％"})


@dataclass
class Page:
    path: str
    title: str
    published: str  # as the page shows it
    lines: list[str]  # expected seed-format lines of the body
    notice: bool
    list_date: str = ""

    def __post_init__(self) -> None:
        self.list_date = self.list_date or self.published[:10]


@dataclass
class Site:
    name: str
    label: str
    scheme: str
    start: str
    list_pages: list[str]
    source: str
    articles: list[Page]
    container: str  # XPath of the body container, for the independent check
    files: dict[str, str] = field(default_factory=dict)


def page_text(line: str) -> str:
    return html.escape(line.translate(_TO_PAGE), quote=False)


def paragraphs(lines: list[str], indent: str = "　　") -> str:
    out = []
    for i, line in enumerate(lines):
        text = page_text(line)
        if line.startswith("中共") or re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", line):
            out.append(f'<p style="text-align: right;">{text}</p>')
        elif re.match(r"^[一二三四五六七八九十]+、", line):
            out.append(f"<p>{indent}<strong>{text}</strong></p>")
        elif i % 4 == 2:
            out.append(f'<p style="text-indent: 2em;"><span>{text}</span></p><p>&nbsp;</p>')
        else:
            out.append(f"<p>{indent}{text}</p>")
    return "\n".join(out)


def metas(site: Site, page: Page) -> str:
    return (
        f'<meta name="SiteName" content="{site.label}">\n'
        f'<meta name="ArticleTitle" content="{html.escape(page.title)}">\n'
        f'<meta name="PubDate" content="{page.published}">\n'
        f'<meta name="ContentSource" content="{site.source}">\n'
    )


def shell(site: Site, title: str, head: str, body: str) -> str:
    """Page chrome common to the three sites: nav, breadcrumb, side box, footer."""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8">
{head}<title>{html.escape(title)}_{site.label}</title>
<link rel="stylesheet" href="/css/style.css"><script src="/js/jquery.js"></script>
</head><body>
<div class="header"><div class="logo"><img src="/images/logo.png" alt="{site.label}"></div>
<ul class="nav"><li><a href="/">首页</a></li><li><a href="/xxgk/">信息公开</a></li>
<li><a href="/xsxc/">巡视巡察</a></li><li><a href="/jdjb/">监督举报</a></li></ul></div>
<div class="breadcrumb">当前位置：<a href="/">首页</a> &gt; <a href="/xsxc/">巡视巡察</a> &gt; 巡视整改</div>
{body}
<div class="footer"><p>版权所有：{site.label}　技术支持：信息中心</p><p>ICP备00000000号</p></div>
</body></html>
"""


# --------------------------------------------------------------------------------------
# 北京纪检监察网 (TRS)
# --------------------------------------------------------------------------------------

BJ_NOTICE = Page(
    "/lzbj/202401/t20240119_81234.html",
    "中共北京市朝阳区委关于十三届市委第三轮巡视集中整改进展情况的通报",
    "2024-01-19 09:30",
    [
        "根据市委统一部署,2023年4月6日至6月20日,市委第二巡视组对朝阳区进行了常规巡视,"
        "并于2023年8月10日反馈了巡视意见。按照巡视工作有关要求,现将巡视集中整改进展情况予以公布。",
        "一、提高政治站位,扛牢巡视整改政治责任",
        "区委把抓好巡视整改作为做到“两个维护”的实际行动,成立区委书记任组长的整改工作领导小组,"
        "召开专题会议9次,研究解决重点难点问题。",
        "二、对照反馈问题,逐项抓好整改落实",
        "(一)关于落实首都城市战略定位方面",
        "制定重点任务清单,对疏解整治促提升等22项工作实行挂账督办,已完成19项。",
        "(二)关于全面从严治党方面",
        "开展重点领域廉洁风险排查,查找风险点137个,完善防控措施208条。",
        "截至2023年12月底,巡视反馈的3个方面13项问题已整改完成11项;给予党纪政务处分17人,"
        "建立完善制度19项。",
        "欢迎广大干部群众对巡视整改落实情况进行监督。联系电话:010-80000001;"
        "电子邮箱:cyxszg@example.gov.cn。",
        "中共北京市朝阳区委",
        "2024年1月19日",
    ],
    notice=True,
)
BJ_OTHER = Page(
    "/lzbj/202308/t20230811_76543.html",
    "十三届市委第三轮巡视完成反馈",
    "2023-08-11 17:40",
    [
        "近日,十三届市委第三轮巡视的10个巡视组陆续向被巡视单位党组织反馈巡视情况。",
        "反馈会上,各巡视组组长指出,被巡视单位党组织要切实担负起巡视整改主体责任,确保整改见底见效。",
    ],
    notice=False,
)


def bj_article(site: Site, page: Page) -> str:
    body = f"""<div class="con_box">
<div class="detail_title"><h2>{html.escape(page.title)}</h2></div>
<div class="detail_info"><span class="time">发布时间：{page.published}</span>
<span class="source">来源：{site.source}</span>
<span class="fontsize">【字体：<a href="#">大</a> <a href="#">中</a> <a href="#">小</a>】</span></div>
<div class="detail_con"><div class="TRS_Editor">
<style type="text/css">.TRS_Editor P{{margin-top:0;}}</style>
{paragraphs(page.lines)}
</div></div>
<div class="bdsharebuttonbox"><a href="#" class="bds_weixin">分享到微信</a></div>
</div>"""
    return shell(site, page.title, metas(site, page), body)


def bj_list(site: Site, items: list[Page], n: int) -> str:
    lis = "\n".join(
        f'<li><a href="{p.path}" target="_blank" title="{html.escape(p.title)}">'
        f"{html.escape(p.title)}</a><span>{p.list_date}</span></li>"
        for p in items
    )
    body = f"""<div class="list_box"><h3>巡视巡察反馈</h3>
<ul class="list">
{lis}
</ul>
<div class="page"><script>
function createPageHTML(_nPageCount, _nCurrIndex, _sPageName, _sPageExt) {{ /* TRS pager */ }}
createPageHTML(2, {n}, "index", "html");
</script></div></div>
<div class="side"><h3>热点文章</h3><ul><li><a href="{BJ_OTHER.path}">{BJ_OTHER.title}</a></li></ul></div>"""
    return shell(site, "巡视巡察反馈", "", body)


def beijing() -> Site:
    site = Site(
        name="bjsupervision",
        label="北京纪检监察网",
        scheme="http",
        start="/zt/shejswxc/xsfk/",
        list_pages=["/zt/shejswxc/xsfk/index.html", "/zt/shejswxc/xsfk/index_1.html"],
        source="北京纪检监察网",
        articles=[BJ_NOTICE, BJ_OTHER],
        container='//div[@class="TRS_Editor"]',
    )
    site.files["zt/shejswxc/xsfk/index.html"] = bj_list(site, [BJ_OTHER], 0)
    site.files["zt/shejswxc/xsfk/index_1.html"] = bj_list(site, [BJ_NOTICE], 1)
    for page in site.articles:
        site.files[page.path.lstrip("/")] = bj_article(site, page)
    return site


# --------------------------------------------------------------------------------------
# 廉洁四川 (scjc)
# --------------------------------------------------------------------------------------

SC_NOTICE = Page(
    "/scjc/xszg/2025/4/28/5b0f2d6e8a9c4e31b7d2f6a1c3e5d7f9.shtml",
    "中共广元市委关于省委巡视集中整改进展情况的通报",
    "2025-04-28 10:20",
    [
        "根据省委统一部署,2024年8月27日至11月22日,省委第四巡视组对广元市进行了巡视。"
        "2024年12月27日,省委巡视组向广元市委反馈了巡视意见。按照巡视工作有关要求,"
        "现将巡视集中整改进展情况予以公布。",
        "一、坚持以上率下,压紧压实整改责任",
        "市委坚持把巡视整改作为重大政治任务,召开市委常委会会议专题研究,制定整改方案,细化整改措施86条。",
        "二、聚焦突出问题,推动整改落地见效",
        "(一)关于推动高质量发展方面",
        "围绕产业发展短板开展专项攻坚,推进重点项目建设42个,完成投资126.3亿元。",
        "(二)关于防范化解风险方面",
        "完善地方债务风险防控机制,开展国有企业专项审计11次。",
        "截至2025年3月底,巡视反馈的28个问题已完成整改24个,其余4个正在推进;"
        "给予党纪政务处分25人,建立完善制度16项。",
        "欢迎广大干部群众对巡视整改落实情况进行监督。联系电话:0839-8000000;"
        "邮政信箱:广元市利州区0000号信箱。",
        "中共广元市委",
        "2025年4月28日",
    ],
    notice=True,
)
SC_OTHER = Page(
    "/scjc/xszg/2025/3/12/0c8e4f1a2b3d4c5e6f708192a3b4c5d6.shtml",
    "中共苍溪县委关于十五届县委第六轮巡察整改进展情况的通报",
    "2025-03-12 16:05",
    [
        "根据县委统一部署,县委第二巡察组对县农业农村局党组开展了常规巡察。",
        "现将巡察整改进展情况予以公布,欢迎广大干部群众监督。",
    ],
    notice=False,
)


def sc_article(site: Site, page: Page) -> str:
    body = f"""<div class="detail">
<h2 class="detail-title">{html.escape(page.title)}</h2>
<div class="detail-info"><span>发布时间：{page.published}</span><span>来源：{site.source}</span>
<span>浏览次数：<b id="hits">128</b></span></div>
<div class="detail-content">
{paragraphs(page.lines)}
</div>
<div class="detail-share">分享：<a href="#">微信</a> <a href="#">微博</a></div>
<div class="detail-prev">上一篇：<a href="{SC_OTHER.path}">{SC_OTHER.title}</a></div>
</div>"""
    return shell(site, page.title, metas(site, page), body)


def sc_list(site: Site, items: list[Page], pager: str) -> str:
    rows = "\n".join(
        f'<div class="data-list"><h4><a href="{p.path}" target="_blank">{html.escape(p.title)}</a>'
        f'</h4><p class="summary">{page_text(p.lines[0][:40])}…</p><span class="date">{p.list_date}'
        "</span></div>"
        for p in items
    )
    return shell(site, "巡视整改", "", f'<div class="list-wrap">\n{rows}\n<div class="page">{pager}</div></div>')  # fmt: skip


def sichuan() -> Site:
    site = Site(
        name="scjc",
        label="廉洁四川",
        scheme="http",
        start="/scjc/xszg/xszg.shtml",
        list_pages=["/scjc/xszg/xszg.shtml", "/scjc/xszg/xszg_2.shtml"],
        source="廉洁四川",
        articles=[SC_NOTICE, SC_OTHER],
        container='//div[@class="detail-content"]',
    )
    first = '<span class="current">1</span> <a href="xszg_2.shtml">2</a> <a href="xszg_2.shtml">下一页</a>'
    second = (
        '<a href="xszg.shtml">上一页</a> <a href="xszg.shtml">1</a> <span class="current">2</span>'
    )
    site.files["scjc/xszg/xszg.shtml"] = sc_list(site, [SC_OTHER], first)
    site.files["scjc/xszg/xszg_2.shtml"] = sc_list(site, [SC_NOTICE], second)
    for page in site.articles:
        site.files[page.path.lstrip("/")] = sc_article(site, page)
    return site


# --------------------------------------------------------------------------------------
# 清风扬帆网 (Hanweb)
# --------------------------------------------------------------------------------------

JS_NOTICE = Page(
    "/art/2024/1/5/art_37_12345.html",
    "中共南京市江宁区委关于十四届省委第四轮巡视整改进展情况的通报",
    "2024-01-05 10:15",
    [
        "根据省委统一部署,2023年3月15日至5月31日,省委第三巡视组对江宁区进行了常规巡视。"
        "2023年7月20日,省委巡视组向江宁区委反馈了巡视意见。按照巡视工作有关要求,"
        "现将巡视整改进展情况予以公布。",
        "一、强化政治担当,高质量推进巡视整改",
        "区委常委会召开专题会议研究部署整改工作,制定整改任务清单,明确整改措施103条。",
        "二、坚持问题导向,逐项抓好整改落实",
        "(一)关于推进乡村振兴方面",
        "开展农村集体“三资”管理专项整治,清理合同1826份,收回资金3120.6万元。",
        "截至2023年12月底,巡视反馈的31个问题已完成整改27个;给予党纪政务处分22人,完善制度14项。",
        "欢迎广大干部群众对巡视整改落实情况进行监督。联系电话:025-80000000;"
        "电子邮箱:jnxszg@example.gov.cn。",
        "中共南京市江宁区委",
        "2024年1月5日",
    ],
    notice=True,
)
JS_OTHER = Page(
    "/art/2023/10/16/art_37_11876.html",
    "十四届省委第五轮巡视完成进驻",
    "2023-10-16 18:00",
    [
        "截至10月16日,十四届省委第五轮巡视13个巡视组已全部完成进驻。",
        "巡视期间,各巡视组设立专门值班电话和邮政信箱,接收反映问题。",
    ],
    notice=False,
)
JS_MEETING = Page(
    "/art/2023/9/28/art_37_11802.html",
    "省委巡视工作动员部署会召开",
    "2023-09-28 17:20",
    ["省委巡视工作领导小组召开动员部署会,对十四届省委第五轮巡视工作进行部署。"],
    notice=False,
)
NEXTGROUP = (
    "/module/web/jpage/dataproxy.jsp?page=1&webid=1&path=/&columnid=37&unitid=91234"
    "&webname=清风扬帆网&permissiontype=0"
)


def js_record(p: Page) -> str:
    return (
        f"<record><![CDATA[<li><a href='{p.path}' title='{html.escape(p.title)}' "
        f'target="_blank">{html.escape(p.title)}</a><span>{p.list_date}</span></li>]]></record>'
    )


def js_article(site: Site, page: Page) -> str:
    body = f"""<div class="main"><div class="article">
<h1>{html.escape(page.title)}</h1>
<div class="info"><span class="pubtime">发布日期：{page.published}</span>
<span class="source">来源：{site.source}</span>
<span class="print"><a href="javascript:window.print()">打印本页</a></span></div>
<div id="zoom">
{paragraphs(page.lines)}
</div>
<div class="share">分享到：<a href="#">微信</a></div>
</div></div>"""
    return shell(site, page.title, metas(site, page), body)


def jiangsu() -> Site:
    site = Site(
        name="jssjw",
        label="清风扬帆网",
        scheme="http",
        start="/col/col37/index.html",
        list_pages=["/col/col37/index.html", "/module/web/jpage/dataproxy.jsp"],
        source="清风扬帆网",
        articles=[JS_NOTICE, JS_OTHER, JS_MEETING],
        container='//div[@id="zoom"]',
    )
    records = "\n".join(js_record(p) for p in (JS_OTHER, JS_MEETING))
    datastore = (
        f'<script type="text/xml"><datastore>\n<nextgroup><![CDATA[<a href="{NEXTGROUP}"></a>]]>'
        f"</nextgroup>\n<recordset>\n{records}\n</recordset>\n</datastore></script>"
    )
    body = f"""<div class="list-box"><h3>巡视整改</h3>
<div id="91234"><ul class="list"></ul>{datastore}</div>
<script src="/module/web/jpage/jpage.js"></script>
<script>$("#91234").jpage({{proxyUrl:"/module/web/jpage/dataproxy.jsp", perPage:15, groupSize:3}});</script>
</div>
<div class="side"><h3>热点文章</h3><ul><li><a href="{JS_OTHER.path}">{JS_OTHER.title}</a></li></ul></div>"""
    site.files["col/col37/index.html"] = shell(site, "巡视整改", "", body)
    # The data proxy's answer: the next group, a bare datastore.
    site.files["module/web/jpage/dataproxy.jsp"] = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<datastore>\n<totalrecord>3</totalrecord>\n'
        f"<recordset>\n{js_record(JS_NOTICE)}\n</recordset>\n</datastore>\n"
    )
    for page in site.articles:
        site.files[page.path.lstrip("/")] = js_article(site, page)
    return site


# --------------------------------------------------------------------------------------
# Manifest, check, write
# --------------------------------------------------------------------------------------


def finish(site: Site) -> dict:
    site.files["robots.txt"] = "User-agent: *\nDisallow: /search/\n"
    notices = {}
    for page in site.articles:
        if page.notice:
            stem = Path(page.path).stem
            lines = [f"{page.published} {site.source}", *page.lines]
            site.files[f"expected/{stem}.txt"] = "\n".join(lines)
            notices[page.path] = f"{site.name}/expected/{stem}.txt"
    return {
        "scheme": site.scheme,
        "start": site.start,
        "list_pages": site.list_pages,
        "notices": notices,
        "non_notices": [p.path for p in site.articles if not p.notice],
        "attachments": [],
        "articles": {
            p.path: {
                "title": p.title,
                "published": p.published,
                "list_date": p.list_date,
                "source": site.source,
                "encoding": "utf-8",
                "notice": p.notice,
            }
            for p in site.articles
        },
    }


_BLOCKS = {"p", "div", "br", "li", "ul", "h1", "h2", "h3", "h4", "table", "tr"}


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def check(site: Site, root: Path, entry: dict) -> list[str]:
    problems = []
    for path, ref in entry["notices"].items():
        doc = lhtml.document_fromstring((root / path.lstrip("/")).read_text(encoding="utf-8"))
        for bad in doc.xpath("//script | //style"):
            bad.drop_tree()
        (container,) = doc.xpath(site.container)
        for el in container.iter():
            if el.tag in _BLOCKS:
                el.text, el.tail = "\n" + (el.text or ""), "\n" + (el.tail or "")
        got = [x for x in (_clean(s) for s in container.text_content().split("\n")) if x]
        want = (root.parent / ref).read_text(encoding="utf-8").split("\n")
        info = entry["articles"][path]
        if want[0] != f"{info['published']} {info['source']}" or got != want[1:]:
            problems.append(f"{site.name}{path}: the page does not give its expected text back")
        if not all(unicodedata.is_normalized("NFKC", x) for x in want):
            problems.append(f"{site.name}{path}: expected text is not NFKC")
    listed = "".join(
        (root / p.lstrip("/")).read_text(encoding="utf-8") for p in entry["list_pages"]
    )
    for path in [*entry["notices"], *entry["non_notices"]]:
        if path not in listed:
            problems.append(f"{site.name}{path}: on no list page")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only check the files on disk")
    args = ap.parse_args(argv)
    manifest_path = SITES / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    problems: list[str] = []
    built = [beijing(), sichuan(), jiangsu()]
    if args.check:
        for site in built:
            problems += check(site, SITES / site.name, manifest[site.name])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            entries = {}
            for site in built:
                entries[site.name] = finish(site)
                for rel, text in site.files.items():
                    dest = Path(tmp) / site.name / rel
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_text(text, encoding="utf-8")
                problems += check(site, Path(tmp) / site.name, entries[site.name])
            if not problems:
                for site in built:
                    shutil.rmtree(SITES / site.name, ignore_errors=True)
                    shutil.copytree(Path(tmp) / site.name, SITES / site.name)
                manifest.update(entries)
                manifest_path.write_text(
                    json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
                )
    for p in problems:
        print("  - " + p, file=sys.stderr)
    if problems:
        print(f"FAILED: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("OK: " + ", ".join(f"tests/sites/{s.name}" for s in built))
    return 0


if __name__ == "__main__":
    sys.exit(main())
