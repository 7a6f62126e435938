"""List fragments: a fragment that is a list of items (the messages in flight), of which a
frame carries only what a viewer does not have yet.

Its top element is marked ``data-mode="all"`` and holds one item per line, between its
first and last lines. Between full frames the engine sends only the items that are new
(``delta``), marked ``data-mode="add"``; a viewer that skipped frames gets their items
merged into the next one (``merge``). The page applies an "all" list by replacing what it
had, and an "add" list by adding to it.
"""

from __future__ import annotations

ALL, ADD = ' data-mode="all"', ' data-mode="add"'


def _split(fragment: str) -> tuple[str, list[str], str] | None:
    head, _, rest = fragment.partition("\n")
    if ALL not in head and ADD not in head:
        return None
    items, _, tail = rest.rpartition("\n")
    return head, [item for item in items.split("\n") if item], tail


def delta(new: str, old: str) -> str | None:
    """``new`` as only the items ``old`` did not have ("" if none), or None if ``new`` is not
    a list fragment."""
    parts = _split(new)
    if parts is None or ALL not in parts[0]:
        return None
    head, items, tail = parts
    seen = set(old.split("\n"))
    fresh = [item for item in items if item not in seen]
    if not fresh:
        return ""
    return "\n".join((head.replace(ALL, ADD), *fresh, tail))


def merge(older: str, newer: str) -> str | None:
    """One list fragment for a viewer that missed ``older`` and gets ``newer`` (both of the same
    id): a whole list stays whole; None if they are not list fragments."""
    first, second = _split(older), _split(newer)
    if first is None or second is None:
        return None
    if ALL in second[0]:
        return newer
    head = first[0] if ALL in first[0] else second[0]
    items = first[1] + [item for item in second[1] if item not in set(first[1])]
    return "\n".join((head, *items, second[2]))
