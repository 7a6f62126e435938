"""The broker's replicas (``ReplicaManager`` with its ``Partition``s, leader side).

A broker hosts a replica of each partition the controller assigned it, and
takes the role ``LeaderAndIsr`` gives (``makeLeader``/``makeFollower``, here
``become``). As a partition's **leader** it appends produced records
(``appendRecords``), tracks its followers' fetches, moves the high watermark,
and asks the controller to shrink or grow the ISR (``AlterPartition``, the
``isr-expiration`` task); an acks=all produce waits for the high watermark in
the produce purgatory (``DelayedProduce``) and a fetch with nothing to return
waits in the fetch purgatory (``DelayedFetch``, here ``ParkedFetch``). As a
**follower** it leaves fetching to the replica fetchers (``replica_fetcher.py``).
Leading a partition of ``__consumer_offsets`` loads its groups into the group
coordinator (``coordinator.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from coordlab.sim import Message, Simulation, serializable

from . import coordinator, replica_fetcher
from .config import TopicConfig, parse_topic_config
from .errors import (
    KafkaError,
    MessageSizeTooLargeError,
    NotEnoughReplicasAfterAppendError,
    NotEnoughReplicasError,
    NotLeaderForPartitionError,
    OffsetOutOfRangeError,
    RequestTimedOutError,
    UnknownTopicOrPartitionError,
)
from .log import PartitionLog, Record
from .protocol import broker_name, code_of
from .records import log_name, split_log_name
from .replication import PartitionState
from .settings import OFFSETS_TOPIC

if TYPE_CHECKING:
    from .broker import Broker

FENCED_LEADER_EPOCH = 74


@serializable
@dataclass
class HostedPartition:
    """A partition this broker holds a replica of, and its role in it."""

    topic: str
    partition: int
    leader: int
    leader_epoch: int
    replicas: list[int]
    isr: list[int]
    config: TopicConfig
    state: PartitionState | None = None  # set while leading
    pending_isr: list[int] | None = None  # an AlterPartition in flight
    pending_since: int = 0
    partition_epoch: int = 0  # the state znode's version: orders states within one leader epoch


@serializable
@dataclass
class DelayedProduce:
    """An acks=all append waiting for the high watermark (``DelayedProduce``)."""

    log: str
    required: int  # the HW that acknowledges it (last offset + 1)
    deadline: int
    reply_to: str
    kind: str  # "produce" or "commit"
    body: dict[str, Any]


@serializable
@dataclass
class ParkedFetch:
    """A fetch with nothing to return yet, answered when data comes or at its deadline."""

    src: str
    body: dict[str, Any]
    deadline: int


def start(b: Broker, sim: Simulation) -> None:
    """``ReplicaManager.startup``: schedule the ISR check."""
    sim.set_timer(b.name, "isr_check", b.settings.replica_lag_time_max_ms // 2)


# -- roles: what LeaderAndIsr says ---------------------------------------------------------------


def become(b: Broker, sim: Simulation, item: dict[str, Any], quiet: bool = False) -> str:
    """Take the role LeaderAndIsr gives; returns "leads" or "follows" if the role changed."""
    topic, partition = item["topic"], item["partition"]
    name = log_name(topic, partition)
    current = b.hosted.get(name)
    config = parse_topic_config(item["config"])
    order = (item["leader_epoch"], item["partition_epoch"])
    if current is not None and order <= (current.leader_epoch, current.partition_epoch):
        if order == (current.leader_epoch, current.partition_epoch):  # a resend, or a config change
            current.config = config
            b.logs[name].config = replace(config.log)
        return ""
    log = b.logs.get(name)
    if current is None and log is not None and item["leader_epoch"] < log.latest_epoch:
        # after a restart only the log remembers: it already holds a newer leader epoch, so this
        # comes from a controller that has been replaced and does not know it yet
        sim.trace(b.name, "stale_leader_and_isr", f"{b.name} ignores leader epoch {item['leader_epoch']} "
                  f"for {name}: its log already has epoch {log.latest_epoch}.", topic=topic, partition=partition)
        return ""
    changed = ""
    if log is None:
        log = b.logs[name] = PartitionLog(replace(config.log))
    log.config = replace(config.log)
    was_leader = current is not None and current.leader == b.broker_id
    same_epoch = current is not None and current.leader_epoch == item["leader_epoch"]
    hosted = HostedPartition(topic, partition, item["leader"], item["leader_epoch"], list(item["replicas"]),
                             list(item["isr"]), config, partition_epoch=item["partition_epoch"])
    b.hosted[name] = hosted
    if hosted.leader == b.broker_id:
        hosted.state = PartitionState(b.broker_id, hosted.replicas, hosted.isr, hosted.leader_epoch,
                                      config.min_insync_replicas, b.settings.replica_lag_time_max_ms)
        if was_leader and same_epoch and current is not None and current.state is not None:
            hosted.state.followers = current.state.followers
        else:
            hosted.state.became_leader(sim.now, log.log_end_offset)
            if log.latest_epoch < hosted.leader_epoch:
                log.epochs.append((hosted.leader_epoch, log.log_end_offset))
            changed = "leads"
            if not quiet:
                sim.trace(b.name, "leader", f"{b.name} is now the leader of {name} "
                          f"(leader epoch {hosted.leader_epoch}, ISR {hosted.isr}).",
                          topic=topic, partition=partition, epoch=hosted.leader_epoch, isr=hosted.isr)
        advance_high_watermark(b, sim, name)
        if topic == OFFSETS_TOPIC:
            coordinator.load(b, sim, partition)
    else:
        fail_delayed(b, sim, name, NotLeaderForPartitionError)
        if was_leader and topic == OFFSETS_TOPIC:
            coordinator.unload(b, sim, partition)
        if hosted.leader >= 0 and not (same_epoch and current is not None and current.leader == hosted.leader):
            changed = "follows"
            if not quiet:
                sim.trace(b.name, "follower", f"{b.name} follows {broker_name(hosted.leader)} for {name} "
                          f"(leader epoch {hosted.leader_epoch}).", topic=topic, partition=partition,
                          epoch=hosted.leader_epoch)
            replica_fetcher.fetch_from(b, sim, hosted.leader)
    return changed


# -- leading: ISR and high watermark -------------------------------------------------------------


def propose_isr(b: Broker, sim: Simulation, hosted: HostedPartition, isr: list[int]) -> None:
    """Ask the controller to change the ISR (``AlterPartition``); one request in flight at a time."""
    if b.controller_id < 0:
        return
    hosted.pending_isr = isr
    hosted.pending_since = sim.now
    sim.send(b.name, broker_name(b.controller_id), "AlterPartition", topic=hosted.topic,
             partition=hosted.partition, leader=b.broker_id, leader_epoch=hosted.leader_epoch, isr=isr)


def alter_partition_response(b: Broker, sim: Simulation, message: Message) -> None:
    """The controller's answer to ``propose_isr``: the ISR it committed, if it did."""
    body = message.body
    name = log_name(body["topic"], body["partition"])
    hosted = b.hosted.get(name)
    if hosted is None or hosted.state is None or hosted.pending_isr is None:
        return
    hosted.pending_isr = None
    if body["error"] or body["leader_epoch"] != hosted.leader_epoch:
        return
    before = hosted.isr
    hosted.isr = hosted.state.isr = list(body["isr"])
    hosted.partition_epoch = body["partition_epoch"]
    verb = "shrinks" if len(hosted.isr) < len(before) else "grows"
    sim.trace(b.name, "isr", f"The ISR of {name} {verb} from {before} to {hosted.isr}.",
              topic=body["topic"], partition=body["partition"], isr=hosted.isr, before=before)
    advance_high_watermark(b, sim, name)


def isr_check(b: Broker, sim: Simulation) -> None:
    """``maybeShrinkIsr``: drop followers that lagged longer than replica.lag.time.max.ms."""
    sim.set_timer(b.name, "isr_check", b.settings.replica_lag_time_max_ms // 2)
    for name, hosted in b.hosted.items():
        state = hosted.state
        if state is None:
            continue
        waiting = sim.now - hosted.pending_since < b.settings.replica_lag_time_max_ms
        if hosted.pending_isr is not None and waiting:
            continue
        out = state.out_of_sync(b.logs[name].log_end_offset, sim.now)
        if out:
            propose_isr(b, sim, hosted, [r for r in hosted.isr if r not in out])


def advance_high_watermark(b: Broker, sim: Simulation, name: str) -> None:
    """Move the high watermark up to what the ISR has; then answer what waited for it."""
    hosted, log = b.hosted[name], b.logs[name]
    if hosted.state is None:
        return
    new = hosted.state.high_watermark(log.log_end_offset, log.high_watermark)
    if new > log.high_watermark:
        log.high_watermark = new
        complete_delayed(b, sim, name)
        wake_parked(b, sim, name)


# -- the produce purgatory (DelayedProduce) ------------------------------------------------------


def complete_delayed(b: Broker, sim: Simulation, name: str) -> None:
    hosted, log = b.hosted[name], b.logs[name]
    still = []
    for delayed in b.delayed:
        if delayed.log != name or log.high_watermark < delayed.required:
            still.append(delayed)
            continue
        min_isr = hosted.state.effective_min_isr() if hosted.state else 1
        error = NotEnoughReplicasAfterAppendError if len(hosted.isr) < min_isr else None
        answer_delayed(b, sim, delayed, error)
    b.delayed = still


def fail_delayed(b: Broker, sim: Simulation, name: str, error: type[KafkaError]) -> None:
    for delayed in [d for d in b.delayed if d.log == name]:
        answer_delayed(b, sim, delayed, error)
    b.delayed = [d for d in b.delayed if d.log != name]


def produce_deadline(b: Broker, sim: Simulation) -> None:
    expired = [d for d in b.delayed if d.deadline <= sim.now]
    b.delayed = [d for d in b.delayed if d.deadline > sim.now]
    for delayed in expired:
        answer_delayed(b, sim, delayed, RequestTimedOutError)


def answer_delayed(b: Broker, sim: Simulation, delayed: DelayedProduce, error: type[KafkaError] | None) -> None:
    if delayed.kind in ("commit", "sync"):
        coordinator.stored(b, sim, delayed, error)
    else:
        sim.send(b.name, delayed.reply_to, "ProduceResponse", **delayed.body, error=code_of(error))


# -- appending as leader -------------------------------------------------------------------------


def append_as_leader(b: Broker, sim: Simulation, name: str, records: list[dict[str, Any]],
                     acks: int) -> tuple[type[KafkaError] | None, tuple[int, int]]:
    """Append a batch as leader: (error, (base offset, end offset))."""
    hosted = b.hosted.get(name)
    if hosted is None:
        known = split_log_name(name)[0] in b.metadata["topics"]
        return (NotLeaderForPartitionError if known else UnknownTopicOrPartitionError), (-1, -1)
    if hosted.state is None:
        return NotLeaderForPartitionError, (-1, -1)
    if acks == -1 and not hosted.state.can_accept_acks_all():
        sim.trace(b.name, "not_enough_replicas",
                  f"{b.name} refuses a write to {name}: the ISR {hosted.isr} is smaller than "
                  f"min.insync.replicas={hosted.state.min_isr} (NOT_ENOUGH_REPLICAS).",
                  topic=hosted.topic, partition=hosted.partition, isr=hosted.isr)
        return NotEnoughReplicasError, (-1, -1)
    log = b.logs[name]
    first = records[0]
    if any(len(r["key"] or b"") + len(r["value"] or b"") > b.settings.message_max_bytes for r in records):
        return MessageSizeTooLargeError, (-1, -1)
    # a retried batch the log already has is answered with its offsets and not written again
    # (``UnifiedLog.append`` with ``ProducerStateEntry.findDuplicateBatch``); acks=all still waits
    # for the high watermark to pass it
    duplicate = log.duplicate_of(first["producer_id"], first["sequence"], records[-1]["sequence"])
    if duplicate is not None:
        return None, duplicate
    base = log.log_end_offset
    for r in records:
        log.append(sim.now, r["key"], r["value"], r["timestamp"], r["headers"], hosted.leader_epoch,
                   r["producer_id"], r["sequence"], first["sequence"])
    advance_high_watermark(b, sim, name)
    wake_parked(b, sim, name)
    return None, (base, log.log_end_offset)


# -- serving fetches, and the fetch purgatory (DelayedFetch) -------------------------------------


def serve_fetch(b: Broker, sim: Simulation, body: dict[str, Any], track: bool = True) -> list[dict[str, Any]]:
    """Answer a fetch; ``track``: a follower's fetch offset tells what it has (not again for a parked one)."""
    replica = body["replica"]
    answer = []
    for item in body["partitions"]:
        name = log_name(item["topic"], item["partition"])
        hosted, log = b.hosted.get(name), b.logs.get(name)
        out: dict[str, Any] = {"topic": item["topic"], "partition": item["partition"], "records": [],
                               "error": 0, "hw": -1, "log_start": -1}
        answer.append(out)
        if hosted is None or log is None or hosted.state is None:
            out["error"] = code_of(NotLeaderForPartitionError if hosted else UnknownTopicOrPartitionError)
            continue
        if replica >= 0 and item["leader_epoch"] != hosted.leader_epoch:
            out["error"] = FENCED_LEADER_EPOCH
            continue
        offset = item["offset"]
        if replica >= 0 and item["last_epoch"] >= 0:
            epoch, end = log.end_offset_for_epoch(item["last_epoch"])
            if epoch != item["last_epoch"] or end < offset:
                out["diverging"] = {"epoch": epoch, "end_offset": end}
                continue
        log_end = log.log_end_offset
        if offset < log.log_start_offset or offset > log_end:
            out["error"] = code_of(OffsetOutOfRangeError)
            out["log_start"], out["log_end"] = log.log_start_offset, log_end
            continue
        if replica >= 0 and track:
            follower_fetched(b, sim, hosted, replica, offset)
        upto = log_end if replica >= 0 else log.high_watermark
        if offset < upto:  # (most fetches of a quiet partition find nothing new)
            records = log.read(offset, max_records=item.get("max_records", 500), upto=upto)
            if replica >= 0 and records:  # a follower gets whole batches
                records += log.rest_of_batch(records[-1], upto)
            out["records"] = records if replica < 0 else [copy_record(r) for r in records]
        out["hw"], out["log_start"] = log.high_watermark, log.log_start_offset
    return answer


def follower_fetched(b: Broker, sim: Simulation, hosted: HostedPartition, replica: int, offset: int) -> None:
    """``updateFollowerFetchState``: a follower has everything below ``offset``; it may rejoin the ISR."""
    assert hosted.state is not None
    name = log_name(hosted.topic, hosted.partition)
    log = b.logs[name]
    hosted.state.follower_fetched(replica, offset, log.log_end_offset, sim.now)
    epoch_start = next((start for epoch, start in log.epochs if epoch == hosted.leader_epoch), 0)
    if (hosted.pending_isr is None and replica in hosted.replicas and hosted.state.can_join_isr(
            replica, log.high_watermark) and offset >= epoch_start):
        propose_isr(b, sim, hosted, [*hosted.isr, replica])
    advance_high_watermark(b, sim, name)


def wake_parked(b: Broker, sim: Simulation, name: str) -> None:
    """Answer the parked fetches of partition ``name`` that now have something to return."""
    if not b.parked:
        return
    topic, partition = split_log_name(name)
    waiting = []
    for parked in b.parked:
        wanted = any(p["topic"] == topic and p["partition"] == partition for p in parked.body["partitions"])
        if wanted and fetch_ready(b, parked.body):
            answer = serve_fetch(b, sim, parked.body, track=False)
            if any(p["records"] or p["error"] or p.get("diverging") for p in answer):
                sim.send(b.name, parked.src, "FetchResponse", fetch=parked.body["fetch"],
                         request=parked.body.get("request", 0), partitions=answer)
                continue
        waiting.append(parked)
    b.parked = waiting


def fetch_ready(b: Broker, body: dict[str, Any]) -> bool:
    """Whether a parked fetch would get something now: records past its offset or an error on
    any of its partitions (``DelayedFetch.tryComplete``'s checks, without reading a record)."""
    replica = body["replica"]
    for item in body["partitions"]:
        name = log_name(item["topic"], item["partition"])
        hosted, log = b.hosted.get(name), b.logs.get(name)
        if hosted is None or log is None or hosted.state is None:
            return True
        if replica >= 0 and item["leader_epoch"] != hosted.leader_epoch:
            return True
        offset, end = item["offset"], log.log_end_offset
        if offset < log.log_start_offset or offset > end or offset < (end if replica >= 0 else log.high_watermark):
            return True
    return False


def fetch_deadline(b: Broker, sim: Simulation) -> None:
    """Answer the parked fetches whose wait is over, with whatever there is."""
    due = [p for p in b.parked if p.deadline <= sim.now]
    b.parked = [p for p in b.parked if p.deadline > sim.now]
    for parked in due:
        sim.send(b.name, parked.src, "FetchResponse", fetch=parked.body["fetch"],
                 request=parked.body.get("request", 0), partitions=serve_fetch(b, sim, parked.body, track=False))


def copy_record(record: Record) -> Record:
    """What a follower appends: the leader's record itself, except a tombstone, whose delete horizon
    each broker's cleaner sets on its own copy (records are never changed otherwise)."""
    return record if record.value is not None else replace(record)
