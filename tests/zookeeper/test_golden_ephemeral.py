"""Ephemeral nodes against ZooKeeper 3.8.0 (golden f_ephemeral.json), step by step.

Client A creates ephemeral nodes under /t6 (one of them sequential) while an observer O
watches; A closes its session and the nodes go, in the one closeSession transaction. Then
A2 does the same with a single node, whose notifications come in a fixed order. Last, a
session R whose connection just stops (the capture closed its TCP socket without a
closeSession) keeps its node until the session expires.

Each recorded request is replayed on a one-server model ensemble in the capture's order
(sessions included: each createSession and closeSession uses a zxid) and its result and
reply zxid compared, Stats with the owner session named by client label, as capture.py
wrote them.

Compared as sets, not in order: the two notifications O gets when A closes. ZooKeeper
deletes a closing session's ephemerals in the order of a HashSet (the capture's own note);
the model deletes them in name order. The raw ``wire_events`` are not compared apart from
the callbacks: every notification here reaches exactly one callback, so they say the same.
"""

from __future__ import annotations

from typing import Any

from zookeeper_app.model import Ensemble, KazooClient, WatchedEvent

from .golden_replay import as_golden, load, probe, rel, sorted_children

GOLDEN = load("f_ephemeral")
STEPS = GOLDEN["steps"]
FACTS = GOLDEN["facts"]
TICK_S = GOLDEN["server_config"]["tickTime"] / 1000


class Replay:
    def __init__(self) -> None:
        self.ens = Ensemble(servers=1, seed=3, tick_time=200)
        self.ens.run_for(1.0)
        self.clients: dict[str, KazooClient] = {}
        self.owners: dict[int, str] = {}
        self.base = 0
        self.next_step = 0

    def connect(self, label: str, timeout: float = 10.0) -> KazooClient:
        zk = self.clients[label] = self.ens.client(label, timeout=timeout)
        zk.start()
        self.owners[zk.client_id[0]] = f"session:{label}"
        return zk

    def step(self, **watch: Any) -> Any:
        """Replay the next recorded request and compare its answer with the real server's."""
        index, golden = self.next_step, STEPS[self.next_step]
        self.next_step += 1
        zk = self.clients[golden["client"]]
        path, *data = golden["args"]
        kwargs = {k: v for k, v in golden.get("kwargs", {}).items() if k != "watch"}
        assert set(watch) == ({"watch"} if "watch" in golden.get("kwargs", {}) else set()), index
        result = getattr(zk, golden["op"])(path, *(d.encode() for d in data), **kwargs, **watch)
        if not self.base:
            self.base = zk.node.last_zxid  # the scenario's first write, create /t6
        where = f"step {index}: {golden['client']}.{golden['op']}{tuple(golden['args'])} {golden.get('note', '')}"
        assert zk.node.last_zxid - self.base == golden["reply_zxid_rel"], where
        assert as_golden(result, self.base, self.owners) == sorted_children(golden["result"]), where
        return result


def test_ephemeral_nodes_belong_to_their_session_and_go_with_it_as_on_real_zookeeper():
    r = Replay()
    o, a = r.connect("O"), r.connect("A")
    r.step()  # O: create /t6
    r.step()  # A: create /t6/e1 ephemeral
    r.step()  # A: create /t6/e2 ephemeral
    assert r.step() == FACTS["ephemeral_sequential_name"]  # A: /t6/es- ephemeral + sequential
    seen_by_observer = r.step()
    seen_by_owner = r.step()
    assert (seen_by_observer == seen_by_owner) is FACTS["owner_and_observer_see_same_stat"]
    parent_before = r.step()

    callbacks: list[dict[str, str]] = []

    def recorder(name: str):
        def record(event: WatchedEvent) -> None:
            callbacks.append({"watcher": name, "type": event.type.value, "state": event.state.value,
                              "path": event.path})
        return record

    r.step(watch=recorder("exists(/t6/e1)"))
    r.step(watch=recorder("get_children(/t6)"))
    assert (o.exists("/t6/e1").ephemeralOwner == a.client_id[0]) is FACTS["ephemeralOwner_equals_owner_session_id"]

    before_close = probe(o)
    a.stop()
    close_zxid = a.node.last_zxid  # the reply to closeSession carries its transaction's zxid
    r.ens.run_for(0.3)
    assert (close_zxid - before_close == 1) is FACTS["close_consumed_exactly_one_zxid"]
    key = lambda callback: (callback["path"], callback["type"])  # noqa: E731
    assert sorted(callbacks, key=key) == sorted(FACTS["observer_kazoo_callbacks_in_order"], key=key)

    assert r.step() is None  # O: exists /t6/e1 after the owner closed
    parent_after = r.step()
    assert (parent_after.pzxid == close_zxid) is FACTS["parent_pzxid_eq_closeSession_zxid"]
    assert rel(parent_after.pzxid, r.base) == FACTS["parent_after_close"]["pzxid_rel"]
    assert parent_after.cversion - parent_before.cversion == FACTS["parent_cversion_delta_on_close"]
    assert r.step() == FACTS["children_after_close"]

    # one ephemeral: the order of its notifications is fixed (node deleted, then its parent's children)
    a2 = r.connect("A2")
    r.step()  # O: create /t6b
    r.step()  # A2: create /t6b/only ephemeral
    single: list[tuple[str, str, str]] = []
    r.step(watch=lambda event: single.append(("get(/t6b/only)", event.type.value, event.path)))
    r.step(watch=lambda event: single.append(("get_children(/t6b)", event.type.value, event.path)))
    a2.stop()
    r.ens.run_for(0.3)
    assert single == [tuple(callback) for callback in FACTS["single_ephemeral_close_kazoo_callbacks"]]
    r.step()  # O: exists /t6b after A2 closed

    # a session whose connection just stops: its node stays until the session expires
    expiry = STEPS[r.next_step + 1]
    raw = r.connect("R", timeout=expiry["negotiated_timeout_ms"] / 1000)
    assert raw.session_timeout == expiry["negotiated_timeout_ms"]
    raw.create("/t6/raw", ephemeral=True)
    r.step()  # O: exists /t6/raw, owned by R
    closed_at = r.ens.now
    r.ens.crash("R")  # no closeSession: the server hears nothing more from R
    r.ens.run_for(0.05)
    still_there = o.exists("/t6/raw") is not None
    while o.exists("/t6/raw") is not None and r.ens.now - closed_at < 10_000:
        r.ens.run_for(0.05)
    gone = o.exists("/t6/raw") is None
    elapsed = (r.ens.now - closed_at) / 1000
    assert (still_there, gone) == (expiry["still_exists_50ms_after_tcp_close"], expiry["disappeared"])
    # The time is a timing field (README.md); sessions expire at tick boundaries
    # (SessionTrackerImpl's buckets), so the model must be within a tick of the real server.
    assert abs(elapsed - expiry["disappeared_after_s_approx"]) <= TICK_S, elapsed
    assert r.next_step == len(STEPS) - 1  # every recorded request was replayed
