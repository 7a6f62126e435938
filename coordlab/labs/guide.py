"""Guided steps: a scenario's "what to try" as a short sequence a lecture moves through.

Each step has a title ("Kill the master"), a sentence or two on what happens and what to
watch, maybe an action (the command the step sends, chosen from the lab as it is then:
"kill whichever machine is master now"), and maybe a moment: what the step is about, as a
test of the simulation ("a new master is known to every app server"). "Next" does the
current step's action and plays the lab until its moment comes, then pauses there, so a
lecture goes from one thing worth seeing to the next instead of from one kernel event to
the next. A step without a moment is done as soon as its action is. "Back" rewinds to
where the previous step began.

Everyone watching a lab sees the same step: where the guide stands is part of the lab.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from coordlab.sim import Simulation

#: a step's moment that has not come after this much virtual time is given up (the lab pauses)
WITHIN_MS = 60_000

Moment = Callable[[Simulation], bool]
Action = Callable[[Simulation], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Step:
    """One guided step. ``action(sim)`` gives the command to send first (None: nothing to do,
    for example because the learner did it already); ``moment(sim)`` is true once what the
    step is about has happened, ``waits_for`` says what that is ("the new master is known")."""

    title: str
    text: str
    action: Action | None = None
    moment: Moment | None = None
    waits_for: str = ""
    within_ms: int = WITHIN_MS


@dataclass
class Tour:
    """Where a lab's guide stands: ``at`` is the step Next does (``len(steps)`` once all are
    done); ``running`` the step whose moment the lab plays to, until when (virtual ms);
    ``began`` where each step done so far began, before its action (what Back rewinds to): the
    virtual time, the events run and the log's length then."""

    at: int = 0
    running: int | None = None
    until_ms: int = 0
    began: list[tuple[int, int, int]] = field(default_factory=list)

    def as_data(self) -> dict[str, Any]:
        return {"at": self.at, "running": self.running, "until_ms": self.until_ms, "began": list(self.began)}

    @classmethod
    def from_data(cls, data: dict[str, Any] | None, steps: int) -> Tour:
        """A tour saved with ``as_data`` (one that does not fit the scenario's steps starts over)."""
        if not data or not 0 <= int(data.get("at", 0)) <= steps:
            return cls()
        running = data.get("running")
        began = [(int(time), int(processed), int(log)) for time, processed, log in data.get("began", [])]
        return cls(int(data["at"]), None if running is None else int(running), int(data.get("until_ms", 0)),
                   began[:steps])


def describe(steps: tuple[Step, ...], tour: Tour) -> dict[str, Any]:
    """What the guide panel shows: every step with its state, and the current one. Every frame of every
    lab asks, and the answer changes only with a step: it is built once per position (not to be changed)."""
    return _described(steps, tour.at, tour.running, tour.at > 0 and bool(tour.began))


@lru_cache(maxsize=256)
def _described(steps: tuple[Step, ...], at: int, running: int | None, can_back: bool) -> dict[str, Any]:
    shown = []
    for index, step in enumerate(steps):
        state = "done" if index < at else "running" if index == running else \
            "current" if index == at else "later"
        shown.append({"number": index + 1, "title": step.title, "text": step.text, "state": state,
                      "waits_for": step.waits_for})
    current = steps[at] if at < len(steps) else None
    return {"steps": shown, "total": len(steps), "at": at, "running": running is not None,
            "current": {"number": at + 1, "title": current.title, "text": current.text,
                        "waits_for": current.waits_for} if current else None,
            "can_back": can_back}
