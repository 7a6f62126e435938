"""Kafka's own numbers: murmur2 vectors from UtilsTest, the replica placement
table in AdminUtils' scaladoc, the assignor examples in RangeAssignor's and
RoundRobinAssignor's javadoc, and GroupMetadataManager.partitionFor."""

from __future__ import annotations

import pytest

from kafka_app.model.assignment import assign_replicas, range_assign, round_robin_assign
from kafka_app.model.partitioner import (
    coordinator_partition,
    java_string_hash,
    murmur2,
    partition_for_key,
    to_positive,
)


@pytest.mark.parametrize(("data", "expected"), [
    # clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2
    (b"21", -973932308),
    (b"foobar", -790332482),
    (b"a-little-bit-long-string", -985981536),
    (b"a-little-bit-longer-string", -1486304829),
    (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
    (b"abc", 479470107),
])
def test_murmur2_matches_kafkas_test_vectors(data, expected):
    assert murmur2(data) == expected


@pytest.mark.parametrize("partitions", [1, 3, 6, 7, 12, 50])
def test_a_key_always_lands_in_the_same_partition(partitions):
    for key, hashed in ((b"21", -973932308), (b"foobar", -790332482), (b"abc", 479470107)):
        assert partition_for_key(key, partitions) == (hashed & 0x7FFFFFFF) % partitions
        assert partition_for_key(key, partitions) == partition_for_key(bytes(key), partitions)


def test_to_positive_clears_the_sign_bit_rather_than_taking_abs():
    assert to_positive(-973932308) == 1173551340
    assert to_positive(-(1 << 31)) == 0


def test_java_string_hash_and_the_group_coordinator_partition():
    assert java_string_hash("hello") == 99162322
    assert java_string_hash("") == 0
    assert java_string_hash("polygenelubricants") == -(1 << 31)  # the famous MIN_VALUE hash
    assert coordinator_partition("polygenelubricants") == 0  # Utils.abs(MIN_VALUE) is 0
    assert coordinator_partition("billing") == abs(java_string_hash("billing")) % 50


def test_replica_placement_matches_the_adminutils_example():
    # core/src/main/scala/kafka/admin/AdminUtils.scala: 5 brokers, 10 partitions,
    # replication factor 3, start index 0
    assignment = assign_replicas(10, 3, [0, 1, 2, 3, 4], start_index=0)
    assert assignment == {
        0: [0, 1, 2], 1: [1, 2, 3], 2: [2, 3, 4], 3: [3, 4, 0], 4: [4, 0, 1],
        5: [0, 2, 3], 6: [1, 3, 4], 7: [2, 4, 0], 8: [3, 0, 1], 9: [4, 1, 2],
    }


def test_range_assignor_matches_its_javadoc_example():
    # RangeAssignor javadoc: C0, C1 subscribed to t0, t1, each with 3 partitions
    result = range_assign({"t0": 3, "t1": 3}, {"C0": ["t0", "t1"], "C1": ["t0", "t1"]})
    assert result == {"C0": [("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)], "C1": [("t0", 2), ("t1", 2)]}


def test_round_robin_assignor_matches_its_javadoc_examples():
    # RoundRobinAssignor javadoc, first example
    result = round_robin_assign({"t0": 3, "t1": 3}, {"C0": ["t0", "t1"], "C1": ["t0", "t1"]})
    assert result == {"C0": [("t0", 0), ("t0", 2), ("t1", 1)], "C1": [("t0", 1), ("t1", 0), ("t1", 2)]}
    # second example: C0 → t0; C1 → t0, t1; C2 → t0, t1, t2 (1, 2 and 3 partitions)
    result = round_robin_assign({"t0": 1, "t1": 2, "t2": 3},
                                {"C0": ["t0"], "C1": ["t0", "t1"], "C2": ["t0", "t1", "t2"]})
    assert result == {"C0": [("t0", 0)], "C1": [("t1", 0)], "C2": [("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)]}


def test_more_consumers_than_partitions_leaves_some_idle():
    result = range_assign({"t": 2}, {"a": ["t"], "b": ["t"], "c": ["t"]})
    assert result == {"a": [("t", 0)], "b": [("t", 1)], "c": []}


def test_errors_carry_kafkas_codes_and_names():
    from kafka_app.model import errors

    # clients/src/main/java/org/apache/kafka/common/protocol/Errors.java
    assert (errors.NotLeaderForPartitionError.errno, errors.NotLeaderForPartitionError.message) == (
        6, "NOT_LEADER_OR_FOLLOWER")
    assert (errors.NotEnoughReplicasError.errno, errors.NotEnoughReplicasAfterAppendError.errno) == (19, 20)
    assert errors.NotEnoughReplicasError.retriable and not errors.TopicAlreadyExistsError.retriable
    assert issubclass(errors.KafkaTimeoutError, errors.KafkaError)


def test_assignors_match_kafkas_mixed_topic_tests():
    # RangeAssignorTest / RoundRobinAssignorTest.testMultipleConsumersMixedTopics:
    # topic1 has 3 partitions, topic2 has 2; consumer1 → topic1, consumer2 → both, consumer3 → topic1
    topics = {"topic1": 3, "topic2": 2}
    subscriptions = {"consumer1": ["topic1"], "consumer2": ["topic1", "topic2"], "consumer3": ["topic1"]}
    expected = {"consumer1": [("topic1", 0)], "consumer2": [("topic1", 1), ("topic2", 0), ("topic2", 1)],
                "consumer3": [("topic1", 2)]}
    assert range_assign(topics, subscriptions) == expected
    assert round_robin_assign(topics, subscriptions) == expected


def test_key_to_partition_matches_the_streams_test_comment():
    # streams/src/test/.../KTableKTableForeignKeyInnerJoinMultiIntegrationTest: String keys, 3 partitions
    expected = {"0": 2, "1": 0, "2": 2, "3": 2, "4": 1, "5": 0, "6": 1, "7": 0, "8": 0, "9": 2}
    assert {key: partition_for_key(key.encode(), 3) for key in expected} == expected
