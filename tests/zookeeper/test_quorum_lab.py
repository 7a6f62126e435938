"""The "Why a majority" lab keeps its promise: with the unsafe half rule and a 2 | 3 split,
both sides elect a master and the safety badge names both; with a strict majority, the
minority side never gets one."""

from __future__ import annotations

import pytest

from coordlab.labs.commands import from_data
from coordlab.labs.lab import Lab
from coordlab.labs.registry import get
from zookeeper_app.model import ZkServer
from zookeeper_app.model.checks import MASTER_PATH, violations
from zookeeper_app.model.story import StorageMachine

MINORITY, MAJORITY = ("z1", "z2"), ("z3", "z4", "z5")  # M1 talks to z1 first, M2 to z5


def split_lab(seed: int, unsafe: bool) -> Lab:
    lab = Lab("quorum", get("quorum-split-brain"), seed)
    for command in ({"command": "forward", "seconds": 10},
                    {"command": "toggle", "name": "half-quorum", "on": unsafe},
                    {"command": "partition", "preset": "split-2"}):
        lab.apply(from_data(command))
    return lab


def masters(lab: Lab) -> list[str]:
    return sorted(n.name for n in lab.sim.nodes.values()
                  if isinstance(n, StorageMachine) and n.alive and n.role == "master")


def owner_on(lab: Lab, server: str) -> str | None:
    """The machine whose session owns the master znode in ``server``'s tree."""
    node = lab.sim.nodes[server]
    assert isinstance(node, ZkServer) and node.serving
    stat = node.tree.stat_of(MASTER_PATH)
    if stat is None:
        return None
    return next(n.name for n in lab.sim.nodes.values()
                if isinstance(n, StorageMachine) and n.session == stat.ephemeralOwner)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_with_the_unsafe_rule_both_sides_of_the_split_elect_a_master_and_the_badge_names_both(seed):
    lab = split_lab(seed, unsafe=True)
    lab.apply(from_data({"command": "forward", "seconds": 30}))
    assert masters(lab) == ["M1", "M2"]
    assert {owner_on(lab, z) for z in MINORITY} == {"M1"}
    assert {owner_on(lab, z) for z in MAJORITY} == {"M2"}
    split_brain = [v for v in violations(lab.sim) if v.startswith("split brain")]
    assert len(split_brain) == 1 and "M1" in split_brain[0] and "M2" in split_brain[0], split_brain


@pytest.mark.parametrize("seed", [1, 2, 10, 12])  # M2 is master at the split; with 10 and 12, M1 is
def test_with_a_strict_majority_the_minority_side_never_gets_a_master(seed):
    lab = split_lab(seed, unsafe=False)
    split_at = lab.now
    while lab.now < split_at + 60_000:
        lab.advance(500)
        assert len(masters(lab)) <= 1, (lab.now, masters(lab))
        if lab.now >= split_at + 5_000:  # M1's side has stopped serving: it cannot be master there
            assert "M1" not in masters(lab), lab.now
    assert masters(lab) == ["M2"]
    assert violations(lab.sim) == []


def test_a_master_cut_off_on_the_minority_side_stops_being_master_and_the_majority_elects_one():
    """M1 is master when the split comes (M2 was restarted after a failover): on the minority
    side it cannot reach a quorum, so it cannot know whether it still owns the node, and steps
    down while its connection is suspended (as Curator's LeaderLatch does); M2 takes over once
    the majority expires M1's session."""
    lab = Lab("quorum", get("quorum-split-brain"), 1)
    for command in ({"command": "forward", "seconds": 10}, {"command": "crash", "node": "M2"},
                    {"command": "forward", "seconds": 10}, {"command": "restart", "node": "M2"},
                    {"command": "forward", "seconds": 5}):
        lab.apply(from_data(command))
    assert masters(lab) == ["M1"]
    lab.apply(from_data({"command": "partition", "preset": "split-2"}))
    lab.apply(from_data({"command": "forward", "seconds": 10}))
    assert lab.sim.nodes["M1"].role != "master"
    lab.apply(from_data({"command": "forward", "seconds": 20}))
    assert masters(lab) == ["M2"] and violations(lab.sim) == []
    lab.apply(from_data({"command": "heal"}))
    lab.apply(from_data({"command": "forward", "seconds": 20}))
    assert masters(lab) == ["M2"] and lab.sim.nodes["M1"].role == "slave"
