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
HEARTBEAT_MS = 5_000  # a queue consumer's heartbeat when it has sent nothing else
HEARTBEAT_TIMEOUT_MS = 2 * HEARTBEAT_MS + 1_000  # two missed: the queue drops it (as RabbitMQ does)
RESUBSCRIBE_MS = 1_000


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
    """A classic message queue, as RabbitMQ's work queue behaves with ``basic.qos``: each
    consumer subscribes (``basic.consume``) with a prefetch count, the most messages it may
    hold unacknowledged. The queue pushes each message to ONE consumer, taking its consumers
    in turn (round-robin) and skipping those whose prefetch is used up, so the work is shared
    evenly among those free to take it. A message is deleted once its consumer acknowledges it;
    if the consumer's connection breaks first (a delivery lost, a new subscription, missed
    heartbeats), its unacknowledged messages go back to the head of the queue for the others."""

    messages: list[str] = durable(default_factory=list)
    received: int = durable(0)
    handed: dict[str, int] = durable(default_factory=dict)  # consumer → messages delivered to it
    deleted: int = durable(0)  # acknowledged, so gone
    unacked: dict[str, list[tuple[int, str]]] = durable(default_factory=dict)  # consumer → (tag, message)
    next_tag: int = durable(1)
    # connections: gone with a crash, as the consumers' TCP connections are
    consumers: list[str] = field(default_factory=list)  # the next in turn first
    connection: dict[str, str] = field(default_factory=dict)  # consumer → its current connection
    prefetch: dict[str, int] = field(default_factory=dict)
    last_heard: dict[str, int] = field(default_factory=dict)

    def start(self, sim: Simulation) -> None:
        # messages delivered but not acknowledged before a crash are delivered again
        held = sorted(pair for pairs in self.unacked.values() for pair in pairs)
        self.messages[:0] = [value for _, value in held]
        self.unacked = {}
        sim.set_timer(self.name, "check", HEARTBEAT_MS)

    def handle_enqueue(self, sim: Simulation, message: Message) -> None:
        self.messages.append(message.body["value"])
        self.received += 1
        self.dispatch(sim)

    def handle_consume(self, sim: Simulation, message: Message) -> None:
        consumer = message.src
        if consumer in self.consumers:  # it reconnected: its old connection, and what it held, are gone
            self.drop(sim, consumer, "subscribed again")
        self.consumers.append(consumer)
        self.connection[consumer] = message.body["connection"]
        self.prefetch[consumer] = max(1, int(message.body["prefetch"]))
        self.last_heard[consumer] = sim.now
        sim.trace(self.name, "queue_consume", f"{consumer} subscribes to the queue with prefetch "
                  f"{self.prefetch[consumer]}: it is sent at most that many messages before it acknowledges them.",
                  consumer=consumer)
        self.dispatch(sim)

    def handle_ack(self, sim: Simulation, message: Message) -> None:
        if not self.heard(sim, message.src):
            return
        tag = message.body["tag"]
        held = self.unacked.get(message.src, [])
        self.unacked[message.src] = [pair for pair in held if pair[0] != tag]
        self.deleted += len(held) - len(self.unacked[message.src])
        self.dispatch(sim)

    def handle_heartbeat(self, sim: Simulation, message: Message) -> None:
        self.heard(sim, message.src)

    def heard(self, sim: Simulation, consumer: str) -> bool:
        """Note that ``consumer`` is alive; False (and it is told so) if it is not subscribed."""
        if consumer not in self.consumers:
            sim.send(self.name, consumer, "Closed")
            return False
        self.last_heard[consumer] = sim.now
        return True

    def credit(self, consumer: str) -> int:
        return self.prefetch[consumer] - len(self.unacked.get(consumer, []))

    def dispatch(self, sim: Simulation) -> None:
        """Hand out waiting messages: each to the next consumer in turn that has room for it."""
        while self.messages:
            consumer = next((c for c in self.consumers if self.credit(c) > 0), None)
            if consumer is None:
                return
            self.consumers.remove(consumer)
            self.consumers.append(consumer)  # to the back of the line
            value = self.messages.pop(0)
            tag = self.next_tag
            self.next_tag += 1
            self.unacked.setdefault(consumer, []).append((tag, value))
            self.handed[consumer] = self.handed.get(consumer, 0) + 1
            sim.send(self.name, consumer, "Deliver", tag=tag, value=value, connection=self.connection[consumer])
            sim.trace(self.name, "queue_deliver", f"The queue hands “{value}” to {consumer} only (its turn); "
                      "it deletes it once acknowledged.", consumer=consumer)

    def drop(self, sim: Simulation, consumer: str, why: str) -> None:
        """Forget a consumer whose connection broke; what it held goes back to the head of the queue."""
        held = self.unacked.pop(consumer, [])
        self.messages[:0] = [value for _, value in held]
        if consumer in self.consumers:
            self.consumers.remove(consumer)
        self.connection.pop(consumer, None)
        self.prefetch.pop(consumer, None)
        self.last_heard.pop(consumer, None)
        sim.trace(self.name, "queue_drop", f"The queue drops {consumer} ({why})"
                  + (f" and puts back the {len(held)} message(s) it had not acknowledged." if held else "."),
                  consumer=consumer)
        self.dispatch(sim)

    def on_check(self, sim: Simulation) -> None:
        sim.set_timer(self.name, "check", HEARTBEAT_MS)
        for consumer in list(self.consumers):
            if sim.now - self.last_heard[consumer] > HEARTBEAT_TIMEOUT_MS:
                self.drop(sim, consumer, "no heartbeat")

    def connected_to(self, peer: str) -> bool:
        return peer in self.consumers

    def handle_connection_closed(self, sim: Simulation, message: Message) -> None:
        """A consumer's process was killed: its connection closed, so it is dropped at once."""
        if message.src in self.consumers:
            self.drop(sim, message.src, "its process was killed: its connection closed")

    def undelivered(self, sim: Simulation, message: Message, refused: bool) -> None:
        # (a delivery to a connection the consumer has already replaced says nothing about the new one)
        if message.kind == "Deliver" and self.connection.get(message.dst) == message.body["connection"]:
            self.drop(sim, message.dst, "its connection broke")


@serializable
@dataclass
class QueueWorker(Node):
    """A service reading a classic queue as a RabbitMQ consumer does: it subscribes with a
    prefetch count, handles the messages pushed to it one at a time (``every_ms`` each), and
    acknowledges each when done, which lets the queue send it another. It sends a heartbeat
    when it has sent nothing for a while, and subscribes again when its connection breaks."""

    queue: str = durable("queue")
    every_ms: int = durable(500)
    prefetch: int = durable(1)
    got: list[str] = durable(default_factory=list)
    inbox: list[tuple[int, str]] = field(default_factory=list)  # delivered, not yet acknowledged
    busy: bool = False
    subscriptions: int = 0
    last_sent: int = 0
    resubscribing: bool = False

    def start(self, sim: Simulation) -> None:
        self.subscribe(sim)
        sim.set_timer(self.name, "heartbeat", HEARTBEAT_MS)

    def subscribe(self, sim: Simulation) -> None:
        self.subscriptions += 1
        self.tell(sim, "Consume", prefetch=self.prefetch, connection=f"{self.incarnation}.{self.subscriptions}")

    def tell(self, sim: Simulation, kind: str, **body: Any) -> None:
        self.last_sent = sim.now
        sim.send(self.name, self.queue, kind, **body)

    def handle_deliver(self, sim: Simulation, message: Message) -> None:
        self.inbox.append((message.body["tag"], message.body["value"]))
        if not self.busy:
            self.work(sim)

    def work(self, sim: Simulation) -> None:
        self.busy = bool(self.inbox)
        if self.busy:
            sim.set_timer(self.name, "done", self.every_ms)

    def on_done(self, sim: Simulation) -> None:
        if self.inbox:
            tag, value = self.inbox.pop(0)
            self.got.append(value)
            del self.got[:-20]
            self.tell(sim, "Ack", tag=tag)
        self.work(sim)

    def on_heartbeat(self, sim: Simulation) -> None:
        sim.set_timer(self.name, "heartbeat", HEARTBEAT_MS)
        if sim.now - self.last_sent >= HEARTBEAT_MS:
            self.tell(sim, "Heartbeat")

    def handle_closed(self, sim: Simulation, message: Message) -> None:
        self.reconnect(sim)

    def undelivered(self, sim: Simulation, message: Message, refused: bool) -> None:
        if message.dst == self.queue:
            self.reconnect(sim)

    def connected_to(self, peer: str) -> bool:
        return peer == self.queue

    def handle_connection_closed(self, sim: Simulation, message: Message) -> None:
        if message.src == self.queue:
            self.reconnect(sim)

    def reconnect(self, sim: Simulation) -> None:
        """The connection to the queue broke: what it held goes back to the queue; subscribe anew."""
        self.inbox = []
        if not self.resubscribing:
            self.resubscribing = True
            sim.set_timer(self.name, "resubscribe", RESUBSCRIBE_MS)

    def on_resubscribe(self, sim: Simulation) -> None:
        self.resubscribing = False
        self.subscribe(sim)
