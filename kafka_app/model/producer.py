"""The producer (``KafkaProducer``), as a simulated machine.

A record's partition: the one it names, else ``toPositive(murmur2(key)) %
partitions`` for a key, else the sticky partition, which changes to another
partition with a leader, at random, after ``batch.size`` bytes. Records wait
in a queue per partition; one produce request per partition is in flight at a
time, carrying what has queued up to ``batch.size`` (after ``linger.ms`` if
set). A failed batch is retried as it was sent: the same records with the
same sequence numbers, records queued since going into later batches. Every
record carries the producer id and a sequence number per partition, so the
leader answers a retried batch it already has with its offsets (idempotence).

acks=0 counts a record sent as done (offset -1). acks=1 waits for the
leader's append, acks=all for the high watermark. Retriable errors
(NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS, timeouts, a refused connection)
refresh the metadata and retry after ``retry.backoff.ms``, until
``delivery.timeout.ms`` has passed since the send. Defaults are Kafka 3.x's
(acks=all, idempotence on).

Simplified: one request in flight per partition (Kafka allows five with
idempotence); the buffer is never full.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coordlab.sim import Message, Simulation, durable, serializable

from .client import CONNECTION_FAILED, NETWORK_EXCEPTION, ClientNode, InFlight
from .errors import error_for
from .log import RECORD_OVERHEAD
from .partitioner import murmur2, to_positive

RETRIABLE = {3, 5, 6, 7, 13, 19, 20, 74, CONNECTION_FAILED}
RETRY_BACKOFF_MAX_MS = 1_000
EVIDENCE_LIMIT = 20_000


@serializable
@dataclass
class Outgoing:
    """A record the application sent and has no answer for yet."""

    id: int
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp: int
    created: int
    partition: int = -1
    sequence: int = -1
    attempts: int = 0
    how: str = ""  # how its partition was chosen, for people
    last_error: str = ""  # the retriable error its latest attempt got (Kafka's name for it)

    @property
    def size(self) -> int:
        return RECORD_OVERHEAD + len(self.key or b"") + len(self.value or b"")


@serializable
@dataclass
class Result:
    """What happened to a sent record: its partition and offset, or the error code."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    error: int
    key_size: int
    value_size: int
    how: str = ""


@serializable
@dataclass
class ProducerNode(ClientNode):
    acks: int = durable(-1)
    linger_ms: int = durable(0)
    batch_size: int = durable(16_384)
    retries: int = durable(2_147_483_647)
    delivery_timeout_ms: int = durable(120_000)
    max_block_ms: int = durable(60_000)
    producer_id: int = durable(-1)
    keep_results: bool = durable(True)
    evidence_limit: int = durable(EVIDENCE_LIMIT)  # acknowledged records kept for the checkers
    next_id: int = 1
    waiting: list[int] = field(default_factory=list)  # records waiting for their topic's metadata
    outgoing: dict[int, Outgoing] = field(default_factory=dict)
    queues: dict[str, list[int]] = field(default_factory=dict)  # "topic-p" → record ids, oldest first
    busy: dict[str, int] = field(default_factory=dict)  # "topic-p" → the produce request in flight
    lingering: dict[str, bool] = field(default_factory=dict)
    backoff: dict[str, int] = field(default_factory=dict)  # "topic-p" → no retry before this time
    sequences: dict[str, int] = field(default_factory=dict)
    sticky: dict[str, list[int]] = field(default_factory=dict)  # topic → [partition, bytes since it was chosen]
    results: dict[int, Result] = field(default_factory=dict)
    acked: list[tuple[str, int, int, int, int]] = field(default_factory=list)  # (topic, p, offset, pid, seq)
    sent_count: int = 0
    acked_count: int = 0
    failed_count: int = 0
    retried: dict[str, int] = field(default_factory=dict)  # error name → batches retried after it

    def start(self, sim: Simulation) -> None:
        if self.wanted:
            self.refresh_metadata(sim)

    # -- sending --------------------------------------------------------------------------------------

    def send(self, sim: Simulation, topic: str, value: bytes | None, key: bytes | None = None,
             headers: list[tuple[str, bytes]] | None = None, partition: int | None = None,
             timestamp: int | None = None) -> int:
        record_id = self.next_id
        self.next_id += 1
        self.sent_count += 1
        record = Outgoing(record_id, topic, key, value, list(headers or []),
                          sim.now if timestamp is None else timestamp, sim.now, -1 if partition is None else partition)
        self.outgoing[record_id] = record
        if self.partition_count(topic):
            self.place(sim, record)
        else:
            self.waiting.append(record_id)
            self.want(sim, [topic])
            sim.set_timer(self.name, "metadata_wait", self.max_block_ms, record=record_id)
        return record_id

    def place(self, sim: Simulation, record: Outgoing) -> None:
        count = self.partition_count(record.topic)
        if record.partition >= 0:
            if record.partition >= count:
                self.finish(sim, record, -1, 3)  # UNKNOWN_TOPIC_OR_PARTITION
                return
            record.how = f"partition {record.partition} was given"
        elif record.key is not None:
            hashed = murmur2(record.key)
            record.partition = to_positive(hashed) % count
            if self.keep_results:
                record.how = (f"murmur2(key) = {hashed}, toPositive = {to_positive(hashed)}, "
                              f"% {count} partitions = {record.partition}")
        else:
            record.partition = self.sticky_partition(sim, record)
            record.how = f"no key: the sticky partition {record.partition}"
        name = f"{record.topic}-{record.partition}"
        self.queues.setdefault(name, []).append(record.id)
        self.drain(sim, name)

    def sticky_partition(self, sim: Simulation, record: Outgoing) -> int:
        """``BuiltInPartitioner``: stay on one partition until batch.size bytes went to it."""
        current = self.sticky.get(record.topic)
        if current is None or current[1] >= self.batch_size:
            count = self.partition_count(record.topic)
            available = [p for p in range(count) if self.leader_of(record.topic, p) >= 0] or list(range(count))
            if current is not None and len(available) > 1 and current[0] in available:
                available.remove(current[0])
            current = [available[sim.rng.randrange(len(available))], 0]
            self.sticky[record.topic] = current
        current[1] += record.size
        return current[0]

    def drain(self, sim: Simulation, name: str) -> None:
        """Send the next batch of a partition if nothing is in flight for it."""
        queue = self.queues.get(name)
        if not queue or name in self.busy or self.lingering.get(name) or self.backoff.get(name, 0) > sim.now:
            return
        first = self.outgoing[queue[0]]
        leader = self.leader_of(first.topic, first.partition)
        if leader < 0:
            self.refresh_metadata(sim)
            return
        batch, size = self.next_batch(queue)
        age = sim.now - first.created
        if self.linger_ms and age < self.linger_ms and size < self.batch_size and first.sequence < 0:
            self.lingering[name] = True
            sim.set_timer(self.name, "linger", self.linger_ms - age, partition=name)
            return
        for record in batch:
            if record.sequence < 0:  # sequence numbers are given once, on a batch's first send
                record.sequence = self.sequences.get(name, 0)
                self.sequences[name] = record.sequence + 1
        records = [{"key": r.key, "value": r.value, "headers": r.headers, "timestamp": r.timestamp,
                    "producer_id": self.producer_id, "sequence": r.sequence} for r in batch]
        body = {"topic": first.topic, "partition": first.partition, "acks": self.acks,
                "timeout_ms": self.request_timeout_ms, "records": records}
        if self.acks == 0:
            sim.send(self.name, f"b{leader}", "Produce", request=0, **body)
            for record in batch:
                queue.remove(record.id)
                self.finish(sim, record, -1, 0)
            self.drain(sim, name)
            return
        request = self.request(sim, f"b{leader}", "Produce", **body)
        self.in_flight[request].body = {"ids": [r.id for r in batch], "name": name}
        self.busy[name] = request

    def next_batch(self, queue: list[int]) -> tuple[list[Outgoing], int]:
        """The batch to send from the front of a partition's queue, and its size in bytes. A batch
        sent before is sent again unchanged (``RecordAccumulator.reenqueue`` puts the same
        ``ProducerBatch`` back at the front): its records are the ones that already have sequence
        numbers, since they are given on the first send and only one batch is in flight at a time.
        Otherwise, what has queued, up to ``batch.size``."""
        retry = self.outgoing[queue[0]].sequence >= 0
        batch: list[Outgoing] = []
        size = 0
        for record_id in queue:
            record = self.outgoing[record_id]
            if (record.sequence < 0) if retry else (batch and size + record.size > self.batch_size):
                break
            batch.append(record)
            size += record.size
        return batch, size

    def on_linger(self, sim: Simulation, partition: str) -> None:
        name = partition
        self.lingering.pop(name, None)
        queue = self.queues.get(name)
        if queue:
            self.outgoing[queue[0]].created = min(self.outgoing[queue[0]].created, sim.now - self.linger_ms)
        self.drain(sim, name)

    def on_metadata_wait(self, sim: Simulation, record: int) -> None:
        if record in self.waiting:
            self.waiting.remove(record)
            self.finish(sim, self.outgoing[record], -1, -1, timeout=True)

    # -- answers ------------------------------------------------------------------------------------------

    def handle_produce_response(self, sim: Simulation, message: Message) -> None:
        flight = self.answered(message)
        if flight is None:
            return
        body = message.body
        name = flight.body["name"]
        self.busy.pop(name, None)
        if body["error"] == 0:
            queue = self.queues[name]
            for index, record_id in enumerate(flight.body["ids"]):
                queue.remove(record_id)
                self.finish(sim, self.outgoing[record_id], body["base_offset"] + index, 0)
            self.drain(sim, name)
        else:
            self.retry_or_fail(sim, name, flight.body["ids"], body["error"], message.src)

    def request_failed(self, sim: Simulation, request: int, flight: InFlight, code: int) -> None:
        if flight.kind == "Produce":
            name = flight.body["name"]
            if self.busy.get(name) == request:
                del self.busy[name]
                self.retry_or_fail(sim, name, flight.body["ids"], code, flight.broker)

    def retry_or_fail(self, sim: Simulation, name: str, ids: list[int], code: int, broker: str) -> None:
        records = [self.outgoing[i] for i in ids]
        expired = sim.now - records[0].created >= self.delivery_timeout_ms
        records[0].attempts += 1
        if code in RETRIABLE and not expired and records[0].attempts <= self.retries:
            error = "CONNECTION_REFUSED" if code == CONNECTION_FAILED else error_for(code).message
            self.retried[error] = self.retried.get(error, 0) + 1
            for record in records:
                record.last_error = error
            if records[0].attempts == 1:
                what = {CONNECTION_FAILED: "its connection was refused",
                        NETWORK_EXCEPTION: "NETWORK_EXCEPTION: its connection closed"}.get(code, error)
                sim.trace(self.name, "retry", f"{self.name}'s batch for {name} failed at {broker} ({what}): "
                          "it refreshes its metadata and retries.", partition=name, error=code)
            self.refresh_metadata(sim)
            # retry.backoff.ms, doubling up to retry.backoff.max.ms (1 s), as Kafka 3.7 does
            delay = min(RETRY_BACKOFF_MAX_MS, self.retry_backoff_ms * 2 ** min(records[0].attempts - 1, 10))
            self.backoff[name] = sim.now + delay
            sim.set_timer(self.name, "retry", delay, partition=name)
            return
        queue = self.queues[name]
        for record in records:
            queue.remove(record.id)
            self.finish(sim, record, -1, code, timeout=expired)
        self.drain(sim, name)

    def on_retry(self, sim: Simulation, partition: str) -> None:
        name = partition
        self.drain(sim, name)

    def on_metadata(self, sim: Simulation, errors: dict[str, int]) -> None:
        for record_id in list(self.waiting):
            record = self.outgoing[record_id]
            if self.partition_count(record.topic):
                self.waiting.remove(record_id)
                self.place(sim, record)
            elif record.topic in errors and errors[record.topic] not in (3, 5):
                self.waiting.remove(record_id)
                self.finish(sim, record, -1, errors[record.topic])
        for name in list(self.queues):
            self.drain(sim, name)

    def finish(self, sim: Simulation, record: Outgoing, offset: int, error: int, timeout: bool = False) -> None:
        del self.outgoing[record.id]
        if error == 0:
            self.acked_count += 1
            if offset >= 0:
                self.acked.append((record.topic, record.partition, offset, self.producer_id, record.sequence))
                if len(self.acked) > self.evidence_limit:
                    del self.acked[: self.evidence_limit // 2]
        else:
            self.failed_count += 1
        if self.keep_results:
            self.results[record.id] = Result(record.topic, record.partition, offset, record.timestamp,
                                             -1 if timeout else error, len(record.key or b""),
                                             len(record.value or b""), record.how)
