"""How a rejoining server is brought in line (LearnerHandler.syncFollower):
TRUNC for proposals the new leader never committed, SNAP when they belong to
an epoch the new history has moved past, DIFF otherwise; and watches moved to
a new server still fire for what changed meanwhile (DataTree.setWatches)."""

from __future__ import annotations

import pytest

from zookeeper_app.model import Ensemble, EventType
from zookeeper_app.model.checks import histories_agree


def orphan_proposal(write_in_new_epoch: bool) -> tuple[Ensemble, str]:
    """The leader logs a proposal nobody else gets, is cut off, and comes back."""
    ens = Ensemble(servers=3, seed=6, tick_time=200)
    ens.run_for(2)
    old = ens.leader()
    followers = [n for n in ens.server_names if n != old]
    # c1 may move to another server after the heal, so its session does not expire (a new-epoch write)
    zk = ens.client("c1", hosts=",".join([old, *followers]))
    zk.start()
    zk.create("/committed")
    ens.partition([old, "c1"], [*followers, "c2"])
    zk.create_async("/orphan")
    ens.run_for(0.1)
    assert ens.server(old).log[-1].record.path == "/orphan"
    ens.run_for(4)
    if write_in_new_epoch:
        other = ens.client("c2", hosts=",".join(followers))
        other.start()
        other.create("/new-epoch")
    ens.heal()
    ens.run_for(4)
    return ens, old


@pytest.mark.parametrize(("write_in_new_epoch", "mode"), [(False, "trunc"), (True, "snap")])
def test_an_old_leaders_uncommitted_proposal_is_thrown_away(write_in_new_epoch, mode):
    ens, old = orphan_proposal(write_in_new_epoch)
    server = ens.server(old)
    assert server.state == "FOLLOWING"
    assert any(e.kind == mode and e.node == old for e in ens.sim.trace_log.events)
    assert "/orphan" not in server.tree.nodes and "/committed" in server.tree.nodes
    assert all(getattr(t.record, "path", "") != "/orphan" for t in server.log)
    assert histories_agree(ens.sim) == []


def test_a_follower_that_was_down_catches_up_by_diff():
    ens = Ensemble(servers=3, seed=6, tick_time=200)
    ens.run_for(2)
    follower = next(s.name for s in ens.servers() if s.state == "FOLLOWING")
    zk = ens.client("c1", hosts=ens.leader())
    zk.start()
    ens.crash(follower)
    for n in range(5):
        zk.create(f"/n{n}")
    ens.restart(follower)
    ens.run_for(3)
    assert any(e.kind == "diff" and e.node == follower for e in ens.sim.trace_log.events)
    assert ens.server(follower).tree.children_of("/") == sorted(["n0", "n1", "n2", "n3", "n4", "zookeeper"])


def test_watches_follow_a_client_to_its_new_server_and_missed_changes_fire():
    ens = Ensemble(servers=3, seed=8, tick_time=200)
    ens.run_for(2)
    followers = [s.name for s in ens.servers() if s.state == "FOLLOWING"]
    watcher = ens.client("w", hosts=",".join(followers), timeout=4.0)
    writer = ens.client("m", hosts=ens.leader())
    watcher.start()
    writer.start()
    writer.create("/watched", b"1")
    seen = []
    watcher.get("/watched", watch=seen.append)
    first = ens.sim.nodes["w"].server
    ens.partition([first, "w"], [n for n in ens.server_names if n != first] + ["m"])
    writer.set("/watched", b"2")  # the watcher's server cannot hear this
    assert seen == []
    ens.heal()
    ens.crash(first)
    ens.run_for(4)
    assert ens.sim.nodes["w"].server != first
    assert [(e.type, e.path) for e in seen] == [(EventType.CHANGED, "/watched")]


@pytest.mark.parametrize(("there", "change", "fires"), [
    (True, "delete", EventType.DELETED),  # a data watch now: re-sent as one, it fires DELETED
    (True, "set", EventType.CHANGED),
    (False, "create", EventType.CREATED),  # an exist watch: it fires CREATED
])
def test_an_exists_watch_follows_a_client_to_its_new_server_as_zookeeper_files_it(there, change, fires):
    ens = Ensemble(servers=3, seed=8, tick_time=200)
    ens.run_for(2)
    followers = [s.name for s in ens.servers() if s.state == "FOLLOWING"]
    watcher = ens.client("w", hosts=",".join(followers), timeout=4.0)
    writer = ens.client("m", hosts=ens.leader())
    watcher.start()
    writer.start()
    if there:
        writer.create("/watched", b"1")
    seen = []
    assert (watcher.exists("/watched", watch=seen.append) is not None) == there
    first = ens.sim.nodes["w"].server
    ens.partition([first, "w"], [n for n in ens.server_names if n != first] + ["m"])
    {"delete": lambda: writer.delete("/watched"), "set": lambda: writer.set("/watched", b"2"),
     "create": lambda: writer.create("/watched", b"1")}[change]()
    assert seen == []
    ens.heal()
    ens.crash(first)
    ens.run_for(4)
    assert ens.sim.nodes["w"].server != first
    assert [(e.type, e.path) for e in seen] == [(fires, "/watched")]


def test_an_exists_watch_on_a_node_that_stays_fires_nothing_after_a_reconnect():
    ens = Ensemble(servers=3, seed=8, tick_time=200)
    ens.run_for(2)
    followers = [s.name for s in ens.servers() if s.state == "FOLLOWING"]
    watcher = ens.client("w", hosts=",".join(followers), timeout=4.0)
    writer = ens.client("m", hosts=ens.leader())
    watcher.start()
    writer.start()
    writer.create("/watched", b"1")
    seen = []
    watcher.exists("/watched", watch=seen.append)
    first = ens.sim.nodes["w"].server
    ens.crash(first)
    ens.run_for(4)
    assert ens.sim.nodes["w"].server != first and seen == []
    writer.delete("/watched")
    ens.run_for(1)
    assert [(e.type, e.path) for e in seen] == [(EventType.DELETED, "/watched")]


def test_seven_servers_elect_and_survive_three_failures():
    ens = Ensemble(servers=7, seed=2)
    ens.run_for(2)
    leader = ens.leader()
    for name in [n for n in ens.server_names if n != leader][:3]:
        ens.crash(name)
    ens.run_for(3)
    assert ens.leader() == leader
    zk = ens.client("c1", hosts=leader)
    zk.start()
    assert zk.create("/still-writable") == "/still-writable"
