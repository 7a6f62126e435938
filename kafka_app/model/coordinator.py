"""The group coordinator (``GroupCoordinator``, the classic protocol), run by a broker.

A group's coordinator is the leader of its ``__consumer_offsets`` partition,
``abs(groupId.hashCode) % 50``. Members join (``JoinGroup``); the coordinator
waits until every known member has rejoined (or the rebalance timeout; for a
new group, ``group.initial.rebalance.delay.ms`` more for others to arrive),
opens a new generation and names a leader; the leader computes the assignment
with the chosen assignor and sends it in ``SyncGroup``, and everyone gets
their share. Heartbeats keep a member alive; a member silent for
``session.timeout.ms`` is removed and the group rebalances.

Committed offsets are records in the group's ``__consumer_offsets`` partition,
appended with acks=all and acknowledged at the high watermark; the committed
offset is the next one to read. A new coordinator (after a leader change)
loads them from that log.

The group's generation is stored there too, before the members hear their
assignment, so generations only grow even when the coordinator moves.

Simplified: keys and values of the offsets records are readable JSON instead of
Kafka's binary schema, and the members' list is not stored: after a
coordinator moves, the members join again.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coordlab.sim import Message, Simulation, serializable

from .errors import (
    CoordinatorNotAvailableError,
    IllegalGenerationError,
    KafkaError,
    NotCoordinatorError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from .partitioner import coordinator_partition
from .records import split_log_name
from .settings import OFFSETS_TOPIC

if TYPE_CHECKING:
    from .broker import Broker
    from .replica_manager import DelayedProduce

INCONSISTENT_GROUP_PROTOCOL = 23
INVALID_SESSION_TIMEOUT = 26


@serializable
@dataclass
class Member:
    member_id: str
    client_id: str
    node: str
    session_timeout: int
    rebalance_timeout: int
    protocols: list[str]
    topics: list[str]
    owned: list[tuple[str, int]] = field(default_factory=list)
    last_heartbeat: int = 0
    joining: int = 0  # request id of a JoinGroup waiting for its answer
    syncing: int = 0  # request id of a SyncGroup waiting for its answer
    assignment: list[tuple[str, int]] = field(default_factory=list)
    expiry_set: bool = False


@serializable
@dataclass
class Group:
    group_id: str
    state: str = "Empty"  # Empty, PreparingRebalance, CompletingRebalance, Stable
    generation: int = 0
    protocol: str = ""
    leader: str = ""
    members: dict[str, Member] = field(default_factory=dict)
    token: int = 0
    storing: bool = False
    initial: bool = False
    initial_limit: int = 0


def partition_of(b: Broker, group: str) -> int:
    return coordinator_partition(group, b.settings.offsets_topic_num_partitions)


def owns(b: Broker, group: str) -> bool:
    hosted = b.hosted.get(f"{OFFSETS_TOPIC}-{partition_of(b, group)}")
    return hosted is not None and hosted.state is not None


def refused_here(b: Broker, sim: Simulation, message: Message, kind: str, **empty: Any) -> bool:
    """True (and NOT_COORDINATOR answered) if this broker is not the group's coordinator."""
    if owns(b, message.body["group"]):
        return False
    reply(b, sim, message.src, kind, message.body["request"], NotCoordinatorError, **empty)
    return True


def reply(b: Broker, sim: Simulation, to: str, kind: str, request: int, error: type[KafkaError] | int | None,
          **body: Any) -> None:
    code = error if isinstance(error, int) else 0 if error is None else int(error.errno or -1)
    sim.send(b.name, to, kind, request=request, error=code, **body)


# -- finding the coordinator ------------------------------------------------------------------------


def find(b: Broker, sim: Simulation, message: Message) -> None:
    group = message.body["group"]
    topic = b.metadata["topics"].get(OFFSETS_TOPIC)
    if topic is None and not b.metadata["brokers"]:  # no metadata from the controller yet
        reply(b, sim, message.src, "FindCoordinatorResponse", message.body["request"],
              CoordinatorNotAvailableError, coordinator=-1)
        return
    if topic is None:
        replication = min(b.settings.offsets_topic_replication_factor, max(1, len(b.metadata["brokers"])))
        b.ask_to_create(sim, OFFSETS_TOPIC, b.settings.offsets_topic_num_partitions, replication,
                        {"cleanup.policy": "compact", "segment.bytes": b.settings.offsets_topic_segment_bytes})
        reply(b, sim, message.src, "FindCoordinatorResponse", message.body["request"],
              CoordinatorNotAvailableError, coordinator=-1)
        return
    leader = topic["partitions"][str(partition_of(b, group))]["leader"]
    error = CoordinatorNotAvailableError if leader < 0 or leader not in b.metadata["brokers"] else None
    reply(b, sim, message.src, "FindCoordinatorResponse", message.body["request"], error, coordinator=leader)


# -- membership ---------------------------------------------------------------------------------------


def join(b: Broker, sim: Simulation, message: Message) -> None:
    body = message.body
    request, group_id = body["request"], body["group"]
    if refused_here(b, sim, message, "JoinGroupResponse"):
        return
    timeout = body["session_timeout"]
    if not b.settings.group_min_session_timeout_ms <= timeout <= b.settings.group_max_session_timeout_ms:
        reply(b, sim, message.src, "JoinGroupResponse", request, INVALID_SESSION_TIMEOUT)
        return
    group = b.groups.setdefault(group_id, Group(group_id))
    others = [m for m in group.members.values() if m.member_id != body["member_id"]]
    if others and not any(all(p in m.protocols for m in others) for p in body["protocols"]):
        reply(b, sim, message.src, "JoinGroupResponse", request, INCONSISTENT_GROUP_PROTOCOL)
        return
    member_id = body["member_id"]
    if member_id and member_id not in group.members:
        reply(b, sim, message.src, "JoinGroupResponse", request, UnknownMemberIdError)
        return
    if not member_id:
        member_id = f"{body['client_id']}-{uuid.UUID(int=sim.rng.getrandbits(128), version=4)}"
        group.members[member_id] = Member(member_id, body["client_id"], message.src, timeout,
                                          body["rebalance_timeout"], body["protocols"], body["topics"])
        sim.trace(b.name, "member_joined", f"{message.src} joins group {group_id} as {short(member_id)}.",
                  group=group_id, member=member_id, machine=message.src)
    member = group.members[member_id]
    member.protocols, member.topics = list(body["protocols"]), list(body["topics"])
    member.owned = [(str(t), int(p)) for t, p in body["owned"]]
    member.joining, member.last_heartbeat = request, sim.now
    if group.state in ("Empty", "Stable", "CompletingRebalance"):
        prepare(b, sim, group, f"{short(member_id)} joined" if group.state != "Empty" else "the first member joined")
    elif group.initial:
        deadline = min(sim.now + b.settings.group_initial_rebalance_delay_ms, group.initial_limit)
        group.token += 1
        sim.set_timer(b.name, "rebalance_deadline", deadline - sim.now, group=group_id, token=group.token)
    try_complete(b, sim, group)


def prepare(b: Broker, sim: Simulation, group: Group, reason: str) -> None:
    """Move to PreparingRebalance: everyone must rejoin."""
    for member in group.members.values():
        if member.syncing:
            reply(b, sim, member.node, "SyncGroupResponse", member.syncing, RebalanceInProgressError, assignment=[])
            member.syncing = 0
    group.initial = group.state == "Empty"
    group.state = "PreparingRebalance"
    group.storing = False
    group.token += 1
    timeout = max((m.rebalance_timeout for m in group.members.values()), default=0)
    if group.initial:
        group.initial_limit = sim.now + timeout
        delay = min(b.settings.group_initial_rebalance_delay_ms, timeout)
    else:
        delay = timeout
    sim.set_timer(b.name, "rebalance_deadline", delay, group=group.group_id, token=group.token)
    sim.trace(b.name, "rebalance", f"Group {group.group_id} rebalances ({reason}): every member must rejoin.",
              group=group.group_id, reason=reason)


def try_complete(b: Broker, sim: Simulation, group: Group) -> None:
    if group.state == "PreparingRebalance" and not group.initial and all(m.joining for m in group.members.values()):
        complete_join(b, sim, group)


def rebalance_deadline(b: Broker, sim: Simulation, group_id: str, token: int) -> None:
    group = b.groups.get(group_id)
    if group is not None and group.token == token and group.state == "PreparingRebalance":
        complete_join(b, sim, group)


def complete_join(b: Broker, sim: Simulation, group: Group) -> None:
    for member in [m for m in group.members.values() if not m.joining]:
        del group.members[member.member_id]
        sim.trace(b.name, "member_removed", f"{member.node} did not rejoin group {group.group_id} in time: "
                  "it is removed.", group=group.group_id, member=member.member_id)
    group.initial = False
    group.generation += 1
    if not group.members:
        group.state, group.leader, group.protocol = "Empty", "", ""
        return
    members = list(group.members.values())
    group.protocol = next(p for p in members[0].protocols if all(p in m.protocols for m in members))
    if group.leader not in group.members:
        group.leader = members[0].member_id
    group.state = "CompletingRebalance"
    sim.trace(b.name, "generation", f"Group {group.group_id} generation {group.generation}: "
              f"{len(members)} member(s), leader {short(group.leader)}, assignor {group.protocol}.",
              group=group.group_id, generation=group.generation, members=[m.member_id for m in members],
              leader=group.leader, protocol=group.protocol)
    described = [{"member_id": m.member_id, "topics": m.topics, "owned": [list(tp) for tp in m.owned]}
                 for m in members]
    for member in members:
        reply(b, sim, member.node, "JoinGroupResponse", member.joining, None, generation=group.generation,
              protocol=group.protocol, leader=group.leader, member_id=member.member_id,
              members=described if member.member_id == group.leader else [])
        member.joining = 0
        member.last_heartbeat = sim.now
        watch_member(b, sim, group, member)


def known_member(b: Broker, sim: Simulation, message: Message, kind: str, **empty: Any) -> tuple[Group, Member] | None:
    body = message.body
    if refused_here(b, sim, message, kind, **empty):
        return None
    group = b.groups.get(body["group"])
    member = group.members.get(body["member_id"]) if group is not None else None
    if group is None or member is None:
        reply(b, sim, message.src, kind, body["request"], UnknownMemberIdError, **empty)
        return None
    return group, member


def sync(b: Broker, sim: Simulation, message: Message) -> None:
    found = known_member(b, sim, message, "SyncGroupResponse", assignment=[])
    if found is None:
        return
    group, member = found
    body = message.body
    error: type[KafkaError] | None = None
    if body["generation"] != group.generation:
        error = IllegalGenerationError
    elif group.state == "PreparingRebalance":
        error = RebalanceInProgressError
    if error is not None:
        reply(b, sim, message.src, "SyncGroupResponse", body["request"], error, assignment=[])
        return
    member.last_heartbeat = sim.now
    if group.state == "Stable":
        reply(b, sim, message.src, "SyncGroupResponse", body["request"], None, assignment=member.assignment)
        return
    member.syncing = body["request"]
    if member.member_id != group.leader or group.storing:
        return
    for member_id, other in group.members.items():
        other.assignment = [(str(t), int(p)) for t, p in body["assignments"].get(member_id, [])]
    # the group's generation is stored in its offsets partition before anyone hears the assignment,
    # so a coordinator that takes over carries the generation on
    group.storing = True
    record = {"key": json.dumps([group.group_id]).encode(), "timestamp": sim.now, "headers": [],
              "value": json.dumps({"generation": group.generation, "protocol": group.protocol,
                                   "leader": group.leader}).encode(), "producer_id": -1, "sequence": -1}
    append_and_wait(b, sim, group.group_id, [record], message.src, "sync",
                    {"request": 0, "group": group.group_id, "generation": group.generation})


def append_and_wait(b: Broker, sim: Simulation, group_id: str, records: list[dict[str, Any]], reply_to: str,
                    kind: str, body: dict[str, Any]) -> None:
    """Append to the group's offsets partition with acks=all; ``stored`` runs at the high watermark."""
    from .replica_manager import DelayedProduce

    log = f"{OFFSETS_TOPIC}-{partition_of(b, group_id)}"
    failure, (_, end) = b.append_as_leader(sim, log, records, -1)
    delayed = DelayedProduce(log, end, sim.now + 5_000, reply_to, kind, body)
    if failure is not None or b.logs[log].high_watermark >= end:
        stored(b, sim, delayed, failure)
    else:
        b.delayed.append(delayed)
        sim.set_timer(b.name, "produce_deadline", 5_000)


def stored(b: Broker, sim: Simulation, delayed: DelayedProduce, error: type[KafkaError] | None) -> None:
    if delayed.kind == "commit":
        commit_done(b, sim, delayed, error)
        return
    group = b.groups.get(delayed.body["group"])
    if group is None or group.generation != delayed.body["generation"] or group.state != "CompletingRebalance":
        return
    group.storing = False
    if error is not None:
        prepare(b, sim, group, "its assignment could not be stored")
        return
    group.state = "Stable"
    sim.trace(b.name, "assignment", f"Group {group.group_id} is stable in generation {group.generation}: "
              + "; ".join(f"{m.node} gets {describe_tps(m.assignment)}" for m in group.members.values()) + ".",
              group=group.group_id, generation=group.generation,
              assignment={m.member_id: [list(tp) for tp in m.assignment] for m in group.members.values()})
    for other in group.members.values():
        if other.syncing:
            reply(b, sim, other.node, "SyncGroupResponse", other.syncing, None, assignment=other.assignment)
            other.syncing = 0


def heartbeat(b: Broker, sim: Simulation, message: Message) -> None:
    found = known_member(b, sim, message, "HeartbeatResponse")
    if found is None:
        return
    group, member = found
    member.last_heartbeat = sim.now
    error: type[KafkaError] | None = None
    if group.state == "PreparingRebalance":
        error = RebalanceInProgressError
    elif message.body["generation"] != group.generation:
        error = IllegalGenerationError
    reply(b, sim, message.src, "HeartbeatResponse", message.body["request"], error)


def watch_member(b: Broker, sim: Simulation, group: Group, member: Member) -> None:
    if not member.expiry_set:
        member.expiry_set = True
        delay = member.last_heartbeat + member.session_timeout - sim.now
        sim.set_timer(b.name, "member_expiry", max(1, delay), group=group.group_id, member=member.member_id)


def member_expiry(b: Broker, sim: Simulation, group_id: str, member_id: str) -> None:
    group = b.groups.get(group_id)
    member = group.members.get(member_id) if group is not None else None
    if group is None or member is None:
        return
    member.expiry_set = False
    if member.joining or sim.now - member.last_heartbeat < member.session_timeout:
        if not member.joining:
            watch_member(b, sim, group, member)
        return
    remove(b, sim, group, member, f"{member.node}'s session timed out: no heartbeat for "
           f"{member.session_timeout / 1000:g} s")


def remove(b: Broker, sim: Simulation, group: Group, member: Member, reason: str) -> None:
    del group.members[member.member_id]
    sim.trace(b.name, "member_left", f"{reason}; it leaves group {group.group_id}.", group=group.group_id,
              member=member.member_id, machine=member.node)
    if group.state in ("Stable", "CompletingRebalance"):
        if group.members:
            prepare(b, sim, group, reason)
        else:
            group.state, group.leader = "Empty", ""
            group.generation += 1
    elif group.state == "PreparingRebalance":
        try_complete(b, sim, group)


def leave(b: Broker, sim: Simulation, message: Message) -> None:
    found = known_member(b, sim, message, "LeaveGroupResponse")
    if found is None:
        return
    group, member = found
    remove(b, sim, group, member, f"{member.node} left cleanly")
    reply(b, sim, message.src, "LeaveGroupResponse", message.body["request"], None)


# -- offsets --------------------------------------------------------------------------------------------


def offset_key(group: str, name: str) -> bytes:
    return json.dumps([group, *split_log_name(name)]).encode()


def commit(b: Broker, sim: Simulation, message: Message) -> None:
    body = message.body
    request, group_id = body["request"], body["group"]
    if refused_here(b, sim, message, "OffsetCommitResponse"):
        return
    if body["generation"] >= 0:
        group = b.groups.get(group_id)
        member = group.members.get(body["member_id"]) if group is not None else None
        error: type[KafkaError] | None = None
        if group is None or member is None:
            error = UnknownMemberIdError
        elif group.state == "CompletingRebalance":
            error = RebalanceInProgressError
        elif body["generation"] != group.generation:
            error = IllegalGenerationError
        if error is not None:
            reply(b, sim, message.src, "OffsetCommitResponse", request, error)
            return
    records = [{"key": offset_key(group_id, name), "value": json.dumps({"offset": offset, "metadata": ""}).encode(),
                "timestamp": sim.now, "headers": [], "producer_id": -1, "sequence": -1}
               for name, offset in sorted(body["offsets"].items())]
    if not records:
        reply(b, sim, message.src, "OffsetCommitResponse", request, None)
        return
    append_and_wait(b, sim, group_id, records, message.src, "commit",
                    {"request": request, "group": group_id, "offsets": dict(body["offsets"]),
                     "member": body["member_id"], "generation": body["generation"], "reset": body.get("reset", False)})


def commit_done(b: Broker, sim: Simulation, delayed: DelayedProduce, error: type[KafkaError] | None) -> None:
    body = delayed.body
    if error is None:
        b.offsets.setdefault(body["group"], {}).update(body["offsets"])
        sim.trace(b.name, "commit", f"Group {body['group']} committed "
                  + ", ".join(f"{name} at {offset}" for name, offset in sorted(body["offsets"].items()))
                  + (" (a reset by the learner)." if body["reset"] else "."), group=body["group"],
                  offsets=body["offsets"], generation=body["generation"], reset=body["reset"])
    reply(b, sim, delayed.reply_to, "OffsetCommitResponse", body["request"], error)


def fetch_offsets(b: Broker, sim: Simulation, message: Message) -> None:
    body = message.body
    if refused_here(b, sim, message, "OffsetFetchResponse", offsets={}):
        return
    committed = b.offsets.get(body["group"], {})
    wanted = body["partitions"] if body["partitions"] is not None else sorted(committed)
    reply(b, sim, message.src, "OffsetFetchResponse", body["request"], None,
          offsets={name: committed.get(name, -1) for name in wanted})


def describe(b: Broker, sim: Simulation, message: Message) -> None:
    body = message.body
    if refused_here(b, sim, message, "DescribeGroupsResponse", group={}):
        return
    group = b.groups.get(body["group"]) or Group(body["group"], state="Dead")
    reply(b, sim, message.src, "DescribeGroupsResponse", body["request"], None, group={
        "group": group.group_id, "state": group.state, "generation": group.generation, "protocol": group.protocol,
        "leader": group.leader, "offsets": dict(b.offsets.get(group.group_id, {})),
        "members": [{"member_id": m.member_id, "client_id": m.client_id, "node": m.node,
                     "assignment": [list(tp) for tp in m.assignment]} for m in group.members.values()]})


# -- moving with the offsets partition's leadership ----------------------------------------------------------


def load(b: Broker, sim: Simulation, partition: int) -> None:
    """Become coordinator for the groups of this offsets partition: read their offsets and
    generations from its log (the members join again)."""
    log = b.logs[f"{OFFSETS_TOPIC}-{partition}"]
    loaded: dict[str, dict[str, int]] = {}
    for record in log.all_records():
        if record.key is None:
            continue
        key = json.loads(record.key)
        if len(key) == 1:
            if record.value is not None:
                b.groups[key[0]] = Group(key[0], generation=json.loads(record.value)["generation"])
            continue
        group, topic, number = key
        if record.value is None:
            loaded.get(group, {}).pop(f"{topic}-{number}", None)
        else:
            loaded.setdefault(group, {})[f"{topic}-{number}"] = json.loads(record.value)["offset"]
    for group, offsets in loaded.items():
        b.offsets[group] = offsets
    if loaded:
        sim.trace(b.name, "coordinator_loaded", f"{b.name} is now coordinator for group(s) {', '.join(sorted(loaded))}"
                  f": it loaded their committed offsets from {OFFSETS_TOPIC}-{partition}.", groups=sorted(loaded))


def unload(b: Broker, sim: Simulation, partition: int) -> None:
    for group in sorted(g for g in {*b.offsets, *b.groups} if partition_of(b, g) == partition):
        b.offsets.pop(group, None)
        b.groups.pop(group, None)


def short(member_id: str) -> str:
    """A member id without most of its UUID, for sentences."""
    return member_id[:-28] if len(member_id) > 36 else member_id


def describe_tps(tps: list[tuple[str, int]]) -> str:
    return ", ".join(f"{t}-{p}" for t, p in tps) if tps else "nothing"
