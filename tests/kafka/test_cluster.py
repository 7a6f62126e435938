"""The Cluster entry point, end to end: the controller through ZooKeeper, topics,
producing, consuming in groups, failover with and without loss, retention."""

from __future__ import annotations

import json

import pytest

from coordlab.sim import Simulation
from kafka_app.model import (
    Cluster,
    InvalidConfigurationError,
    InvalidReplicationFactorError,
    InvalidTopicError,
    NewPartitions,
    NewTopic,
    NotEnoughReplicasError,
    TopicAlreadyExistsError,
    TopicPartition,
)
from kafka_app.model.checks import all_violations
from kafka_app.model.partitioner import coordinator_partition, partition_for_key
from kafka_app.model.settings import OFFSETS_TOPIC


def started(**kwargs) -> Cluster:
    cluster = Cluster(**{"brokers": 3, "zookeeper": 3, "seed": 7, **kwargs})
    cluster.sim.trace_log.limit = 1_000_000
    cluster.run_for(2.0)
    return cluster


def read_all(consumer, expected: int, seconds: float = 30) -> list:
    got = []
    deadline = consumer.cluster.now + seconds * 1000
    while len(got) < expected and consumer.cluster.now < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            got += records
    return got


def test_the_entry_point_works_as_the_issue_shows():
    cluster = Cluster(brokers=3, zookeeper=3, seed=7)
    cluster.run_for(2.0)
    assert cluster.now == 2000
    controller = cluster.controller()
    assert controller in (1, 2, 3)
    zk_leader = cluster.ensemble.server(cluster.ensemble.leader())
    assert json.loads(zk_leader.tree.nodes["/controller"].data)["brokerid"] == controller
    assert zk_leader.tree.children_of("/brokers/ids") == ["1", "2", "3"]
    admin = cluster.admin()
    admin.create_topics([NewTopic("orders", num_partitions=3, replication_factor=3,
                                  topic_configs={"min.insync.replicas": "2"})])
    producer = cluster.producer(acks="all", linger_ms=0)
    md = producer.send("orders", key=b"21", value=b"hello").get(timeout=10)
    assert (md.topic, md.partition, md.offset) == ("orders", partition_for_key(b"21", 3), 0)
    consumer = cluster.consumer("orders", group_id="billing", auto_offset_reset="earliest")
    batches = consumer.poll(timeout_ms=10_000)
    assert [(r.key, r.value, r.offset) for r in batches[TopicPartition("orders", md.partition)]] == \
        [(b"21", b"hello", 0)]
    state = cluster.partition_state("orders", md.partition)
    assert state["leader"] in state["isr"] and len(state["replicas"]) == 3 and state["leader_epoch"] == 0
    assert {r["log_end_offset"] for r in state["per_replica"].values()} == {1}
    assert state["high_watermark"] == 1
    # the partition state is in ZooKeeper, in Kafka's format
    stored = json.loads(zk_leader.tree.nodes[f"/brokers/topics/orders/partitions/{md.partition}/state"].data)
    assert stored["leader"] == state["leader"] and stored["isr"] == state["isr"]


def test_topics_created_in_one_request_all_get_leaders():
    cluster = started()
    cluster.admin().create_topics([NewTopic("clicks", 2, 3), NewTopic("profiles", 1, 3)])
    assert cluster.has_leaders("clicks") and cluster.has_leaders("profiles")
    producer = cluster.producer()
    assert producer.send("clicks", key=b"a", value=b"1").get(timeout=10).topic == "clicks"


def test_the_controller_moves_when_its_broker_dies():
    cluster = started()
    first = cluster.controller()
    cluster.crash(first)
    cluster.run_until(lambda: cluster.controller() not in (None, first), 40)
    assert cluster.controller() not in (None, first)
    epochs = [e.fields["epoch"] for e in cluster.sim.trace_log.events if e.kind == "controller"]
    assert epochs == [1, 2]


def test_killing_the_leader_loses_nothing_with_acks_all_and_min_isr_2():
    cluster = started()
    cluster.admin().create_topics([NewTopic("orders", 3, 3, topic_configs={"min.insync.replicas": "2"})])
    producer = cluster.producer(acks="all")
    acked = [producer.send("orders", key=str(i).encode(), value=b"first").get(10) for i in range(30)]
    leader = cluster.partition_state("orders", 0)["leader"]
    epoch = cluster.partition_state("orders", 0)["leader_epoch"]
    cluster.crash(leader)
    futures = [producer.send("orders", key=str(i).encode(), value=b"second") for i in range(30)]
    acked += [f.get(60) for f in futures]
    state = cluster.partition_state("orders", 0)
    assert state["leader"] not in (leader, -1) and state["leader_epoch"] == epoch + 1
    assert cluster.now < 2_000 + 40_000, "a new leader serves within the ZooKeeper session timeout and a bit"
    consumer = cluster.consumer("orders", group_id="audit", auto_offset_reset="earliest")
    readable = read_all(consumer, len(acked))
    assert sorted((r.partition, r.offset) for r in readable) == sorted((m.partition, m.offset) for m in acked)
    assert all_violations(cluster.sim, cluster.sim.trace_log.events) == []


def test_an_unclean_election_loses_acknowledged_records_and_the_trace_names_them():
    cluster = started(seed=3)
    cluster.admin().create_topics([NewTopic("t", 1, 3, topic_configs={"unclean.leader.election.enable": "true"})])
    producer = cluster.producer(acks=1)
    for i in range(3):
        producer.send("t", value=b"early %d" % i).get(10)
    state = cluster.partition_state("t", 0)
    leader = state["leader"]
    stale, other = [r for r in state["replicas"] if r != leader]
    cluster.crash(stale)
    cluster.crash(other)
    cluster.run_until(lambda: cluster.partition_state("t", 0)["isr"] == [leader], 60)
    late = [producer.send("t", value=b"late %d" % i).get(10) for i in range(4)]
    cluster.crash(leader)
    cluster.run_for(25)
    cluster.restart(stale)
    cluster.run_until(lambda: cluster.partition_state("t", 0)["leader"] == stale, 40)
    cluster.restart(leader)
    cluster.run_until(lambda: leader in cluster.partition_state("t", 0)["isr"], 60)
    violations = all_violations(cluster.sim, cluster.sim.trace_log.events)
    assert len(violations) == 1 and "acknowledged records lost in t-0" in violations[0]
    assert f"truncated by b{leader}" in violations[0]
    truncated = [e for e in cluster.sim.trace_log.events if e.kind == "truncated"]
    assert {r["offset"] for r in truncated[0].fields["records"]} >= {m.offset for m in late}
    assert any(e.kind == "unclean_election" for e in cluster.sim.trace_log.events)


def test_acks_all_is_refused_when_the_isr_is_below_min_insync_replicas():
    cluster = started(replica_lag_time_max_ms=10_000)
    cluster.admin().create_topics([NewTopic("pay", 1, 3, topic_configs={"min.insync.replicas": "2"})])
    state = cluster.partition_state("pay", 0)
    for broker in state["replicas"]:
        if broker != state["leader"]:
            cluster.crash(broker)
    cluster.run_until(lambda: len(cluster.partition_state("pay", 0)["isr"]) == 1, 60)
    producer = cluster.producer(acks="all", retries=0)
    with pytest.raises(NotEnoughReplicasError):
        producer.send("pay", value=b"x").get(10)
    assert cluster.producer(acks=1).send("pay", value=b"x").get(10).offset == 0


def test_any_broker_bootstraps_and_not_leader_answers_lead_to_the_leader():
    cluster = started()
    cluster.admin().create_topics([NewTopic("t", 3, 1)])
    leaders = {cluster.partition_state("t", p)["leader"] for p in range(3)}
    for broker in (1, 2, 3):
        producer = cluster.producer(bootstrap_servers=f"b{broker}:9092")
        assert producer.send("t", key=b"k", value=b"v").get(10).offset >= 0
    assert leaders


def test_the_group_coordinator_is_the_leader_of_the_groups_offsets_partition():
    cluster = started()
    cluster.admin().create_topics([NewTopic("t", 1, 3)])
    consumer = cluster.consumer("t", group_id="billing")
    cluster.run_until(lambda: consumer.node.phase == "stable", 30)
    expected = cluster.partition_state(OFFSETS_TOPIC, coordinator_partition("billing"))["leader"]
    assert consumer.node.coordinator == expected
    assert cluster.partition_count(OFFSETS_TOPIC) == 50


def test_more_consumers_than_partitions_leave_some_idle_and_a_dead_member_is_replaced():
    cluster = started()
    cluster.admin().create_topics([NewTopic("t", 3, 3)])
    consumers = [cluster.consumer("t", group_id="g") for _ in range(4)]
    cluster.run_until(lambda: sum(len(c.node.assignment) for c in consumers) == 3
                      and all(c.node.phase == "stable" for c in consumers), 60)
    sizes = sorted(len(c.node.assignment) for c in consumers)
    assert sizes == [0, 1, 1, 1]
    # range: partitions go to members sorted by member id
    ordered = sorted(consumers, key=lambda c: c.node.member_id)
    assert [c.node.assignment for c in ordered] == [["t-0"], ["t-1"], ["t-2"], []]
    victim = ordered[0]
    cluster.crash(victim.name)
    cluster.run_until(lambda: sum(len(c.node.assignment) for c in ordered[1:]) == 3, 60)
    assert sorted(n for c in ordered[1:] for n in c.node.assignment) == ["t-0", "t-1", "t-2"]
    assert any("session timed out" in e.text for e in cluster.sim.trace_log.events)
    assert all_violations(cluster.sim, cluster.sim.trace_log.events) == []


def test_a_consumer_resumes_from_the_committed_offset():
    cluster = started()
    cluster.admin().create_topics([NewTopic("t", 1, 3)])
    producer = cluster.producer()
    for i in range(10):
        producer.send("t", value=b"%d" % i)
    producer.flush()
    first = cluster.consumer("t", group_id="g", auto_offset_reset="earliest", enable_auto_commit=False)
    got = read_all(first, 10)
    first.commit({TopicPartition("t", 0): 6})
    assert first.committed(TopicPartition("t", 0)) == 6
    first.close()
    second = cluster.consumer("t", group_id="g", auto_offset_reset="earliest")
    assert [r.offset for r in read_all(second, 4)] == [6, 7, 8, 9]
    assert len(got) == 10
    assert cluster.admin().list_consumer_group_offsets("g") == {TopicPartition("t", 0): (6, "")}


def test_retention_moves_the_log_start_and_a_consumer_below_it_is_reset():
    cluster = started(log_retention_check_interval_ms=1_000)
    cluster.admin().create_topics([NewTopic("clicks", 1, 3, topic_configs={
        "retention.ms": "5000", "segment.ms": "1000"})])
    producer = cluster.producer()
    for i in range(5):
        producer.send("clicks", value=b"old %d" % i).get(10)
        cluster.run_for(0.5)
    cluster.run_for(10)
    producer.send("clicks", value=b"new").get(10)
    state = cluster.partition_state("clicks", 0)
    assert state["log_start_offset"] >= 5
    assert {r["log_start_offset"] for r in state["per_replica"].values()} == {state["log_start_offset"]}
    consumer = cluster.consumer("clicks", auto_offset_reset="earliest")
    assert [r.value for r in read_all(consumer, 1)] == [b"new"]


def test_compaction_keeps_the_latest_value_per_key():
    cluster = started(log_cleaner_backoff_ms=1_000)
    cluster.admin().create_topics([NewTopic("profiles", 1, 3, topic_configs={
        "cleanup.policy": "compact", "segment.ms": "500", "delete.retention.ms": "1000"})])
    producer = cluster.producer()
    for key, value in ((b"ann", b"1"), (b"bob", b"1"), (b"ann", b"2"), (b"bob", None), (b"cy", b"1")):
        producer.send("profiles", key=key, value=value).get(10)
        cluster.run_for(0.6)
    producer.send("profiles", key=b"dan", value=b"1").get(10)
    cluster.run_for(5)
    consumer = cluster.consumer("profiles", auto_offset_reset="earliest")
    latest = [(r.key, r.value) for r in read_all(consumer, 3)]
    assert latest == [(b"ann", b"2"), (b"cy", b"1"), (b"dan", b"1")]


def test_adding_partitions_moves_some_keys():
    cluster = started()
    admin = cluster.admin()
    admin.create_topics([NewTopic("t", 2, 2)])
    admin.create_partitions({"t": NewPartitions(total_count=5)})
    assert cluster.partition_count("t") == 5 and cluster.has_leaders("t")
    producer = cluster.producer()
    keys = [b"user-%d" % i for i in range(20)]
    moved = [k for k in keys if partition_for_key(k, 2) != producer.send("t", key=k, value=b"v").get(10).partition]
    assert moved


def test_admin_errors_have_kafkas_names():
    cluster = started()
    admin = cluster.admin()
    admin.create_topics([NewTopic("t", 1, 1)])
    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics([NewTopic("t", 1, 1)])
    with pytest.raises(InvalidReplicationFactorError):
        admin.create_topics([NewTopic("u", 1, 4)])
    with pytest.raises(InvalidConfigurationError):
        admin.create_topics([NewTopic("v", 1, 1, topic_configs={"retention.ms": "soon"})])
    with pytest.raises(InvalidTopicError):
        admin.create_topics([NewTopic("bad name!", 1, 1)])
    assert admin.list_topics() == ["t"]


def test_cooperative_sticky_group_keeps_partitions_in_place():
    cluster = started()
    cluster.admin().create_topics([NewTopic("t", 4, 3)])
    first = cluster.consumer("t", group_id="g", partition_assignment_strategy=["cooperative-sticky"])
    cluster.run_until(lambda: len(first.node.assignment) == 4, 30)
    second = cluster.consumer("t", group_id="g", partition_assignment_strategy=["cooperative-sticky"])
    cluster.run_until(lambda: len(second.node.assignment) == 2 and len(first.node.assignment) == 2, 60)
    assert set(first.node.assignment) | set(second.node.assignment) == {"t-0", "t-1", "t-2", "t-3"}
    assert all_violations(cluster.sim, cluster.sim.trace_log.events) == []


def test_same_seed_same_trace_and_a_snapshot_runs_on_identically():
    def run() -> Cluster:
        cluster = started()
        cluster.admin().create_topics([NewTopic("t", 2, 3)])
        producer = cluster.producer()
        for i in range(10):
            producer.send("t", key=b"%d" % i, value=b"v")
        cluster.consumer("t", group_id="g")
        cluster.run_for(5)
        return cluster

    first, second = run(), run()
    assert first.sim.trace_log.digest == second.sim.trace_log.digest
    copy = Simulation.restore(first.sim.snapshot())
    first.sim.run_until(first.now + 20_000)
    copy.run_until(copy.now + 20_000)
    assert copy.trace_log.digest == first.sim.trace_log.digest


def test_seek_to_beginning_and_end_ask_the_leader_and_a_commit_after_it_counts_as_a_reset():
    cluster = started()
    cluster.admin().create_topics([NewTopic("t", 1, 3)])
    producer = cluster.producer()
    for i in range(5):
        producer.send("t", value=b"%d" % i)
    producer.flush()
    consumer = cluster.consumer("t", group_id="g", auto_offset_reset="earliest")
    assert len(read_all(consumer, 5)) == 5
    consumer.commit()
    partition = TopicPartition("t", 0)
    consumer.seek_to_beginning(partition)
    assert consumer.position(partition) == 0
    consumer.commit({partition: 0})
    consumer.seek_to_end()
    assert consumer.position(partition) == 5
    commits = [e for e in cluster.sim.trace_log.events if e.kind == "commit"]
    assert commits[-1].fields["offsets"] == {"t-0": 0} and commits[-1].fields["reset"]
    assert all_violations(cluster.sim, cluster.sim.trace_log.events) == []
