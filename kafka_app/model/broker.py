"""A Kafka broker (``KafkaServer`` in ZooKeeper mode), as a simulated machine.

It is a ZooKeeper client, as a real broker is: on start it registers the
ephemeral ``/brokers/ids/<id>`` and races for the ephemeral ``/controller``
(the master-election recipe of the ZooKeeper labs). The winner runs the
controller (``controller.py``). Every broker then serves what the controller
tells it in ``LeaderAndIsr``:

- as a partition's **leader** it appends produced records, tracks its
  followers' fetches, moves the high watermark, and asks the controller to
  shrink or grow the ISR (``AlterPartition``); acks=all produces wait for the
  high watermark (``DelayedProduce``);
- as a **follower** it fetches from the leader, truncates where its log
  diverged (the leader-epoch check of fetch v12+), and copies the leader's
  high watermark and log start;
- as **group coordinator** for the groups whose ``__consumer_offsets``
  partition it leads (``coordinator.py``).

Its partition logs are on disk (durable); roles, fetch state, groups and
metadata are volatile and rebuilt after a restart from the controller.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from coordlab.sim import Message, Simulation, durable, serializable
from zookeeper_app.model.client import CONNECTED, LOST, ZkClient
from zookeeper_app.model.codes import Code
from zookeeper_app.model.prep import CreateRequest

from . import controller as ctl
from . import coordinator
from .config import TopicConfig, legal_topic_name, parse_topic_config
from .errors import (
    InvalidConfigurationError,
    InvalidTopicError,
    KafkaError,
    LeaderNotAvailableError,
    MessageSizeTooLargeError,
    NotEnoughReplicasAfterAppendError,
    NotEnoughReplicasError,
    NotLeaderForPartitionError,
    OffsetOutOfRangeError,
    RequestTimedOutError,
    UnknownTopicOrPartitionError,
)
from .log import LogConfig, PartitionLog, Record
from .records import log_name, split_log_name
from .replication import PartitionState
from .settings import OFFSETS_TOPIC, BrokerSettings

FENCED_LEADER_EPOCH = 74
TOP_LEVEL_PATHS = ("/brokers", "/brokers/ids", "/brokers/topics", "/config", "/config/topics")
AUTO_CREATE_RETRY_MS = 5_000


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


@serializable
@dataclass
class Fetcher:
    """This broker's replica fetcher for one leader (``ReplicaFetcherThread``)."""

    leader: int
    in_flight: int = 0  # id of the fetch awaiting an answer, 0 if none


@serializable
@dataclass
class Broker(ZkClient):
    broker_id: int = durable(0)
    settings: BrokerSettings = durable(default_factory=BrokerSettings)
    logs: dict[str, PartitionLog] = durable(default_factory=dict)
    registered: bool = False
    controller_id: int = -1
    controller_epoch: int = 0
    hosted: dict[str, HostedPartition] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=lambda: {"brokers": [], "controller": -1, "topics": {}})
    fetchers: dict[int, Fetcher] = field(default_factory=dict)
    delayed: list[DelayedProduce] = field(default_factory=list)
    parked: list[ParkedFetch] = field(default_factory=list)
    next_fetch: int = 1
    zk_pending: dict[int, dict[str, Any]] = field(default_factory=dict)
    controller: ctl.ControllerState | None = None
    groups: dict[str, coordinator.Group] = field(default_factory=dict)
    offsets: dict[str, dict[str, int]] = field(default_factory=dict)  # group → "topic-p" → committed offset
    creating: dict[str, int] = field(default_factory=dict)  # topic → when this broker asked the controller

    # -- life cycle and ZooKeeper ----------------------------------------------------------

    def start(self, sim: Simulation) -> None:
        self.connect(sim)
        sim.set_timer(self.name, "isr_check", self.settings.replica_lag_time_max_ms // 2)
        sim.set_timer(self.name, "retention", self.settings.log_retention_check_interval_ms)
        sim.set_timer(self.name, "cleaner", self.settings.log_cleaner_backoff_ms)

    def zk(self, sim: Simulation, request: Any, purpose: dict[str, Any] | None = None) -> int:
        xid = self.submit(sim, request)
        if purpose is not None:
            self.zk_pending[xid] = purpose
        return xid

    def on_state(self, sim: Simulation, state: str) -> None:
        if state == CONNECTED and not self.registered:
            self.registered = True
            for path in TOP_LEVEL_PATHS:
                self.zk(sim, CreateRequest(path))
            self.register(sim)
            ctl.elect(self, sim)
        elif state == LOST:
            sim.trace(self.name, "zk_session_lost",
                      f"{self.name}'s ZooKeeper session expired: its /brokers/ids/{self.broker_id} is gone"
                      + (" and it is no longer the controller." if self.controller else "."),
                      broker=self.broker_id)
            self.registered = False
            if self.controller is not None:
                ctl.resign(self, sim)
            self.connect(sim)

    def register(self, sim: Simulation) -> None:
        data = json.dumps({"version": 5, "host": self.name, "port": 9092, "jmx_port": -1,
                           "endpoints": [f"PLAINTEXT://{self.name}:9092"]}).encode()
        self.zk(sim, CreateRequest(f"/brokers/ids/{self.broker_id}", data, ephemeral=True), {"op": "registered"})

    def on_reply(self, sim: Simulation, xid: int, code: Code, result: Any) -> None:
        purpose = self.zk_pending.pop(xid, None)
        if purpose is None:
            return
        if purpose["op"] == "registered":
            if code == Code.OK:
                sim.trace(self.name, "registered", f"{self.name} registered /brokers/ids/{self.broker_id}.",
                          broker=self.broker_id)
            elif code == Code.NODEEXISTS:
                # our previous process's session still holds it: wait for that session to expire
                sim.trace(self.name, "registration_waits", f"/brokers/ids/{self.broker_id} still belongs to "
                          f"{self.name}'s session from before its crash; it waits for that session to expire.",
                          broker=self.broker_id)
                self.zk(sim, {"op": "exists", "path": f"/brokers/ids/{self.broker_id}", "watch": True},
                        {"op": "registration_watch"})
            return
        if purpose["op"] == "registration_watch":
            if code == Code.OK and result is None and self.registered:
                self.register(sim)
            return
        ctl.on_zk_reply(self, sim, purpose, code, result)

    def on_watch(self, sim: Simulation, event: str, path: str) -> None:
        if path == f"/brokers/ids/{self.broker_id}":
            if event == "DELETED" and self.registered:
                self.register(sim)
            return
        ctl.on_zk_watch(self, sim, event, path)

    # -- controller requests ---------------------------------------------------------------

    def fenced(self, sim: Simulation, message: Message) -> bool:
        """True (and traced) if a controller request comes from an older controller epoch."""
        epoch = message.body["controller_epoch"]
        if epoch < self.controller_epoch:
            sim.trace(self.name, "stale_controller",
                      f"{self.name} ignores a {message.kind} from {message.src}: controller epoch {epoch} "
                      f"is older than {self.controller_epoch}.", epoch=epoch)
            return True
        self.controller_epoch = epoch
        self.controller_id = message.body["controller_id"]
        return False

    def acknowledge(self, sim: Simulation, message: Message) -> None:
        sim.send(self.name, message.src, "ControllerAck", seq=message.body["seq"], broker=self.broker_id,
                 request=message.kind)

    def handle_update_metadata(self, sim: Simulation, message: Message) -> None:
        if not self.fenced(sim, message):
            self.metadata = message.body["metadata"]
            self.creating = {t: at for t, at in self.creating.items() if t not in self.metadata["topics"]}
            self.acknowledge(sim, message)

    def handle_controller_ack(self, sim: Simulation, message: Message) -> None:
        ctl.acknowledged(self, message.body["broker"], message.body["request"], message.body["seq"])

    def on_controller_resend(self, sim: Simulation) -> None:
        ctl.resend(self, sim)

    def handle_leader_and_isr(self, sim: Simulation, message: Message) -> None:
        if self.fenced(sim, message):
            return
        self.acknowledge(sim, message)
        internal: dict[str, list[int]] = {"leads": [], "follows": []}
        for item in message.body["partitions"]:
            role = self.become(sim, item, quiet=item["topic"] == OFFSETS_TOPIC)
            if role and item["topic"] == OFFSETS_TOPIC:
                internal[role].append(item["partition"])
        if internal["leads"] or internal["follows"]:
            sim.trace(self.name, "offsets_roles", f"{self.name} leads {len(internal['leads'])} and follows "
                      f"{len(internal['follows'])} partitions of {OFFSETS_TOPIC}, where groups keep their offsets.",
                      leads=internal["leads"], follows=internal["follows"])

    def become(self, sim: Simulation, item: dict[str, Any], quiet: bool = False) -> str:
        """Take the role LeaderAndIsr gives; returns "leads" or "follows" if the role changed."""
        topic, partition = item["topic"], item["partition"]
        name = log_name(topic, partition)
        current = self.hosted.get(name)
        config = parse_topic_config(item["config"])
        order = (item["leader_epoch"], item["partition_epoch"])
        if current is not None and order <= (current.leader_epoch, current.partition_epoch):
            if order == (current.leader_epoch, current.partition_epoch):  # a resend, or a config change
                current.config = config
                self.logs[name].config = replace(config.log)
            return ""
        log = self.logs.get(name)
        if current is None and log is not None and item["leader_epoch"] < log.latest_epoch:
            # after a restart only the log remembers: it already holds a newer leader epoch, so this
            # comes from a controller that has been replaced and does not know it yet
            sim.trace(self.name, "stale_leader_and_isr", f"{self.name} ignores leader epoch {item['leader_epoch']} "
                      f"for {name}: its log already has epoch {log.latest_epoch}.", topic=topic, partition=partition)
            return ""
        changed = ""
        if log is None:
            log = self.logs[name] = PartitionLog(replace(config.log))
        log.config = replace(config.log)
        was_leader = current is not None and current.leader == self.broker_id
        same_epoch = current is not None and current.leader_epoch == item["leader_epoch"]
        hosted = HostedPartition(topic, partition, item["leader"], item["leader_epoch"], list(item["replicas"]),
                                 list(item["isr"]), config, partition_epoch=item["partition_epoch"])
        self.hosted[name] = hosted
        if hosted.leader == self.broker_id:
            hosted.state = PartitionState(self.broker_id, hosted.replicas, hosted.isr, hosted.leader_epoch,
                                          config.min_insync_replicas, self.settings.replica_lag_time_max_ms)
            if was_leader and same_epoch and current is not None and current.state is not None:
                hosted.state.followers = current.state.followers
            else:
                hosted.state.became_leader(sim.now, log.log_end_offset)
                if log.latest_epoch < hosted.leader_epoch:
                    log.epochs.append((hosted.leader_epoch, log.log_end_offset))
                changed = "leads"
                if not quiet:
                    sim.trace(self.name, "leader", f"{self.name} is now the leader of {name} "
                              f"(leader epoch {hosted.leader_epoch}, ISR {hosted.isr}).",
                              topic=topic, partition=partition, epoch=hosted.leader_epoch, isr=hosted.isr)
            self.advance_high_watermark(sim, name)
            if topic == OFFSETS_TOPIC:
                coordinator.load(self, sim, partition)
        else:
            self.fail_delayed(sim, name, NotLeaderForPartitionError)
            if was_leader and topic == OFFSETS_TOPIC:
                coordinator.unload(self, sim, partition)
            if hosted.leader >= 0 and not (same_epoch and current is not None and current.leader == hosted.leader):
                changed = "follows"
                if not quiet:
                    sim.trace(self.name, "follower", f"{self.name} follows {broker_name(hosted.leader)} for {name} "
                              f"(leader epoch {hosted.leader_epoch}).", topic=topic, partition=partition,
                              epoch=hosted.leader_epoch)
                self.fetch_from(sim, hosted.leader)
        return changed

    def handle_alter_partition_response(self, sim: Simulation, message: Message) -> None:
        body = message.body
        name = log_name(body["topic"], body["partition"])
        hosted = self.hosted.get(name)
        if hosted is None or hosted.state is None or hosted.pending_isr is None:
            return
        hosted.pending_isr = None
        if body["error"] or body["leader_epoch"] != hosted.leader_epoch:
            return
        before = hosted.isr
        hosted.isr = hosted.state.isr = list(body["isr"])
        hosted.partition_epoch = body["partition_epoch"]
        verb = "shrinks" if len(hosted.isr) < len(before) else "grows"
        sim.trace(self.name, "isr", f"The ISR of {name} {verb} from {before} to {hosted.isr}.",
                  topic=body["topic"], partition=body["partition"], isr=hosted.isr, before=before)
        self.advance_high_watermark(sim, name)

    # -- leading: ISR and high watermark ---------------------------------------------------------

    def propose_isr(self, sim: Simulation, hosted: HostedPartition, isr: list[int]) -> None:
        if self.controller_id < 0:
            return
        hosted.pending_isr = isr
        hosted.pending_since = sim.now
        sim.send(self.name, broker_name(self.controller_id), "AlterPartition", topic=hosted.topic,
                 partition=hosted.partition, leader=self.broker_id, leader_epoch=hosted.leader_epoch, isr=isr)

    def on_isr_check(self, sim: Simulation) -> None:
        """``maybeShrinkIsr``: drop followers that lagged longer than replica.lag.time.max.ms."""
        sim.set_timer(self.name, "isr_check", self.settings.replica_lag_time_max_ms // 2)
        for name, hosted in self.hosted.items():
            state = hosted.state
            if state is None:
                continue
            waiting = sim.now - hosted.pending_since < self.settings.replica_lag_time_max_ms
            if hosted.pending_isr is not None and waiting:
                continue
            out = state.out_of_sync(self.logs[name].log_end_offset, sim.now)
            if out:
                self.propose_isr(sim, hosted, [r for r in hosted.isr if r not in out])

    def advance_high_watermark(self, sim: Simulation, name: str) -> None:
        hosted, log = self.hosted[name], self.logs[name]
        if hosted.state is None:
            return
        new = hosted.state.high_watermark(log.log_end_offset, log.high_watermark)
        if new > log.high_watermark:
            log.high_watermark = new
            self.complete_delayed(sim, name)
            self.wake_parked(sim, name)

    def complete_delayed(self, sim: Simulation, name: str) -> None:
        hosted, log = self.hosted[name], self.logs[name]
        still = []
        for delayed in self.delayed:
            if delayed.log != name or log.high_watermark < delayed.required:
                still.append(delayed)
                continue
            min_isr = hosted.state.effective_min_isr() if hosted.state else 1
            error = NotEnoughReplicasAfterAppendError if len(hosted.isr) < min_isr else None
            self.answer_delayed(sim, delayed, error)
        self.delayed = still

    def fail_delayed(self, sim: Simulation, name: str, error: type[KafkaError]) -> None:
        for delayed in [d for d in self.delayed if d.log == name]:
            self.answer_delayed(sim, delayed, error)
        self.delayed = [d for d in self.delayed if d.log != name]

    def on_produce_deadline(self, sim: Simulation) -> None:
        expired = [d for d in self.delayed if d.deadline <= sim.now]
        self.delayed = [d for d in self.delayed if d.deadline > sim.now]
        for delayed in expired:
            self.answer_delayed(sim, delayed, RequestTimedOutError)

    def answer_delayed(self, sim: Simulation, delayed: DelayedProduce, error: type[KafkaError] | None) -> None:
        if delayed.kind in ("commit", "sync"):
            coordinator.stored(self, sim, delayed, error)
        else:
            sim.send(self.name, delayed.reply_to, "ProduceResponse", **delayed.body, error=code_of(error))

    # -- produce ----------------------------------------------------------------------------------

    def handle_produce(self, sim: Simulation, message: Message) -> None:
        body = message.body
        reply = {"request": body["request"], "topic": body["topic"], "partition": body["partition"]}
        name = log_name(body["topic"], body["partition"])
        error, base = self.append_as_leader(sim, name, body["records"], body["acks"])
        if body["acks"] == 0:
            return
        if error is not None or body["acks"] == 1 or base[1] <= self.logs[name].high_watermark:
            sim.send(self.name, message.src, "ProduceResponse", **reply, base_offset=base[0], error=code_of(error))
            return
        self.delayed.append(DelayedProduce(name, base[1], sim.now + body["timeout_ms"], message.src, "produce",
                                           {**reply, "base_offset": base[0]}))
        sim.set_timer(self.name, "produce_deadline", body["timeout_ms"])

    def append_as_leader(self, sim: Simulation, name: str, records: list[dict[str, Any]],
                         acks: int) -> tuple[type[KafkaError] | None, tuple[int, int]]:
        """Append a batch as leader: (error, (base offset, end offset))."""
        hosted = self.hosted.get(name)
        if hosted is None:
            known = split_log_name(name)[0] in self.metadata["topics"]
            return (NotLeaderForPartitionError if known else UnknownTopicOrPartitionError), (-1, -1)
        if hosted.state is None:
            return NotLeaderForPartitionError, (-1, -1)
        if acks == -1 and not hosted.state.can_accept_acks_all():
            sim.trace(self.name, "not_enough_replicas",
                      f"{self.name} refuses a write to {name}: the ISR {hosted.isr} is smaller than "
                      f"min.insync.replicas={hosted.state.min_isr} (NOT_ENOUGH_REPLICAS).",
                      topic=hosted.topic, partition=hosted.partition, isr=hosted.isr)
            return NotEnoughReplicasError, (-1, -1)
        log = self.logs[name]
        first = records[0]
        if any(len(r["key"] or b"") + len(r["value"] or b"") > self.settings.message_max_bytes for r in records):
            return MessageSizeTooLargeError, (-1, -1)
        duplicate = log.duplicate_of(first["producer_id"], first["sequence"])
        if duplicate is not None:
            return None, (duplicate, duplicate + len(records))
        base = log.log_end_offset
        for r in records:
            log.append(sim.now, r["key"], r["value"], r["timestamp"], r["headers"], hosted.leader_epoch,
                       r["producer_id"], r["sequence"])
        self.advance_high_watermark(sim, name)
        self.wake_parked(sim, name)
        return None, (base, log.log_end_offset)

    # -- fetch: serving ----------------------------------------------------------------------------

    def handle_fetch(self, sim: Simulation, message: Message) -> None:
        body = message.body
        answer = self.serve_fetch(sim, body)
        has_data = any(p["records"] or p["error"] or p.get("diverging") for p in answer)
        if has_data or body["max_wait_ms"] <= 0:
            sim.send(self.name, message.src, "FetchResponse", fetch=body["fetch"], request=body.get("request", 0),
                     partitions=answer)
        else:
            self.parked.append(ParkedFetch(message.src, body, sim.now + body["max_wait_ms"]))
            sim.set_timer(self.name, "fetch_deadline", body["max_wait_ms"])

    def serve_fetch(self, sim: Simulation, body: dict[str, Any], track: bool = True) -> list[dict[str, Any]]:
        """Answer a fetch; ``track``: a follower's fetch offset tells what it has (not again for a parked one)."""
        replica = body["replica"]
        answer = []
        for item in body["partitions"]:
            name = log_name(item["topic"], item["partition"])
            hosted, log = self.hosted.get(name), self.logs.get(name)
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
            if offset < log.log_start_offset or offset > log.log_end_offset:
                out["error"] = code_of(OffsetOutOfRangeError)
                out["log_start"], out["log_end"] = log.log_start_offset, log.log_end_offset
                continue
            if replica >= 0 and track:
                self.follower_fetched(sim, hosted, replica, offset)
            upto = log.log_end_offset if replica >= 0 else log.high_watermark
            records = log.read(offset, max_records=item.get("max_records", 500), upto=upto)
            out["records"] = records if replica < 0 else [copy_record(r) for r in records]
            out["hw"], out["log_start"] = log.high_watermark, log.log_start_offset
        return answer

    def follower_fetched(self, sim: Simulation, hosted: HostedPartition, replica: int, offset: int) -> None:
        assert hosted.state is not None
        name = log_name(hosted.topic, hosted.partition)
        log = self.logs[name]
        hosted.state.follower_fetched(replica, offset, log.log_end_offset, sim.now)
        epoch_start = next((start for epoch, start in log.epochs if epoch == hosted.leader_epoch), 0)
        if (hosted.pending_isr is None and replica in hosted.replicas and hosted.state.can_join_isr(
                replica, log.high_watermark) and offset >= epoch_start):
            self.propose_isr(sim, hosted, [*hosted.isr, replica])
        self.advance_high_watermark(sim, name)

    def wake_parked(self, sim: Simulation, name: str) -> None:
        if not self.parked:
            return
        topic, partition = split_log_name(name)
        waiting = []
        for parked in self.parked:
            wanted = any(p["topic"] == topic and p["partition"] == partition for p in parked.body["partitions"])
            if wanted:
                answer = self.serve_fetch(sim, parked.body, track=False)
                if any(p["records"] or p["error"] or p.get("diverging") for p in answer):
                    sim.send(self.name, parked.src, "FetchResponse", fetch=parked.body["fetch"],
                             request=parked.body.get("request", 0), partitions=answer)
                    continue
            waiting.append(parked)
        self.parked = waiting

    def on_fetch_deadline(self, sim: Simulation) -> None:
        due = [p for p in self.parked if p.deadline <= sim.now]
        self.parked = [p for p in self.parked if p.deadline > sim.now]
        for parked in due:
            sim.send(self.name, parked.src, "FetchResponse", fetch=parked.body["fetch"],
                     request=parked.body.get("request", 0), partitions=self.serve_fetch(sim, parked.body, track=False))

    # -- fetch: following --------------------------------------------------------------------------

    def following(self, leader: int) -> list[HostedPartition]:
        return [h for h in self.hosted.values() if h.leader == leader and h.state is None]

    def fetch_from(self, sim: Simulation, leader: int) -> None:
        fetcher = self.fetchers.setdefault(leader, Fetcher(leader))
        if fetcher.in_flight:
            return
        partitions = []
        for hosted in self.following(leader):
            log = self.logs[log_name(hosted.topic, hosted.partition)]
            partitions.append({"topic": hosted.topic, "partition": hosted.partition, "offset": log.log_end_offset,
                               "last_epoch": log.latest_epoch, "leader_epoch": hosted.leader_epoch})
        if not partitions:
            return
        fetcher.in_flight = self.next_fetch
        self.next_fetch += 1
        sim.send(self.name, broker_name(leader), "Fetch", fetch=fetcher.in_flight, replica=self.broker_id,
                 max_wait_ms=self.settings.replica_fetch_wait_max_ms, partitions=partitions)
        sim.set_timer(self.name, "fetch_timeout", self.settings.replica_socket_timeout_ms,
                      leader=leader, fetch=fetcher.in_flight)

    def on_fetch_timeout(self, sim: Simulation, leader: int, fetch: int) -> None:
        fetcher = self.fetchers.get(leader)
        if fetcher is not None and fetcher.in_flight == fetch:
            fetcher.in_flight = 0
            self.fetch_from(sim, leader)

    def on_fetch_again(self, sim: Simulation, leader: int) -> None:
        self.fetch_from(sim, leader)

    def undelivered(self, sim: Simulation, message: Message, refused: bool) -> None:
        super().undelivered(sim, message, refused)
        if refused and message.kind == "Fetch":
            leader = broker_id_of(message.dst)
            fetcher = self.fetchers.get(leader)
            if fetcher is not None and fetcher.in_flight == message.body["fetch"]:
                fetcher.in_flight = 0
                sim.set_timer(self.name, "fetch_again", self.settings.replica_fetch_backoff_ms, leader=leader)

    def handle_fetch_response(self, sim: Simulation, message: Message) -> None:
        leader = broker_id_of(message.src)
        fetcher = self.fetchers.get(leader)
        if fetcher is None or fetcher.in_flight != message.body["fetch"]:
            return
        fetcher.in_flight = 0
        backoff = False
        for item in message.body["partitions"]:
            name = log_name(item["topic"], item["partition"])
            hosted = self.hosted.get(name)
            if hosted is None or hosted.leader != leader or hosted.state is not None:
                continue
            log = self.logs[name]
            if item.get("diverging"):
                self.truncate(sim, hosted, log, item["diverging"])
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
            sim.set_timer(self.name, "fetch_again", self.settings.replica_fetch_backoff_ms, leader=leader)
        else:
            self.fetch_from(sim, leader)

    def truncate(self, sim: Simulation, hosted: HostedPartition, log: PartitionLog, diverging: dict[str, int]) -> None:
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
            sim.trace(self.name, "truncated",
                      f"{self.name} truncated {name} to offset {target}: {len(dropped)} record(s) its leader "
                      f"{broker_name(hosted.leader)} does not have are gone (offsets {dropped[0].offset}–"
                      f"{dropped[-1].offset}).", topic=hosted.topic, partition=hosted.partition, offset=target,
                      records=lost[:50], count=len(dropped))

    # -- retention and the cleaner -----------------------------------------------------------------

    def on_retention(self, sim: Simulation) -> None:
        sim.set_timer(self.name, "retention", self.settings.log_retention_check_interval_ms)
        for name, log in self.logs.items():
            hosted = self.hosted.get(name)
            if hosted is None or hosted.state is None:
                continue  # followers follow the leader's log start (Kafka: the leader's deletion)
            deleted = log.delete_old_segments(sim.now)
            if deleted:
                sim.trace(self.name, "retention",
                          f"Retention deleted {len(deleted)} old segment(s) of {name}: the log now starts at "
                          f"offset {log.log_start_offset}.", topic=hosted.topic, partition=hosted.partition,
                          log_start=log.log_start_offset, segments=len(deleted))

    def on_cleaner(self, sim: Simulation) -> None:
        sim.set_timer(self.name, "cleaner", self.settings.log_cleaner_backoff_ms)
        for name, log in self.logs.items():
            removed = log.compact(sim.now)
            if removed:
                sim.trace(self.name, "compacted", f"The log cleaner compacted {name} on {self.name}: "
                          f"{removed} record(s) replaced by newer values of their key, or deleted tombstones.",
                          log=name, removed=removed)

    # -- metadata and topics for clients -------------------------------------------------------------

    def handle_metadata(self, sim: Simulation, message: Message) -> None:
        topics = message.body.get("topics")
        known = self.metadata["topics"]
        errors = {}
        for topic in topics or []:
            if topic in known:
                continue
            if not legal_topic_name(topic):
                errors[topic] = code_of(InvalidTopicError)
            elif message.body.get("allow_auto_create") and self.settings.auto_create_topics_enable:
                self.ask_to_create(sim, topic, self.settings.num_partitions, self.settings.default_replication_factor)
                errors[topic] = code_of(LeaderNotAvailableError)
            else:
                errors[topic] = code_of(UnknownTopicOrPartitionError)
        chosen = {t: known[t] for t in (topics if topics is not None else known) if t in known}
        sim.send(self.name, message.src, "MetadataResponse", request=message.body["request"],
                 brokers=self.metadata["brokers"], controller=self.metadata["controller"], topics=chosen,
                 errors=errors)

    def ask_to_create(self, sim: Simulation, topic: str, partitions: int, replication: int,
                      configs: dict[str, Any] | None = None) -> None:
        """Auto-create a topic: ask the controller, as a broker does in ``AutoTopicCreationManager``."""
        asked = self.creating.get(topic)
        if (asked is not None and sim.now - asked < AUTO_CREATE_RETRY_MS) or self.controller_id < 0:
            return  # asked recently; a request lost with a dead controller is asked again later
        self.creating[topic] = sim.now
        sim.trace(self.name, "auto_create", f"{self.name} asks the controller to create topic {topic} "
                  f"(auto.create.topics.enable: {partitions} partition(s), replication factor {replication}).",
                  topic=topic)
        sim.send(self.name, broker_name(self.controller_id), "CreateTopics", request=0,
                 topics=[{"name": topic, "partitions": partitions,
                          "replication": min(replication, max(1, len(self.metadata["brokers"]))),
                          "configs": configs or {}}])

    def handle_create_topics_response(self, sim: Simulation, message: Message) -> None:
        """The answer to an auto-create; the topic arrives with the next UpdateMetadata."""

    def handle_list_offsets(self, sim: Simulation, message: Message) -> None:
        body = message.body
        name = log_name(body["topic"], body["partition"])
        hosted, log = self.hosted.get(name), self.logs.get(name)
        reply = {"request": body["request"], "topic": body["topic"], "partition": body["partition"]}
        if hosted is None or log is None or hosted.state is None:
            sim.send(self.name, message.src, "ListOffsetsResponse", **reply, offset=-1,
                     error=code_of(NotLeaderForPartitionError))
            return
        offset = log.log_start_offset if body["timestamp"] == -2 else log.high_watermark
        sim.send(self.name, message.src, "ListOffsetsResponse", **reply, offset=offset, error=0)

    # -- group coordination (see coordinator.py) -----------------------------------------------------

    def handle_find_coordinator(self, sim: Simulation, message: Message) -> None:
        coordinator.find(self, sim, message)

    def handle_join_group(self, sim: Simulation, message: Message) -> None:
        coordinator.join(self, sim, message)

    def handle_sync_group(self, sim: Simulation, message: Message) -> None:
        coordinator.sync(self, sim, message)

    def handle_heartbeat(self, sim: Simulation, message: Message) -> None:
        coordinator.heartbeat(self, sim, message)

    def handle_leave_group(self, sim: Simulation, message: Message) -> None:
        coordinator.leave(self, sim, message)

    def handle_offset_commit(self, sim: Simulation, message: Message) -> None:
        coordinator.commit(self, sim, message)

    def handle_offset_fetch(self, sim: Simulation, message: Message) -> None:
        coordinator.fetch_offsets(self, sim, message)

    def handle_describe_groups(self, sim: Simulation, message: Message) -> None:
        coordinator.describe(self, sim, message)

    def on_rebalance_deadline(self, sim: Simulation, group: str, token: int) -> None:
        coordinator.rebalance_deadline(self, sim, group, token)

    def on_member_expiry(self, sim: Simulation, group: str, member: str) -> None:
        coordinator.member_expiry(self, sim, group, member)

    # -- controller handlers (see controller.py) ----------------------------------------------------

    def handle_alter_partition(self, sim: Simulation, message: Message) -> None:
        ctl.alter_partition(self, sim, message)

    def handle_create_topics(self, sim: Simulation, message: Message) -> None:
        ctl.create_topics(self, sim, message)

    def handle_create_partitions(self, sim: Simulation, message: Message) -> None:
        ctl.create_partitions(self, sim, message)

    def handle_alter_configs(self, sim: Simulation, message: Message) -> None:
        ctl.alter_configs(self, sim, message)

    def topic_defaults(self) -> TopicConfig:
        s = self.settings
        return TopicConfig(LogConfig(segment_bytes=s.log_segment_bytes, retention_ms=s.log_retention_ms),
                           s.min_insync_replicas, s.unclean_leader_election_enable)

    def parse_config(self, given: dict[str, Any]) -> tuple[TopicConfig | None, str]:
        try:
            return parse_topic_config(given, self.topic_defaults()), ""
        except InvalidConfigurationError as error:
            return None, str(error)


def broker_name(broker_id: int) -> str:
    return f"b{broker_id}"


def broker_id_of(name: str) -> int:
    return int(name[1:])


def code_of(error: type[KafkaError] | None) -> int:
    return 0 if error is None else int(error.errno or -1)


def copy_record(record: Record) -> Record:
    """What a follower appends: the leader's record itself, except a tombstone, whose delete horizon
    each broker's cleaner sets on its own copy (records are never changed otherwise)."""
    return record if record.value is not None else replace(record)
