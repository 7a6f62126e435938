"""The broker as a follower (``ReplicaFetcherManager`` and its ``ReplicaFetcherThread``s).

A broker runs one fetcher per leader it follows: one ``Fetch`` in flight at a
time, for all the partitions it follows on that leader, each from its log end
offset with its latest leader epoch. From the answer it appends the leader's
records, copies the leader's high watermark and log start, truncates where its
log diverged from the leader's (the leader-epoch check of fetch v12+), and starts
over at the leader's log start when the leader no longer has what it lacks. A
fetch that times out or is refused (the leader is down) is tried again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from coordlab.sim import Message, Simulation, serializable

from .errors import OffsetOutOfRangeError
from .log import PartitionLog
from .protocol import broker_id_of, broker_name, code_of
from .records import log_name

if TYPE_CHECKING:
    from .broker import Broker
    from .replica_manager import HostedPartition


@serializable
@dataclass
class Fetcher:
    """This broker's replica fetcher for one leader (``ReplicaFetcherThread``)."""

    leader: int
    in_flight: int = 0  # id of the fetch awaiting an answer, 0 if none


def following(b: Broker, leader: int) -> list[HostedPartition]:
    return [h for h in b.hosted.values() if h.leader == leader and h.state is None]


def fetch_from(b: Broker, sim: Simulation, leader: int) -> None:
    """Send the next ``Fetch`` to ``leader``, unless one is in flight or nothing is followed there."""
    fetcher = b.fetchers.setdefault(leader, Fetcher(leader))
    if fetcher.in_flight:
        return
    partitions = []
    for hosted in following(b, leader):
        log = b.logs[log_name(hosted.topic, hosted.partition)]
        partitions.append({"topic": hosted.topic, "partition": hosted.partition, "offset": log.log_end_offset,
                           "last_epoch": log.latest_epoch, "leader_epoch": hosted.leader_epoch})
    if not partitions:
        return
    fetcher.in_flight = b.next_fetch
    b.next_fetch += 1
    sim.send(b.name, broker_name(leader), "Fetch", fetch=fetcher.in_flight, replica=b.broker_id,
             max_wait_ms=b.settings.replica_fetch_wait_max_ms, partitions=partitions)
    sim.set_timer(b.name, "fetch_timeout", b.settings.replica_socket_timeout_ms,
                  leader=leader, fetch=fetcher.in_flight)


def fetch_timeout(b: Broker, sim: Simulation, leader: int, fetch: int) -> None:
    """``replica.socket.timeout.ms`` passed without an answer: fetch again."""
    fetcher = b.fetchers.get(leader)
    if fetcher is not None and fetcher.in_flight == fetch:
        fetcher.in_flight = 0
        fetch_from(b, sim, leader)


def fetch_undelivered(b: Broker, sim: Simulation, message: Message, refused: bool) -> None:
    """A ``Fetch`` refused by a leader that is down: fetch again after ``replica.fetch.backoff.ms``."""
    if refused and message.kind == "Fetch":
        leader = broker_id_of(message.dst)
        fetcher = b.fetchers.get(leader)
        if fetcher is not None and fetcher.in_flight == message.body["fetch"]:
            fetcher.in_flight = 0
            sim.set_timer(b.name, "fetch_again", b.settings.replica_fetch_backoff_ms, leader=leader)


def leader_closed(b: Broker, sim: Simulation, name: str) -> None:
    """The leader's process was killed while a ``Fetch`` waited there: it fails at once
    (the fetcher thread sees the disconnection) and is tried again after the backoff."""
    for leader, fetcher in b.fetchers.items():  # (``name`` may be no broker: its ZooKeeper server)
        if broker_name(leader) == name and fetcher.in_flight:
            fetcher.in_flight = 0
            sim.trace(b.name, "fetcher_disconnected", f"{b.name}'s connection to its leader {name} closed: "
                      "its fetch fails at once.", leader=leader)
            sim.set_timer(b.name, "fetch_again", b.settings.replica_fetch_backoff_ms, leader=leader)


def fetch_response(b: Broker, sim: Simulation, message: Message) -> None:
    """``processPartitionData``: append, truncate or start over, per partition; then fetch again."""
    leader = broker_id_of(message.src)
    fetcher = b.fetchers.get(leader)
    if fetcher is None or fetcher.in_flight != message.body["fetch"]:
        return
    fetcher.in_flight = 0
    backoff = False
    for item in message.body["partitions"]:
        name = log_name(item["topic"], item["partition"])
        hosted = b.hosted.get(name)
        if hosted is None or hosted.leader != leader or hosted.state is not None:
            continue
        log = b.logs[name]
        if item.get("diverging"):
            truncate(b, sim, hosted, log, item["diverging"])
        elif item["error"] == code_of(OffsetOutOfRangeError) and item["log_start"] > log.log_end_offset:
            # the leader deleted everything we lack: start over at its log start
            log.truncate_to(log.log_start_offset)
            log.reset_to(item["log_start"], sim.now)
        elif item["error"]:
            backoff = True
        else:
            for record in item["records"]:
                if record.offset == log.log_end_offset:
                    log.append_record(sim.now, record)
            log.high_watermark = max(log.high_watermark, min(item["hw"], log.log_end_offset))
            if item["log_start"] > log.log_start_offset:
                log.advance_log_start(item["log_start"])
    if backoff:
        sim.set_timer(b.name, "fetch_again", b.settings.replica_fetch_backoff_ms, leader=leader)
    else:
        fetch_from(b, sim, leader)


def truncate(b: Broker, sim: Simulation, hosted: HostedPartition, log: PartitionLog,
             diverging: dict[str, int]) -> None:
    """Cut the log back to where it agrees with the leader's (``getOffsetTruncationState``)."""
    epoch, end = diverging["epoch"], diverging["end_offset"]
    if epoch < 0:
        target = log.log_start_offset  # the leader knows no epoch this old: keep nothing of ours
    else:
        target = end
        mine_epoch, mine_end = log.end_offset_for_epoch(epoch)
        if mine_epoch == epoch:
            target = min(target, mine_end)
    target = max(min(target, log.log_end_offset), log.log_start_offset)
    dropped = log.truncate_to(target)
    name = log_name(hosted.topic, hosted.partition)
    if dropped:
        lost = [{"offset": r.offset, "producer_id": r.producer_id, "sequence": r.sequence,
                 "key": (r.key or b"").decode("utf-8", "replace")} for r in dropped]
        sim.trace(b.name, "truncated",
                  f"{b.name} truncated {name} to offset {target}: {len(dropped)} record(s) its leader "
                  f"{broker_name(hosted.leader)} does not have are gone (offsets {dropped[0].offset}–"
                  f"{dropped[-1].offset}).", topic=hosted.topic, partition=hosted.partition, offset=target,
                  records=lost[:50], count=len(dropped))
