"""The facts a rectification notice states: round, group, unit, dates and counts (pure).

``extract_facts(text, title, published)`` reads a seed-format text and returns::

    {"kind": "巡视", "level": "省委", "round": None, "group": "省委第五巡视组",
     "inspected_unit": "杭州市拱墅区", "inspection_start": "2022-08-05",
     "inspection_end": "2022-11-04", "feedback_date": "2023-01-03",
     "counts": {"party_discipline": 8, ...}, "evidence": {"group": "<sentence>", ...}}

Every key is present; a value is None (a count is absent) when the text does not state it
plainly. The rules never guess: a count written for two things at once (党纪政务处分27人,
诫勉和组织处理19人), a count of meetings or study sessions, two different numbers for one
key, or a phrase the rules do not know give no value rather than a wrong one. Sub-counts in
brackets or after 其中 do not replace a total. Years missing from a date come from the other
dates of the text, then from the publish date (an event is never after its publication).
Dates are ``YYYY-MM-DD``, or ``YYYY-MM`` when the text gives only the month; vague parts
of a month (中旬, 底) give no date. Money is in 万元 (亿元 and 元 converted).

Chinese numerals in counts (诫勉谈话两人) go through cn2an, imported only when one is met.
Traditional characters (mirror sites) are mapped one to one onto simplified ones before
matching, so evidence and values are cut from the text as written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

SCALAR_KEYS = (
    "kind",
    "level",
    "round",
    "group",
    "inspected_unit",
    "inspection_start",
    "inspection_end",
    "feedback_date",
)
COUNT_KEYS = (
    "problems",
    "problems_rectified",
    "measures",
    "measures_done",
    "cases_filed",
    "party_discipline",
    "government_discipline",
    "judicial_referrals",
    "admonished",
    "organisational_handling",
    "rules",
    "recovered_wan_yuan",
)
# What each key is called in reports ("党纪处分 11 → 12").
LABELS = {
    "kind": "巡视/巡察",
    "level": "派出",
    "round": "轮次",
    "group": "巡视(察)组",
    "inspected_unit": "被巡视(察)单位",
    "inspection_start": "进驻",
    "inspection_end": "结束",
    "feedback_date": "反馈",
    "problems": "反馈问题",
    "problems_rectified": "已整改问题",
    "measures": "整改措施",
    "measures_done": "已完成措施",
    "cases_filed": "立案",
    "party_discipline": "党纪处分",
    "government_discipline": "政务处分",
    "judicial_referrals": "移送司法",
    "admonished": "诫勉",
    "organisational_handling": "组织处理",
    "rules": "制度",
    "recovered_wan_yuan": "挽回经济损失(万元)",
}

# Traditional -> simplified for the characters the rules read (one code point each, so
# offsets in the mapped text are offsets in the original).
_T2S = str.maketrans(
    "視組處紀務誡織題項個輪屆對開進饋區縣萬億損經濟黨問違員檢關機會議條製體設於為與並實據統們內級"
    "書嚴團舉決現這動發導續應將還當點歸時間節計額資費兩總結辦銷號類屬轄專規範歷審調責頭"
    "執離門紹幹氣議紀號報僅從東車軍農傳勢權",
    "视组处纪务诫织题项个轮届对开进馈区县万亿损经济党问违员检关机会议条制体设于为与并实据统们内级"
    "书严团举决现这动发导续应将还当点归时间节计额资费两总结办销号类属辖专规范历审调责头"
    "执离门绍干气议纪号报仅从东车军农传势权",
)

# Any of the mapped traditional characters: most texts have none and skip the mapping.
_TRADITIONAL = re.compile("[" + "".join(ch for ch in map(chr, _T2S) if ch != _T2S[ord(ch)]) + "]")

_CN_DIGITS = "零〇一二两三四五六七八九十百千"
_NUM = rf"(?<![\d.{_CN_DIGITS}])(?P<n>\d+(?:\.\d+)?|[{_CN_DIGITS}]+)"
_INT = rf"(?<![\d.{_CN_DIGITS}])(?P<n>\d+|[{_CN_DIGITS}]+)"
_LEVEL = r"(?:中央|自治区党委|省委|市委|州委|盟委|区委|县委|旗委)"
_ORD = rf"[{_CN_DIGITS}\d]+"

_SENTENCE_ENDS = "。;!?\n"
_MAX_SENTENCE = 400
# The last sentence end before a place (greedy: backtracks from the place), the next after.
_LAST_END = re.compile(rf"(?s).*[{_SENTENCE_ENDS}]")
_END = re.compile(rf"[{_SENTENCE_ENDS}]")
_CLAUSE_SEP = "。;,、()\n"
_CLAUSE_SPLIT = re.compile(r"[。;,、()\n]")

# -- the opening: group, unit, kind, level, round ----------------------------------------

_GROUP = re.compile(
    rf"(?P<level>{_LEVEL})(?:第{_ORD}(?:[、,和]第?{_ORD})*|机动(?:第?{_ORD})?|专项(?:第?{_ORD})?)"
    rf"(?P<kind>巡视|巡察)(?:{_ORD})?组"
    rf"|(?P<level2>{_LEVEL}){_ORD}个(?P<kind2>巡视|巡察)组"
    rf"|{_ORD}个(?P<level3>{_LEVEL})(?P<kind3>巡视|巡察)组"
)
_GENERIC_GROUP = re.compile(rf"(?P<level>{_LEVEL})(?P<kind>巡视|巡察)组")
_DEPLOY = re.compile(rf"根据(?P<level>{_LEVEL})(?:巡视工作领导小组|巡察工作领导小组)?的?统一部署")
_OPENING = re.compile(
    r"(?:巡视|巡察)组|(?<![针面应相绝])对[^。]{1,60}?(?:开展|进行|实施)了?[^。,]{0,10}?(?:巡视|巡察)"
)
_UNIT = re.compile(
    r"(?:(?<![针面应相绝])对|进驻)(?P<unit>[^,。;()“”\s对]{1,40}?)(?:党组织)?(?:开展|进行|实施)了?"
    r"(?:为期[^,。]{1,8}?的)?[\u4e00-\u9fff]{0,8}?(?:巡视|巡察)"
)
_KIND_VERB = re.compile(r"(?:开展|进行|实施)了?[^,。;]{0,10}?(巡视|巡察)")
_ROUND = re.compile(
    rf"(?:{_ORD}届(?:[\u4e00-\u9fff]{{1,5}}?)?)?{_LEVEL}第{_ORD}轮"
    rf"|\d{{4}}年{_LEVEL}巡视组第{_ORD}轮"
)
_ROUND_LEVEL = re.compile(_LEVEL)
_TITLE_LEVEL = re.compile(rf"({_LEVEL})(?:第{_ORD}轮)?(?:常规|专项)?(?:巡视|巡察)")

# -- dates ---------------------------------------------------------------------------------

_DATE_TOKEN = (
    r"(?:\d{4}年|今年|去年|上年|本年|当年)?\d{1,2}月(?:\d{1,2}日|份)?(?:上旬|中旬|下旬|初|底|末)?"
)
_DATE_PARTS = re.compile(
    r"(?:(?P<y>\d{4})年|(?P<rel>今年|去年|上年|本年|当年))?(?P<m>\d{1,2})月"
    r"(?:(?P<d>\d{1,2})日|份)?(?P<vague>上旬|中旬|下旬|初|底|末)?"
)
_RANGE_SEP = r"(?:至|到|——|—|–|-|~|～)"
_RANGE = re.compile(rf"(?P<a>{_DATE_TOKEN})起?\s*{_RANGE_SEP}\s*(?P<b>{_DATE_TOKEN}|今)")
_DATE_ANY = re.compile(_DATE_TOKEN)
_RANGE_SEP_AT = re.compile(rf"\s*{_RANGE_SEP}")
_RANGE_SEP_END = re.compile(rf"{_RANGE_SEP}\s*$")
_FEEDBACK = re.compile(r"反馈")

# -- counts --------------------------------------------------------------------------------

_PEOPLE = r"(?:人次|人|名)"
_FILL = r"(?:共计|共|累计|合计|总计)?"

# Patterns per key; each has a group "n". ``conflicts``: words that, in the same clause,
# mean the number counts two things at once.
_COUNT_RULES_SRC: dict[str, tuple[list[re.Pattern[str]], str]] = {
    "party_discipline": (
        [
            re.compile(rf"党纪处分{_FILL}{_INT}{_PEOPLE}"),
            re.compile(rf"给予{_INT}{_PEOPLE}[^\d,。;、()]{{0,6}}?党纪处分"),
            re.compile(rf"{_INT}{_PEOPLE}[^\d,。;、()]{{0,8}}?(?:受到|被给予|给予)党纪处分"),
        ],
        "政务|政纪|诫勉|组织处理|问责|立案|移送|处理|追责",
    ),
    "government_discipline": (
        [
            re.compile(rf"(?:政务|政纪)处分{_FILL}{_INT}{_PEOPLE}"),
            re.compile(rf"给予{_INT}{_PEOPLE}[^\d,。;、()]{{0,6}}?(?:政务|政纪)处分"),
            re.compile(
                rf"{_INT}{_PEOPLE}[^\d,。;、()]{{0,8}}?(?:受到|被给予|给予)(?:政务|政纪)处分"
            ),
        ],
        "党纪|诫勉|组织处理|问责|立案|移送|处理|追责",
    ),
    "cases_filed": (
        [re.compile(rf"立案(?:审查调查|审查|调查|查处)?{_FILL}{_INT}(?:件|起|人次|人|名)")],
        "处分|诫勉|组织处理|问责|移送|结案|了结|审结|处置|谈话|函询",
    ),
    "judicial_referrals": (
        [
            re.compile(
                rf"移送(?:司法机关|司法|检察机关|检察院)[^\d,。;、()]{{0,8}}?{_FILL}{_INT}"
                rf"(?:人次|人|名|件|起)"
            )
        ],
        "处分|诫勉|组织处理|问责|立案",
    ),
    "admonished": (
        [
            re.compile(rf"诫勉(?:谈话)?(?:处理)?{_FILL}{_INT}{_PEOPLE}"),
            re.compile(rf"对{_INT}{_PEOPLE}[^\d,。;、()]{{0,8}}?(?:进行|予以|给予)诫勉"),
        ],
        "组织处理|处分|问责|立案|移送|提醒|函询|批评|约谈",
    ),
    "organisational_handling": (
        [
            re.compile(rf"组织处理{_FILL}{_INT}{_PEOPLE}"),
            re.compile(rf"对{_INT}{_PEOPLE}[^\d,。;、()]{{0,8}}?(?:进行|予以|作出|给予)组织处理"),
        ],
        "诫勉|处分|问责|立案|移送",
    ),
    "rules": (
        [
            re.compile(
                r"(?:建立|新建|制定|出台|完善|修订|修改|健全|新增|建章立制)[^\d,。;、()《》]{0,6}?"
                rf"制度(?:机制|规定|文件)?{_FILL}{_INT}(?:项|个|件|条|部)"
            ),
            re.compile(
                r"(?:建立|新建|制定|出台|完善|修订|健全|新增)[^\d,。;、()《》]{0,4}?"
                rf"{_INT}(?:项|个|件|条|部)(?!方面|类|大类|领域)(?:[^\d,。;、()《》]{{0,4}}?)制度(?!建设)"
            ),
        ],
        "措施|问题|处分",
    ),
    "recovered_wan_yuan": (
        [
            re.compile(
                r"挽回(?:其他|直接|各类)?(?:经济)?损失(?:共计|共|合计|约|达)?"
                rf"{_NUM}(?P<unit>万|亿)?余?元"
            )
        ],
        "",
    ),
}

_COUNT_RULES = {
    key: (patterns, re.compile(conflicts) if conflicts else None)
    for key, (patterns, conflicts) in _COUNT_RULES_SRC.items()
}
# A word each key's patterns need, to skip the patterns cheaply on most sentences.
_COUNT_WORDS = {
    "party_discipline": "党纪处分",
    "government_discipline": "处分",
    "cases_filed": "立案",
    "judicial_referrals": "移送",
    "admonished": "诫勉",
    "organisational_handling": "组织处理",
    "rules": "制度",
    "recovered_wan_yuan": "挽回",
}
_PROBLEMS = [
    re.compile(r"(?<![\d.])(?P<n>\d+)(?:个|项|条)(?:具体)?问题(?!线索|隐患|清单|台账)"),
    re.compile(rf"反馈(?:的|指出的)(?P<n>[{_CN_DIGITS}]+)(?:个|项|条)(?:具体)?问题"),
    re.compile(rf"反馈(?:的|意见)?(?:具体)?问题{_FILL}{_INT}(?:个|项|条)"),
]
_PROBLEMS_CONTEXT = re.compile(r"反馈|巡视|巡察|指出|交办")
_MEASURES_CONTEXT = re.compile(r"整改")
# A done count that names what is done (已完成整改问题31个, 完成整改措施106条).
_EXPLICIT_DONE = (
    (
        "problems_rectified",
        "问题>",
        re.compile(
            r"(?:(?:已经?|累计|共)(?:完成整改|整改完成|整改到位|整改销号|整改|完成)"
            r"|(?<!基本)(?<!未)(?:完成整改|整改完成))了?(?:具体)?问题"
            rf"{_INT}(?:个|项|条)"
        ),
    ),
    (
        "measures_done",
        "措施",
        re.compile(
            rf"(?:(?:已经?|累计|共)(?:完成|落实)|(?<!基本)(?<!未)完成)了?整改(?:措施|举措){_INT}(?:个|项|条)"
        ),
    ),
)
_WINDOW = 24
_PROBLEMS_NOT_BEFORE = re.compile(r"已|完成|整改|销号|解决|发现|排查|梳理|主动|共性|新增|涉及")
_MEASURES = [
    re.compile(rf"(?<!完成)(?<!已)整改(?:措施|举措){_FILL}{_INT}(?:条|项|个)"),
    re.compile(rf"(?<![\d.]){_INT}(?:条|项|个)(?:具体)?整改(?:措施|举措)"),
]
# Sentences about other problems than the ones this inspection fed back.
_OTHER_PROBLEMS = re.compile(r"共性|认领|主动发现|自查发现|延伸发现|上一?轮|历次|以往|往届")
_DONE_VERB = (
    r"^(?:目前|当前|现|其中|共)?(?:已经?|均已|现已)(?:全部)?"
    r"(?:整改完成|完成整改|整改到位|整改|完成|办结|销号|落实)了?"
    r"|^(?:目前|当前|其中)?(?:完成整改|整改完成|整改到位)了?"
)
# A 'done' count right after a total: of problems (已完成整改19个), of measures (已经完成120条).
_DONE = {
    "problems": re.compile(rf"(?:{_DONE_VERB})(?:问题)?{_INT}(?:个|项|条)"),
    "measures": re.compile(rf"(?:{_DONE_VERB})(?:整改措施|措施|举措)?{_INT}(?:个|项|条)"),
}
_NOT_DONE = re.compile(r"基本|未|正在|尚未|部分|阶段|持续|长期|推进|整改中")
_DONE_STOP = re.compile(r"措施|举措|制度|处分|立案|诫勉|问题|组织处理|移送")
_RULES_SPLIT = re.compile(
    rf"(?:已经?)?(?:修订完善|修订|完善|修改|废止|清理){_INT}(?:项|个|件|条|部)"
)


def _number(raw: str) -> int | float | None:
    if raw.isascii():
        return int(raw) if raw.isdigit() else float(raw)
    import cn2an  # 0.2 s to import: only when a count is written in Chinese numerals

    try:
        value = cn2an.cn2an(raw, "normal")
    except (ValueError, KeyError):
        return None
    return int(value) if float(value).is_integer() else float(value)


def _parse_date(token: str) -> dict[str, Any] | None:
    m = _DATE_PARTS.fullmatch(token)
    if m is None:
        return None
    return {
        "y": int(m["y"]) if m["y"] else None,
        "rel": m["rel"],
        "m": int(m["m"]),
        "d": int(m["d"]) if m["d"] else None,
        "vague": bool(m["vague"]),
    }


def _published_date(published: Any) -> date | None:
    if published is None:
        return None
    if isinstance(published, date):
        return published
    try:
        return date.fromisoformat(str(published)[:10])
    except ValueError:
        return None


def _relative_year(rel: str | None, pub: date | None) -> int | None:
    if rel is None or pub is None:
        return None
    return pub.year - 1 if rel in ("去年", "上年") else pub.year


def _fill_range(a: dict[str, Any] | None, b: dict[str, Any] | None) -> None:
    """A range's missing year from its other end (2020年11月10日至1月13日 ends in 2021)."""
    if a is None or b is None:
        return
    if a["year"] is None and b["year"] is not None:
        a["year"] = b["year"] - (0 if _md(a) <= _md(b) else 1)
    if b["year"] is None and a["year"] is not None:
        b["year"] = a["year"] + (0 if _md(a) <= _md(b) else 1)


def _link(period_end: dict[str, Any] | None, fb: dict[str, Any] | None) -> None:
    """Feedback comes after the inspection: each gives the other its missing year."""
    _fill_range(period_end, fb)


def _md(d: dict[str, Any]) -> tuple[int, int]:
    return (d["m"], d["d"] or 0)


def _iso(d: dict[str, Any] | None) -> str | None:
    if d is None or d.get("year") is None or d["vague"]:
        return None
    if not 1 <= d["m"] <= 12 or not 1949 <= d["year"] <= 2099:
        return None  # no month 13, no inspection in 1234
    if d["d"] is None:
        return f"{d['year']:04d}-{d['m']:02d}"
    try:
        return date(d["year"], d["m"], d["d"]).isoformat()
    except ValueError:
        return None


class _Text:
    """The text as matched (simplified, NFKC) with sentence boundaries, and the original."""

    def __init__(self, original: str) -> None:
        if not unicodedata.is_normalized("NFKC", original):
            original = unicodedata.normalize("NFKC", original)
        self.original = original
        self.text = original.translate(_T2S) if _TRADITIONAL.search(original) else original
        self._bounds: dict[int, tuple[int, int]] = {}

    def sentence_bounds(self, pos: int) -> tuple[int, int]:
        """The sentence around ``pos``; a run of text without a full stop counts as
        sentences of at most _MAX_SENTENCE characters each side (hostile pages stay linear)."""
        text = self.text
        floor = max(0, pos - _MAX_SENTENCE)
        last = _LAST_END.match(text, floor, pos)  # one regex call, not five rfinds
        start = last.end() if last else floor
        hit = self._bounds.get(start)
        if hit is None:
            ceiling = min(len(text), pos + _MAX_SENTENCE)
            end = _END.search(text, pos, ceiling)
            hit = self._bounds[start] = (start, end.start() if end else ceiling)
        return hit

    def sentence(self, pos: int) -> str:
        start, end = self.sentence_bounds(pos)
        return self.original[start:end].strip()


def _opening(t: _Text) -> tuple[int, int] | None:
    """The span of the paragraph that opens the notice (the one naming the group/unit)."""
    pos = 0
    for n, line in enumerate(t.text.split("\n", 12)):  # the first 12 lines, not all
        if n >= 12:
            break
        # the opening is prose (a title line naming the group is not)
        if _OPENING.search(line) and ("。" in line or len(line) > 60):
            return pos, pos + len(line)
        pos += len(line) + 1
    return None


def _next_paragraph(t: _Text, end: int) -> tuple[int, int]:
    nxt = t.text.find("\n", end + 1)
    return end, nxt if nxt >= 0 else len(t.text)


def _period_and_feedback(
    t: _Text, span: tuple[int, int] | None, pub: date | None, facts: dict[str, Any]
) -> None:
    if span is None:
        return
    ev = facts["evidence"]
    start_d = end_d = fb = None
    open_text = t.text[span[0] : span[1]]
    rng = _RANGE.search(open_text)
    if rng:
        start_d = _parse_date(rng["a"])
        end_d = _parse_date(rng["b"]) if rng["b"] != "今" else None
    # The feedback: the date closest before 反馈, in the opening or the paragraph after it.
    fb_pos = None
    for lo, hi in (span, _next_paragraph(t, span[1])):
        for m in _FEEDBACK.finditer(t.text, lo, hi):
            s_lo, _ = t.sentence_bounds(m.start())
            s_lo = max(s_lo, lo)
            dates = list(_DATE_ANY.finditer(t.text, s_lo, m.start()))
            if not dates:
                continue
            last = dates[-1]
            if rng and span[0] + rng.start() <= last.start() < span[0] + rng.end():
                continue  # the inspection period, not the feedback
            before = t.text[max(s_lo, last.start() - 2) : last.start()]
            if _RANGE_SEP_AT.match(t.text, last.end()) or _RANGE_SEP_END.search(before):
                fb_pos = -1  # feedback given over several days: no one date
            else:
                fb = _parse_date(last.group())
                fb_pos = m.start()
            break
        if fb_pos is not None:
            break
    # Years: stated, 今年/去年 (publish year), from each other, then from the publish date.
    for d in (start_d, end_d, fb):
        if d is not None:
            d["year"] = d["y"] or _relative_year(d["rel"], pub)
    _fill_range(start_d, end_d)
    period_end = end_d or start_d
    _link(period_end, fb)
    if fb and fb["year"] is None and pub is not None:
        fb["year"] = pub.year - (0 if _md(fb) <= (pub.month, pub.day) else 1)
    _link(period_end, fb)
    if period_end and period_end["year"] is None and pub is not None:
        period_end["year"] = pub.year - (0 if _md(period_end) <= (pub.month, pub.day) else 1)
    _fill_range(start_d, end_d)
    if rng:
        sentence = t.sentence(span[0] + rng.start())
        for key, d in (("inspection_start", start_d), ("inspection_end", end_d)):
            facts[key] = _iso(d)
            if facts[key]:
                ev[key] = sentence
    if fb and fb_pos is not None and fb_pos >= 0:
        facts["feedback_date"] = _iso(fb)
        if facts["feedback_date"]:
            ev["feedback_date"] = t.sentence(fb_pos)


def _identity(t: _Text, span: tuple[int, int] | None, title: str, facts: dict[str, Any]) -> None:
    ev = facts["evidence"]
    title_t = unicodedata.normalize("NFKC", title or "")
    title_s = title_t.translate(_T2S)
    lo, hi = span if span else (0, 0)
    g = _GROUP.search(t.text, lo, hi) if span else None
    if g:
        facts["group"] = t.original[g.start() : g.end()]
        facts["level"] = g["level"] or g["level2"] or g["level3"]
        facts["kind"] = g["kind"] or g["kind2"] or g["kind3"]
        sentence = t.sentence(g.start())
        for key in ("group", "level", "kind"):
            ev[key] = sentence
    if span and facts["level"] is None:
        for rx in (_GENERIC_GROUP, _DEPLOY):
            m = rx.search(t.text, lo, hi)
            if m:
                facts["level"] = m["level"]
                ev["level"] = t.sentence(m.start())
                break
    if span and facts["kind"] is None:
        generic = _GENERIC_GROUP.search(t.text, lo, hi)
        verb = _KIND_VERB.search(t.text, lo, hi)
        if generic:
            facts["kind"] = generic["kind"]
            ev["kind"] = t.sentence(generic.start())
        elif verb:
            facts["kind"] = verb.group(1)
            ev["kind"] = t.sentence(verb.start())
    # The round: the opening, the first lines, then the title.
    head_end = max(hi, min(len(t.text), 400))
    # every round names its 轮: a cheap find spares the slow search (no literal to start from)
    r = _ROUND.search(t.text, 0, head_end) if t.text.find("轮", 0, head_end) >= 0 else None
    if r:
        facts["round"] = t.original[r.start() : r.end()]
        ev["round"] = t.sentence(r.start())
    else:
        r = _ROUND.search(title_s)
        if r:
            facts["round"] = title_t[r.start() : r.end()]
            ev["round"] = title_t
    if facts["level"] is None and facts["round"]:
        lv = _ROUND_LEVEL.search(facts["round"].translate(_T2S))
        if lv:
            facts["level"] = lv.group()
            ev["level"] = ev["round"]
    if facts["level"] is None:
        lv = _TITLE_LEVEL.search(title_s)
        if lv:
            facts["level"] = lv.group(1)
            ev["level"] = title_t
    if facts["kind"] is None:
        kinds = {k for k in ("巡视", "巡察") if k in title_s}
        if len(kinds) == 1:
            facts["kind"] = kinds.pop()
            ev["kind"] = title_t
    if span:
        u = _UNIT.search(t.text, lo, hi)
        if u:
            unit = t.original[u.start("unit") : u.end("unit")]
            simple = u["unit"]
            several = _SEVERAL.search(simple)
            if (
                not simple.startswith("我")
                and "、" not in simple
                and not several
                and not _LEVEL_ONLY.fullmatch(simple)
            ):
                facts["inspected_unit"] = unit
                ev["inspected_unit"] = t.sentence(u.start())


_SEVERAL = re.compile(rf"等{_ORD}(?:家|个|所|类)|等单位|等部门")
_DIGIT = re.compile(r"\d")
_LEVEL_ONLY = re.compile(r"(?:全省|全市|全区|全县|各级|部分|有关|相关)[^。]*")


def _clause_start(text: str, lo: int, pos: int) -> int:
    """Where the clause holding ``pos`` starts: after the last separator, reaching back over
    ``、``-joined parts without a number (给予党纪、政务处分27人 is one clause)."""
    i = pos
    while True:
        j = i - 1
        while j >= lo and text[j] not in _CLAUSE_SEP:
            j -= 1
        if j < lo:
            return lo
        if text[j] == "、":
            k = j - 1
            while k >= lo and text[k] not in _CLAUSE_SEP:
                k -= 1
            if not _DIGIT.search(text, k + 1, j):
                i = j
                continue
        return j + 1


def _in_brackets(text: str, lo: int, pos: int) -> bool:
    """Whether ``pos`` is inside brackets opened in its sentence (其中…, 党内警告18人…)."""
    return text.rfind("(", lo, pos) > text.rfind(")", lo, pos)


def _after_done(
    text: str, end: int, s_hi: int, done_rx: re.Pattern[str]
) -> tuple[int | float | None, int]:
    """A 'done' count in the clauses right after a total (已完成整改19个, 已经完成120条)."""
    pos = end
    for _ in range(5):
        nxt = _CLAUSE_SPLIT.search(text, pos, s_hi)
        clause_end = nxt.start() if nxt else s_hi
        clause = text[pos:clause_end]
        m = done_rx.match(clause)
        if m:
            if not _NOT_DONE.search(clause[: m.end()]):
                return _number(m["n"]), pos
        elif pos != end and _DONE_STOP.search(clause):
            break
        if nxt is None or text[nxt.start()] in "。;\n":
            break
        pos = clause_end + 1
    return None, -1


class _Counts:
    def __init__(self) -> None:
        self.found: dict[str, list[tuple[Any, bool, int]]] = {}

    def add(self, key: str, value: Any, primary: bool, pos: int) -> None:
        self.found.setdefault(key, []).append((value, primary, pos))

    def resolve(self, t: _Text, facts: dict[str, Any]) -> None:
        for key in COUNT_KEYS:
            cands = self.found.get(key)
            if not cands:
                continue
            chosen = [c for c in cands if c[1]] or cands
            values = {c[0] for c in chosen}
            if len(values) != 1 or None in values:
                continue  # two different numbers, or one we refused: no value
            facts["counts"][key] = chosen[0][0]
            facts["evidence"][key] = t.sentence(chosen[0][2])


_DIGITISH = re.compile(rf"[\d{_CN_DIGITS}]")
_UNITS = "个项条"
# Anchors with a suffix keep only some places: "<" a count unit just before the word (57个
# 具体问题), ">" a number just after it (整改问题31个).
_ANCHOR_FILTERS: dict[str, Callable[[str, int, int], bool]] = {
    "<": lambda text, i, n: text[i - 1 : i] in _UNITS or text[i - 3 : i - 2] in _UNITS,
    ">": lambda text, i, n: (
        text[i + n : i + n + 1].isdigit() or text[i + n : i + n + 1] in _CN_DIGITS
    ),
}


# The words the count rules start from or need, found in one pass over the text (issue 16:
# one alternation costs what ~8 separate scans of the text cost, and there were ~20). Each
# starts with its own character, and none can start inside an occurrence of another except
# 措施 inside 举措 (举措施), added after the pass; 党纪处分 is 处分 after 党纪.
_WORDS = (
    "处分",
    "立案",
    "移送",
    "诫勉",
    "组织处理",
    "制度",
    "挽回",
    "问题",
    "措施",
    "举措",
    "给予",
    "反馈",
)
_WORDS_RX = re.compile("|".join(_WORDS))


def _word_positions(text: str) -> dict[str, list[int]]:
    """Every place each of _WORDS (and 党纪处分) occurs in ``text``, ascending."""
    found: dict[str, list[int]] = {w: [] for w in _WORDS}
    for m in _WORDS_RX.finditer(text):
        found[m.group()].append(m.start())
    found["党纪处分"] = [q - 2 for q in found["处分"] if q >= 2 and text.startswith("党纪", q - 2)]
    inner = [p + 1 for p in found["举措"] if text.startswith("措施", p + 1)]
    if inner:
        found["措施"] = sorted(found["措施"] + inner)
    return found


def _places(text: str, words: dict[str, list[int]], word: str) -> list[int]:
    """``words[word]``; a word that _WORDS does not hold (a rule added since) is found by
    str.find, once per text."""
    found = words.get(word)
    if found is None:
        found = words[word] = []
        i = text.find(word)
        while i >= 0:
            found.append(i)
            i = text.find(word, i + 1)
    return found


def _how(rx: re.Pattern[str], anchor: str) -> tuple[str, str]:
    """How ``_matches`` finds the matches of a pattern holding the word ``anchor``:
    ("near", anchor) around each place of the anchor, ("at", word) at each place of the
    word the pattern starts with, or ("scan", anchor) a scan of the text when it holds the
    anchor at all."""
    if rx.pattern.startswith("("):
        return "near", anchor
    word = next((w for w in ("党纪处分", *_WORDS) if rx.pattern.startswith(w)), None)
    if word is not None and _starts_with_literal(rx.pattern, word):
        return "at", word
    return "scan", anchor.rstrip("<>")


def _starts_with_literal(pattern: str, word: str) -> bool:
    """Whether every match of ``pattern`` (which starts with ``word``) starts with it: no
    quantifier on its last character and no choice at the top level of the pattern."""
    if pattern[len(word) : len(word) + 1] in ("?", "*", "+", "{", "|"):
        return False
    depth, i = 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 1
        elif c == "[":  # a class, up to its closing bracket (a first one is a literal)
            i += 2 if pattern[i + 1 : i + 2] == "^" else 1
            i += 1 if pattern[i : i + 1] == "]" else 0
            while i < len(pattern) and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            return False
        i += 1
    return True


def _matches(
    text: str,
    rx: re.Pattern[str],
    anchor: str,
    where: dict[str, list[int]],
    words: dict[str, list[int]] | None = None,
    how: tuple[str, str] | None = None,
) -> Iterator[re.Match[str]]:
    """The matches of ``rx``, a pattern holding the word ``anchor``.

    A pattern that starts with a word gives what ``rx.finditer(text)`` gives, tried only
    where that word is (``words``: ``_word_positions(text)``, computed when not given),
    or not at all when the anchor is nowhere in the text. One that starts with a number
    or a choice of verbs is tried only around each place the anchor occurs, when a digit
    is near it: a few short searches, not a slow scan.
    """
    if words is None:
        words = _word_positions(text)
    way, word = how or _how(rx, anchor)
    if way == "at":  # what finditer finds: the leftmost match, then on from its end
        end = 0
        for i in _places(text, words, word):
            if i >= end:
                m = rx.match(text, i)
                if m:
                    end = m.end()
                    yield m
        return
    if way == "scan":
        if _places(text, words, word):
            yield from rx.finditer(text)
        return
    positions = where.get(anchor)
    if positions is None:  # once per text and anchor: the places with a digit near them
        positions = where[anchor] = []
        word = anchor.rstrip("<>")
        keep = _ANCHOR_FILTERS.get(anchor[len(word) :])
        size = len(word) + _WINDOW
        for i in _places(text, words, word):
            if (keep is None or keep(text, i, len(word))) and _DIGITISH.search(
                text, max(0, i - _WINDOW), i + size
            ):
                positions.append(i)
    anchor = anchor.rstrip("<>")
    last_start = -1
    for i in positions:
        for m in rx.finditer(text, max(0, i - _WINDOW), i + len(anchor) + _WINDOW):
            if m.start() <= i < m.end() and m.start() > last_start:
                last_start = m.start()
                yield m


def _scan_counts(t: _Text, facts: dict[str, Any]) -> None:
    text = t.text
    counts = _Counts()
    where: dict[str, list[int]] = {}
    words = _word_positions(text)
    for key, rx, anchor, conflict_rx, how in _COUNT_TRIES:
        for m in _matches(text, rx, anchor, where, words, how):
            s_lo, s_hi = t.sentence_bounds(m.start())
            clause_lo = _clause_start(text, s_lo, m.start())
            head = text[clause_lo : m.end()]
            value = _number(m["n"])
            if conflict_rx is not None and conflict_rx.search(head):
                value = None
            elif key == "recovered_wan_yuan" and value is not None:
                # Chinese numerals (挽回经济损失八十四万余元) as cn2an read them
                amount = Decimal(m["n"]) if m["n"].isascii() else Decimal(str(value))
                amount *= {"万": 1, "亿": 10000}.get(m["unit"] or "", Decimal("0.0001"))
                value = int(amount) if amount == amount.to_integral() else float(amount)
            elif key == "rules":
                nxt = _CLAUSE_SPLIT.search(text, m.end(), s_hi)
                if nxt and text[nxt.start()] in ",、" and _RULES_SPLIT.match(text, nxt.end(), s_hi):
                    value = None  # 新建制度152项,修订完善201项: two numbers, no total
            counts.add(key, value, _primary(text, s_lo, clause_lo, m.start()), m.start())
    for key, done_key, context, tries in _TOTAL_TRIES:
        for rx, anchor, found_key, i, how in tries:
            for m in _matches(text, rx, anchor, where, words, how):
                s_lo, s_hi = t.sentence_bounds(m.start())
                if _OTHER_PROBLEMS.search(text, s_lo, s_hi):
                    continue
                floor, ceiling = max(0, s_lo - 2000), min(len(text), s_hi + 2000)
                p_lo = text.rfind("\n", floor, s_lo) + 1 or floor
                p_hi = text.find("\n", s_hi, ceiling)
                if not context.search(text, p_lo, p_hi if p_hi >= 0 else ceiling):
                    continue  # no word of the inspection in the paragraph
                if key == "problems" and i == 0:
                    before = text[max(s_lo, m.start() - 6) : m.start()]
                    if _PROBLEMS_NOT_BEFORE.search(before):
                        continue
                clause_lo = _clause_start(text, s_lo, m.start())
                primary = _primary(text, s_lo, clause_lo, m.start())
                counts.add(found_key, _number(m["n"]), primary, m.start())
                if i >= 0:  # a total: is a done count right after it?
                    done, pos = _after_done(text, m.end(), s_hi, _DONE[key])
                    if done is not None:
                        counts.add(done_key, done, primary, pos)
    counts.resolve(t, facts)


# What _scan_counts tries, in order, each with how it is matched (worked out once: a
# pattern's hash is not cheap). The counts of their own: (key, pattern, anchor, conflicts).
_COUNT_TRIES = [
    (key, rx, _COUNT_WORDS[key], conflict_rx, _how(rx, _COUNT_WORDS[key]))
    for key, (patterns, conflict_rx) in _COUNT_RULES.items()
    for rx in patterns
]


def _total_tries(
    patterns: list[re.Pattern[str]], anchors: tuple[str, ...], key: str, done_key: str
) -> list[tuple[re.Pattern[str], str, str, int, tuple[str, str]]]:
    """A total's patterns (i: their index) and its done count's explicit ones (i = -1)."""
    tries = [(rx, a, key, i) for i, rx in enumerate(patterns) for a in anchors]
    if key == "problems":  # the number-first form: only after a count unit
        tries[0] = (tries[0][0], "问题<", key, 0)
    tries += [(rx, a, done_key, -1) for k, a, rx in _EXPLICIT_DONE if k == done_key]
    return [(rx, a, k, i, _how(rx, a)) for rx, a, k, i in tries]


# Totals and what is done of them: (key, done key, words one of which the paragraph holds, tries).
_TOTAL_TRIES = [
    (key, done_key, context, _total_tries(patterns, anchors, key, done_key))
    for patterns, anchors, key, done_key, context in (
        (_PROBLEMS, ("问题",), "problems", "problems_rectified", _PROBLEMS_CONTEXT),
        (_MEASURES, ("措施", "举措"), "measures", "measures_done", _MEASURES_CONTEXT),
    )
]


def _primary(text: str, s_lo: int, clause_lo: int, pos: int) -> bool:
    if _in_brackets(text, s_lo, pos):
        return False
    return not text.startswith("其中", clause_lo)


def empty_facts() -> dict[str, Any]:
    return {**dict.fromkeys(SCALAR_KEYS), "counts": {}, "evidence": {}}


def extract_facts(text: str, title: str | None = None, published: Any = None) -> dict[str, Any]:
    """The facts of one notice (see the module docstring); never raises on odd text."""
    facts = empty_facts()
    if not text:
        return facts
    t = _Text(text)
    pub = _published_date(published)
    span = _opening(t)
    _identity(t, span, title or "", facts)
    _period_and_feedback(t, span, pub, facts)
    if facts["kind"] is not None:  # counts only in texts about an inspection
        _scan_counts(t, facts)
    return facts


def flat(facts: dict[str, Any]) -> dict[str, Any]:
    """Scalar keys and counts in one flat mapping, without evidence (for tables and diffs)."""
    out = {k: facts.get(k) for k in SCALAR_KEYS}
    for key in COUNT_KEYS:
        out[key] = (facts.get("counts") or {}).get(key)
    return out


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """The facts that differ between two versions: [{key, old, new}] in key order."""
    a, b = flat(old), flat(new)
    return [
        {"key": k, "old": a[k], "new": b[k]} for k in (*SCALAR_KEYS, *COUNT_KEYS) if a[k] != b[k]
    ]


def change_line(change: dict[str, Any]) -> str:
    """'党纪处分 (party_discipline): 11 → 12'; a value not stated shows as '—'."""

    def shown(value: Any) -> str:
        return "—" if value is None else str(value)

    key = change["key"]
    label = change.get("label") or LABELS.get(key, key)
    return f"{label} ({key}): {shown(change['old'])} → {shown(change['new'])}"
