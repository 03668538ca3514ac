"""Administrative-division table (GB/T 2260, 1980-2024) and the matcher for a notice's unit."""

from __future__ import annotations

import csv
import functools
import gzip
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources

import ahocorasick

__all__ = [
    "LEVELS",
    "District",
    "UnitMatch",
    "divisions",
    "get_division",
    "match_notice",
    "normalize_province",
    "table_years",
]

LEVELS = ("province", "prefecture", "county")


@dataclass(frozen=True)
class District:
    code: str  # '330105'
    name: str  # '拱墅区'
    full_name: str  # '杭州市拱墅区' (province-level municipalities: '上海市黄浦区')
    level: str  # 'province' | 'prefecture' | 'county'
    province: str  # '浙江省'
    city: str | None  # '杭州市'; None for provinces and province-administered counties


@dataclass(frozen=True)
class UnitMatch:
    unit: str | None
    districts: tuple[District, ...]
    ambiguous: tuple[str, ...]


# --------------------------------------------------------------------------- table


@dataclass(frozen=True)
class _Period:
    code: str
    name: str
    level: str
    parent_code: str
    valid_from: int
    valid_to: int | None  # None: still valid in the newest table


@dataclass(frozen=True)
class _YearView:
    year: int
    by_code: dict[str, District]
    by_name: dict[str, tuple[District, ...]]
    # Codes of every ancestor (parent, grandparent), used to check "杭州市" + "西湖区" chains.
    ancestors: dict[str, frozenset[str]]


@dataclass(frozen=True)
class _Table:
    periods: tuple[_Period, ...]
    first_year: int
    last_year: int
    automaton: ahocorasick.Automaton  # every name that was ever valid -> the name


def _read_rows() -> list[dict[str, str]]:
    data = resources.files(__package__ or "store").joinpath("data")
    plain = data.joinpath("divisions.csv")
    if plain.is_file():
        payload = plain.read_bytes()
    else:
        payload = gzip.decompress(data.joinpath("divisions.csv.gz").read_bytes())
    return list(csv.DictReader(io.StringIO(payload.decode("utf-8"))))


@functools.cache
def _table() -> _Table:
    periods = tuple(
        _Period(
            code=r["code"],
            name=r["name"],
            level=r["level"],
            parent_code=r["parent_code"],
            valid_from=int(r["valid_from"]),
            valid_to=int(r["valid_to"]) if r["valid_to"] else None,
        )
        for r in _read_rows()
    )
    automaton = ahocorasick.Automaton()
    for name in {p.name for p in periods}:
        automaton.add_word(name, name)
    automaton.make_automaton()
    # The file does not record its newest year, but nothing changes after the last year in
    # which a unit appeared or (one year after) disappeared, so later years share that view.
    last = max(
        max(p.valid_from for p in periods),
        max((p.valid_to + 1 for p in periods if p.valid_to is not None), default=0),
    )
    return _Table(
        periods=periods,
        first_year=min(p.valid_from for p in periods),
        last_year=last,
        automaton=automaton,
    )


def load_tables() -> None:
    """Load the division table and its index once per process (what matching reads)."""
    _index()


def table_years() -> tuple[int, int]:
    """First year of the table and the year of its last change (later years look the same)."""
    t = _table()
    return t.first_year, t.last_year


def _clamp_year(year: int | None) -> int:
    t = _table()
    if year is None:
        return t.last_year
    return min(max(year, t.first_year), t.last_year)


# The parts of a view that equal another year's (nearly all: a year changes a few dozen
# units) are one shared object: 16 views hold ~15k objects instead of ~160k, which every
# full pass of Python's garbage collector walks (55 ms -> 42 ms each), and a
# view is built faster. Bounded by the table: each distinct value is kept once.
_SHARED_DISTRICTS: dict[tuple[str, str, str, str, str, str | None], District] = {}
_SHARED_SETS: dict[frozenset[str], frozenset[str]] = {}
_SHARED_TUPLES: dict[tuple[District, ...], tuple[District, ...]] = {}


def _shared_district(
    code: str, name: str, full_name: str, level: str, province: str, city: str | None
) -> District:
    key = (code, name, full_name, level, province, city)
    found = _SHARED_DISTRICTS.get(key)
    if found is None:
        found = _SHARED_DISTRICTS[key] = District(*key)
    return found


def _live(periods: Iterable[_Period], year: int) -> _Period | None:
    """The period of a code valid in ``year`` (the last one in the file's order, as a dict
    built from the file keeps), or None."""
    found = None
    for p in periods:
        if p.valid_from <= year and (p.valid_to is None or year <= p.valid_to):
            found = p
    return found


def _chain_up(p: _Period, live: Callable[[str], _Period | None]) -> list[_Period]:
    """The periods above ``p``, nearest first, as ``live`` gives a code's period."""
    out = []
    cur = live(p.parent_code)
    while cur is not None:
        out.append(cur)
        cur = live(cur.parent_code)
    return out


def _district(p: _Period, up: list[_Period]) -> District:
    """Period ``p`` as a District of a year in which its ancestors are ``up`` (parent first)."""
    province = up[-1].name if up else p.name
    parent = up[0] if up else None
    if p.level == "province":
        city = None
        full = p.name
    elif p.level == "prefecture":
        city = p.name
        full = province + p.name
    elif parent is not None and parent.level == "prefecture":
        city = parent.name
        full = parent.name + p.name
    else:
        # Counties directly under a province: for the four municipalities the
        # municipality is the city; 仙桃市 and the like have no city at all.
        city = province if province.endswith("市") else None
        full = province + p.name
    return _shared_district(p.code, p.name, full, p.level, province, city)


# A view is ~3,000 units; notices cluster in a dozen recent years, and a name a year does
# not know is looked up in the year before: keep every year of the table (1980-2024: 45),
# or 16 years of notices thrash the cache (26 views built in a crawl of 1,000 notices
# from 15 years, 22 ms each; the parts views share are one object, see above).
# Only divisions() and get_division() build whole views; matching a notice reads a
# _MatchView, which works out only the units the notice names.
@functools.lru_cache(maxsize=64)
def _view(year: int) -> _YearView:
    t = _table()
    live = {
        p.code: p
        for p in t.periods
        if p.valid_from <= year and (p.valid_to is None or year <= p.valid_to)
    }

    by_code: dict[str, District] = {}
    ancestors: dict[str, frozenset[str]] = {}
    for code, p in live.items():
        up = _chain_up(p, live.get)
        by_code[code] = _district(p, up)
        up_codes = frozenset(a.code for a in up)
        ancestors[code] = _SHARED_SETS.setdefault(up_codes, up_codes)

    by_name: dict[str, list[District]] = {}
    for d in by_code.values():
        by_name.setdefault(d.name, []).append(d)
    return _YearView(
        year=year,
        by_code=by_code,
        by_name={
            k: _shared_tuple(tuple(sorted(v, key=lambda d: d.code))) for k, v in by_name.items()
        },
        ancestors=ancestors,
    )


@dataclass(frozen=True)
class _Index:
    by_code: dict[str, tuple[_Period, ...]]  # every period of a code, in the file's order
    by_name: dict[str, tuple[str, ...]]  # the codes that ever had a name


@functools.cache
def _index() -> _Index:
    by_code: dict[str, list[_Period]] = {}
    by_name: dict[str, set[str]] = {}
    for p in _table().periods:
        by_code.setdefault(p.code, []).append(p)
        by_name.setdefault(p.name, set()).add(p.code)
    return _Index(
        by_code={k: tuple(v) for k, v in by_code.items()},
        by_name={k: tuple(sorted(v)) for k, v in by_name.items()},
    )


class _MatchView:
    """What matching reads of a year's view (the same values as ``_view(year)``), each
    unit worked out when it is first asked for: a notice names a few units, and building
    a whole view (~3,000 units, ~20 ms) for each year a crawl meets cost more than all
    its matching (issue 16)."""

    def __init__(self, year: int) -> None:
        self.year = year
        self._index = _index()
        self._live: dict[str, _Period | None] = {}
        self._districts: dict[str, District | None] = {}
        self._named: dict[str, tuple[District, ...]] = {}
        self._ancestors: dict[str, frozenset[str]] = {}

    def live(self, code: str) -> _Period | None:
        try:
            return self._live[code]
        except KeyError:
            p = self._live[code] = _live(self._index.by_code.get(code, ()), self.year)
            return p

    def district(self, code: str) -> District | None:
        """``_view(year).by_code.get(code)``."""
        try:
            return self._districts[code]
        except KeyError:
            p = self.live(code)
            d = self._districts[code] = None if p is None else _district(p, _chain_up(p, self.live))
            return d

    def named(self, name: str) -> tuple[District, ...]:
        """``_view(year).by_name.get(name, ())``: sorted by code."""
        try:
            return self._named[name]
        except KeyError:
            found = []
            for code in self._index.by_name.get(name, ()):  # sorted
                p = self.live(code)
                if p is not None and p.name == name:
                    d = self.district(code)
                    assert d is not None
                    found.append(d)
            out = self._named[name] = _shared_tuple(tuple(found))
            return out

    def ancestors(self, code: str) -> frozenset[str]:
        """``_view(year).ancestors.get(code, ())`` as a set."""
        try:
            return self._ancestors[code]
        except KeyError:
            p = self.live(code)
            up = (
                frozenset(a.code for a in _chain_up(p, self.live)) if p is not None else frozenset()
            )
            out = self._ancestors[code] = _SHARED_SETS.setdefault(up, up)
            return out


# Cheap to keep (a few dozen units each): every year of the table and more.
@functools.lru_cache(maxsize=128)
def _match_view(year: int) -> _MatchView:
    return _MatchView(year)


def _shared_tuple(value: tuple[District, ...]) -> tuple[District, ...]:
    return _SHARED_TUPLES.setdefault(value, value)


@functools.cache
def _province_aliases() -> dict[str, str]:
    """Map full names, codes and unambiguous short forms of provinces to the full name."""
    provinces = [p for p in _table().periods if p.level == "province"]
    out: dict[str, str] = {}
    for p in provinces:
        out[p.name] = p.name
        out[p.code] = p.name
        out[p.code[:2]] = p.name
    for p in provinces:
        for n in range(2, len(p.name)):
            short = p.name[:n]
            if short in out:
                continue
            owners = {q.name for q in provinces if q.name.startswith(short)}
            if len(owners) == 1:
                out[short] = p.name
    return out


def normalize_province(value: str | None) -> str | None:
    """'浙江' / '浙江省' / '330000' / '33' -> '浙江省'; None when unknown."""
    if not value:
        return None
    return _province_aliases().get(value.strip())


def divisions(
    *, province: str | None = None, year: int | None = None, level: str | None = None
) -> list[District]:
    """Divisions valid in `year` (default: newest table), optionally of one province and level.

    `province` accepts a full name, an unambiguous short form or a code. Years outside the
    table are clamped to its first or last year.
    """
    if level is not None and level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    prov = None
    if province is not None:
        prov = normalize_province(province)
        if prov is None:
            raise ValueError(f"unknown province {province!r}")
    view = _view(_clamp_year(year))
    return sorted(
        (
            d
            for d in view.by_code.values()
            if (prov is None or d.province == prov) and (level is None or d.level == level)
        ),
        key=lambda d: d.code,
    )


def get_division(code: str, *, year: int | None = None) -> District | None:
    """The division with `code` in the table of `year` (default: newest), if any."""
    return _view(_clamp_year(year)).by_code.get(code)


# --------------------------------------------------------------------------- unit spans

# Characters that can never be inside a unit name; ASCII parentheses can ('锦江国际(集团)').
_NOT_UNIT = r"\s,。;:、!?“”\"'《》"
# The inspection sentence may list several units ('对杭州市拱墅区、西湖区开展了巡视').
_X = rf"[^{_NOT_UNIT.replace('、', '')}对]{{2,40}}?"
_ORG = r"(?:党委|党组|党工委|委员会|委)"

_INSPECTION_RE = re.compile(rf"对(?P<x>{_X})(?:开展|进行)了?[^,。;]{{0,12}}?巡视")
_ISSUER_RE = re.compile(rf"中共(?P<x>[^{_NOT_UNIT}]{{2,40}}?){_ORG}(?=关于|$)")
_ISSUER_LINE_RE = re.compile(
    rf"^中共(?P<x>[^{_NOT_UNIT}]{{2,40}}?){_ORG}(?:关于.*|\s*\d{{4}}年\d{{1,2}}月\d{{1,2}}日)?$"
)
_TITLE_RE = re.compile(
    rf"(?:^|[{_NOT_UNIT}])(?!中共)(?P<x>[^{_NOT_UNIT}]{{2,40}}?){_ORG}关于.*巡视.*整改.*通报"
)
# '我区' / '该校' stand for a unit named elsewhere; '本溪市' is a real name, hence the closed list.
_PRONOUN_RE = re.compile(
    r"^(?:我|本|该)(?:省|市|区|县|旗|州|盟|校|委|局|院|厅|办|部|所|会|公司|集团|单位|系统)$"
)
_TRAILING_ORG = (
    "党政领导班子和领导干部",
    "领导班子和领导干部",
    "党政领导班子及其成员",
    "领导班子及其成员",
    "党政领导班子",
    "领导班子",
    "及其成员",
    "党委(党组)",
    "党组(党委)",
    "党工委",
    "党委",
    "党组",
)
# The inspection sentence is at the start of the body; looking further would pick up
# inspections of other units that the notice merely mentions.
_HEAD_SENTENCES = 3
_HEAD_CHARS = 800
_EDGE_LINES = 4


def _head(text: str) -> str:
    head = text[:_HEAD_CHARS]
    pos = -1
    for _ in range(_HEAD_SENTENCES):
        nxt = head.find("。", pos + 1)
        if nxt < 0:
            return head
        pos = nxt
    return head[: pos + 1]


def _clean_unit(raw: str) -> str:
    unit = raw.strip()
    had_cpc = unit.startswith("中共")
    if had_cpc:
        unit = unit[2:]
        if unit.endswith("委员会"):
            unit = unit[:-3]
    changed = True
    while changed:
        changed = False
        for suffix in _TRAILING_ORG:
            if unit.endswith(suffix) and len(unit) > len(suffix) + 1:
                unit = unit[: -len(suffix)]
                changed = True
    # '拱墅区委' is the district's party committee, but '省国资委' is a unit of its own:
    # only drop the '委' when what is left is a division name.
    if unit.endswith("委") and _tile(unit[:-1]) is not None:
        unit = unit[:-1]
    return unit


def _unit_spans(title: str, text: str) -> list[str]:
    """Candidate units in rule order: inspection sentence, issuer, title."""
    raw: list[str] = []
    head = _head(text)
    for source in (title, head):
        raw.extend(m.group("x") for m in _INSPECTION_RE.finditer(source))
    title_lines = [ln.strip() for ln in title.splitlines() if ln.strip()]
    for line in title_lines:
        raw.extend(m.group("x") for m in _ISSUER_RE.finditer(line))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in lines[:_EDGE_LINES] + lines[-_EDGE_LINES:]:
        m = _ISSUER_LINE_RE.match(line)
        if m:
            raw.append(m.group("x"))
    for line in title_lines:
        m = _TITLE_RE.search(line)
        if m:
            raw.append(m.group("x"))

    spans: list[str] = []
    for r in raw:
        # '对照巡视反馈问题开展了巡视整改' is about the rectification, not a unit.
        if "巡视" in r or "整改" in r:
            continue
        unit = "、".join(_clean_unit(part) for part in r.split("、"))
        if len(unit) < 2 or _PRONOUN_RE.match(unit) or unit in spans:
            continue
        spans.append(unit)
    return spans


# --------------------------------------------------------------------------- resolution


def _tile(part: str) -> list[str] | None:
    """Split `part` into consecutive full division names, or None if it is anything else.

    Requiring the whole span to be division names is what keeps '中心城区', '杭州市交通
    投资集团' or '温州大学' from yielding a place.
    """
    n = len(part)
    if n < 2:
        return None
    ends_at: dict[int, list[str]] = {}
    for end, name in _table().automaton.iter(part):
        ends_at.setdefault(end + 1, []).append(name)
    # best[i]: fewest names covering part[:i], so a name is never split into shorter names.
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for i in range(1, n + 1):
        for name in ends_at.get(i, ()):
            prev = best[i - len(name)]
            if prev is not None and (best[i] is None or len(prev) + 1 < len(best[i] or ())):
                best[i] = [*prev, name]
    return best[n]


def _candidates(name: str, year: int) -> tuple[_MatchView, tuple[District, ...]]:
    """Divisions called `name` in `year`'s table.

    Each table is the state at the end of its year, so a unit abolished during `year` is
    only in the previous table; a notice of that year may still be about it.
    """
    view = _match_view(year)
    found = view.named(name)
    if not found and year > _table().first_year:
        prev = _match_view(year - 1)
        prev_found = prev.named(name)
        if prev_found:
            return prev, prev_found
    return view, found


def _pick(
    cands: list[District],
    view: _MatchView,
    tiers: Iterable[frozenset[str]],
) -> District | None:
    """The one candidate that the first decisive hint tier singles out, else None.

    Within a tier the most specific agreement wins: a hint naming the district itself beats
    one naming its city, which beats one naming only its province (both Jiangsu 鼓楼区s
    are in 江苏省, only one is in 南京市).
    """
    if len(cands) == 1:
        return cands[0]
    depth = {"province": 1, "prefecture": 2, "county": 3}
    for hint in tiers:
        if not hint:
            continue
        scores: dict[str, int] = {}
        for c in cands:
            agree = [view.district(a) for a in view.ancestors(c.code) if a in hint]
            if c.code in hint:
                agree.append(c)
            scores[c.code] = max((depth[a.level] for a in agree if a is not None), default=0)
        top = max(scores.values())
        winners = [c for c in cands if scores[c.code] == top]
        if top and len(winners) == 1:
            return winners[0]
    return None


def _resolve_part(
    names: list[str], year: int, tiers: list[frozenset[str]]
) -> tuple[District | None, str | None, frozenset[str]]:
    """Resolve a tiled span to its most specific division.

    Returns (district, ambiguous_name, codes the part pins down for sibling parts).
    """
    view, first = _candidates(names[0], year)
    chains: list[list[District]] = [[c] for c in first]
    for name in names[1:]:
        v, cands = _candidates(name, year)
        view = v
        chains = [[*ch, c] for ch in chains for c in cands if ch[-1].code in v.ancestors(c.code)]
    lasts = list({ch[-1].code: ch[-1] for ch in chains}.values())
    # A city named before the district is binding: if nothing fits, don't fall back to hints.
    if not lasts:
        return None, names[-1], frozenset()
    chosen = _pick(lasts, view, tiers)
    if chosen is None:
        return None, names[-1], frozenset()
    pinned = frozenset({chosen.code, *view.ancestors(chosen.code)})
    return chosen, None, pinned


def _is_division_span(span: str) -> bool:
    return any(_tile(part) is not None for part in span.split("、"))


def _hints_from(spans: Iterable[str], year: int) -> frozenset[str]:
    """Codes (with ancestors) that other spans name without any ambiguity."""
    out: set[str] = set()
    for span in spans:
        for part in span.split("、"):
            names = _tile(part)
            if names is None:
                continue
            d, _, pinned = _resolve_part(names, year, [])
            if d is not None:
                out |= pinned
    return frozenset(out)


def _site_hint(site_province: str | None, year: int) -> frozenset[str]:
    prov = normalize_province(site_province)
    if prov is None:
        return frozenset()
    return frozenset(d.code for d in _match_view(year).named(prov) if d.level == "province")


def match_notice(
    title: str | None,
    text: str,
    *,
    year: int | None = None,
    site_province: str | None = None,
) -> UnitMatch:
    """Find the unit a 巡视整改 notice is about and the division(s) it is, if any.

    The unit comes from, in order: the inspection sentence at the start of the body
    (`对<X>开展了常规巡视`), the issuer (`中共<X>委员会` / `中共<X>委` in the title or the
    first/last lines of the body), and the title (`<X>委关于…巡视…整改…通报`). Only that
    span is matched against full division names; a duplicate name is resolved by the city
    or province written before it, then by what the other spans name, then by
    `site_province`, and otherwise reported in `ambiguous`.
    """
    spans = _unit_spans(title or "", text or "")
    if not spans:
        return UnitMatch(None, (), ())
    y = _clamp_year(year)
    unit = spans[0]
    if not _is_division_span(unit):
        # '杭州市拱墅区有关单位' is the district with a tail the suffix list does not know;
        # an issuer span that it starts with names the district cleanly.
        unit = next((s for s in spans[1:] if unit.startswith(s) and _is_division_span(s)), unit)
    others = [s for s in spans if s != unit]
    if not _is_division_span(unit):
        return UnitMatch(unit, (), ())

    other_hints = _hints_from(others, y)
    site = _site_hint(site_province, y)
    found: list[District] = []
    ambiguous: list[str] = []
    sibling: frozenset[str] = frozenset()
    for part in unit.split("、"):
        names = _tile(part)
        if names is None:
            continue
        # Earlier parts of '杭州市拱墅区、西湖区' speak for later ones, before other spans.
        d, amb, pinned = _resolve_part(names, y, [sibling, other_hints, site])
        if d is not None and d not in found:
            found.append(d)
            sibling = pinned - {d.code}
        if amb is not None and amb not in ambiguous:
            ambiguous.append(amb)
    return UnitMatch(unit, tuple(found), tuple(ambiguous))
