"""The entry point works as the issue shows it, from plain Python. Expected values
follow ZooKeeper 3.8's PrepRequestProcessor (error order, sequential names),
DataTree (Stats, watch events) and ZooKeeperServer.processConnectRequest (timeouts)."""

from __future__ import annotations

import pytest

from coordlab.sim import Simulation
from zookeeper_app.model import (
    BadVersionError,
    Ensemble,
    EventType,
    KazooState,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from zookeeper_app.model.zxid import epoch_of


@pytest.fixture
def ens():
    ensemble = Ensemble(servers=3, seed=7, tick_time=200)
    ensemble.run_for(2.0)
    return ensemble


def test_a_leader_is_elected_and_the_others_follow(ens):
    leader = ens.leader()
    assert leader is not None
    states = sorted(s.state for s in ens.servers())
    assert states == ["FOLLOWING", "FOLLOWING", "LEADING"]
    assert all(s.epoch == 1 for s in ens.servers())


def test_client_operations_and_errors(ens):
    zk = ens.client("c1", hosts="z1,z2,z3", timeout=10.0)
    zk.start()
    assert zk.state == KazooState.CONNECTED and zk.session_timeout == 4000  # clamped to 20 ticks
    assert zk.create("/a", b"x") == "/a"
    data, stat = zk.get("/a")
    assert data == b"x" and stat.version == 0 and stat.dataLength == 1
    assert zk.set("/a", b"yy").version == 1
    with pytest.raises(BadVersionError):
        zk.set("/a", b"z", version=0)
    with pytest.raises(NodeExistsError):
        zk.create("/a")
    with pytest.raises(NoNodeError):
        zk.create("/missing/child")
    zk.create("/e", ephemeral=True)
    with pytest.raises(NoChildrenForEphemeralsError):
        zk.create("/e/c")
    zk.create("/a/b")
    with pytest.raises(NotEmptyError):
        zk.delete("/a")
    assert zk.delete("/a", recursive=True) is None and zk.exists("/a") is None  # kazoo's _delete_recursive
    assert zk.delete("/a", recursive=True) is True  # missing: True, nothing deleted
    assert zk.create("/deep/er/path", makepath=True) == "/deep/er/path"


def test_sequential_names_count_the_parents_child_changes(ens):
    zk = ens.client("c1")
    zk.start()
    zk.create("/s")
    names = [zk.create("/s/n-", sequence=True) for _ in range(2)]
    zk.create("/s/x")
    zk.delete("/s/x")
    names.append(zk.create("/s/n-", sequence=True))
    # The counter is the stored cversion: it counts creations, not deletions
    # (PrepRequestProcessor.pRequest2TxnCreate, DataNode.copyStat).
    assert names == ["/s/n-0000000000", "/s/n-0000000001", "/s/n-0000000003"]


def test_transactions_apply_all_or_nothing(ens):
    zk = ens.client("c1")
    zk.start()
    zk.create("/t")
    t = zk.transaction()
    t.create("/t/a")
    t.check("/t", 7)
    t.create("/t/b")
    results = t.commit()
    assert [type(r) for r in results] == [RolledBackError, BadVersionError, RuntimeInconsistency]
    assert zk.get_children("/t") == []
    t = zk.transaction()
    t.create("/t/a", b"1")
    t.set_data("/t/a", b"2")
    t.check("/t", 0)
    results = t.commit()
    assert results[0] == "/t/a" and results[1].version == 1 and results[2] is True


def test_watches_fire_once_with_kazoo_events(ens):
    zk, other = ens.client("c1"), ens.client("c2", hosts="z2")
    zk.start()
    other.start()
    seen = []
    assert zk.exists("/w", watch=seen.append) is None
    other.create("/w", b"1")
    ens.run_for(0.5)
    zk.get("/w", watch=seen.append)
    zk.get_children("/", watch=seen.append)
    other.set("/w", b"2")
    other.set("/w", b"3")  # the data watch already fired: no second event
    other.delete("/w")
    ens.run_for(0.5)
    assert [(e.type, e.path) for e in seen] == [
        (EventType.CREATED, "/w"), (EventType.CHANGED, "/w"), (EventType.CHILD, "/")]


def test_ephemeral_nodes_go_with_their_session(ens):
    owner, watcher = ens.client("c1", timeout=4.0), ens.client("c2")
    owner.start()
    watcher.start()
    owner.create("/lock", ephemeral=True)
    assert watcher.exists("/lock").ephemeralOwner == owner.client_id[0]
    ens.crash("c1")  # stops pinging; the session lives on until it expires
    ens.run_for(2.0)
    assert watcher.exists("/lock") is not None
    ens.run_for(4.0)
    assert watcher.exists("/lock") is None


def test_killing_the_leader_elects_a_new_one_with_a_higher_epoch_and_writes_resume(ens):
    zk = ens.client("c1")
    zk.start()
    zk.create("/before")
    old = ens.leader()
    ens.crash(old)
    ens.run_for(4.0)
    new = ens.leader()
    assert new not in (None, old) and ens.server(new).epoch == 2
    path = zk.create("/after")
    assert path == "/after" and epoch_of(zk.exists("/after").czxid) == 2
    assert zk.exists("/before") is not None


def test_a_snapshot_taken_while_a_write_is_in_flight_goes_on_exactly_as_the_original():
    """The leader's outstanding changes sit in a list and, by path, in a dict: a snapshot brings
    them back as two copies, so nothing may tell them apart by identity."""
    ens = Ensemble(servers=3, seed=5)
    ens.run_for(3.0)
    zk = ens.client("c1", hosts="z1,z2,z3")
    zk.start()
    zk.create_async("/in-flight", b"one")
    sim = ens.sim
    while not any(getattr(node, "outstanding", None) and node.outstanding.records for node in sim.nodes.values()):
        sim.step()
    copy = Simulation.restore(sim.snapshot())
    for world in (sim, copy):
        world.run_until(world.now + 5_000)
    assert copy.snapshot() == sim.snapshot()
