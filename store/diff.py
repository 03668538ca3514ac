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
    dmp.Diff_Timeout = 2.0
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
