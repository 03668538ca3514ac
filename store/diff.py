"""Line and character diffs of seed-format texts, computed once when a version is stored."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

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
