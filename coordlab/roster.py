"""Who is watching each lab in this process: a display name per open socket, for
the instructor's "who is watching" list."""

from __future__ import annotations

_watching: dict[str, dict[int, str]] = {}


def arrive(lab_id: str, key: int, name: str) -> None:
    _watching.setdefault(lab_id, {})[key] = name


def depart(lab_id: str, key: int) -> None:
    viewers = _watching.get(lab_id)
    if viewers is not None:
        viewers.pop(key, None)
        if not viewers:
            del _watching[lab_id]


def names(lab_id: str) -> list[str]:
    """Display names, sorted, with "anonymous" for viewers without one."""
    return sorted(name or "anonymous" for name in _watching.get(lab_id, {}).values())
