#!/usr/bin/env python3
"""Build the recorded-style CCDI test site (tests/sites/ccdi/) from a real CCDI page's markup.

The article pages are the real page ``../shared/fixtures/ccdi/t20231227_317460.html``
(TRS template ``div.Article_61``, share widget with a base64 QR image, footer, hidden
``NewsArticle*`` divs) with its title, dates, column and ``div.content`` replaced by
made-up 巡视整改 notices written in CCDI's style; the list pages reuse the same page's
header, navigation and footer around the list markup sites.md describes
(``ul.list_news_dl2 li`` / older ``ul.list_news_dl li``, date in ``.more``, pager by
``createPageHTML(total, current, "index", "html")``).

What the site exercises: a column index (``/xsxcn/``) whose 巡视整改 sub-column is found
by its link text (and a headline on it that holds the same words but is an article), a
two-page list, a two-page article (``createPageHTML_ZW(2, …)`` -> ``…_1.html``), a list
link to a ``_m.html`` mobile twin, a title in ``<h2><p>…</p></h2>``, and two non-notices.
The texts are synthetic: units are real names, every figure, date, phone number and
address is made up.

Every notice is written as its expected seed-format text first; the page is built from
it (full-width punctuation, ``　　`` indents, nested spans, spacer paragraphs), then an
independent check re-reads each built page with lxml and fails the build (exit 1) when
it does not give the expected text back.

Written: the site, ``expected/<name>.txt`` per notice and ``expected/site.json`` (what
the tests need to know: start page, column, list pages, notices, non-notices).

Usage::

    .venv/bin/python tools/build_ccdi_site.py            # build, check, write
    .venv/bin/python tools/build_ccdi_site.py --check    # check what is on disk
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
from dataclasses import dataclass
from pathlib import Path

from lxml import html as lhtml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "sites" / "ccdi"
TEMPLATE = ROOT.parent / "shared" / "fixtures" / "ccdi" / "t20231227_317460.html"
TEMPLATE_NAME = "t20231227_317460"
TEMPLATE_TITLE = "中央纪委国家监委公开通报六起形式主义、官僚主义典型问题"
SOURCE = "中央纪委国家监委网站"
COLUMN = "/xsxcn/xszgn/"  # the real sub-column's path is unknown [U]; found by link text

_TO_PAGE = str.maketrans({",": "，", "(": "（", ")": "）", ":": "：", ";": "；", "%": "％"})
P_STYLE = (
    "text-align: left; font-family: 微软雅黑, &quot;Microsoft YaHei&quot;; font-size: 16px; "
    "margin-bottom: 16px; line-height: 2em;"
)


@dataclass
class Article:
    name: str  # tYYYYMMDD_<id>
    month: str  # YYYYMM folder
    title: str
    published: str  # "YYYY-MM-DD HH:MM"
    pages: list[list[str]]  # expected lines per page (seed format, without the header)
    notice: bool
    title_in_p: bool = False  # <h2 class="tit"><p><span>title</span></p></h2>

    @property
    def path(self) -> str:
        return f"{COLUMN}{self.month}/{self.name}.html"


GANSU = Article(
    name="t20240115_330001",
    month="202401",
    title="中共甘肃省委关于二十届中央第一轮巡视整改进展情况的通报",
    published="2024-01-15 18:00",
    notice=True,
    pages=[
        [
            "根据中央统一部署,2023年4月10日至6月30日,中央第三巡视组对甘肃省进行了常规巡视。"
            "2023年8月25日,中央巡视组向甘肃省委反馈了巡视意见。按照巡视工作有关要求,"
            "现将巡视整改进展情况予以公布。",
            "一、提高政治站位,以强烈的政治担当抓好巡视整改",
            "省委坚持把巡视整改作为重大政治任务,第一时间召开常委会会议专题研究部署,成立由省委"
            "书记任组长的巡视整改工作领导小组,制定整改方案,明确整改任务48项、具体措施156条。",
            "省委常委会先后召开7次会议、领导小组召开5次会议,听取整改进展情况汇报,对重点难点"
            "问题逐项研究、跟踪督办,推动整改任务落地见效。",
            "二、聚焦反馈问题,扎实推进各项整改任务落实",
            "(一)关于贯彻落实党中央决策部署方面",
            "健全贯彻落实党中央重大决策部署督查问责机制,开展专项督查3轮,发现并督促整改问题112个。",
            "(二)关于全面从严治党方面",
            "制定落实全面从严治党主体责任清单,对21个市县和省直部门开展责任落实情况专项检查,"
            "约谈提醒领导干部36人次。",
            "三、坚持标本兼治,持续巩固深化巡视整改成果",
            "截至2023年12月底,巡视反馈的48项整改任务已完成41项,其余7项正在持续推进;"
            "给予党纪政务处分63人,建立完善制度规定27项,整改完成率85.4%。",
            "下一步,省委将坚持目标不变、标准不降、力度不减,对已完成的整改事项适时开展“回头看”,"
            "确保件件有着落、事事有回音。",
            "欢迎广大干部群众对巡视整改落实情况进行监督。联系电话:0931-8000000;"
            "邮政信箱:甘肃省兰州市城关区0000号信箱;电子邮箱:xszg@example.gov.cn。",
            "中共甘肃省委",
            "2024年1月15日",
        ]
    ],
)

SPORT = Article(
    name="t20240116_330045",
    month="202401",
    title="中共国家体育总局党组关于二十届中央第一轮巡视整改进展情况的通报",
    published="2024-01-16 18:30",
    notice=True,
    title_in_p=True,
    pages=[
        [
            "根据中央统一部署,2023年4月12日至7月5日,中央第十巡视组对国家体育总局党组进行了"
            "常规巡视。2023年9月1日,中央巡视组向国家体育总局党组反馈了巡视意见。按照巡视工作"
            "有关要求,现将巡视整改进展情况予以公布。",
            "一、党组履行巡视整改主体责任情况",
            "党组把巡视整改作为检验“两个维护”的试金石,召开党组会议12次专题研究整改工作,"
            "党组书记认真履行第一责任人职责,对重点任务亲自部署、重要问题亲自过问。",
            "建立问题、任务、责任“三个清单”,将反馈的4个方面、15项问题细化为62项整改措施,"
            "逐项明确责任领导、责任单位和完成时限。",
            "二、巡视反馈问题整改落实情况",
            "(一)关于贯彻落实体育强国建设部署不够有力的问题",
            "制定体育强国建设重点任务分工方案,对17项重点任务实行台账管理,每季度调度推进。",
        ],
        [
            "(二)关于重点领域廉洁风险防控不到位的问题",
            "开展赛事组织、运动员选拔、场馆运营等领域专项治理,排查廉洁风险点214个,"
            "制定防控措施305条。",
            "(三)关于巡视、审计发现问题整改不彻底的问题",
            "对近五年巡视、审计发现问题开展“回头看”,督促整改问题43个,追回资金1260.5万元。",
            "三、下一步工作打算",
            "党组将持续抓好后续整改,对已完成的整改任务组织“回头看”,对需要长期坚持的任务"
            "常抓不懈,不断巩固拓展巡视整改成果。",
            "欢迎广大干部群众对巡视整改落实情况进行监督。联系电话:010-80000000;"
            "邮政地址:北京市东城区0000号(邮编:100000)。",
            "中共国家体育总局党组",
            "2024年1月16日",
        ],
    ],
)

QINGHAI = Article(
    name="t20240117_330102",
    month="202401",
    title="中共青海省委关于二十届中央第一轮巡视整改进展情况的通报",
    published="2024-01-17 18:00",
    notice=True,
    pages=[
        [
            "根据中央统一部署,2023年4月11日至6月30日,中央第五巡视组对青海省进行了常规巡视。"
            "2023年8月28日,中央巡视组向青海省委反馈了巡视意见。按照巡视工作有关要求,"
            "现将巡视整改进展情况予以公布。",
            "一、以高度的政治自觉抓好巡视整改",
            "省委常委会第一时间传达学习中央巡视反馈意见,研究制定整改方案,明确整改任务39项。",
            "二、坚持问题导向,推动整改任务落地见效",
            "(一)关于生态环境保护方面",
            "开展生态环境问题排查整治,完成整改问题96个,建立生态保护长效机制9项。",
            "(二)关于防范化解重大风险方面",
            "建立地方债务风险监测预警机制,化解存量隐性债务18.7亿元。",
            "截至2023年12月底,39项整改任务已完成33项,6项取得阶段性成效并长期坚持。",
            "欢迎广大干部群众对巡视整改落实情况进行监督。联系电话:0971-8000000;"
            "电子邮箱:qhxszg@example.gov.cn。",
            "中共青海省委",
            "2024年1月17日",
        ]
    ],
)

FEEDBACK = Article(
    name="t20240112_329870",
    month="202401",
    title="二十届中央第一轮巡视完成反馈",
    published="2024-01-12 17:30",
    notice=False,
    pages=[
        [
            "近日,二十届中央第一轮巡视的15个巡视组陆续向被巡视单位党组织反馈巡视情况。",
            "各巡视组在反馈时强调,被巡视单位党组织要切实担负起巡视整改主体责任,"
            "把整改作为重大政治任务,确保件件有着落、事事有回音。",
        ]
    ],
)

MEETING = Article(
    name="t20231120_310555",
    month="202311",
    title="中央巡视工作领导小组召开会议 研究部署二十届中央第一轮巡视工作",
    published="2023-11-20 19:00",
    notice=False,
    pages=[
        [
            "中央巡视工作领导小组日前召开会议,研究部署二十届中央第一轮巡视工作。",
            "会议强调,要聚焦职责使命,精准发现问题,督促推动整改,不断提升巡视工作质量。",
        ]
    ],
)

ARTICLES = [QINGHAI, SPORT, GANSU, FEEDBACK, MEETING]


# --------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------


def page_text(line: str) -> str:
    """A seed-format line as the CMS shows it: full-width punctuation, HTML-escaped."""
    return html.escape(line.translate(_TO_PAGE), quote=False)


def paragraph_html(line: str, i: int) -> str:
    text = page_text(line)
    if re.match(r"^[一二三四五六七八九十]+、", line):
        return f'<p style="{P_STYLE}">　　<strong>{text}</strong></p>'
    if line.startswith("("):
        return (
            f'<p style="{P_STYLE}"><span style="font-family: 楷体, SimKai;">　　{text}</span></p>'
        )
    if line.startswith("中共") or re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", line):
        return f'<p style="text-align: right; {P_STYLE[18:]}">{text}</p>'
    if i % 3 == 1 and "，" in text:
        # One paragraph split across two spans, as the editor leaves it.
        cut = text.index("，") + 1
        return (
            f'<p style="{P_STYLE}"><span style="font-size: 16px;">　　{text[:cut]}</span>'
            f'<span style="font-size: 16px;">{text[cut:]}</span></p>'
        )
    return f'<p style="{P_STYLE}">　　{text}</p>'


def content_html(lines: list[str]) -> str:
    parts = [paragraph_html(line, i) for i, line in enumerate(lines)]
    # The signature is set off by an empty paragraph.
    for i, line in enumerate(lines):
        if line.startswith("中共") and i > 0:
            parts.insert(i, f'<p style="{P_STYLE}"><br></p>')
            break
    return "".join(parts)


def _once(text: str, old: str, new: str, count: int = 1) -> str:
    found = text.count(old)
    if found != count:
        raise SystemExit(f"template changed: {old[:40]!r} found {found} times, expected {count}")
    return text.replace(old, new)


def article_page(template: str, a: Article, page: int) -> str:
    t = template.replace("../../", "../../../")  # one folder deeper than /toutiaon/YYYYMM/
    t = _once(t, 'content="头条"', 'content="巡视整改"', 4)
    t = _once(t, "&nbsp;头条", '&nbsp;<a href="../../">巡视巡察</a>&nbsp;&gt;&nbsp;巡视整改')
    t = _once(t, "————头条——", "————巡视整改——")
    t = _once(t, "toutiaon%2F202312%2F", f"xsxcn%2Fxszgn%2F{a.month}%2F", 3)
    heading = f'<p><span style="font-size: 22px;">{html.escape(a.title)}</span></p>' if a.title_in_p else html.escape(a.title)  # fmt: skip
    t = _once(
        t, f"\n                        {TEMPLATE_TITLE}\n", f"\n                        {heading}\n"
    )
    t = t.replace(TEMPLATE_TITLE, html.escape(a.title))
    t = _once(t, f'createPageHTML_ZW(1, 0, "{TEMPLATE_NAME}"', f'createPageHTML_ZW({len(a.pages)}, {page}, "{TEMPLATE_NAME}"')  # fmt: skip
    t = t.replace(TEMPLATE_NAME, a.name).replace(">317460<", f">{a.name.split('_')[1]}<")
    t = _once(t, "2023-12-27 17:00", a.published, 2)
    t = _once(t, "2023-12-27", a.published[:10])
    start = t.index('<div class="content">') + len('<div class="content">')
    end = t.index('</div>\n                </div>\n\n                <div class="clear"></div>')
    return t[:start] + "\n" + content_html(a.pages[page]) + "\n                    " + t[end:]


def _chrome(template: str) -> tuple[str, str]:
    head = template[: template.index('<section class="main fixed">')]
    foot = template[template.index("<!-- 页面底部模板——begin -->") :]
    foot = re.sub(r'<div id="NewsArticle.*?</div>\s*', "", foot, flags=re.S)
    head = re.sub(r"<title>.*?</title>", "<title>{title}</title>", head, flags=re.S)
    head = re.sub(r'<meta name="(?:ArticleTitle|PubDate|ContentSource)"[^>]*>\s*', "", head)
    head = re.sub(r"<script[^>]*>uaredirect\([^)]*\)</script>", "", head)
    return head, foot


MENU = """<ul class="xsxc_menu fixed">
  <li><a href="{up}xsgzdtn/">巡视工作动态</a></li>
  <li{on}><a href="{up}xszgn/">巡视整改</a></li>
  <li><a href="{up}xcgzn/">巡察工作</a></li>
  <li><a href="{up}lsdjn/">理论探索</a></li>
</ul>"""


def list_page(template: str, depth: str, crumbs: str, body: str, title: str) -> str:
    head, foot = _chrome(template.replace("../../", depth))
    head = head.replace("{title}", html.escape(title))
    return (
        f'{head}<section class="main fixed">\n<div class="other_Location fixed"><div class="fl">'
        f'<span><a href="{depth}">首页</a>&nbsp;&nbsp;&gt;&nbsp;{crumbs}</span></div></div>\n'
        f'{body}\n</section>\n<div class="clear"></div>\n{foot}'
    )


def item(a: Article, *, mobile: bool = False, base: str = "./") -> str:
    href = f"{base}{a.month}/{a.name}{'_m' if mobile else ''}.html"
    return (
        f'<li><a href="{href}" target="_blank" title="{html.escape(a.title)}">'
        f'{html.escape(a.title)}</a><span class="more">{a.published[:10]}</span></li>'
    )


def build(template: str) -> dict[str, str]:
    files: dict[str, str] = {}
    for a in ARTICLES:
        for n in range(len(a.pages)):
            suffix = f"_{n}" if n else ""
            rel = f"{COLUMN}{a.month}/{a.name}{suffix}.html".lstrip("/")
            files[rel] = article_page(template, a, n)

    page1 = "\n".join(item(a) for a in (QINGHAI, SPORT, FEEDBACK))
    page2 = "\n".join([item(GANSU, mobile=True), item(MEETING)])
    pager = '<div class="page"><script type="text/javascript">createPageHTML(2, {n}, "index", "html");</script></div>'  # fmt: skip
    crumbs = '<a href="../">巡视巡察</a>&nbsp;&gt;&nbsp;巡视整改'
    menu = MENU.format(up="../", on=' class="on"')
    files[f"{COLUMN}index.html".lstrip("/")] = list_page(
        template, "../../", crumbs,
        f'<div class="other_left">{menu}</div>\n'
        f'<div class="other_center"><ul class="list_news_dl2 fixed">\n{page1}\n</ul>\n'
        f"{pager.format(n=0)}</div>",
        "巡视整改——中央纪委国家监委网站",
    )  # fmt: skip
    # The older list template of page 2.
    files[f"{COLUMN}index_1.html".lstrip("/")] = list_page(
        template, "../../", crumbs,
        f'<div class="other_left">{menu}</div>\n'
        f'<div class="list_box"><ul class="list_news_dl">\n{page2}\n</ul>\n'
        f"{pager.format(n=1)}</div>",
        "巡视整改——中央纪委国家监委网站",
    )  # fmt: skip
    # The 巡视巡察 column index: sub-column menu, and a headline that holds 巡视整改 too.
    files["xsxcn/index.html"] = list_page(
        template, "../", "巡视巡察",
        f'<div class="other_left">{MENU.format(up="./", on="")}</div>\n'
        f'<div class="xsxc_top"><h3>最新发布</h3><ul class="xsxc_news">\n'
        f'{item(QINGHAI, base="./xszgn/")}\n{item(FEEDBACK, base="./xszgn/")}\n</ul></div>',
        "巡视巡察——中央纪委国家监委网站",
    )  # fmt: skip
    files["robots.txt"] = "User-agent: *\nDisallow: /was5/\n"
    for a in ARTICLES:
        if a.notice:
            lines = [f"{a.published} {SOURCE}", *(x for p in a.pages for x in p)]
            files[f"expected/{a.name}.txt"] = "\n".join(lines)
    site = {
        "start": "/xsxcn/index.html",
        "column": COLUMN,
        "list_pages": [f"{COLUMN}index.html", f"{COLUMN}index_1.html"],
        "notices": {
            a.path: {
                "expected": f"ccdi/expected/{a.name}.txt",
                "title": a.title,
                "published": a.published,
                "source": SOURCE,
                "pages": [
                    f"{COLUMN}{a.month}/{a.name}{f'_{n}' if n else ''}.html"
                    for n in range(len(a.pages))
                ],
            }
            for a in ARTICLES
            if a.notice
        },
        "non_notices": [a.path for a in ARTICLES if not a.notice],
        "mobile_links": {f"{COLUMN}{GANSU.month}/{GANSU.name}_m.html": GANSU.path},
    }
    files["expected/site.json"] = json.dumps(site, ensure_ascii=False, indent=2) + "\n"
    return files


# --------------------------------------------------------------------------------------
# Independent check: lxml only, none of the crawler's code
# --------------------------------------------------------------------------------------

_BLOCKS = {"p", "div", "br", "li", "ul", "h1", "h2", "h3", "h4", "table", "tr"}


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", " ", text).strip()


def content_lines(page: str) -> list[str]:
    doc = lhtml.document_fromstring(page)
    (content,) = doc.xpath('//div[@class="content"]')
    for el in content.iter():
        if el.tag in _BLOCKS:
            el.text, el.tail = "\n" + (el.text or ""), "\n" + (el.tail or "")
    return [x for x in (_clean(s) for s in content.text_content().split("\n")) if x]


def check(root: Path) -> list[str]:
    problems: list[str] = []
    site = json.loads((root / "expected" / "site.json").read_text(encoding="utf-8"))
    for path, info in site["notices"].items():
        expected = (root.parent / info["expected"]).read_text(encoding="utf-8").split("\n")
        got: list[str] = []
        for n, page_path in enumerate(info["pages"]):
            page = (root / page_path.lstrip("/")).read_text(encoding="utf-8")
            doc = lhtml.document_fromstring(page)
            shown = _clean(doc.xpath('string(//em[contains(@class,"e2")])'))
            if shown.replace(" ", "") != "发布时间:" + info["published"].replace(" ", ""):
                problems.append(f"{page_path}: 发布时间 shows {shown!r}")
            if f"createPageHTML_ZW({len(info['pages'])}, {n}," not in page:
                problems.append(f"{page_path}: pager is not page {n} of {len(info['pages'])}")
            if info["title"] not in _clean(doc.xpath("string(//title)")):
                problems.append(f"{page_path}: <title> lacks the title")
            got += content_lines(page)
        if expected[0] != f"{info['published']} {info['source']}" or got != expected[1:]:
            problems.append(f"{path}: the page does not give its expected text back")
        if not all(unicodedata.is_normalized("NFKC", x) for x in expected):
            problems.append(f"{path}: expected text is not NFKC")
    for rel in site["list_pages"]:
        page = (root / rel.lstrip("/")).read_text(encoding="utf-8")
        for href in re.findall(r'href="(\./\d{6}/t[^"]+)"', page):
            target = (root / rel.lstrip("/")).parent / href
            desktop = Path(re.sub(r"_m\.html$", ".html", str(target)))
            if not desktop.is_file():
                problems.append(f"{rel}: {href} leads nowhere")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only check the files on disk")
    args = ap.parse_args(argv)
    if args.check:
        problems = check(OUT)
    else:
        files = build(TEMPLATE.read_text(encoding="utf-8"))
        with tempfile.TemporaryDirectory() as tmp:
            staging = Path(tmp) / "ccdi"
            for rel, text in files.items():
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                (staging / rel).write_text(text, encoding="utf-8")
            problems = check(staging)
            if not problems:
                shutil.rmtree(OUT, ignore_errors=True)
                shutil.copytree(staging, OUT)
    for p in problems:
        print("  - " + p, file=sys.stderr)
    if problems:
        print(f"FAILED: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"OK: {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
