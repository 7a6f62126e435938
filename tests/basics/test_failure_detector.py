"""The heartbeat failure detector of the Network basics lab."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from coordlab.basics.checks import accuracy, completeness
from coordlab.basics.model import ALIVE, SUSPECTED, UNKNOWN, build_cluster

NAMES = ["m1", "m2", "m3", "m4"]


def make_cluster(seed: int = 0):
    return build_cluster(seed, NAMES, interval_ms=1000, timeout_ms=3000, latency_ms=400, jitter_ms=150)


def view(sim, observer: str, peer: str) -> str:
    return sim.nodes[observer].view[peer]


def test_everyone_believes_everyone_alive_after_the_first_heartbeats():
    sim = make_cluster()
    sim.run_until(2_000)
    assert all(view(sim, a, b) == ALIVE for a in NAMES for b in NAMES if a != b)


def test_a_dead_machine_is_suspected_after_the_timeout_and_trusted_after_restart():
    sim = make_cluster()
    sim.run_until(5_000)
    sim.crash("m3")
    sim.run_until(7_000)
    assert view(sim, "m1", "m3") == ALIVE, "too early: 3 s have not passed"
    sim.run_until(9_000)
    assert all(view(sim, m, "m3") == SUSPECTED for m in ("m1", "m2", "m4"))
    sim.restart("m3")
    assert all(view(sim, "m3", m) == UNKNOWN for m in ("m1", "m2", "m4"))
    sim.run_until(11_000)
    assert all(view(sim, m, "m3") == ALIVE for m in ("m1", "m2", "m4"))
    assert sim.nodes["m3"].boots == 2


def test_a_one_way_cut_makes_only_the_receiver_suspicious():
    sim = make_cluster()
    sim.run_until(2_000)
    sim.cut("m1", "m2", both_ways=False)
    sim.run_until(8_000)
    assert view(sim, "m2", "m1") == SUSPECTED
    assert view(sim, "m1", "m2") == ALIVE


def test_a_partition_looks_like_crashes_from_both_sides():
    sim = make_cluster()
    sim.run_until(2_000)
    sim.partition([["m1", "m2"], ["m3", "m4"]])
    sim.run_until(8_000)
    assert view(sim, "m1", "m3") == view(sim, "m3", "m1") == SUSPECTED
    assert view(sim, "m1", "m2") == view(sim, "m3", "m4") == ALIVE
    sim.heal()
    sim.run_until(10_000)
    assert all(view(sim, a, b) == ALIVE for a in NAMES for b in NAMES if a != b)


class FaultyNetwork(RuleBasedStateMachine):
    """Random crashes, restarts, cuts and partitions; the checkers must hold."""

    def __init__(self) -> None:
        super().__init__()
        self.sim = make_cluster(seed=42)
        self.settled_since = 0

    def fault(self) -> None:
        self.settled_since = self.sim.now

    @rule(node=st.sampled_from(NAMES))
    def crash(self, node):
        self.sim.crash(node)
        self.fault()

    @rule(node=st.sampled_from(NAMES))
    def restart(self, node):
        self.sim.restart(node)
        self.fault()

    @rule(a=st.sampled_from(NAMES), b=st.sampled_from(NAMES), both=st.booleans())
    def cut(self, a, b, both):
        if a != b:
            self.sim.cut(a, b, both)
            self.fault()

    @rule(split=st.integers(1, 3))
    def partition(self, split):
        self.sim.partition([NAMES[:split], NAMES[split:]])
        self.fault()

    @rule()
    def heal(self):
        self.sim.heal()
        self.fault()

    @rule(ms=st.integers(1, 8_000))
    def wait(self, ms):
        self.sim.run_until(self.sim.now + ms)

    @invariant()
    def dead_machines_are_suspected(self):
        assert completeness(self.sim) == []

    @invariant()
    def no_false_suspicion_once_healthy(self):
        assert accuracy(self.sim, self.settled_since) == []


FaultyNetwork.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None)
TestFaultyNetwork = FaultyNetwork.TestCase


def test_the_checkers_name_violations():
    sim = make_cluster()
    sim.run_until(2_000)
    sim.crash("m2")
    sim.run_until(9_000)
    sim.nodes["m1"].view["m2"] = ALIVE  # a detector that forgot to suspect
    assert completeness(sim) == ["m1 still trusts m2, down for 7.0 s"]
    sim.restart("m2")
    sim.run_until(20_000)
    sim.nodes["m4"].view["m3"] = SUSPECTED  # a false suspicion on a healthy network
    assert accuracy(sim, settled_since=9_000) == ["m4 suspects m3 on a healthy network"]
