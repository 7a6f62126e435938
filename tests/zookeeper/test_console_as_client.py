"""The console can act as any ZooKeeper client of the lab (issue 16, point 5): the request goes
out in that client's session, so its ephemerals and watches are that client's."""

from __future__ import annotations

import pytest

from coordlab.labs.commands import CommandError, from_data
from coordlab.labs.lab import Lab
from coordlab.labs.registry import get
from zookeeper_app.model.console import console_client
from zookeeper_app.model.story import MASTER, StorageMachine


def settled() -> Lab:
    lab = Lab("x", get("master-election"))
    lab.apply(from_data({"command": "forward", "seconds": 10}))
    return lab


def console(lab: Lab, **fields) -> str:
    return lab.apply(from_data({"command": "console", **fields}))


def lines(lab: Lab) -> list[str]:
    you = console_client(lab.sim)
    assert you is not None
    return [line.text for line in you.lines]


def test_the_master_deletes_its_own_node_in_its_own_session_and_a_slave_takes_over():
    lab = settled()
    master = next(n for n in lab.sim.nodes.values() if isinstance(n, StorageMachine) and n.role == "master")
    name, session = master.name, master.session
    assert "Sent as" in console(lab, op="delete", path=MASTER, client=name)
    assert lines(lab)[-1] == f"{name} (session {hex(session)}): delete {MASTER}"
    lab.apply(from_data({"command": "forward", "seconds": 5}))
    assert f"{name} delete: deleted" in lines(lab)
    new = next(n for n in lab.sim.nodes.values() if isinstance(n, StorageMachine) and n.role == "master")
    assert any(e.kind == "master" and e.node == new.name for e in lab.sim.trace_log.events)


def test_an_ephemeral_and_a_watch_made_as_a_client_are_that_clients():
    lab = settled()
    a1 = lab.sim.nodes["A1"]
    console(lab, op="create", path="/mine", ephemeral=True, client="A1")
    lab.apply(from_data({"command": "forward", "seconds": 2}))
    console(lab, op="exists", path="/mine", watch=True, client="A2")
    lab.apply(from_data({"command": "forward", "seconds": 2}))
    owner = next(s for s in lab.sim.nodes.values() if getattr(s, "state", "") == "LEADING").tree.nodes["/mine"]
    assert owner.stat.ephemeralOwner == a1.session
    assert any(text.startswith("A2 exists: exists") and "ephemeral" in text for text in lines(lab))
    lab.apply(from_data({"command": "crash", "node": "A1"}))  # A1's session expires, and its node goes
    lab.apply(from_data({"command": "forward", "seconds": 10}))
    assert "A2's watch fired: DELETED /mine" in lines(lab)


def test_the_console_refuses_a_machine_that_is_no_client_or_is_down():
    lab = settled()
    with pytest.raises(CommandError, match="not a ZooKeeper client"):
        console(lab, op="get", path="/", client="z1")
    with pytest.raises(CommandError, match="not a ZooKeeper client"):
        console(lab, op="get", path="/", client="nobody")
    lab.apply(from_data({"command": "crash", "node": "A1"}))
    with pytest.raises(CommandError, match="A1 is down"):
        console(lab, op="get", path="/", client="A1")
