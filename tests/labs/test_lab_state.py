"""A lab saved as plain data and rebuilt is the same lab: the same moment, the same
simulation byte for byte, and from there the same future as a lab that never stopped,
including rewinds into the time before it was saved."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from coordlab.labs.commands import CommandError, from_data
from coordlab.labs.lab import Lab
from coordlab.labs.registry import get
from coordlab.sim.codec import encode


def do(lab: Lab, **command) -> str:
    return lab.apply(from_data(command))


def saved_and_restored(lab: Lab) -> Lab:
    """Through JSON text, as the database keeps it."""
    return Lab.from_state(lab.id, lab.scenario, json.loads(json.dumps(lab.state())))


def assert_same(a: Lab, b: Lab) -> None:
    assert a.sim.snapshot() == b.sim.snapshot()
    assert (a.now, a.horizon, a.playing, a.speed, a.rewound, a.start) == (b.now, b.horizon, b.playing, b.speed,
                                                                          b.rewound, b.start)
    assert a.log == b.log


def basics(lab: Lab) -> None:
    lab.advance(3_000)
    do(lab, command="crash", node="m2")
    lab.advance(4_000)
    do(lab, command="partition", preset="split-2-2")
    do(lab, command="forward", seconds=12)
    do(lab, command="heal")
    do(lab, command="restart", node="m2")
    lab.advance(2_500)


def zookeeper(lab: Lab) -> None:
    do(lab, command="forward", seconds=8)
    do(lab, command="console", op="create", path="/lecture", data="one")
    lab.advance(1_500)
    leader = next(name for name, node in lab.sim.nodes.items() if getattr(node, "state", "") == "LEADING")
    do(lab, command="crash", node=leader)
    do(lab, command="speed", speed=2)
    lab.advance(6_000)
    do(lab, command="console", op="set", path="/lecture", data="two")
    lab.advance(700)


def kafka(lab: Lab) -> None:
    do(lab, command="forward", seconds=6)
    do(lab, command="act", op="publish", topic="payments", key="k1", value="first", headers="source=web, lang=en",
       acks="all")
    lab.advance(2_000)
    do(lab, command="crash", node="b1")
    do(lab, command="forward", seconds=9)
    do(lab, command="act", op="publish", topic="payments", key="k2", value="second", headers="", acks="1")
    lab.advance(1_234)


STORIES = [("network-basics", basics), ("master-election", zookeeper), ("kafka-replication", kafka)]


@pytest.mark.parametrize(("slug", "story"), STORIES, ids=[slug for slug, _ in STORIES])
def test_a_restored_lab_is_the_same_lab_and_goes_on_the_same_way(slug, story):
    lab = Lab("saved", get(slug), seed=7)
    story(lab)
    assert len(lab.checkpoints) > 1  # the saved checkpoint is not the start: the test covers replay
    restored = saved_and_restored(lab)
    assert_same(lab, restored)
    assert restored.version == lab.version

    for twin in (lab, restored):
        twin.advance(3_000)
        do(twin, command="pause")
        do(twin, command="step")
        do(twin, command="forward", seconds=7)
    assert_same(lab, restored)
    assert lab.sim.trace_log == restored.sim.trace_log


@pytest.mark.parametrize(("slug", "story"), STORIES, ids=[slug for slug, _ in STORIES])
def test_a_rewind_after_a_restore_lands_where_a_lab_that_never_stopped_lands(slug, story):
    lab = Lab("saved", get(slug), seed=3)
    story(lab)
    restored = saved_and_restored(lab)
    for moment in (lab.start, lab.start + 1_700, lab.now // 2, lab.now - 1, lab.now):
        do(lab, command="seek", time_ms=moment)
        do(restored, command="seek", time_ms=moment)
        assert_same(lab, restored)


def test_a_lab_saved_while_looking_at_the_past_comes_back_there_with_its_future():
    lab = Lab("saved", get("network-basics"), seed=2)
    basics(lab)
    horizon = lab.now
    do(lab, command="seek", time_ms=9_000)
    restored = saved_and_restored(lab)
    assert restored.rewound and restored.now == 9_000 and restored.horizon == horizon
    assert_same(lab, restored)
    for twin in (lab, restored):  # forward to the end of the old future, then a new branch
        do(twin, command="seek", time_ms=horizon - 500)
    assert_same(lab, restored)
    for twin in (lab, restored):
        do(twin, command="play")
        twin.advance(2_000)
    assert_same(lab, restored)


def test_paused_speed_and_a_young_lab_come_back_as_they_were():
    lab = Lab("young", get("master-election"), seed=1)
    do(lab, command="speed", speed=5)
    do(lab, command="pause")
    assert len(lab.checkpoints) == 1
    restored = saved_and_restored(lab)
    assert_same(lab, restored)
    assert not restored.playing and restored.speed == 5


def test_a_reset_lab_comes_back_reset():
    lab = Lab("reset", get("network-basics"), seed=4)
    basics(lab)
    do(lab, command="reset")
    lab.advance(1_000)
    assert_same(lab, saved_and_restored(lab))


def test_a_state_that_does_not_fit_is_refused():
    lab = Lab("x", get("network-basics"))
    state = lab.state()
    with pytest.raises(ValueError, match="format"):
        Lab.from_state("x", lab.scenario, {**state, "format": 0})
    with pytest.raises(ValueError, match="scenario"):
        Lab.from_state("x", get("master-election"), state)


def test_the_state_is_json_and_holds_the_simulation_only_once():
    lab = Lab("x", get("kafka-replication"), seed=1)
    kafka(lab)
    frozen = lab.state(frozen=True)
    assert any(frozen["base"]["snapshot"] is c.snapshot for c in lab.checkpoints)  # made already, not anew
    text = json.dumps(lab.state())
    assert text.count(r'\"@\":\"Simulation\"') == 1  # one simulation snapshot, not one per checkpoint


class SavedAndRestoredAtRandom(RuleBasedStateMachine):
    """Random commands on two labs; one of them is now and then saved and rebuilt."""

    def __init__(self) -> None:
        super().__init__()
        self.twin = Lab("twin", get("network-basics"), seed=5)
        self.lab = Lab("twin", get("network-basics"), seed=5)

    def both(self, **command) -> None:
        outcomes = []
        for lab in (self.twin, self.lab):
            with contextlib.suppress(CommandError):
                outcomes.append(lab.apply(from_data(command)))
        assert len(outcomes) in (0, 2)

    @rule()
    def save_and_restore(self):
        self.lab = saved_and_restored(self.lab)

    @rule(ms=st.integers(1, 9_000))
    def advance(self, ms):
        self.twin.advance(ms)
        self.lab.advance(ms)

    @rule(node=st.sampled_from(["m1", "m2", "m3", "m4"]), kill=st.booleans())
    def crash_or_restart(self, node, kill):
        self.both(command="crash" if kill else "restart", node=node)

    @rule(preset=st.sampled_from(["split-2-2", "isolate-m1"]))
    def partition(self, preset):
        self.both(command="partition", preset=preset)

    @rule()
    def heal(self):
        self.both(command="heal")

    @rule(name=st.sampled_from(["step", "play", "pause", "faster", "reset"]))
    def control(self, name):
        self.both(command=name)

    @rule(seconds=st.integers(1, 20))
    def forward(self, seconds):
        self.both(command="forward", seconds=seconds)

    @rule(fraction=st.floats(0, 1))
    def seek(self, fraction):
        self.both(command="seek", time_ms=int(self.twin.horizon * fraction))

    @invariant()
    def the_restored_lab_is_the_lab_that_never_stopped(self):
        assert_same(self.twin, self.lab)

    @invariant()
    def the_saved_log_is_the_log_after_cuts_resets_and_forks(self):
        # state() keeps the entries it already turned into data; check it against a fresh encoding
        for lab in (self.twin, self.lab):  # the twin forks now and then; the lab is restored
            assert lab.state()["log"] == [[e.time, e.processed, encode(e.command)] for e in lab.log]

    @rule()
    def fork(self):
        self.twin = self.twin.fork(self.twin.id)


SavedAndRestoredAtRandom.TestCase.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
test_lab_survives_saving_and_restoring_at_random = SavedAndRestoredAtRandom.TestCase
