"""Line and character diffs of seed-format texts, computed once when a version is stored."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from diff_match_patch import diff_match_patch

# diff-match-patch operations, spelled out for the JSON we keep.
_OPS = {-1: "delete", 0: "equal", 1: "insert"}


@dataclass(frozen=True)
class TextDiff:
    unified: str
    # One entry per changed hunk of lines: [[op, text], …] at character level.
    chars: list[list[tuple[str, str]]]
    added_lines: int
    removed_lines: int


def line_diff(old: str, new: str, *, old_label: str = "old", new_label: str = "new") -> str:
    """Unified diff of two texts, line by line, with no trailing newline noise."""
    lines = difflib.unified_diff(
        old.split("\n"), new.split("\n"), old_label, new_label, n=1, lineterm=""
    )
    return "\n".join(lines)


def char_diff(old: str, new: str) -> list[tuple[str, str]]:
    """Character-level diff with semantic cleanup: 8人次 -> 9人次 is one changed character.

    Chinese has no spaces between words, so a word diff would call a whole paragraph
    changed; diff-match-patch works on characters and its semantic cleanup merges
    scattered one-character coincidences into readable runs.
    """
    dmp = diff_match_patch()
    # A rewritten text would run to the timeout (2 s by default) for a character diff
    # nobody reads; the line diff says it all then.
    dmp.Diff_Timeout = 0.2
    diffs = dmp.diff_main(old, new)
    dmp.diff_cleanupSemantic(diffs)
    return [(_OPS[op], text) for op, text in diffs]


def diff_texts(old: str, new: str, *, old_label: str = "old", new_label: str = "new") -> TextDiff:
    """Both diffs of two seed-format texts: unified lines, and characters inside changed hunks."""
    a, b = old.split("\n"), new.split("\n")
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    hunks: list[list[tuple[str, str]]] = []
    added = removed = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        removed += i2 - i1
        added += j2 - j1
        hunks.append(char_diff("\n".join(a[i1:i2]), "\n".join(b[j1:j2])))
    return TextDiff(
        unified=line_diff(old, new, old_label=old_label, new_label=new_label),
        chars=hunks,
        added_lines=added,
        removed_lines=removed,
    )


# -- rendering ---------------------------------------------------------------------------

_RED, _GREEN, _DIM, _BOLD, _RESET = "\x1b[31m", "\x1b[32m", "\x1b[2m", "\x1b[1m", "\x1b[0m"
_DEL_ON, _INS_ON = "\x1b[41;97m", "\x1b[42;30m"


def hunk_sides(
    hunk: list[tuple[str, str]],
) -> tuple[list[tuple[bool, str]], list[tuple[bool, str]]]:
    """Split a character hunk into its old side and new side: (changed?, text) runs."""
    old: list[tuple[bool, str]] = []
    new: list[tuple[bool, str]] = []
    for op, text in hunk:
        if op in ("equal", "delete"):
            old.append((op == "delete", text))
        if op in ("equal", "insert"):
            new.append((op == "insert", text))
    return old, new


def _marked(text: str, mark: tuple[str, str]) -> str:
    # Marks close at each line end so every output line reads on its own.
    return "\n".join(mark[0] + piece + mark[1] if piece else "" for piece in text.split("\n"))


def render_text(hunks: list[list[tuple[str, str]]], *, color: bool) -> str:
    """A terminal view of character hunks: each hunk's old lines (-) then new lines (+).

    With colour, changed characters are highlighted; without, they are marked
    ``[-old-]`` and ``{+new+}`` so the change stays visible in a pipe or a file.
    """
    out: list[str] = []
    for i, hunk in enumerate(hunks):
        if i:
            out.append(_DIM + "~" * 20 + _RESET if color else "~" * 20)
        old, new = hunk_sides(hunk)
        for sign, side, on, line_color in (("-", old, _DEL_ON, _RED), ("+", new, _INS_ON, _GREEN)):
            if not any(text for _, text in side):
                continue
            if color:
                mark = (on, _RESET + line_color)
            else:
                mark = ("[-", "-]") if sign == "-" else ("{+", "+}")
            body = "".join(_marked(t, mark) if changed else t for changed, t in side)
            for line in body.split("\n"):
                out.append(f"{line_color}{sign} {line}{_RESET}" if color else f"{sign} {line}")
    return "\n".join(out)


def render_html_fragment(hunks: list[list[tuple[str, str]]]) -> str:
    """HTML of character hunks (escaped): old side with <del>, new side with <ins>."""
    from html import escape

    parts: list[str] = []
    for hunk in hunks:
        old, new = hunk_sides(hunk)
        for cls, side, tag in (("old", old, "del"), ("new", new, "ins")):
            if not any(text for _, text in side):
                continue
            body = "".join(
                f"<{tag}>{escape(t)}</{tag}>" if changed else escape(t) for changed, t in side
            ).replace("\n", "<br>")
            parts.append(f'<div class="{cls}">{body}</div>')
        parts.append('<hr class="hunk">')
    return "\n".join(parts[:-1]) if parts else "<p>(no change)</p>"


# -- a notice's diff, as `xunshi diff` shows it ------------------------------------------------


def paragraph_hunks(old: str, new: str, context: int = 1) -> list[list[dict[str, Any]]]:
    """The changed paragraphs of two texts, each with ``context`` unchanged paragraphs on
    either side: hunks of {"context": text} and {"old", "new", "chars"} parts."""
    a, b = old.split("\n"), new.split("\n")
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    hunks: list[list[dict[str, Any]]] = []
    for group in matcher.get_grouped_opcodes(context):
        parts: list[dict[str, Any]] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                parts += [{"context": p, "old_line": i1 + k + 1} for k, p in enumerate(a[i1:i2])]
                continue
            old_part, new_part = "\n".join(a[i1:i2]), "\n".join(b[j1:j2])
            parts.append(
                {
                    "old": old_part if i2 > i1 else None,
                    "new": new_part if j2 > j1 else None,
                    "old_lines": [i1 + 1, i2],
                    "new_lines": [j1 + 1, j2],
                    "chars": char_diff(old_part, new_part),
                }
            )
        hunks.append(parts)
    return hunks


def notice_diff(
    notice: dict[str, Any], old: dict[str, Any], new: dict[str, Any], context: int = 1
) -> dict[str, Any]:
    """What `xunshi diff` shows in every format: the notice, both versions, the hunks."""

    def side(v: dict[str, Any]) -> dict[str, Any]:
        return {"version": v["n"], "fetched_at": v["fetched_at"], "title": v.get("title"),
                "url": v.get("fetched_url")}  # fmt: skip

    return {
        "notice_id": notice["id"],
        "site": notice["site"],
        "title": notice["title"],
        "url": notice["url"],
        "from": side(old),
        "to": side(new),
        "hunks": paragraph_hunks(old["text"], new["text"], context),
    }


def render_notice_diff_text(
    data: dict[str, Any], *, color: bool, shown_time: Callable[[str | None], str]
) -> str:
    """The text form of ``notice_diff``: header, then each hunk with its context."""
    f, t = data["from"], data["to"]
    out = [
        f"notice {data['notice_id']} · {data['title']}",
        str(data["url"]),
        f"version {f['version']} (fetched {shown_time(f['fetched_at'])}) → "
        f"version {t['version']} (fetched {shown_time(t['fetched_at'])}), Asia/Shanghai",
    ]
    if not data["hunks"]:
        return "\n".join([*out, "(no change)"])
    for hunk in data["hunks"]:
        out.append(_DIM + "~" * 20 + _RESET if color else "~" * 20)
        for part in hunk:
            if "context" in part:
                out.append(
                    ("  " + part["context"])
                    if not color
                    else _DIM + "  " + part["context"] + _RESET
                )
            else:
                out.append(render_text([[tuple(x) for x in part["chars"]]], color=color))
    return "\n".join(out)


def render_notice_diff_html(data: dict[str, Any]) -> str:
    """The hunks of ``notice_diff`` as an HTML fragment (escaped): context paragraphs and
    changed paragraphs with <del>/<ins> characters."""
    from html import escape

    parts: list[str] = []
    for i, hunk in enumerate(data["hunks"]):
        if i:
            parts.append('<hr class="hunk">')
        for part in hunk:
            if "context" in part:
                parts.append(f'<div class="ctx">{escape(part["context"])}</div>')
            else:
                parts.append(render_html_fragment([[(op, s) for op, s in part["chars"]]]))
    return "\n".join(parts) if parts else "<p>(no change)</p>"
