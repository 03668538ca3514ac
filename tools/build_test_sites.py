#!/usr/bin/env python3
"""Build the recorded-style test sites that the crawler tests serve on 127.0.0.1.

Two sites are generated under ``tests/sites/``:

* ``zjsjw/``  - 浙江省纪委省监委网站 (TRS CMS, http): three list pages paged by a
  ``createPageHTML(total, current, "index", "shtml")`` script, UTF-8 article pages in
  the current template and one GBK (gb18030 bytes, ``charset=gb2312`` meta) page in the
  legacy template.
* ``shjjjc/`` - 上海市纪委监委 (https, uuid URLs): two list pages with a plain pager.

Every 巡视整改 notice page is built from its expected seed-format text by converting the
text back to the form the CMS shows (full-width ``，（）：；％``, ``　　``/``&nbsp;`` indents,
nested ``<span>``/``<font>``/``<strong>``, spacer paragraphs, ``<br>`` paragraphs ...).
Before anything is written an independent checker re-reads every built page from disk,
extracts the article text with lxml and compares it with the expected text; the build
fails loudly (exit status 1) if one page does not round-trip or a list page is broken.

Also written: ``tests/sites/README.md`` (what every file is) and
``tests/sites/manifest.json`` (start page, notices with their expected text, non-notices).

Usage::

    .venv/bin/python tools/build_test_sites.py              # build, check, write
    .venv/bin/python tools/build_test_sites.py --check-only # check what is on disk
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import html
import json
import posixpath
import re
import shutil
import sys
import tempfile
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from lxml import html as lhtml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "tests" / "sites"
DEFAULT_SEEDS = ROOT.parent / "shared" / "seeds"

SEED_ZJ = "000_6f66318992fdd9a8.txt"
SEED_SH = "002_750c7fecf357e703.txt"

ZJ_COLUMN = "/gongzuodongtai/xunshixuncha/"
SH_COLUMN = "/shsjjjcw/xszg/"
SITE_NAMES = ("zjsjw", "shjjjc")

MIN_PAGE_BYTES = 10 * 1024
MAX_PAGE_BYTES = 60 * 1024


# --------------------------------------------------------------------------------------
# Seed text -> page text
# --------------------------------------------------------------------------------------

_FULLWIDTH = {",": "，", "(": "（", ")": "）", ":": "：", ";": "；", "%": "％"}
_FW_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def page_punct(text: str, *, percent: bool = True) -> str:
    """ASCII ``,():;%`` -> full-width, as the CMS editors type them in Chinese text.

    ``,`` and ``:`` between two ASCII letters/digits (``09:02``, ``1,000``) stay ASCII;
    ``.``, ``-``, ``@``, ``+`` and ``&`` are never touched (``97.68``, ``0571-89509820``,
    ``hpqwb123@163.com``, ``1+4``, ``R&D``).
    """
    out = []
    for i, ch in enumerate(text):
        fw = _FULLWIDTH.get(ch)
        if fw is None or (ch == "%" and not percent):
            out.append(ch)
            continue
        prev = text[i - 1] if i else ""
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if ch in ",:" and _is_ascii_alnum(prev) and _is_ascii_alnum(nxt):
            out.append(ch)
        else:
            out.append(fw)
    return "".join(out)


def fw_first_number(text: str) -> str:
    """Write the first plain integer (not part of a decimal or a phone number) full-width."""
    return re.sub(
        r"(?<![\d.\-])\d+(?![\d.\-])", lambda m: m.group().translate(_FW_DIGITS), text, count=1
    )


def fw_word(text: str, word: str) -> str:
    """Write one ASCII word full-width (``GDP`` -> ``ＧＤＰ``) where it first occurs."""
    assert word in text, (word, text[:40])
    return text.replace(word, "".join(chr(ord(c) + 0xFEE0) for c in word), 1)


def fw_number_lead(text: str) -> str:
    """``1.亲自抓`` -> ``１．亲自抓``."""
    return re.sub(r"^(\d+)\.", lambda m: m.group(1).translate(_FW_DIGITS) + "．", text)


def esc(text: str) -> str:
    return html.escape(text, quote=False)


def attr(text: str) -> str:
    return html.escape(text, quote=True)


def seed_lines(block: str) -> list[str]:
    """Paragraphs written below in page style -> seed-form lines (NFKC, one per line)."""
    lines = []
    for raw in block.strip().splitlines():
        line = unicodedata.normalize("NFKC", raw.strip())
        if line:
            lines.append(line)
    return lines


# --------------------------------------------------------------------------------------
# Paragraph rendering
# --------------------------------------------------------------------------------------

_HEAD_RE = re.compile(r"^[一二三四五六七八九十]+、")
_SUB_RE = re.compile(r"^\([一二三四五六七八九十]+\)")
_NUM_RE = re.compile(r"^\d+\.")


@dataclass
class Plan:
    """How one page's CMS turned paragraphs into markup.

    Forms are HTML snippets with ``{x}`` (whole paragraph) or ``{a}``/``{b}`` (the lead up
    to the first ``。`` and the rest, e.g. a bold lead) placeholders; indices are body-line
    indices.
    """

    forms: list[str]
    head: str
    sub: str | list[str]  # "(一)…" lines; a list is cycled
    num: str | None = None
    center_first: int = 0
    center: str = ""
    sign_lines: int = 0
    right: str = ""
    spacer: str | None = None
    spacers_before: dict[int, str] = field(default_factory=dict)
    split: int | None = None
    split_form: str = ""
    fw_digits: tuple[int, ...] = ()
    fw_num_lead: tuple[int, ...] = ()
    ascii_percent: tuple[int, ...] = ()
    fw_words: dict[int, str] = field(default_factory=dict)
    links: dict[int, tuple[str, str]] = field(default_factory=dict)
    joiner: str = "\n"


def _fill(form: str, **parts: str) -> str:
    out = form
    for key, value in parts.items():
        out = out.replace("{" + key + "}", value)
    assert "{x}" not in out and "{a}" not in out and "{b}" not in out, form
    return out


def _lead_split(text: str) -> tuple[str, str]:
    k = text.find("。")
    if 0 < k < len(text) - 1:
        return text[: k + 1], text[k + 1 :]
    return text, ""


def _mid_split(text: str) -> tuple[str, str]:
    mid = len(text) // 2
    k = text.find("，", mid)
    if k == -1 or k >= len(text) - 1:
        k = mid
    return text[: k + 1], text[k + 1 :]


def _apply(form: str, t: str, x: str, linked: bool) -> str:
    if "{x}" in form:
        return _fill(form, x=x)
    assert not linked, "links only in whole-paragraph forms"
    a, b = _lead_split(t)
    return _fill(form, a=esc(a), b=esc(b))


def render_paragraphs(lines: list[str], plan: Plan) -> str:
    out: list[str] = []
    n = len(lines)
    k = ks = 0
    subs = [plan.sub] if isinstance(plan.sub, str) else plan.sub
    for i, line in enumerate(lines):
        t = page_punct(line, percent=i not in plan.ascii_percent)
        if i in plan.fw_num_lead:
            t = fw_number_lead(t)
        if i in plan.fw_digits:
            t = fw_first_number(t)
        if i in plan.fw_words:
            t = fw_word(t, plan.fw_words[i])
        if i in plan.spacers_before:
            out.append(plan.spacers_before[i])
        elif plan.spacer is not None and i > 0:
            out.append(plan.spacer)
        if i in plan.links:
            needle, href = plan.links[i]
            before, _, after = t.partition(needle)
            x = f'{esc(before)}<a href="{attr(href)}">{esc(needle)}</a>{esc(after)}'
        else:
            x = esc(t)
        linked = i in plan.links
        if i < plan.center_first:
            out.append(_apply(plan.center, t, x, linked))
        elif i >= n - plan.sign_lines:
            out.append(_apply(plan.right, t, x, linked))
        elif i == plan.split:
            a, b = _mid_split(t)
            out.append(_fill(plan.split_form, a=esc(a), b=esc(b)))
        elif _HEAD_RE.match(line):
            out.append(_apply(plan.head, t, x, linked))
        elif _SUB_RE.match(line):
            out.append(_apply(subs[ks % len(subs)], t, x, linked))
            ks += 1
        elif _NUM_RE.match(line) and plan.num is not None:
            out.append(_apply(plan.num, t, x, linked))
        else:
            out.append(_apply(plan.forms[k % len(plan.forms)], t, x, linked))
            k += 1
    return plan.joiner.join(out)


# --------------------------------------------------------------------------------------
# Articles
# --------------------------------------------------------------------------------------


@dataclass
class Article:
    site: str
    path: str  # URL path on the site
    title: str
    body: list[str]  # seed-form lines; zjsjw: without the "time source" header line
    notice: bool
    kind: str  # for the README
    published: str | None  # as the page shows it; None = the page shows no date
    list_date: str
    template: str  # zj_new | zj_legacy | sh
    plan: Plan | None = None
    source: str = ""
    expected: str | None = None  # manifest reference of the expected text (notices)
    notes: str = ""
    pre_body: str = ""  # markup the CMS puts at the top of the body container
    body_html: str | None = None  # pre-rendered body (overrides plan)

    @property
    def header(self) -> str:
        return f"{self.published} {self.source}"

    def expected_text(self) -> str:
        lines = ([self.header] if self.site == "zjsjw" else []) + self.body
        return "\n".join(lines)


# ---- zjsjw plans ----------------------------------------------------------------------

ZJ_FONT = "font-family:仿宋_GB2312;font-size:16pt;"
ZJ_FORMS_SEED = [
    f'<p style="text-indent:2em;line-height:2;"><span style="{ZJ_FONT}">{{x}}</span></p>',
    "<p>　　{x}</p>",
    '<p style="text-align:justify;">&nbsp;&nbsp;&nbsp;&nbsp;<font face="仿宋_GB2312" size="4">{x}</font></p>',
    '<p style="text-indent:2em;"><span style="font-size:16pt;"><span style="font-family:仿宋_GB2312;">{x}</span></span></p>',
    '<p style="text-align:justify;"><span style="font-family:仿宋_GB2312;font-size:16pt;">　　{x}</span></p>',
]
ZJ_HEAD = '<p style="text-indent:2em;"><strong><span style="font-family:黑体;font-size:16pt;">{x}</span></strong></p>'
ZJ_SUB_LEAD = '<p style="text-indent:2em;"><span style="font-family:楷体_GB2312;font-size:16pt;"><strong>{a}</strong></span><span style="font-family:仿宋_GB2312;font-size:16pt;">{b}</span></p>'
ZJ_SUB_LEAD_PLAIN = "<p>　　<strong>{a}</strong>{b}</p>"
ZJ_SPLIT = f'<p style="text-indent:2em;"><span style="{ZJ_FONT}">{{a}}</span><span style="{ZJ_FONT}">{{b}}</span></p>'
ZJ_RIGHT = f'<p style="text-align:right;"><span style="{ZJ_FONT}">{{x}}</span></p>'

MSO = "font-size:16.0pt;font-family:仿宋_GB2312;"
ZJ_FORMS_WORD = [
    f'<p class="MsoNormal" style="text-indent:32.0pt;line-height:28.0pt;"><span style="{MSO}">{{x}}<span lang="EN-US"><o:p></o:p></span></span></p>',
    f'<p class="MsoNormal" style="line-height:28.0pt;"><span style="{MSO}">　　{{x}}</span></p>',
]
ZJ_WORD_HEAD = '<p class="MsoNormal" style="text-indent:32.0pt;line-height:28.0pt;"><b><span style="font-size:16.0pt;font-family:黑体;">{x}</span></b></p>'
ZJ_WORD_SUB = f'<p class="MsoNormal" style="text-indent:32.0pt;line-height:28.0pt;"><b><span style="font-size:16.0pt;font-family:楷体_GB2312;">{{a}}</span></b><span style="{MSO}">{{b}}</span></p>'
ZJ_WORD_RIGHT = f'<p class="MsoNormal" align="right" style="text-align:right;line-height:28.0pt;"><span style="{MSO}">{{x}}</span></p>'
ZJ_WORD_SPLIT = f'<p class="MsoNormal" style="text-indent:32.0pt;line-height:28.0pt;"><span style="{MSO}">{{a}}</span><span style="{MSO}">{{b}}</span></p>'

LEGACY_FORMS = [
    '<P style="TEXT-INDENT: 2em"><FONT face=仿宋_GB2312 size=4>{x}</FONT></P>',
    "<P>　　{x}</P>",
    "<P>&nbsp;&nbsp;&nbsp;&nbsp;<FONT size=4><FONT face=仿宋_GB2312>{x}</FONT></FONT></P>",
]
LEGACY_HEAD = '<P style="TEXT-INDENT: 2em"><STRONG><FONT face=黑体 size=4>{a}</FONT></STRONG><FONT face=仿宋_GB2312 size=4>{b}</FONT></P>'
LEGACY_RIGHT = "<P align=right><FONT face=仿宋_GB2312 size=4>{x}</FONT></P>"

SIMPLE_ZJ = Plan(
    forms=[
        "<p>　　{x}</p>",
        f'<p style="text-indent:2em;"><span style="{ZJ_FONT}">{{x}}</span></p>',
    ],
    head=ZJ_HEAD,
    sub=ZJ_SUB_LEAD,
)

# ---- shjjjc plans ---------------------------------------------------------------------

SH_FONT = "font-family:仿宋;font-size:16px;"
SH_CENTER = '<p style="text-align:center"><strong>{x}</strong></p>'
SH_SPACER = "<p>&nbsp;</p>"
SIMPLE_SH = Plan(
    forms=['<p style="text-indent:2em;">{x}</p>'],
    head='<p style="text-indent:2em;"><strong>{x}</strong></p>',
    sub='<p style="text-indent:2em;">{x}</p>',
)


ON = ' class="on"'
ACTIVE = ' class="active"'


def zj_path(name: str) -> str:
    return ZJ_COLUMN + name


def sh_path(uid: str) -> str:
    return f"{SH_COLUMN}content/{uid}.html"


def stable_uuid4(title: str) -> str:
    return str(uuid.UUID(bytes=hashlib.md5(title.encode("utf-8")).digest(), version=4))


# ---- texts ----------------------------------------------------------------------------
# Written the way the pages show them (full-width punctuation); seed_lines() NFKC-folds
# them into the expected seed form.

JIAXING_2018 = """
根据省委统一部署，2018年7月2日至8月31日，省委第三巡视组对嘉兴市开展了巡视。2018年10月26日，省委巡视组向嘉兴市委反馈了巡视意见。按照巡视工作有关要求，现将巡视整改情况予以公布。
嘉兴市委高度重视巡视整改工作，坚持把巡视整改作为重大政治任务，以高度的政治自觉和强烈的责任担当抓好整改落实。市委书记切实履行第一责任人职责，先后主持召开市委常委会会议3次、巡视整改工作领导小组会议5次，研究制定整改方案，逐项明确责任领导、责任单位和整改时限，做到件件有着落、事事有回音。
在巡视整改工作中，给予党纪处分27人次，政务处分9人次；立案审查调查14件，移送司法机关3人；建立完善制度52项，挽回经济损失1386.5万元。
一、关于“弘扬‘红船精神’、走在时代前列的要求落实不够有力”问题的整改情况。深入学习贯彻习近平总书记关于“红船精神”的重要论述，制定《关于大力弘扬“红船精神”走在时代前列的实施意见》，推进南湖革命纪念馆提升工程，组织开展“红船旁的初心课堂”等主题教育活动156场次。
二、关于“全面从严治党主体责任落实不到位”问题的整改情况。制定市委落实全面从严治党主体责任清单，开展基层“微腐败”专项治理，对市城投集团所属公司原副总经理沈某堃违规收受礼金问题严肃查处并在全市通报。对全市73个部门（单位）开展党风廉政建设责任制检查考核，约谈党组织主要负责人11人。
三、关于“选人用人和基层党建存在薄弱环节”问题的整改情况。修订《嘉兴市市管干部选拔任用工作规程》，开展干部人事档案专项审核，对发现的问题逐一纠正；推进村级组织换届“回头看”，整顿软弱涣散村（社区）党组织42个。
下一步，嘉兴市委将持续深化巡视整改，坚持问题导向，做好巡视整改“后半篇文章”，对已完成的整改任务适时开展“回头看”，对需要长期坚持的整改任务持续推进，以巡视整改实效推动嘉兴高质量发展。
欢迎广大干部群众对巡视整改落实情况进行监督。如有意见建议，请及时向我们反映。联系电话：0573-82520000；邮政信箱：嘉兴市南湖区中山东路1000号中共嘉兴市委督查室，邮政编码314000（信封上请注明“对嘉兴市委关于巡视整改情况的意见建议”）。
中共嘉兴市委
2018年12月29日
"""

XIHU_2025 = """
根据省委统一部署，2024年3月18日至5月20日，省委第七巡视组对杭州市西湖区开展了常规巡视。2024年8月9日，省委巡视组向西湖区委反馈了巡视意见。按照巡视工作有关要求，现将巡视整改进展情况予以公布。
西湖区委坚决扛起巡视整改政治责任，把抓好巡视整改作为增强“四个意识”、坚定“四个自信”、做到“两个维护”的具体行动。一是强化组织领导。第一时间成立由区委书记任组长的巡视整改工作领导小组，先后召开区委常委会会议5次、巡视整改领导小组会议等专题会议12次，研究部署推进整改工作。二是细化整改责任。对照巡视反馈意见，逐条制定问题清单、任务清单、责任清单，明确责任领导、责任单位和完成时限。三是强化督查问效。建立整改销号和跟踪督办机制，区纪委区监委将巡视整改日常监督纳入年度政治监督重点，确保整改工作落地见效。
在巡视整改工作中，给予党纪处分11人次，政务处分3人次；诫勉6人，批评教育和责令检查19人；建立完善制度37项，挽回经济损失625.4万元。
一、关于“贯彻落实党中央决策部署和省委工作要求有差距”问题的整改情况
（一）深入推进创新策源地建设。制定出台《西湖区加快建设创新策源地三年行动方案（2024—2026年）》，统筹推进云谷、紫金港科技城等重大平台建设，2024年全区研发经费投入强度达到4.6％，新增国家高新技术企业286家。
（二）持续深化“千万工程”。实施美丽乡村提质扩面行动，完成三墩镇、双浦镇等12个村庄环境综合整治，推进农村生活污水处理设施标准化运维全覆盖。
二、关于“全面从严治党向纵深推进不够有力”问题的整改情况
（一）压紧压实管党治党责任。制定区委常委会履行全面从严治党主体责任清单，开展“一把手”和领导班子监督专项检查，对8个部门开展提级巡察。
（二）深化纠治“四风”。聚焦违规吃喝、违规收送礼品礼金等问题开展专项整治，查处违反中央八项规定精神问题14起，通报曝光典型案例3批6起。
下一步，西湖区委将坚持以习近平新时代中国特色社会主义思想为指导，持续巩固深化巡视整改成果，对已完成的整改事项适时开展“回头看”，对需要长期坚持的整改事项紧盯不放、一抓到底，以巡视整改实效推动全区各项事业高质量发展。
欢迎广大干部群众对巡视整改落实情况进行监督。如有意见建议，请及时向我们反映。联系电话：0571-85200000；邮政信箱：中共杭州市西湖区委督查室（杭州市西湖区文三路100号），邮政编码310012（信封上请注明“对西湖区委关于巡视整改情况的意见建议”）。
中共杭州市西湖区委
2025年6月10日
"""

WUCHENG_XUNCHA = """
根据区委统一部署，2022年9月13日至11月11日，区委第一巡察组对区文化和广电旅游体育局党组开展了常规巡察。2022年12月20日，区委巡察组向区文化和广电旅游体育局党组反馈了巡察意见。按照巡察工作有关要求，现将巡察整改进展情况予以公布。
局党组把巡察整改作为重大政治任务，成立由党组书记任组长的整改工作领导小组，召开党组会议6次专题研究整改工作，制定整改方案，明确问题清单、任务清单、责任清单，确保整改工作有序推进。
一、关于“落实上级决策部署有偏差”问题的整改情况
（一）加强文旅融合发展统筹。制定《婺城区文旅融合发展三年行动计划》，推进古子城、寺平古村等重点文旅项目建设，2023年一季度全区接待游客同比增长21.3％。
（二）规范体育场馆运营管理。对区属体育场馆开放情况开展全面排查，完善场馆免费低收费开放制度，公示开放时间和收费标准。
二、关于“全面从严治党主体责任落实不到位”问题的整改情况
（一）压实管党治党责任。制定局党组落实全面从严治党主体责任清单，开展廉政风险点排查，梳理廉政风险点32个，制定防控措施41条。
（二）严肃处置问题线索。对巡察发现的问题线索，已按规定移交区纪委区监委派驻纪检监察组办理，给予党纪处分1人，诫勉谈话2人。
欢迎广大干部群众对巡察整改落实情况进行监督。如有意见建议，请及时向我们反映。联系电话：0579-82200000；邮政信箱：金华市婺城区文化和广电旅游体育局办公室，邮政编码321000。
中共金华市婺城区文化和广电旅游体育局党组
2023年5月4日
"""

ZJ_FANKUI_2019 = """
根据省委统一部署，近日，十四届省委第七轮巡视的6个巡视组分别向6个县（市、区）党委反馈巡视情况。反馈会上，各巡视组组长传达了省委书记专题会议听取巡视情况汇报时的讲话精神，反馈了巡视发现的主要问题，提出了整改意见建议。
各巡视组指出，被巡视县（市、区）党委能够深入学习贯彻习近平新时代中国特色社会主义思想，贯彻落实党中央决策部署和省委工作要求，推动经济社会发展取得了新成效。巡视中也发现一些问题：贯彻落实新发展理念有差距，推动高质量发展不够有力；全面从严治党主体责任落实不够到位，一些领域廉洁风险较为突出；基层党组织建设存在薄弱环节，选人用人工作还有不规范的地方。
各巡视组强调，被巡视党组织要切实扛起巡视整改主体责任，党委书记要履行第一责任人责任，以“钉钉子”精神抓好整改落实。要坚持问题导向，对巡视指出的问题逐条制定整改措施，明确整改时限，做到件件有着落、事事有回音。要把巡视整改与深化改革、完善制度、促进发展结合起来，建立健全长效机制。
根据有关规定，被巡视党组织的巡视整改情况，将通过党内一定范围、新闻媒体和纪检监察网站等向社会公布，接受干部群众监督。
各被巡视党组织主要负责同志表示，完全赞同巡视组反馈的意见，将以最坚决的态度、最有力的措施抓好整改落实。
省纪委省监委、省委组织部有关负责同志参加了反馈会议。
"""

ZJ_JINZHU_2022 = """
根据省委统一部署，十五届省委第一轮巡视的8个巡视组近日完成进驻，分别对杭州市拱墅区、温州市鹿城区、湖州市南浔区、绍兴市越城区、金华市金东区、衢州市柯城区、台州市椒江区、丽水市莲都区开展常规巡视。
进驻期间，各巡视组分别召开动员会，向被巡视党组织领导班子通报巡视工作安排，对开展巡视工作进行动员部署。
各巡视组强调，要坚持以习近平新时代中国特色社会主义思想为指导，深入贯彻习近平总书记关于巡视工作的重要论述，牢牢把握政治巡视定位，聚焦“两个维护”根本任务，紧扣被巡视党组织职能责任，推动党中央决策部署和省委工作要求落地落实。
本轮巡视时间为2个月左右。巡视期间，各巡视组分别设立专门值班电话和邮政信箱，主要受理反映被巡视党组织领导班子及其成员、下一级党组织领导班子主要负责人和重要岗位领导干部问题的来信来电来访，重点是关于违反政治纪律、组织纪律、廉洁纪律、群众纪律、工作纪律和生活纪律等方面的举报和反映。
根据巡视工作条例规定，巡视组不受理不属于巡视受理范围的信访问题，这些问题将按规定交由被巡视党组织和有关部门处理。各巡视组的值班电话和邮政信箱已在当地媒体公布。
"""

ZJ_DONGYUAN_2023 = """
9月11日，十五届省委第三轮巡视工作动员部署会在杭州召开。会议深入学习贯彻习近平总书记关于巡视工作的重要论述，传达学习中央巡视工作领导小组会议精神，对本轮巡视工作进行动员部署。
会议指出，开展本轮巡视，是深入贯彻党的二十大精神、推动全面从严治党向纵深发展的重要举措。各巡视组要坚守政治巡视定位，紧扣被巡视党组织职能责任，深入查找贯彻落实党中央决策部署和省委工作要求方面的问题，推动解决影响高质量发展的突出问题。
会议强调，要坚持发现问题、推动整改、促进改革、促进发展一体贯通，把巡视整改作为巡视工作的重中之重，压实被巡视党组织整改主体责任，强化整改日常监督，推动巡视成果有效运用。要加强巡视机构自身建设，严格遵守巡视工作纪律，打造政治过硬、本领高强的巡视铁军。
根据省委统一部署，本轮巡视对12个地方和单位党组织开展常规巡视。
省委巡视工作领导小组成员，省委巡视组组长、副组长，省委巡视办负责同志参加会议。
"""

ZJ_PEIXUN_2021 = """
4月12日至14日，全省巡视巡察干部业务培训班在杭州举办。培训班深入学习贯彻习近平总书记关于巡视工作的重要论述，围绕提高发现问题能力、推动巡视整改和成果运用等内容进行专题辅导，来自省委巡视机构和各市、县（市、区）巡察机构的260余名干部参加培训。
培训采取专题授课、案例教学、分组研讨、交流发言等方式进行，邀请中央巡视办、省纪委省监委有关负责同志和业务骨干授课，围绕政治巡视的内涵要求、巡视谈话技巧、问题线索梳理、巡视报告撰写等内容作了系统讲解。
培训班强调，全省巡视巡察干部要坚持学思用贯通、知信行统一，不断提高政治站位和业务能力，深化市县巡察向基层延伸，推动巡视巡察上下联动，为奋力推进“两个先行”提供坚强保障。
参训学员表示，将把培训成果转化为做好巡视巡察工作的实际行动，以更高标准、更严要求履职尽责。
"""

XUHUI_2024 = """
中共上海市徐汇区委员会
关于十二届市委第二轮巡视集中整改进展情况的通报
根据市委统一部署，市委第一巡视组于2023年3月29日至6月16日对徐汇区开展巡视，并于2023年8月29日反馈了巡视意见。按照巡视工作有关要求，现将巡视整改进展情况予以公布。
一、党委及主要负责人组织落实整改情况
区委坚决扛起巡视整改主体责任，区委书记切实履行第一责任人责任，多次主持召开区委常委会会议、巡视整改工作领导小组会议，研究部署整改工作，对重点难点问题亲自研究、亲自督办。区委巡视整改工作领导小组将反馈问题细化分解为具体问题，逐项制定整改措施，明确责任领导、责任单位和完成时限，实行清单化管理、销号式推进。
二、集中整改进展情况
（一）关于贯彻落实习近平总书记考察上海重要讲话精神有差距问题的整改。深化“一江一河”滨水空间建设，推进徐汇滨江西岸金融城、西岸数字谷等重点功能区建设；加快推进徐家汇商圈城市更新，推动一批重大功能性项目建成开放。
（二）关于推动经济高质量发展不够有力问题的整改。出台支持人工智能产业发展的若干政策，新引进人工智能相关企业120余家；持续优化营商环境，深化“一网通办”“一网统管”建设。
（三）关于全面从严治党主体责任落实不够到位问题的整改。制定落实全面从严治党主体责任清单，开展重点领域廉政风险专项排查，修订完善区属国有企业“三重一大”决策制度。
截至目前，巡视反馈的45项具体问题已经整改38项。提出整改措施121条，已经完成106条。党纪政务立案29件，已新建制度87项，修订完善134项。
三、下一步工作安排
中共徐汇区委将坚持以习近平新时代中国特色社会主义思想为指导，持续抓好巡视整改后续工作，对尚未完成的整改事项紧盯不放、持续推进，对已完成的整改事项适时开展“回头看”，巩固拓展整改成果。
欢迎广大干部群众对巡视整改落实情况进行监督。如有意见建议，请及时反映。
联系电话：021-64870000
通讯地址：漕溪北路336号中共徐汇区委办公室（信封上注明“关于巡视整改落实情况的意见建议”）
邮政编码：200030
"""

JINGAN_2024 = """
中共上海市静安区委员会
关于十二届市委第二轮巡视集中整改进展情况的通报
根据市委统一部署，市委第十巡视组于2023年3月28日至6月16日对静安区开展巡视，并于2023年8月30日反馈了巡视意见。按照巡视工作有关要求，现将巡视整改进展情况予以公布。
一、党委及主要负责人组织落实整改情况
区委坚决扛起巡视整改政治责任，成立由区委书记任组长的巡视整改工作领导小组，先后召开区委常委会会议、领导小组会议等11次，专题研究部署整改工作。区委书记认真履行第一责任人责任，带头领办重点难点问题，深入一线督促检查整改落实情况。区委巡视整改工作领导小组将反馈问题细化分解为49个具体问题，制定整改措施128条，逐项明确责任领导、责任单位和完成时限。
二、集中整改进展情况
（一）关于贯彻落实党中央决策部署和市委工作要求有差距问题的整改。聚焦“国际静安、卓越城区”发展定位，制定推动南京西路、苏河湾等重点功能区高质量发展的专项方案，2023年全区区级一般公共预算收入同比增长8.2％。
（二）关于践行人民城市理念存在薄弱环节问题的整改。加快推进旧住房成套改造，完成彭浦新村等老旧小区改造项目，持续完善“15分钟社区生活圈”，新增社区养老服务设施6处。
（三）关于全面从严治党主体责任落实不够到位问题的整改。修订区委落实全面从严治党主体责任清单，开展重点领域廉政风险专项排查，对区属国有企业“三重一大”决策制度执行情况开展专项检查。
截至目前，巡视反馈的49项具体问题已经整改41项。提出整改措施128条，已经完成113条。
三、下一步工作安排
中共静安区委将坚持以习近平新时代中国特色社会主义思想为指导，持续巩固深化巡视整改成果，对尚未完成的整改任务坚持挂图作战、对账销号，对已完成的整改事项开展“回头看”，以巡视整改实效推动静安高质量发展。
欢迎广大干部群众对巡视整改落实情况进行监督。如有意见建议，请及时反映。
联系电话：021-33370000
通讯地址：常德路370号中共静安区委办公室（信封上注明“关于巡视整改落实情况的意见建议”）
邮政编码：200040
"""

SH_CHANGNING_XUNCHA = """
近日，长宁区委第三轮巡察的4个巡察组分别向区商务委、区卫生健康委等8家单位党组织反馈巡察情况。
反馈会上，各巡察组指出了巡察发现的主要问题：贯彻落实党中央决策部署和市委、区委工作要求还有差距；全面从严治党主体责任落实不够到位，重点领域廉洁风险防控存在薄弱环节；基层党组织建设还有短板，干部队伍建设有待加强等。
各巡察组强调，被巡察党组织要切实提高政治站位，履行巡察整改主体责任，对巡察反馈问题逐项研究、逐条整改，建立整改台账，按期报送整改情况，并按规定在一定范围内公开巡察整改情况。
各被巡察党组织主要负责同志表示，诚恳接受巡察反馈意见，将以最坚决的态度、最有力的措施抓好整改落实。
区纪委监委、区委组织部有关负责同志参加了反馈会议。
"""

SH_JINZHU_2023 = """
根据市委统一部署，十二届市委第三轮巡视的10个巡视组已于近日完成进驻，对奉贤区、崇明区等14个单位党组织开展常规巡视。
进驻期间，各巡视组分别召开动员会，向被巡视党组织领导班子通报巡视工作安排，对开展巡视工作进行动员部署。
各巡视组强调，要坚持以习近平新时代中国特色社会主义思想为指导，深入贯彻党的二十大精神，深入贯彻习近平总书记关于巡视工作的重要论述和考察上海重要讲话精神，坚守政治巡视定位，聚焦职能责任，着力发现问题、推动解决问题。
本轮巡视时间为2个半月左右。巡视期间，各巡视组设立专门值班电话和邮政信箱，主要受理反映被巡视党组织领导班子及其成员、下一级党组织领导班子主要负责人和重要岗位领导干部问题的来信来电来访。
按照巡视工作条例规定，巡视组不处理信访问题，对反映的问题将按规定转交被巡视单位和有关部门处理。
"""

SH_XINXIHUA_2023 = """
7月11日，市委巡视办召开巡视巡察信息化建设工作推进会，交流各区巡察信息化建设经验做法，研究部署下一阶段工作。
会议指出，推进巡视巡察信息化建设，是提高巡视巡察监督质效的重要举措。近年来，市委巡视办会同各区巡察机构，完善巡视巡察信息管理系统，推动巡视巡察数据互联共享，在发现问题、推动整改等方面发挥了积极作用。
会议强调，要坚持需求导向、问题导向，加强统筹谋划，推进巡视巡察信息化建设与业务工作深度融合；要严格落实保密管理要求，确保信息系统和数据安全；要加强信息化人才培养，提升巡视巡察干部运用信息化手段发现问题的能力。
各区巡察办负责同志，市委巡视办有关处室负责同志参加会议。
"""


def zj_articles(seed_zj: str) -> list[Article]:
    header, *seed_body = seed_zj.split("\n")
    day, clock, source = header.split(" ", 2)
    with_percent = [i for i, ln in enumerate(seed_body) if "%" in ln]
    seed_plan = Plan(
        forms=ZJ_FORMS_SEED,
        head=ZJ_HEAD,
        # "(一)…" lines: bold lead in its own span, or plain, in turn
        sub=[ZJ_SUB_LEAD, ZJ_FORMS_SEED[2], ZJ_SUB_LEAD_PLAIN, ZJ_FORMS_SEED[3], ZJ_FORMS_SEED[1]],
        sign_lines=2,
        right=ZJ_RIGHT,
        # a spacer after the statistics sentence and one before the signature
        spacers_before={3: "<p>&nbsp;</p>", len(seed_body) - 2: "<p><br></p>"},
        split=1,
        split_form=ZJ_SPLIT,
        fw_digits=(2, 21, 44),
        ascii_percent=(with_percent[1], with_percent[-1]),
        fw_words={next(i for i, ln in enumerate(seed_body) if "GDP" in ln): "GDP"},
    )
    xihu = seed_lines(XIHU_2025)
    xihu_plan = Plan(
        forms=ZJ_FORMS_WORD,
        head=ZJ_WORD_HEAD,
        sub=ZJ_WORD_SUB,
        sign_lines=2,
        right=ZJ_WORD_RIGHT,
        split=10,
        split_form=ZJ_WORD_SPLIT,
        fw_digits=(1,),
    )
    trs_style = (
        '<style type="text/css">.TRS_Editor P{margin-top:0px;margin-bottom:0px;line-height:2;'
        "font-family:仿宋_GB2312;font-size:16pt;}.TRS_Editor DIV{margin-top:0px;"
        "margin-bottom:0px;line-height:2;font-family:仿宋_GB2312;font-size:16pt;}"
        ".TRS_Editor TD{line-height:2;font-size:16pt;}.TRS_Editor TH{line-height:2;}"
        ".TRS_Editor SPAN{line-height:2;}.TRS_Editor FONT{line-height:2;}"
        ".TRS_Editor LI{line-height:2;}.TRS_Editor A{line-height:2;}</style>"
    )
    jiaxing = seed_lines(JIAXING_2018)
    assert any(ch in "".join(jiaxing) for ch in "堃镕")
    legacy_plan = Plan(
        forms=LEGACY_FORMS,
        head=LEGACY_HEAD,
        sub=LEGACY_HEAD,
        sign_lines=2,
        right=LEGACY_RIGHT,
        spacers_before={len(jiaxing) - 2: "<P>&nbsp;</P>"},
        fw_digits=(3, 5),
    )
    return [
        Article(
            site="zjsjw",
            path=zj_path("202506/t20250609_23500131_ext.html"),
            title="中共杭州市西湖区委关于省委巡视整改进展情况的通报",
            body=xihu,
            notice=True,
            kind="巡视整改 notice (current template, UTF-8)",
            published="2025-06-10 09:00",
            list_date="2025-06-10",
            template="zj_new",
            plan=xihu_plan,
            source="浙江省纪委省监委网站",
            expected="zjsjw/expected/t20250609_23500131_ext.txt",
            pre_body=trs_style,
            notes="URL date t20250609, published 2025-06-10 09:00. Body pasted from Word "
            "(`p.MsoNormal`, `<o:p>`); `div.TRS_Editor` starts with the TRS `<style>` block, "
            "which is not text.",
        ),
        Article(
            site="zjsjw",
            path=zj_path("202309/t20230912_20473316_ext.html"),
            title="十五届省委第三轮巡视工作动员部署会召开",
            body=seed_lines(ZJ_DONGYUAN_2023),
            notice=False,
            kind="non-notice: 巡视动员部署 news",
            published="2023-09-12 18:30",
            list_date="2023-09-12",
            template="zj_new",
            plan=SIMPLE_ZJ,
            source="浙江省纪委省监委网站",
        ),
        Article(
            site="zjsjw",
            path=zj_path("202306/t20230626_20047122_ext.html"),
            title="中共杭州市拱墅区委关于省委巡视整改进展情况的通报",
            body=seed_body,
            notice=True,
            kind="巡视整改 notice (current template, UTF-8) = seed 000",
            published=f"{day} {clock}",
            list_date="2023-06-27",
            template="zj_new",
            plan=seed_plan,
            source=source,
            expected=f"seed:{SEED_ZJ}",
            notes="URL date t20230626, published 2023-06-27 09:02. Five paragraph forms "
            "(`　　`, `&nbsp;`×4 + `<font>`, CSS indent + nested `<span>`), bold `<strong>` "
            "leads, one paragraph split across two `<span>`s, full-width digits/`ＧＤＰ`, two "
            "paragraphs with ASCII `%`, spacers `<p>&nbsp;</p>` and `<p><br></p>`, "
            "right-aligned signature.",
        ),
        Article(
            site="zjsjw",
            path=zj_path("202305/t20230504_19886012_ext.html"),
            title="中共金华市婺城区文化和广电旅游体育局党组关于区委巡察整改进展情况的通报",
            body=seed_lines(WUCHENG_XUNCHA),
            notice=False,
            kind="non-notice: 巡察 (not 巡视) 整改 notice",
            published="2023-05-04 15:36",
            list_date="2023-05-04",
            template="zj_new",
            plan=dataclasses.replace(SIMPLE_ZJ, sign_lines=2, right=ZJ_RIGHT),
            source="婺城区纪委区监委",
        ),
        Article(
            site="zjsjw",
            path=zj_path("202208/t20220810_18651207_ext.html"),
            title="省委第一轮巡视完成进驻",
            body=seed_lines(ZJ_JINZHU_2022),
            notice=False,
            kind="non-notice: 巡视进驻 news",
            published="2022-08-10 17:45",
            list_date="2022-08-10",
            template="zj_new",
            plan=SIMPLE_ZJ,
            source="浙江省纪委省监委网站",
        ),
        Article(
            site="zjsjw",
            path=zj_path("202104/t20210415_16203344_ext.html"),
            title="全省巡视巡察干部业务培训班在杭州举办",
            body=seed_lines(ZJ_PEIXUN_2021),
            notice=False,
            kind="non-notice: general news",
            published="2021-04-15 16:00",
            list_date="2021-04-15",
            template="zj_new",
            plan=SIMPLE_ZJ,
            source="浙江省纪委省监委网站",
        ),
        Article(
            site="zjsjw",
            path=zj_path("201911/t20191106_13862117_ext.html"),
            title="省委巡视组向6个县（市、区）反馈巡视情况",
            body=seed_lines(ZJ_FANKUI_2019),
            notice=False,
            kind="non-notice: 巡视反馈 news (mentions 巡视整改情况)",
            published="2019-11-06 10:15",
            list_date="2019-11-06",
            template="zj_new",
            plan=SIMPLE_ZJ,
            source="浙江省纪委省监委网站",
        ),
        Article(
            site="zjsjw",
            path=zj_path("201812/t20181228_1234567.shtml"),
            title="中共嘉兴市委关于省委巡视整改情况的通报",
            body=jiaxing,
            notice=True,
            kind="巡视整改 notice (legacy template, GBK)",
            published="2018-12-29 10:30",
            list_date="2018-12-29",
            template="zj_legacy",
            plan=legacy_plan,
            source="浙江省纪委省监委网站",
            expected="zjsjw/expected/t20181228_1234567.txt",
            notes="Bytes are gb18030, the page declares `charset=gb2312`; the text has 堃 "
            "(in GBK, not in GB2312), so a strict gb2312 decode fails. Upper-case legacy "
            "markup, `div.artCon`, `span#pubtime_baidu`, `span#source_baidu` "
            "(`来源：…`).",
        ),
    ]


def sh_articles(seed_sh: str) -> list[Article]:
    seed_body = seed_sh.split("\n")
    numbered = [i for i, ln in enumerate(seed_body) if _NUM_RE.match(ln)]
    email = next(i for i, ln in enumerate(seed_body) if "@" in ln)
    seed_plan = Plan(
        forms=[
            '<p style="text-indent:2em;">{x}</p>',
            f'<p style="text-indent:2em;"><span style="{SH_FONT}">{{x}}</span></p>',
            "<p>　　{x}</p>",
        ],
        head='<p style="text-indent:2em;"><strong>{x}</strong></p>',
        sub='<p style="text-indent:2em;"><span style="font-family:楷体;font-size:16px;"><strong>{a}</strong></span>{b}</p>',
        num='<p style="text-indent:2em;"><strong>{a}</strong>{b}</p>',
        center_first=2,
        center=SH_CENTER,
        spacer=SH_SPACER,
        spacers_before={len(seed_body) - 4: "<p><br></p>"},
        split=2,
        split_form=f'<p style="text-indent:2em;"><span style="{SH_FONT}">{{a}}</span><span style="{SH_FONT}">{{b}}</span></p>',
        fw_num_lead=(numbered[0], numbered[5]),
        fw_digits=(43,),
        links={email: ("hpqwb123@163.com", "mailto:hpqwb123@163.com")},
    )
    xuhui = seed_lines(XUHUI_2024)
    xuhui_plan = Plan(
        forms=[
            '<p style="text-indent:2em;font-family:仿宋_GB2312;font-size:12pt;line-height:1.8;">{x}</p>',
            '<p style="text-indent:2em;font-family:仿宋_GB2312;font-size:12pt;line-height:1.8;"><span>{x}</span></p>',
        ],
        head='<p style="text-indent:2em;font-family:黑体;font-size:12pt;">{x}</p>',
        sub='<p style="text-indent:2em;"><span style="font-family:楷体_GB2312;"><strong>{a}</strong></span>{b}</p>',
        center_first=2,
        center='<p style="text-align:center;font-size:14pt;"><span style="font-family:方正小标宋简体;">{x}</span></p>',
        fw_digits=(9,),
    )
    jingan = seed_lines(JINGAN_2024)
    return [
        Article(
            site="shjjjc",
            path=sh_path("a592591b-f2b9-4cfd-8ea0-74e89e314c51"),
            title="中共上海市黄浦区委员会关于十二届市委第二轮巡视集中整改进展情况的通报",
            body=seed_body,
            notice=True,
            kind="巡视整改 notice = seed 002",
            published="2024-01-31",
            list_date="2024-01-31",
            template="sh",
            plan=seed_plan,
            expected=f"seed:{SEED_SH}",
            notes='Date only in `<meta name="publishdate">`. Every paragraph separated by '
            "`<p>&nbsp;</p>`; centered issuer and `关于…的通报` lines; bold `1.` leads, two "
            'written `１．`; e-mail inside `<a href="mailto:…">`.',
        ),
        Article(
            site="shjjjc",
            path=sh_path("86ee7fea-e636-4641-89a7-0d8ce752a3a0"),
            title="中共上海市静安区委员会关于十二届市委第二轮巡视集中整改进展情况的通报",
            body=jingan,
            notice=True,
            kind="巡视整改 notice",
            published=None,
            list_date="2024-01-31",
            template="sh",
            expected="shjjjc/expected/86ee7fea-e636-4641-89a7-0d8ce752a3a0.txt",
            body_html=sh_br_body(jingan),
            notes="No date anywhere on the page (no `publishdate` meta): must still be "
            "stored. After the two centered lines all paragraphs are one `<div>` separated "
            "by `<br>` (one `<br><br>`).",
        ),
        Article(
            site="shjjjc",
            path=sh_path("c5d32d1e-ec8d-4502-81bc-688ded8ded0f"),
            title="中共上海市徐汇区委员会关于十二届市委第二轮巡视集中整改进展情况的通报",
            body=xuhui,
            notice=True,
            kind="巡视整改 notice",
            published="2024-01-30",
            list_date="2024-01-30",
            template="sh",
            plan=xuhui_plan,
            expected="shjjjc/expected/c5d32d1e-ec8d-4502-81bc-688ded8ded0f.txt",
            notes='Date only in `<meta name="publishdate">`; no spacer paragraphs; styles '
            "on the `<p>` itself.",
        ),
        Article(
            site="shjjjc",
            path=sh_path(stable_uuid4("十二届市委第三轮巡视完成进驻")),
            title="十二届市委第三轮巡视完成进驻",
            body=seed_lines(SH_JINZHU_2023),
            notice=False,
            kind="non-notice: 巡视进驻 news",
            published="2023-10-18",
            list_date="2023-10-18",
            template="sh",
            plan=SIMPLE_SH,
        ),
        Article(
            site="shjjjc",
            path=sh_path(stable_uuid4("市委巡视办召开巡视巡察信息化建设工作推进会")),
            title="市委巡视办召开巡视巡察信息化建设工作推进会",
            body=seed_lines(SH_XINXIHUA_2023),
            notice=False,
            kind="non-notice: general news",
            published="2023-07-12",
            list_date="2023-07-12",
            template="sh",
            plan=SIMPLE_SH,
        ),
        Article(
            site="shjjjc",
            path=sh_path(stable_uuid4("长宁区委巡察反馈情况")),
            title="长宁区委巡察反馈情况",
            body=seed_lines(SH_CHANGNING_XUNCHA),
            notice=False,
            kind="non-notice: 巡察反馈 news",
            published="2023-04-24",
            list_date="2023-04-24",
            template="sh",
            plan=SIMPLE_SH,
        ),
    ]


def sh_br_body(lines: list[str]) -> str:
    """Issuer + 关于 line centered, the rest one ``<div>`` of ``<br>``-separated paragraphs."""
    head = [
        f'<p style="text-align:center"><strong>{esc(page_punct(t))}</strong></p>' for t in lines[:2]
    ]
    rest = []
    for i, line in enumerate(lines[2:]):
        t = esc(page_punct(line))
        if _HEAD_RE.match(line):
            t = f"<strong>{t}</strong>"
        rest.append(("" if _HEAD_RE.match(line) or "：" in page_punct(line)[:6] else "　　") + t)
        if i == 2:
            rest.append("")  # an editor's double <br>
    inner = "<br>\n".join(rest)
    div = f'<div style="font-family:仿宋;font-size:16px;line-height:2em;text-align:justify;">\n{inner}\n</div>'
    return "\n".join([*head, div])


# --------------------------------------------------------------------------------------
# Page chrome: zjsjw (TRS)
# --------------------------------------------------------------------------------------

ZJ_CITIES = [
    ("杭州", "www.hzlz.gov.cn"),
    ("宁波", "www.nbjw.gov.cn"),
    ("温州", "www.wzjw.gov.cn"),
    ("湖州", "www.hzjjjc.gov.cn"),
    ("嘉兴", "www.jxlz.gov.cn"),
    ("绍兴", "www.sxjw.gov.cn"),
    ("金华", "www.jhjw.gov.cn"),
    ("衢州", "www.qzlz.gov.cn"),
    ("舟山", "www.zsjw.gov.cn"),
    ("台州", "www.tzjw.gov.cn"),
    ("丽水", "www.lsjw.gov.cn"),
]

ZJ_NAV = [
    ("首页", "", []),
    (
        "工作动态",
        "gongzuodongtai/",
        [
            ("工作要闻", "gongzuoyaowen/"),
            ("巡视巡察", "xunshixuncha/"),
            ("派驻监督", "paizhujiandu/"),
            ("市县动态", "shixiandongtai/"),
        ],
    ),
    (
        "审查调查",
        "shenchadiaocha/",
        [
            ("省管干部", "shengguanganbu/"),
            ("市县干部", "shixianganbu/"),
            ("党纪政务处分", "chufen/"),
        ],
    ),
    (
        "曝光台",
        "baoguangtai/",
        [
            ("中央八项规定精神", "bxgd/"),
            ("群众身边腐败和作风问题", "qzsb/"),
            ("形式主义官僚主义", "xsgl/"),
        ],
    ),
    (
        "党纪法规",
        "dangjifagui/",
        [("党内法规", "dnfg/"), ("国家法律", "gjfl/"), ("省级规章制度", "sjgz/")],
    ),
    (
        "廉政文化",
        "lianzhengwenhua/",
        [("清廉浙江", "qlzj/"), ("家风家教", "jfjj/"), ("警示教育", "jsjy/")],
    ),
    ("理论研究", "lilunyanjiu/", []),
    ("信访举报", "xinfangjubao/", [("举报须知", "jbxz/"), ("网上举报", "wsjb/")]),
]

ZJ_CREATE_PAGE_JS = r"""<script type="text/javascript">
//分页,TRS WCM 生成
function createPageHTML(_nPageCount, _nCurrIndex, _sPageName, _sPageExt){
	if(_nPageCount == null || _nPageCount<=1){
		return;
	}
	var nCurrIndex = _nCurrIndex || 0;
	document.write("<span class=\"page_total\">共" + _nPageCount + "页</span>");
	if(nCurrIndex == 0){
		document.write("<span class=\"disabled\">首页</span><span class=\"disabled\">上一页</span>");
	}else{
		var nPreIndex = nCurrIndex - 1;
		var sPreFileExt = nPreIndex == 0 ? "" : ("_" + nPreIndex);
		document.write("<a href=\"" + _sPageName + "." + _sPageExt + "\">首页</a>");
		document.write("<a href=\"" + _sPageName + sPreFileExt + "." + _sPageExt + "\">上一页</a>");
	}
	for(var i=0; i<_nPageCount; i++){
		var sFileExt = i == 0 ? "" : ("_" + i);
		if(i == nCurrIndex){
			document.write("<span class=\"current\">" + (i+1) + "</span>");
		}else{
			document.write("<a href=\"" + _sPageName + sFileExt + "." + _sPageExt + "\">" + (i+1) + "</a>");
		}
	}
	if(nCurrIndex == (_nPageCount-1)){
		document.write("<span class=\"disabled\">下一页</span><span class=\"disabled\">尾页</span>");
	}else{
		var nNextIndex = nCurrIndex + 1;
		document.write("<a href=\"" + _sPageName + "_" + nNextIndex + "." + _sPageExt + "\">下一页</a>");
		document.write("<a href=\"" + _sPageName + "_" + (_nPageCount-1) + "." + _sPageExt + "\">尾页</a>");
	}
}
</script>"""

ZJ_TOOLS_JS = """<script type="text/javascript">
function doZoom(size){
	var zoom = document.getElementById("zoom");
	if(!zoom){ return; }
	zoom.style.fontSize = size + "px";
	var ps = zoom.getElementsByTagName("p");
	for(var i=0; i<ps.length; i++){ ps[i].style.fontSize = size + "px"; }
}
function shareTo(site){
	var url = encodeURIComponent(location.href), title = encodeURIComponent(document.title);
	if(site == "weibo"){
		window.open("https://service.weibo.com/share/share.php?url=" + url + "&title=" + title);
	}else{
		document.getElementById("wxQrcode").style.display = "block";
	}
}
</script>"""


def _rel(from_path: str, to_path: str) -> str:
    """Relative link as TRS writes it, from one page to another path on the site."""
    base = posixpath.dirname(from_path)
    rel = posixpath.relpath(to_path, base)
    if not rel.startswith("."):
        rel = "./" + rel
    return rel


def _zj_root(page_path: str) -> str:
    depth = page_path.strip("/").count("/")
    return "../" * depth


def zj_head(page_path: str, title: str, meta: str, *, charset: str = "utf-8") -> str:
    r = _zj_root(page_path)
    cs = f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">'
    return f"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
{cs}
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<meta name="SiteName" content="浙江省纪委省监委网站">
<meta name="SiteDomain" content="www.zjsjw.gov.cn">
<meta name="SiteIDCode" content="3300000047">
<meta name="ColumnName" content="巡视巡察">
<meta name="ColumnDescription" content="巡视巡察">
<meta name="ColumnKeywords" content="巡视,巡察,巡视整改,巡察整改">
<meta name="ColumnType" content="巡视巡察">
{meta}
<title>{esc(title)}</title>
<link href="{r}images/zjsjw_common.css" rel="stylesheet" type="text/css">
<link href="{r}images/zjsjw_list.css" rel="stylesheet" type="text/css">
<link href="{r}images/zjsjw_content.css" rel="stylesheet" type="text/css">
<script type="text/javascript" src="{r}images/jquery-1.8.3.min.js"></script>
<script type="text/javascript" src="{r}images/zjsjw_common.js"></script>
<script type="text/javascript" src="{r}images/uaredirect.js"></script>
</head>"""


def zj_header(page_path: str) -> str:
    r = _zj_root(page_path)
    items = []
    for name, href, subs in ZJ_NAV:
        sub = ""
        if subs:
            links = "".join(f'<a href="{r}{href}{s}index.shtml">{esc(n)}</a>' for n, s in subs)
            sub = f'<div class="subnav">{links}</div>'
        target = f"{r}{href}index.shtml" if href else f"{r}index.shtml"
        on = ' class="on"' if name == "工作动态" else ""
        items.append(f'<li{on}><a href="{target}">{esc(name)}</a>{sub}</li>')
    nav = "\n".join(items)
    return f"""<body>
<!-- 头部 begin -->
<div class="top">
	<div class="w1200">
		<div class="top_l">今天是：<span id="today"></span></div>
		<div class="top_r">
			<a href="{r}index.shtml">网站首页</a> | <a href="javascript:void(0);" onclick="addFavorite();">加入收藏</a> | <a href="{r}wzdt/index.shtml">网站地图</a> | <a href="javascript:void(0);" id="cniil_wza">无障碍浏览</a> | <a href="{r}app/index.shtml">移动客户端</a>
		</div>
	</div>
</div>
<div class="header">
	<div class="w1200">
		<a class="logo" href="{r}index.shtml"><img src="{r}images/zjsjw_logo.png" alt="浙江省纪委省监委网站"></a>
		<div class="search">
			<form name="searchform" action="/search/search.jsp" method="get" target="_blank" onsubmit="return checkSearch();">
				<input type="text" name="searchword" id="searchword" class="search_input" value="请输入关键字" onfocus="if(this.value=='请输入关键字')this.value='';">
				<input type="submit" class="search_btn" value="搜索">
			</form>
		</div>
	</div>
</div>
<div class="nav">
	<ul class="w1200">
{nav}
	</ul>
</div>
<!-- 头部 end -->"""


def zj_footer(page_path: str) -> str:
    r = _zj_root(page_path)
    cities = "\n".join(
        f'<option value="http://{d}/">{c}市纪委市监委</option>' for c, d in ZJ_CITIES
    )
    return f"""<!-- 底部 begin -->
<div class="links w1200">
	<span>相关链接：</span>
	<a href="https://www.ccdi.gov.cn/" target="_blank">中央纪委国家监委网站</a>
	<a href="https://www.gov.cn/" target="_blank">中国政府网</a>
	<a href="https://www.zj.gov.cn/" target="_blank">浙江省人民政府</a>
	<select onchange="if(this.value)window.open(this.value);">
<option value="">市纪委监委网站</option>
{cities}
	</select>
</div>
<div class="footer">
	<div class="w1200">
		<div class="foot_l"><script type="text/javascript">document.write(unescape("%3Cspan id='_ideConac' %3E%3C/span%3E"));</script><img src="{r}images/dzjg.png" alt="党政机关"></div>
		<div class="foot_c">
			<p><a href="{r}gywm/index.shtml">关于我们</a> | <a href="{r}wzsm/index.shtml">网站声明</a> | <a href="{r}lxwm/index.shtml">联系我们</a></p>
			<p>主办单位：中共浙江省纪律检查委员会 浙江省监察委员会</p>
			<p>地址：浙江省杭州市省府路8号 邮编：310025</p>
			<p>备案号：<a href="https://beian.miit.gov.cn/" target="_blank">浙ICP备10000000号-1</a> &nbsp; 浙公网安备 33010602000000号 &nbsp; 网站标识码：3300000047</p>
			<p>技术支持：浙江省纪委省监委信息技术保障中心</p>
		</div>
		<div class="foot_r"><img src="{r}images/zjsjw_wx.png" alt="微信公众号"><p>官方微信</p></div>
	</div>
</div>
<!-- 底部 end -->
<script type="text/javascript" src="{r}images/zjsjw_footer.js"></script>
<script id="_trs_ta_js" src="//ta.trs.cn/c/js/ta.js?mpid=3301" async="async" defer="defer"></script>
</body>
</html>
"""


ZJ_TOPICS = [
    ("学习贯彻习近平新时代中国特色社会主义思想主题教育", "ztjy"),
    ("清廉浙江建设", "qlzj"),
    ("纵深推进全面从严治党", "qmczd"),
    ("深化纪检监察体制改革", "tzgg"),
    ("以案为鉴 以案促改", "yawj"),
    ("浙江省纪检监察系统先进典型", "xjdx"),
]


def zj_topics(page_path: str) -> str:
    r = _zj_root(page_path)
    lis = "\n".join(
        f'<li><a href="{r}zhuanti/{d}/index.shtml" target="_blank" title="{attr(t)}">'
        f'<img src="{r}images/zt_{d}.jpg" alt="{attr(t)}"><span>{esc(t)}</span></a></li>'
        for t, d in ZJ_TOPICS
    )
    return f"""<div class="ztzl">
	<div class="ztzl_tit"><h3>专题专栏</h3><a class="more" href="{r}zhuanti/index.shtml">更多&gt;&gt;</a></div>
	<ul>
{lis}
	</ul>
</div>"""


def zj_hot(page_path: str, articles: list[Article]) -> str:
    lis = "\n".join(
        f'<li><em>{n}</em><a href="{_rel(page_path, a.path)}" target="_blank" title="{attr(a.title)}">{esc(a.title)}</a></li>'
        for n, a in enumerate(articles, start=1)
    )
    return f"""<div class="hot">
	<div class="hot_tit"><h3>热点排行</h3></div>
	<ol>
{lis}
	</ol>
</div>"""


def zj_left_nav(page_path: str) -> str:
    r = _zj_root(page_path)
    subs = ZJ_NAV[1][2]
    lis = "\n".join(
        f'<li{ON if s == "xunshixuncha/" else ""}><a href="{r}gongzuodongtai/{s}index.shtml">{esc(n)}</a></li>'
        for n, s in subs
    )
    return f"""<div class="left_nav">
	<h2>工作动态</h2>
	<ul>
{lis}
	</ul>
	<div class="left_ad"><a href="{r}xinfangjubao/index.shtml"><img src="{r}images/jubao_banner.jpg" alt="信访举报"></a></div>
</div>"""


def zj_related(article: Article, others: list[Article]) -> str:
    lis = "\n".join(
        f'<li><a href="{_rel(article.path, o.path)}" target="_blank" title="{attr(o.title)}">'
        f"{esc(o.title)}</a><span>{o.list_date}</span></li>"
        for o in others
    )
    return f"""<div class="xgwz">
	<div class="xgwz_tit"><h3>相关文章</h3></div>
	<ul>
{lis}
	</ul>
</div>"""


def zj_breadcrumb(page_path: str) -> str:
    r = _zj_root(page_path)
    return (
        f'<div class="position">当前位置：<a href="{r}index.shtml">首页</a> &gt; '
        f'<a href="{r}gongzuodongtai/index.shtml">工作动态</a> &gt; '
        f'<a href="{r}gongzuodongtai/xunshixuncha/index.shtml">巡视巡察</a></div>'
    )


def zj_new_page(a: Article, related: list[Article]) -> str:
    assert a.plan is not None
    r = _zj_root(a.path)
    meta = "\n".join(
        [
            f'<meta name="ArticleTitle" content="{attr(a.title)}">',
            f'<meta name="PubDate" content="{a.published}">',
            f'<meta name="ContentSource" content="{attr(a.source)}">',
            '<meta name="Keywords" content="巡视,巡察">',
            f'<meta name="Description" content="{attr(a.title)}">',
            '<meta name="Url" content="">',
        ]
    )
    body = render_paragraphs(a.body, a.plan)
    file_name = posixpath.basename(a.path).rsplit(".", 1)[0]
    return f"""{zj_head(a.path, f"{a.title}_巡视巡察_浙江省纪委省监委网站", meta)}
{zj_header(a.path)}
<script type="text/javascript">uaredirect("./{file_name}_m.html");</script>
<div class="main w1200">
{zj_breadcrumb(a.path)}
<div class="content_box">
<div class="article">
	<h1>{esc(a.title)}</h1>
	<div class="info"><span>发布时间：{a.published}</span><span>来源：{esc(a.source)}</span><span>【字体：<a href="javascript:doZoom(18)">大</a> <a href="javascript:doZoom(16)">中</a> <a href="javascript:doZoom(14)">小</a>】</span></div>
	<div class="zw" id="zoom">
<div class="TRS_Editor">{a.pre_body}
<!--<$[信息内容]>begin-->
{body}
<!--<$[信息内容]>end-->
</div>
	</div>
	<div class="fj"></div>
	<div class="article_tools">
		<div class="share">分享到：<a href="javascript:void(0);" class="share_wx" onclick="shareTo('weixin')">微信</a> <a href="javascript:void(0);" class="share_wb" onclick="shareTo('weibo')">微博</a>
			<div id="wxQrcode" class="wx_qrcode" style="display:none;"><img src="{r}images/qrcode_{file_name}.png" alt="微信扫一扫"><p>用微信扫一扫分享</p></div>
		</div>
		<div class="print"><a href="javascript:window.print();">【打印】</a><a href="javascript:window.close();">【关闭】</a></div>
	</div>
	<div class="ewm"><img src="{r}images/zjsjw_ewm.jpg" alt="扫一扫在手机上查看当前页面"><p>扫一扫在手机上查看当前页面</p></div>
</div>
{zj_related(a, related)}
</div>
</div>
{ZJ_TOOLS_JS}
{zj_footer(a.path)}"""


def zj_legacy_page(a: Article, related: list[Article]) -> str:
    assert a.plan is not None
    r = _zj_root(a.path)
    columns = "\n".join(
        f'<TR><TD class="lm_li">·<A href="{r}gongzuodongtai/{d}index.shtml">{esc(n)}</A></TD></TR>'
        for n, d in ZJ_NAV[1][2]
    )
    hot = "\n".join(
        f'<TR><TD class="rd_li">{n}. <A href="{_rel(a.path, o.path)}" target=_blank title="{attr(o.title)}">{esc(o.title[:16])}</A></TD></TR>'
        for n, o in enumerate(related, start=1)
    )
    topics = "\n".join(
        f'<TR><TD><A href="{r}zhuanti/{d}/index.shtml" target=_blank><IMG src="{r}images/zt_{d}.jpg" width=230 height=60 border=0 alt="{attr(t)}"></A></TD></TR>'
        for t, d in ZJ_TOPICS
    )
    body = render_paragraphs(a.body, a.plan)
    rel = "\n".join(
        f'<TR><TD class="xgwz_li">·<A href="{_rel(a.path, o.path)}" target=_blank>{esc(o.title)}</A></TD><TD class="xgwz_date">{o.list_date}</TD></TR>'
        for o in related
    )
    nav = " | ".join(f'<A href="{r}{href}index.shtml">{esc(name)}</A>' for name, href, _ in ZJ_NAV)
    cities = " ".join(f'<A href="http://{d}/" target=_blank>{c}</A>' for c, d in ZJ_CITIES)
    return f"""<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<HTML>
<HEAD>
<META http-equiv="Content-Type" content="text/html; charset=gb2312">
<META name="keywords" content="浙江纪检监察,巡视巡察,巡视整改">
<META name="description" content="{attr(a.title)}">
<TITLE>{esc(a.title)}_巡视巡察_浙江省纪委省监委网站</TITLE>
<LINK href="{r}css/style.css" type="text/css" rel="stylesheet">
<LINK href="{r}css/content.css" type="text/css" rel="stylesheet">
<SCRIPT language="javascript" src="{r}js/common.js"></SCRIPT>
<SCRIPT language="javascript">
function doZoom(size){{document.getElementById('zoom').style.fontSize=size+'px';}}
function printit(){{window.print();}}
</SCRIPT>
</HEAD>
<BODY leftMargin=0 topMargin=0 marginwidth="0" marginheight="0">
<TABLE cellSpacing=0 cellPadding=0 width=1000 align=center border=0>
<TR><TD><A href="{r}index.shtml"><IMG src="{r}images/top_banner.jpg" width=1000 height=160 border=0 alt="浙江省纪委省监委网站"></A></TD></TR>
<TR><TD class="nav" height=38 align=center>{nav}</TD></TR>
<TR><TD class="search" height=32>
<FORM name="search" action="/search/search.jsp" method="post" target="_blank">今天是：<SCRIPT language="javascript">var d=new Date();document.write(d.getFullYear()+"年"+(d.getMonth()+1)+"月"+d.getDate()+"日");</SCRIPT>
&nbsp;&nbsp;站内搜索：<INPUT class="input" name="searchword" size=20> <INPUT type="submit" value="搜 索"></FORM>
</TD></TR>
</TABLE>
<TABLE cellSpacing=0 cellPadding=0 width=1000 align=center border=0>
<TR><TD vAlign=top width=240>
<TABLE class="left_lm" cellSpacing=0 cellPadding=0 width=230 border=0>
<TR><TD class="left_tit">工作动态</TD></TR>
{columns}
</TABLE>
<TABLE class="left_rd" cellSpacing=0 cellPadding=0 width=230 border=0>
<TR><TD class="left_tit">热点文章</TD></TR>
{hot}
</TABLE>
<TABLE class="left_zt" cellSpacing=0 cellPadding=0 width=230 border=0>
<TR><TD class="left_tit">专题专栏</TD></TR>
{topics}
</TABLE>
</TD>
<TD vAlign=top width=760>
<TABLE cellSpacing=0 cellPadding=0 width="100%" border=0>
<TR><TD class="dqwz" height=30>当前位置：<A href="{r}index.shtml">首页</A> &gt; <A href="{r}gongzuodongtai/index.shtml">工作动态</A> &gt; <A href="{r}gongzuodongtai/xunshixuncha/index.shtml">巡视巡察</A></TD></TR>
<TR><TD vAlign=top>
<DIV class="artTitle"><H1>{esc(a.title)}</H1></DIV>
<DIV class="artInfo">发布时间：<SPAN id="pubtime_baidu">{a.published}</SPAN>&nbsp;&nbsp;&nbsp;&nbsp;<SPAN id="source_baidu">来源：{esc(a.source)}</SPAN>&nbsp;&nbsp;&nbsp;&nbsp;【字体：<A href="javascript:doZoom(16)">大</A> <A href="javascript:doZoom(14)">中</A> <A href="javascript:doZoom(12)">小</A>】</DIV>
<DIV class="artCon" id="zoom">
{body}
</DIV>
<DIV class="artTool">分享到：<A href="javascript:void(0)" onclick="shareTo('weixin')">微信</A> <A href="javascript:void(0)" onclick="shareTo('weibo')">微博</A>&nbsp;&nbsp;&nbsp;&nbsp;<A href="javascript:printit()">【打印】</A> <A href="javascript:window.close()">【关闭】</A></DIV>
<DIV class="artEwm"><IMG src="{r}images/ewm_zjsjw.jpg" width=100 height=100 alt="手机扫描二维码"><BR>扫一扫在手机打开当前页</DIV>
<TABLE class="xgwz" cellSpacing=0 cellPadding=0 width="100%" border=0>
<TR><TD class="xgwz_tit" colSpan=2>相关文章</TD></TR>
{rel}
</TABLE>
</TD></TR>
</TABLE>
</TD></TR>
</TABLE>
<TABLE class="bottom" cellSpacing=0 cellPadding=0 width=1000 align=center border=0>
<TR><TD align=center height=30>市纪委网站：{cities}</TD></TR>
<TR><TD align=center>主办单位：中共浙江省纪律检查委员会 浙江省监察委员会&nbsp;&nbsp;地址：杭州市省府路8号&nbsp;&nbsp;邮编：310025<BR>
备案号：浙ICP备10000000号&nbsp;&nbsp;技术支持：浙江省纪委信息中心&nbsp;&nbsp;建议使用IE8.0以上浏览器，1024*768分辨率浏览本站</TD></TR>
</TABLE>
<SCRIPT language="javascript" src="{r}js/count.js"></SCRIPT>
</BODY>
</HTML>
"""


def zj_list_page(
    page_no: int, total: int, items: list[tuple[str, str, str]], hot: list[Article]
) -> str:
    """``items``: (href relative to the column, title, date)."""
    name = "index" if page_no == 0 else f"index_{page_no}"
    path = f"{ZJ_COLUMN}{name}.shtml"
    lis = "\n".join(
        f'<li><a href="{href}" target="_blank" title="{attr(t)}">{esc(t)}</a><span>{d}</span></li>'
        for href, t, d in items
    )
    return f"""{zj_head(path, "巡视巡察_浙江省纪委省监委网站", "")}
{zj_header(path)}
{ZJ_CREATE_PAGE_JS}
<div class="main w1200">
{zj_breadcrumb(path)}
<div class="left">
{zj_left_nav(path)}
{zj_hot(path, hot)}
{zj_topics(path)}
</div>
<div class="right_list">
	<div class="list_tit"><h3>巡视巡察</h3></div>
	<ul class="list">
{lis}
	</ul>
	<div class="page">
		<script type="text/javascript">
			createPageHTML({total}, {page_no}, "index", "shtml");
		</script>
	</div>
</div>
</div>
{zj_footer(path)}"""


# --------------------------------------------------------------------------------------
# Page chrome: shjjjc
# --------------------------------------------------------------------------------------

SH_NAV = [
    ("首页", "/index.html", []),
    (
        "要闻动态",
        "/shsjjjcw/ywdt/index.html",
        [("工作要闻", "gzyw"), ("各区动态", "gqdt"), ("派驻动态", "pzdt")],
    ),
    (
        "巡视巡察",
        "/shsjjjcw/xsxc/index.html",
        [
            ("巡视工作", "xsgz"),
            ("巡视整改", "xszg"),
            ("巡察工作", "xcgz"),
            ("巡视巡察动态", "xsxcdt"),
        ],
    ),
    ("审查调查", "/shsjjjcw/scdc/index.html", [("执纪审查", "zjsc"), ("党纪政务处分", "djzwcf")]),
    ("监督曝光", "/shsjjjcw/jdbg/index.html", [("八项规定", "bxgd"), ("通报曝光", "tbbg")]),
    ("党纪法规", "/shsjjjcw/djfg/index.html", []),
    ("廉洁文化", "/shsjjjcw/ljwh/index.html", [("海上清风", "hsqf"), ("廉洁教育", "ljjy")]),
    ("信访举报", "/shsjjjcw/xfjb/index.html", []),
]

SH_JS = """<script type="text/javascript">
function setFont(size){
	$("#ivs_content, #ivs_content p, #ivs_content span").css("font-size", size + "px");
}
function shareWeibo(){
	window.open("https://service.weibo.com/share/share.php?url=" + encodeURIComponent(location.href) + "&title=" + encodeURIComponent(document.title));
}
function shareWeixin(){
	$(".share-qrcode").toggle();
}
</script>"""


def sh_head(title: str, meta: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="UTF-8">
<meta http-equiv="X-UA-Compatible" content="IE=edge,chrome=1">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta name="renderer" content="webkit">
<meta name="SiteName" content="上海市纪委监委">
<meta name="SiteDomain" content="www.shjjjc.gov.cn">
<meta name="ColumnName" content="巡视整改">
<meta name="keywords" content="上海纪检监察,巡视,巡察,巡视整改">
{meta}
<title>{esc(title)}</title>
<link rel="stylesheet" href="/shsjjjcw/assets/css/base.css">
<link rel="stylesheet" href="/shsjjjcw/assets/css/common.css">
<link rel="stylesheet" href="/shsjjjcw/assets/css/content.css">
<script src="/shsjjjcw/assets/js/jquery-1.12.4.min.js"></script>
<script src="/shsjjjcw/assets/js/common.js"></script>
</head>"""


def sh_header() -> str:
    items = []
    for name, href, subs in SH_NAV:
        sub = ""
        if subs:
            links = "".join(f'<a href="/shsjjjcw/{s}/index.html">{esc(n)}</a>' for n, s in subs)
            sub = f'<div class="sub-menu">{links}</div>'
        on = ' class="active"' if name == "巡视巡察" else ""
        items.append(f'<li{on}><a href="{href}">{esc(name)}</a>{sub}</li>')
    nav = "\n".join(items)
    mobile = "\n".join(
        f'<li><a href="{href}">{esc(name)}</a></li>'
        + "".join(
            f'<li class="sub"><a href="/shsjjjcw/{s}/index.html">{esc(n)}</a></li>' for n, s in subs
        )
        for name, href, subs in SH_NAV
    )
    return f"""<body>
<div class="topbar">
	<div class="container">
		<span class="date" id="todayDate"></span>
		<div class="topbar-links"><a href="/index.html">网站首页</a><a href="/shsjjjcw/wzdt/index.html">网站地图</a><a href="javascript:void(0);" id="toolbarBtn">无障碍</a><a href="/shsjjjcw/ydd/index.html">移动端</a></div>
	</div>
</div>
<header class="header">
	<div class="container">
		<a class="logo" href="/index.html"><img src="/shsjjjcw/assets/images/logo.png" alt="上海市纪委监委"></a>
		<form class="search-box" action="/search/index.html" method="get" target="_blank">
			<input type="text" name="q" placeholder="请输入关键字" autocomplete="off"><button type="submit">搜索</button>
		</form>
	</div>
</header>
<nav class="nav">
	<ul class="container">
{nav}
	</ul>
</nav>
<div class="mobile-nav" id="mobileNav">
	<a href="javascript:void(0);" class="mobile-nav-btn" onclick="$('#mobileNav ul').toggle();">栏目导航</a>
	<ul style="display:none;">
{mobile}
	</ul>
</div>"""


SH_FOOTER = """<footer class="footer">
	<div class="container">
		<div class="footer-links">
			<span>友情链接：</span>
			<a href="https://www.ccdi.gov.cn/" target="_blank">中央纪委国家监委网站</a>
			<a href="https://www.gov.cn/" target="_blank">中国政府网</a>
			<a href="https://www.shanghai.gov.cn/" target="_blank">上海市人民政府</a>
			<a href="https://www.12388.gov.cn/" target="_blank">12388举报网站</a>
		</div>
		<div class="footer-info">
			<p><a href="/shsjjjcw/gywm/index.html">关于我们</a> | <a href="/shsjjjcw/wzsm/index.html">网站声明</a> | <a href="/shsjjjcw/lxwm/index.html">联系我们</a></p>
			<p>主办单位：中共上海市纪律检查委员会 上海市监察委员会</p>
			<p>备案号：<a href="https://beian.miit.gov.cn/" target="_blank">沪ICP备10000000号-1</a>&nbsp;&nbsp;沪公网安备 31010102000000号</p>
			<p>技术支持：上海市纪委监委信息技术保障中心</p>
		</div>
		<div class="footer-qrcode"><img src="/shsjjjcw/assets/images/weixin.jpg" alt="微信公众号"><p>“上海纪检监察”微信公众号</p></div>
	</div>
</footer>
<script src="/shsjjjcw/assets/js/footer.js"></script>
</body>
</html>
"""


SH_TOPICS = [
    ("学习贯彻习近平新时代中国特色社会主义思想主题教育", "ztjy"),
    ("深入学习贯彻党的二十大精神", "esd"),
    ("纠“四风”树新风", "jsf"),
    ("清廉上海建设", "qlsh"),
    ("以案说纪", "yasj"),
]

SH_STATS_JS = """<script type="text/javascript">
var _hmt = _hmt || [];
(function() {
	var hm = document.createElement("script");
	hm.src = "https://hm.baidu.com/hm.js?0f8b4f3d1d7e4c2a9b6e5d4c3b2a1f00";
	var s = document.getElementsByTagName("script")[0];
	s.parentNode.insertBefore(hm, s);
})();
</script>"""


def sh_latest(articles: list[Article]) -> str:
    lis = "\n".join(
        f'<li><a href="{a.path}" target="_blank" title="{attr(a.title)}">{esc(_shorten(a.title, 22))}</a></li>'
        for a in articles
    )
    topics = "\n".join(
        f'<li><a href="/shsjjjcw/zt/{d}/index.html" target="_blank"><img src="/shsjjjcw/assets/images/zt_{d}.jpg" alt="{attr(t)}"><p>{esc(t)}</p></a></li>'
        for t, d in SH_TOPICS
    )
    return f"""<aside class="side side-right">
	<div class="side-box">
		<h3 class="side-title">最新发布</h3>
		<ul class="side-list">
{lis}
		</ul>
	</div>
	<div class="side-box">
		<h3 class="side-title">专题专栏</h3>
		<ul class="side-topics">
{topics}
		</ul>
	</div>
</aside>"""


def sh_side() -> str:
    subs = SH_NAV[2][2]
    lis = "\n".join(
        f'<li{ACTIVE if s == "xszg" else ""}><a href="/shsjjjcw/{s}/index.html">{esc(n)}</a></li>'
        for n, s in subs
    )
    return f"""<aside class="side">
	<h3 class="side-title">巡视巡察</h3>
	<ul class="side-menu">
{lis}
	</ul>
</aside>"""


SH_CRUMB = (
    '<div class="crumb">当前位置: <a href="/index.html">首页</a> &gt; '
    '<a href="/shsjjjcw/xsxc/index.html">巡视巡察</a> &gt; '
    '<a href="/shsjjjcw/xszg/index.html">巡视整改</a></div>'
)


def sh_article_page(a: Article, related: list[Article], latest: list[Article]) -> str:
    meta = [
        f'<meta name="ArticleTitle" content="{attr(a.title)}">',
        f'<meta name="description" content="{attr(a.title)}">',
    ]
    if a.published:
        meta.append(f'<meta name="publishdate" content="{a.published}">')
    if a.body_html is not None:
        body = a.body_html
    else:
        assert a.plan is not None
        body = render_paragraphs(a.body, a.plan)
    rel = "\n".join(
        f'<li><a href="{o.path}" target="_blank" title="{attr(o.title)}">{esc(o.title)}</a><span class="time">{o.list_date}</span></li>'
        for o in related
    )
    return f"""{sh_head(f"{a.title}-上海市纪委监委", chr(10).join(meta))}
{sh_header()}
<div class="main container">
{SH_CRUMB}
<div class="article-box">
	<h2 class="title">{esc(a.title)}</h2>
	<div class="source">
		<span class="fontsize">字号：<a href="javascript:void(0);" onclick="setFont(20)">大</a> <a href="javascript:void(0);" onclick="setFont(16)">中</a> <a href="javascript:void(0);" onclick="setFont(14)">小</a></span>
		<span class="views">浏览次数：<em id="viewCount"></em></span>
	</div>
	<div id="ivs_content" class="Article_content">
{body}
	</div>
	<div class="article-tools">
		<div class="share">分享到：<a href="javascript:void(0);" class="share-wx" onclick="shareWeixin()">微信</a> <a href="javascript:void(0);" class="share-wb" onclick="shareWeibo()">微博</a>
			<div class="share-qrcode" style="display:none;"><img src="/shsjjjcw/assets/images/share_qrcode.png" alt="微信扫一扫"></div>
		</div>
		<div class="print"><a href="javascript:window.print();">【打印】</a><a href="javascript:window.close();">【关闭】</a></div>
	</div>
	<div class="qrcode"><img src="/shsjjjcw/assets/images/page_qrcode.png" alt="二维码"><p>扫一扫 手机浏览</p></div>
</div>
<div class="related">
	<h3>相关文章</h3>
	<ul>
{rel}
	</ul>
</div>
{sh_latest(latest)}
</div>
{SH_JS}
{SH_STATS_JS}
{SH_FOOTER}"""


def _shorten(title: str, limit: int = 30) -> str:
    return title if len(title) <= limit else title[:limit] + "..."


def sh_list_page(page_no: int, total: int, items: list[Article], latest: list[Article]) -> str:
    lis = "\n".join(
        f'<li><a href="{a.path}" title="{attr(a.title)}" target="_blank">{esc(_shorten(a.title))}</a><span class="time">{a.list_date}</span></li>'
        for a in items
    )

    def page_name(n: int) -> str:
        return "index.html" if n == 1 else f"index_{n}.html"

    cur = page_no
    parts = []
    if cur == 1:
        parts.append('<span class="disabled">首页</span><span class="disabled">上一页</span>')
    else:
        parts.append(f'<a href="{page_name(1)}">首页</a><a href="{page_name(cur - 1)}">上一页</a>')
    for n in range(1, total + 1):
        parts.append(
            f'<span class="current">{n}</span>' if n == cur else f'<a href="{page_name(n)}">{n}</a>'
        )
    if cur == total:
        parts.append('<span class="disabled">下一页</span><span class="disabled">尾页</span>')
    else:
        parts.append(
            f'<a href="{page_name(cur + 1)}">下一页</a><a href="{page_name(total)}">尾页</a>'
        )
    parts.append(f'<span class="total">共{total}页</span>')
    pager = "".join(parts)
    return f"""{sh_head("巡视整改-上海市纪委监委", "")}
{sh_header()}
<div class="main container">
{SH_CRUMB}
{sh_side()}
<div class="list-box">
	<div class="list-title"><h3>巡视整改</h3></div>
	<ul class="news-list">
{lis}
	</ul>
	<div class="pagination">{pager}</div>
</div>
{sh_latest(latest)}
</div>
{SH_STATS_JS}
{SH_FOOTER}"""


# --------------------------------------------------------------------------------------
# Other files
# --------------------------------------------------------------------------------------


def minimal_pdf() -> bytes:
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


ZJ_PDF_PATH = zj_path("202301/P020230101.pdf")
ZJ_PDF_TITLE = "中共衢州市柯城区委关于省委巡视整改进展情况的通报"
ZJ_PDF_DATE = "2023-01-03"


@dataclass
class Build:
    files: dict[str, bytes]  # path relative to the output dir -> bytes
    manifest: dict
    readme: str


def build(seeds_dir: Path) -> Build:
    seed_zj = (seeds_dir / SEED_ZJ).read_text(encoding="utf-8")
    seed_sh = (seeds_dir / SEED_SH).read_text(encoding="utf-8")
    files: dict[str, bytes] = {}

    # ---- zjsjw ----
    zj = zj_articles(seed_zj)
    by_title = {a.title: a for a in zj}
    seed_a = by_title["中共杭州市拱墅区委关于省委巡视整改进展情况的通报"]
    for a in zj:
        others = [o for o in zj if o is not a]
        related = ([o for o in others if o.notice] + [o for o in others if not o.notice])[:5]
        if a.template == "zj_new":
            page = zj_new_page(a, related).encode("utf-8")
        else:
            page = zj_legacy_page(a, related).encode("gb18030")
        files["zjsjw" + a.path] = page
        if a.expected and not a.expected.startswith("seed:"):
            files[a.expected] = a.expected_text().encode("utf-8")

    def zj_item(a: Article) -> tuple[str, str, str]:
        return ("./" + a.path[len(ZJ_COLUMN) :], a.title, a.list_date)

    order = sorted(zj, key=lambda a: a.list_date, reverse=True)
    pdf_item = ("./" + ZJ_PDF_PATH[len(ZJ_COLUMN) :], ZJ_PDF_TITLE, ZJ_PDF_DATE)
    # page 1 ends with the seed notice; page 2 starts with it again (the list shifted
    # between two fetches, as it does when a new article is published meanwhile)
    zj_pages = [
        [zj_item(a) for a in order[:3]],
        [zj_item(seed_a), *[zj_item(a) for a in order[3:4]], pdf_item, zj_item(order[4])],
        [zj_item(a) for a in order[5:]],
    ]
    assert order[2] is seed_a
    for n, zj_items in enumerate(zj_pages):
        name = "index.shtml" if n == 0 else f"index_{n}.shtml"
        list_html = zj_list_page(n, len(zj_pages), zj_items, hot=order[:5])
        files[f"zjsjw{ZJ_COLUMN}{name}"] = list_html.encode("utf-8")
    files["zjsjw" + ZJ_PDF_PATH] = minimal_pdf()
    files["zjsjw/robots.txt"] = b"User-agent: *\nDisallow: /search/\n"

    # ---- shjjjc ----
    sh = sh_articles(seed_sh)
    sh_order = sorted(sh, key=lambda a: a.list_date, reverse=True)
    for a in sh:
        others = [o for o in sh if o is not a]
        related = ([o for o in others if o.notice] + [o for o in others if not o.notice])[:5]
        article_html = sh_article_page(a, related, latest=sh_order[:5])
        files["shjjjc" + a.path] = article_html.encode("utf-8")
        if a.expected and not a.expected.startswith("seed:"):
            files[a.expected] = a.expected_text().encode("utf-8")
    sh_pages = [sh_order[:3], sh_order[3:]]
    for n, sh_items in enumerate(sh_pages, start=1):
        name = "index.html" if n == 1 else f"index_{n}.html"
        list_html = sh_list_page(n, len(sh_pages), sh_items, latest=sh_order[:5])
        files[f"shjjjc{SH_COLUMN}{name}"] = list_html.encode("utf-8")
    files["shjjjc/robots.txt"] = b"User-agent: *\nDisallow:\n"

    manifest = {
        "zjsjw": {
            "scheme": "http",
            "start": f"{ZJ_COLUMN}index.shtml",
            "list_pages": [
                f"{ZJ_COLUMN}index.shtml",
                f"{ZJ_COLUMN}index_1.shtml",
                f"{ZJ_COLUMN}index_2.shtml",
            ],
            "notices": {a.path: a.expected for a in zj if a.notice},
            "non_notices": [a.path for a in zj if not a.notice],
            "attachments": [ZJ_PDF_PATH],
            "articles": {a.path: _article_meta(a) for a in zj},
        },
        "shjjjc": {
            "scheme": "https",
            "start": f"{SH_COLUMN}index.html",
            "list_pages": [f"{SH_COLUMN}index.html", f"{SH_COLUMN}index_2.html"],
            "notices": {a.path: a.expected for a in sh if a.notice},
            "non_notices": [a.path for a in sh if not a.notice],
            "attachments": [],
            "articles": {a.path: _article_meta(a) for a in sh},
        },
    }
    readme = make_readme(zj, sh, files, zj_pages, sh_pages)
    return Build(files=files, manifest=manifest, readme=readme)


def _article_meta(a: Article) -> dict:
    return {
        "title": a.title,
        "published": a.published,
        "list_date": a.list_date,
        "source": a.source or None,
        "encoding": "gb18030 (declared gb2312)" if a.template == "zj_legacy" else "utf-8",
        "notice": a.notice,
    }


# --------------------------------------------------------------------------------------
# README
# --------------------------------------------------------------------------------------


def make_readme(
    zj: list[Article],
    sh: list[Article],
    files: dict[str, bytes],
    zj_pages: list[list[tuple[str, str, str]]],
    sh_pages: list[list[Article]],
) -> str:
    def size(key: str) -> str:
        n = len(files[key])
        return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KB"

    def row(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    head = row(["file", "what", "publish time shown on the page", "巡视整改 notice", "size"])
    sep = row(["---"] * 5)
    zrows = [head, sep]
    for n, zitems in enumerate(zj_pages):
        name = "index.shtml" if n == 0 else f"index_{n}.shtml"
        key = f"zjsjw{ZJ_COLUMN}{name}"
        zrows.append(
            row(
                [
                    f"`{key[len('zjsjw/') :]}`",
                    f"list page {n + 1}/3, {len(zitems)} items, pager = "
                    f'`createPageHTML(3, {n}, "index", "shtml")`',
                    "—",
                    "—",
                    size(key),
                ]
            )
        )
    for a in zj:
        key = "zjsjw" + a.path
        zrows.append(
            row(
                [
                    f"`{a.path.lstrip('/')}`",
                    f"{a.kind}: {a.title}",
                    a.published or "— (none)",
                    "**yes**" if a.notice else "no",
                    size(key),
                ]
            )
        )
    zrows.append(
        row(
            [
                f"`{ZJ_PDF_PATH.lstrip('/')}`",
                f"PDF linked from list page 2 under a notice-like title ({ZJ_PDF_TITLE}); an empty one-page PDF",
                f"— (list shows {ZJ_PDF_DATE})",
                "no (not a page)",
                size("zjsjw" + ZJ_PDF_PATH),
            ]
        )
    )
    zrows.append(row(["`robots.txt`", "`Disallow: /search/`", "—", "—", size("zjsjw/robots.txt")]))
    for a in zj:
        if a.expected and not a.expected.startswith("seed:"):
            zrows.append(
                row(
                    [
                        f"`{a.expected[len('zjsjw/') :]}`",
                        f"expected seed-format text of `{posixpath.basename(a.path)}`",
                        "—",
                        "—",
                        size(a.expected),
                    ]
                )
            )

    srows = [head, sep]
    for n, sitems in enumerate(sh_pages, start=1):
        name = "index.html" if n == 1 else f"index_{n}.html"
        key = f"shjjjc{SH_COLUMN}{name}"
        srows.append(
            row(
                [
                    f"`{key[len('shjjjc/') :]}`",
                    f"list page {n}/2, {len(sitems)} items, plain `<a>` pager (首页/上一页/下一页/尾页)",
                    "—",
                    "—",
                    size(key),
                ]
            )
        )
    for a in sh:
        srows.append(
            row(
                [
                    f"`{a.path.lstrip('/')}`",
                    f"{a.kind}: {a.title}",
                    (
                        f"{a.published} (meta `publishdate` only)"
                        if a.published
                        else f"— (none; list shows {a.list_date})"
                    ),
                    "**yes**" if a.notice else "no",
                    size("shjjjc" + a.path),
                ]
            )
        )
    srows.append(row(["`robots.txt`", "allows everything", "—", "—", size("shjjjc/robots.txt")]))
    for a in sh:
        if a.expected and not a.expected.startswith("seed:"):
            srows.append(
                row(
                    [
                        f"`{a.expected[len('shjjjc/') :]}`",
                        f"expected seed-format text of `{posixpath.basename(a.path)}`",
                        "—",
                        "—",
                        size(a.expected),
                    ]
                )
            )

    notes = "\n".join(f"- `{posixpath.basename(a.path)}`: {a.notes}" for a in [*zj, *sh] if a.notes)
    return f"""# Recorded-style test sites

Generated by `tools/build_test_sites.py` (do not edit by hand: change the script and run
`.venv/bin/python tools/build_test_sites.py`; `--check-only` re-checks what is on disk).
Each folder is a site root, served on 127.0.0.1 by the `serve` fixture in
`tests/conftest.py`. Paths mirror the real sites. Only the two seed notices are real
texts; every other article body is synthetic, written in the style of the real ones
(phone numbers, addresses, IDs and figures are made up).

`manifest.json` lists per site the start page, the list pages, every 巡视整改 notice with
its expected text (`"seed:<file>"` = `../shared/seeds/<file>`, otherwise a path relative
to `tests/sites/`), the non-notices, attachments (not pages) and per-article metadata
(title, publish time as the page shows it or `null`, list date, source, encoding).

The build checks, and fails if any check fails: every notice page, re-read from disk
(charset from its `<meta>`), gives its expected text when the article container is
extracted with lxml (`script`/`style`/comments dropped; `<p>`/`<div>`/`<br>` break
lines; each line NFKC-normalised, white space incl. U+3000/U+00A0 folded, stripped, empty
lines dropped; zjsjw: header line = time + source from the info line); expected texts are
NFKC-normal with no blank lines and no trailing newline; list links resolve to files;
list page 1 of zjsjw holds no plain link to `index_1`; every page is 10–60 KB.

## zjsjw — 浙江省纪委省监委网站 (http, TRS CMS)

Start: `/gongzuodongtai/xunshixuncha/index.shtml`. Article body: `div.article div.zw` >
`div.TRS_Editor` (legacy: `div.artCon`); header line from `div.info` (`发布时间：`,
`来源：`) or, legacy, `span#pubtime_baidu` + `span#source_baidu`. List items
`ul.list li a` with relative hrefs `./YYYYMM/…`; pages 2 and 3 exist only through the
`createPageHTML(total, current, "index", "shtml")` script. The seed notice is listed twice
(last on page 1, first on page 2).

{chr(10).join(zrows)}

## shjjjc — 上海市纪委监委 (https)

Start: `/shsjjjcw/xszg/index.html`. Article body: `#ivs_content` (`div.Article_content`);
title `h2.title`; `div.source` holds only font-size/view-count widgets. The seed form
starts with the body (issuer line, `关于…的通报` line), no date/source line. List items
`ul.news-list li a` with absolute-path hrefs; link text is cut to 30 characters + `...`
for long titles, the full title is in the `title` attribute.

{chr(10).join(srows)}

## Markup notes

{notes}
- All zjsjw pages carry TRS head metas (`ArticleTitle`, `PubDate`, `ContentSource`) except
  the legacy page; CSS/JS/image links point to files that are not part of the site (404).
- zjsjw list pages define `function createPageHTML(_nPageCount, _nCurrIndex, _sPageName,
  _sPageExt)` inline (as TRS list templates often do) before the call
  `createPageHTML(3, n, "index", "shtml")`: a parser must read the call, not the definition.
- Article links also appear outside the item lists: 相关文章 on article pages, 热点排行
  (zjsjw) and 最新发布 (shjjjc) side boxes on list and article pages. All of them point to
  pages of the site; the list items proper are `ul.list` / `ul.news-list`.
- The GBK page must be decoded as gb18030 (what browsers and w3lib do with a `gb2312`
  label): handing its bytes to lxml, which applies `gb2312` strictly, silently drops
  everything after 堃.
"""


# --------------------------------------------------------------------------------------
# Independent checker: reads only the files on disk, the manifest and the seeds
# --------------------------------------------------------------------------------------

_BLOCK_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ul",
    "ol",
    "table",
    "tbody",
    "tr",
    "td",
    "th",
    "blockquote",
    "center",
    "pre",
}
_BREAK = "\x1e"


def norm_line(raw: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", raw)).strip()


def block_lines(container) -> list[str]:
    parts: list[str] = []

    def walk(el, top: bool = False) -> None:
        if isinstance(el.tag, str):
            name = el.tag.lower()
            if name in ("script", "style"):
                pass
            elif name == "br":
                parts.append(_BREAK)
            else:
                block = name in _BLOCK_TAGS
                if block:
                    parts.append(_BREAK)
                parts.append(el.text or "")
                for child in el:
                    walk(child)
                if block:
                    parts.append(_BREAK)
        if not top:
            parts.append(el.tail or "")

    walk(container, top=True)
    return [line for line in (norm_line(p) for p in "".join(parts).split(_BREAK)) if line]


def declared_charset(raw: bytes) -> str:
    m = re.search(rb"""<meta[^>]+charset=["']?([\w-]+)""", raw[:4096], re.I)
    return m.group(1).decode("ascii").lower() if m else "utf-8"


def decode_page(raw: bytes) -> str:
    cs = declared_charset(raw)
    if cs in ("gb2312", "gbk", "gb18030"):
        cs = "gb18030"  # what browsers do with a gb2312 label
    return raw.decode(cs)


def one(doc, xpath: str):
    found = doc.xpath(xpath)
    if len(found) != 1:
        raise CheckError(f"{xpath!r} matched {len(found)} elements")
    return found[0]


class CheckError(Exception):
    pass


def extract_zjsjw(doc) -> tuple[str, list[str]]:
    pub: str | None = None
    src: str | None = None
    if doc.xpath('//span[@id="pubtime_baidu"]'):
        pub = norm_line(one(doc, '//span[@id="pubtime_baidu"]').text_content())
        src = norm_line(one(doc, '//span[@id="source_baidu"]').text_content())
        src = re.sub(r"^来源:\s*", "", src)
        body = block_lines(one(doc, '//div[contains(concat(" ",@class," ")," artCon ")]'))
        return f"{pub} {src}", body
    for span in one(doc, '//div[@class="article"]/div[@class="info"]').xpath("./span"):
        t = norm_line(span.text_content())
        if t.startswith("发布时间:"):
            pub = t.split(":", 1)[1].strip()
        elif t.startswith("来源:"):
            src = t.split(":", 1)[1].strip()
    if not pub or not src:
        raise CheckError("info line without 发布时间/来源")
    body = block_lines(one(doc, '//div[@class="article"]//div[@class="TRS_Editor"]'))
    zw = block_lines(one(doc, '//div[@class="article"]/div[contains(@class,"zw")]'))
    if zw != body:
        raise CheckError("div.zw and div.TRS_Editor give different text")
    meta = doc.xpath('//meta[@name="PubDate"]/@content')
    if meta and meta[0].strip() != pub:
        raise CheckError(f"PubDate meta {meta[0]!r} != shown time {pub!r}")
    return f"{pub} {src}", body


def extract_shjjjc(doc) -> list[str]:
    return block_lines(one(doc, '//div[@id="ivs_content"]'))


def load_expected(ref: str, out_dir: Path, seeds_dir: Path) -> str:
    if ref.startswith("seed:"):
        return (seeds_dir / ref[len("seed:") :]).read_text(encoding="utf-8")
    return (out_dir / ref).read_text(encoding="utf-8")


def _first_diff(got: list[str], want: list[str]) -> str:
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        if g != w:
            k = next((j for j in range(min(len(g), len(w))) if g[j] != w[j]), min(len(g), len(w)))
            return f"line {i + 1}: got …{g[max(0, k - 15) : k + 25]!r} want …{w[max(0, k - 15) : k + 25]!r}"
    return f"line count: got {len(got)}, want {len(want)}"


def check(out_dir: Path, seeds_dir: Path) -> list[str]:
    """Return a list of problems (empty = all good)."""
    problems: list[str] = []
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    for site in SITE_NAMES:
        info = manifest[site]
        root = out_dir / site
        # expected texts
        for path, ref in info["notices"].items():
            where = f"{site}{path}"
            try:
                expected = load_expected(ref, out_dir, seeds_dir)
                if "\r" in expected or expected.endswith("\n") or expected.startswith("\ufeff"):
                    raise CheckError("expected text has \\r, BOM or a trailing newline")
                if not unicodedata.is_normalized("NFKC", expected):
                    raise CheckError("expected text is not NFKC-normal")
                for ln in expected.split("\n"):
                    if not ln or ln != ln.strip() or "  " in ln:
                        raise CheckError(f"bad expected line {ln[:30]!r}")
                raw = (root / path.lstrip("/")).read_bytes()
                doc = lhtml.fromstring(decode_page(raw))
                title = info["articles"][path]["title"]
                if site == "zjsjw":
                    header, body = extract_zjsjw(doc)
                    got = [header, *body]
                else:
                    got = extract_shjjjc(doc)
                    h2 = norm_line(one(doc, '//h2[@class="title"]').text_content())
                    if h2 != norm_line(title):
                        raise CheckError(f"h2.title {h2!r} != manifest title")
                    pd = doc.xpath('//meta[@name="publishdate"]/@content')
                    if (pd[0] if pd else None) != info["articles"][path]["published"]:
                        raise CheckError(f"publishdate meta {pd!r} != manifest")
                if norm_line(title) in got:
                    raise CheckError("the title is a line of the text")
                want = expected.split("\n")
                if got != want:
                    raise CheckError("text does not round-trip: " + _first_diff(got, want))
                if title not in norm_line(one(doc, "//title").text_content()) and norm_line(
                    title
                ) not in norm_line(one(doc, "//title").text_content()):
                    raise CheckError("<title> does not hold the article title")
                if declared_charset(raw) == "gb2312":
                    try:
                        raw.decode("gb2312")
                    except UnicodeDecodeError:
                        pass
                    else:
                        raise CheckError("GBK page decodes as strict gb2312: no non-GB2312 char")
                    if raw.decode("gbk") != raw.decode("gb18030"):
                        raise CheckError("GBK page differs between gbk and gb18030 decoding")
            except (CheckError, OSError, KeyError, ValueError) as exc:
                problems.append(f"{where}: {exc}")
        # non-notices are real article pages with a body
        for path in info["non_notices"]:
            try:
                raw = (root / path.lstrip("/")).read_bytes()
                doc = lhtml.fromstring(decode_page(raw))
                lines = extract_zjsjw(doc)[1] if site == "zjsjw" else extract_shjjjc(doc)
                if len(lines) < 3:
                    raise CheckError("article body has fewer than 3 paragraphs")
            except (CheckError, OSError) as exc:
                problems.append(f"{site}{path}: {exc}")
        # list pages: links resolve, pager as the CMS writes it
        linked: list[str] = []
        for n, lp in enumerate(info["list_pages"]):
            raw = (root / lp.lstrip("/")).read_bytes()
            text = raw.decode("utf-8")
            doc = lhtml.fromstring(text)
            hrefs = doc.xpath(
                '//ul[@class="list"]/li/a/@href'
                if site == "zjsjw"
                else '//ul[@class="news-list"]/li/a/@href'
            )
            if not hrefs:
                problems.append(f"{site}{lp}: no list items")
            for href in hrefs:
                target = posixpath.normpath(posixpath.join(posixpath.dirname(lp), href))
                linked.append(target)
                if not (root / target.lstrip("/")).is_file():
                    problems.append(f"{site}{lp}: item {href} -> {target} does not exist")
            if site == "zjsjw":
                call = f'createPageHTML({len(info["list_pages"])}, {n}, "index", "shtml");'
                if call not in text:
                    problems.append(f"{site}{lp}: no {call}")
                if n == 0 and "index_1" in text:
                    problems.append(f"{site}{lp}: page 1 names index_1 in its HTML")
            else:
                nxt = doc.xpath('//div[@class="pagination"]/a[.="下一页"]/@href')
                want = (
                    []
                    if n == len(info["list_pages"]) - 1
                    else [posixpath.basename(info["list_pages"][n + 1])]
                )
                if nxt != want:
                    problems.append(f"{site}{lp}: 下一页 links {nxt}, want {want}")
        pages = set(info["notices"]) | set(info["non_notices"])
        if set(linked) != pages | set(info["attachments"]):
            problems.append(
                f"{site}: list links {sorted(set(linked) ^ (pages | set(info['attachments'])))} mismatch"
            )
        if (
            site == "zjsjw"
            and sum(1 for t in linked if t.endswith("t20230626_20047122_ext.html")) != 2
        ):
            problems.append("zjsjw: the seed notice is not listed exactly twice")
        # robots and sizes
        robots = (root / "robots.txt").read_text(encoding="ascii")
        want_robots = "Disallow: /search/" if site == "zjsjw" else "Disallow:\n"
        if want_robots not in robots:
            problems.append(f"{site}/robots.txt: {robots!r}")
        for f in sorted(root.rglob("*")):
            if f.suffix in (".html", ".shtml"):
                size = f.stat().st_size
                if not MIN_PAGE_BYTES <= size <= MAX_PAGE_BYTES:
                    problems.append(f"{f.relative_to(out_dir)}: {size} bytes, outside 10-60 KB")
        if not (root / info["start"].lstrip("/")).is_file():
            problems.append(f"{site}: start page missing")
    return problems


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def write(result: Build, target: Path) -> None:
    for rel, data in result.files.items():
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
    (target / "manifest.json").write_text(
        json.dumps(result.manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (target / "README.md").write_text(result.readme, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS, help="folder of the seed texts")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (tests/sites)")
    ap.add_argument("--check-only", action="store_true", help="only check the files on disk")
    args = ap.parse_args(argv)

    if args.check_only:
        problems = check(args.out, args.seeds)
    else:
        result = build(args.seeds)
        with tempfile.TemporaryDirectory() as tmp:
            staging = Path(tmp)
            write(result, staging)
            problems = check(staging, args.seeds)
            if not problems:
                args.out.mkdir(parents=True, exist_ok=True)
                for site in SITE_NAMES:
                    shutil.rmtree(args.out / site, ignore_errors=True)
                    shutil.copytree(staging / site, args.out / site)
                # Other generators own other sites' entries (tools/build_ccdi_site.py,
                # tools/build_province_sites.py): merge ours in, keep theirs.
                merged_path = args.out / "manifest.json"
                merged = (
                    json.loads(merged_path.read_text(encoding="utf-8"))
                    if merged_path.exists()
                    else {}
                )
                merged.update(json.loads((staging / "manifest.json").read_text(encoding="utf-8")))
                merged_path.write_text(
                    json.dumps(merged, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
                )
                shutil.copy2(staging / "README.md", args.out / "README.md")
    if problems:
        print(
            f"FAILED: {len(problems)} problem(s), nothing written:"
            if not args.check_only
            else f"FAILED: {len(problems)} problem(s):",
            file=sys.stderr,
        )
        for p in problems:
            print("  - " + p, file=sys.stderr)
        return 1
    manifest = json.loads((args.out / "manifest.json").read_text(encoding="utf-8"))
    n_notices = sum(len(m["notices"]) for m in manifest.values())
    n_pages = sum(1 for f in args.out.rglob("*") if f.suffix in (".html", ".shtml"))
    verb = "checked" if args.check_only else "built and checked"
    print(f"OK: {verb} {n_pages} pages in {args.out}; {n_notices} notices round-trip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
