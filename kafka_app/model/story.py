"""The machines of the Kafka lab's stories, beside the brokers: services that
produce at a rate, a producer that remembers what became of its records (for
the page and a terminal), a consumer whose records go to a terminal, a lag
monitor, and a classic message queue to compare with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordlab.sim import Message, Node, Simulation, durable, serializable

from . import observe
from .checks import all_violations
from .consumer import ConsumerNode
from .errors import error_for
from .log import Record
from .producer import Outgoing, ProducerNode

OUTBOX_LIMIT = 200
KEY_MODES = {"none": "no key (spread by the sticky partitioner)", "uniform": "a random key per record",
             "hot": "one hot key in 4 of 5 records", "per-user": "the user id (one user's events stay in order)"}
LAG_SAMPLE_MS = 1_000
LAG_SAMPLES = 120
SAFETY_CHECK_MS = 2_000
VIOLATIONS_KEPT = 8
ORDER_WINDOW = 2_000  # records per log whose order the monitor checks


def text(data: bytes | None) -> str | None:
    return None if data is None else data.decode(errors="replace")


def keep(outbox: list[dict[str, Any]], start: int, item: dict[str, Any]) -> int:
    """Append to a bounded outbox; returns the new index of its first item."""
    outbox.append(item)
    if len(outbox) > OUTBOX_LIMIT:
        del outbox[: len(outbox) - OUTBOX_LIMIT]
        return start + 1
    return start


@serializable
@dataclass
class Publisher(ProducerNode):
    """A producer that keeps what became of its latest records: where each went and why."""

    outbox: list[dict[str, Any]] = field(default_factory=list)
    outbox_start: int = 0
    acked_by_topic: dict[str, int] = field(default_factory=dict)

    def finish(self, sim: Simulation, record: Outgoing, offset: int, error: int, timeout: bool = False) -> None:
        super().finish(sim, record, offset, error, timeout)
        self.results.pop(record.id, None)  # the outbox says it, for a bounded number of records
        if error == 0 and offset >= 0:
            self.acked_by_topic[record.topic] = self.acked_by_topic.get(record.topic, 0) + 1
        problem = "" if error == 0 else ("timed out" if timeout else error_for(error).__name__)
        self.outbox_start = keep(self.outbox, self.outbox_start, {
            "topic": record.topic, "partition": record.partition, "offset": offset, "key": text(record.key),
            "value": text(record.value), "headers": [[k, text(v)] for k, v in record.headers],
            "error": problem, "how": record.how, "acks": "all" if self.acks == -1 else str(self.acks),
            "time": sim.now})


@serializable
@dataclass
class Service(Publisher):
    """An application that produces ``rate`` records a second to ``topic`` (times ``boost``,
    the 10x load switch), keyed as ``keys`` says (see ``KEY_MODES``); or, with ``queue``
    set, sends them to that classic queue instead."""

    topic: str = durable("")
    rate: float = durable(0.0)
    keys: str = durable("none")
    users: int = durable(12)
    event: str = durable("event")
    boost: int = durable(1)
    tombstones: float = durable(0.0)  # the share of records that delete their key (a null value)
    queue: str = durable("")  # when set, send to this classic queue instead of Kafka
    made: int = durable(0)
    per_user: dict[str, int] = durable(default_factory=dict)
    budget: float = 0.0

    def start(self, sim: Simulation) -> None:
        super().start(sim)
        sim.set_timer(self.name, "generate", 100)

    def on_generate(self, sim: Simulation) -> None:
        sim.set_timer(self.name, "generate", 100)
        self.budget += self.rate * self.boost / 10
        while self.budget >= 1:
            self.budget -= 1
            self.emit(sim)

    def emit(self, sim: Simulation) -> None:
        self.made += 1
        user = f"user-{sim.rng.randrange(self.users) + 1}"
        if self.keys == "uniform":
            key: str | None = f"k{sim.rng.randrange(100_000)}"
        elif self.keys == "hot":
            key = user = "user-1" if sim.rng.random() < 0.8 else user
        elif self.keys == "per-user":
            key = user
        else:
            key = None
        self.per_user[user] = self.per_user.get(user, 0) + 1
        value = f"#{self.per_user[user]} {self.event}" if key == user else f"#{self.made} {self.event}"
        if self.queue:
            sim.send(self.name, self.queue, "Enqueue", value=value)
            return
        deleted = key is not None and self.tombstones > 0 and sim.rng.random() < self.tombstones
        self.send(sim, self.topic, None if deleted else value.encode(), None if key is None else key.encode())


@serializable
@dataclass
class TerminalConsumer(ConsumerNode):
    """A group member run from a learner's terminal: what it processes goes to the terminal."""

    outbox: list[dict[str, Any]] = field(default_factory=list)
    outbox_start: int = 0

    def take(self, sim: Simulation, limit: int) -> dict[str, list[Record]]:
        taken = super().take(sim, limit)
        for name, records in taken.items():
            topic, _, partition = name.rpartition("-")
            for record in records:
                self.outbox_start = keep(self.outbox, self.outbox_start, {
                    "topic": topic, "partition": int(partition), "offset": record.offset,
                    "key": text(record.key), "value": text(record.value), "timestamp": record.timestamp})
        return taken


@serializable
@dataclass
class LagMonitor(Node):
    """Samples each group's lag every second, as a monitoring tool would (Burrow, or
    ``kafka-consumer-groups --describe`` in a loop): the high watermark minus the
    committed offset, summed over the partitions of the group's topics."""

    samples: dict[str, list[tuple[int, int]]] = durable(default_factory=dict)

    def start(self, sim: Simulation) -> None:
        sim.set_timer(self.name, "sample", LAG_SAMPLE_MS)

    def on_sample(self, sim: Simulation) -> None:
        sim.set_timer(self.name, "sample", LAG_SAMPLE_MS)
        state, _ = observe.view(sim)
        for group, topics in groups_of(sim).items():
            committed = observe.group_state(sim, group)["offsets"]
            lag = 0
            for topic in topics:
                info = state.topics.get(topic)
                for partition in info.assignment if info else ():
                    ends = observe.partition_state(sim, state, topic, int(partition))
                    lag += max(0, ends["high_watermark"] - committed.get(f"{topic}-{partition}",
                                                                         ends["log_start_offset"]))
            series = self.samples.setdefault(group, [])
            series.append((sim.now, lag))
            del series[:-LAG_SAMPLES]


@serializable
@dataclass
class SafetyMonitor(Node):
    """Runs the invariant checkers every two seconds and keeps what they found: a violation
    stays on the badge after the evidence for it has scrolled out of the checkers' window
    (for the order of records, each log's latest ``ORDER_WINDOW``: many more than two seconds
    bring even at 10x load)."""

    violations: list[str] = durable(default_factory=list)

    def start(self, sim: Simulation) -> None:
        sim.set_timer(self.name, "check", SAFETY_CHECK_MS)

    def on_check(self, sim: Simulation) -> None:
        sim.set_timer(self.name, "check", SAFETY_CHECK_MS)
        for sentence in all_violations(sim, sim.trace_log.events, ORDER_WINDOW):
            if sentence not in self.violations:
                self.violations.append(sentence)
                sim.trace(self.name, "violation", f"Safety violated: {sentence}.")
        del self.violations[VIOLATIONS_KEPT:]


def groups_of(sim: Simulation) -> dict[str, list[str]]:
    """Every consumer group of the lab and the topics its members subscribe to, in order of appearance."""
    groups: dict[str, list[str]] = {}
    for node in sim.nodes.values():
        if isinstance(node, ConsumerNode) and node.group_id:
            topics = groups.setdefault(node.group_id, [])
            topics.extend(t for t in node.subscription if t not in topics)
    return groups


@serializable
@dataclass
class ClassicQueue(Node):
    """A classic message queue (as RabbitMQ's default work queue behaves): each message
    goes to one consumer only, and is deleted once that consumer has it."""

    messages: list[str] = durable(default_factory=list)
    received: int = durable(0)
    handed: dict[str, int] = durable(default_factory=dict)  # consumer → messages it got

    def handle_enqueue(self, sim: Simulation, message: Message) -> None:
        self.messages.append(message.body["value"])
        self.received += 1

    def handle_pull(self, sim: Simulation, message: Message) -> None:
        if not self.messages:
            sim.send(self.name, message.src, "Empty")
            return
        value = self.messages.pop(0)
        self.handed[message.src] = self.handed.get(message.src, 0) + 1
        sim.send(self.name, message.src, "Deliver", value=value)
        sim.trace(self.name, "queue_deliver", f"The queue hands “{value}” to {message.src} only, and deletes it.",
                  consumer=message.src)


@serializable
@dataclass
class QueueWorker(Node):
    """A service reading a classic queue: it pulls one message at a time."""

    queue: str = durable("queue")
    every_ms: int = durable(500)
    got: list[str] = durable(default_factory=list)

    def start(self, sim: Simulation) -> None:
        sim.set_timer(self.name, "pull", self.every_ms)

    def on_pull(self, sim: Simulation) -> None:
        sim.send(self.name, self.queue, "Pull")

    def handle_deliver(self, sim: Simulation, message: Message) -> None:
        self.got.append(message.body["value"])
        del self.got[:-20]
        sim.set_timer(self.name, "pull", self.every_ms)

    def handle_empty(self, sim: Simulation, message: Message) -> None:
        sim.set_timer(self.name, "pull", self.every_ms)

    def undelivered(self, sim: Simulation, message: Message, refused: bool) -> None:
        if message.kind == "Pull":
            sim.set_timer(self.name, "pull", self.every_ms)
