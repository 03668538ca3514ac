"""The kinds of event, in one table: the store, the reports, the deliveries and the CLI read it.

Adding a kind is one ``EventKind`` entry here: the store accepts it, ``xunshi events
--kind`` offers it, the reports show it in its section (a new section gets a generic
table), and the deliveries named in ``deliveries`` receive it unless configured otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventKind:
    name: str  # stored in events.kind
    label: str  # what a person reads
    section: str  # the report section (key of SECTIONS) that lists it
    deliveries: tuple[str, ...]  # delivery types that receive it by default


# Report sections, in the order reports show them: failures first, so that a run that
# went wrong cannot be read as "nothing new". (key, heading)
SECTIONS: tuple[tuple[str, str], ...] = (
    ("failures", "Failures"),
    ("blocked", "Blocked pages"),
    ("new", "New notices"),
    ("changed", "Changed notices"),
    ("removed", "Removed notices"),
    ("new_districts", "New districts"),
)

_ALL = ("webhook", "jsonl")
KINDS: tuple[EventKind, ...] = (
    EventKind("new_notice", "new notice", "new", (*_ALL, "atom", "txt", "csv", "apprise")),
    EventKind("changed", "changed", "changed", (*_ALL, "atom", "txt", "csv", "apprise")),
    EventKind("removed", "removed", "removed", (*_ALL, "atom", "csv", "apprise")),
    EventKind("blocked", "blocked page", "blocked", _ALL),
    EventKind("fetch_failed", "fetch failed", "failures", _ALL),
    EventKind("parse_failed", "page not understood", "failures", _ALL),
    EventKind("site_broken", "site layout broken", "failures", _ALL),
    EventKind("site_quiet", "site quiet", "failures", _ALL),
    EventKind("new_district", "new district", "new_districts", (*_ALL, "csv", "apprise")),
    EventKind("facts_changed", "facts changed", "changed", _ALL),  # above the notice's diff
)

BY_NAME: dict[str, EventKind] = {k.name: k for k in KINDS}
EVENT_KINDS: tuple[str, ...] = tuple(k.name for k in KINDS)
SECTION_KEYS: tuple[str, ...] = tuple(key for key, _ in SECTIONS)
SECTION_HEADINGS: dict[str, str] = dict(SECTIONS)


def label(kind: str) -> str:
    """What a person reads for ``kind`` (the name itself for a kind not in the table)."""
    k = BY_NAME.get(kind)
    return k.label if k else kind


def kinds_in(section: str) -> tuple[str, ...]:
    return tuple(k.name for k in KINDS if k.section == section)


def default_kinds(delivery_type: str) -> tuple[str, ...]:
    """The kinds a delivery of this type receives when its config names none."""
    return tuple(k.name for k in KINDS if delivery_type in k.deliveries)


def check_table() -> None:
    """Every kind names a known section (tests call this; a typo would hide a kind)."""
    for k in KINDS:
        if k.section not in SECTION_HEADINGS:
            raise ValueError(f"event kind {k.name!r} names unknown section {k.section!r}")
