"""Determinism is a contract: same scenario, seed and commands, same trace."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from coordlab.basics.scenarios import build
from coordlab.sim import Simulation
from tests.scripted_run import fingerprint, run

ROOT = Path(__file__).resolve().parents[2]


def test_same_seed_and_commands_give_the_same_trace():
    assert fingerprint(run(seed=7)) == fingerprint(run(seed=7))


def test_a_different_seed_gives_a_different_trace():
    assert fingerprint(run(seed=7)) != fingerprint(run(seed=8))


def test_the_advance_granularity_does_not_change_the_run():
    """The engine's tick length depends on the wall clock; the run must not."""
    assert fingerprint(run(wall_step_ms=50)) == fingerprint(run(wall_step_ms=333))


def test_same_trace_in_processes_with_different_hash_seeds():
    outputs = set()
    for hash_seed in ("0", "1", "987654"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run([sys.executable, "-m", "tests.scripted_run"], cwd=ROOT, env=env,
                                capture_output=True, text=True, check=True, timeout=120)
        outputs.add(result.stdout.strip())
    assert len(outputs) == 1, outputs
    assert outputs == {fingerprint(run())}


def test_snapshot_restore_mid_run_with_messages_in_flight_has_the_same_future():
    sim = build(seed=11)
    sim.run_until(4_321)
    sim.crash("m2")
    sim.cut("m1", "m4", both_ways=False)
    sim.run_until(6_789)
    assert sim.network.in_flight, "the test needs messages in flight at the snapshot"
    copy = Simulation.restore(sim.snapshot())
    assert copy.snapshot() == sim.snapshot()
    for s in (sim, copy):
        s.restart("m2")
        s.run_until(30_000)
    assert copy.trace_log.digest == sim.trace_log.digest
    assert copy.snapshot() == sim.snapshot()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), cut_at=st.integers(0, 20_000))
def test_snapshot_at_any_moment_round_trips(seed: int, cut_at: int):
    sim = build(seed=seed)
    sim.run_until(cut_at)
    copy = Simulation.restore(sim.snapshot())
    sim.run_until(cut_at + 5_000)
    copy.run_until(cut_at + 5_000)
    assert copy.snapshot() == sim.snapshot()
