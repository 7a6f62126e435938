"""Pressing Next in a test: the guided step is done, the lab plays in the engine's ticks, and it
pauses exactly at the step's moment, within the step's limit (``coordlab.labs.guide``)."""

from __future__ import annotations

from coordlab.labs.commands import from_data
from coordlab.labs.lab import Lab

TICK_MS = 50.0


def next_step(lab: Lab) -> int:
    """Press Next, play until the lab pauses, check that it paused at the step's moment in time, and
    return the virtual milliseconds the step took."""
    index = lab.tour.at
    step = lab.scenario.guide[index]
    began = lab.now
    said = lab.apply(from_data({"command": "next"}))
    for _ in range(int(step.within_ms / TICK_MS) + 20):
        if lab.tour.running is None:
            break
        lab.advance(TICK_MS)
    assert lab.tour.running is None and lab.tour.at == index + 1, \
        f"step {index + 1} “{step.title}”: {step.waits_for} did not come in time ({said})"
    if step.moment is not None:
        assert step.moment(lab.sim) and not lab.playing, "the lab pauses at the step's moment"
    assert lab.now - began <= step.within_ms
    return lab.now - began
