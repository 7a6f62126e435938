"""The leader's session tracker (``SessionTrackerImpl``).

Sessions expire in buckets one tick wide: a touch moves a session's deadline
to ``now + timeout`` rounded up to the next multiple of the tick, and every
tick the leader expires the sessions whose bucket has passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coordlab.sim import serializable


def round_up(time: int, tick: int) -> int:
    return (time // tick + 1) * tick


@serializable
@dataclass
class SessionTracker:
    deadlines: dict[int, int] = field(default_factory=dict)
    closing: dict[int, bool] = field(default_factory=dict)

    def reset(self, sessions: dict[int, int], now: int, tick: int) -> None:
        """A new leader gives every known session a full timeout."""
        self.deadlines = {s: round_up(now + timeout, tick) for s, timeout in sessions.items()}
        self.closing = {}

    def touch(self, session: int, now: int, tick: int, sessions: dict[int, int]) -> None:
        timeout = sessions.get(session)
        if timeout is not None and session not in self.closing:
            self.deadlines[session] = round_up(now + timeout, tick)

    def add(self, session: int, timeout: int, now: int, tick: int) -> None:
        self.deadlines[session] = round_up(now + timeout, tick)

    def expired(self, now: int) -> list[int]:
        """Sessions past their deadline, once each (they are then being closed)."""
        due = [s for s, deadline in self.deadlines.items() if deadline <= now and s not in self.closing]
        for session in due:
            self.closing[session] = True
        return due

    def remove(self, session: int) -> None:
        self.deadlines.pop(session, None)
        self.closing.pop(session, None)
