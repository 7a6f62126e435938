"""Random command sequences: the lab's state is always exactly its log replayed."""

from __future__ import annotations

import contextlib

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from coordlab.labs.commands import CommandError, from_data
from coordlab.labs.lab import Lab, apply_to_simulation, thaw
from coordlab.labs.registry import get
from coordlab.sim import Simulation

MACHINES = ["m1", "m2", "m3", "m4"]


def replay(lab: Lab) -> Simulation:
    """Build the lab's present from scratch: time zero, then every logged command."""
    sim = thaw(lab.checkpoints[0].snapshot)
    for entry in lab.log[: lab._replayed if lab.rewound else len(lab.log)]:
        sim.run_to(entry.time, entry.processed)
        apply_to_simulation(sim, entry.command, lab.scenario)
    sim.run_to(lab.now, lab.sim.processed)
    return sim


class LabHistory(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.lab = Lab("prop", get("network-basics"), seed=5)

    def do(self, **command) -> None:
        # Refused commands change nothing; test_lab checks that.
        with contextlib.suppress(CommandError):
            self.lab.apply(from_data(command))

    @rule(ms=st.integers(1, 7_000))
    def advance(self, ms):
        self.lab.advance(ms)

    @rule(node=st.sampled_from(MACHINES), kill=st.booleans())
    def crash_or_restart(self, node, kill):
        self.do(command="crash" if kill else "restart", node=node)

    @rule(a=st.sampled_from(MACHINES), b=st.sampled_from(MACHINES), both=st.booleans())
    def cut(self, a, b, both):
        self.do(command="cut", a=a, b=b, both_ways=both)

    @rule(preset=st.sampled_from(["split-2-2", "isolate-m1"]))
    def partition(self, preset):
        self.do(command="partition", preset=preset)

    @rule()
    def heal(self):
        self.do(command="heal")

    @rule(name=st.sampled_from(["step", "play", "pause", "faster", "slower"]))
    def control(self, name):
        self.do(command=name)

    @rule(seconds=st.integers(1, 20))
    def forward(self, seconds):
        self.do(command="forward", seconds=seconds)

    @rule(fraction=st.floats(0, 1))
    def seek(self, fraction):
        self.do(command="seek", time_ms=int(self.lab.horizon * fraction))

    @invariant()
    def state_is_the_log_replayed(self):
        assert replay(self.lab).snapshot() == self.lab.sim.snapshot()

    @invariant()
    def clock_never_passes_the_horizon(self):
        assert 0 <= self.lab.now <= self.lab.horizon


LabHistory.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
TestLabHistory = LabHistory.TestCase
