"""A follower that decides before the winner does still joins it: its first
FOLLOWERINFO reaches a server that is still LOOKING, so it tries again, as
Learner.connectToLeader retries until the leader listens."""

from __future__ import annotations

from coordlab.labs.commands import from_data
from coordlab.labs.lab import Lab
from coordlab.labs.registry import get
from zookeeper_app.model import ZkServer


def test_the_new_leader_is_established_although_a_follower_decided_first():
    lab = Lab("race", get("master-election"), 1)  # seed 1: z1 decides for z2 before z2 itself does
    for command in ({"command": "forward", "seconds": 10},
                    {"command": "console", "op": "create", "path": "/lecture", "data": "x"},
                    {"command": "forward", "seconds": 2}, {"command": "crash", "node": "z3"},
                    {"command": "forward", "seconds": 20}):
        lab.apply(from_data(command))
    events = [e for e in lab.sim.trace_log.events if e.time > 12_000]
    decided = {e.node: e.time for e in events if e.kind == "elected"}
    assert decided["z1"] < decided["z2"], "the race this test is about"
    assert not [e for e in events if e.kind == "step_down"]
    servers = {n: s for n, s in lab.sim.nodes.items() if isinstance(s, ZkServer) and s.alive}
    assert servers["z2"].state == "LEADING" and servers["z2"].established
    assert servers["z1"].state == "FOLLOWING" and servers["z1"].sync_phase == "synced"
