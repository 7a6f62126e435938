"""The Kafka lab's built-in scenarios: the course's asynchronous-work stories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coordlab.labs.guide import Step
from coordlab.labs.scenario import Groups, Preset, Scenario, Toggle
from coordlab.sim import Simulation

from . import guides as g
from .actions import LAB_EVIDENCE, LAB_METADATA_AGE_MS, add_consumer, admin, next_producer_id
from .guides import MONITOR as MONITOR  # the lab's machines are named in guides; frames imports them from here
from .guides import QUEUE
from .guides import SAFETY as SAFETY
from .model import Cluster, NewTopic, observe
from .model.story import ClassicQueue, LagMonitor, QueueWorker, SafetyMonitor, Service

LATENCY_MS, JITTER_MS = 100, 30
SETTINGS: dict[str, Any] = {
    "zookeeper_session_timeout_ms": 6_000, "replica_lag_time_max_ms": 10_000,
    "log_retention_check_interval_ms": 2_000, "log_cleaner_backoff_ms": 3_000,
    "offsets_topic_segment_bytes": 100_000,
}
#: the labs' topics keep ten minutes of records in one-minute segments, unless a scenario says otherwise
TOPIC_DEFAULTS = {"retention.ms": "600000", "segment.ms": "60000"}
SIMPLIFIED = ("Timings are shortened so you can watch them: brokers' ZooKeeper sessions last 6 s (Kafka: 18 s), a "
              "follower leaves the ISR after 10 s behind (Kafka: 30 s), retention is checked every 2 s (Kafka: "
              "5 min), topics keep 10 minutes of records unless the scenario says otherwise (Kafka: 7 days), clients "
              "refresh their metadata every 10 s (Kafka: 5 min), and "
              "messages take about 100 ms. One produce request per partition is in flight at a time; killing a "
              "machine is a crash, never a clean shutdown. The safety badge checks the latest 2,000 records of "
              "each client.")


def cluster(seed: int, topics: list[NewTopic], brokers: int = 3) -> Cluster:
    """A cluster that is up, with the scenario's topics created through the admin client."""
    made = Cluster(brokers=brokers, zookeeper=3, seed=seed, latency_ms=LATENCY_MS, jitter_ms=JITTER_MS, **SETTINGS)
    made.run_until(lambda: made.controller() is not None, 60)
    made.admin().create_topics(topics)
    made.add(LagMonitor(name=MONITOR))
    made.add(SafetyMonitor(name=SAFETY))
    admin(made.sim)
    return made


def service(made: Cluster, name: str, topic: str, rate: float, keys: str, event: str, users: int = 12,
            acks: int = -1) -> Service:
    node = Service(name=name, bootstrap=[b.name for b in made.brokers()], client_id=name,
                   producer_id=next_producer_id(made.sim), topic=topic, rate=rate, keys=keys, event=event,
                   users=users, acks=acks, evidence_limit=LAB_EVIDENCE, metadata_max_age_ms=LAB_METADATA_AGE_MS)
    made.add(node)
    return node


def ready(made: Cluster, seconds: float = 8) -> Simulation:
    """Let the groups form before the learner arrives."""
    made.run_for(seconds)
    return made.sim


def topic(name: str, partitions: int, replication: int = 3, configs: dict[str, str] | None = None) -> NewTopic:
    return NewTopic(name, num_partitions=partitions, replication_factor=replication,
                    topic_configs={**TOPIC_DEFAULTS, **(configs or {})})


# -- the stories --------------------------------------------------------------------------------------------------


def build_messenger(seed: int) -> Simulation:
    made = cluster(seed, [topic("messages", 3)])
    service(made, "messenger", "messages", 3, "per-user", "message sent")
    for group, rate in (("notifications", 20.0), ("email", 6.0), ("analytics", 10.0)):
        add_consumer(made.sim, f"{group}-1", group, ["messages"], rate)
    return ready(made)


def build_shop(seed: int) -> Simulation:
    made = cluster(seed, [topic("orders", 3), topic("vendor-messages", 2)])
    service(made, "shop", "orders", 3, "per-user", "order placed")
    service(made, "vendors", "vendor-messages", 2, "per-user", "vendor message")
    add_consumer(made.sim, "invoices-1", "invoices", ["orders"], 10)
    add_consumer(made.sim, "vendor-inbox-1", "vendor-inbox", ["vendor-messages"], 10)
    return ready(made)


def build_keys(seed: int) -> Simulation:
    made = cluster(seed, [topic("chat", 4)])
    service(made, "chat", "chat", 2, "per-user", "chat message", users=6)
    add_consumer(made.sim, "reader-1", "reader", ["chat"], 10)
    return ready(made)


def build_groups(seed: int) -> Simulation:
    made = cluster(seed, [topic("events", 4)])
    service(made, "events", "events", 8, "uniform", "event")
    add_consumer(made.sim, "workers-1", "workers", ["events"], 4)
    return ready(made)


def build_replication(seed: int) -> Simulation:
    made = cluster(seed, [topic("payments", 3, configs={"min.insync.replicas": "2", "retention.ms": "604800000",
                                                  "segment.ms": "604800000"})])
    service(made, "payments", "payments", 5, "per-user", "payment")
    add_consumer(made.sim, "ledger-1", "ledger", ["payments"], 20)
    return ready(made)


ACTIVITY = (("chat", 3.0, "chat line"), ("reactions", 4.0, "reaction"), ("submissions", 1.0, "submission"),
            ("logins", 2.0, "login"))


def build_activity(seed: int) -> Simulation:
    made = cluster(seed, [topic("activity", 2, 2)])
    for name, rate, event in ACTIVITY:
        service(made, name, "activity", rate, "per-user", event, users=40)
    add_consumer(made.sim, "activity-db-1", "activity-db", ["activity"], 15)
    return ready(made)


def build_bookings(seed: int) -> Simulation:
    made = cluster(seed, [topic("bookings", 3)])
    service(made, "booking", "bookings", 2, "per-user", "booking", users=20)
    add_consumer(made.sim, "lab-service-1", "lab-service", ["bookings"], 10)
    add_consumer(made.sim, "data-service-1", "data-service", ["bookings"], 10)
    made.add(ClassicQueue(name=QUEUE))
    for name in ("queue-lab", "queue-data"):
        made.add(QueueWorker(name=name, queue=QUEUE, every_ms=300, prefetch=1))
    return ready(made)


def build_retention(seed: int) -> Simulation:
    made = cluster(seed, [topic("clicks", 2, configs={"retention.ms": "20000", "segment.ms": "5000"}),
                          topic("profiles", 1, configs={"cleanup.policy": "compact", "segment.ms": "5000",
                                                         "delete.retention.ms": "10000"})])
    service(made, "clicks", "clicks", 3, "uniform", "click")
    profiles = service(made, "profiles", "profiles", 2, "per-user", "profile update", users=5)
    profiles.tombstones = 0.1
    return ready(made)


# -- presets and switches ------------------------------------------------------------------------------------------


def isolate_controller(sim: Simulation) -> Groups:
    controller = observe.controller_id(sim)
    if controller is None:
        return []
    name = f"b{controller}"
    return [[name], [n for n in sim.nodes if n != name]]


def isolate(broker: str) -> Callable[[Simulation], Groups]:
    def groups(sim: Simulation) -> Groups:
        return [[broker], [n for n in sim.nodes if n != broker]]
    return groups


PRESETS = (Preset("isolate-controller", "Isolate the controller", isolate_controller),
           Preset("isolate-b1", "Isolate b1", isolate("b1")))


def services(sim: Simulation) -> list[Service]:
    return [n for n in sim.nodes.values() if isinstance(n, Service)]


def set_boost(sim: Simulation, on: bool) -> None:
    for node in services(sim):
        node.boost = 10 if on else 1
    sim.trace("lab", "load", "10x load: every activity service now produces ten times as much."
              if on else "Load back to normal.", on=on)


TEN_X = Toggle("ten-x", "10x load", set_boost, lambda sim: any(n.boost > 1 for n in services(sim)))


def set_classic(sim: Simulation, on: bool) -> None:
    for node in services(sim):
        node.queue = QUEUE if on else ""
    sim.trace("lab", "classic", "The booking service now sends to a classic queue: each booking reaches ONE "
              "service, the services taking turns, and is deleted once acknowledged."
              if on else "The booking service publishes to Kafka again.",
              on=on)


CLASSIC = Toggle("classic-queue", "Classic message queue instead of Kafka", set_classic,
                 lambda sim: any(n.queue for n in services(sim)))


def set_unclean(sim: Simulation, on: bool) -> None:
    admin(sim).ask(sim, "AlterConfigs", topic="payments",
                   configs={"unclean.leader.election.enable": "true" if on else "false"})
    sim.trace("lab", "unclean", "unclean.leader.election.enable=true for payments: an out-of-sync replica may "
              "become leader, and acknowledged records can be lost." if on else
              "unclean.leader.election.enable=false for payments: only an in-sync replica may lead.", on=on)


def unclean_on(sim: Simulation) -> bool:
    info = observe.view(sim)[0].topics.get("payments")
    return bool(info and info.config.get("unclean.leader.election.enable") == "true")


UNCLEAN = Toggle("unclean", "Allow unclean leader election", set_unclean, unclean_on)


def kafka(slug: str, title: str, build: Callable[[int], Simulation], promise: str, explain: tuple[str, ...],
          toggles: tuple[Toggle, ...] = (), figure: str = "kafka-groups", guide: tuple[Step, ...] = ()) -> Scenario:
    """A Kafka scenario; ``figure``: the panel presenter mode shows beside the cluster and the badge;
    ``guide``: its guided steps (their actions and moments are in ``kafka_app.guides``)."""
    return Scenario(slug=slug, title=title, kind="kafka", build=build, promise=promise, explain=explain,
                    simplification=SIMPLIFIED, presets=PRESETS, toggles=toggles,
                    presenter=("kafka-cluster", "kafka-safety", figure), guide=guide)


SCENARIOS = (
    kafka("kafka-messenger", "Messenger: do it later", build_messenger,
          "A message service publishes “message sent” events and never waits; notification, email and analytics "
          "services each read them at their own pace. Kill the email service: nothing is lost.",
          ("The messenger service publishes every “message sent” event to the topic messages and goes on at once: "
           "it never waits for the slow work (sending notifications and emails, counting).",
           "Three services read the same topic, each in its own consumer group, so each gets every event. "
           "Each keeps its own committed offset. The email service is the slowest (6 a second for 3 arriving), so "
           "it takes longest to catch up after a pause."),
          guide=(
              Step("Kill the email service",
                   "email-1 stops; notifications and analytics go on. The events for email pile up in the log: "
                   "watch its lag grow.",
                   g.crash(g.EMAIL), g.email_piles_up, f"{g.EMAIL_PILE} events wait for email in the log"),
              Step("Restart the email service",
                   "email-1 resumes from its committed offset and reads what piled up, faster than events arrive. "
                   "Nothing was lost.",
                   g.restart(g.EMAIL), g.email_caught_up, "email-1 has caught up with the log"),
              Step("Publish your own event",
                   "Your event goes to messages once, and each service reads it in its own group. Publish more "
                   "with the form, or from a terminal (see “From your terminal”).",
                   g.publish("messages", g.MY_KEY, "hello"), g.every_service_read_mine,
                   "all three services have read your event"))),
    kafka("kafka-shop", "Shop events by topic", build_shop,
          "Orders and vendor messages go to two topics; invoice generation subscribes to orders only.",
          ("The shop publishes orders to the topic orders; vendors publish to vendor-messages. A topic is a "
           "named stream: a consumer subscribes to the topics it cares about.",
           "invoices-1 (group invoices) subscribes to orders only, so it never sees a vendor message; "
           "vendor-inbox-1 reads vendor-messages only."),
          guide=(
              Step("Publish a vendor message",
                   "Your record goes to vendor-messages: vendor-inbox-1 reads it, and invoices-1, which reads "
                   "orders only, never gets it.",
                   g.publish("vendor-messages", g.VENDOR_KEY, "Is my stand ready?"), g.vendor_inbox_read_it,
                   "vendor-inbox-1 has read your message"),
              Step("Add a consumer to invoices",
                   "invoices-2 joins the group invoices. The group rebalances and splits the 3 orders partitions "
                   "between its two members.",
                   g.add_consumer("invoices"), g.invoices_split, "the two invoices consumers share the orders "
                   "partitions"))),
    kafka("kafka-keys", "Keys and ordering", build_keys,
          "Messages keyed by sender land on the same partition and stay in order; null keys spread. See the "
          "murmur2 hash and the modulo.",
          ("The chat service keys each message by its sender (user-1 … user-6). The producer hashes the key with "
           "murmur2, makes it positive and takes it modulo the number of partitions: the same key always lands "
           "on the same partition, so one sender's messages stay in order.",),
          figure="kafka-producers",
          guide=(
              Step(f"Publish with key {g.SENDER}",
                   "Read the reply: it shows murmur2 of the key, toPositive and the modulo 4 that picks the "
                   "partition.",
                   g.publish("chat", g.SENDER, "hi"), g.sender_stored, "your record is stored"),
              Step(f"Publish with key {g.SENDER} again",
                   "Same key, same partition: your second record lands after the first, at a higher offset. One "
                   "sender's messages stay in order.",
                   g.publish("chat", g.SENDER, "hi again"), g.sender_stored, "your second record is stored"),
              Step("Publish without a key",
                   "With no key the sticky partitioner sends a whole batch to one partition, then moves on: "
                   "keyless records spread, with no order between partitions.",
                   g.publish("chat", "", "no key"), g.keyless_stored, "your keyless record is stored"),
              Step("Add partitions to chat",
                   f"chat goes from {g.CHAT_PARTITIONS} to {g.MORE_CHAT_PARTITIONS} partitions. Keys now map "
                   f"modulo {g.MORE_CHAT_PARTITIONS}, so some senders move to a new partition: their order "
                   "across the change is no longer guaranteed.",
                   g.add_partitions("chat", g.MORE_CHAT_PARTITIONS), g.chat_uses_new_partitions,
                   "a chat message lands on a new partition"))),
    kafka("kafka-groups", "Consumer groups and rebalancing", build_groups,
          "Add consumers one by one, up to more than the partitions; kill one and watch its partitions move; "
          "watch lag grow and shrink.",
          ("Events arrive at 8 a second on 4 partitions; workers-1 alone handles 4 a second, so lag grows.",),
          guide=(
              Step("Add a second worker",
                   "workers-2 joins. The group rebalances (state: rebalancing) and the range assignor gives each "
                   "worker 2 of the 4 partitions: together they handle 8 events a second, as many as arrive.",
                   g.add_consumer("workers"), g.workers_split_in_two, "the two workers share the 4 partitions"),
              Step("Add a third worker",
                   "Another rebalance: 3 workers handle up to 12 events a second, more than arrive, so the lag "
                   "falls.",
                   g.add_consumer("workers"), g.workers_lag_falls, "the lag falls"),
              Step("Add a fourth worker",
                   "4 workers for 4 partitions: each worker gets exactly one.",
                   g.add_consumer("workers"), g.workers_one_partition_each, "each worker owns one partition"),
              Step("Add a fifth worker",
                   "5 workers, 4 partitions: one member gets nothing and stays idle, since a partition goes to "
                   "one member of a group at a time.",
                   g.add_consumer("workers"), g.one_worker_idle, "one worker is idle"),
              Step("Kill a working member",
                   "Its heartbeats stop. After session.timeout.ms (10 s) the coordinator removes it and gives its "
                   "partition to the others, which start from the committed offset.",
                   g.kill_a_working_member, g.partitions_moved, "its partition has moved to another worker"))),
    kafka("kafka-replication", "Replication and broker failure", build_replication,
          "RF 3, acks=all, min ISR 2: kill brokers one by one and watch ISR, leadership and what producers get "
          "back. The unclean election switch shows data loss.",
          ("payments has 3 partitions, each copied to 3 brokers: a leader (★) that takes writes and two followers "
           "that fetch from it. The in-sync replicas (ISR) are those caught up. With acks=all a record is "
           "acknowledged once every ISR member has it; min.insync.replicas=2 refuses writes with fewer than 2.",
           "Killed or powered off? A killed broker's process is gone, so its machine closes every connection: "
           "the producer's batch fails at once (NETWORK_EXCEPTION) and the followers' fetches too, and they ask "
           "for fresh metadata. Shift-click the leader instead to power it off: it answers nothing, so the "
           "producer waits request.timeout.ms (30 s) before it gives up on that batch. Either way, the controller "
           "moves leadership only when the broker's ZooKeeper session expires."),
          toggles=(UNCLEAN,), figure="kafka-producers",
          guide=(
              Step(f"Kill the leader of {g.WATCHED}",
                   "Its ZooKeeper session expires after 6 s; the controller makes an in-sync follower the leader "
                   "and the producer retries there. Acknowledged means readable: nothing acknowledged is lost.",
                   g.kill_the_leader, g.new_leader_acknowledged,
                   f"{g.WATCHED} has a new leader and writes are acknowledged again"),
              Step("Kill a second broker",
                   "The ISR is down to 1, fewer than min.insync.replicas=2: the leader refuses writes with "
                   "NOT_ENOUGH_REPLICAS and the producer retries. Nothing is acknowledged, so nothing can be lost.",
                   g.kill_another_broker, g.not_enough_replicas, "the producer gets NOT_ENOUGH_REPLICAS"),
              Step("Allow unclean leader election",
                   "From now on, if no in-sync replica is alive, the controller may make an out-of-sync one the "
                   "leader.",
                   g.toggle(UNCLEAN.slug, True), g.unclean_known, "the controller has the new setting"),
              Step("Kill the last broker",
                   "No broker runs now, and the last in-sync replica of each partition is down with it.",
                   g.kill_the_last_broker),
              Step("Restart the first broker you killed",
                   "It missed the writes acknowledged since it died. With no in-sync replica alive, the controller "
                   "makes it leader all the same: those records are lost, and the safety badge names them.",
                   g.restart_the_first_killed, g.records_lost, "the safety badge reports lost records"))),
    kafka("kafka-activity", "Activity tracking at 10x", build_activity,
          "Chat, reactions, submissions and logins flow into one topic; press 10x load and scale partitions and "
          "consumers to keep lag flat.",
          ("Four services publish learner activity to the topic activity (2 partitions), keyed by user. "
           "activity-db-1 stores it at 15 records a second: enough for today's 10 a second.",
           "Partitions are the unit of parallelism: a group can use at most as many consumers as partitions."),
          toggles=(TEN_X,),
          guide=(
              Step("Switch on 10x load",
                   "100 records a second arrive now, and activity-db-1 stores 15 a second: the lag climbs.",
                   g.toggle(TEN_X.slug, True), g.activity_lag_climbs,
                   f"the lag passes {g.ACTIVITY_PILE} records"),
              Step("Add a consumer",
                   "activity-db-2 joins and the group rebalances: each member reads one of the 2 partitions. "
                   "Twice the work, still far less than arrives.",
                   g.add_consumer("activity-db"), g.activity_split_in_two,
                   "the two consumers share the 2 partitions"),
              Step("Add a third consumer",
                   "With 2 partitions only 2 members can work: the third gets no partition and stays idle.",
                   g.add_consumer("activity-db"), g.activity_one_idle, "the third consumer is idle"),
              Step(f"Give activity {g.MORE_ACTIVITY_PARTITIONS} partitions",
                   f"The group rebalances onto {g.MORE_ACTIVITY_PARTITIONS} partitions and every member gets work. "
                   f"Up to {g.MORE_ACTIVITY_PARTITIONS} consumers can share it now: add more to keep the lag flat.",
                   g.add_partitions("activity", g.MORE_ACTIVITY_PARTITIONS), g.activity_all_busy,
                   "every consumer has partitions"))),
    kafka("kafka-bookings", "Lab bookings", build_bookings,
          "A booking service feeds a lab service and a data service, each getting every booking. Switch to a "
          "classic queue and see bookings split between them instead.",
          ("The booking service publishes each booking to bookings. The lab service allocates a lab for each; "
           "the data service stores each for analytics. Each is its own consumer group, so each gets every "
           "booking, independently, and the log keeps them for a late reader.",),
          toggles=(CLASSIC,),
          guide=(
              Step("Switch to a classic queue",
                   "The queue hands each booking to ONE service, taking them in turn, and deletes it once "
                   "acknowledged: each service gets about half, and neither sees them all.",
                   g.toggle(CLASSIC.slug, True), g.queue_took_turns,
                   f"{g.QUEUED} bookings have gone through the queue"),
              Step("Switch back to Kafka",
                   "Bookings go to the log again: each service, in its own consumer group, gets every one.",
                   g.toggle(CLASSIC.slug, False)),
              Step("Kill the lab service",
                   "lab-service-1 stops, but bookings keep coming and wait in the log for it: watch its lag grow.",
                   g.crash(g.LAB_SERVICE), g.lab_service_behind,
                   f"{g.BOOKINGS_PILE} bookings wait for the lab service"),
              Step("Restart the lab service",
                   "lab-service-1 resumes from its committed offset and catches up: it misses no booking.",
                   g.restart(g.LAB_SERVICE), g.lab_service_caught_up, "lab-service-1 has caught up"))),
    kafka("kafka-retention", "Retention and compaction", build_retention,
          "A short retention makes old segments disappear; a compacted topic keeps the latest value per key and "
          "drops tombstones.",
          ("clicks keeps records for 20 s in segments of 5 s: every few seconds the oldest whole segment is "
           "deleted and the log start offset moves up (the faded block).",
           "profiles is compacted: the cleaner keeps only the latest value of each key (user-1 … user-5). Older "
           "values fade out; a tombstone (a null value) deletes its key, and is itself removed after "
           "delete.retention.ms (10 s)."),
          figure="kafka-topics",
          guide=(
              Step("Keep clicks for 60 s",
                   "Segments are no longer deleted after 20 s: watch the clicks log grow.",
                   g.set_retention("clicks", g.LONGER_MS), g.clicks_grew,
                   f"clicks holds more than {g.GROWN_MS // 1000} s of records"),
              Step("Cut retention to 10 s",
                   "At the next retention check the oldest segments are deleted and the log start offset moves "
                   "up.",
                   g.set_retention("clicks", g.SHORTER_MS), g.clicks_trimmed, "the old segments of clicks are "
                   "deleted"))),
)
