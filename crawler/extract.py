"""Pure extraction, the page-level parts: bytes -> text, blocked pages, titles, dates, field limits.

The rest of extraction lives beside it: crawler/listpage.py (a list page -> notice links
and next pages) and crawler/article.py (an article page -> its fields and text).
Nothing in the three fetches, stores or logs: every function takes bytes or text and
returns values, or raises :class:`PageError` with a reason a user can read.
"""

from __future__ import annotations

import codecs
import re
from datetime import datetime, timedelta, timezone

from crawler.normalise import clean_line

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


class PageError(ValueError):
    """A page that cannot be turned into a notice; the message says why."""


# ---------------------------------------------------------------------------------------
# Bytes to text
# ---------------------------------------------------------------------------------------

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_\-:.]+)", re.I)
# GB2312 and GBK are subsets of GB18030; pages declared as either routinely use
# characters only the larger sets have (镕, 堃, 珺 in names).
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030",
              "csgb2312": "gb18030", "euc-cn": "gb18030", "iso-8859-1": "cp1252",
              "latin-1": "cp1252", "ascii": "cp1252", "us-ascii": "cp1252"}  # fmt: skip
# What UTF-8 text looks like when it was decoded as GBK, or GBK as Latin-1, or what
# a replacement character becomes in GBK: the marks of mojibake. Every alternative starts
# with a literal character, so that re scans for those few characters alone (one that
# starts with a class, [ÃÂâ], makes re try the whole pattern at every position: 3x slower).
_LATIN1_TAIL = "[\x80-\xbf€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ¡-¿]"
_MOJIBAKE = re.compile(f"锟斤拷|烫烫烫|屯屯屯|Ã{_LATIN1_TAIL}|Â{_LATIN1_TAIL}|â{_LATIN1_TAIL}|ï»¿")
# The characters a match starts with: a page holding none of them (nearly every page) is
# let through by seven substring scans, 20x faster than re's scan of the page.
_MOJIBAKE_FIRST = "锟烫屯ÃÂâï"


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().lower()
    name = _SUPERSETS.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def declared_encoding(body: bytes, content_type: str | None) -> str | None:
    """The encoding the server or the page declares (HTTP header first, then BOM, then meta)."""
    if content_type:
        m = _HEADER_CHARSET.search(content_type)
        if m and _codec(m.group(1)):
            return _codec(m.group(1))
    if body.startswith(codecs.BOM_UTF8):
        return "utf-8"
    meta = _META_CHARSET.search(body[:8192])
    if meta:
        return _codec(meta.group(1).decode("ascii", "ignore"))
    return None


def decode_page(
    body: bytes, content_type: str | None = None, *, nul_ok: bool = False
) -> tuple[str, str]:
    """Decode page bytes to text, returning ``(text, encoding)``.

    Declarations are often wrong on these sites (GBK pages that say UTF-8, GB18030 text
    declared as gb2312), so a declaration is a hint: bytes that are valid UTF-8 and not
    plain ASCII are UTF-8 whatever they claim, then the declared codec (widened to
    GB18030) must decode strictly, then GB18030. Anything that only decodes with
    replacement characters is refused rather than stored as mojibake, and so is a NUL
    byte (named as such: the parser would turn it into U+FFFD) unless ``nul_ok`` (a list
    page, whose text is not stored: one NUL must not stop a site's walk).
    """
    if not body.strip():
        raise PageError("empty page")
    body = body.removeprefix(codecs.BOM_UTF8)
    declared = declared_encoding(body, content_type)
    candidates: list[str] = []
    if not body.isascii():
        candidates.append("utf-8")
    if declared:
        candidates.append(declared)
    candidates += ["utf-8", "gb18030"]
    for encoding in dict.fromkeys(candidates):
        try:
            text = body.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        # Bytes that decode cleanly but read as mojibake were garbled before they reached
        # us (or by the site's own CMS): another codec would only garble them further.
        if encoding in _NUL_FROM_NUL_BYTE and b"\x00" not in body:
            problem = _garbled(text)  # no NUL byte, so no NUL: text_problem(controls=False)
        else:
            problem = text_problem(text.replace("\x00", "") if nul_ok else text, controls=False)
        if problem is not None:
            raise PageError(f"the page decodes as {encoding} but holds {problem}")
        return text, encoding
    if _UTF8_RUN.search(body):
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PageError(
                "cannot decode the page: mixed encodings (UTF-8 text with bytes that are not "
                f"UTF-8 at byte {exc.start:,}, another encoding pasted in?)"
            ) from None
    raise PageError(
        f"cannot decode the page: declared {declared or 'nothing'}, "
        "and neither UTF-8 nor GB18030 decodes it cleanly"
    )


# C0 and C1 control characters other than the white space ones (tab, newline, form
# feed, carriage return): no page text holds them; a NUL byte ends a C string.
_CONTROL_CHAR = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_CONTROL_NAMES = {0x00: "a NUL byte", 0x7F: "a DEL character"}


# Four Chinese characters in a row as UTF-8 bytes: GBK text almost never holds such a run
# (neither seed does), so GB18030 text that encodes to one is UTF-8 read as GB18030.
# (One character spelt out before the repeat: re then scans for its first byte alone.)
_UTF8_RUN = re.compile(rb"[\xe4-\xe9][\x80-\xbf]{2}(?:[\xe4-\xe9][\x80-\xbf]{2}){3,}")


# _UTF8_RUN's bytes by class: L a lead byte (\xe4-\xe9), C a continuation (\x80-\xbf), x any
# other. The classes do not overlap, so the regex matches exactly where the classes spell
# LCC four times: a substring search of the translated bytes, 3x faster than re's scan.
_UTF8_CLASSES = bytes(b"x" * 0x80 + b"C" * 0x40 + b"x" * 0x24 + b"L" * 6 + b"x" * 0x16)


def gb_mojibake(text: str) -> bool:
    """True when ``text`` is UTF-8 text that was decoded as GB18030 (``鎷卞鍖哄…``):
    its GB18030 bytes hold four UTF-8 Chinese characters in a row (``_UTF8_RUN``).

    Used on extracted text, not whole pages: a GBK page may carry a UTF-8 script.
    """
    if text.isascii():
        return False
    return b"LCCLCCLCCLCC" in text.encode("gb18030", "ignore").translate(_UTF8_CLASSES)


def control_problem(text: str, pattern: re.Pattern[str] | None = None) -> str | None:
    """The control characters ``text`` holds, named (``a NUL byte (U+0000) at character 12``)."""
    pattern = pattern or _CONTROL_CHAR
    control = pattern.search(text)
    if control is None:
        return None
    code = ord(control.group())
    name = _CONTROL_NAMES.get(code, "a control character")
    count = len(pattern.findall(text))
    more = f" and {count - 1:,} more" if count > 1 else ""
    return f"{name} (U+{code:04X}) at character {control.start():,}{more}"


_NUL = re.compile("\x00")
# Codecs whose text holds U+0000 exactly where the bytes hold 0x00 (a byte search is much
# faster than a search of the text; tests/test_extract_fast.py checks the three).
_NUL_FROM_NUL_BYTE = frozenset({"utf-8", "gb18030", "cp1252"})


def text_problem(text: str, *, controls: bool = True, seed: bool = False) -> str | None:
    """Why ``text`` cannot be right (control characters, replacement characters,
    mojibake), or None. Control characters are named first: parsers turn a NUL into
    U+FFFD, and "U+FFFD" would not tell the user what the page held. With
    ``controls=False`` only a NUL counts (a whole page: a stray control character in
    a script is no reason to refuse it; the article's own text is checked by
    :func:`extract_article`). ``seed=True``: the caller knows ``text`` is in seed format
    (crawler.normalise.seed_proven), which holds no control character: none is searched."""
    if not seed:
        control = control_problem(text, None if controls else _NUL)
        if control:
            return control
    return _garbled(text)


def _garbled(text: str) -> str | None:
    if "\ufffd" in text:
        return "replacement characters (U+FFFD) in the text"
    if any(c in text for c in _MOJIBAKE_FIRST) and _MOJIBAKE.search(text):
        return "mojibake in the text"
    return None


# ---------------------------------------------------------------------------------------
# Blocked and challenge pages
# ---------------------------------------------------------------------------------------

BLOCK_STATUSES = frozenset({403, 412, 420, 429})
# Case-sensitive on purpose: a case-insensitive scan of 64 KB per response cost 1.6 ms. Each
# alternative starts with a literal character (not [cC]), so that re looks for those
# characters alone before trying the pattern: 0.18 ms instead of 0.54 ms per page.
_CHALLENGE = re.compile(
    r"captcha[pP]age|Captcha[pP]age|seccaptcha\.haplat\.net|comImageValidate|\$_ts\s*=|FSSBBIl1UgzbN7N80S|"
    r"_\$[a-zA-Z]{2}\s*=\s*window|请开启JavaScript并刷新该页|安全验证|访问验证|滑动验证",
)


# What every match of _CHALLENGE's alternatives holds, by group: a page that lacks one
# string of each group cannot match, and is let through without re's scan (0.16 ms per
# page: re tests each character against the alternatives' first characters). A single
# character first where it helps: str's search for one character is a memchr.
_CHALLENGE_NEEDS: tuple[tuple[str, ...], ...] = (
    ("aptcha",),  # captcha[pP]age, Captcha[pP]age, seccaptcha\.haplat\.net
    ("V", "comImageValidate"),
    ("$",),  # \$_ts\s*=, _\$[a-zA-Z]{2}\s*=\s*window
    ("B", "FSSBBIl1UgzbN7N80S"),
    ("请开启JavaScript并刷新该页",),
    ("验证",),  # 安全验证, 访问验证, 滑动验证
)


def _holds(text: str, needle: str) -> bool:
    """``needle in text``; a Chinese needle is looked for by its first character (a memchr
    that finds the few places to compare), 100x faster than str's search for the pair."""
    if needle.isascii() or len(needle) == 1:
        return needle in text
    first, rest = needle[0], needle[1:]
    at = text.find(first)
    while at >= 0:
        if text.startswith(rest, at + 1):
            return True
        at = text.find(first, at + 1)
    return False


def detect_block(status: int, body: bytes) -> str | None:
    """A reason when a response is an anti-bot block or challenge rather than content."""
    head = body[:65536].decode("utf-8", "ignore")
    may_match = any(all(_holds(head, s) for s in needs) for needs in _CHALLENGE_NEEDS)
    m = _CHALLENGE.search(head) if may_match else None
    if status in BLOCK_STATUSES:
        return f"HTTP {status}" + (f" with a challenge page ({m.group(0)})" if m else "")
    if m:
        return f"challenge page ({m.group(0)})"
    return None


# ---------------------------------------------------------------------------------------
# Which titles are 巡视整改 notices
# ---------------------------------------------------------------------------------------

_NOT_NOTICE = re.compile(
    r"召开|动员|部署会|推进会|进驻|培训|座谈|民主生活会|专题会|答记者问|解读|评论|述评"
)


def classify_title(title: str | None) -> str:
    """``"notice"``, ``"maybe"`` (a truncated title worth fetching) or ``"no"``.

    A rectification notice speaks of 巡视 (not only 巡察) and of 整改, and is a report or
    announcement (通报, 情况, 公告, 公布); 巡视反馈, 进驻 and 动员部署 news are not.
    """
    if not title:
        return "no"
    t = clean_line(title)
    if "巡视" not in t or _NOT_NOTICE.search(t):
        return "no"
    if "整改" in t and re.search(r"通报|情况|公告|公布|报告", t):
        return "notice"
    if t.endswith(("...", "…", "..")):
        return "maybe"
    return "no"


# ---------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------

_DATE = re.compile(
    r"(?P<y>(?:19|20)\d{2})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:\s*(?:T|\s)?\s*(?P<H>\d{1,2})\s*[:时]\s*(?P<M>\d{2})(?:\s*[:分]\s*(?P<S>\d{2}))?)?"
)


def parse_datetime(text: str | None) -> tuple[datetime, bool] | None:
    """The first date (and time) in ``text`` as Asia/Shanghai time, and whether it had a time."""
    if not text:
        return None
    m = _DATE.search(clean_line(text))
    if not m:
        return None
    try:
        has_time = m.group("H") is not None
        value = datetime(
            int(m.group("y")),
            int(m.group("m")),
            int(m.group("d")),
            int(m.group("H") or 0),
            int(m.group("M") or 0),
            int(m.group("S") or 0),
            tzinfo=SHANGHAI,
        )
    except ValueError:
        return None
    return value, has_time


# ---------------------------------------------------------------------------------------
# Field limits (titles in list pages and articles)
# ---------------------------------------------------------------------------------------


# Longest field values kept: a real title is under 200 characters, a source under 50.
# A longer one (a 1 MB <h1>) is cut here, at extraction, marked with "…", and the
# Article says which fields were cut; the body text is never cut.
TITLE_MAX = 500
SOURCE_MAX = 200


def cap_field(value: str | None, limit: int) -> str | None:
    """``value`` cut to ``limit`` characters (the last one "…") when longer."""
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"
