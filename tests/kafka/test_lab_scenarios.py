"""The Kafka lab's scenarios and actions, without a browser: each story does what its page
promises, actions are checked before they change anything, and a lab replays them exactly."""

from __future__ import annotations

import pytest

from coordlab.labs.commands import CommandError, from_data
from coordlab.labs.lab import Lab
from coordlab.labs.registry import get
from kafka_app.model import observe
from kafka_app.model.consumer import ConsumerNode
from kafka_app.model.partitioner import murmur2, to_positive
from kafka_app.model.story import ClassicQueue, Publisher, QueueWorker, SafetyMonitor, groups_of
from kafka_app.scenarios import SCENARIOS


def lab(slug: str) -> Lab:
    return Lab("test", get(slug), 1)


def act(the_lab: Lab, op: str, **fields) -> str:
    return the_lab.apply(from_data({"command": "act", "op": op, **fields}))


def forward(the_lab: Lab, seconds: int) -> None:
    the_lab.apply(from_data({"command": "forward", "seconds": seconds}))


def group(the_lab: Lab, name: str) -> dict:
    return observe.group_state(the_lab.sim, name)


def members(the_lab: Lab, name: str) -> list[ConsumerNode]:
    return [n for n in the_lab.sim.nodes.values() if isinstance(n, ConsumerNode) and n.group_id == name]


@pytest.mark.parametrize("slug", [s.slug for s in SCENARIOS])
def test_every_scenario_starts_with_leaders_stable_groups_and_a_safe_badge(slug):
    the_lab = lab(slug)
    forward(the_lab, 30)
    state, controller = observe.view(the_lab.sim)
    assert controller is not None
    topics = [t for t in state.topics if not t.startswith("__")]
    assert topics and all(state.partitions[f"{t}-{p}"].leader > 0 for t in topics for p in state.topics[t].assignment)
    for name in groups_of(the_lab.sim):
        assert group(the_lab, name)["state"] == "Stable", name
    monitor = the_lab.sim.nodes["safety"]
    assert isinstance(monitor, SafetyMonitor) and monitor.violations == []


def test_publish_says_where_a_key_goes_and_the_record_lands_there():
    the_lab = lab("kafka-keys")
    reply = act(the_lab, "publish", topic="chat", key="user-3", value="hi", acks="all")
    partition = to_positive(murmur2(b"user-3")) % 4
    assert f"% 4 partitions = partition {partition}" in reply and "murmur2" in reply
    forward(the_lab, 2)
    web = the_lab.sim.nodes["web"]
    assert isinstance(web, Publisher)
    outcome = web.outbox[-1]
    assert (outcome["topic"], outcome["partition"], outcome["key"]) == ("chat", partition, "user-3")
    assert outcome["error"] == ""
    assert "sticky" in act(the_lab, "publish", topic="chat", key="", value="no key")


@pytest.mark.parametrize(("op", "fields", "error"), [
    ("publish", {"topic": "nope", "value": "x"}, "There is no topic 'nope'"),
    ("publish", {"topic": "chat", "value": "x", "acks": "2"}, "acks is 0, 1 or all"),
    ("publish", {"topic": "chat", "value": "x", "headers": "novalue"}, "Headers are written name=value"),
    ("create_topic", {"topic": "chat"}, "already exists"),
    ("create_topic", {"topic": "bad name!"}, "A topic name is"),
    ("create_topic", {"topic": "t", "partitions": "99"}, "'partitions' must be from 1 to 12"),
    ("create_topic", {"topic": "t", "replication": "4"}, "'replication' must be from 1 to 3"),
    ("create_topic", {"topic": "t", "cleanup": "forever"}, "cleanup.policy"),
    ("add_partitions", {"topic": "chat", "partitions": "2"}, "can only get more"),
    ("pause_consumer", {"member": "ghost"}, "There is no consumer 'ghost'"),
    ("traffic", {"producer": "chat", "rate": "1e9"}, "A rate is from 0 to 200"),
    ("traffic", {"producer": "chat", "rate": "2", "keys": "random"}, "Keys are one of"),
    ("join", {"member": "me", "group": "g", "topic": "chat"}, "terminal- and four"),
    ("join", {"member": "terminal-ab12", "group": "g", "topic": "chat", "reset": "middle"}, "earliest or the latest"),
    ("reset_offsets", {"group": "nobody"}, "has no running member"),
    ("teleport", {}, "Unknown action 'teleport'"),
])
def test_bad_actions_are_refused_and_change_nothing(op, fields, error):
    the_lab = lab("kafka-keys")
    before = (the_lab.sim.snapshot(), len(the_lab.log))
    with pytest.raises(CommandError, match=error):
        act(the_lab, op, **fields)
    assert (the_lab.sim.snapshot(), len(the_lab.log)) == before


def test_add_consumers_beyond_the_partitions_leaves_one_idle_and_a_dead_members_partitions_move():
    the_lab = lab("kafka-groups")
    for _ in range(4):
        act(the_lab, "add_consumer", group="workers")
    forward(the_lab, 20)
    working = [m for m in members(the_lab, "workers") if m.assignment]
    assert len(members(the_lab, "workers")) == 5 and len(working) == 4
    the_lab.apply(from_data({"command": "crash", "node": working[0].name}))
    forward(the_lab, 30)
    owned = sorted(n for m in members(the_lab, "workers") if m.alive for n in m.assignment)
    assert owned == [f"events-{p}" for p in range(4)]


def test_more_partitions_and_consumers_keep_the_lag_of_a_10x_load_flat():
    the_lab = lab("kafka-activity")
    lag = the_lab.sim.nodes["monitor"].samples["activity-db"]
    before = lag[-1][1]
    the_lab.apply(from_data({"command": "toggle", "name": "ten-x", "on": True}))
    forward(the_lab, 30)
    growth_alone = lag[-1][1] - before
    act(the_lab, "add_partitions", topic="activity", partitions="8")
    for _ in range(7):
        act(the_lab, "add_consumer", group="activity-db", rate="15")
    forward(the_lab, 30)
    settled = lag[-1][1]
    forward(the_lab, 60)
    assert growth_alone > 1000
    assert lag[-1][1] - settled < growth_alone / 10


def test_killing_the_leader_moves_leadership_and_loses_nothing():
    the_lab = lab("kafka-replication")
    leader = observe.view(the_lab.sim)[0].partitions["payments-0"].leader
    the_lab.apply(from_data({"command": "crash", "node": f"b{leader}"}))
    forward(the_lab, 20)
    new_leader = observe.view(the_lab.sim)[0].partitions["payments-0"].leader
    assert new_leader not in (leader, -1)
    act(the_lab, "traffic", producer="payments", rate="0", keys="per-user")
    forward(the_lab, 10)
    state = observe.view(the_lab.sim)[0]
    readable = sum(observe.partition_state(the_lab.sim, state, "payments", p)["high_watermark"] for p in range(3))
    assert the_lab.sim.nodes["payments"].acked_by_topic["payments"] == readable
    assert the_lab.sim.nodes["safety"].violations == []


def test_the_classic_queue_hands_each_booking_to_one_service_only():
    the_lab = lab("kafka-bookings")
    the_lab.apply(from_data({"command": "toggle", "name": "classic-queue", "on": True}))
    forward(the_lab, 30)
    queue = the_lab.sim.nodes["queue"]
    assert isinstance(queue, ClassicQueue)
    workers = [n for n in the_lab.sim.nodes.values() if isinstance(n, QueueWorker)]
    got = [queue.handed.get(w.name, 0) for w in workers]
    assert all(0 < count < queue.received for count in got)
    assert sum(got) + len(queue.messages) == queue.received


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_classic_queue_shares_bookings_out_evenly_between_its_workers(seed):
    """A competing-consumers queue with prefetch 1 (RabbitMQ's basic.qos) takes its consumers in
    turn: over every 20 bookings, each of the two workers gets 10 ± 20%."""
    the_lab = Lab("test", get("kafka-bookings"), seed)
    the_lab.apply(from_data({"command": "toggle", "name": "classic-queue", "on": True}))
    queue = the_lab.sim.nodes["queue"]
    assert isinstance(queue, ClassicQueue)
    workers = sorted(n.name for n in the_lab.sim.nodes.values() if isinstance(n, QueueWorker))
    before = {w: queue.handed.get(w, 0) for w in workers}
    for _ in range(4):
        forward(the_lab, 10)  # 2 bookings a second: 20 a window
        got = {w: queue.handed.get(w, 0) - before[w] for w in workers}
        before = {w: queue.handed.get(w, 0) for w in workers}
        assert sum(got.values()) >= 19, got
        assert all(abs(count - sum(got.values()) / 2) <= 0.2 * sum(got.values()) / 2 for count in got.values()), got
    assert len(queue.messages) <= 1 and queue.received == sum(queue.handed.values()) + len(queue.messages)


@pytest.mark.parametrize("after_ms", [10_000, 10_250, 10_400])  # the worker idle, or holding a booking
def test_a_crashed_worker_is_dropped_and_what_it_held_goes_to_the_other_one(after_ms):
    the_lab = lab("kafka-bookings")
    the_lab.apply(from_data({"command": "toggle", "name": "classic-queue", "on": True}))
    the_lab.advance(after_ms)
    queue = the_lab.sim.nodes["queue"]

    def accounted() -> bool:
        held = sum(len(pairs) for pairs in queue.unacked.values())
        return queue.received == queue.deleted + len(queue.messages) + held

    the_lab.apply(from_data({"command": "crash", "node": "queue-lab"}))
    before = dict(queue.handed)
    forward(the_lab, 30)
    assert accounted() and "queue-lab" not in queue.consumers and not queue.unacked.get("queue-lab")
    assert queue.handed["queue-data"] - before["queue-data"] >= 55 and len(queue.messages) <= 1
    the_lab.apply(from_data({"command": "restart", "node": "queue-lab"}))
    before = dict(queue.handed)
    forward(the_lab, 10)
    got = {w: queue.handed[w] - before[w] for w in before}
    assert min(got.values()) >= 8 and accounted(), got


def test_retention_deletes_old_segments_and_compaction_keeps_one_value_per_key():
    the_lab = lab("kafka-retention")
    forward(the_lab, 60)
    state = observe.view(the_lab.sim)[0]
    assert observe.partition_state(the_lab.sim, state, "clicks", 0)["log_start_offset"] > 0
    leader = observe.broker_by_id(the_lab.sim, state.partitions["profiles-0"].leader)
    records = leader.logs["profiles-0"].all_records()
    assert len(records) < leader.logs["profiles-0"].log_end_offset


def test_reset_to_earliest_rereads_everything_without_a_safety_violation():
    the_lab = lab("kafka-messenger")
    forward(the_lab, 10)
    processed = the_lab.sim.nodes["analytics-1"].processed
    act(the_lab, "reset_offsets", group="analytics", to="earliest")
    forward(the_lab, 20)
    assert the_lab.sim.nodes["analytics-1"].processed >= 2 * processed
    assert the_lab.sim.nodes["safety"].violations == []


def test_a_lab_replays_its_actions_exactly_when_rewound():
    the_lab = lab("kafka-shop")
    act(the_lab, "add_consumer", group="invoices")
    act(the_lab, "publish", topic="orders", key="7", value="by hand")
    act(the_lab, "create_topic", topic="refunds", partitions="2", replication="2")
    forward(the_lab, 12)
    at, snapshot = the_lab.now, the_lab.sim.snapshot()
    the_lab.apply(from_data({"command": "seek", "time_ms": 1000}))
    the_lab.apply(from_data({"command": "seek", "time_ms": at}))
    assert the_lab.sim.snapshot() == snapshot
    assert "refunds" in observe.view(the_lab.sim)[0].topics


def test_a_producer_says_what_it_is_waiting_for_and_which_errors_it_retried():
    """With two of three brokers down, min.insync.replicas=2 refuses an acks=all write with
    NOT_ENOUGH_REPLICAS: the producer keeps retrying, and its panel says so while it waits."""
    from coordlab.frames import lab_context

    the_lab = lab("kafka-replication")
    forward(the_lab, 5)
    for broker in ("b2", "b3"):
        the_lab.apply(from_data({"command": "crash", "node": broker}))
    forward(the_lab, 20)
    act(the_lab, "publish", topic="payments", key="k", value="waiting", acks="all")
    forward(the_lab, 5)
    web = next(p for p in lab_context(the_lab)["publishers"] if p["web"])
    assert web["pending_count"] >= 1 and web["pending"][0]["value"] == "waiting"
    assert web["pending"][0]["error"] == "NOT_ENOUGH_REPLICAS" and web["pending"][0]["attempts"] >= 1
    assert dict(web["retries"])["NOT_ENOUGH_REPLICAS"] >= 1
    services = {s["name"]: s for s in lab_context(the_lab)["services"]}
    assert any(dict(s["retries"]).get("NOT_ENOUGH_REPLICAS") for s in services.values())
