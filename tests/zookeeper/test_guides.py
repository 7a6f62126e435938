"""The ZooKeeper labs' guided steps: Next does each step and pauses the lab exactly when what
the step is about has happened, on more than one seed, and the lab then shows what the step said."""

from __future__ import annotations

import pytest

from coordlab.labs import registry
from coordlab.labs.lab import Lab
from tests.guide_steps import next_step
from zookeeper_app.guides import leaders, masters
from zookeeper_app.model.checks import violations
from zookeeper_app.model.story import MASTER, AppServer, StorageMachine

SEEDS = (1, 7)


def lab_of(slug: str, seed: int) -> Lab:
    scenario = registry.get(slug)
    assert scenario is not None and scenario.guide
    return Lab("guide", scenario, seed)


def machine(lab: Lab, name: str) -> StorageMachine:
    node = lab.sim.nodes[name]
    assert isinstance(node, StorageMachine)
    return node


@pytest.mark.parametrize("seed", SEEDS)
def test_master_election_step_by_step(seed: int) -> None:
    lab = lab_of("master-election", seed)
    next_step(lab)  # wait for a master
    first = masters(lab.sim)[0].name
    server, session = machine(lab, first).server, machine(lab, first).session
    next_step(lab)  # kill the master's ZooKeeper server
    assert not lab.sim.nodes[server].alive
    assert [m.name for m in masters(lab.sim)] == [first], "the master stayed master"
    assert machine(lab, first).server != server and machine(lab, first).session == session, "its session moved"
    next_step(lab)  # kill the master: its session runs out
    assert not machine(lab, first).alive and all(leader.tree.get(MASTER) is None for leader in leaders(lab.sim))
    next_step(lab)  # the slaves race
    winner = masters(lab.sim)[0]
    assert winner.name != first
    assert all(a.cached_master == winner.address for a in lab.sim.nodes.values() if isinstance(a, AppServer))
    next_step(lab)  # restart the old master
    assert machine(lab, first).alive and machine(lab, first).role == "slave"
    assert lab.tour.at == len(lab.scenario.guide) and "That was the last step" in lab.sim.trace_log.events[-1].text


@pytest.mark.parametrize("seed", SEEDS)
def test_quorum_step_by_step_ends_in_split_brain(seed: int) -> None:
    lab = lab_of("quorum-split-brain", seed)
    next_step(lab)
    next_step(lab)  # split 2 | 3
    assert not lab.sim.nodes["z1"].serving and not lab.sim.nodes["z2"].serving  # type: ignore[attr-defined]
    next_step(lab)  # heal
    assert len(leaders(lab.sim)) == 1
    next_step(lab)  # the unsafe rule
    next_step(lab)  # split again
    assert len(leaders(lab.sim)) == 2 and {m.name for m in masters(lab.sim)} == {"M1", "M2"}
    assert violations(lab.sim), "the safety badge turns red"


@pytest.mark.parametrize("seed", SEEDS)
def test_leader_election_step_by_step(seed: int) -> None:
    lab = lab_of("leader-election", seed)
    next_step(lab)
    old = leaders(lab.sim)[0].name
    epoch = leaders(lab.sim)[0].current_epoch
    next_step(lab)  # kill the leader: the followers go LOOKING
    assert not lab.sim.nodes[old].alive
    next_step(lab)  # the votes
    new = leaders(lab.sim)[0]
    assert new.name != old and new.current_epoch > epoch
    next_step(lab)  # restart the old leader: it follows
    assert lab.sim.nodes[old].alive and lab.sim.nodes[old].state == "FOLLOWING"  # type: ignore[attr-defined]
    assert [leader.name for leader in leaders(lab.sim)] == [new.name]


@pytest.mark.parametrize("seed", SEEDS)
def test_sessions_step_by_step(seed: int) -> None:
    lab = lab_of("sessions-ephemerals", seed)
    next_step(lab)
    next_step(lab)  # kill C1: its node goes when its session expires
    assert not machine(lab, "C1").alive and leaders(lab.sim)[0].tree.get(MASTER) is None
    next_step(lab)  # restart C1: a new session, the node again
    session, server = machine(lab, "C1").session, machine(lab, "C1").server
    assert machine(lab, "C1").role == "master" and leaders(lab.sim)[0].tree.get(MASTER) is not None
    next_step(lab)  # kill its server: the session moves, never expires
    c1 = machine(lab, "C1")
    assert c1.server != server and c1.session == session and c1.role == "master"


@pytest.mark.parametrize("seed", SEEDS)
def test_naive_tracker_step_by_step(seed: int) -> None:
    lab = lab_of("naive-tracker", seed)
    next_step(lab)
    failed = sum(getattr(node, "failed", 0) for node in lab.sim.nodes.values())
    next_step(lab)  # kill the tracker: writes fail
    assert not lab.sim.nodes["T"].alive
    assert sum(getattr(node, "failed", 0) for node in lab.sim.nodes.values()) >= failed + 3
    next_step(lab)  # restart it
    assert lab.sim.nodes["T"].alive
