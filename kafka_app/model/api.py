"""Clients shaped like kafka-python's, driving the simulation.

``KafkaProducer``, ``KafkaConsumer`` and ``KafkaAdminClient`` take the same
config names as kafka-python and raise its error classes. A synchronous call
(``future.get``, ``poll``, ``commit``, ``create_topics``...) runs the
simulation until it completes or its timeout passes in virtual time, then
raises ``KafkaTimeoutError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from .consumer import ConsumerNode
from .errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaError,
    KafkaTimeoutError,
    NoOffsetForPartitionError,
    error_for,
)
from .producer import ProducerNode
from .records import (
    ConsumerRecord,
    NewTopic,
    OffsetAndMetadata,
    RecordMetadata,
    TopicPartition,
    log_name,
    split_log_name,
)

if TYPE_CHECKING:
    from .admin import AdminNode
    from .cluster import Cluster

Serializer = Callable[[Any], bytes] | None


def raise_for(code: int, what: str) -> None:
    if code == -1:
        raise KafkaTimeoutError(f"{what}: no answer in time")
    if code:
        cls = error_for(code)
        raise cls(f"{what}: {cls.message if cls is not KafkaError else code}")


class FutureRecordMetadata:
    """What ``send`` returns; ``get`` runs the cluster until the record is acknowledged."""

    def __init__(self, producer: KafkaProducer, record_id: int) -> None:
        self.producer, self.record_id = producer, record_id

    def is_done(self) -> bool:
        return self.record_id in self.producer.node.results

    @property
    def how(self) -> str:
        """How the partition was chosen (the hash and the modulo, for a key)."""
        result = self.producer.node.results.get(self.record_id)
        return result.how if result else ""

    def get(self, timeout: float | None = None) -> RecordMetadata:
        cluster = self.producer.cluster
        seconds = timeout if timeout is not None else self.producer.node.delivery_timeout_ms / 1000 + 1
        if not cluster.run_until(self.is_done, seconds):
            raise KafkaTimeoutError(f"the record was not acknowledged within {seconds:g} s")
        result = self.producer.node.results[self.record_id]
        raise_for(result.error, "send failed")
        return RecordMetadata(result.topic, result.partition, TopicPartition(result.topic, result.partition),
                              result.offset, result.timestamp, result.key_size, result.value_size)


class KafkaProducer:
    def __init__(self, cluster: Cluster, name: str, key_serializer: Serializer = None,
                 value_serializer: Serializer = None) -> None:
        self.cluster, self.name = cluster, name
        self.key_serializer, self.value_serializer = key_serializer, value_serializer

    @property
    def node(self) -> ProducerNode:
        node = self.cluster.sim.nodes[self.name]
        assert isinstance(node, ProducerNode)
        return node

    def send(self, topic: str, value: Any = None, key: Any = None, headers: list[tuple[str, bytes]] | None = None,
             partition: int | None = None, timestamp_ms: int | None = None) -> FutureRecordMetadata:
        if value is None and key is None:
            raise ValueError("Need at least one: key or value")
        key_bytes = self.key_serializer(key) if self.key_serializer and key is not None else key
        value_bytes = self.value_serializer(value) if self.value_serializer and value is not None else value
        for label, data in (("key", key_bytes), ("value", value_bytes)):
            if data is not None and not isinstance(data, (bytes, bytearray)):
                raise TypeError(f"the {label} must be bytes (or give a {label}_serializer), not "
                                f"{type(data).__name__}")
        for header in headers or []:
            if not (isinstance(header, tuple) and len(header) == 2 and isinstance(header[0], str)
                    and isinstance(header[1], bytes)):
                raise TypeError("headers are a list of (str, bytes) pairs")
        record_id = self.node.send(self.cluster.sim, topic, None if value_bytes is None else bytes(value_bytes),
                                   None if key_bytes is None else bytes(key_bytes), headers, partition, timestamp_ms)
        return FutureRecordMetadata(self, record_id)

    def flush(self, timeout: float | None = None) -> None:
        node = self.node
        if not self.cluster.run_until(lambda: not node.outgoing, timeout or 120):
            raise KafkaTimeoutError("flush did not complete in time")

    def partitions_for(self, topic: str) -> set[int]:
        self.node.want(self.cluster.sim, [topic])
        self.cluster.run_until(lambda: bool(self.node.partition_count(topic)), self.node.max_block_ms / 1000)
        return set(range(self.node.partition_count(topic)))

    def close(self, timeout: float | None = None) -> None:
        self.flush(timeout)


class KafkaConsumer:
    def __init__(self, cluster: Cluster, name: str, value_deserializer: Callable[[bytes], Any] | None = None,
                 key_deserializer: Callable[[bytes], Any] | None = None) -> None:
        self.cluster, self.name = cluster, name
        self.key_deserializer, self.value_deserializer = key_deserializer, value_deserializer

    @property
    def node(self) -> ConsumerNode:
        node = self.cluster.sim.nodes[self.name]
        assert isinstance(node, ConsumerNode)
        return node

    def check(self) -> None:
        node = self.node
        if node.phase == "failed":
            if node.error == -3:
                raise NoOffsetForPartitionError("no committed offset and auto_offset_reset is 'none'")
            raise_for(node.error, "the consumer stopped")

    def poll(self, timeout_ms: int = 0, max_records: int | None = None,
             update_offsets: bool = True) -> dict[TopicPartition, list[ConsumerRecord]]:
        node = self.node
        limit = max_records or node.max_poll_records
        self.cluster.run_until(lambda: any(node.buffer.get(n) for n in node.assignment) or node.phase == "failed",
                               timeout_ms / 1000)
        self.check()
        taken = self.node.take(self.cluster.sim, limit)
        return {TopicPartition(*split_log_name(name)): [self.record(name, r) for r in records]
                for name, records in taken.items()}

    def record(self, name: str, r: Any) -> ConsumerRecord:
        topic, partition = split_log_name(name)
        key = self.key_deserializer(r.key) if self.key_deserializer and r.key is not None else r.key
        value = self.value_deserializer(r.value) if self.value_deserializer and r.value is not None else r.value
        return ConsumerRecord(topic, partition, r.offset, r.timestamp, key, value, list(r.headers))

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(*split_log_name(n)) for n in self.node.assignment}

    def subscription(self) -> set[str]:
        return set(self.node.subscription)

    def position(self, partition: TopicPartition) -> int:
        name = log_name(*partition)
        if name not in self.node.assignment:
            raise IllegalStateError(f"{name} is not assigned to this consumer")
        self.cluster.run_until(lambda: name in self.node.positions, 30)
        if name not in self.node.positions:
            raise KafkaTimeoutError(f"no position for {name} in time")
        return self.node.positions[name]

    def committed(self, partition: TopicPartition) -> int | None:
        node = self.node
        ticket = self.cluster.admin_node().ask(self.cluster.sim, "OffsetFetch", to=f"group:{node.group_id}",
                                               group=node.group_id, partitions=[log_name(*partition)])
        body = self.cluster.wait_admin(ticket, 30)
        offset = body.get("offsets", {}).get(log_name(*partition), -1)
        return None if offset < 0 else offset

    def seek(self, partition: TopicPartition, offset: int) -> None:
        name = log_name(*partition)
        if name not in self.node.assignment:
            raise IllegalStateError(f"No current assignment for partition {name}")
        if offset < 0:
            raise ValueError("the offset must be 0 or more")
        self.node.seek(name, offset)
        self.cluster.sim.trace(self.name, "seek", f"{self.name} moves its position on {name} to offset {offset}.",
                               partition=name, offset=offset)
        self.node.fetch(self.cluster.sim)

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        self.seek_to("earliest", partitions)

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        self.seek_to("latest", partitions)

    def seek_to(self, where: str, partitions: tuple[TopicPartition, ...]) -> None:
        """Ask each partition's leader for its log start or end (ListOffsets) and move there."""
        node = self.node
        names = [log_name(*tp) for tp in partitions] or list(node.assignment)
        for name in names:
            if name not in node.assignment:
                raise IllegalStateError(f"No current assignment for partition {name}")
            end = "beginning" if where == "earliest" else "end"
            node.reset(self.cluster.sim, name, f"the learner asked for the {end}", where)
            if name not in node.resets:
                node.resets.append(name)
        if not self.cluster.run_until(lambda: all(n in self.node.positions for n in names), 30):
            raise KafkaTimeoutError("the partitions' offsets did not arrive in time")

    def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata | int] | None = None) -> None:
        node = self.node
        if not node.group_id:
            raise IllegalStateError("commit needs a group_id")
        wanted = None if offsets is None else {
            log_name(*tp): (o.offset if isinstance(o, OffsetAndMetadata) else int(o)) for tp, o in offsets.items()}
        request = node.commit_positions(self.cluster.sim, wanted)
        if not request:
            return
        self.cluster.run_until(lambda: request in self.node.commit_results, 30)
        code = self.node.commit_results.get(request, -1)
        if code in (22, 25, 27):
            raise CommitFailedError("Commit cannot be completed since the group has already rebalanced and "
                                    "assigned the partitions to another member.")
        raise_for(code, "commit failed")

    def pause(self, *partitions: TopicPartition) -> None:
        self.node.paused = True

    def resume(self, *partitions: TopicPartition) -> None:
        self.node.paused = False
        self.node.fetch(self.cluster.sim)

    def close(self, autocommit: bool = True) -> None:
        node = self.node
        node.close(self.cluster.sim, autocommit)
        self.cluster.run_until(lambda: not self.node.leave_request, 5)


class KafkaAdminClient:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    @property
    def node(self) -> AdminNode:
        return self.cluster.admin_node()

    def call(self, kind: str, timeout_ms: int, **body: Any) -> dict[str, Any]:
        ticket = self.node.ask(self.cluster.sim, kind, **body)
        return self.cluster.wait_admin(ticket, timeout_ms / 1000)

    def create_topics(self, new_topics: Iterable[NewTopic], timeout_ms: int = 30_000,
                      validate_only: bool = False) -> dict[str, Any]:
        specs = [{"name": t.name, "partitions": t.num_partitions, "replication": t.replication_factor,
                  "configs": {k: str(v) for k, v in t.topic_configs.items()}} for t in new_topics]
        body = self.call("CreateTopics", timeout_ms, topics=specs, validate_only=validate_only)
        for name, (code, message) in body["errors"].items():
            if code:
                raise error_for(code)(message or f"creating {name} failed")
        names = [str(spec["name"]) for spec in specs]
        if not validate_only:
            self.cluster.run_until(lambda: all(self.cluster.has_leaders(n) for n in names), timeout_ms / 1000)
        return {"topic_errors": [(name, 0, None) for name in names]}

    def create_partitions(self, topic_partitions: dict[str, Any], timeout_ms: int = 30_000) -> None:
        for topic, new in topic_partitions.items():
            total = new.total_count if hasattr(new, "total_count") else int(new)
            body = self.call("CreatePartitions", timeout_ms, topic=topic, total=total)
            raise_for(body["error"], body.get("message") or "create_partitions failed")
            self.cluster.run_until(partial(self.cluster.has_leaders, topic), timeout_ms / 1000)

    def alter_configs(self, topic: str, configs: dict[str, Any], timeout_ms: int = 30_000) -> None:
        """Change a topic's config (kafka-python takes ConfigResource objects; a topic name and a dict here)."""
        body = self.call("AlterConfigs", timeout_ms, topic=topic, configs={k: str(v) for k, v in configs.items()})
        if body["error"]:
            raise error_for(body["error"])(body.get("message") or "alter_configs failed")

    def list_topics(self) -> list[str]:
        return sorted(self.cluster.topics())

    def describe_topics(self, topics: list[str] | None = None) -> list[dict[str, Any]]:
        names = topics if topics is not None else self.list_topics()
        described = []
        for topic in names:
            count = self.cluster.partition_count(topic)
            partitions = []
            for partition in range(count):
                state = self.cluster.partition_state(topic, partition)
                partitions.append({"error_code": 0, "partition": partition, "leader": state["leader"],
                                   "replicas": state["replicas"], "isr": state["isr"],
                                   "leader_epoch": state["leader_epoch"]})
            described.append({"error_code": 0 if count else 3, "topic": topic,
                              "is_internal": topic.startswith("__"), "partitions": partitions})
        return described

    def describe_consumer_groups(self, group_ids: list[str]) -> list[dict[str, Any]]:
        described = []
        for group in group_ids:
            ticket = self.node.ask(self.cluster.sim, "DescribeGroups", to=f"group:{group}", group=group)
            body = self.cluster.wait_admin(ticket, 30)
            described.append(body.get("group", {}))
        return described

    def list_consumer_group_offsets(self, group_id: str) -> dict[TopicPartition, OffsetAndMetadata]:
        ticket = self.node.ask(self.cluster.sim, "OffsetFetch", to=f"group:{group_id}", group=group_id,
                               partitions=None)
        body = self.cluster.wait_admin(ticket, 30)
        return {TopicPartition(*split_log_name(name)): OffsetAndMetadata(offset, "")
                for name, offset in sorted(body.get("offsets", {}).items()) if offset >= 0}

    def close(self) -> None:
        """Nothing to release."""
