"""The Kafka scenarios' guided steps, without a browser: for each scenario and two seeds, Next
through every step at speed 1. Each step's moment must come within its time, the lab pausing
right there, and the cluster must then be as the step's words say."""

from __future__ import annotations

import pytest

from coordlab.labs.lab import Lab
from coordlab.labs.registry import get
from kafka_app import guides as g
from kafka_app.model import observe
from kafka_app.model.broker import Broker
from kafka_app.model.checks import missing
from kafka_app.model.consumer import ConsumerNode
from kafka_app.model.partitioner import murmur2, to_positive
from kafka_app.model.story import ClassicQueue, LagMonitor, Publisher, SafetyMonitor, Service
from kafka_app.scenarios import SCENARIOS, unclean_on
from tests.guide_steps import next_step

#: the scenario's own seed, and another
SEEDS = [None, 7]


def start(slug: str, seed: int | None) -> Lab:
    scenario = get(slug)
    assert scenario is not None
    return Lab("t", scenario) if seed is None else Lab("t", scenario, seed=seed)


def safe(lab: Lab) -> bool:
    monitor = lab.sim.nodes["safety"]
    assert isinstance(monitor, SafetyMonitor)
    return not monitor.violations


def members(lab: Lab, group: str) -> list[ConsumerNode]:
    return [n for n in lab.sim.nodes.values() if isinstance(n, ConsumerNode) and n.group_id == group]


def owned(lab: Lab, group: str) -> dict[str, list[str]]:
    """Each running member's partitions."""
    return {m.name: list(m.assignment) for m in members(lab, group) if m.alive and m.phase != "closed"}


def lag_series(lab: Lab, group: str) -> list[int]:
    monitor = lab.sim.nodes["monitor"]
    assert isinstance(monitor, LagMonitor)
    return [lag for _, lag in monitor.samples[group]]


def latest(lab: Lab, producer: str) -> dict:
    node = lab.sim.nodes[producer]
    assert isinstance(node, Publisher) and node.outbox
    return node.outbox[-1]


def consumer(lab: Lab, name: str) -> ConsumerNode:
    node = lab.sim.nodes[name]
    assert isinstance(node, ConsumerNode)
    return node


def test_every_scenario_has_a_short_guide_and_no_try_paragraph_left():
    for scenario in SCENARIOS:
        assert 2 <= len(scenario.guide) <= 5, scenario.slug
        assert not any(p.startswith("Try") for p in scenario.explain), scenario.slug
        for step in scenario.guide:
            assert len(step.title) <= 40 and step.text and step.action is not None, step.title
            assert step.moment is None or step.waits_for, step.title


@pytest.mark.parametrize("seed", SEEDS)
def test_messenger_email_piles_up_catches_up_and_every_service_reads_yours(seed):
    lab = start("kafka-messenger", seed)
    others = {name: consumer(lab, name).processed for name in ("notifications-1", "analytics-1")}
    next_step(lab)
    assert not lab.sim.nodes[g.EMAIL].alive and g.lag(lab.sim, "email") >= g.EMAIL_PILE
    assert all(consumer(lab, name).alive and consumer(lab, name).processed > before for name, before in others.items())
    next_step(lab)
    email = consumer(lab, g.EMAIL)
    assert email.alive and email.phase == "stable" and len(email.assignment) == 3
    assert email.processed >= g.EMAIL_PILE  # what piled up, read again from the committed offset
    assert all(email.positions[p] == email.high_watermarks[p] for p in email.assignment)
    next_step(lab)
    mine = latest(lab, "web")
    assert (mine["key"], mine["error"]) == (g.MY_KEY, "")
    partition = f"messages-{mine['partition']}"
    assert all(consumer(lab, name).positions[partition] > mine["offset"] for name in g.READERS)
    assert safe(lab) and lab.tour.at == len(lab.scenario.guide)


@pytest.mark.parametrize("seed", SEEDS)
def test_shop_vendor_message_skips_invoices_and_a_second_invoices_consumer_shares_orders(seed):
    lab = start("kafka-shop", seed)
    next_step(lab)
    mine = latest(lab, "web")
    assert (mine["topic"], mine["key"], mine["error"]) == ("vendor-messages", g.VENDOR_KEY, "")
    assert consumer(lab, "vendor-inbox-1").positions[f"vendor-messages-{mine['partition']}"] > mine["offset"]
    invoices = consumer(lab, "invoices-1")
    assert all(name.startswith("orders-") for name in invoices.assignment)
    assert not any(topic == "vendor-messages" for topic, *_ in invoices.consumed)
    next_step(lab)
    shares = owned(lab, "invoices")
    assert sorted(shares) == ["invoices-1", "invoices-2"] and all(shares.values())
    assert sorted(p for ps in shares.values() for p in ps) == ["orders-0", "orders-1", "orders-2"]


@pytest.mark.parametrize("seed", SEEDS)
def test_keys_same_key_same_partition_no_key_sticky_and_more_partitions_move_senders(seed):
    lab = start("kafka-keys", seed)
    partition = to_positive(murmur2(g.SENDER.encode())) % g.CHAT_PARTITIONS
    next_step(lab)
    first = latest(lab, "web")
    assert (first["key"], first["partition"], first["error"]) == (g.SENDER, partition, "")
    next_step(lab)
    second = latest(lab, "web")
    assert (second["key"], second["partition"], second["error"]) == (g.SENDER, partition, "")
    assert second["offset"] > first["offset"]
    next_step(lab)
    keyless = latest(lab, "web")
    assert keyless["key"] is None and keyless["error"] == "" and keyless["how"].startswith("no key: the sticky")
    next_step(lab)
    assert len(observe.view(lab.sim)[0].topics["chat"].assignment) == g.MORE_CHAT_PARTITIONS
    moved = latest(lab, "chat")
    assert moved["partition"] >= g.CHAT_PARTITIONS and moved["error"] == ""
    assert to_positive(murmur2(moved["key"].encode())) % g.MORE_CHAT_PARTITIONS == moved["partition"]


@pytest.mark.parametrize("seed", SEEDS)
def test_groups_split_lag_falls_one_idle_and_a_dead_members_partition_moves(seed):
    lab = start("kafka-groups", seed)
    events = [f"events-{p}" for p in range(g.EVENTS_PARTITIONS)]
    next_step(lab)
    assert sorted(len(ps) for ps in owned(lab, "workers").values()) == [2, 2]
    next_step(lab)
    shares = owned(lab, "workers")
    assert len(shares) == 3 and sorted(p for ps in shares.values() for p in ps) == events
    lags = lag_series(lab, "workers")
    assert lags[-1] < lags[-6]
    next_step(lab)
    assert sorted(len(ps) for ps in owned(lab, "workers").values()) == [1, 1, 1, 1]
    next_step(lab)
    assert sorted(len(ps) for ps in owned(lab, "workers").values()) == [0, 1, 1, 1, 1]
    before = owned(lab, "workers")
    took = next_step(lab)
    dead = [m for m in members(lab, "workers") if not m.alive]
    assert len(dead) == 1 and before[dead[0].name]  # a member that owned a partition
    after = owned(lab, "workers")
    assert dead[0].name not in after and sorted(p for ps in after.values() for p in ps) == events
    assert all(after.values())  # the idle member works now
    assert took >= 9_000  # the coordinator waited for the session to time out


@pytest.mark.parametrize("seed", SEEDS)
def test_replication_failover_then_not_enough_replicas_then_an_unclean_election_loses_records(seed):
    lab = start("kafka-replication", seed)
    first = observe.view(lab.sim)[0].partitions[g.WATCHED].leader
    first_name = f"b{first}"
    next_step(lab)
    state = observe.view(lab.sim)[0]
    now = state.partitions[g.WATCHED]
    assert not lab.sim.nodes[first_name].alive and now.leader not in (first, -1) and first not in now.isr
    assert lab.sim.nodes[f"b{now.leader}"].alive and now.leader in now.isr
    payments = lab.sim.nodes["payments"]
    dead = lab.sim.nodes[first_name]
    assert isinstance(payments, Service) and isinstance(dead, Broker)
    topic, partition, offset, producer_id, sequence = payments.acked[-1]
    assert missing(dead.logs[f"{topic}-{partition}"], offset, producer_id, sequence)  # acknowledged since it died
    assert safe(lab)
    refused = payments.retried.get("NOT_ENOUGH_REPLICAS", 0)
    next_step(lab)
    alive = [b for b in observe.brokers(lab.sim) if b.alive]
    assert len(alive) == 1 and observe.view(lab.sim)[0].partitions[g.WATCHED].isr == [alive[0].broker_id]
    assert payments.retried.get("NOT_ENOUGH_REPLICAS", 0) > refused
    assert safe(lab)
    next_step(lab)
    assert unclean_on(lab.sim)
    next_step(lab)
    assert not any(b.alive for b in observe.brokers(lab.sim))
    next_step(lab)
    assert [b.name for b in observe.brokers(lab.sim) if b.alive] == [first_name]
    assert any(e.kind == "unclean_election" and e.fields["leader"] == first for e in lab.sim.trace_log.events)
    monitor = lab.sim.nodes["safety"]
    assert isinstance(monitor, SafetyMonitor)
    assert any("acknowledged records lost in payments-" in v for v in monitor.violations)


@pytest.mark.parametrize("seed", SEEDS)
def test_activity_lag_climbs_a_third_consumer_idles_until_more_partitions(seed):
    lab = start("kafka-activity", seed)
    next_step(lab)
    assert lab.scenario.toggle("ten-x").is_on(lab.sim) and lag_series(lab, "activity-db")[-1] >= g.ACTIVITY_PILE
    next_step(lab)
    assert sorted(owned(lab, "activity-db").values()) == [["activity-0"], ["activity-1"]]
    next_step(lab)
    assert sorted(len(ps) for ps in owned(lab, "activity-db").values()) == [0, 1, 1]
    next_step(lab)
    assert len(observe.view(lab.sim)[0].topics["activity"].assignment) == g.MORE_ACTIVITY_PARTITIONS
    shares = owned(lab, "activity-db")
    assert sorted(len(ps) for ps in shares.values()) == [2, 3, 3]
    assert sorted(p for ps in shares.values() for p in ps) == sorted(f"activity-{p}" for p in range(8))


@pytest.mark.parametrize("seed", SEEDS)
def test_bookings_the_queue_splits_them_and_a_kafka_reader_catches_up(seed):
    lab = start("kafka-bookings", seed)
    next_step(lab)
    queue = lab.sim.nodes["queue"]
    assert isinstance(queue, ClassicQueue) and queue.received >= g.QUEUED
    got = [queue.handed.get(w, 0) for w in ("queue-lab", "queue-data")]
    assert all(0.25 * queue.received <= n <= 0.75 * queue.received for n in got), got
    next_step(lab)
    assert not lab.scenario.toggle("classic-queue").is_on(lab.sim)
    next_step(lab)
    assert not lab.sim.nodes[g.LAB_SERVICE].alive and lag_series(lab, "lab-service")[-1] >= g.BOOKINGS_PILE
    assert consumer(lab, "data-service-1").alive
    next_step(lab)
    lab_service = consumer(lab, g.LAB_SERVICE)
    assert lab_service.alive and lab_service.processed >= g.BOOKINGS_PILE
    assert all(lab_service.positions[p] == lab_service.high_watermarks[p] for p in lab_service.assignment)
    assert safe(lab)


@pytest.mark.parametrize("seed", SEEDS)
def test_retention_longer_keeps_more_and_shorter_deletes_old_segments(seed):
    lab = start("kafka-retention", seed)
    next_step(lab)
    state = observe.view(lab.sim)[0]
    assert state.topics["clicks"].config["retention.ms"] == str(g.LONGER_MS)
    assert min(g.clicks_span(lab.sim)) > g.GROWN_MS
    starts = [observe.partition_state(lab.sim, state, "clicks", p)["log_start_offset"] for p in (0, 1)]
    next_step(lab)
    state = observe.view(lab.sim)[0]
    assert state.topics["clicks"].config["retention.ms"] == str(g.SHORTER_MS)
    assert max(g.clicks_span(lab.sim)) <= g.TRIMMED_MS
    assert all(observe.partition_state(lab.sim, state, "clicks", p)["log_start_offset"] > before
               for p, before in enumerate(starts))
