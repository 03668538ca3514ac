"""The site registry: one declarative profile per site, the only place that knows a site's markup.

Selectors are tried in order and the first that finds something wins; when none does,
the extractor falls back to generic rules (meta tags, labelled 发布时间/来源 text, the
densest text block) and says so, so that a template change is noticed while data keeps
flowing. Unknowns about a site are written in its ``notes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

# The header rule of seed-format.md, per site:
#   "date_source": line 1 is "YYYY-MM-DD HH:MM <source>" (zjsjw)
#   "none":        the body starts the text (shjjjc: the body opens with the issuer line)
#   "auto":        the zjsjw form when the article block shows both a time and a source
HEADER_RULES = ("date_source", "none", "auto")


@dataclass(frozen=True)
class SiteProfile:
    """Everything site-specific about crawling one discipline-commission website."""

    name: str
    label: str
    province: str | None
    base_url: str
    start_paths: tuple[str, ...]
    # A regular expression searched in the URL path of a link: is this an article page?
    article_path: str
    header_rule: str = "auto"
    # Where list items are; empty means every link on the page is a candidate.
    list_links: tuple[str, ...] = ()
    title: tuple[str, ...] = ()
    published: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    # Elements inside the body that are never text (beyond the generic junk rules).
    drop: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = field(default_factory=tuple)
    # The start page is a column index, not the list: follow its link whose text holds
    # this (e.g. 巡视整改). Only spiders that follow column links honour it (custom_spider).
    column_text: str | None = None
    # The site sets cookies from inline JavaScript (document.cookie = "…") and refuses
    # requests without them: crawler.middlewares.JsCookieMiddleware re-sends them.
    js_cookies: bool = False
    # Environment variable holding a Cookie string the user copied from a browser for
    # this site (sent with this site's requests only, never logged).
    cookie_env: str | None = None
    # True when crawler/spiders/<name>.py defines this site's spider (quirks the generic
    # spider cannot express); crawler/spiders/notices.py then makes none for it.
    custom_spider: bool = False

    def __post_init__(self) -> None:
        if self.header_rule not in HEADER_RULES:
            raise ValueError(f"{self.name}: header_rule must be one of {HEADER_RULES}")
        re.compile(self.article_path)
        if self.column_text and not self.custom_spider:
            # The generic spider would silently treat the column index as the list.
            raise ValueError(f"{self.name}: column_text needs a custom spider that follows it")

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def allowed_domains(self) -> tuple[str, ...]:
        return (self.host, *self.extra_hosts)

    @property
    def start_urls(self) -> tuple[str, ...]:
        return tuple(self.base_url.rstrip("/") + path for path in self.start_paths)

    def is_article_url(self, url: str) -> bool:
        return re.search(self.article_path, urlsplit(url).path) is not None


SITES: dict[str, SiteProfile] = {}


def register(profile: SiteProfile) -> SiteProfile:
    if profile.name in SITES:
        raise ValueError(f"site {profile.name!r} registered twice")
    SITES[profile.name] = profile
    return profile


def get_site(name: str) -> SiteProfile:
    try:
        return SITES[name]
    except KeyError:
        known = ", ".join(sorted(SITES))
        raise KeyError(f"unknown site {name!r}; known sites: {known}") from None


# ---------------------------------------------------------------------------------------
# CMS families: a new site built on one of them is a registry entry of a few lines
# (see docs/sites.md). Each helper fills in what the family's templates share; keyword
# arguments override any field, and ``notes`` are added to the family's own.
# ---------------------------------------------------------------------------------------

# TRS WCM (zjsjw, ccdi, bjsupervision): static lists index.html, index_1.html… written by
# createPageHTML(total, current, "index", "html"); articles <col>/YYYYMM/tYYYYMMDD_<id>.html.
TRS_ARTICLE = r"/t\d{8}_\d+(?:_ext)?\.s?html?$"
TRS_DEFAULTS: dict[str, Any] = {
    "article_path": TRS_ARTICLE,
    "list_links": ("ul.list li a", ".list li a", ".news_list li a", "ul.list_news_dl2 li a",
                   "ul.list_news_dl li a"),
    "title": ("div.article h1", "div.Article_61 > .tit", "h2.tit", ".artTitle", "h1.title"),
    "published": ("span#pubtime_baidu", ".info span:contains('发布时间')", "em.e2", ".pubtime"),
    "source": ("span#source_baidu", ".info span:contains('来源')", "em.e1", ".source"),
    "body": ("div.TRS_Editor", "div.zw", "div.Article_61 > div.content", "div.artCon", "#zoom"),
}  # fmt: skip
TRS_NOTES = (
    "TRS WCM: list pages index.html, index_1.html… counted by createPageHTML(total, …) [V]",
    "pages carry the standard government-site metas ArticleTitle, PubDate, ContentSource [V]",
)

# Hanweb (jssjw): list pages col/colN/index.html hold their items as CDATA <record>s of a
# <script type="text/xml"><datastore>; later groups come from /module/web/jpage/dataproxy.jsp.
HANWEB_ARTICLE = r"/art/\d{4}/\d{1,2}/\d{1,2}/art_\d+_\d+\.html$"
HANWEB_DEFAULTS: dict[str, Any] = {
    "article_path": HANWEB_ARTICLE,
    "list_links": (),  # the items are in the datastore records, which parse_list reads
    "title": ("div.article h1", ".article-title", "td.title", "h1.title"),
    "published": (".pubtime", "span:contains('发布日期')", "span:contains('发布时间')"),
    "source": (".source", "span:contains('来源')"),
    "body": ("div#zoom", "div#Zoom", "div.article-content", "div.bt-content"),
}
HANWEB_NOTES = (
    'Hanweb CMS: list items are CDATA records in a <script type="text/xml"> datastore [V]',
    "groups after the first come from /module/web/jpage/dataproxy.jsp (the datastore's "
    "<nextgroup> link + startrecord/endrecord/perpage); a GET of it is unverified [U]",
)

# The Shanghai CMS (shjjjc): articles <column>/content/<uuid4>.html, no date in URL or text.
UUID_ARTICLE = r"/content/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.html$"
UUID_DEFAULTS: dict[str, Any] = {
    "header_rule": "none",
    "list_links": ("ul.news-list li a", ".list li a", "ul li a"),
    "title": ("h2.title", "div#ivs_title", "h1"),
    "published": (".time", "span.date"),
    "source": (),
    "body": ("div#ivs_content", "div.Article_content", "div.article-content"),
}
UUID_NOTES = (
    "Shanghai CMS: articles <column>/content/<uuid4>.html; the date, when there is one, is only "
    "in the page (publishdate meta, .time) [V]",
)


def _family(defaults: dict[str, Any], family_notes: tuple[str, ...], **fields: Any) -> SiteProfile:
    values = {**defaults, **fields}
    values["notes"] = (*family_notes, *fields.get("notes", ()))
    return SiteProfile(**values)


def trs_site(
    name: str, label: str, province: str | None, base_url: str, list_path: str, **fields: Any
) -> SiteProfile:
    """A TRS WCM site whose 巡视整改 list is at ``list_path`` (a folder or its index page)."""
    return _family(TRS_DEFAULTS, TRS_NOTES, name=name, label=label, province=province,
                   base_url=base_url, start_paths=(list_path,), **fields)  # fmt: skip


def hanweb_site(
    name: str, label: str, province: str | None, base_url: str, column: int, **fields: Any
) -> SiteProfile:
    """A Hanweb site whose 巡视整改 list is column ``column`` (``/col/col<column>/index.html``)."""
    return _family(HANWEB_DEFAULTS, HANWEB_NOTES, name=name, label=label, province=province,
                   base_url=base_url, start_paths=(f"/col/col{column}/index.html",),
                   **fields)  # fmt: skip


def uuid_cms_site(
    name: str, label: str, province: str | None, base_url: str, column_path: str, **fields: Any
) -> SiteProfile:
    """A site on the Shanghai CMS whose 巡视整改 column is ``column_path`` (e.g. ``/xxx/xszg/``)."""
    column = column_path.rstrip("/")
    fields.setdefault("article_path", re.escape(column) + UUID_ARTICLE)
    return _family(UUID_DEFAULTS, UUID_NOTES, name=name, label=label, province=province,
                   base_url=base_url, start_paths=(f"{column}/index.html",), **fields)  # fmt: skip


register(
    SiteProfile(
        name="zjsjw",
        label="浙江省纪委省监委网站",
        province="浙江省",
        base_url="http://www.zjsjw.gov.cn",
        start_paths=("/gongzuodongtai/xunshixuncha/index.shtml",),
        article_path=r"/t\d{8}_\d+(?:_ext)?\.s?html?$",
        header_rule="date_source",
        list_links=("ul.list li a", ".list li a", ".news_list li a"),
        title=("div.article h1", ".artTitle", "h1.title", "div.artCon h1"),
        published=("span#pubtime_baidu", ".info span:contains('发布时间')", ".pubtime"),
        source=("span#source_baidu", ".info span:contains('来源')", ".source"),
        body=("div.TRS_Editor", "div.zw", "div.artCon .content", "div.artCon", "#zoom"),
        notes=(
            "TRS CMS; list pages index.shtml, index_1.shtml… written by createPageHTML() [I]",
            "the date in an article URL is not the publish date: read it from the page [V]",
            "legacy pages (before ~2019) are GBK with div.artCon, span#pubtime_baidu [V]",
        ),
    )
)

register(
    SiteProfile(
        name="shjjjc",
        label="上海市纪委监委",
        province="上海市",
        base_url="https://www.shjjjc.gov.cn",
        start_paths=("/shsjjjcw/xszg/index.html",),
        article_path=r"/content/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.html$",
        header_rule="none",
        list_links=("ul.news-list li a", ".list li a", "ul li a"),
        title=("h2.title", "div#ivs_title", "h1"),
        published=(".time", "span.date"),
        source=(),
        body=("div#ivs_content", "div.Article_content", "div.article-content"),
        notes=(
            "list page /shsjjjcw/xszg/index.html and its pager are a guess [U]",
            "neither URL nor article text carries a date; a notice without one is still stored [V]",
            "some copies separate paragraphs with empty paragraphs [V]",
        ),
    )
)

# ---------------------------------------------------------------------------------------
# The central commission
# ---------------------------------------------------------------------------------------

register(
    trs_site(
        "ccdi",
        "中央纪委国家监委网站",
        None,
        "https://www.ccdi.gov.cn",
        "/xsxcn/",
        # _m.html mobile twins are listed too; the ccdi spider fetches their desktop page.
        article_path=r"/t\d{8}_\d+(?:_m)?\.html$",
        column_text="巡视整改",
        list_links=("ul.list_news_dl2 li a", "ul.list_news_dl li a"),
        # The title is written twice: in h2.tit, whose <p> children lxml moves out of the
        # heading (libxml2 closes <h2> at <p>), and in a hidden div that keeps them.
        title=(
            "div#NewsArticleTitle",
            "div.Article_61 > .tit",
            "div.main_bwzp .tit",
            "div.Article_61 > h2.tit + p",
        ),
        published=(".daty em.e2", "em.e2"),
        source=(".daty em.e1", "em.e1"),
        # Magazine pages (zgjjjc) have a first div.content that is the cover image.
        body=("div.Article_61 > div.content", "div.main_bwzp div.content", "div.content"),
        js_cookies=True,
        cookie_env="XUNSHI_CCDI_COOKIE",
        custom_spider=True,
        notes=(
            "the 巡视整改 sub-column of /xsxcn/ is found by its link text; its path is unknown [U]",
            "two article templates: div.Article_61 (头条/要闻) and div.main_bwzp (评论) [V]",
            "h2.tit holds <p>s for two-line titles; div#NewsArticleTitle (hidden) repeats it [V]",
            "PubDate meta is blank on some pages, and where it has two spaces "
            "('2022-05-07  07:05 ') its minutes are the month: use 发布时间 in the page [V]",
            "the date in an article URL is not always the publish date (t20250106 shows "
            "2024-12-30 06:47) [V]",
            "multi-page articles: createPageHTML_ZW(n, 0, name, ext) -> name_1.ext… [V]",
            "inline JS sets cookies, HOY_TR changes per article; bursts get 403/420: one "
            "request at a time with random delays [V]; copy a browser's cookies into "
            "XUNSHI_CCDI_COOKIE when the site insists [I]",
            "notices on ccdi publish the whole text in the page; list item markup of the "
            "巡视整改 column itself was not seen [U]",
        ),
    )
)

# ---------------------------------------------------------------------------------------
# More provinces: what sites.md knows, the rest written down as [U]
# ---------------------------------------------------------------------------------------

register(
    trs_site(
        "bjsupervision",
        "北京纪检监察网",
        "北京市",
        "http://www.bjsupervision.gov.cn",
        "/zt/shejswxc/xsfk/",
        notes=(
            "column 巡视巡察反馈 /zt/shejswxc/xsfk/: static TRS list, http only [V]",
            "articles /lzbj/YYYYMM/tYYYYMMDD_<id>.html [V]; article template unknown [U]",
            "whether 巡视整改 notices are in this column or another one is unknown [U]",
        ),
    )
)

register(
    SiteProfile(
        name="scjc",
        label="廉洁四川",
        province="四川省",
        base_url="http://www.scjc.gov.cn",
        start_paths=("/scjc/xszg/xszg.shtml",),
        article_path=r"/scjc/\w+/\d{4}/\d{1,2}/\d{1,2}/[0-9a-f]{32}\.shtml$",
        list_links=(".data-list > h4 a",),
        notes=(
            "lists /scjc/<col>/<col>.shtml then <col>_N.shtml; items .data-list > h4 a [V]",
            "articles /scjc/<col>/Y/M/D/<32 hex>.shtml [V]",
            "the 巡视整改 column's name (xszg) is a guess [U]",
            "how list pages link to page 2 is unknown: a 下一页 link is assumed [U]",
            "article template unknown: meta tags, 发布时间/来源 labels and the density "
            "fallback carry it [U]",
        ),
    )
)

register(
    hanweb_site(
        "jssjw",
        "清风扬帆网",
        "江苏省",
        "http://www.jssjw.gov.cn",
        37,
        notes=(
            "the 巡视整改 column's id (col37) is a guess [U]",
            "articles art/Y/M/D/art_<col>_<id>.html [V]; article template unknown [U]",
        ),
    )
)
