"""Kafka's placement and assignment algorithms, with Kafka's exact results.

- ``assign_replicas``: ``AdminUtils.assignReplicasToBrokersRackUnaware``,
  how a topic's partitions get their replicas when it is created: the first
  replica of partition p goes to broker ``(p + start) % n``, the others
  follow at a shift that grows by one after every full round of brokers, so
  leaders and followers spread evenly.
- ``range_assign``: ``RangeAssignor``, per topic, consecutive partitions to
  consumers sorted by member id; the first ``partitions % consumers`` get one
  more.
- ``round_robin_assign``: ``RoundRobinAssignor``, all partitions of all
  subscribed topics, sorted, dealt in turn to the sorted members that
  subscribe to each one's topic.
"""

from __future__ import annotations


def replica_index(first: int, shift: int, replica: int, brokers: int) -> int:
    return (first + 1 + (shift + replica) % (brokers - 1)) % brokers


def assign_replicas(partitions: int, replication_factor: int, brokers: list[int], start_index: int,
                    replica_shift: int | None = None) -> dict[int, list[int]]:
    """Replicas per partition; ``start_index`` (and the shift, which defaults to it) are the
    random draws Kafka makes, fixed here so a seed reproduces them."""
    count = len(brokers)
    if replication_factor < 1 or replication_factor > count:
        raise ValueError(f"replication factor {replication_factor} larger than available brokers {count}")
    shift = start_index if replica_shift is None else replica_shift
    result: dict[int, list[int]] = {}
    for partition in range(partitions):
        if partition > 0 and partition % count == 0:
            shift += 1
        first = (partition + start_index) % count
        result[partition] = [brokers[first]] + [brokers[replica_index(first, shift, j, count)]
                                                for j in range(replication_factor - 1)]
    return result


TopicPartitions = dict[str, list[tuple[str, int]]]


def range_assign(partitions_per_topic: dict[str, int], subscriptions: dict[str, list[str]]) -> TopicPartitions:
    """Member id → its (topic, partition) list, as ``RangeAssignor``."""
    assignment: TopicPartitions = {member: [] for member in subscriptions}
    for topic in sorted(partitions_per_topic):
        members = sorted(m for m, topics in subscriptions.items() if topic in topics)
        if not members:
            continue
        count = partitions_per_topic[topic]
        per_member, extra = divmod(count, len(members))
        for index, member in enumerate(members):
            start = per_member * index + min(index, extra)
            length = per_member + (1 if index < extra else 0)
            assignment[member].extend((topic, p) for p in range(start, start + length))
    return assignment


def round_robin_assign(partitions_per_topic: dict[str, int], subscriptions: dict[str, list[str]]) -> TopicPartitions:
    """Member id → its (topic, partition) list, as ``RoundRobinAssignor``."""
    assignment: TopicPartitions = {member: [] for member in subscriptions}
    members = sorted(subscriptions)
    if not members:
        return assignment
    subscribed = sorted({t for topics in subscriptions.values() for t in topics if t in partitions_per_topic})
    turn = 0
    for topic in subscribed:
        for partition in range(partitions_per_topic[topic]):
            while topic not in subscriptions[members[turn % len(members)]]:
                turn += 1
            assignment[members[turn % len(members)]].append((topic, partition))
            turn += 1
    return assignment
