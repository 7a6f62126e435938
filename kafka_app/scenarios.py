"""The Kafka lab's built-in scenarios: the course's asynchronous-work stories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coordlab.labs.scenario import Groups, Preset, Scenario, Toggle
from coordlab.sim import Simulation

from .actions import LAB_EVIDENCE, LAB_METADATA_AGE_MS, add_consumer, admin, next_producer_id
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
MONITOR = "monitor"
SAFETY = "safety"


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
    made.add(ClassicQueue(name="queue"))
    for name in ("queue-lab", "queue-data"):
        made.add(QueueWorker(name=name, queue="queue", every_ms=300, prefetch=1))
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
        node.queue = "queue" if on else ""
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
          toggles: tuple[Toggle, ...] = (), figure: str = "kafka-groups") -> Scenario:
    """A Kafka scenario; ``figure``: the panel presenter mode shows beside the cluster and the badge."""
    return Scenario(slug=slug, title=title, kind="kafka", build=build, promise=promise, explain=explain,
                    simplification=SIMPLIFIED, presets=PRESETS, toggles=toggles,
                    presenter=("kafka-cluster", "kafka-safety", figure))


SCENARIOS = (
    kafka("kafka-messenger", "Messenger: do it later", build_messenger,
          "A message service publishes “message sent” events and never waits; notification, email and analytics "
          "services each read them at their own pace. Kill the email service: nothing is lost.",
          ("The messenger service publishes every “message sent” event to the topic messages and goes on at once: "
           "it never waits for the slow work (sending notifications and emails, counting).",
           "Three services read the same topic, each in its own consumer group, so each gets every event. "
           "Each keeps its own committed offset. The email service is the slowest (6 a second for 3 arriving), so "
           "it takes longest to catch up after a pause.",
           "Try: click email-1 to kill it. The others go on; events for email pile up in the log (watch its lag "
           "grow). Click it again: it resumes from its committed offset and catches up. Nothing was lost.",
           "Try: publish your own event in the form, or from a terminal with the commands below.")),
    kafka("kafka-shop", "Shop events by topic", build_shop,
          "Orders and vendor messages go to two topics; invoice generation subscribes to orders only.",
          ("The shop publishes orders to the topic orders; vendors publish to vendor-messages. A topic is a "
           "named stream: a consumer subscribes to the topics it cares about.",
           "invoices-1 (group invoices) subscribes to orders only, so it never sees a vendor message; "
           "vendor-inbox-1 reads vendor-messages only.",
           "Try: publish a record to vendor-messages and check that invoices-1's processed count does not move. "
           "Then add a consumer to invoices: the group splits the orders partitions between its members.")),
    kafka("kafka-keys", "Keys and ordering", build_keys,
          "Messages keyed by sender land on the same partition and stay in order; null keys spread. See the "
          "murmur2 hash and the modulo.",
          ("The chat service keys each message by its sender (user-1 … user-6). The producer hashes the key with "
           "murmur2, makes it positive and takes it modulo the number of partitions: the same key always lands "
           "on the same partition, so one sender's messages stay in order.",
           "Try: publish with key user-3 and read the reply: it shows murmur2, toPositive and the modulo. "
           "Publish again with the same key: same partition, next offset.",
           "Try: publish with an empty key. The sticky partitioner sends a whole batch to one partition, then "
           "moves on: keyless records spread, with no order between partitions.",
           "Try: add partitions to chat (Topics). Keys now map modulo a bigger number, so some senders move to "
           "another partition: their order across the change is no longer guaranteed."),
          figure="kafka-producers"),
    kafka("kafka-groups", "Consumer groups and rebalancing", build_groups,
          "Add consumers one by one, up to more than the partitions; kill one and watch its partitions move; "
          "watch lag grow and shrink.",
          ("Events arrive at 8 a second on 4 partitions; workers-1 alone handles 4 a second, so lag grows.",
           "Try: “Add a consumer” to workers. The group rebalances (state: rebalancing) and the partitions are "
           "split between the members (range assignor); lag stops growing and falls.",
           "Try: add consumers until there are 5: with 4 partitions one member gets nothing and stays idle.",
           "Try: kill a member. After session.timeout.ms (10 s) without heartbeats the coordinator removes it and "
           "gives its partitions to the others, which start from the committed offsets.")),
    kafka("kafka-replication", "Replication and broker failure", build_replication,
          "RF 3, acks=all, min ISR 2: kill brokers one by one and watch ISR, leadership and what producers get "
          "back. The unclean election switch shows data loss.",
          ("payments has 3 partitions, each copied to 3 brokers: a leader (★) that takes writes and two followers "
           "that fetch from it. The in-sync replicas (ISR) are those caught up. With acks=all a record is "
           "acknowledged once every ISR member has it; min.insync.replicas=2 refuses writes with fewer than 2.",
           "Try: kill the broker that leads payments-0. Its ZooKeeper session expires (6 s), the controller moves "
           "leadership to an in-sync follower and the producer retries there. Acknowledged = readable: nothing "
           "acknowledged is lost.",
           "Killed or powered off? A killed broker's process is gone, so its machine closes every connection: "
           "the producer's batch fails at once (NETWORK_EXCEPTION) and the followers' fetches too, and they ask "
           "for fresh metadata. Shift-click the leader instead to power it off: it answers nothing, so the "
           "producer waits request.timeout.ms (30 s) before it gives up on that batch. Either way, the controller "
           "moves leadership only when the broker's ZooKeeper session expires.",
           "Try: kill a second broker. The ISR is now 1 < 2: producers get NOT_ENOUGH_REPLICAS and retry; "
           "nothing is acknowledged, so nothing can be lost. Restart a broker and writes resume.",
           "Try: switch on unclean leader election, kill brokers so that only an out-of-sync replica is left, and "
           "restart it: it may become leader without the latest records. The safety badge names what was lost."),
          toggles=(UNCLEAN,), figure="kafka-producers"),
    kafka("kafka-activity", "Activity tracking at 10x", build_activity,
          "Chat, reactions, submissions and logins flow into one topic; press 10x load and scale partitions and "
          "consumers to keep lag flat.",
          ("Four services publish learner activity to the topic activity (2 partitions), keyed by user. "
           "activity-db-1 stores it at 15 records a second: enough for today's 10 a second.",
           "Try: switch on 10x load. 100 records a second arrive and lag climbs: one consumer cannot keep up.",
           "Try: add consumers to activity-db. With 2 partitions only 2 members can work; the others are idle. "
           "Add partitions (Topics, e.g. 8), then consumers: the work spreads and lag flattens.",
           "Partitions are the unit of parallelism: a group can use at most as many consumers as partitions."),
          toggles=(TEN_X,)),
    kafka("kafka-bookings", "Lab bookings", build_bookings,
          "A booking service feeds a lab service and a data service, each getting every booking. Switch to a "
          "classic queue and see bookings split between them instead.",
          ("The booking service publishes each booking to bookings. The lab service allocates a lab for each; "
           "the data service stores each for analytics. Each is its own consumer group, so each gets every "
           "booking, independently, and the log keeps them for a late reader.",
           "Try: switch on “Classic message queue”. Bookings now go to a queue that hands each message to ONE "
           "consumer, taking them in turn (each may hold one unacknowledged booking: prefetch 1), and deletes it "
           "once acknowledged: the lab service and the data service each get about half, and neither sees them "
           "all. That is why a log with consumer groups fits this design.",
           "Try: kill lab-service-1 for a while, then restart it: it catches up from its committed offset."),
          toggles=(CLASSIC,)),
    kafka("kafka-retention", "Retention and compaction", build_retention,
          "A short retention makes old segments disappear; a compacted topic keeps the latest value per key and "
          "drops tombstones.",
          ("clicks keeps records for 20 s in segments of 5 s: every few seconds the oldest whole segment is "
           "deleted and the log start offset moves up (the faded block).",
           "profiles is compacted: the cleaner keeps only the latest value of each key (user-1 … user-5). Older "
           "values fade out; a tombstone (a null value) deletes its key, and is itself removed after "
           "delete.retention.ms (10 s).",
           "Try: change clicks' retention (Topics) to 60 s and watch the log grow; back to 10 s and old "
           "segments go."),
          figure="kafka-topics"),
)
