"""The cooperative-sticky assignor against Kafka's own tests
(AbstractStickyAssignorTest, CooperativeStickyAssignorTest)."""

from __future__ import annotations

from kafka_app.model.sticky import cooperative_sticky_assign, java_hashmap_order


def test_a_fresh_group_is_dealt_round_robin():
    # AbstractStickyAssignorTest.testTwoConsumersTwoTopicsSixPartitions
    result = cooperative_sticky_assign({"topic1": 3, "topic2": 3}, ["consumer1", "consumer2"])
    assert result.assignment == {"consumer1": [("topic1", 0), ("topic1", 2), ("topic2", 1)],
                                 "consumer2": [("topic1", 1), ("topic2", 0), ("topic2", 2)]}
    assert result.transferring == {}


def test_a_joining_member_gets_its_partition_one_rebalance_later():
    # AbstractStickyAssignorTest.testAddRemoveConsumerOneTopic
    alone = cooperative_sticky_assign({"topic": 3}, ["consumer1"])
    assert alone.assignment == {"consumer1": [("topic", 0), ("topic", 1), ("topic", 2)]}
    joined = cooperative_sticky_assign({"topic": 3}, ["consumer1", "consumer2"],
                                       owned={"consumer1": alone.assignment["consumer1"]})
    assert joined.transferring == {("topic", 2): "consumer2"}
    assert joined.cooperative() == {"consumer1": [("topic", 0), ("topic", 1)], "consumer2": []}
    settled = cooperative_sticky_assign({"topic": 3}, ["consumer1", "consumer2"],
                                        owned=joined.cooperative())
    assert settled.assignment == {"consumer1": [("topic", 0), ("topic", 1)], "consumer2": [("topic", 2)]}
    assert settled.transferring == {}


def test_a_partition_claimed_twice_in_one_generation_is_taken_from_both():
    # CooperativeStickyAssignorTest.testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimedByMultipleConsumers
    # InSameGenerationWithEqualPartitionsPerConsumer
    result = cooperative_sticky_assign(
        {"topic": 3}, ["consumer1", "consumer2", "consumer3"],
        owned={"consumer1": [("topic", 0), ("topic", 1)], "consumer2": [("topic", 0), ("topic", 2)]},
        generations={"consumer1": 1, "consumer2": 1, "consumer3": 1})
    assert result.cooperative() == {"consumer1": [("topic", 1)], "consumer2": [("topic", 2)], "consumer3": []}


def test_only_the_expected_number_of_members_keep_a_full_quota():
    # CooperativeStickyAssignorTest.testMaxQuotaConsumerMoreThanNumExpectedMaxCapacityMembers
    result = cooperative_sticky_assign(
        {"topic1": 2, "topic2": 2}, ["consumer1", "consumer2", "consumer3"],
        owned={"consumer1": [("topic1", 0), ("topic2", 0)], "consumer2": [("topic1", 1), ("topic2", 1)]})
    assert result.transferring == {("topic2", 0): "consumer3"}
    assert result.assignment == {"consumer1": [("topic1", 0)], "consumer2": [("topic1", 1), ("topic2", 1)],
                                 "consumer3": [("topic2", 0)]}


def test_hashmap_order_is_javas():
    # "consumer3" lands in bucket 10, "consumer2" in 11, "consumer1" in 12 of a 16-bucket table
    assert java_hashmap_order(["consumer1", "consumer2", "consumer3"]) == ["consumer3", "consumer2", "consumer1"]
