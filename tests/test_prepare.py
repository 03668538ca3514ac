"""The writer's fast path (issue 16): the index document computed faster but the same, and
the prepare step (store/prepare.py) that moves the pure per-notice work out of the writer."""

from __future__ import annotations

import random
import re
from operator import add

import pytest

from store.fts import bigrams
from tests.conftest import SEEDS, SHARED

_WORD = re.compile(r"[^\W_]+")


def reference_bigrams(text: str | None) -> str | None:
    """store.fts.bigrams as it was written first (Python loops): the output to keep."""
    if text is None:
        return None
    out: list[str] = []
    for run in _WORD.findall(text.lower()):
        out.extend(map(add, run, run[1:]))
        out.append(run[-1])
    return " ".join(dict.fromkeys(out))


def corpus_texts() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    fixtures = sorted((SHARED / "fixtures" / "ccdi").glob("*.html"))
    texts += [p.read_text(encoding="utf-8", errors="replace") for p in fixtures]
    assert len(texts) >= 10, "the seeds and CCDI fixtures are missing"
    return texts


def test_bigrams_same_document_as_before_on_seeds_and_fixtures() -> None:
    for text in corpus_texts():
        assert bigrams(text) == reference_bigrams(text)
        # the haystack the index's SQL builds: title, unit, text, lower-cased by SQLite
        haystack = "标题Title\n杭州市西湖区\n" + text
        assert bigrams(haystack) == reference_bigrams(haystack)


@pytest.mark.parametrize(
    "text",
    ["", "a", "。", "ab", "a。b", "AbC dEf", "İstanbul", "x_y", "巡视整改。巡视", "\0a\0",
     "𠀀𠀁a𠀀", "12人次\n\n13", "  ", "ＡＢ１２", "ß", "\ud800a"],
)  # fmt: skip
def test_bigrams_edge_cases(text: str) -> None:
    assert bigrams(text) == reference_bigrams(text)


def test_bigrams_random_strings() -> None:
    rng = random.Random(16)
    alphabet = "巡视整改。 ab_AZ9\n\t，İßẞ\u0307\0𠀀\ud800ÉéΣσς-—１"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        assert bigrams(text) == reference_bigrams(text), repr(text)
    for _ in range(200):  # long texts: many repeated windows, every code point range
        text = "".join(chr(rng.choice([rng.randrange(32, 0x250), rng.randrange(0x4E00, 0x4F00),
                                       rng.randrange(0x20000, 0x20100), 0x3002]))
                       for _ in range(rng.randrange(100, 3000)))  # fmt: skip
        assert bigrams(text) == reference_bigrams(text)
