"""Every ZooKeeper scenario keeps the lab contract: snapshots round-trip,
rewinding reproduces the exact state, and runs are deterministic."""

from __future__ import annotations

import pytest

from coordlab.labs.commands import CommandError, from_data
from coordlab.labs.lab import Lab
from coordlab.sim import Simulation
from zookeeper_app.scenarios import SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.slug)
def test_snapshot_rewind_and_determinism(scenario):
    def run() -> Lab:
        lab = Lab("t", scenario, seed=3)
        lab.advance(6_000)
        first = next(iter(lab.sim.nodes))
        lab.apply(from_data({"command": "crash", "node": first}))
        lab.advance(7_000)
        return lab

    lab = run()
    assert run().sim.snapshot() == lab.sim.snapshot()
    assert Simulation.restore(lab.sim.snapshot()).snapshot() == lab.sim.snapshot()
    end, state = lab.now, lab.sim.snapshot()
    lab.apply(from_data({"command": "seek", "time_ms": 3_000}))
    assert lab.now == 3_000
    lab.apply(from_data({"command": "seek", "time_ms": end}))
    assert lab.sim.snapshot() == state


def test_console_and_switch_commands_are_checked_before_anything_changes():
    by_slug = {s.slug: s for s in SCENARIOS}
    tracker = Lab("t", by_slug["naive-tracker"])
    with pytest.raises(CommandError, match="no console"):
        tracker.apply(from_data({"command": "console", "op": "create", "path": "/a"}))
    quorum = Lab("q", by_slug["quorum-split-brain"])
    before = quorum.sim.snapshot()
    for bad in ({"command": "console", "op": "explode", "path": "/a"},
                {"command": "toggle", "name": "no-such-switch", "on": True}):
        with pytest.raises(CommandError):
            quorum.apply(from_data(bad))
    with pytest.raises(CommandError, match="starts with"):
        from_data({"command": "console", "op": "create", "path": "relative"})
    assert quorum.sim.snapshot() == before
    quorum.apply(from_data({"command": "toggle", "name": "half-quorum", "on": True}))
    assert all(n.half_quorum for n in quorum.sim.nodes.values() if hasattr(n, "half_quorum"))
