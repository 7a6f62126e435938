"""The master-election story, and the naive tracker it replaces."""

from __future__ import annotations

from zookeeper_app.model import Ensemble
from zookeeper_app.model.checks import one_master
from zookeeper_app.model.story import AppServer, NaiveAppServer, PlainStorage, StorageMachine, Tracker

HOSTS = ["z1", "z2", "z3"]
MACHINES = ["M1", "M2", "M3"]


def storage_cluster(seed: int = 2) -> Ensemble:
    ens = Ensemble(servers=3, seed=seed, tick_time=200)
    ens.run_until(lambda: ens.leader() is not None, 5)  # ZooKeeper first, as a deployment starts it
    for name in MACHINES:
        ens.add(StorageMachine(name=name, hosts=HOSTS, timeout_ms=4000, address=name))
    for name in ("A1", "A2"):
        ens.add(AppServer(name=name, hosts=HOSTS, timeout_ms=4000))
    ens.run_for(5)
    return ens


def roles(ens: Ensemble) -> dict[str, str]:
    return {name: ens.sim.nodes[name].role for name in MACHINES}


def test_one_machine_wins_the_race_and_app_servers_cache_it():
    ens = storage_cluster()
    masters = [name for name, role in roles(ens).items() if role == "master"]
    assert len(masters) == 1 and sorted(roles(ens).values()) == ["master", "slave", "slave"]
    for app in ("A1", "A2"):
        node = ens.sim.nodes[app]
        assert node.cached_master == masters[0] and node.succeeded > 0 and node.failed == 0
        assert node.asked_zookeeper <= 2 < node.from_cache, "a watch, not a question on every write"
    assert one_master(ens.sim) == []


def test_when_the_master_dies_another_takes_over_after_the_session_timeout_and_it_rejoins_as_slave():
    ens = storage_cluster()
    old = next(name for name, role in roles(ens).items() if role == "master")
    ens.crash(old)
    ens.run_for(2)
    assert "master" not in roles(ens).values(), "its node lives until its session expires"
    ens.run_for(5)
    new = next(name for name, role in roles(ens).items() if role == "master")
    assert new != old
    before = {app: ens.sim.nodes[app].succeeded for app in ("A1", "A2")}
    ens.run_for(3)
    for app in ("A1", "A2"):
        assert ens.sim.nodes[app].cached_master == new and ens.sim.nodes[app].succeeded > before[app]
    ens.restart(old)
    ens.run_for(3)
    assert roles(ens)[old] == "slave" and roles(ens)[new] == "master"


def test_the_naive_tracker_costs_a_hop_per_write_and_fails_alone():
    ens = Ensemble(servers=1, seed=1)
    ens.add(PlainStorage(name="M1", is_master=True))
    ens.add(Tracker(name="T", master="M1"))
    ens.add(NaiveAppServer(name="A1", tracker="T"))
    ens.run_for(5)
    app = ens.sim.nodes["A1"]
    assert app.succeeded >= 8 and app.extra_hops == app.attempted
    ens.crash("T")
    succeeded = app.succeeded
    ens.run_for(5)
    assert app.succeeded == succeeded and app.failed >= 7, "the master is healthy, yet every write fails"
