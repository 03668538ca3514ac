"""The pure work of recording a new notice, done where the item is produced (issue 16).

A store writer is one process (the distributed crawl sends every worker's items to it),
so everything a notice needs that is a pure function of the notice itself is computed
before it reaches the writer: in the crawl process's store pipeline, and in a worker of a
distributed crawl before the item is sent to Redis. ``prepare`` returns a ``Prepared``:

* the SHA-256 of the text (what ties the rest to this text);
* the facts of the text (``crawler.facts.extract_facts``);
* the unit and districts (``store.districts.match_notice``) and the year they were
  matched for;
* the search index's document of the notice's title, unit and text (``store.fts.bigrams``);
* optionally the raw page compressed against the site's dictionary (``raw``,
  ``raw_codec``, ``raw_dict``), when the producer knows the site's current dictionary.

Nothing here reads or writes a database. The writer (``Store.record(notice, run_id,
prepared)``) does not take it on trust: a ``Prepared`` made by other code than the
writer's own (``CODE``, a digest of the modules that compute it), or for another text,
title, date or province, is ignored; a field that is missing is computed by the writer;
a compressed page is used only when its dictionary is the site's current one and it
decodes to the page byte for byte, else the page is compressed again.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.facts import extract_facts
from crawler.items import Notice
from store import compress
from store.districts import UnitMatch, match_notice
from store.fts import bigrams, haystack

# The modules whose output a Prepared carries: another version of any of them on a worker
# than on the writer, and the writer computes everything itself.
_SOURCES = (
    "crawler/facts.py",
    "store/districts.py",
    "store/fts.py",
    "store/compress.py",
    "store/prepare.py",
)


@functools.cache
def code_digest() -> str:
    """A digest of the code (and the division data) that computes a Prepared."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for name in _SOURCES:
        h.update(name.encode())
        h.update((root / name).read_bytes())
    data = root / "store" / "data"
    for path in sorted(data.glob("divisions.csv*")) if data.is_dir() else []:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Prepared:
    """What ``prepare`` computed for one notice (None: not computed, the writer does it)."""

    code: str
    sha256: str
    title: str | None
    published_at: str | None
    province: str | None
    year: int  # the year the districts were matched for
    facts: dict[str, Any] | None = None
    match: UnitMatch | None = None
    doc: str | None = None  # the index document of (title, match.unit, text)
    page: dict[str, Any] | None = None  # raw, raw_codec, raw_dict


def load_tables() -> None:
    """Load, once per process, the tables preparing a notice reads: NumPy and the search
    index's letter table, the division table and its index (~0.1 s). A crawl does it as it
    starts (StorePipeline.open_spider), instead of its first new notice."""
    from store import districts, fts

    fts.load_tables()
    districts.load_tables()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def match_year(notice: Notice, now: str) -> int:
    """The year a notice's districts are matched for: its date's, else the recording's."""
    return int(notice.published_at[:4]) if notice.published_at else int(now[:4])


def page_columns(raw: bytes, text: str, site_dict: tuple[int, bytes] | None) -> dict[str, Any]:
    """A new latest version's page columns as ``store.compress.store_page`` writes them
    for a site whose current dictionary is ``site_dict`` (id, content; None: none yet)."""
    if site_dict is None:
        return {"raw": compress.encode_page(raw, text), "raw_codec": compress.RAW_TEXT,
                "raw_dict": None}  # fmt: skip
    dict_id, content = site_dict
    return {"raw": compress.encode_page(raw, text, content), "raw_codec": compress.RAW_DICT,
            "raw_dict": dict_id}  # fmt: skip


def prepare(
    notice: Notice,
    now: str,
    *,
    site_dict: tuple[int, bytes] | None = None,
    page: bool = False,
    facts: bool = True,
) -> Prepared:
    """The pure per-notice work of recording ``notice`` (normalised: it has its text).

    ``now``: the recording time as ISO 8601 (only its year is used, for a notice without a
    date). ``page``: also compress the page against ``site_dict``. ``facts``: False where
    the store keeps no facts.
    """
    if not notice.text:
        raise ValueError("a notice must be normalised before it is prepared")
    text = notice.text
    year = match_year(notice, now)
    match = match_notice(notice.title, text, year=year, site_province=notice.province)
    return Prepared(
        code=code_digest(),
        sha256=text_sha256(text),
        title=notice.title,
        published_at=notice.published_at,
        province=notice.province,
        year=year,
        facts=extract_facts(text, notice.title, notice.published_at) if facts else None,
        match=match,
        doc=bigrams(haystack(notice.title, match.unit, text)),
        page=page_columns(notice.raw, text, site_dict) if page else None,
    )


def usable(prepared: Any, notice: Notice, sha256: str) -> Prepared | None:
    """``prepared`` if it was made by this code for this very notice, else None."""
    if not isinstance(prepared, Prepared):
        return None
    if prepared.code != code_digest() or prepared.sha256 != sha256:
        return None
    if (prepared.title, prepared.published_at, prepared.province) != (
        notice.title,
        notice.published_at,
        notice.province,
    ):
        return None
    return prepared
