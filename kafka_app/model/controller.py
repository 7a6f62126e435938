"""The controller (``KafkaController`` in ZooKeeper mode): one broker, elected through ZooKeeper.

Election is the master-election recipe: read ``/controller_epoch``, then in one
multi create the ephemeral ``/controller`` and bump the epoch (conditional on
its version). Whoever loses watches ``/controller`` and races again when it is
deleted, which happens when the controller's ZooKeeper session expires.

The new controller reads the cluster's state from ZooKeeper (live brokers,
each topic's replica assignment and config, each partition's leader, leader
epoch and ISR), elects leaders for partitions that have none, and sends
``LeaderAndIsr`` and ``UpdateMetadata`` to the brokers. Every change it makes
is written to ZooKeeper first, in a multi that checks the controller epoch's
version, so a controller that lost its session (a zombie) cannot overwrite
its successor's decisions, and brokers ignore requests from older epochs.

Leader election on a broker's death (``OfflinePartitionLeaderElectionStrategy``):
the first live replica, in assignment order, that is in the ISR; with
``unclean.leader.election.enable`` and no live ISR member, the first live
replica (records it never copied are lost); otherwise no leader, and the ISR
keeps its last member so that member can lead again when it returns.

Simplified: a topic's znode, config and partition states are written in one
multi by the controller (Kafka's admin path writes the topic znode and the
controller's watch then creates the states); preferred-leader rebalancing and
topic deletion are not modelled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coordlab.sim import Message, Simulation, serializable
from zookeeper_app.model.codes import Code
from zookeeper_app.model.prep import CheckRequest, CreateRequest, MultiRequest, SetDataRequest
from zookeeper_app.model.server import ZkServer

from .assignment import assign_replicas
from .config import legal_topic_name
from .errors import (
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    InvalidTopicError,
    NotControllerError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from .records import log_name, split_log_name
from .settings import OFFSETS_TOPIC

if TYPE_CHECKING:
    from .broker import Broker

CONTROLLER = "/controller"
RESEND_MS = 2_000
EPOCH = "/controller_epoch"
FENCED_LEADER_EPOCH = 74
INELIGIBLE_REPLICA = 107


@serializable
@dataclass
class LeaderIsr:
    """A partition's state as stored in ``/brokers/topics/<t>/partitions/<p>/state``."""

    leader: int
    leader_epoch: int
    isr: list[int]
    zk_version: int = 0


@serializable
@dataclass
class TopicInfo:
    assignment: dict[str, list[int]]  # partition → replicas, in placement order
    config: dict[str, str]


@serializable
@dataclass
class Batch:
    """ZooKeeper writes that complete one controller decision."""

    remaining: int
    changed: list[str] = field(default_factory=list)
    notify_replicas: bool = True
    reply: dict[str, Any] | None = None


@serializable
@dataclass
class Unacknowledged:
    """What a broker has not confirmed yet; resent, fresh, until it does (``ControllerChannelManager``)."""

    seq: int
    sent_at: int
    partitions: list[str] = field(default_factory=list)


@serializable
@dataclass
class ControllerState:
    epoch: int
    epoch_version: int
    live: list[int] = field(default_factory=list)
    topics: dict[str, TopicInfo] = field(default_factory=dict)
    partitions: dict[str, LeaderIsr] = field(default_factory=dict)
    loading: int = 0
    ready: bool = False
    batches: dict[int, Batch] = field(default_factory=dict)
    next_batch: int = 1
    unacknowledged: dict[str, Unacknowledged] = field(default_factory=dict)  # broker id → what to resend
    next_seq: int = 1
    tag: int = 0  # which reading of ZooKeeper an answer belongs to (a reload starts a new one)


def state_path(topic: str, partition: int | str) -> str:
    return f"/brokers/topics/{topic}/partitions/{partition}/state"


# -- election -----------------------------------------------------------------------------------


def elect(b: Broker, sim: Simulation) -> None:
    """``KafkaController.elect``: watch /controller; if nobody holds it, try to take it."""
    b.zk(sim, {"op": "exists", "path": CONTROLLER, "watch": True}, {"op": "controller_exists"})


def claim(b: Broker, sim: Simulation) -> None:
    b.zk(sim, {"op": "getData", "path": EPOCH}, {"op": "epoch_read"})


def resign(b: Broker, sim: Simulation) -> None:
    b.controller = None
    sim.trace(b.name, "resigned", f"{b.name} is no longer the controller.", broker=b.broker_id)


def on_zk_watch(b: Broker, sim: Simulation, event: str, path: str) -> None:
    if path == CONTROLLER:
        if event == "DELETED" and b.controller is not None:
            resign(b, sim)
        if b.registered:
            elect(b, sim)
    elif path == "/brokers/ids" and b.controller is not None:
        read_brokers(b, sim)


def on_zk_reply(b: Broker, sim: Simulation, purpose: dict[str, Any], code: Code, result: Any) -> None:
    op = purpose["op"]
    if op == "controller_exists":
        if code == Code.OK and result is None:
            claim(b, sim)
        elif code == Code.OK:
            b.zk(sim, {"op": "getData", "path": CONTROLLER}, {"op": "controller_who"})
    elif op == "controller_who":
        if code == Code.OK:
            b.controller_id = json.loads(result[0])["brokerid"]
    elif op == "epoch_read":
        if code == Code.NONODE:
            b.zk(sim, CreateRequest(EPOCH, b"0"), {"op": "epoch_created"})
        elif code == Code.OK:
            epoch, version = int(result[0] or b"0"), result[1].version
            data = json.dumps({"version": 2, "brokerid": b.broker_id, "timestamp": str(sim.now)}).encode()
            b.zk(sim, MultiRequest([CreateRequest(CONTROLLER, data, ephemeral=True),
                                    SetDataRequest(EPOCH, str(epoch + 1).encode(), version)]),
                 {"op": "claim", "epoch": epoch + 1, "version": version + 1})
    elif op == "epoch_created":
        if code in (Code.OK, Code.NODEEXISTS):
            claim(b, sim)
    elif op == "claim":
        failed = code != Code.OK or any(c != 0 for c, _, _ in result or [])
        if not failed:
            become_controller(b, sim, purpose["epoch"], purpose["version"])
        elif b.registered:
            elect(b, sim)
    elif b.controller is not None:
        on_controller_reply(b, sim, b.controller, purpose, code, result)


def become_controller(b: Broker, sim: Simulation, epoch: int, version: int, quiet: bool = False) -> None:
    previous = b.controller.tag if b.controller is not None else 0
    b.controller = ControllerState(epoch, version, tag=previous + 1)
    b.controller_id, b.controller_epoch = b.broker_id, epoch
    if not quiet:
        sim.trace(b.name, "controller", f"{b.name} created the ephemeral {CONTROLLER}: it is the controller now "
                  f"(controller epoch {epoch}). It reads the cluster's state from ZooKeeper.",
                  broker=b.broker_id, epoch=epoch)
    read_brokers(b, sim)
    sim.set_timer(b.name, "controller_resend", RESEND_MS)
    b.controller.loading += 1
    b.zk(sim, {"op": "getChildren", "path": "/brokers/topics"}, {"op": "topics", "tag": b.controller.tag})


def read_brokers(b: Broker, sim: Simulation) -> None:
    assert b.controller is not None
    b.controller.loading += 0 if b.controller.ready else 1
    b.zk(sim, {"op": "getChildren", "path": "/brokers/ids", "watch": True},
         {"op": "brokers", "tag": b.controller.tag})


# -- reading and reacting ---------------------------------------------------------------------------


def on_controller_reply(b: Broker, sim: Simulation, c: ControllerState, purpose: dict[str, Any], code: Code,
                        result: Any) -> None:
    op = purpose["op"]
    if purpose.get("tag", c.tag) != c.tag:
        return  # an answer to a reading that a reload replaced
    if op == "brokers":
        live = sorted(int(child) for child in (result[0] if code == Code.OK else []))
        if c.ready:
            brokers_changed(b, sim, c, live)
        else:
            c.live = live
            loaded(b, sim, c)
    elif op == "topics":
        for topic in sorted(result[0] if code == Code.OK else []):
            c.loading += 2
            b.zk(sim, {"op": "getData", "path": f"/brokers/topics/{topic}"},
                 {"op": "topic", "topic": topic, "tag": c.tag})
            b.zk(sim, {"op": "getData", "path": f"/config/topics/{topic}"},
                 {"op": "config", "topic": topic, "tag": c.tag})
        loaded(b, sim, c)
    elif op == "topic":
        if code == Code.OK:
            assignment = json.loads(result[0])["partitions"]
            c.topics[purpose["topic"]] = TopicInfo(assignment, {})
            for partition in sorted(assignment, key=int):
                c.loading += 1
                b.zk(sim, {"op": "getData", "path": state_path(purpose["topic"], partition)},
                     {"op": "state", "name": f"{purpose['topic']}-{partition}", "tag": c.tag})
        loaded(b, sim, c)
    elif op == "config":
        if code == Code.OK and purpose["topic"] in c.topics:
            c.topics[purpose["topic"]].config = json.loads(result[0])["config"]
        loaded(b, sim, c)
    elif op == "state":
        if code == Code.OK:
            data = json.loads(result[0])
            c.partitions[purpose["name"]] = LeaderIsr(data["leader"], data["leader_epoch"], data["isr"],
                                                      result[1].version)
        loaded(b, sim, c)
    elif op == "write":
        written(b, sim, c, purpose, code, result)


def loaded(b: Broker, sim: Simulation, c: ControllerState) -> None:
    c.loading -= 1
    if c.loading > 0 or c.ready:
        return
    c.ready = True
    sim.trace(b.name, "controller_ready", f"The controller {b.name} knows the cluster: live brokers {c.live}, "
              f"{len(c.topics)} topic(s).", live=c.live)
    changes = {name: elected for name in sorted(c.partitions)
               if (elected := reelect(b, sim, c, name)) is not None}
    send_metadata(b, sim, c)
    send_leader_and_isr(b, sim, c, sorted(c.partitions))
    if changes:
        write_states(b, sim, c, changes, Batch(len(changes)))


def brokers_changed(b: Broker, sim: Simulation, c: ControllerState, live: list[int]) -> None:
    gone = [x for x in c.live if x not in live]
    born = [x for x in live if x not in c.live]
    c.live = live
    if not gone and not born:
        return
    parts = ([f"broker(s) {gone} are gone (their /brokers/ids znodes were deleted)"] if gone else []) + (
        [f"broker(s) {born} registered"] if born else [])
    sim.trace(b.name, "brokers_changed", f"The controller sees {' and '.join(parts)}.", gone=gone, born=born,
              live=live)
    send_metadata(b, sim, c)
    if born:
        send_leader_and_isr(b, sim, c, [n for n in sorted(c.partitions)
                                         if any(x in replicas_of(c, n) for x in born)], only=born)
    changes = {name: elected for name in sorted(c.partitions)
               if (elected := reelect(b, sim, c, name)) is not None}
    if changes:
        write_states(b, sim, c, changes, Batch(len(changes)))


def replicas_of(c: ControllerState, name: str) -> list[int]:
    topic, partition = split_log_name(name)
    return c.topics[topic].assignment[str(partition)]


def unclean_allowed(c: ControllerState, topic: str) -> bool:
    return c.topics[topic].config.get("unclean.leader.election.enable", "false") == "true"


def reelect(b: Broker, sim: Simulation, c: ControllerState, name: str) -> LeaderIsr | None:
    """The partition's new state if its leader or an ISR member is offline; None if unchanged."""
    current = c.partitions[name]
    replicas = replicas_of(c, name)
    live = c.live
    if current.leader in live and all(x in live for x in current.isr):
        return None
    if current.leader in live:
        isr = [x for x in current.isr if x in live]
        return LeaderIsr(current.leader, current.leader_epoch + 1, isr, current.zk_version)
    in_sync = [x for x in replicas if x in current.isr and x in live]
    if in_sync:
        return LeaderIsr(in_sync[0], current.leader_epoch + 1, [x for x in current.isr if x in live],
                         current.zk_version)
    alive = [x for x in replicas if x in live]
    if alive and unclean_allowed(c, split_log_name(name)[0]):
        sim.trace(b.name, "unclean_election",
                  f"UNCLEAN election for {name}: no in-sync replica is alive, so the controller makes "
                  f"out-of-sync b{alive[0]} the leader. Records only the old ISR had are lost.",
                  topic=split_log_name(name)[0], partition=split_log_name(name)[1], leader=alive[0], isr=current.isr)
        return LeaderIsr(alive[0], current.leader_epoch + 1, [alive[0]], current.zk_version)
    if current.leader == -1:
        return None
    sim.trace(b.name, "offline", f"{name} has no leader: no replica of its ISR {current.isr} is alive"
              + (" and unclean leader election is disabled." if alive else "."),
              topic=split_log_name(name)[0], partition=split_log_name(name)[1], isr=current.isr)
    return LeaderIsr(-1, current.leader_epoch + 1, current.isr, current.zk_version)


# -- writing to ZooKeeper ------------------------------------------------------------------------------


def state_data(c: ControllerState, state: LeaderIsr) -> bytes:
    return json.dumps({"controller_epoch": c.epoch, "leader": state.leader, "version": 1,
                       "leader_epoch": state.leader_epoch, "isr": state.isr}).encode()


def open_batch(c: ControllerState, batch: Batch, changed: list[str]) -> int:
    """Register a decision's writes; ``changed`` are the partitions to tell the brokers about."""
    batch_id = c.next_batch
    c.next_batch += 1
    batch.changed = sorted(changed)
    c.batches[batch_id] = batch
    return batch_id


def write_states(b: Broker, sim: Simulation, c: ControllerState, changes: dict[str, LeaderIsr], batch: Batch) -> None:
    batch_id = open_batch(c, batch, list(changes))
    for name, state in changes.items():
        topic, partition = split_log_name(name)
        b.zk(sim, MultiRequest([CheckRequest(EPOCH, c.epoch_version),
                                SetDataRequest(state_path(topic, partition), state_data(c, state), state.zk_version)]),
             {"op": "write", "batch": batch_id, "states": {name: state}})


def write_ops(b: Broker, sim: Simulation, c: ControllerState, ops: list[Any], batch: Batch,
              states: dict[str, LeaderIsr], topics: dict[str, TopicInfo], notify: list[str] | None = None,
              configs: dict[str, dict[str, str]] | None = None) -> None:
    """One multi for a topic-level change; ``notify``: partitions to tell about (default: the new states).
    ``topics`` replace the controller's topics once written; ``configs`` replace only their configs
    (a change of config must not undo partitions added while it was being written)."""
    batch_id = open_batch(c, batch, list(states) if notify is None else notify)
    b.zk(sim, MultiRequest([CheckRequest(EPOCH, c.epoch_version), *ops]),
         {"op": "write", "batch": batch_id, "states": states, "topics": topics, "configs": configs or {}})


def written(b: Broker, sim: Simulation, c: ControllerState, purpose: dict[str, Any], code: Code, result: Any) -> None:
    batch = c.batches.get(purpose["batch"])
    if batch is None:
        return
    codes = [r[0] for r in result] if isinstance(result, list) else [int(code)]
    if code != Code.OK or any(codes):
        if codes and codes[0] == Code.BADVERSION:
            sim.trace(b.name, "controller_fenced", f"{b.name}'s write was refused: {EPOCH} moved on, so another "
                      "broker is the controller now.", broker=b.broker_id)
            resign(b, sim)
            return
        if code == Code.SESSIONEXPIRED:
            return  # the session is gone: the broker resigns when it hears so
        # someone changed a state under us, or the connection broke and the outcome is unknown:
        # read everything again from ZooKeeper, as a newly elected controller does
        sim.trace(b.name, "controller_reload", f"A ZooKeeper write of the controller {b.name} failed; it reads "
                  "the cluster's state from ZooKeeper again.", broker=b.broker_id)
        become_controller(b, sim, c.epoch, c.epoch_version, quiet=True)
        return
    for topic, info in purpose.get("topics", {}).items():
        c.topics[topic] = info
    for topic, config in purpose.get("configs", {}).items():
        if topic in c.topics:
            c.topics[topic] = TopicInfo(c.topics[topic].assignment, config)
    for name, state in purpose["states"].items():
        previous = c.partitions.get(name)
        state.zk_version = previous.zk_version + 1 if previous is not None and purpose.get("topics") is None else 0
        c.partitions[name] = state
    # brokers may have come or gone while this was being written: decide again for these partitions
    again = {name: elected for name in sorted(purpose["states"])
             if (elected := reelect(b, sim, c, name)) is not None}
    if again:
        write_states(b, sim, c, again, Batch(len(again)))
    batch.remaining -= 1
    if batch.remaining > 0:
        return
    del c.batches[purpose["batch"]]
    send_metadata(b, sim, c)
    if batch.notify_replicas:
        send_leader_and_isr(b, sim, c, [name for name in batch.changed if name in c.partitions])
    if batch.reply is not None:
        sim.send(b.name, batch.reply["to"], batch.reply["kind"], **batch.reply["body"])


# -- telling the brokers ---------------------------------------------------------------------------------


def metadata(c: ControllerState, controller: int) -> dict[str, Any]:
    topics: dict[str, Any] = {}
    for topic, info in c.topics.items():
        partitions = {}
        for partition, replicas in info.assignment.items():
            state = c.partitions.get(f"{topic}-{partition}")
            if state is not None:
                partitions[partition] = {"leader": state.leader, "leader_epoch": state.leader_epoch,
                                         "isr": list(state.isr), "replicas": list(replicas)}
        topics[topic] = {"partitions": partitions, "config": dict(info.config), "internal": topic == OFFSETS_TOPIC}
    return {"brokers": list(c.live), "controller": controller, "topics": topics}


def state_in_zookeeper(sim: Simulation) -> tuple[ControllerState, int]:
    """What the most up-to-date serving ZooKeeper server holds: live brokers, topics, partition
    states, and the controller's broker id (-1 if none)."""
    servers = [n for n in sim.nodes.values() if isinstance(n, ZkServer)]
    serving = [s for s in servers if s.alive and s.serving] or servers
    tree = max(serving, key=lambda s: s.committed_zxid).tree
    state = ControllerState(epoch=0, epoch_version=0)
    state.live = sorted(int(b) for b in tree.children_of("/brokers/ids")) if "/brokers/ids" in tree.nodes else []
    for topic in tree.children_of("/brokers/topics") if "/brokers/topics" in tree.nodes else []:
        assignment = json.loads(tree.nodes[f"/brokers/topics/{topic}"].data)["partitions"]
        config = tree.nodes.get(f"/config/topics/{topic}")
        state.topics[topic] = TopicInfo(assignment, json.loads(config.data)["config"] if config is not None else {})
        for partition in assignment:
            node = tree.nodes.get(state_path(topic, partition))
            if node is not None:
                data = json.loads(node.data)
                state.partitions[f"{topic}-{partition}"] = LeaderIsr(data["leader"], data["leader_epoch"], data["isr"])
    owner = tree.nodes.get(CONTROLLER)
    return state, json.loads(owner.data)["brokerid"] if owner is not None else -1


def expecting(sim: Simulation, c: ControllerState, broker: int, kind: str) -> Unacknowledged:
    """Note a request to ``broker`` that it must acknowledge; returns the record with its new seq."""
    entry = c.unacknowledged.setdefault(f"{broker}:{kind}", Unacknowledged(0, sim.now))
    entry.seq, entry.sent_at = c.next_seq, sim.now
    c.next_seq += 1
    return entry


def send_metadata(b: Broker, sim: Simulation, c: ControllerState, only: list[int] | None = None) -> None:
    data = metadata(c, b.broker_id)
    for broker in c.live if only is None else only:
        entry = expecting(sim, c, broker, "UpdateMetadata")
        sim.send(b.name, f"b{broker}", "UpdateMetadata", controller_epoch=c.epoch, controller_id=b.broker_id,
                 metadata=data, seq=entry.seq)


def acknowledged(b: Broker, broker: int, kind: str, seq: int) -> None:
    c = b.controller
    entry = c.unacknowledged.get(f"{broker}:{kind}") if c is not None else None
    if c is not None and entry is not None and seq >= entry.seq:
        del c.unacknowledged[f"{broker}:{kind}"]


def resend(b: Broker, sim: Simulation) -> None:
    """Send again, with the current state, what a live broker has not acknowledged."""
    c = b.controller
    if c is None:
        return
    sim.set_timer(b.name, "controller_resend", RESEND_MS)
    for key, entry in list(c.unacknowledged.items()):
        broker = int(key.split(":")[0])
        if broker not in c.live:
            del c.unacknowledged[key]
        elif sim.now - entry.sent_at >= RESEND_MS:
            names = [n for n in entry.partitions if n in c.partitions]
            if key.endswith(":UpdateMetadata"):
                send_metadata(b, sim, c, only=[broker])
            if names:
                send_leader_and_isr(b, sim, c, names, only=[broker])


def send_leader_and_isr(b: Broker, sim: Simulation, c: ControllerState, names: list[str],
                        only: list[int] | None = None) -> None:
    wanted: dict[int, list[str]] = {}
    for name in names:
        for broker in replicas_of(c, name):
            if broker in c.live and (only is None or broker in only):
                wanted.setdefault(broker, []).append(name)
    for broker, mine in sorted(wanted.items()):
        # everything this broker has not acknowledged yet goes again, so one acknowledgement covers all
        entry = expecting(sim, c, broker, "LeaderAndIsr")
        entry.partitions = [*(n for n in entry.partitions if n in c.partitions and n not in mine), *mine]
        items = [leader_and_isr_item(c, name) for name in entry.partitions]
        sim.send(b.name, f"b{broker}", "LeaderAndIsr", controller_epoch=c.epoch, controller_id=b.broker_id,
                 partitions=items, seq=entry.seq)


def leader_and_isr_item(c: ControllerState, name: str) -> dict[str, Any]:
    topic, partition = split_log_name(name)
    state = c.partitions[name]
    return {"topic": topic, "partition": partition, "leader": state.leader, "leader_epoch": state.leader_epoch,
            "partition_epoch": state.zk_version, "isr": list(state.isr), "replicas": list(replicas_of(c, name)),
            "config": dict(c.topics[topic].config)}


# -- requests to the controller ------------------------------------------------------------------------------


def active(b: Broker) -> ControllerState | None:
    return b.controller if b.controller is not None and b.controller.ready else None


def alter_partition(b: Broker, sim: Simulation, message: Message) -> None:
    body = message.body
    name = f"{body['topic']}-{body['partition']}"
    reply = {"topic": body["topic"], "partition": body["partition"]}
    c = active(b)
    state = c.partitions.get(name) if c is not None else None
    error = 0
    if c is None:
        error = NotControllerError.errno or 0
    elif state is None:
        error = UnknownTopicOrPartitionError.errno or 0
    elif state.leader != body["leader"] or state.leader_epoch != body["leader_epoch"]:
        error = FENCED_LEADER_EPOCH
    elif any(x not in c.live for x in body["isr"]):
        error = INELIGIBLE_REPLICA
    if error or c is None or state is None:
        sim.send(b.name, message.src, "AlterPartitionResponse", **reply, error=error, isr=[], leader_epoch=-1)
        return
    new = LeaderIsr(state.leader, state.leader_epoch, list(body["isr"]), state.zk_version)
    response = {"to": message.src, "kind": "AlterPartitionResponse",
                "body": {**reply, "error": 0, "isr": new.isr, "leader_epoch": new.leader_epoch,
                         "partition_epoch": new.zk_version + 1}}
    write_states(b, sim, c, {name: new}, Batch(1, notify_replicas=False, reply=response))


def topic_ops(topic: str, info: TopicInfo, states: dict[str, LeaderIsr], c: ControllerState,
              new_topic: bool) -> list[Any]:
    assignment = json.dumps({"version": 3, "partitions": info.assignment, "adding_replicas": {},
                             "removing_replicas": {}}).encode()
    ops: list[Any] = []
    if new_topic:
        ops += [CreateRequest(f"/brokers/topics/{topic}", assignment),
                CreateRequest(f"/config/topics/{topic}", json.dumps({"version": 1, "config": info.config}).encode()),
                CreateRequest(f"/brokers/topics/{topic}/partitions")]
    else:
        ops.append(SetDataRequest(f"/brokers/topics/{topic}", assignment))
    for name in sorted(states, key=lambda n: split_log_name(n)[1]):
        partition = split_log_name(name)[1]
        ops += [CreateRequest(f"/brokers/topics/{topic}/partitions/{partition}"),
                CreateRequest(state_path(topic, partition), state_data(c, states[name]))]
    return ops


def create_topics(b: Broker, sim: Simulation, message: Message) -> None:
    body = message.body
    c = active(b)
    errors: dict[str, tuple[int, str]] = {}
    planned: list[tuple[str, TopicInfo, dict[str, LeaderIsr]]] = []
    for spec in body["topics"]:
        topic = spec["name"]
        if c is None:
            errors[topic] = (NotControllerError.errno or 0, "This is not the controller.")
            continue
        config, problem = b.parse_config(spec.get("configs", {}))
        if not legal_topic_name(topic):
            errors[topic] = (InvalidTopicError.errno or 0, f"Topic name '{topic}' is illegal: use letters, digits, "
                             "'.', '_' and '-' (at most 249).")
        elif topic in c.topics or any(t == topic for t, _, _ in planned):
            errors[topic] = (TopicAlreadyExistsError.errno or 0, f"Topic '{topic}' already exists.")
        elif spec["partitions"] < 1:
            errors[topic] = (InvalidPartitionsError.errno or 0, "Number of partitions must be larger than 0.")
        elif spec["replication"] < 1 or spec["replication"] > len(c.live):
            errors[topic] = (InvalidReplicationFactorError.errno or 0,
                             f"Replication factor: {spec['replication']} larger than available brokers: "
                             f"{len(c.live)}." if spec["replication"] >= 1
                             else "Replication factor must be larger than 0.")
        elif config is None:
            errors[topic] = (40, problem)
        else:
            count = len(c.live)
            assignment = assign_replicas(spec["partitions"], spec["replication"], c.live,
                                         sim.rng.randrange(count), sim.rng.randrange(count))
            info = TopicInfo({str(p): r for p, r in assignment.items()},
                             {k: v for k, v in config.as_kafka().items()})
            states = {f"{topic}-{p}": LeaderIsr(r[0], 0, list(r)) for p, r in assignment.items()}
            planned.append((topic, info, states))
            errors[topic] = (0, "")
    reply = {"to": message.src, "kind": "CreateTopicsResponse",
             "body": {"request": body["request"], "errors": errors}}
    if c is None or not planned or body.get("validate_only"):
        sim.send(b.name, message.src, "CreateTopicsResponse", request=body["request"], errors=errors)
        return
    # One multi for all the new topics: one decision, one answer once it is written.
    ops: list[Any] = []
    for topic, info, states in planned:
        sim.trace(b.name, "topic_created", f"The controller creates topic {topic}: {len(states)} partition(s), "
                  "replicas " + ", ".join(f"{p}→{r}" for p, r in info.assignment.items()) + ".",
                  topic=topic, assignment=info.assignment)
        ops.extend(topic_ops(topic, info, states, c, True))
    write_ops(b, sim, c, ops, Batch(1, reply=reply), {n: s for _, _, states in planned for n, s in states.items()},
              {topic: info for topic, info, _ in planned})


def create_partitions(b: Broker, sim: Simulation, message: Message) -> None:
    body = message.body
    c = active(b)
    topic, total = body["topic"], body["total"]
    error, text = 0, ""
    info = c.topics.get(topic) if c is not None else None
    if c is None:
        error, text = NotControllerError.errno or 0, "This is not the controller."
    elif info is None:
        error, text = UnknownTopicOrPartitionError.errno or 0, f"Topic '{topic}' does not exist."
    elif total <= len(info.assignment):
        error, text = InvalidPartitionsError.errno or 0, (
            f"Topic currently has {len(info.assignment)} partitions, which is higher than or equal to the "
            f"requested {total}.")
    elif len(info.assignment["0"]) > len(c.live):  # as AdminUtils.assignReplicasToBrokers refuses
        error, text = InvalidReplicationFactorError.errno or 0, (
            f"Replication factor: {len(info.assignment['0'])} larger than available brokers: {len(c.live)}.")
    if error or c is None or info is None:
        sim.send(b.name, message.src, "CreatePartitionsResponse", request=body["request"], error=error, message=text)
        return
    existing = len(info.assignment)
    first = info.assignment["0"]
    start = max(0, next((i for i, x in enumerate(c.live) if x >= first[0]), 0))
    full = assign_replicas(total, len(first), c.live, start)
    assignment = {**info.assignment, **{str(p): full[p] for p in range(existing, total)}}
    new_info = TopicInfo(assignment, info.config)
    states = {f"{topic}-{p}": LeaderIsr(full[p][0], 0, list(full[p])) for p in range(existing, total)}
    sim.trace(b.name, "partitions_added", f"The controller adds partitions to {topic}: {existing} → {total}. "
              "Keys now hash onto more partitions, so some keys move.", topic=topic, before=existing, total=total)
    reply = {"to": message.src, "kind": "CreatePartitionsResponse",
             "body": {"request": body["request"], "error": 0, "message": ""}}
    write_ops(b, sim, c, topic_ops(topic, new_info, states, c, False), Batch(1, reply=reply), states,
              {topic: new_info})


def alter_configs(b: Broker, sim: Simulation, message: Message) -> None:
    body = message.body
    c = active(b)
    topic = body["topic"]
    info = c.topics.get(topic) if c is not None else None
    config, problem = b.parse_config({**(info.config if info else {}), **body["configs"]})
    error = 0
    if c is None:
        error, problem = NotControllerError.errno or 0, "This is not the controller."
    elif info is None:
        error, problem = UnknownTopicOrPartitionError.errno or 0, f"Topic '{topic}' does not exist."
    elif config is None:
        error = 40
    if error or c is None or info is None or config is None:
        sim.send(b.name, message.src, "AlterConfigsResponse", request=body["request"], error=error, message=problem)
        return
    new_config = config.as_kafka()
    changed = ", ".join(f"{k}={v}" for k, v in body["configs"].items())
    sim.trace(b.name, "config_changed", f"The controller changes {topic}'s config: {changed}.", topic=topic,
              configs=dict(body["configs"]))
    reply = {"to": message.src, "kind": "AlterConfigsResponse",
             "body": {"request": body["request"], "error": 0, "message": ""}}
    data = json.dumps({"version": 1, "config": new_config}).encode()
    replicas_told = [log_name(topic, int(p)) for p in info.assignment if log_name(topic, int(p)) in c.partitions]
    write_ops(b, sim, c, [SetDataRequest(f"/config/topics/{topic}", data)], Batch(1, reply=reply), {}, {},
              notify=replicas_told, configs={topic: new_config})
