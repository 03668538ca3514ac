"""Scrapy settings: polite defaults for government sites; every setting of ours is documented.

Our own settings start with XUNSHI_; each can be given on the command line
(``scrapy crawl zjsjw -s XUNSHI_DB=other.db``) or is set by ``xunshi crawl``.
"""

import os

BOT_NAME = "xunshi-watch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# -- politeness: one request at a time per host, with adaptive delays ----------------------
ROBOTSTXT_OBEY = True
USER_AGENT = "xunshi-watch/0.1 (+https://github.com/xunshi-watch/xunshi-watch; research crawler)"
# A crawl of many sites is one process with one crawler per site: CONCURRENT_REQUESTS is
# how many downloads may be in flight over all its sites together (many hosts at once),
# CONCURRENT_REQUESTS_PER_DOMAIN how many per host (crawler/downloader.py makes it hold
# with any delay, including none).
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOADER = "crawler.downloader.PoliteDownloader"
DOWNLOAD_DELAY = 2.0
# Each delay varies by ±50% so requests do not arrive on a beat.
DOWNLOAD_DELAY_JITTER = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 3.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
# A host that does not resolve is known in seconds, not after a minute.
DNS_TIMEOUT = 10
# A notice page is under 200 KB; 20 MB is a broken or hostile page, not a notice.
DOWNLOAD_MAXSIZE = 20 * 1024 * 1024
DOWNLOAD_WARNSIZE = 5 * 1024 * 1024
COOKIES_ENABLED = True
TELNETCONSOLE_ENABLED = False

# -- retries: transient server errors only; 403/412/420/429 are blocks, never retried ------
RETRY_ENABLED = True
RETRY_TIMES = 2
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408]
REDIRECT_MAX_TIMES = 5

REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
# How many of one response's items and requests Scrapy processes at once. Our pipelines
# are synchronous, so more gain nothing, and Scrapy starts that many asyncio tasks for
# every response (with its default of 100: most of a small page's scheduling cost).
CONCURRENT_ITEMS = 8
# Scrapy re-parses a callback's source on every response to warn about generators that
# return values (6% of a crawl's CPU); our callbacks never do.
WARN_ON_GENERATOR_RETURN_VALUE = False
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = "INFO"

DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.retry.BackoffRetryMiddleware": 550,
    # After retry (550) in the response direction, before it for exceptions: a host that
    # never answered is not retried. Sets each request's timeout (first contact, time limit).
    "crawler.downloader.HostGuard": 595,
    "crawler.middlewares.BlockDetectionMiddleware": 560,
    # After Scrapy's CookiesMiddleware (700), which rewrites the Cookie header from its jar.
    "crawler.middlewares.JsCookieMiddleware": 710,
}
EXTENSIONS = {
    "crawler.extensions.TimeLimit": 100,
    "crawler.extensions.SiteHealth": 500,
}
ITEM_PIPELINES = {
    "crawler.pipelines.NormalisePipeline": 100,
    "crawler.pipelines.ValidatePipeline": 200,
    "crawler.pipelines.StorePipeline": 300,
}

# -- xunshi-watch settings -----------------------------------------------------------------
# Path of the SQLite database (default: $XUNSHI_DB or ./xunshi.db).
XUNSHI_DB = None
# Run id created by `xunshi crawl` before it starts Scrapy; None: the crawl makes its own.
XUNSHI_RUN_ID = None
# A site's kept 巡视整改 list ({"list_url", "family"}; {}: none) given to a distributed crawl's
# worker by the store writer; None: read from XUNSHI_DB's site_state.
XUNSHI_KEPT_LIST = None
# When every start URL is on the loopback interface (a saved copy served locally, the
# tests, the demo), politeness delays are pointless: drop them for that crawl only.
XUNSHI_LOOPBACK_NO_DELAY = True
# One crawl of many sites: this many sites' crawlers run at once in the process (the
# others wait their turn),
XUNSHI_SITES_AT_ONCE = 64
# and downloads over all of them are capped by this (0: by CONCURRENT_REQUESTS).
XUNSHI_PROCESS_CONCURRENCY = 0
# Stop a site's crawl this many seconds after it started (0: no limit); `xunshi crawl
# --timeout` and the scheduler's time_limit set it per site.
XUNSHI_TIME_LIMIT = 0
# Timeout (seconds) of requests to a host that has not answered yet in this crawl: an
# unreachable host is known in seconds. A host that never answered is not retried, and
# every later request to it fails at once, saying why (DNS, refused, timeout).
XUNSHI_FIRST_CONTACT_TIMEOUT = 10.0
# Check each site's health at the end of its crawl (site_broken, site_quiet events).
XUNSHI_SITE_HEALTH = True
# The store pipeline commits its writes in batches of this many notices, or after this
# many seconds, whichever comes first (each notice in a savepoint: a crash loses at most
# the open batch, never half a notice); 1 commits every notice on its own.
XUNSHI_STORE_BATCH = 32
# An open batch is committed when it is this many seconds old, even with no new item.
XUNSHI_STORE_BATCH_SECONDS = 1.0
# Stop following list pages after this many (a broken pager must not walk forever).
XUNSHI_MAX_LIST_PAGES = 200
# A notice text shorter than this (characters) is refused as a broken page.
XUNSHI_MIN_TEXT_CHARS = 40
# Incremental crawling (`xunshi crawl --full` / `-a full=1` turns all of it off):
# stop walking list pages after this many pages that show only stored notices,
XUNSHI_STOP_AFTER_KNOWN_PAGES = 1
# re-check stored notices published within this many days on every run,
XUNSHI_RECENT_DAYS = 90
# and older ones when their last check is this many days old.
XUNSHI_OLD_RECHECK_DAYS = 7
# Pause before the n-th retry of a failed request: XUNSHI_RETRY_BACKOFF * 2**(n-1) seconds,
XUNSHI_RETRY_BACKOFF = 2.0
# but never longer than this.
XUNSHI_RETRY_BACKOFF_MAX = 60.0
# A page larger than this (bytes) is not a notice: refused with a reason, never parsed.
XUNSHI_MAX_PAGE_BYTES = 5 * 1024 * 1024
# Re-send cookies that a site's pages set from inline JavaScript (document.cookie = "…"),
# for sites whose profile asks for it (ccdi); False switches it off for every site.
XUNSHI_JS_COOKIES = True
# The user's own cookie (a profile's cookie_env, e.g. $XUNSHI_CCDI_COOKIE) goes to the
# site's own hosts only; hosts listed here (or in $XUNSHI_COOKIE_HOSTS, comma-separated)
# get it too: a local copy of the site, by the user's choice. `xunshi record` obeys it too.
XUNSHI_COOKIE_HOSTS: list[str] = [
    h.strip() for h in os.environ.get("XUNSHI_COOKIE_HOSTS", "").split(",") if h.strip()
]
# site_quiet: a site is quiet when nothing new appeared for longer than usual (learned:
# 3x its median gap between notices, at least 30 days); {site: days} overrides that per site.
XUNSHI_QUIET_DAYS: dict[str, float] = {}
