"""What the Kafka scenarios' guided steps do and wait for (``coordlab.labs.guide``).

An action looks at the cluster as it is when the learner presses Next and returns the command
a button of the page would send ("kill whichever broker leads payments-0 now"), or None when
there is nothing to do. A moment says whether what a step is about has happened ("payments-0's
new leader has acknowledged a write"). The lab tests a step's moment after every event while it
plays to it, so moments only look up a few named machines, dicts and list ends: never a scan of
a log, of the trace or of every machine. They read nothing but the simulation, so a step shown
again after Back, or a lab restored from a save, waits for the same thing.
"""

from __future__ import annotations

from typing import Any

from coordlab.labs.guide import Action
from coordlab.sim import Simulation

from .actions import WEB_PRODUCER
from .model import observe
from .model.broker import Broker
from .model.consumer import ConsumerNode
from .model.controller import ControllerState
from .model.log import PartitionLog
from .model.protocol import broker_name
from .model.story import ClassicQueue, LagMonitor, Publisher, SafetyMonitor, Service

Command = dict[str, Any]

#: the lab machines that the scenarios add (``kafka_app.scenarios``) and the steps read
MONITOR, SAFETY, QUEUE = "monitor", "safety", "queue"
MAX_BROKERS = 9


# -- reading the cluster cheaply ---------------------------------------------------------------------------------


def brokers(sim: Simulation) -> list[Broker]:
    """The brokers b1, b2, … (looked up by name: the scenarios number them from 1)."""
    found = []
    for broker_id in range(1, MAX_BROKERS + 1):
        node = sim.nodes.get(broker_name(broker_id))
        if not isinstance(node, Broker):
            break
        found.append(node)
    return found


def controller_state(sim: Simulation) -> ControllerState | None:
    """What the active controller holds (as ``observe.controller_id`` picks it), or None while
    no live broker is a ready controller."""
    best: ControllerState | None = None
    for broker in brokers(sim):
        state = broker.controller
        if broker.alive and state is not None and state.ready and (best is None or state.epoch > best.epoch):
            best = state
    return best


def leader(sim: Simulation, partition: str) -> Broker | None:
    """The live broker that the controller names as the partition's leader, if any."""
    state = controller_state(sim)
    current = state.partitions.get(partition) if state is not None else None
    if current is None or current.leader < 0:
        return None
    node = sim.nodes.get(broker_name(current.leader))
    return node if isinstance(node, Broker) and node.alive else None


def leader_log(sim: Simulation, partition: str) -> PartitionLog | None:
    broker = leader(sim, partition)
    return broker.logs.get(partition) if broker is not None else None


def oldest_timestamp(log: PartitionLog) -> int | None:
    """When the log's oldest record was written (the first segments only are looked at)."""
    for segment in log.segments:
        if segment.records:
            return segment.records[0].timestamp
    return None


def consumer(sim: Simulation, name: str) -> ConsumerNode | None:
    node = sim.nodes.get(name)
    return node if isinstance(node, ConsumerNode) else None


def members(sim: Simulation, group: str) -> list[ConsumerNode]:
    """The group's consumers the lab started (named group-1, group-2, …, as "Add a consumer" names
    them), running or not."""
    found = []
    for number in range(1, 100):
        node = consumer(sim, f"{group}-{number}")
        if node is None:
            break
        found.append(node)
    return found


def running(node: ConsumerNode) -> bool:
    return node.alive and node.phase != "closed"


def lag(sim: Simulation, group: str) -> int:
    """The group's lag as the page's chart last showed it (the lag monitor samples every second)."""
    monitor = sim.nodes.get(MONITOR)
    series = monitor.samples.get(group) if isinstance(monitor, LagMonitor) else None
    return series[-1][1] if series else 0


def lag_falling(sim: Simulation, group: str, over: int = 5, by: int = 5) -> bool:
    """The group's lag is at least ``by`` records lower than ``over`` seconds ago."""
    monitor = sim.nodes.get(MONITOR)
    series = monitor.samples.get(group, []) if isinstance(monitor, LagMonitor) else []
    return len(series) > over and series[-1][1] <= series[-1 - over][1] - by


def caught_up(node: ConsumerNode | None) -> bool:
    """The consumer is working and has processed all its partitions hold, as far as its latest
    fetches know (a restarted consumer knows no high watermark before its first fetch)."""
    if node is None or not running(node) or node.phase != "stable" or not node.assignment:
        return False
    for name in node.assignment:
        if name not in node.high_watermarks or name not in node.positions:
            return False
        if node.high_watermarks[name] > node.positions[name]:
            return False
    return True


def split(sim: Simulation, group: str, count: int, partitions: int) -> bool:
    """``count`` members of ``group`` run, all stable, and own the ``partitions`` partitions of
    their topic between them, each partition once."""
    working = [m for m in members(sim, group) if running(m)]
    if len(working) != count or any(m.phase != "stable" for m in working):
        return False
    owned = [name for m in working for name in m.assignment]
    return len(owned) == partitions == len(set(owned))


def web_record(sim: Simulation, key: str | None) -> tuple[str, int] | None:
    """Where the web producer's latest record went (partition, offset), once it is acknowledged
    and nothing else it sent waits for an answer; None before, or if the latest had another key."""
    web = sim.nodes.get(WEB_PRODUCER)
    if not isinstance(web, Publisher) or web.outgoing or not web.outbox:
        return None
    latest = web.outbox[-1]
    if latest["error"] or latest["offset"] < 0 or latest["key"] != key:
        return None
    return f"{latest['topic']}-{latest['partition']}", latest["offset"]


def read_by(sim: Simulation, readers: tuple[str, ...], key: str | None) -> bool:
    """The web producer's latest record (with ``key``) is acknowledged and every one of
    ``readers`` has processed it."""
    where = web_record(sim, key)
    if where is None:
        return False
    partition, offset = where
    for name in readers:
        node = consumer(sim, name)
        if node is None or node.positions.get(partition, 0) <= offset:
            return False
    return True


def service(sim: Simulation, name: str) -> Service | None:
    node = sim.nodes.get(name)
    return node if isinstance(node, Service) else None


# -- commands, as the page's buttons send them -----------------------------------------------------------------


def crash(name: str) -> Action:
    def action(sim: Simulation) -> Command | None:
        node = sim.nodes.get(name)
        return {"command": "crash", "node": name} if node is not None and node.alive else None
    return action


def restart(name: str) -> Action:
    def action(sim: Simulation) -> Command | None:
        node = sim.nodes.get(name)
        return {"command": "restart", "node": name} if node is not None and not node.alive else None
    return action


def toggle(slug: str, on: bool) -> Action:
    def action(sim: Simulation) -> Command:
        return {"command": "toggle", "name": slug, "on": on}
    return action


def publish(topic: str, key: str, value: str) -> Action:
    """The publish form: through the web producer, acks=all (an empty key is no key)."""
    def action(sim: Simulation) -> Command:
        return {"command": "act", "op": "publish", "topic": topic, "key": key, "value": value, "acks": "all"}
    return action


def add_consumer(group: str) -> Action:
    """A group's "Add a consumer" button: one more member, at the rate of the group's latest."""
    def action(sim: Simulation) -> Command:
        return {"command": "act", "op": "add_consumer", "group": group}
    return action


def add_partitions(topic: str, total: int) -> Action:
    def action(sim: Simulation) -> Command:
        return {"command": "act", "op": "add_partitions", "topic": topic, "partitions": total}
    return action


def set_retention(topic: str, retention_ms: int) -> Action:
    def action(sim: Simulation) -> Command:
        return {"command": "act", "op": "set_retention", "topic": topic, "retention_ms": retention_ms}
    return action


# -- messenger ---------------------------------------------------------------------------------------------------

EMAIL = "email-1"
EMAIL_PILE = 50  # records: well above the 5 s between two commits (about 15), so 10 s and more of messages
READERS = ("notifications-1", "email-1", "analytics-1")
MY_KEY = "you"


def email_piles_up(sim: Simulation) -> bool:
    node = sim.nodes.get(EMAIL)
    return node is not None and not node.alive and lag(sim, "email") >= EMAIL_PILE


def email_caught_up(sim: Simulation) -> bool:
    return caught_up(consumer(sim, EMAIL))


def every_service_read_mine(sim: Simulation) -> bool:
    return read_by(sim, READERS, MY_KEY)


# -- shop --------------------------------------------------------------------------------------------------------

VENDOR_KEY = "vendor-7"


def vendor_inbox_read_it(sim: Simulation) -> bool:
    return read_by(sim, ("vendor-inbox-1",), VENDOR_KEY)


def invoices_split(sim: Simulation) -> bool:
    return split(sim, "invoices", 2, 3)


# -- keys --------------------------------------------------------------------------------------------------------

SENDER = "user-3"
CHAT_PARTITIONS, MORE_CHAT_PARTITIONS = 4, 8


def sender_stored(sim: Simulation) -> bool:
    return web_record(sim, SENDER) is not None


def keyless_stored(sim: Simulation) -> bool:
    return web_record(sim, None) is not None


def chat_uses_new_partitions(sim: Simulation) -> bool:
    """The chat service's latest acknowledged message went to one of the partitions just added."""
    chat = service(sim, "chat")
    return chat is not None and bool(chat.outbox) and chat.outbox[-1]["partition"] >= CHAT_PARTITIONS \
        and not chat.outbox[-1]["error"]


# -- groups ------------------------------------------------------------------------------------------------------

EVENTS_PARTITIONS = 4


def workers_split_in_two(sim: Simulation) -> bool:
    return split(sim, "workers", 2, EVENTS_PARTITIONS)


def workers_lag_falls(sim: Simulation) -> bool:
    return split(sim, "workers", 3, EVENTS_PARTITIONS) and lag_falling(sim, "workers")


def workers_one_partition_each(sim: Simulation) -> bool:
    return split(sim, "workers", 4, EVENTS_PARTITIONS)


def one_worker_idle(sim: Simulation) -> bool:
    working = [m for m in members(sim, "workers") if running(m)]
    return split(sim, "workers", 5, EVENTS_PARTITIONS) and sum(not m.assignment for m in working) == 1


def kill_a_working_member(sim: Simulation) -> Command | None:
    """Kill the first member (by name) that owns a partition."""
    busy = [m.name for m in members(sim, "workers") if running(m) and m.assignment]
    return {"command": "crash", "node": busy[0]} if busy else None


def partitions_moved(sim: Simulation) -> bool:
    """Every partition is owned again by the members still running, after one was killed."""
    group = members(sim, "workers")
    return any(not m.alive for m in group) and split(sim, "workers", sum(running(m) for m in group),
                                                       EVENTS_PARTITIONS)


# -- replication -------------------------------------------------------------------------------------------------

WATCHED = "payments-0"


def kill_the_leader(sim: Simulation) -> Command | None:
    """Kill whichever broker leads payments-0 now."""
    state, _ = observe.view(sim)
    current = state.partitions.get(WATCHED)
    if current is None or current.leader < 0:
        return None
    return {"command": "crash", "node": broker_name(current.leader)}


def settled_log(sim: Simulation, state: ControllerState, partition: str) -> PartitionLog | None:
    """The log of the partition's leader, once that leader has taken the role the controller gave
    it (its log has the controller's leader epoch) and the ISR has only live brokers in it."""
    current = state.partitions.get(partition)
    broker = sim.nodes.get(broker_name(current.leader)) if current is not None else None
    if current is None or not isinstance(broker, Broker) or not broker.alive:
        return None
    for member in current.isr:
        node = sim.nodes.get(broker_name(member))
        if node is None or not node.alive:
            return None
    log = broker.logs.get(partition)
    return log if log is not None and log.epochs and log.epochs[-1][0] == current.leader_epoch else None


def new_leader_acknowledged(sim: Simulation) -> bool:
    """With a broker dead, payments-0 has a live leader again, and the payments service's latest
    acknowledgement is for a record written in its partition's newest leader epoch: one the
    controller started after the death (it starts one whenever a replica in the ISR dies), so
    a record the dead broker never had."""
    state = controller_state(sim)
    payments = service(sim, "payments")
    if state is None or payments is None or not payments.outbox or all(b.alive for b in brokers(sim)) \
            or settled_log(sim, state, WATCHED) is None:
        return False
    latest = payments.outbox[-1]
    if latest["error"] or latest["offset"] < 0:
        return False
    log = settled_log(sim, state, f"{latest['topic']}-{latest['partition']}")
    return log is not None and latest["offset"] >= log.epochs[-1][1]


def kill_another_broker(sim: Simulation) -> Command | None:
    """Kill the broker that leads payments-0 now (the second to go), or else any live one."""
    broker = leader(sim, WATCHED) or next((b for b in brokers(sim) if b.alive), None)
    return {"command": "crash", "node": broker.name} if broker is not None else None


def not_enough_replicas(sim: Simulation) -> bool:
    """payments-0's ISR is down to one broker and the payments service has retried a write the
    leader refused with NOT_ENOUGH_REPLICAS."""
    state = controller_state(sim)
    current = state.partitions.get(WATCHED) if state is not None else None
    payments = service(sim, "payments")
    return current is not None and len(current.isr) == 1 and payments is not None \
        and payments.retried.get("NOT_ENOUGH_REPLICAS", 0) > 0


def unclean_known(sim: Simulation) -> bool:
    """The controller has the payments topic's new setting."""
    state = controller_state(sim)
    info = state.topics.get("payments") if state is not None else None
    return info is not None and info.config.get("unclean.leader.election.enable") == "true"


def kill_the_last_broker(sim: Simulation) -> Command | None:
    alive = [b.name for b in brokers(sim) if b.alive]
    return {"command": "crash", "node": alive[0]} if len(alive) == 1 else None


def restart_the_first_killed(sim: Simulation) -> Command | None:
    """Restart the broker that has been down longest: it missed the most."""
    down = [b for b in brokers(sim) if not b.alive]
    if not down:
        return None
    return {"command": "restart", "node": min(down, key=lambda b: (b.down_since, b.name)).name}


def records_lost(sim: Simulation) -> bool:
    monitor = sim.nodes.get(SAFETY)
    return isinstance(monitor, SafetyMonitor) and bool(monitor.violations)


# -- activity ----------------------------------------------------------------------------------------------------

ACTIVITY_PILE = 500
MORE_ACTIVITY_PARTITIONS = 8


def activity_lag_climbs(sim: Simulation) -> bool:
    return lag(sim, "activity-db") >= ACTIVITY_PILE


def activity_split_in_two(sim: Simulation) -> bool:
    return split(sim, "activity-db", 2, 2)


def activity_one_idle(sim: Simulation) -> bool:
    working = [m for m in members(sim, "activity-db") if running(m)]
    return split(sim, "activity-db", 3, 2) and sum(not m.assignment for m in working) == 1


def activity_all_busy(sim: Simulation) -> bool:
    working = [m for m in members(sim, "activity-db") if running(m)]
    return split(sim, "activity-db", 3, MORE_ACTIVITY_PARTITIONS) and all(m.assignment for m in working)


# -- bookings ----------------------------------------------------------------------------------------------------

QUEUED = 20
LAB_SERVICE = "lab-service-1"
BOOKINGS_PILE = 20


def queue_took_turns(sim: Simulation) -> bool:
    queue = sim.nodes.get(QUEUE)
    return isinstance(queue, ClassicQueue) and queue.received >= QUEUED


def lab_service_behind(sim: Simulation) -> bool:
    node = sim.nodes.get(LAB_SERVICE)
    return node is not None and not node.alive and lag(sim, "lab-service") >= BOOKINGS_PILE


def lab_service_caught_up(sim: Simulation) -> bool:
    return caught_up(consumer(sim, LAB_SERVICE))


# -- retention ---------------------------------------------------------------------------------------------------

CLICKS = ("clicks-0", "clicks-1")
LONGER_MS, SHORTER_MS = 60_000, 10_000
GROWN_MS = 30_000  # beyond what 20 s of retention keeps (20 s, plus a 5 s segment, plus a 2 s check)
TRIMMED_MS = 20_000  # at most what 10 s keeps (10 s, plus a 5 s segment, plus a 2 s check)


def clicks_span(sim: Simulation) -> list[int]:
    """How old the oldest record of each clicks partition is (ms), on its leader."""
    spans = []
    for name in CLICKS:
        log = leader_log(sim, name)
        oldest = oldest_timestamp(log) if log is not None else None
        if oldest is None:
            return []
        spans.append(sim.now - oldest)
    return spans


def clicks_grew(sim: Simulation) -> bool:
    spans = clicks_span(sim)
    return bool(spans) and min(spans) > GROWN_MS


def clicks_trimmed(sim: Simulation) -> bool:
    spans = clicks_span(sim)
    return bool(spans) and max(spans) <= TRIMMED_MS

