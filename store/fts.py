"""Full-text search over the latest text of each notice, for Chinese (table ``notices_fts``).

The index (migration ``m004_fts`` in store/db.py) uses SQLite's ``trigram`` tokenizer: every
run of three characters is a token, so a query of three or more characters finds any
substring, with no word segmenter. A trigram index cannot answer a one- or two-character
query such as ``巡视``: Chinese ones go to the bigram index ``notices_bigrams`` (below, and
what Datasette's search box uses), anything else is matched by scanning the indexed text
(``instr``, not ``LIKE``: SQLite 3.40's trigram table answers a ``LIKE`` pattern of fewer
than three characters with no rows at all). Terms separated by white space must all occur.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

MIN_INDEXED_CHARS = 3  # the trigram tokenizer's shortest searchable term
SNIPPET_CHARS = 40


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


def _phrase(term: str) -> str:
    """An FTS5 string literal: the term as one phrase, whatever characters it holds."""
    return '"' + term.replace('"', '""') + '"'


def search(db: Database, query: str, *, site: str | None = None, limit: int = 50) -> list[Hit]:
    """Notices whose title, unit or latest text contains every white-space-separated term.

    Ranked by relevance when a term is long enough for the index, else newest first.
    """
    terms = query.split()
    if not terms:
        return []
    indexed = [t for t in terms if len(t) >= MIN_INDEXED_CHARS]
    short = [t for t in terms if len(t) < MIN_INDEXED_CHARS]
    where: list[str] = []
    params: list[Any] = []
    if short and db[BIGRAM_TABLE].exists():
        # Chinese terms go to the bigram index; only what it cannot answer (a Latin word's
        # fragment such as "PD") is left to the scan.
        han = [t for t in short if _HAN.fullmatch(t)]
        short = [t for t in short if not _HAN.fullmatch(t)]
        for term in han:
            where.append(
                f"f.rowid IN (SELECT rowid FROM {BIGRAM_TABLE} WHERE {BIGRAM_TABLE} MATCH ?)"
            )
            params.append(bigram_query(term))
    if indexed:
        where.append("notices_fts MATCH ?")
        params.append(" AND ".join(_phrase(t) for t in indexed))
    for term in short:
        # lower() folds ASCII only, which is all a Chinese query needs folded.
        where.append(
            "instr(lower(coalesce(f.title, '') || char(10) || coalesce(f.unit, '') "
            "|| char(10) || f.text), lower(?)) > 0"
        )
        params.append(term)
    if site:
        where.append("n.site = ?")
        params.append(site)
    order = "f.rank" if indexed else "n.published_at DESC, n.id DESC"
    sql = (
        "SELECT n.id, n.site, n.title, n.unit, n.published_at, n.url, f.text "
        "FROM notices_fts f JOIN notices n ON n.id = f.rowid "
        f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
    )  # only fixed fragments are joined; every value is a parameter
    params.append(limit)
    return [
        Hit(row[0], row[1], row[2], row[3], row[4], row[5], snippet(row[6] or "", terms))
        for row in db.execute(sql, params).fetchall()
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


# -- two-character search: a bigram index ---------------------------------------------------
#
# ``notices_bigrams`` (migration m006 in store/db.py) is a contentless FTS5 table with the
# default ``unicode61`` tokenizer over the same title, unit and latest text, written out by
# :func:`bigrams`: every run of Chinese characters becomes its overlapping two-character
# pairs plus its last character alone (``巡视整改`` -> ``巡视 视整 整改 改``), everything else
# is left to the tokenizer (words, numbers). A query is written out the same way by
# :func:`bigram_query`, as one FTS5 phrase per term, so a Chinese term of any length is
# found exactly where it occurs as a substring: ``巡视`` is one token, ``巡视整改`` the phrase
# ``巡视 视整 整改``, a single character a prefix query. This is what Datasette's search box
# uses (store/datasette.py); the CLI keeps the trigram index for terms of three or more
# characters (it ranks by relevance and finds substrings of Latin words too) and uses this
# index instead of a scan for shorter Chinese terms.

BIGRAM_TABLE = "notices_bigrams"
BIGRAM_FUNCTION = "xunshi_bigrams"

_HAN = re.compile(
    "[\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f\U00030000-\U0003134f]+"
)


def _pieces(text: str) -> Iterator[tuple[bool, str]]:
    """The text cut into (is it a run of Chinese characters?, piece)."""
    pos = 0
    for m in _HAN.finditer(text):
        if m.start() > pos:
            yield False, text[pos : m.start()]
        yield True, m.group()
        pos = m.end()
    if pos < len(text):
        yield False, text[pos:]


def _run_tokens(run: str, *, last: bool = True) -> list[str]:
    if len(run) == 1:
        return [run]
    pairs = [run[i : i + 2] for i in range(len(run) - 1)]
    return pairs + [run[-1]] if last else pairs


def bigrams(text: str | None) -> str | None:
    """The text as the bigram index stores it (the SQL function ``xunshi_bigrams``)."""
    if text is None:
        return None
    out: list[str] = []
    for han, piece in _pieces(text):
        out.extend(_run_tokens(piece) if han else [piece])
    return " ".join(out)


def bigram_query(query: str) -> str | None:
    """An FTS5 query for ``notices_bigrams``: every white-space-separated term must occur.

    None when no term holds a character the index knows (letters, digits, Chinese).
    """
    phrases: list[str] = []
    for term in query.split():
        if not any(c.isalnum() for c in term):
            continue
        pieces = list(_pieces(term))
        tokens: list[str] = []
        prefix = False
        for i, (han, piece) in enumerate(pieces):
            if not han:
                tokens.append(piece)
            elif i == len(pieces) - 1:
                # The term ends here, the text may go on: no closing single character, and
                # a lone character is the start of whatever token follows it.
                tokens.extend(_run_tokens(piece, last=False))
                prefix = len(piece) == 1
            else:
                tokens.extend(_run_tokens(piece))
        phrases.append(_phrase(" ".join(tokens)) + ("*" if prefix else ""))
    return " AND ".join(phrases) or None


def register_functions(conn: sqlite3.Connection) -> None:
    """The SQL function the bigram index's triggers call: every writing connection needs it."""
    conn.create_function(BIGRAM_FUNCTION, 1, bigrams, deterministic=True)


# Kept in step by triggers, like notices_fts. The table is contentless (it stores the index,
# not a second copy of the texts), so a row is removed with FTS5's 'delete' command, which
# needs the values that were indexed: BEFORE triggers take them from notices_fts while it
# still holds them (its own triggers run AFTER), AFTER triggers index the new values.
_BIGRAM_INDEX = (
    f"SELECT rowid, {BIGRAM_FUNCTION}(title), {BIGRAM_FUNCTION}(unit), {BIGRAM_FUNCTION}(text)"
)
_IS_LATEST = "NEW.n >= (SELECT coalesce(max(n), 0) FROM versions WHERE notice_id = NEW.notice_id)"
BIGRAM_SQL = (
    f"""CREATE VIRTUAL TABLE {BIGRAM_TABLE} USING fts5(title, unit, text, content = '')""",
    f"""CREATE TRIGGER notices_bigrams_version_adding BEFORE INSERT ON versions
    WHEN {_IS_LATEST}
    BEGIN
        INSERT INTO {BIGRAM_TABLE} ({BIGRAM_TABLE}, rowid, title, unit, text)
            SELECT 'delete', {_BIGRAM_INDEX[7:]} FROM notices_fts WHERE rowid = NEW.notice_id;
    END""",
    f"""CREATE TRIGGER notices_bigrams_version_added AFTER INSERT ON versions
    WHEN {_IS_LATEST}
    BEGIN
        INSERT INTO {BIGRAM_TABLE} (rowid, title, unit, text)
            SELECT id, {BIGRAM_FUNCTION}(title), {BIGRAM_FUNCTION}(unit),
                {BIGRAM_FUNCTION}(NEW.text) FROM notices WHERE id = NEW.notice_id;
    END""",
    f"""CREATE TRIGGER notices_bigrams_version_updating BEFORE UPDATE OF text ON versions
    WHEN {_IS_LATEST}
    BEGIN
        INSERT INTO {BIGRAM_TABLE} ({BIGRAM_TABLE}, rowid, title, unit, text)
            SELECT 'delete', {_BIGRAM_INDEX[7:]} FROM notices_fts WHERE rowid = NEW.notice_id;
    END""",
    f"""CREATE TRIGGER notices_bigrams_version_updated AFTER UPDATE OF text ON versions
    WHEN {_IS_LATEST}
    BEGIN
        INSERT INTO {BIGRAM_TABLE} (rowid, title, unit, text)
            SELECT id, {BIGRAM_FUNCTION}(title), {BIGRAM_FUNCTION}(unit),
                {BIGRAM_FUNCTION}(NEW.text) FROM notices WHERE id = NEW.notice_id;
    END""",
    f"""CREATE TRIGGER notices_bigrams_notice_updating BEFORE UPDATE OF title, unit ON notices
    WHEN OLD.title IS NOT NEW.title OR OLD.unit IS NOT NEW.unit
    BEGIN
        INSERT INTO {BIGRAM_TABLE} ({BIGRAM_TABLE}, rowid, title, unit, text)
            SELECT 'delete', {_BIGRAM_INDEX[7:]} FROM notices_fts WHERE rowid = NEW.id;
    END""",
    f"""CREATE TRIGGER notices_bigrams_notice_updated AFTER UPDATE OF title, unit ON notices
    WHEN OLD.title IS NOT NEW.title OR OLD.unit IS NOT NEW.unit
    BEGIN
        INSERT INTO {BIGRAM_TABLE} (rowid, title, unit, text)
            SELECT rowid, {BIGRAM_FUNCTION}(NEW.title), {BIGRAM_FUNCTION}(NEW.unit),
                {BIGRAM_FUNCTION}(text) FROM notices_fts WHERE rowid = NEW.id;
    END""",
    f"""CREATE TRIGGER notices_bigrams_notice_deleting BEFORE DELETE ON notices
    BEGIN
        INSERT INTO {BIGRAM_TABLE} ({BIGRAM_TABLE}, rowid, title, unit, text)
            SELECT 'delete', {_BIGRAM_INDEX[7:]} FROM notices_fts WHERE rowid = OLD.id;
    END""",
    f"""INSERT INTO {BIGRAM_TABLE} (rowid, title, unit, text) {_BIGRAM_INDEX} FROM notices_fts""",
)
