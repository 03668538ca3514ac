"""Pure extraction: decoding, block detection, list pages, the classifier, article fields."""

from __future__ import annotations

import pytest

from crawler.article import extract_article
from crawler.extract import PageError, classify_title, decode_page, detect_block, parse_datetime
from crawler.listpage import parse_list, trs_pages
from crawler.normalise import normalise
from crawler.sites import SiteProfile, get_site

GENERIC = SiteProfile(
    name="generic", label="测试", province=None, base_url="http://example.gov.cn",
    start_paths=("/",), article_path=r"/t\d{8}_\d+(?:_ext)?\.s?html$",
)  # fmt: skip

PAGE = "<html><head><meta charset='{cs}'><title>标题</title></head><body><div class='content'><p>　　镕基{body}</p></div></body></html>"


def test_decode_gbk_declared_gb2312() -> None:
    body = PAGE.format(cs="gb2312", body="测试" * 20).encode("gb18030")
    text, enc = decode_page(body)
    assert "镕基测试" in text and enc == "gb18030"


def test_decode_says_utf8_is_gbk() -> None:
    body = PAGE.format(cs="utf-8", body="整改" * 20).encode("gb18030")
    text, enc = decode_page(body, "text/html; charset=utf-8")
    assert "镕基整改" in text and enc == "gb18030"


def test_decode_says_gbk_is_utf8() -> None:
    body = PAGE.format(cs="gbk", body="整改" * 20).encode("utf-8")
    text, enc = decode_page(body, "text/html; charset=GBK")
    assert "镕基整改" in text and enc == "utf-8"


def test_decode_undeclared_gbk() -> None:
    body = "<html><body><p>巡视整改进展情况的通报</p></body></html>".encode("gb18030")
    assert "巡视整改" in decode_page(body)[0]


def test_decode_refuses_garbage_and_empty() -> None:
    with pytest.raises(PageError, match="empty"):
        decode_page(b"  \n")
    with pytest.raises(PageError, match="cannot decode"):
        decode_page(b"<html>\xff\xfe\xff\x80\x80 bad \xff</html>")
    with pytest.raises(PageError):
        decode_page("<p>锟斤拷锟斤拷</p>".encode())


@pytest.mark.parametrize(
    ("status", "body", "blocked"),
    [
        (200, b"<html>normal page</html>", False),
        (412, b"<html><script>$_ts=window['$_ts'];</script></html>", True),
        (200, b"<div id='captchaPage'>", True),
        (200, b"<script src='https://seccaptcha.haplat.net/x.js'>", True),
        (200, b"<img src='/comImageValidate?x=1'>", True),
        (403, b"Forbidden", True),
        (420, b"", True),
        (404, b"not found", False),
    ],
    ids=[
        "ok",
        "412-js-cookie",
        "captchaPage",
        "seccaptcha",
        "comImageValidate",
        "403",
        "420",
        "404",
    ],
)
def test_detect_block(status: int, body: bytes, blocked: bool) -> None:
    assert (detect_block(status, body) is not None) is blocked


@pytest.mark.parametrize(
    ("title", "verdict"),
    [
        ("中共杭州市拱墅区委关于省委巡视整改进展情况的通报", "notice"),
        ("中共上海市黄浦区委员会关于十二届市委第二轮巡视集中整改进展情况的通报", "notice"),
        ("中共广元市委关于十二届省委第四轮巡视整改进展情况的通报", "notice"),
        ("中共温州大学委员会关于省委巡视整改情况的通报", "notice"),
        ("中共中国电子科技集团有限公司党组关于二十届中央第一轮巡视整改进展情况的通报", "notice"),
        ("中共金华市婺城区文化和广电旅游体育局党组关于区委巡察整改进展情况的通报", "no"),
        ("省委巡视组向6个县（市、区）反馈巡视情况", "no"),
        ("十二届市委第三轮巡视完成进驻", "no"),
        ("十五届省委第三轮巡视工作动员部署会召开", "no"),
        ("拱墅区召开巡视整改工作推进会", "no"),
        ("中共杭州市西湖区委关于省委巡视整改进展...", "maybe"),
        ("中共杭州市西湖区委关于省委巡视...", "maybe"),
        ("广东省委巡视完成反馈", "no"),
        (None, "no"),
    ],
)
def test_classify_title(title: str | None, verdict: str) -> None:
    assert classify_title(title) == verdict


@pytest.mark.parametrize(
    ("text", "iso", "has_time"),
    [
        ("发布时间：2023-06-27 09:02", "2023-06-27T09:02:00+08:00", True),
        ("2023年6月27日", "2023-06-27T00:00:00+08:00", False),
        ("2023/6/27", "2023-06-27T00:00:00+08:00", False),
        ("２０２３－０６－２７ １０：３０", "2023-06-27T10:30:00+08:00", True),
        ("2023-09-20 18:00 ", "2023-09-20T18:00:00+08:00", True),
    ],
)
def test_parse_datetime(text: str, iso: str, has_time: bool) -> None:
    parsed = parse_datetime(text)
    assert parsed is not None
    assert parsed[0].isoformat() == iso and parsed[1] is has_time


def test_parse_datetime_missing_or_invalid() -> None:
    assert parse_datetime("无日期") is None
    assert parse_datetime("2023-13-45") is None


def test_trs_pagination() -> None:
    url = "http://www.zjsjw.gov.cn/gongzuodongtai/xunshixuncha/index.shtml"
    total, nxt, problems = trs_pages('createPageHTML(3, 0, "index", "shtml");', url)
    assert total == 3 and nxt == [
        "http://www.zjsjw.gov.cn/gongzuodongtai/xunshixuncha/index_1.shtml"
    ]
    assert trs_pages('createPageHTML(3, 2, "index", "shtml");', url)[1] == []
    script = "var countPage = 5;var currentPage = 1;createPageHTML(countPage, currentPage, 'index', 'html');"
    assert trs_pages(script, url)[1] == [
        "http://www.zjsjw.gov.cn/gongzuodongtai/xunshixuncha/index_2.html"
    ]
    total, nxt, problems = trs_pages("createPageHTML(oops);", url)
    assert nxt == [] and problems


def test_parse_list_plain_next_link_and_filters() -> None:
    html = """<html><body><ul class='list'>
      <li><a href='./202306/t20230626_20047122_ext.html' title='中共杭州市拱墅区委关于省委巡视整改进展情况的通报'>中共杭州市拱墅区委…</a><span>2023-06-27</span></li>
      <li><a href='../x/202306/t20230626_2.html'>十五届省委第三轮巡视工作动员部署会召开</a></li>
      <li><a href='./202301/P020230101.pdf'>关于巡视整改情况的通报.pdf</a></li>
      <li><a href='./202306/t20230626_20047122_ext.html'>duplicate</a></li>
    </ul><div class='page'><a href='index_1.shtml'>下一页</a></div></body></html>"""
    page = parse_list(html, "http://example.gov.cn/col/index.shtml", GENERIC)
    assert [(link.url, link.verdict) for link in page.links] == [
        ("http://example.gov.cn/col/202306/t20230626_20047122_ext.html", "notice"),
        ("http://example.gov.cn/x/202306/t20230626_2.html", "no"),
    ]
    assert page.links[0].date == "2023-06-27"
    assert page.next_pages == ["http://example.gov.cn/col/index_1.shtml"]


ARTICLE = """<html><head><title>中共某区委关于巡视整改情况的通报_网站</title>
<meta name="PubDate" content="2024-05-06 10:00"><meta name="ContentSource" content="某网站"></head>
<body><div class="nav">首页 | 工作动态</div><div class="crumb">当前位置：首页 > 巡视巡察</div>
<div class="wrap"><h1>中共某区委关于巡视整改情况的通报</h1>
<div class="info">发布时间：2024-05-06 10:00　　来源：某区纪委监委</div>
<div class="newsbody"><p>　　根据省委统一部署，省委第一巡视组对某区开展了常规巡视。</p>
<p><span>在巡视整改工作中，</span><span style="color:red">给予党纪处分<b>８</b>人次。</span></p>
<p>&nbsp;</p><p>中共某区委</p><p>2024年5月6日</p>
<div class="share">分享到：<a>微信</a><img src="data:image/png;base64,AAAA"></div>
<p>【打印】【关闭】</p></div></div><div class="footer">主办单位：某网站 备案号</div></body></html>"""


def test_generic_fallback_on_unknown_template() -> None:
    article = extract_article(ARTICLE, "http://example.gov.cn/a/t20240506_1.html", GENERIC)
    assert article.title == "中共某区委关于巡视整改情况的通报"
    assert (
        article.published_at is not None
        and article.published_at.isoformat() == "2024-05-06T10:00:00+08:00"
    )
    assert article.source == "某区纪委监委"
    assert article.methods["body"] == "fallback"
    assert normalise(article.paragraphs, header=article.header) == (
        "2024-05-06 10:00 某区纪委监委\n"
        "根据省委统一部署,省委第一巡视组对某区开展了常规巡视。\n"
        "在巡视整改工作中,给予党纪处分8人次。\n"
        "中共某区委\n"
        "2024年5月6日"
    )


def test_article_without_body_is_refused() -> None:
    with pytest.raises(PageError):
        extract_article(
            "<html><head><title>t</title></head><body><h1>标题</h1></body></html>",
            "http://x/t.html",
            GENERIC,
        )


def test_profiles_are_registered() -> None:
    assert get_site("zjsjw").header_rule == "date_source"
    assert get_site("shjjjc").header_rule == "none"
    with pytest.raises(KeyError, match="known sites"):
        get_site("nope")
