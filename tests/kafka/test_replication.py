"""ISR and high watermark rules (core/src/main/scala/kafka/cluster/Partition.scala, Replica.scala)."""

from __future__ import annotations

from kafka_app.model.replication import PartitionState


def make(min_isr: int = 2) -> PartitionState:
    state = PartitionState(leader=1, replicas=[1, 2, 3], isr=[1, 2, 3], min_isr=min_isr, lag_max_ms=30_000)
    state.became_leader(now=0, leader_leo=0)
    return state


def test_high_watermark_is_the_smallest_end_offset_in_the_isr():
    state = make()
    state.follower_fetched(2, 10, leader_leo=10, now=100)
    state.follower_fetched(3, 7, leader_leo=10, now=100)
    assert state.high_watermark(leader_leo=10, current=0) == 7
    assert state.high_watermark(leader_leo=10, current=8) == 8, "never moves back"


def test_a_follower_lagging_longer_than_the_lag_time_leaves_the_isr():
    state = make()
    state.follower_fetched(2, 10, leader_leo=10, now=1_000)
    state.follower_fetched(3, 4, leader_leo=10, now=1_000)  # behind since time 0
    assert state.out_of_sync(leader_leo=10, now=20_000) == []
    assert state.out_of_sync(leader_leo=10, now=31_000) == [3]
    state.isr.remove(3)
    state.follower_fetched(3, 10, leader_leo=10, now=31_500)
    assert state.can_join_isr(3, high_watermark=10)


def test_acks_all_is_refused_below_min_insync_replicas_and_the_hw_freezes():
    state = make(min_isr=2)
    state.isr = [1]
    assert not state.can_accept_acks_all()
    assert state.high_watermark(leader_leo=12, current=5) == 5  # Kafka 3.7: no advance under min ISR
    state.isr = [1, 2]
    state.follower_fetched(2, 12, leader_leo=12, now=10)
    assert state.can_accept_acks_all() and state.high_watermark(leader_leo=12, current=5) == 12


def test_min_isr_is_capped_by_the_replica_count():
    state = PartitionState(leader=1, replicas=[1], isr=[1], min_isr=2)
    assert state.effective_min_isr() == 1 and state.can_accept_acks_all()
