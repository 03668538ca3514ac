"""Full-text search over the latest text of each notice, for Chinese (table ``notices_fts``).

The index (migration ``m004_fts`` in store/db.py) uses SQLite's ``trigram`` tokenizer: every
run of three characters is a token, so a query of three or more characters finds any
substring, with no word segmenter. A trigram index cannot answer a one- or two-character
query such as ``巡视``, so those terms are matched by scanning the indexed text instead
(``instr``, not ``LIKE``: SQLite 3.40's trigram table answers a ``LIKE`` pattern of fewer
than three characters with no rows at all). Terms separated by white space must all occur.
"""

from __future__ import annotations

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
