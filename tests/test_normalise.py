"""The seed format: rules of shared/docs/seed-format.md, and the two golden seeds."""

from __future__ import annotations

import re
import unicodedata

import pytest

from crawler.normalise import clean_line, header_line, is_seed_format, normalise
from tests.conftest import SEEDS

SEED_FILES = sorted(p.name for p in SEEDS.glob("*.txt"))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("　　根据省委统一部署，２０２２年", "根据省委统一部署,2022年"),
        ("\u00a0\u00a0拱墅区（试行）：\t完成", "拱墅区(试行): 完成"),
        ("满意率达到 97.68％。", "满意率达到 97.68%。"),
        ("“大运河学堂”《丛书》、一·二", "“大运河学堂”《丛书》、一·二"),
        ("a\u200bb\ufeffc", "abc"),
        ("  多个   空格  ", "多个 空格"),
        ("借壳游……", "借壳游......"),
    ],
    ids=[
        "fullwidth-indent",
        "nbsp-tab-parens",
        "percent-keeps-space",
        "cjk-punct-kept",
        "zero-width",
        "space-runs",
        "ellipsis-nfkc",
    ],
)
def test_clean_line(raw: str, expected: str) -> None:
    assert clean_line(raw) == expected


def test_normalise_drops_empty_paragraphs_and_splits_lines() -> None:
    text = normalise(
        ["　", "第一段\n第二段", "", "\u00a0", "第三段 "],
        header="2023-06-27 09:02 浙江省纪委省监委网站",
    )
    assert text == "2023-06-27 09:02 浙江省纪委省监委网站\n第一段\n第二段\n第三段"
    assert not text.endswith("\n")


@pytest.mark.parametrize("name", SEED_FILES)
def test_seeds_are_seed_format_and_normalise_is_idempotent(name: str) -> None:
    text = (SEEDS / name).read_text(encoding="utf-8")
    assert unicodedata.is_normalized("NFKC", text)
    assert is_seed_format(text)
    assert normalise(text.split("\n")) == text


def test_is_seed_format_rejects_violations() -> None:
    assert not is_seed_format("a\n")
    assert not is_seed_format("a\r\nb")
    assert not is_seed_format("a\n\nb")
    assert not is_seed_format(" a")
    assert not is_seed_format("（全角）")
    assert not is_seed_format("")


def test_header_line() -> None:
    from datetime import datetime

    when = datetime(2023, 6, 27, 9, 2)
    assert (
        header_line(when, "浙江省纪委省监委网站", has_time=True)
        == "2023-06-27 09:02 浙江省纪委省监委网站"
    )
    assert header_line(when, "来源", has_time=False) == "2023-06-27 来源"
    assert header_line(None, "x", has_time=True) is None
    assert header_line(when, None, has_time=True) is None


def _clean_line_by_the_rules(text: str) -> str:
    """clean_line as the seed format states it, step by step (the fast paths must agree)."""
    import re

    text = unicodedata.normalize("NFKC", text)
    text = re.sub("[\u00ad\u200b-\u200f\u2028\u2029\u2060-\u2064\ufeff]", "", text)
    text = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def test_clean_line_fast_paths_agree_with_the_rules() -> None:
    import random

    rng = random.Random(16)
    alphabet = (
        "ab 中文。，：；（）％！？\u3000\u00a0\t\n\r\x0b\x0c\x1c\x85\u1680\u2000\u200b"
        "\u200d\u2028\u2029\u2060\ufeff\u00ad\x00\x07\x7f\x9fe\u0301\u0300ﬁ①…Å\u212b"
        "\uff21\u30ab\u3099\uff76\uff9e"
    )
    cases = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(20000)]
    # every BMP code point alone, between letters, before a combining mark and after a
    # space; planes 1 and 2 (CJK extensions, mathematical letters) alone
    for code in range(0x30000):
        if not 0xD800 <= code < 0xE000:
            c = chr(code)
            cases += [c, f"a{c}b", c + "\u0301", " " + c] if code < 0x10000 else [c]
    wrong = [s for s in cases if clean_line(s) != _clean_line_by_the_rules(s)]
    assert wrong == []


def test_normalise_and_is_seed_format_fast_paths_agree_with_the_rules() -> None:
    import random

    def by_the_rules(paragraphs: list[str], header: str | None) -> str:
        lines = [_clean_line_by_the_rules(header)] if header else []
        lines += [_clean_line_by_the_rules(r) for p in paragraphs for r in p.split("\n")]
        return "\n".join(line for line in lines if line)

    def seed_by_the_rules(text: str) -> bool:
        if not text or text.endswith("\n") or "\r" in text or text.startswith("\ufeff"):
            return False
        return by_the_rules(text.split("\n"), None) == text

    rng = random.Random(1616)
    alphabet = "ab 中文,.。，（\n\n\t\r\u3000\u00a0\u200b\x07e\u0301ﬁ\u2028\u1680\x85"
    for _ in range(20000):
        paragraphs = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
            for _ in range(rng.randint(0, 4))
        ]
        header = rng.choice([None, "", "2023-07-03 16:30 来源", " 2023 \n来源"])
        assert normalise(paragraphs, header=header) == by_the_rules(paragraphs, header)
        text = "\n".join(paragraphs)
        assert is_seed_format(text) == seed_by_the_rules(text), repr(text)
    seed = (SEEDS / SEED_FILES[0]).read_text(encoding="utf-8")
    assert is_seed_format(seed) and normalise(seed.split("\n")) == seed


# _already_seed as it was before it became a few scans (one regex with pairs in it): the
# reference the faster one must agree with.
_NOT_SEED_BEFORE = re.compile(
    "[\u00ad\u200b-\u200f\u2028\u2029\u2060-\u2064\ufeff\x00-\x09\x0b-\x1f\x7f-\x9f]"
    "|[^\\S \n]|  | \n|\n |\n\n"
)


def _already_seed_before(text: str) -> bool:
    return (
        bool(text)
        and text[0] not in " \n"
        and text[-1] not in " \n"
        and unicodedata.is_normalized("NFKC", text)
        and _NOT_SEED_BEFORE.search(text) is None
    )


def test_not_seed_char_class_is_the_old_alternatives_of_one_character() -> None:
    # Every code point: the one class matches where the old single-character alternatives
    # (invisible/control class, white space other than space and line break) did.
    from crawler.normalise import _NOT_SEED_CHAR

    one_char = re.compile(
        "[\u00ad\u200b-\u200f\u2028\u2029\u2060-\u2064\ufeff\x00-\x09\x0b-\x1f\x7f-\x9f]|[^\\S \n]"
    )
    wrong = [
        hex(code)
        for code in range(0x110000)
        if (_NOT_SEED_CHAR.match(chr(code)) is None) != (one_char.match(chr(code)) is None)
    ]
    assert wrong == []


def _seed_corpus() -> list[str]:
    """Texts in and near the seed format: seeds, the corpus pages' extracted texts and their
    raw lines, and random text with line breaks and spaces in every arrangement."""
    import random

    from crawler.article import extract_article
    from crawler.extract import PageError
    from crawler.sites import get_site
    from tests import pagecorpus

    texts = pagecorpus.seed_texts()
    profile = get_site("zjsjw")
    for page in pagecorpus.page_texts():
        try:
            article = extract_article(page, "http://127.0.0.1/a.html", profile)
        except PageError:
            continue
        text = normalise(article.paragraphs, header=article.header)
        texts += [text, text + "\n", " " + text, text.replace("\n", "\n\n", 1),
                  text.replace("\n", " \n", 1), text.replace("\n", "\n ", 1),
                  text.replace(" ", "  ", 1), text.replace("。", "\u3000", 1),
                  "\n".join(article.paragraphs)]  # fmt: skip
    texts += [page[i : i + 3000] for page in pagecorpus.page_texts() for i in (0, 3000)]
    rng = random.Random(1617)
    for _ in range(30000):
        texts.append(pagecorpus.random_text(rng, rng.randint(0, 10)))
        texts.append(pagecorpus.random_text(rng, rng.randint(0, 8), "ab 中\n\n  e\u0301。"))
    for code in range(0x30000):
        if not 0xD800 <= code < 0xE000:
            c = chr(code)
            texts += [c, f"a{c}b", f"中{c}\n文", f"ab\n{c}"] if code < 0x10000 else [c]
    return texts


def test_already_seed_agrees_with_the_one_regex_it_replaced() -> None:
    from crawler.normalise import _already_seed

    corpus = _seed_corpus()
    assert len(corpus) > 250_000
    wrong = [t[:80] for t in corpus if _already_seed(t) != _already_seed_before(t)]
    assert wrong == []
    # both answers are common in the corpus, so the comparison means something
    assert 1000 < sum(map(_already_seed, corpus)) < len(corpus) - 1000


def test_is_seed_format_takes_normalise_word_only_for_the_text_it_checked() -> None:
    # The fast path's text is known to be seed format without a second scan ...
    text = normalise(["第一段", "第二段"], header="2023-06-27 来源")
    assert is_seed_format(text)
    # ... but the text of the slow path is scanned: removing a zero-width space can leave
    # text that is not NFKC (e + combining acute), which is not seed format.
    odd = normalise(["e\u200b\u0301", "ok"])
    assert odd == "e\u0301\nok"
    assert not is_seed_format(odd)
    # and an equal string that normalise did not return is scanned, not taken on trust
    assert not is_seed_format("".join(["e\u0301", "\nok"]))
    assert is_seed_format("".join(["第一段", "\n第二段"]))


def test_clean_line_of_white_space_alone_is_empty_as_the_rules_make_it() -> None:
    # clean_line's first fast path: a line of white space only (str.isspace) is "".
    import itertools

    spaces = [chr(code) for code in range(0x110000) if chr(code).isspace()]
    assert len(spaces) == 29
    cases = ["".join(t) for n in (1, 2, 3) for t in itertools.product(spaces, repeat=n)]
    assert len(cases) > 25_000
    assert all(_clean_line_by_the_rules(c) == "" == clean_line(c) for c in cases)


def test_unclean_char_class_is_the_old_alternatives_of_one_character() -> None:
    from crawler.normalise import _UNCLEAN_CHAR

    one_char = re.compile(
        "[\u00ad\u200b-\u200f\u2028\u2029\u2060-\u2064\ufeff\x00-\x1f\x7f-\x9f]|[^\\S ]"
    )
    wrong = [
        hex(code)
        for code in range(0x110000)
        if (_UNCLEAN_CHAR.match(chr(code)) is None) != (one_char.match(chr(code)) is None)
    ]
    assert wrong == []


def test_clean_line_of_every_corpus_line_is_what_the_rules_make() -> None:
    # Every raw line of every element of the corpus pages (CCDI fixtures, the HTML
    # fixtures under tests/, bench pages), with their ends and indents as pages have them.
    from crawler.htmltext import element_lines, parse_html
    from tests import pagecorpus

    lines = set()
    for page in pagecorpus.page_texts():
        try:
            doc = parse_html(page)
        except ValueError:
            continue
        for el in doc.iter("p", "div", "td", "span", "li", "h1", "title", "body"):
            lines.update(element_lines(el))
    lines |= {"\u3000\u3000" + x + " \u2028" for x in list(lines)[:5000]}
    assert len(lines) > 5_000
    assert [x[:60] for x in lines if clean_line(x) != _clean_line_by_the_rules(x)] == []
