"""Seed-format text: pure functions from extracted article fields to the one text format.

The rules are those of ``shared/docs/seed-format.md``: UTF-8, ``\\n`` line ends, no
trailing newline, one paragraph per line, no blank lines, NFKC, runs of white space
folded to one ASCII space, no leading or trailing space on a line.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime

# Characters that carry no text but survive NFKC: zero-width spaces and joiners, BOMs,
# soft hyphens, bidi marks. Pages pasted from Word are full of them.
_INVISIBLE_CHARS = "\u00ad\u200b-\u200f\u2028\u2029\u2060-\u2064\ufeff"
_INVISIBLE = re.compile(f"[{_INVISIBLE_CHARS}]")
# C0/C1 control characters other than the white space ones, which fold below.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ODD = re.compile(f"{_INVISIBLE.pattern}|{_CONTROL.pattern}")
# Any character the steps below would change in NFKC text: an invisible or control
# character, white space other than the space (spelt out: \xa0, \u1680, \u2000-\u200a,
# \u202f, \u205f, \u3000 besides the controls, as in _NOT_SEED_CHAR). Text without any,
# without two spaces in a row and without a space at either end is already clean: most
# lines are, and normalise() sees each line again. One character class and a substring
# test: re scans a class several times faster than an alternation that also holds "  ".
_OTHER_SPACES = "\xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
_UNCLEAN_CHAR = re.compile(f"[{_INVISIBLE_CHARS}\x00-\x1f\x7f-\x9f{_OTHER_SPACES}]")
# The full-width forms Chinese pages use on every line, as NFKD writes them: replacing a
# character by its compatibility decomposition leaves the NFKC of the text unchanged, and
# str.replace is many times faster than unicodedata's normalisation of a long line.
_WIDE = tuple((c, unicodedata.normalize("NFKD", c)) for c in "\u3000，：；（）％！？\u00a0")


def clean_line(text: str) -> str:
    """One line of seed text: NFKC, invisible characters dropped, white space folded."""
    if text.isspace():
        # White space alone (half the raw lines of a page: the breaks between its
        # paragraphs) folds to nothing: NFKC maps white space to white space, and what it
        # does not fold the steps below remove (tests/test_normalise.py, every one).
        return ""
    if not unicodedata.is_normalized("NFKC", text):
        for wide, narrow in _WIDE:
            if wide in text:
                text = text.replace(wide, narrow)
        text = unicodedata.normalize("NFKC", text)
    # Most lines are clean once stripped of white space at their ends (an indent of
    # full-width spaces, a line break), and that is what the folds below make of them:
    # what they would drop or fold there is white space, which strip() removes.
    stripped = text.strip()
    if _UNCLEAN_CHAR.search(stripped) is None and "  " not in stripped:
        return stripped
    if _ODD.search(text) is not None:
        text = _INVISIBLE.sub("", text)
        text = _CONTROL.sub(" ", text)
    # White space runs folded to one space, none at the ends: str.split() splits at the
    # characters re's \s matches (both use str.isspace), in one pass.
    return " ".join(text.split())


def header_line(published_at: datetime | None, source: str | None, *, has_time: bool) -> str | None:
    """The zjsjw-form first line: ``YYYY-MM-DD HH:MM <source>``, or None when either is missing."""
    if published_at is None or not source:
        return None
    stamp = published_at.strftime("%Y-%m-%d %H:%M" if has_time else "%Y-%m-%d")
    return clean_line(f"{stamp} {source}")


# One character the seed format never holds: an invisible or control character (the
# tab among them), or white space other than the space and the line break. That white
# space is spelt out (\xa0, \u1680, \u2000-\u200a, \u202f, \u205f, \u3000 besides the
# controls): the characters str.isspace() and re's \s take as white space
# (tests/test_normalise.py checks the class against every code point). One character
# class: re scans it several times faster than an alternation that also looks for pairs.
_NOT_SEED_CHAR = re.compile(f"[{_INVISIBLE_CHARS}\x00-\x09\x0b-\x1f\x7f-\x9f{_OTHER_SPACES}]")


def _already_seed(text: str) -> bool:
    """True when every line of ``text`` is non-empty and already what clean_line makes of it
    (so that normalise of its lines gives ``text`` back): a few scans instead of one per line.

    Besides the characters of ``_NOT_SEED_CHAR``, the seed format never holds a line break
    next to a space or to another one, nor two spaces in a row. The NFKC quick check of the
    whole text answers for every line, as a line break is a boundary that normalisation
    never crosses.
    """
    if not text or "  " in text:
        return False
    for line in text.split("\n"):
        if not line or line[0] == " " or line[-1] == " ":
            return False
    return unicodedata.is_normalized("NFKC", text) and _NOT_SEED_CHAR.search(text) is None


# The last text normalise() returned from its fast path, where _already_seed() proved it in
# seed format: is_seed_format() of that very object (ValidatePipeline checks the text
# NormalisePipeline has just made) is then known without scanning it again. An identity
# test on an immutable string, so nothing else can pass for it; any other text is scanned.
_proven: str | None = None


def normalise(paragraphs: Iterable[str], *, header: str | None = None) -> str:
    """Seed-format text of an article: the optional header line, then one line per paragraph.

    A paragraph that holds line breaks becomes several lines; empty ones disappear.
    ``normalise(text.split("\\n")) == text`` for any text this function produced.
    """
    paragraphs = list(paragraphs)
    joined = "\n".join([header, *paragraphs] if header else paragraphs)
    if _already_seed(joined) and all(paragraphs):
        global _proven
        _proven = joined
        return joined  # the paragraphs of an extracted article are clean lines already
    lines: list[str] = []
    if header:
        lines.append(clean_line(header))
    for paragraph in paragraphs:
        for raw in paragraph.split("\n"):
            line = clean_line(raw)
            if line:
                lines.append(line)
    return "\n".join(line for line in lines if line)


def seed_proven(text: str) -> bool:
    """True when ``text`` is the very text normalise() has just proved in seed format."""
    return text is _proven


def is_seed_format(text: str) -> bool:
    """True when ``text`` already obeys every rule of the seed format."""
    if text is _proven:
        return True  # normalise() has just checked it (its fast path: _already_seed)
    if not text or text.endswith("\n") or "\r" in text or text.startswith("\ufeff"):
        return False
    if _already_seed(text):
        return True
    return normalise(text.split("\n")) == text
