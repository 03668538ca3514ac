"""Full-text search over the latest text of each notice, for Chinese: one small index.

What search covers is the view ``notices_fts`` (rowid = notice id, title, unit and the text
of the notice's latest version, read from ``versions``: no second copy of any text).

The index ``notices_bigrams`` (migration ``m012_search_index`` in store/db.py) is an FTS5
table with ``detail=none`` (it stores which notices hold a token, not where) over a
document that :func:`bigrams` writes for each notice: the lower-cased title, unit and text
cut into runs of letters and digits (Chinese characters are letters), and each run into
its overlapping pairs of characters plus its last character alone, each token once
(``巡视整改。`` -> ``巡视 视整 整改 改``). That is about 4 KB of index per notice, against
61 KB for the trigram index and its copy of the text that it replaces.

A query term is written out the same way (:func:`term_tokens`): a notice that contains the
term as a substring holds every one of its tokens, so the index gives every notice that
may match (the candidates). For a term of one or two letters or digits (``巡视``, ``鄞``)
the candidates are exactly the notices that contain it; a longer term is confirmed by
``instr`` on the text of each candidate (its pairs may occur apart). Terms separated by
white space must all occur; case is ignored. Hits come newest first.

Indexing is batched (:data:`FLUSH_AT`): a notice whose title, unit or latest text changes
goes into ``notices_search_pending`` in the same transaction, and the pending notices are
indexed together once there are ``FLUSH_AT`` of them (FTS5 writes one segment per
transaction, so one notice per transaction costs about three times as much). Searches read
the pending notices' texts directly. A new notice waits out of the index and goes in whole.
A notice that changes keeps its entry meanwhile; its pending row holds the tokens the
index must lose and gain (:func:`next_delta`, worked out as the change happens), and the
flush writes only those: nothing when a few characters changed and no pair of characters
is new, a few tokens otherwise, where writing the whole document out and in again cost
11 KB of index per change (issue 16). Triggers do all of it, so no writer has to remember
it; ``notices_search_doc`` is the index's content (what it holds for every notice), which
FTS5's ``rebuild`` and ``integrity-check`` read.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from operator import add
from typing import Any

from sqlite_utils import Database

SNIPPET_CHARS = 40
BIGRAM_TABLE = "notices_bigrams"
BIGRAM_FUNCTION = "xunshi_bigrams"
NEXT_DELTA_FUNCTION = "xunshi_next_delta"
INDEXED_DOC_FUNCTION = "xunshi_indexed_doc"
DELTA_PART_FUNCTION = "xunshi_delta_part"
PENDING_TABLE = "notices_search_pending"
DOC_VIEW = "notices_search_doc"
TEXT_VIEW = "notices_fts"
FLUSH_AT = 32  # pending notices indexed together
# Above this many candidates, search walks the notices newest first and stops at the limit
# instead of confirming every candidate (a common term: most candidates are hits).
WALK_ABOVE = 200

_WORD = re.compile(r"[^\W_]+")  # letters and digits (str.isalnum), Chinese included


@dataclass(frozen=True)
class Hit:
    notice_id: int
    site: str
    title: str | None
    unit: str | None
    published_at: str | None
    url: str
    snippet: str  # the text around the first match, the match in 【】

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.notice_id,
            "site": self.site,
            "title": self.title,
            "unit": self.unit,
            "published_at": self.published_at,
            "url": self.url,
            "snippet": self.snippet,
        }


# -- the index's document and a query's tokens ------------------------------------------------


# The code points below this are looked up in a table (planes 0-3, which hold every letter
# and digit Unicode has so far); one above it is asked of str.isalnum on its own.
_TABLE_END = 0x40000


@functools.cache
def _letter_table() -> Any:
    """For each code point below _TABLE_END, whether ``str.isalnum`` holds (what re's
    ``[^\\W_]`` matches), then False for "above": a NumPy array of booleans, built once
    per process from re's own runs of letters (~25 ms)."""
    import numpy as np

    table = np.zeros(_TABLE_END + 1, dtype=bool)
    for m in _WORD.finditer("".join(map(chr, range(_TABLE_END)))):
        table[m.start() : m.end()] = True
    return table


def load_tables() -> None:
    """Load what :func:`bigrams` needs once per process (NumPy, the letter table)."""
    _letter_table()


def bigrams(text: str | None) -> str | None:
    """The document the index holds for a text (the SQL function ``xunshi_bigrams``)."""
    if text is None:
        return None
    # The tokens are the windows of two characters that start at a letter or digit; a
    # window whose second character is none (a gap or the end) is the first character
    # alone. Each token once, in the order of its first occurrence. Done on arrays of code
    # points in NumPy (0.1-0.2 ms for a 20,000-character text, against 0.9 ms in Python
    # and re), the same document token for token (tests/test_prepare.py).
    import numpy as np

    points = np.frombuffer(text.lower().encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    letter = _letter_table()[np.minimum(points, _TABLE_END)]
    for at in np.flatnonzero(points > _TABLE_END - 1):  # rare: asked one by one
        letter[at] = chr(points[at]).isalnum()
    if not letter.any():
        return ""
    # each window as one 64-bit key: its first code point, then its second (0 for none)
    second = np.zeros(points.size, dtype=np.uint64)
    second[:-1] = np.where(letter[1:], points[1:], 0)
    keys = (points.astype(np.uint64) << np.uint64(32) | second)[letter]
    # distinct keys in order of first occurrence: sort, keep each run's smallest position
    order = np.argsort(keys)
    ranked = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], ranked[1:] != ranked[:-1])))
    first = np.minimum.reduceat(order, starts)
    first.sort()
    distinct = keys[first]
    # each token as UTF-32 "c1 c2 space"; a 0 second code point (none) is dropped
    out = np.empty((distinct.size, 3), dtype=np.uint32)
    out[:, 0] = distinct >> np.uint64(32)
    out[:, 1] = distinct & np.uint64(0xFFFFFFFF)
    out[:, 2] = 32
    return out.tobytes().decode("utf-32-le").replace("\0", "")[:-1]


def haystack(title: str | None, unit: str | None, text: str | None) -> str:
    """What the index's SQL hands ``xunshi_bigrams`` for a notice: title, unit and text on
    their own lines, lower-cased as SQLite's ``lower()`` does it (ASCII letters only)."""
    joined = f"{title or ''}\n{unit or ''}\n{text or ''}"
    return joined.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


# Index documents computed before the write (store/prepare.py), by the exact string the
# SQL function will be given: the flush of the pending notices takes them from here
# instead of computing them again. A miss (another SQLite lower(), an evicted entry)
# only means computing it; an entry is used once.
DOCS_KEPT = 2 * FLUSH_AT
_DOCS: OrderedDict[str, str] = OrderedDict()


def remember_doc(key: str, doc: str) -> None:
    """Keep the document of ``key`` (a ``haystack``) for the next flush to use."""
    _DOCS[key] = doc
    _DOCS.move_to_end(key)
    while len(_DOCS) > DOCS_KEPT:
        _DOCS.popitem(last=False)


def _indexed_doc(text: str | None) -> str | None:
    """The SQL function ``xunshi_bigrams``: a remembered document, else ``bigrams``."""
    if _DOCS and text is not None:
        doc = _DOCS.pop(text, None)
        if doc is not None:
            return doc
    return bigrams(text)


@functools.lru_cache(maxsize=8)
def _doc_of(haystack: str | None) -> str:
    """:func:`bigrams`, remembered for the few texts a change reads twice (a document
    computed before the write, store/prepare.py, is taken as it is)."""
    return _indexed_doc(haystack) or ""


def next_delta(state: str | None, current: str | None, new: str | None) -> str | None:
    """The pending entry of a notice whose title, unit and text (``current``, as the
    index's content view reads them: lower-cased, joined by newlines) are about to become
    ``new`` (the SQL function ``xunshi_next_delta``).

    ``state`` is the notice's pending entry: '' when it is not pending (the index holds
    the document of ``current``), a delta when it is, None when it is pending and out of
    the index. A delta is the tokens the index holds for the notice and must lose, a
    newline, and the tokens it must gain (:func:`delta_part`): applied at the next flush,
    it makes the index hold exactly the document of ``new`` (FTS5's ``ascii`` tokenizer
    cuts a document into exactly its space-separated tokens, see :data:`TOKENIZER`).
    None: the notice has to leave the index now and go in whole at the flush (it was out
    of it already).
    """
    if state is None or new is None:
        return None
    cur, nxt = _doc_of(current), _doc_of(new)
    indexed = _indexed_set(cur, state)
    new_set = set(nxt.split())
    return (
        " ".join(t for t in indexed if t not in new_set)
        + "\n"
        + " ".join(t for t in dict.fromkeys(nxt.split()) if t not in indexed)
    )


def _indexed_set(doc: str, delta: str) -> dict[str, None]:
    """The tokens the index holds for a notice whose content gives ``doc`` and whose
    pending delta is ``delta`` ('' for none): the document's, less the tokens the delta
    adds, plus the tokens it takes out (in order, each once)."""
    tokens = dict.fromkeys(doc.split())
    if delta:
        dropped, added = delta.split("\n")
        for t in added.split():
            tokens.pop(t, None)
        tokens.update(dict.fromkeys(dropped.split()))
    return tokens


def indexed_doc(haystack: str | None, delta: str) -> str:
    """The document the index holds for a pending notice with a delta (the SQL function
    ``xunshi_indexed_doc``, for the index's content view)."""
    return " ".join(_indexed_set(_doc_of(haystack), delta))


def delta_part(delta: str, part: int) -> str:
    """The tokens a delta takes out of the index (``part`` 0) or puts in (1), as a
    document (the SQL function ``xunshi_delta_part``)."""
    return delta.split("\n")[part]


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def term_tokens(term: str) -> list[str]:
    """The index tokens every text containing ``term`` holds, as FTS5 query items."""
    low = term.lower()
    items: list[str] = []
    for m in _WORD.finditer(low):
        run = m.group()
        items.extend(_quote(p) for p in map(add, run, run[1:]))
        if m.end() < len(low):
            items.append(_quote(run[-1]))  # followed by a non-word character: a token alone
        elif len(run) == 1:
            items.append(_quote(run) + "*")  # the text may go on: any token it starts
    return list(dict.fromkeys(items))


def exact_term(term: str) -> bool:
    """Whether the index alone answers ``term`` (one or two letters or digits)."""
    return len(term) <= 2 and bool(_WORD.fullmatch(term))


def bigram_query(query: str) -> str | None:
    """The FTS5 query for the candidates of every white-space-separated term of ``query``.

    None when no term holds a letter or digit (the index knows nothing else).
    """
    items = [t for term in query.split() for t in term_tokens(term)]
    return " AND ".join(dict.fromkeys(items)) or None


# -- searching ---------------------------------------------------------------------------------

# What the index holds for a notice (its content view and the flush compute it the same way)
_HAYSTACK = (
    "lower(coalesce({f}.title, '') || char(10) || coalesce({f}.unit, '') || char(10) "
    "|| coalesce({f}.text, ''))"
)


def candidates_sql(match_param: str) -> str:
    """SQL for the ids the index gives for the FTS5 query ``match_param``, and every notice
    still waiting to be indexed (their texts are checked instead)."""
    return (
        f"SELECT rowid FROM {BIGRAM_TABLE} WHERE {BIGRAM_TABLE} MATCH {match_param} "
        f"UNION ALL SELECT notice_id FROM {PENDING_TABLE}"
    )


def confirm_sql(terms: list[str], param: str, row_id: str) -> tuple[list[str], dict[str, str]]:
    """Conditions that the row ``row_id`` of ``notices_fts`` (alias ``f``) holds each term.

    A term the index answers exactly is only checked on pending notices.
    """
    where: list[str] = []
    params: dict[str, str] = {}
    for i, term in enumerate(terms):
        name = f"{param}{i}"
        params[name] = term.lower()
        # A term holds no white space, so it never spans title, unit and text: each column
        # is searched alone, and lower-cased (a copy of the text) only for a Latin letter.
        fold = "lower({})" if any(c.isascii() and c.isalpha() for c in term) else "{}"
        found = (
            "("
            + " OR ".join(
                f"instr({fold.format(f'f.{col}')}, :{name}) > 0"
                for col in ("text", "title", "unit")
            )
            + ")"
        )
        if exact_term(term):
            found = f"({row_id} NOT IN (SELECT notice_id FROM {PENDING_TABLE}) OR {found})"
        where.append(found)
    return where, params


def search_filter(
    query: str, row_id: str, prefix: str = "xunshi"
) -> tuple[str, dict[str, str]] | None:
    """A WHERE condition on the notice id ``row_id`` of another query (Datasette's search
    box), and its parameters; None when no term holds a letter or digit."""
    match = bigram_query(query)
    if match is None:
        return None
    checks, params = confirm_sql(query.split(), f"{prefix}_term", "f.rowid")
    # '+': SQLite walks the rows in the page's own order and stops at its limit, instead of
    # confirming every candidate first (a common term: most candidates are hits).
    where = (
        f"+{row_id} IN ({candidates_sql(f':{prefix}_search')}) AND EXISTS (SELECT 1 FROM "
        f"{TEXT_VIEW} f WHERE f.rowid = {row_id} AND {' AND '.join(checks)})"
    )
    return where, {f"{prefix}_search": match, **params}


def search(db: Database, query: str, *, site: str | None = None, limit: int = 50) -> list[Hit]:
    """Notices whose title, unit or latest text contains every white-space-separated term,
    newest first (case is ignored)."""
    terms = query.split()
    if not terms:
        return []
    match = bigram_query(query)
    where, params = confirm_sql(terms, "t", "f.rowid")
    params_any: dict[str, Any] = dict(params)
    walk = True
    if match is not None:
        params_any["match"] = match
        count = db.execute(
            f"SELECT count(*) FROM {BIGRAM_TABLE} WHERE {BIGRAM_TABLE} MATCH :match", params_any
        ).fetchone()[0]
        # Few candidates: look each one up. Many: walk newest first, stop at the limit
        # ('+' keeps SQLite from driving the loop by the candidate list).
        walk = count > WALK_ABOVE
        where.insert(0, f"{'+' if walk else ''}f.rowid IN ({candidates_sql(':match')})")
    if site:
        where.append("n.site = :site")
        params_any["site"] = site
    sql = (
        "SELECT n.id, n.site, n.title, n.unit, n.published_at, n.url, f.text "
        f"FROM {TEXT_VIEW} f JOIN notices n ON n.id = f.rowid "
        f"WHERE {' AND '.join(where)} "
        f"ORDER BY {'n.published_at' if walk else '+n.published_at'} DESC, n.id DESC LIMIT :limit"
    )  # only fixed fragments are joined; every value is a parameter
    params_any["limit"] = limit
    return [
        Hit(row[0], row[1], row[2], row[3], row[4], row[5], snippet(row[6] or "", terms))
        for row in db.execute(sql, params_any).fetchall()
    ]


def snippet(text: str, terms: list[str], width: int = SNIPPET_CHARS) -> str:
    """The text around the first term found in it, on one line, the term marked 【】."""
    flat = text.replace("\n", " ")
    low = flat.lower()
    for term in terms:
        at = low.find(term.lower())
        if at >= 0:
            start, end = max(at - width // 2, 0), at + len(term)
            stop = min(end + width // 2, len(flat))
            return (
                ("…" if start else "")
                + flat[start:at]
                + "【"
                + flat[at:end]
                + "】"
                + flat[end:stop]
                + ("…" if stop < len(flat) else "")
            )
    return flat[:width] + ("…" if len(flat) > width else "")


def register_functions(conn: sqlite3.Connection) -> None:
    """The SQL function the index's triggers and content view call: every connection that
    writes, or reads ``notices_search_doc``, needs it."""
    conn.create_function(BIGRAM_FUNCTION, 1, _indexed_doc, deterministic=True)
    # (a change's two statements ask the same: remembered)
    conn.create_function(
        NEXT_DELTA_FUNCTION, 3, functools.lru_cache(maxsize=4)(next_delta), deterministic=True
    )
    conn.create_function(INDEXED_DOC_FUNCTION, 2, indexed_doc, deterministic=True)
    conn.create_function(DELTA_PART_FUNCTION, 2, delta_part, deterministic=True)


# -- the schema (migrations m012_search_index, m014_change_costs) ------------------------------

_DOC = f"{BIGRAM_FUNCTION}({_HAYSTACK.format(f='f')})"
_IS_LATEST = (
    "{row}.n >= (SELECT coalesce(max(n), 0) FROM versions WHERE notice_id = {row}.notice_id)"
)


def _haystack(title: str, unit: str, text: str) -> str:
    return _HAYSTACK.replace("{f}.title", title).replace("{f}.unit", unit).replace("{f}.text", text)


def _unindex(notice_id: str, new: str) -> str:
    """Statements that note, before a notice's title, unit or latest text changes to give
    the haystack ``new`` (SQL), what the index must lose and gain at the next flush
    (:func:`next_delta`); a notice whose delta cannot be kept leaves the index now."""
    state = (
        f"CASE WHEN EXISTS (SELECT 1 FROM {PENDING_TABLE} WHERE notice_id = {notice_id}) "
        f"THEN (SELECT delta FROM {PENDING_TABLE} WHERE notice_id = {notice_id}) ELSE '' END"
    )
    current = f"(SELECT {_HAYSTACK.format(f='f')} FROM {TEXT_VIEW} f WHERE f.rowid = {notice_id})"
    delta = f"{NEXT_DELTA_FUNCTION}({state}, {current}, {new})"
    return (
        f"INSERT INTO {BIGRAM_TABLE} ({BIGRAM_TABLE}, rowid, doc) "
        f"SELECT 'delete', d.id, d.doc FROM {DOC_VIEW} d WHERE d.id = {notice_id} "
        f"AND {delta} IS NULL;\n"
        f"        INSERT OR REPLACE INTO {PENDING_TABLE} (notice_id, delta) "
        f"SELECT {notice_id}, {delta} WHERE NOT EXISTS (SELECT 1 FROM {PENDING_TABLE} "
        f"WHERE notice_id = {notice_id} AND delta IS NULL);"  # (out of the index: it stays so)
    )


def _unindex_m012(notice_id: str, new: str) -> str:
    """m012's: the notice left the index at once (its whole document) and became pending."""
    return (
        f"INSERT INTO {BIGRAM_TABLE} ({BIGRAM_TABLE}, rowid, doc) "
        f"SELECT 'delete', id, doc FROM {DOC_VIEW} WHERE id = {notice_id};\n"
        f"        INSERT OR IGNORE INTO {PENDING_TABLE} (notice_id) VALUES ({notice_id});"
    )


# Index the pending notices, then forget them: for each, by notice id, what leaves the
# index ('delete') and then what goes in (op NULL: an insert): its delta, or its whole
# document when it is out of the index. In that order FTS5 writes one segment.
_WITH_DELTA = f"FROM {PENDING_TABLE} WHERE delta IS NOT NULL AND delta <> char(10)"
FLUSH = (
    f"INSERT INTO {BIGRAM_TABLE} ({BIGRAM_TABLE}, rowid, doc) SELECT op, id, doc FROM ("
    f"SELECT notice_id AS id, 0 AS part, 'delete' AS op, {DELTA_PART_FUNCTION}(delta, 0) AS doc "
    f"{_WITH_DELTA} UNION ALL "
    f"SELECT notice_id, 1, NULL, {DELTA_PART_FUNCTION}(delta, 1) {_WITH_DELTA} UNION ALL "
    f"SELECT f.rowid, 1, NULL, {_DOC} FROM {TEXT_VIEW} f "
    f"WHERE f.rowid IN (SELECT notice_id FROM {PENDING_TABLE} WHERE delta IS NULL)"
    ") ORDER BY id, part",
    f"DELETE FROM {PENDING_TABLE}",
)

_FLUSH_M012 = (
    f"INSERT INTO {BIGRAM_TABLE} (rowid, doc) SELECT f.rowid, {_DOC} FROM {TEXT_VIEW} f "
    f"WHERE f.rowid IN (SELECT notice_id FROM {PENDING_TABLE})",
    f"DELETE FROM {PENDING_TABLE}",
)

OLD_OBJECTS = (
    "DROP TRIGGER IF EXISTS notices_fts_version_added",
    "DROP TRIGGER IF EXISTS notices_fts_version_updated",
    "DROP TRIGGER IF EXISTS notices_fts_notice_updated",
    "DROP TRIGGER IF EXISTS notices_fts_notice_deleted",
    "DROP TRIGGER IF EXISTS notices_bigrams_version_adding",
    "DROP TRIGGER IF EXISTS notices_bigrams_version_added",
    "DROP TRIGGER IF EXISTS notices_bigrams_version_updating",
    "DROP TRIGGER IF EXISTS notices_bigrams_version_updated",
    "DROP TRIGGER IF EXISTS notices_bigrams_notice_updating",
    "DROP TRIGGER IF EXISTS notices_bigrams_notice_updated",
    "DROP TRIGGER IF EXISTS notices_bigrams_notice_deleting",
    "DROP TABLE IF EXISTS notices_bigrams",
    "DROP TABLE IF EXISTS notices_fts",
)

# What the index holds for each notice: its document as computed from its title, unit and
# latest text; for a pending notice, that document before its delta; none for a pending
# notice out of the index. FTS5's 'rebuild' and 'integrity-check' read it.
DOC_VIEW_SQL = f"""CREATE VIEW {DOC_VIEW} AS
    SELECT f.rowid AS id, CASE WHEN p.notice_id IS NULL THEN {_DOC}
        ELSE {INDEXED_DOC_FUNCTION}({_HAYSTACK.format(f="f")}, p.delta) END AS doc
    FROM {TEXT_VIEW} f LEFT JOIN {PENDING_TABLE} p ON p.notice_id = f.rowid
    WHERE p.notice_id IS NULL OR p.delta IS NOT NULL"""

_DOC_VIEW_M012 = f"""CREATE VIEW {DOC_VIEW} AS
    SELECT f.rowid AS id, {_DOC} AS doc FROM {TEXT_VIEW} f
    WHERE f.rowid NOT IN (SELECT notice_id FROM {PENDING_TABLE})"""

_LATEST_TEXT = (
    "(SELECT v.text FROM versions v WHERE v.notice_id = OLD.id ORDER BY v.n DESC LIMIT 1)"
)

TRIGGER_NAMES = (
    "notices_search_notice_added",
    "notices_search_notice_updating",
    "notices_search_notice_deleting",
    "notices_search_version_adding",
    "notices_search_version_updating",
    "notices_search_version_deleting",
    "notices_search_flush",
)


def _triggers(unindex: Callable[[str, str], str], flush: tuple[str, str]) -> tuple[str, ...]:
    notice = "(SELECT {c} FROM notices WHERE id = NEW.notice_id)"
    new_text = _haystack(notice.format(c="title"), notice.format(c="unit"), "NEW.text")
    return (
        f"""CREATE TRIGGER notices_search_notice_added AFTER INSERT ON notices
    BEGIN
        INSERT OR IGNORE INTO {PENDING_TABLE} (notice_id) VALUES (NEW.id);
    END""",
        f"""CREATE TRIGGER notices_search_notice_updating BEFORE UPDATE OF title, unit ON notices
    WHEN OLD.title IS NOT NEW.title OR OLD.unit IS NOT NEW.unit
    BEGIN
        {unindex("OLD.id", _haystack("NEW.title", "NEW.unit", _LATEST_TEXT))}
    END""",
        f"""CREATE TRIGGER notices_search_notice_deleting BEFORE DELETE ON notices
    BEGIN
        INSERT INTO {BIGRAM_TABLE} ({BIGRAM_TABLE}, rowid, doc)
            SELECT 'delete', id, doc FROM {DOC_VIEW} WHERE id = OLD.id;
        DELETE FROM {PENDING_TABLE} WHERE notice_id = OLD.id;
    END""",
        f"""CREATE TRIGGER notices_search_version_adding BEFORE INSERT ON versions
    WHEN {_IS_LATEST.format(row="NEW")}
    BEGIN
        {unindex("NEW.notice_id", new_text)}
    END""",
        # Only the latest version's text is searched: updates of older rows (their texts
        # stored another way) change nothing here.
        f"""CREATE TRIGGER notices_search_version_updating BEFORE UPDATE OF text ON versions
    WHEN OLD.text IS NOT NEW.text AND {_IS_LATEST.format(row="OLD")}
    BEGIN
        {unindex("OLD.notice_id", new_text.replace("NEW.notice_id", "OLD.notice_id"))}
    END""",
        f"""CREATE TRIGGER notices_search_version_deleting BEFORE DELETE ON versions
    WHEN {_IS_LATEST.format(row="OLD")}
    BEGIN
        {unindex("OLD.notice_id", "NULL")}
    END""",
        # Index the pending notices together, after a version is in place (never from a
        # BEFORE trigger: the row about to change would be indexed as it was).
        f"""CREATE TRIGGER notices_search_flush AFTER INSERT ON versions
    WHEN (SELECT count(*) FROM {PENDING_TABLE}) >= {FLUSH_AT}
    BEGIN
        {flush[0]};
        {flush[1]};
    END""",
    )


# How FTS5 cuts the documents into tokens. A document holds nothing but lower-cased runs
# of letters and digits (str.isalnum) and single spaces (:func:`bigrams`), so FTS5's
# 'ascii' tokenizer (separators: ASCII characters other than letters and digits; ASCII
# letters folded, which a document never holds in upper case; every other character kept
# as it is) cuts it into exactly its space-separated tokens. A query's tokens are written
# by the same code. 'unicode61', which m012 created, looked every character up in
# Unicode's tables and folded case again, for about 0.15 ms per new notice, and folded a
# few letters together (ſ and s), so that a delta could not be trusted with them.
TOKENIZER = "ascii"


def _index_sql(tokenize: str) -> str:
    return f"""CREATE VIRTUAL TABLE {BIGRAM_TABLE} USING fts5(doc, content = '{DOC_VIEW}',
    content_rowid = 'id', detail = none, columnsize = 0,
    tokenize = '{tokenize}')"""


# m012_search_index as it ran (m014_change_costs then changes the upkeep).
SEARCH_SQL = (
    f"""CREATE VIEW {TEXT_VIEW} AS
    SELECT n.id AS rowid, n.title AS title, n.unit AS unit,
        (SELECT v.text FROM versions v WHERE v.notice_id = n.id ORDER BY v.n DESC LIMIT 1) AS text
    FROM notices n""",
    f"""CREATE TABLE {PENDING_TABLE} (notice_id INTEGER PRIMARY KEY)""",
    _DOC_VIEW_M012,
    _index_sql("unicode61 remove_diacritics 0"),
    *_triggers(_unindex_m012, _FLUSH_M012),
    f"INSERT INTO {BIGRAM_TABLE} ({BIGRAM_TABLE}) VALUES ('rebuild')",
)

# m014_change_costs: the pending table keeps each pending notice's delta (the notices
# pending under m012 are out of the index: NULL, "insert it whole", is right for them), and
# the content view and the triggers are replaced. The index itself stays as it is.
DELTA_SQL = (
    f"ALTER TABLE {PENDING_TABLE} ADD COLUMN delta TEXT",
    *(f"DROP TRIGGER IF EXISTS {name}" for name in TRIGGER_NAMES),
    f"DROP VIEW IF EXISTS {DOC_VIEW}",
    DOC_VIEW_SQL,
    *_triggers(_unindex, FLUSH),
)


# m015_search_tokenizer: the index made again with the 'ascii' tokenizer, from its content
# view, which gives what it must hold for every notice (pending ones included).
TOKENIZER_SQL = (
    f"DROP TABLE {BIGRAM_TABLE}",
    _index_sql(TOKENIZER),
    f"INSERT INTO {BIGRAM_TABLE} ({BIGRAM_TABLE}) VALUES ('rebuild')",
)


def flush(db: Database) -> int:
    """Index every pending notice now, in one transaction; return how many there were."""
    from store.db import write_transaction

    with write_transaction(db):
        pending = db.execute(f"SELECT count(*) FROM {PENDING_TABLE}").fetchone()[0]
        for statement in FLUSH:
            db.execute(statement)
    return int(pending)
