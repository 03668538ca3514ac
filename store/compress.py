"""How versions keep their raw page and text small, and the one way to read them back.

Every version keeps the page bytes as fetched (the evidence) and its seed-format text.
Both are stored compressed with zstd, against bytes the reader can always rebuild. Old
versions are deltas against their successor, so recording a change shrinks the old row
(a row that grew in place would split its B-tree page: KBs of half-empty pages):

* **raw pages** (``versions.raw``, method in ``versions.raw_codec``) are compressed with
  a *prefix*: bytes zstd may copy from, as if they came just before the page. The page's
  own text (UTF-8) always ends the prefix, because the article body in the HTML is mostly
  that text. Before it comes

  - ``zstd+dict+text``: the site's dictionary (``page_dicts.content``, id in
    ``versions.raw_dict``), trained by zstd from the site's own stored pages: templates,
    navigation, scripts. Every latest page is stored so;
  - ``zstd+next+text``: the page of the next version of the same notice. When version n+1
    is recorded, version n's page becomes this delta (a few dozen bytes when little
    changed), except every RAW_KEYFRAME-th (``n % 16 == 0``), which keeps its frame, so
    reading an old page decodes at most RAW_KEYFRAME - 1 newer ones;
  - ``zstd+text``: nothing (a site without a dictionary yet).
  Rows with ``raw_codec`` NULL were stored before all this: one zstd frame (level 3) or,
  older still, zlib; ``legacy_page`` reads both.
* **texts**: the latest version's ``versions.text`` stays plain (search, Datasette and every
  "latest" read use it). When version n+1 is recorded, version n's text becomes zstd of
  its UTF-8 with version n+1's text as prefix (``text_codec`` ``zstd+next``: a few dozen
  bytes when little changed), or, every TEXT_KEYFRAME-th version, zstd of the text alone
  (``zstd``), so that reading an old text decodes at most TEXT_KEYFRAME newer ones.

Every frame carries zstd's content checksum, so a wrong prefix is an error, never wrong
bytes. Readers: ``version_text(db, notice_id, n)`` and ``raw_of(db, version_row)``;
``Store.version`` returns rows with the text already read. The functions at the top are
pure; the rest reads (and ``store_page``/``supersede``/``train_site_dict`` write) the
database, always inside the caller's transaction.
"""

from __future__ import annotations

import sys
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

LEVEL = 3  # zstd level of pages and texts: see bench/bench_compress.py for the trade-off
RAW_TEXT = "zstd+text"
RAW_DICT = "zstd+dict+text"
RAW_NEXT = "zstd+next+text"
TEXT_ZSTD = "zstd"
TEXT_NEXT = "zstd+next"

RAW_KEYFRAME = 16  # an old page with n % 16 == 0 keeps its dictionary frame
TEXT_KEYFRAME = 16  # an old text with n % 16 == 0 is compressed on its own

# When a site gets a dictionary: once it has TRAIN_AFTER notices, then again each time its
# notice count has grown RETRAIN_FACTOR times since the last training (16, 256, 4096, …).
# Samples: the first version of its newest TRAIN_SAMPLES notices. A training costs 40-110 ms
# of CPU; most sites have a few hundred notices, and one at 64 (factor 4) cost them 0.2-1 ms
# per page for pages ~0.3 KB smaller (10 % of a page, 1 % of a version): issue 16.
TRAIN_AFTER = 16
RETRAIN_FACTOR = 16
TRAIN_SAMPLES = 32  # 64 gives ~15 % smaller pages for twice the training time
DICT_MAX = 110 * 1024
DICT_MIN = 1024
DICTS_KEPT = 32  # dictionaries a process keeps in memory (110 KB each at most)
PROGRESS_FROM = 1000  # migration m013 reports progress from this many notices on
_PREFIX_MIN = 8  # zstd takes no shorter prefix: below it, frames are made without one
_WINDOW_LOG_MAX = 27  # what every zstd decoder accepts without being told


class CompressError(RuntimeError):
    """A stored page or text cannot be read back (a missing base, a damaged frame)."""


# -- pure functions ---------------------------------------------------------------------


def _options(size: int, level: int) -> dict[Any, int]:
    window = max(10, min(_WINDOW_LOG_MAX, size.bit_length()))
    return {
        zstd.CompressionParameter.compression_level: level,
        zstd.CompressionParameter.checksum_flag: 1,
        zstd.CompressionParameter.window_log: max(window, 17),
    }


def compress(data: bytes, prefix: bytes = b"", level: int = LEVEL) -> bytes:
    """One zstd frame of ``data`` that may copy from ``prefix`` (empty: none)."""
    options = _options(len(prefix) + len(data), level)
    if len(prefix) < _PREFIX_MIN:
        return zstd.compress(data, options=options)
    return zstd.compress(
        data, options=options, zstd_dict=zstd.ZstdDict(prefix, is_raw=True).as_prefix
    )


def decompress(frame: bytes, prefix: bytes = b"") -> bytes:
    """The bytes of a ``compress`` frame, given the same prefix."""
    try:
        if len(prefix) < _PREFIX_MIN:
            return zstd.decompress(frame)
        return zstd.decompress(frame, zstd_dict=zstd.ZstdDict(prefix, is_raw=True).as_prefix)
    except zstd.ZstdError as exc:
        raise CompressError(f"a stored frame does not decode ({exc})") from None


def legacy_page(stored: bytes) -> bytes:
    """A raw page stored before per-row methods: one zstd frame, or (older) zlib."""
    if stored.startswith(ZSTD_MAGIC):
        return zstd.decompress(stored)
    return zlib.decompress(stored)


def text_prefix(text: str | None) -> bytes:
    return (text or "").encode("utf-8")


def encode_page(raw: bytes, text: str | None, base: bytes = b"", level: int = LEVEL) -> bytes:
    """A raw page compressed against ``base`` (a dictionary or the next version's page) and its text."""
    return compress(raw, base + text_prefix(text), level)


def decode_page(frame: bytes, text: str | None, base: bytes = b"") -> bytes:
    return decompress(frame, base + text_prefix(text))


def encode_text(text: str, successor: str | None) -> bytes:
    """An old version's text, against its successor's text (None: on its own)."""
    return compress(text.encode("utf-8"), text_prefix(successor) if successor is not None else b"")


def decode_text(blob: bytes, successor: str | None) -> str:
    return decompress(blob, text_prefix(successor) if successor is not None else b"").decode(
        "utf-8"
    )


def dict_size(sample_bytes: int) -> int:
    """How big a dictionary to train from samples of this total size (zstd: ~1/10)."""
    return max(DICT_MIN, min(DICT_MAX, sample_bytes // 10))


def train(samples: list[bytes]) -> bytes | None:
    """A zstd dictionary trained on ``samples``; None when zstd cannot make one of them."""
    samples = [s for s in samples if s]
    if len(samples) < 8:
        return None
    try:
        trained = zstd.train_dict(samples, dict_size(sum(map(len, samples))))
    except (zstd.ZstdError, ValueError):
        return None
    return bytes(trained.dict_content)


def should_train(notices: int, trained_at: int | None) -> bool:
    """Whether a site with ``notices`` notices needs a (new) dictionary; ``trained_at``:
    how many it had when its current one was trained (None: it has none)."""
    if trained_at is None:
        return notices >= TRAIN_AFTER
    return notices >= max(TRAIN_AFTER, trained_at) * RETRAIN_FACTOR


# -- the dictionary table -----------------------------------------------------------------

DICT_TABLE = "page_dicts"


def create_schema(db: Database) -> None:
    """The dictionary table and the per-row method columns (migration m013; idempotent)."""
    if not db.table(DICT_TABLE).exists():
        db.table(DICT_TABLE).create(
            {
                "id": int,
                "site": str,
                "created_at": str,
                "notices": int,  # how many notices the site had when it was trained
                "samples": int,  # how many pages it was trained on
                "sample_bytes": int,
                "content": bytes,  # used as raw zstd history (is_raw), never changed
            },
            pk="id",
            not_null={"site", "created_at", "content"},
        )
        db.table(DICT_TABLE).create_index(["site", "id"])
    columns = db.table("versions").columns_dict
    for name, kind in (("raw_codec", str), ("raw_dict", int), ("text_codec", str)):
        if name not in columns:
            db.table("versions").add_column(name, kind)


@dataclass
class _State:
    """What one database connection's writer remembers between records."""

    contents: OrderedDict[int, bytes] = field(default_factory=OrderedDict)  # the last used
    current: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    notices: dict[str, int] = field(default_factory=dict)
    failed_at: dict[str, int] = field(default_factory=dict)
    enabled: bool = False


_STATES: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()


def _state(db: Database) -> _State:
    state = _STATES.get(db)
    if state is None:
        state = _STATES[db] = _State()
    return state


def enabled(db: Database) -> bool:
    """Whether the database has m013's columns (a test may record into an older schema:
    then pages are stored the old way and texts stay plain)."""
    state = _state(db)
    if not state.enabled:
        names = {r[1] for r in db.execute("PRAGMA table_info(versions)").fetchall()}
        state.enabled = {"raw_codec", "raw_dict", "text_codec"} <= names
    return state.enabled


def dict_content(db: Database, dict_id: int) -> bytes:
    state = _state(db)
    content = state.contents.get(dict_id)
    if content is not None:
        state.contents.move_to_end(dict_id)
    if content is None:
        row = db.execute(f"SELECT content FROM {DICT_TABLE} WHERE id = ?", [dict_id]).fetchone()
        if row is None:
            raise CompressError(f"dictionary {dict_id} is missing from {DICT_TABLE}")
        content = state.contents[dict_id] = bytes(row[0])
        while len(state.contents) > DICTS_KEPT:  # a crawl of 3,000 sites: not all in memory
            state.contents.popitem(last=False)
    return content


def _current_dict(db: Database, site: str) -> tuple[int, int] | None:
    row = db.execute(
        f"SELECT id, notices FROM {DICT_TABLE} WHERE site = ? ORDER BY id DESC LIMIT 1", [site]
    ).fetchone()
    return (int(row[0]), int(row[1] or 0)) if row else None


def train_site_dict(db: Database, site: str, notices: int, now: str) -> int | None:
    """Train and store a dictionary from the site's newest pages; its id (None: zstd could
    not train one from them)."""
    rows = db.execute(
        """SELECT v.* FROM notices n JOIN versions v ON v.notice_id = n.id AND v.n = 1
           WHERE n.site = ? AND v.raw IS NOT NULL ORDER BY n.id DESC LIMIT ?""",
        [site, TRAIN_SAMPLES],
    )
    names = [d[0] for d in rows.description]
    samples = [raw_of(db, dict(zip(names, r, strict=True))) or b"" for r in rows.fetchall()]
    content = train(samples)
    if content is None:
        return None
    table = db.table(DICT_TABLE)
    table.insert({"site": site, "created_at": now, "notices": notices, "samples": len(samples),
                  "sample_bytes": sum(map(len, samples)), "content": content})  # fmt: skip
    dict_id = int(table.last_pk)  # type: ignore[arg-type]
    _state(db).contents[dict_id] = content
    return dict_id


def site_dict(db: Database, site: str, now: str, *, new_notice: bool) -> int | None:
    """The dictionary a site's next keyframe page uses, training one when it is time."""
    state = _state(db)
    if site not in state.notices:
        state.notices[site] = db.execute(
            "SELECT count(*) FROM notices WHERE site = ?", [site]
        ).fetchone()[0]
        state.current[site] = _current_dict(db, site)
    elif new_notice:
        state.notices[site] += 1
    count = state.notices[site]
    current = state.current[site]
    failed = state.failed_at.get(site)
    if should_train(count, current[1] if current else None) and (
        failed is None or count >= 2 * failed
    ):
        current = state.current[site] = _current_dict(db, site)  # another writer's?
        if should_train(count, current[1] if current else None):
            dict_id = train_site_dict(db, site, count, now)
            if dict_id is None:
                state.failed_at[site] = count
            else:
                current = state.current[site] = (dict_id, count)
    return current[0] if current else None


# -- writing ------------------------------------------------------------------------------


def store_page(db: Database, site: str, n: int, raw: bytes, text: str, now: str) -> dict[str, Any]:
    """The columns that hold a new latest version's raw page: raw, raw_codec, raw_dict.

    The latest page of a notice stands on its own (the site's dictionary and its text), so
    the newest evidence is one decode away; ``supersede`` turns it into a delta later.
    """
    if not enabled(db):
        return {"raw": zstd.compress(raw, LEVEL)}
    dict_id = site_dict(db, site, now, new_notice=n == 1)
    if dict_id is None:
        return {"raw": encode_page(raw, text), "raw_codec": RAW_TEXT, "raw_dict": None}
    base = dict_content(db, dict_id)
    return {"raw": encode_page(raw, text, base), "raw_codec": RAW_DICT, "raw_dict": dict_id}


def supersede(
    db: Database, notice_id: int, n: int, successor_text: str, successor_raw: bytes
) -> None:
    """Version n has a successor now (just inserted): its plain text and its page become
    deltas against the successor's (no-op for what is already one).

    Both shrink the old row in place, so a change adds little more than the new row (an
    old row that grew would split its B-tree page). Run after version n+1 is inserted: the
    search index's triggers only act on the latest version, so they leave this row alone.
    Each new frame is decoded and compared before it is written.
    """
    if not enabled(db):
        return
    row = _version_row(db, notice_id, n)
    if row is None:
        return
    changes: dict[str, Any] = {}
    if row["text_codec"] is None and isinstance(row["text"], str):
        text = row["text"]
        changes["text"], changes["text_codec"] = _encode_old_text(text, n, successor_text)
    else:
        text = version_text(db, notice_id, n) or ""
    if row["raw"] is not None and row["raw_codec"] != RAW_NEXT and n % RAW_KEYFRAME != 0:
        page = raw_of(db, row)
        if page is not None:
            frame = encode_page(page, text, successor_raw)
            if decode_page(frame, text, successor_raw) != page:
                raise CompressError(f"notice {notice_id} version {n}: page check failed")
            changes.update(raw=frame, raw_codec=RAW_NEXT, raw_dict=None)
    if changes:
        _move_shrunk(db, row["id"], n, changes)


def _move_shrunk(db: Database, row_id: int, n: int, changes: dict[str, Any]) -> None:
    """Rewrite version row ``row_id`` with ``changes`` as a new row at the end of the table
    and delete the old one (issue 16). Shrunk in place, the row would leave most of its
    leaf page's share empty (its text and page, 0.5 to 4 KB of the big row's local part,
    become a few dozen bytes), where later rows, which always go at the end, never come:
    1.1 KB a change on the bench's notices, 2 KB on the real CCDI pages. Deleted, the row
    frees its place whole and SQLite folds under-filled leaves into their neighbours.
    Every other column is copied by SQL, as stored; only the row's ``id`` changes (nothing
    refers to it). The copy takes ``-n`` until the old row is gone (``(notice_id, n)`` is
    unique); the search triggers only act on a notice's latest version."""
    columns = [r[1] for r in db.execute("PRAGMA table_info(versions)").fetchall() if r[1] != "id"]
    values = ["?" if c in changes else "-n" if c == "n" else c for c in columns]
    moved = db.execute(
        f"INSERT INTO versions ({', '.join(columns)}) SELECT {', '.join(values)} "
        "FROM versions WHERE id = ?",
        [*(changes[c] for c in columns if c in changes), row_id],
    ).lastrowid
    db.execute("DELETE FROM versions WHERE id = ?", [row_id])
    db.execute("UPDATE versions SET n = ? WHERE id = ?", [n, moved])


def _encode_old_text(text: str, n: int, successor: str) -> tuple[bytes, str]:
    if n % TEXT_KEYFRAME == 0:
        return encode_text(text, None), TEXT_ZSTD
    return encode_text(text, successor), TEXT_NEXT


# -- reading ------------------------------------------------------------------------------

_ROW_COLUMNS = "id, notice_id, n, text, text_codec, raw, raw_codec, raw_dict"


def _version_row(db: Database, notice_id: int, n: int) -> dict[str, Any] | None:
    cursor = db.execute(
        f"SELECT {_ROW_COLUMNS} FROM versions WHERE notice_id = ? AND n = ?", [notice_id, n]
    )
    row = cursor.fetchone()
    return dict(zip([d[0] for d in cursor.description], row, strict=True)) if row else None


def texts_from(db: Database, notice_id: int, lo: int, hi: int | None = None) -> dict[int, str]:
    """The texts of versions lo..hi (default: lo alone) of a notice, decoded in one pass
    from the nearest version above hi that stands on its own."""
    hi = lo if hi is None else hi
    if not enabled(db):
        return {
            int(n): str(text)
            for n, text in db.execute(
                "SELECT n, text FROM versions WHERE notice_id = ? AND n BETWEEN ? AND ?",
                [notice_id, lo, hi],
            )
        }
    chain: list[tuple[int, Any, str | None]] = []
    for n, text, codec in db.execute(
        "SELECT n, text, text_codec FROM versions WHERE notice_id = ? AND n >= ? ORDER BY n",
        [notice_id, lo],
    ):
        chain.append((n, text, codec))
        if n >= hi and codec != TEXT_NEXT:
            break
    out: dict[int, str] = {}
    successor: tuple[int, str] | None = None
    for n, text, codec in reversed(chain):
        if codec is None:
            plain = text if isinstance(text, str) else bytes(text).decode("utf-8")
        elif codec == TEXT_ZSTD:
            plain = decode_text(bytes(text), None)
        elif codec == TEXT_NEXT:
            if successor is None or successor[0] != n + 1:
                raise CompressError(
                    f"the text of notice {notice_id} version {n} is stored against version "
                    f"{n + 1}, which is missing"
                )
            plain = decode_text(bytes(text), successor[1])
        else:
            raise CompressError(f"unknown text method {codec!r} (notice {notice_id} v{n})")
        successor = (n, plain)
        if n <= hi:
            out[n] = plain
    return out


def version_text(db: Database, notice_id: int, n: int) -> str | None:
    """The text of version ``n`` of a notice as it was recorded; None if there is none."""
    return texts_from(db, notice_id, n).get(n)


def _needs(row: dict[str, Any]) -> bool:
    return any(k not in row for k in ("raw", "raw_codec", "raw_dict", "notice_id", "n"))


def raw_of(db: Database, row: dict[str, Any] | None) -> bytes | None:
    """The page bytes of a version row as fetched, byte for byte (None: none stored).

    ``row`` needs the version's ``id`` (or notice_id and n); any other column it lacks is
    read. Decodes at most RAW_KEYFRAME - 1 older pages of the same notice.
    """
    if row is None:
        return None
    if not enabled(db):
        stored = (
            row["raw"]
            if "raw" in row
            else db.execute("SELECT raw FROM versions WHERE id = ?", [row["id"]]).fetchone()[0]
        )
        return legacy_page(bytes(stored)) if stored is not None else None
    if _needs(row):
        if "notice_id" in row and "n" in row:
            full = _version_row(db, row["notice_id"], row["n"])
        else:
            cursor = db.execute(f"SELECT {_ROW_COLUMNS} FROM versions WHERE id = ?", [row["id"]])
            found = cursor.fetchone()
            names = [d[0] for d in cursor.description]
            full = dict(zip(names, found, strict=True)) if found else None
        if full is None:
            return None
        row = full
    if row["raw"] is None:
        return None
    if row["raw_codec"] is None:
        return legacy_page(bytes(row["raw"]))
    notice_id, n = row["notice_id"], row["n"]
    chain = [row]
    while chain[-1]["raw_codec"] == RAW_NEXT:
        above = _version_row(db, notice_id, chain[-1]["n"] + 1)
        if above is None or above["raw"] is None:
            raise CompressError(
                f"the page of notice {notice_id} version {chain[-1]['n']} is stored against "
                f"version {chain[-1]['n'] + 1}, which has no page"
            )
        chain.append(above)
    return _decode_chain(db, notice_id, chain)[n]


def _decode_chain(
    db: Database, notice_id: int, chain: list[dict[str, Any]], top: bytes | None = None
) -> dict[int, bytes]:
    """The pages of a chain of rows (n, n+1, …), by n: each row is stored against the next
    one's page, the last one stands alone (or its page is ``top``, already known)."""
    texts = texts_from(db, notice_id, chain[0]["n"], chain[-1]["n"])
    page = top if top is not None else b""
    out: dict[int, bytes] = {}
    for i, r in enumerate(reversed(chain)):
        if i == 0 and top is not None:
            out[r["n"]] = page
            continue
        codec = r["raw_codec"]
        stored = bytes(r["raw"])
        if codec is None:
            page = legacy_page(stored)
        elif codec == RAW_TEXT:
            page = decode_page(stored, texts.get(r["n"]))
        elif codec == RAW_DICT:
            page = decode_page(stored, texts.get(r["n"]), dict_content(db, r["raw_dict"]))
        elif codec == RAW_NEXT:
            page = decode_page(stored, texts.get(r["n"]), page)
        else:
            raise CompressError(f"unknown page method {codec!r} (notice {notice_id} v{r['n']})")
        out[r["n"]] = page
    return out


TEXT_FUNCTION = "xunshi_version_text"


def register_functions(conn: Any) -> None:
    """``xunshi_version_text(notice_id, n)`` in SQL: a version's text, decoded (Datasette's
    ``version_text`` query; any connection can add it)."""
    db = Database(conn)

    def text(notice_id: Any, n: Any) -> str | None:
        if notice_id is None or n is None:
            return None
        return version_text(db, int(notice_id), int(n))

    conn.create_function(TEXT_FUNCTION, 2, text)


class PageCache:
    """``raw_of`` for a walk over many versions (WARC export): keeps the last pages decoded,
    so a notice's versions in order cost one decode each."""

    def __init__(self, db: Database, size: int = 64) -> None:
        self.db = db
        self.size = size
        self._pages: OrderedDict[tuple[int, int], bytes | None] = OrderedDict()

    def raw(self, row: dict[str, Any]) -> bytes | None:
        if not enabled(self.db):
            return raw_of(self.db, row)
        if _needs(row):
            full = _version_row(self.db, row["notice_id"], row["n"]) if "n" in row else None
            if full is None:
                return raw_of(self.db, row)
            row = full
        key = (row["notice_id"], row["n"])
        if key in self._pages:
            self._pages.move_to_end(key)
            return self._pages[key]
        if row["raw"] is None or row["raw_codec"] != RAW_NEXT:
            return self._keep(key, raw_of(self.db, row))
        # Walk up to a page already decoded or one that stands alone; keep every page on the
        # way (an export goes oldest first: the next versions come right after).
        notice_id = row["notice_id"]
        chain = [row]
        top = None
        while chain[-1]["raw_codec"] == RAW_NEXT:
            n = chain[-1]["n"] + 1
            if (notice_id, n) in self._pages:
                top = self._pages[notice_id, n]
                chain.append({"n": n})
                break
            above = _version_row(self.db, notice_id, n)
            if above is None or above["raw"] is None:
                return raw_of(self.db, row)  # raises the clear error
            chain.append(above)
        for n, page in _decode_chain(self.db, notice_id, chain, top).items():
            self._keep((notice_id, n), page)
        return self._pages[key]

    def _keep(self, key: tuple[int, int], page: bytes | None) -> bytes | None:
        self._pages[key] = page
        self._pages.move_to_end(key)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)
        return page


# -- converting a database (migration m013) -----------------------------------------------


def notices_to_convert(db: Database) -> list[tuple[int, str]]:
    return [
        (int(r[0]), str(r[1]))
        for r in db.execute(
            """SELECT n.id, n.site FROM notices n WHERE EXISTS (
                   SELECT 1 FROM versions v WHERE v.notice_id = n.id AND (
                       (v.raw IS NOT NULL AND v.raw_codec IS NULL)
                       OR (v.text_codec IS NULL AND v.n < (
                           SELECT max(n) FROM versions WHERE notice_id = n.id))))
               ORDER BY n.site, n.id"""
        )
    ]


def convert_notice(db: Database, notice_id: int, site: str, now: str) -> int:
    """Re-store every version of a notice the way new ones are stored; how many it read.

    Every new frame is decoded and compared with the old bytes before anything is written.
    """
    cursor = db.execute(
        f"SELECT {_ROW_COLUMNS} FROM versions WHERE notice_id = ? ORDER BY n", [notice_id]
    )
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    if not rows:
        return 0
    texts = texts_from(db, notice_id, rows[0]["n"], rows[-1]["n"])
    pages = [raw_of(db, r) for r in rows]
    for i, (r, page) in enumerate(zip(rows, pages, strict=True)):
        n, text = r["n"], texts[r["n"]]
        changes: dict[str, Any] = {}
        if page is not None:
            above = pages[i + 1] if i + 1 < len(rows) and rows[i + 1]["n"] == n + 1 else None
            if above is not None and n % RAW_KEYFRAME != 0:
                frame, codec, dict_id, base = encode_page(page, text, above), RAW_NEXT, None, above
            else:
                dict_id = site_dict(db, site, now, new_notice=False)
                base = dict_content(db, dict_id) if dict_id is not None else b""
                codec = RAW_DICT if dict_id is not None else RAW_TEXT
                frame = encode_page(page, text, base)
            if decode_page(frame, text, base) != page:
                raise CompressError(f"notice {notice_id} version {n}: page check failed")
            changes.update(raw=frame, raw_codec=codec, raw_dict=dict_id)
        if i + 1 < len(rows) and r["text_codec"] is None and n + 1 in texts:
            blob, text_codec = _encode_old_text(text, n, texts[n + 1])
            check = decode_text(blob, None if text_codec == TEXT_ZSTD else texts[n + 1])
            if check != text:
                raise CompressError(f"notice {notice_id} version {n}: text check failed")
            changes.update(text=blob, text_codec=text_codec)
        if changes:
            assignments = ", ".join(f"{k} = ?" for k in changes)
            db.execute(
                f"UPDATE versions SET {assignments} WHERE id = ?", [*changes.values(), r["id"]]
            )
    return len(rows)


def convert_database(
    db: Database,
    *,
    batch: int = 200,
    progress: Callable[[int, int], None] | None = None,
    transaction: Callable[[Database], Any] | None = None,
    todo: list[tuple[int, str]] | None = None,
) -> int:
    """Convert every notice still stored the old way, ``batch`` notices per transaction
    (``transaction(db)``: a context manager; default: the caller's). Returns how many
    notices were converted. Stops and can be run again at any point: a notice is
    converted whole in one transaction, and converted ones are skipped."""
    todo = notices_to_convert(db) if todo is None else todo
    now = datetime.now(UTC).isoformat(timespec="seconds")
    done = 0
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        if transaction is None:
            for notice_id, site in chunk:
                convert_notice(db, notice_id, site, now)
        else:
            with transaction(db):
                for notice_id, site in chunk:
                    convert_notice(db, notice_id, site, now)
        done += len(chunk)
        if progress:
            progress(done, len(todo))
    return done
