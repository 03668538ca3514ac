"""The site registry: one declarative profile per site, the only place that knows a site's markup.

Selectors are tried in order and the first that finds something wins; when none does,
the extractor falls back to generic rules (meta tags, labelled 发布时间/来源 text, the
densest text block) and says so, so that a template change is noticed while data keeps
flowing. Unknowns about a site are written in its ``notes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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

    def __post_init__(self) -> None:
        if self.header_rule not in HEADER_RULES:
            raise ValueError(f"{self.name}: header_rule must be one of {HEADER_RULES}")
        re.compile(self.article_path)

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
        list_links=(".list li a", "ul li a"),
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
