"""The broker's side of ZooKeeper (``KafkaZkClient`` and ``KafkaServer``'s registration).

When its session is first ``CONNECTED`` a broker creates the top-level paths
(``/brokers/ids``, ``/config/topics``...), registers the ephemeral
``/brokers/ids/<id>`` (``registerBroker``), and joins the race for
``/controller`` (``controller.elect``). After a crash its previous session may
still hold the registration: it watches the znode and registers again once that
session expires and the znode is deleted. When its own session is ``LOST`` it
is unregistered and, if it was the controller, resigns; then it reconnects,
and the new session registers and races again (Kafka's ``RegisterBrokerAndReelect``).

The broker's ZooKeeper requests carry a purpose (``Broker.zk``); replies and
watches this module does not own go to the controller (``controller.py``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from coordlab.sim import Simulation
from zookeeper_app.model.client import CONNECTED, LOST
from zookeeper_app.model.codes import Code
from zookeeper_app.model.prep import CreateRequest

from . import controller as ctl

if TYPE_CHECKING:
    from .broker import Broker

TOP_LEVEL_PATHS = ("/brokers", "/brokers/ids", "/brokers/topics", "/config", "/config/topics")


def session_changed(b: Broker, sim: Simulation, state: str) -> None:
    """Register (and race for the controller) on the first connection; reset after losing the session."""
    if state == CONNECTED and not b.registered:
        b.registered = True
        for path in TOP_LEVEL_PATHS:
            b.zk(sim, CreateRequest(path))
        register(b, sim)
        ctl.elect(b, sim)
    elif state == LOST:
        sim.trace(b.name, "zk_session_lost",
                  f"{b.name}'s ZooKeeper session expired: its /brokers/ids/{b.broker_id} is gone"
                  + (" and it is no longer the controller." if b.controller else "."),
                  broker=b.broker_id)
        b.registered = False
        if b.controller is not None:
            ctl.resign(b, sim)
        b.connect(sim)


def register(b: Broker, sim: Simulation) -> None:
    """``registerBroker``: the ephemeral ``/brokers/ids/<id>`` with the broker's endpoints."""
    data = json.dumps({"version": 5, "host": b.name, "port": 9092, "jmx_port": -1,
                       "endpoints": [f"PLAINTEXT://{b.name}:9092"]}).encode()
    b.zk(sim, CreateRequest(f"/brokers/ids/{b.broker_id}", data, ephemeral=True), {"op": "registered"})


def zk_reply(b: Broker, sim: Simulation, xid: int, code: Code, result: Any) -> None:
    """A ZooKeeper reply: the registration's own, or the controller's."""
    purpose = b.zk_pending.pop(xid, None)
    if purpose is None:
        return
    if purpose["op"] == "registered":
        if code == Code.OK:
            sim.trace(b.name, "registered", f"{b.name} registered /brokers/ids/{b.broker_id}.",
                      broker=b.broker_id)
        elif code == Code.NODEEXISTS:
            # our previous process's session still holds it: wait for that session to expire
            sim.trace(b.name, "registration_waits", f"/brokers/ids/{b.broker_id} still belongs to "
                      f"{b.name}'s session from before its crash; it waits for that session to expire.",
                      broker=b.broker_id)
            b.zk(sim, {"op": "exists", "path": f"/brokers/ids/{b.broker_id}", "watch": True},
                 {"op": "registration_watch"})
        return
    if purpose["op"] == "registration_watch":
        if code == Code.OK and result is None and b.registered:
            register(b, sim)
        return
    ctl.on_zk_reply(b, sim, purpose, code, result)


def zk_watch(b: Broker, sim: Simulation, event: str, path: str) -> None:
    """A ZooKeeper watch: our registration was deleted (register again), or the controller's."""
    if path == f"/brokers/ids/{b.broker_id}":
        if event == "DELETED" and b.registered:
            register(b, sim)
        return
    ctl.on_zk_watch(b, sim, event, path)
