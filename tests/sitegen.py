"""Generate a TRS-style copy of a zjsjw-like site of N notices built from seed 000.

Used by the incremental-crawl tests and by the benchmarks. Each notice page is built
the way the CMS builds it (full-width punctuation, 　　 indents, <p> paragraphs, page
chrome); its expected seed-format text is returned beside it, computed from the seed's
lines, not by the normaliser under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from pathlib import Path

SEED_000 = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_6f66318992fdd9a8.txt"
COLUMN = "/gongzuodongtai/xunshixuncha/"
SOURCE = "浙江省纪委省监委网站"
UNITS = [
    "杭州市西湖区", "杭州市上城区", "杭州市滨江区", "宁波市海曙区", "宁波市鄞州区", "温州市鹿城区",
    "温州市瓯海区", "嘉兴市南湖区", "湖州市吴兴区", "绍兴市越城区", "金华市婺城区", "衢州市柯城区",
    "舟山市定海区", "台州市椒江区", "丽水市莲都区", "杭州市临平区",
]  # fmt: skip
_TO_PAGE = str.maketrans({",": "，", "(": "（", ")": "）", ":": "：", ";": "；", "%": "％"})


@dataclass
class GeneratedNotice:
    path: str
    title: str
    published: str  # "YYYY-MM-DD HH:MM"
    expected: str  # seed-format text


def seed_body() -> list[str]:
    return SEED_000.read_text(encoding="utf-8").split("\n")[1:]


def notice_lines(i: int, unit: str, body: list[str], paragraphs: int | None) -> list[str]:
    first = (
        f"根据省委统一部署,2023年3月2日至5月31日,省委第{i % 15 + 1}巡视组对{unit}开展了常规巡视。"
        f"2023年7月26日,省委巡视组向{unit[-3:]}委反馈了巡视意见。按照巡视工作有关要求,现将巡视整改进展情况予以公布。"
    )
    rest = body[1:] if paragraphs is None else body[1 : 1 + paragraphs]
    return [first, *rest, f"中共{unit}委", f"通报编号{i}"]


def article_html(title: str, published: str, lines: list[str], pad_bytes: int = 0) -> str:
    paras = "\n".join(
        f'<p style="text-indent:2em;">　　{escape(line.translate(_TO_PAGE))}</p>' for line in lines
    )
    # Real pages carry scripts, menus and footers around the text; pad_bytes adds
    # comparable inert markup so a benchmark fetches realistic page sizes.
    padding = f"<!-- {'x' * max(pad_bytes, 0)} -->" if pad_bytes else ""
    return f"""<!DOCTYPE html>
<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<meta name="ArticleTitle" content="{escape(title)}"><meta name="PubDate" content="{published}">
<meta name="ContentSource" content="{SOURCE}">
<title>{escape(title)}_巡视巡察_{SOURCE}</title>
<script src="/js/jquery.js"></script></head>
<body><div class="header"><ul class="nav"><li><a href="/">首页</a></li><li><a href="{COLUMN}">巡视巡察</a></li></ul></div>
<div class="crumb">当前位置：<a href="/">首页</a> &gt; <a href="{COLUMN}">巡视巡察</a></div>
<div class="article"><h1>{escape(title)}</h1>
<div class="info"><span>发布时间：{published}</span><span>来源：{SOURCE}</span><span>【字体：大 中 小】</span></div>
<div class="TRS_Editor">
{paras}
</div>
<div class="share">分享到：<a href="#">微信</a><a href="#">微博</a></div>
<p class="print">【<a href="javascript:window.print()">打印</a>】【<a href="javascript:window.close()">关闭</a>】</p>
</div>
<div class="footer">主办单位：中共浙江省纪律检查委员会 浙江省监察委员会 备案号：浙ICP备0000000号</div>{padding}
</body></html>"""


def list_html(items: list[tuple[str, str, str]], page: int, pages: int) -> str:
    lis = "\n".join(
        f'<li><a href="{href}" target="_blank" title="{escape(title)}">{escape(title)}</a><span>{day}</span></li>'
        for href, title, day in items
    )
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>巡视巡察_{SOURCE}</title></head>
<body><div class="crumb">当前位置：首页 &gt; 工作动态 &gt; 巡视巡察</div>
<ul class="list">
{lis}
</ul>
<div class="page"><script>createPageHTML({pages}, {page}, "index", "shtml");</script></div>
</body></html>"""


def generate_site(
    root: Path,
    n: int,
    *,
    per_page: int = 10,
    start: date | None = None,
    paragraphs: int | None = None,
    pad_bytes: int = 0,
    dates: list[date] | None = None,
) -> list[GeneratedNotice]:
    """Write a site of ``n`` notices (newest first on the lists) under ``root``; return them.

    Notice i is published ``start + i days`` unless ``dates`` gives its date.
    """
    body = seed_body()
    start = start or date(2025, 1, 1)
    notices: list[GeneratedNotice] = []
    for i in range(n):
        day = dates[i] if dates else start + timedelta(days=i)
        unit = UNITS[i % len(UNITS)]
        title = f"中共{unit}委关于省委巡视整改进展情况的通报({i})"
        published = f"{day.isoformat()} 09:{i % 60:02d}"
        lines = notice_lines(i, unit, body, paragraphs)
        path = f"{COLUMN}{day:%Y%m}/t{day:%Y%m%d}_{100000 + i}_ext.html"
        write(root, path, article_html(title, published, lines, pad_bytes))
        notices.append(
            GeneratedNotice(path, title, published, "\n".join([f"{published} {SOURCE}", *lines]))
        )
    write_lists(root, notices, per_page)
    return notices


def write_lists(root: Path, notices: list[GeneratedNotice], per_page: int = 10) -> None:
    newest_first = list(reversed(notices))
    pages = max(1, -(-len(newest_first) // per_page))
    for page in range(pages):
        chunk = newest_first[page * per_page : (page + 1) * per_page]
        items = [("." + n.path[len(COLUMN) - 1 :], n.title, n.published[:10]) for n in chunk]
        name = "index.shtml" if page == 0 else f"index_{page}.shtml"
        write(root, COLUMN + name, list_html(items, page, pages))


def write(root: Path, path: str, text: str) -> None:
    file = root / path.lstrip("/")
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text, encoding="utf-8")
