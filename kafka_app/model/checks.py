"""Invariant checkers: each returns named violations, one sentence each.

They read the brokers' logs, what clients saw (acknowledged records, records
delivered, assignments) and the trace, never change anything, and are what the
property tests assert and the lab's safety badge shows.

- ``acknowledged_records_kept``: an acknowledged record stays at its offset in
  its partition's leader's log, unless retention or compaction removed it.
  With acks=all, min.insync.replicas ≥ 2 and no unclean election this always
  holds; when it fails, the sentence names the records and who truncated them.
- ``delivered_records_kept``: a record a consumer received was committed (below
  the high watermark the leader reported) and stays in the log.
- ``key_order_kept``: one producer's records in one partition appear in the
  order it sent them (so one key's records stay in order). Given a ``window``,
  only each log's latest records are looked at: the lab's monitor checks often,
  and a whole log of an hour of traffic would take it longer than a frame.
- ``one_owner_per_generation``: no partition is owned by two members of one
  group in the same generation.
- ``commits_never_go_back``: a group's committed offset for a partition only
  moves forward, unless a learner reset it.
"""

from __future__ import annotations

from collections.abc import Iterable

from coordlab.sim import Simulation, TraceEvent

from .broker import Broker
from .consumer import ConsumerNode
from .controller import state_in_zookeeper
from .log import PartitionLog
from .producer import ProducerNode
from .records import log_name


def brokers_of(sim: Simulation) -> dict[int, Broker]:
    return {n.broker_id: n for n in sim.nodes.values() if isinstance(n, Broker)}


def leader_logs(sim: Simulation) -> dict[str, PartitionLog]:
    """Each partition's log on its leader: the broker ZooKeeper names, once it has taken the role
    (a deposed leader that has not heard yet is not asked; partitions without a leader are left out)."""
    states, _ = state_in_zookeeper(sim)
    logs = {}
    for broker in brokers_of(sim).values():
        if not broker.alive:
            continue
        for name, hosted in broker.hosted.items():
            official = states.partitions.get(name)
            if (hosted.state is not None and official is not None and official.leader == broker.broker_id
                    and official.leader_epoch == hosted.leader_epoch):
                logs[name] = broker.logs[name]
    return logs


def truncations(events: Iterable[TraceEvent]) -> dict[tuple[str, int], str]:
    """(log, offset) → who truncated it, from the trace."""
    who = {}
    for event in events:
        if event.kind == "truncated":
            name = log_name(event.fields["topic"], event.fields["partition"])
            for record in event.fields["records"]:
                who[(name, record["offset"])] = event.node
    return who


def missing(log: PartitionLog, offset: int, producer_id: int, sequence: int) -> bool:
    """True if the record is gone from the log (retention and compaction excused)."""
    if offset < log.log_start_offset or "compact" in log.config.cleanup_policy:
        return False
    record = log.record_at(offset)
    return record is None or (record.producer_id, record.sequence) != (producer_id, sequence)


def acknowledged_records_kept(sim: Simulation, events: Iterable[TraceEvent] = ()) -> list[str]:
    logs = leader_logs(sim)
    who = truncations(events)
    lost: dict[str, list[str]] = {}
    for producer in sorted((n for n in sim.nodes.values() if isinstance(n, ProducerNode)), key=lambda n: n.name):
        for topic, partition, offset, producer_id, sequence in producer.acked:
            name = log_name(topic, partition)
            log = logs.get(name)
            if log is not None and missing(log, offset, producer_id, sequence):
                by = who.get((name, offset))
                lost.setdefault(name, []).append(f"{producer.name}'s record #{sequence} at offset {offset}"
                                                 + (f" (truncated by {by})" if by else ""))
    return [f"acknowledged records lost in {name}: {', '.join(items[:5])}"
            + (f" and {len(items) - 5} more" if len(items) > 5 else "") for name, items in sorted(lost.items())]


def delivered_records_kept(sim: Simulation) -> list[str]:
    logs = leader_logs(sim)
    violations = []
    for consumer in sorted((n for n in sim.nodes.values() if isinstance(n, ConsumerNode)), key=lambda n: n.name):
        for topic, partition, offset, producer_id, sequence, high_watermark in consumer.consumed:
            name = log_name(topic, partition)
            if offset >= high_watermark:
                violations.append(f"{consumer.name} received {name} offset {offset}, at or above the high "
                                  f"watermark {high_watermark}")
                break
            log = logs.get(name)
            if log is not None and producer_id >= 0 and missing(log, offset, producer_id, sequence):
                violations.append(f"{consumer.name} received {name} offset {offset}, which is no longer in the log")
                break
    return violations


def key_order_kept(sim: Simulation, window: int | None = None) -> list[str]:
    violations = []
    for name, log in sorted(leader_logs(sim).items()):
        last: dict[int, tuple[int, int]] = {}
        for record in log.all_records() if window is None else log.tail(window):
            if record.producer_id < 0:
                continue
            before = last.get(record.producer_id)
            if before is not None and record.sequence <= before[0]:
                violations.append(f"{name}: a record sent earlier (sequence {record.sequence}) sits at offset "
                                  f"{record.offset}, after sequence {before[0]} at offset {before[1]}")
                break
            last[record.producer_id] = (record.sequence, record.offset)
    return violations


def one_owner_per_generation(events: Iterable[TraceEvent]) -> list[str]:
    owners: dict[tuple[str, int, str], str] = {}
    violations = []
    for event in events:
        if event.kind != "assigned":
            continue
        group, generation = event.fields["group"], event.fields["generation"]
        for name in event.fields["partitions"]:
            other = owners.setdefault((group, generation, name), event.node)
            if other != event.node:
                violations.append(f"{name} is owned by both {other} and {event.node} in generation {generation} "
                                  f"of group {group}")
    return violations


def commits_never_go_back(events: Iterable[TraceEvent]) -> list[str]:
    committed: dict[tuple[str, str], int] = {}
    violations = []
    for event in events:
        if event.kind != "commit":
            continue
        group = event.fields["group"]
        for name, offset in event.fields["offsets"].items():
            before = committed.get((group, name))
            if before is not None and offset < before and not event.fields["reset"]:
                violations.append(f"group {group}'s committed offset for {name} went back from {before} to {offset}")
            committed[(group, name)] = offset
    return violations


def all_violations(sim: Simulation, events: list[TraceEvent], window: int | None = None) -> list[str]:
    """Every checker's violations; ``window``: how many of each log's latest records to check the
    order of (all of them if None)."""
    return (acknowledged_records_kept(sim, events) + delivered_records_kept(sim) + key_order_kept(sim, window)
            + one_owner_per_generation(events) + commits_never_go_back(events))
