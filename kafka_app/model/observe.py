"""Reading a cluster from its simulation alone: the brokers, the active
controller's view, a partition's replicas and a group as its coordinator holds
it. The ``Cluster`` entry point, the lab pages and the lag monitor use these;
they only read.
"""

from __future__ import annotations

from typing import Any

from coordlab.sim import Simulation

from .broker import Broker
from .controller import ControllerState, state_in_zookeeper
from .partitioner import coordinator_partition
from .records import log_name
from .settings import OFFSETS_TOPIC


def brokers(sim: Simulation) -> list[Broker]:
    return [node for node in sim.nodes.values() if isinstance(node, Broker)]


def broker_by_id(sim: Simulation, broker_id: int) -> Broker | None:
    node = sim.nodes.get(f"b{broker_id}")
    return node if isinstance(node, Broker) else None


def controller_id(sim: Simulation) -> int | None:
    """The broker id of the active controller, or None while there is none."""
    active = [b for b in brokers(sim) if b.alive and b.controller is not None and b.controller.ready]
    return max(active, key=lambda b: b.controller.epoch if b.controller else 0).broker_id if active else None


def view(sim: Simulation) -> tuple[ControllerState, int]:
    """The active controller's state and id, else what ZooKeeper holds (and who holds /controller)."""
    controller = controller_id(sim)
    if controller is not None:
        broker = broker_by_id(sim, controller)
        assert broker is not None and broker.controller is not None
        return broker.controller, controller
    return state_in_zookeeper(sim)


def partition_state(sim: Simulation, state: ControllerState, topic: str, partition: int) -> dict[str, Any]:
    """Leader, replicas, ISR, leader epoch, and each replica's log start, high watermark and log end."""
    name = log_name(topic, partition)
    if name not in state.partitions or topic not in state.topics:
        raise KeyError(f"there is no partition {name}")
    leader_isr = state.partitions[name]
    assigned = state.topics[topic].assignment[str(partition)]
    replicas = {}
    for broker_id in assigned:
        broker = broker_by_id(sim, broker_id)
        log = broker.logs.get(name) if broker else None
        replicas[broker_id] = {
            "alive": bool(broker and broker.alive), "in_isr": broker_id in leader_isr.isr,
            "leader": broker_id == leader_isr.leader,
            "log_start_offset": log.log_start_offset if log else 0,
            "high_watermark": log.high_watermark if log else 0,
            "log_end_offset": log.log_end_offset if log else 0}
    leader = replicas.get(leader_isr.leader, {"log_start_offset": 0, "high_watermark": 0, "log_end_offset": 0})
    return {"topic": topic, "partition": partition, "leader": leader_isr.leader, "replicas": list(assigned),
            "isr": list(leader_isr.isr), "leader_epoch": leader_isr.leader_epoch,
            "log_start_offset": leader["log_start_offset"], "high_watermark": leader["high_watermark"],
            "log_end_offset": leader["log_end_offset"], "per_replica": replicas}


def coordinator_of(sim: Simulation, group: str) -> Broker | None:
    """The live broker coordinating ``group`` now: the leader of its ``__consumer_offsets``
    partition, if that broker has taken the role and loaded the group."""
    name = f"{OFFSETS_TOPIC}-{coordinator_partition(group)}"
    for broker in brokers(sim):
        hosted = broker.hosted.get(name)
        if broker.alive and hosted is not None and hosted.state is not None and group in broker.groups:
            return broker
    return None


def group_state(sim: Simulation, group: str) -> dict[str, Any]:
    """A group as its coordinator holds it (as ``kafka-consumer-groups --describe`` shows it)."""
    broker = coordinator_of(sim, group)
    if broker is None:
        return {"group": group, "coordinator": None, "state": "no coordinator", "generation": -1,
                "protocol": "", "leader": "", "members": [], "offsets": {}}
    found = broker.groups[group]
    return {"group": group, "coordinator": broker.broker_id, "state": found.state, "generation": found.generation,
            "protocol": found.protocol, "leader": found.leader,
            "members": [{"member_id": m.member_id, "node": m.node, "assignment": [log_name(t, p) for t, p in
                                                                                  m.assignment]}
                        for m in found.members.values()],
            "offsets": dict(broker.offsets.get(group, {}))}
