"""The Kafka lab's own commands (``{"command": "act", "op": ...}``): publish a
record, drive a producer's traffic, add, remove, pause or slow a consumer,
reset a group's offsets, create a topic, add partitions, change retention,
and the terminal's consumer joining and leaving.

``check`` validates a command against the simulation as it is now, so a bad
one changes nothing and its sender is told why; ``apply`` carries out a
checked (logged) command, live and again when a lab replays its history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from coordlab.labs.commands import CommandError
from coordlab.labs.kinds import JOINS, LEAVES, VANISHES, Action
from coordlab.sim import Message, Simulation, serializable

from .model import observe
from .model.admin import AdminNode
from .model.client import ClientNode
from .model.config import legal_topic_name, parse_topic_config
from .model.consumer import ConsumerNode
from .model.errors import InvalidConfigurationError, error_for
from .model.partitioner import murmur2, to_positive
from .model.producer import ProducerNode
from .model.real_client import RealClient
from .model.story import KEY_MODES, Publisher, Service, TerminalConsumer

MAX_RATE = 200.0
MAX_PARTITIONS = 12
MAX_CONSUMERS = 12
MACHINE_NAME = re.compile(r"[a-z][a-z0-9-]{0,23}")
TERMINAL_NAME = re.compile(r"terminal-[a-z0-9]{4}")
REAL_CLIENT_NAME = re.compile(r"real-[a-z0-9-]{1,19}")
WEB_PRODUCER = "web"
ADMIN = "topic-admin"
TERMINAL_RATE = 20.0
LAB_EVIDENCE = 2_000  # records each client keeps for the safety badge
LAB_METADATA_AGE_MS = 10_000  # clients see new partitions within 10 s (Kafka: metadata.max.age.ms = 5 min)
SESSION_TIMEOUT_MS = 10_000  # kafka-python's default (the Java client's is 45 s)


@serializable
@dataclass
class LabAdmin(AdminNode):
    """The admin client of the topic forms: its refusals go to the timeline."""

    def answer(self, sim: Simulation, message: Message) -> None:
        before = set(self.answers)
        super().answer(sim, message)
        for ticket in [t for t in self.answers if t not in before]:
            body = self.answers.pop(ticket)
            errors = [(code, text) for code, text in body.get("errors", {}).values()] or [
                (body.get("error", 0), body.get("message"))]
            for code, text in errors:
                if code:
                    sim.trace(self.name, "admin_refused", f"The controller refused: {error_for(code).__name__}"
                              + (f" ({text})" if text else "") + ".", code=code)


# -- reading fields -------------------------------------------------------------------------------------------------


def _text(fields: dict[str, Any], name: str, default: str | None = None) -> str:
    value = fields.get(name, default)
    if value is None:
        raise CommandError(f"'{name}' is needed.")
    return str(value).strip() if not isinstance(value, str) else value


def _int(fields: dict[str, Any], name: str, low: int, high: int, default: int | None = None) -> int:
    raw = fields.get(name, default)
    try:
        number = int(str(raw).strip())
    except (TypeError, ValueError):
        raise CommandError(f"'{name}' must be a whole number from {low} to {high}.") from None
    if not low <= number <= high:
        raise CommandError(f"'{name}' must be from {low} to {high}.")
    return number


def _rate(fields: dict[str, Any], name: str = "rate") -> float:
    try:
        rate = float(str(fields.get(name, "")).strip())
    except ValueError:
        raise CommandError("A rate is a number of records a second, such as 5 or 0.5.") from None
    if not 0 <= rate <= MAX_RATE:
        raise CommandError(f"A rate is from 0 to {MAX_RATE:g} records a second here.")
    return rate


def _topic(sim: Simulation, fields: dict[str, Any]) -> str:
    topic = _text(fields, "topic").strip()
    topics = sorted(t for t in observe.view(sim)[0].topics if not t.startswith("__"))
    if topic not in topics:
        raise CommandError(f"There is no topic '{topic[:40]}' (topics: {', '.join(topics) or 'none yet'}). "
                           "Create it under Topics first.")
    return topic


def _node(sim: Simulation, fields: dict[str, Any], kind: type, what: str, field: str = "member") -> Any:
    name = _text(fields, field).strip()
    node = sim.nodes.get(name)
    if not isinstance(node, kind):
        known = [n for n, m in sim.nodes.items() if isinstance(m, kind)]
        raise CommandError(f"There is no {what} '{name[:40]}' (there are: {', '.join(known) or 'none'}).")
    return node


def _consumer(sim: Simulation, fields: dict[str, Any], running: bool = True) -> ConsumerNode:
    node: ConsumerNode = _node(sim, fields, ConsumerNode, "consumer")
    if running and (not node.alive or node.phase == "closed"):
        raise CommandError(f"{node.name} is not running.")
    return node


def _headers(raw: str) -> list[list[str]]:
    headers = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise CommandError("Headers are written name=value, separated by commas: source=web, lang=en.")
        headers.append([key.strip(), value.strip()])
    return headers


def how_partition(sim: Simulation, topic: str, key: str | None, producer: object = None) -> str:
    """How the producer will pick the record's partition, with the partition count it knows: a
    producer that already has the topic's metadata keeps its count until that metadata is
    refreshed, so partitions just added are not used yet (as in Kafka)."""
    count = len(observe.view(sim)[0].topics[topic].assignment)
    known = producer.partition_count(topic) if isinstance(producer, ClientNode) else 0
    stale = ""
    if isinstance(producer, ClientNode) and known and known != count:
        stale = (f" The producer's metadata still says {known} partitions, not {count}: it uses its count until "
                 f"the metadata is refreshed (every metadata.max.age.ms = {producer.metadata_max_age_ms // 1000} s, "
                 "or after an error).")
        count = known
    if key is None:
        return f"No key: the sticky partitioner picks one of the {count} partitions for a whole batch.{stale}"
    hashed = murmur2(key.encode())
    return (f"murmur2(“{key}”) = {hashed}, toPositive = {to_positive(hashed)}, "
            f"% {count} partitions = partition {to_positive(hashed) % count}.{stale}")


# -- checking -------------------------------------------------------------------------------------------------------


def check_publish(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    producer = _text(fields, "producer", WEB_PRODUCER).strip()
    if producer != WEB_PRODUCER and not TERMINAL_NAME.fullmatch(producer):
        raise CommandError("Publish through the web producer, or a terminal's (named terminal- and four "
                           "lowercase letters or digits).")
    node = sim.nodes.get(producer)
    if node is not None and not isinstance(node, Publisher):
        raise CommandError(f"{producer} is not a producer here: name another one.")
    if node is not None and not node.alive:
        raise CommandError(f"The producer {producer} is down: restart it first.")
    topic = _topic(sim, fields)
    key = _text(fields, "key", "") or None
    acks = _text(fields, "acks", "all").strip()
    if acks not in ("0", "1", "all"):
        raise CommandError("acks is 0, 1 or all.")
    logged = {"producer": producer, "topic": topic, "key": key, "value": _text(fields, "value", ""),
              "headers": _headers(_text(fields, "headers", "")), "acks": acks}
    return logged, f"{producer} sends it to {topic} with acks={acks}. {how_partition(sim, topic, key, node)}"


def check_traffic(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    service: Service = _node(sim, fields, Service, "producing service", "producer")
    rate = _rate(fields)
    keys = _text(fields, "keys", service.keys).strip()
    if keys not in KEY_MODES:
        raise CommandError(f"Keys are one of: {', '.join(KEY_MODES)}.")
    return ({"producer": service.name, "rate": rate, "keys": keys},
            f"{service.name} now produces {rate:g} records a second, keyed by {KEY_MODES[keys]}.")


def check_add_consumer(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    group = _text(fields, "group").strip()
    members = [n for n in sim.nodes.values() if isinstance(n, ConsumerNode) and n.group_id == group]
    if not MACHINE_NAME.fullmatch(group):
        raise CommandError("A group name is a short lowercase word, such as billing.")
    if len([m for m in members if m.alive and m.phase != "closed"]) >= MAX_CONSUMERS:
        raise CommandError(f"A group has at most {MAX_CONSUMERS} consumers here.")
    topics = members[0].subscription if members else [_topic(sim, fields)]
    rate = _rate(fields) if "rate" in fields else (members[-1].rate if members else 5.0)
    name = next(f"{group}-{n}" for n in range(1, 100) if f"{group}-{n}" not in sim.nodes)
    return ({"group": group, "name": name, "topics": list(topics), "rate": rate},
            f"{name} starts and joins group {group}: the group rebalances to give it partitions.")


def check_member(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    node = _consumer(sim, fields)
    return {"member": node.name}, ""


def check_remove_consumer(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    logged, _ = check_member(sim, fields)
    return logged, f"{logged['member']} commits, leaves its group and stops: the others share its partitions."


def check_pause(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    node = _consumer(sim, fields)
    if node.paused:
        raise CommandError(f"{node.name} is already paused.")
    return {"member": node.name}, f"{node.name} stops processing (it still heartbeats, so it keeps its partitions)."


def check_resume(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    node = _consumer(sim, fields)
    if not node.paused:
        raise CommandError(f"{node.name} is not paused.")
    return {"member": node.name}, f"{node.name} processes again and catches up."


def check_consumer_rate(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    node = _consumer(sim, fields)
    rate = _rate(fields)
    return {"member": node.name, "rate": rate}, f"{node.name} now processes {rate:g} records a second."


def check_reset_offsets(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    group = _text(fields, "group").strip()
    members = [n for n in sim.nodes.values() if isinstance(n, ConsumerNode) and n.group_id == group
               and n.alive and n.phase == "stable"]
    if not members:
        raise CommandError(f"Group '{group[:40]}' has no running member to move.")
    to = _text(fields, "to", "earliest").strip()
    if to not in ("earliest", "latest"):
        to = str(_int(fields, "to", 0, 10**12))
    return {"group": group, "to": to}, f"Every member of {group} moves to {to} on its partitions and commits there."


def check_create_topic(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    topic = _text(fields, "topic").strip()
    if not legal_topic_name(topic) or topic.startswith("__") or len(topic) > 40:
        raise CommandError("A topic name is letters, digits, '.', '_' or '-' (at most 40 here).")
    if topic in observe.view(sim)[0].topics:
        raise CommandError(f"Topic '{topic}' already exists (TopicExistsError).")
    brokers = len(observe.brokers(sim))
    partitions = _int(fields, "partitions", 1, MAX_PARTITIONS, 3)
    replication = _int(fields, "replication", 1, brokers, min(3, brokers))
    configs = {"cleanup.policy": _text(fields, "cleanup", "delete").strip(),
               "min.insync.replicas": str(_int(fields, "min_isr", 1, replication, 1))}
    if str(fields.get("retention_ms", "")).strip():
        configs["retention.ms"] = str(_int(fields, "retention_ms", 1000, 604_800_000))
    try:
        parse_topic_config(configs)
    except InvalidConfigurationError as error:
        raise CommandError(str(error)) from None
    return ({"topic": topic, "partitions": partitions, "replication": replication, "configs": configs},
            f"Asked the controller to create {topic}: {partitions} partition(s) × {replication} replica(s).")


def check_add_partitions(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    topic = _topic(sim, fields)
    current = len(observe.view(sim)[0].topics[topic].assignment)
    total = _int(fields, "partitions", 1, MAX_PARTITIONS)
    if total <= current:
        raise CommandError(f"{topic} has {current} partitions; a topic can only get more (at most "
                           f"{MAX_PARTITIONS} here).")
    return ({"topic": topic, "total": total},
            f"Asked the controller for {total} partitions of {topic}: keys now map modulo {total}, "
            "so some keys move to other partitions.")


def check_set_retention(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    topic = _topic(sim, fields)
    retention = _int(fields, "retention_ms", 1000, 604_800_000)
    return ({"topic": topic, "retention_ms": retention},
            f"{topic} now keeps records for {retention / 1000:g} s; older segments get deleted.")


def check_join(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    member = _text(fields, "member").strip()
    if not TERMINAL_NAME.fullmatch(member):
        raise CommandError("A terminal consumer is named terminal- and four lowercase letters or digits.")
    if member in sim.nodes:
        raise CommandError(f"{member} is already in this lab.")
    group = _text(fields, "group").strip()
    if not MACHINE_NAME.fullmatch(group):
        raise CommandError("A group name is a short lowercase word, such as billing.")
    topic = _topic(sim, fields)
    reset = _text(fields, "reset", "latest").strip()
    if reset not in ("earliest", "latest"):
        raise CommandError("A new member of a new group starts at the earliest or the latest offset.")
    where = "the start of the log" if reset == "earliest" else "the end of the log (new records only)"
    return ({"member": member, "group": group, "topic": topic, "reset": reset},
            f"{member} joins group {group} on {topic}: the group rebalances to include it. Where the group has no "
            f"committed offset yet, it starts at {where}.")


def check_vanish(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    node = _consumer(sim, fields)
    return {"member": node.name}, f"{node.name}'s terminal is gone without a goodbye."


# -- applying -------------------------------------------------------------------------------------------------------


def bootstrap(sim: Simulation) -> list[str]:
    return [b.name for b in observe.brokers(sim)]


def next_producer_id(sim: Simulation) -> int:
    return 1 + max((n.producer_id for n in sim.nodes.values() if isinstance(n, ProducerNode)), default=-1)


def admin(sim: Simulation) -> LabAdmin:
    node = sim.nodes.get(ADMIN)
    if not isinstance(node, LabAdmin):
        node = sim.add_node(LabAdmin(name=ADMIN, bootstrap=bootstrap(sim), client_id=ADMIN))
    assert isinstance(node, LabAdmin)
    return node


def add_consumer(sim: Simulation, name: str, group: str, topics: list[str], rate: float,
                 kind: type[ConsumerNode] = ConsumerNode, reset: str = "earliest") -> None:
    sim.add_node(kind(name=name, bootstrap=bootstrap(sim), client_id=name, group_id=group, subscription=topics,
                      auto_offset_reset=reset, rate=rate, session_timeout_ms=SESSION_TIMEOUT_MS,
                      evidence_limit=LAB_EVIDENCE, metadata_max_age_ms=LAB_METADATA_AGE_MS))


def publish(sim: Simulation, command: dict[str, Any]) -> None:
    node = sim.nodes.get(command["producer"])
    if node is None:
        node = sim.add_node(Publisher(name=command["producer"], bootstrap=bootstrap(sim),
                                      client_id=command["producer"], producer_id=next_producer_id(sim),
                                      evidence_limit=LAB_EVIDENCE, metadata_max_age_ms=LAB_METADATA_AGE_MS))
    assert isinstance(node, Publisher)
    node.acks = -1 if command["acks"] == "all" else int(command["acks"])
    key = command["key"]
    node.send(sim, command["topic"], command["value"].encode(), None if key is None else key.encode(),
              [(k, v.encode()) for k, v in command["headers"]])


def traffic(sim: Simulation, command: dict[str, Any]) -> None:
    node = sim.nodes[command["producer"]]
    assert isinstance(node, Service)
    node.rate, node.keys = command["rate"], command["keys"]
    sim.trace(node.name, "traffic", f"{node.name} produces {node.rate:g} records/s, keyed by "
              f"{KEY_MODES[node.keys]}.")


def _member_node(sim: Simulation, command: dict[str, Any]) -> ConsumerNode:
    node = sim.nodes[command["member"]]
    assert isinstance(node, ConsumerNode)
    return node


def close_consumer(sim: Simulation, command: dict[str, Any]) -> None:
    _member_node(sim, command).close(sim)


def pause_or_resume(sim: Simulation, command: dict[str, Any]) -> None:
    node = _member_node(sim, command)
    node.paused = command["op"] == "pause_consumer"
    sim.trace(node.name, "paused" if node.paused else "resumed",
              f"{node.name} {'pauses: it stops processing but keeps heartbeating' if node.paused else 'resumes'}.")
    node.fetch(sim)


def consumer_rate(sim: Simulation, command: dict[str, Any]) -> None:
    node = _member_node(sim, command)
    start = node.rate <= 0 < command["rate"]
    node.rate = command["rate"]
    if start:
        sim.set_timer(node.name, "process", 100)
    sim.trace(node.name, "rate", f"{node.name} now processes {node.rate:g} records a second.")


def create_topic(sim: Simulation, command: dict[str, Any]) -> None:
    admin(sim).ask(sim, "CreateTopics", topics=[{"name": command["topic"], "partitions": command["partitions"],
                                                 "replication": command["replication"],
                                                 "configs": command["configs"]}], validate_only=False)


def add_partitions(sim: Simulation, command: dict[str, Any]) -> None:
    admin(sim).ask(sim, "CreatePartitions", topic=command["topic"], total=command["total"])


def set_retention(sim: Simulation, command: dict[str, Any]) -> None:
    admin(sim).ask(sim, "AlterConfigs", topic=command["topic"], configs={"retention.ms": str(command["retention_ms"])})


def join(sim: Simulation, command: dict[str, Any]) -> None:
    add_consumer(sim, command["member"], command["group"], [command["topic"]], TERMINAL_RATE, TerminalConsumer,
                 command.get("reset", "latest"))


def reset_offsets(sim: Simulation, group: str, to: str) -> None:
    """What a learner's code does with seek_to_beginning / seek_to_end / seek on every member, then commits."""
    for node in sim.nodes.values():
        if not (isinstance(node, ConsumerNode) and node.group_id == group and node.alive and node.phase == "stable"):
            continue
        for name in node.assignment:
            if to in ("earliest", "latest"):
                if name not in node.resets:
                    node.resets.append(name)
                node.reset(sim, name, "a learner reset the group's offsets", to)
            else:
                node.seek(name, int(to))
        node.commit_positions(sim, {name: node.positions[name] for name in node.assignment
                                    if name in node.positions} if to not in ("earliest", "latest") else None)
    sim.trace("lab", "offsets_reset", f"Group {group}'s offsets reset to {to}.", group=group)


def check_real_produce(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A Produce request a real client sent to one of the lab's brokers over TCP (``kafka_app.wire``
    builds these fields from the request it decoded; a browser cannot send records)."""
    client, broker = fields.get("client"), fields.get("broker")
    partitions = fields.get("partitions")
    if not isinstance(client, str) or not REAL_CLIENT_NAME.fullmatch(client) or not isinstance(broker, str) \
            or broker not in sim.nodes or not isinstance(partitions, list) or not partitions:
        raise CommandError("Real clients' records come from the brokers' ports, not from here.")
    node = sim.nodes.get(client)
    if node is not None and not isinstance(node, RealClient):
        raise CommandError(f"{client} is not a real client here.")
    if node is not None and not node.alive:
        raise CommandError(f"{client} is down in the lab: restart it first.")
    count = sum(len(p["records"]) for p in partitions)
    logged = {"client": client, "broker": broker, "request": str(fields["request"]), "acks": int(fields["acks"]),
              "timeout_ms": int(fields["timeout_ms"]), "partitions": partitions}
    return logged, f"{client} (a real Kafka client) sends {count} record(s) to {broker}."


def real_produce(sim: Simulation, command: dict[str, Any]) -> None:
    node = sim.nodes.get(command["client"])
    if node is None:
        node = sim.add_node(RealClient(name=command["client"]))
    assert isinstance(node, RealClient)
    node.produce(sim, command["broker"], command["request"], command["acks"], command["timeout_ms"],
                 command["partitions"])


#: op → its check and apply; a terminal client may publish, and join and end its own consumers
ACTIONS = {
    "publish": Action(check_publish, publish, terminal=True),
    "traffic": Action(check_traffic, traffic),
    "add_consumer": Action(check_add_consumer,
                           lambda sim, c: add_consumer(sim, c["name"], c["group"], c["topics"], c["rate"])),
    "remove_consumer": Action(check_remove_consumer, close_consumer),
    "pause_consumer": Action(check_pause, pause_or_resume),
    "resume_consumer": Action(check_resume, pause_or_resume),
    "consumer_rate": Action(check_consumer_rate, consumer_rate),
    "reset_offsets": Action(check_reset_offsets, lambda sim, c: reset_offsets(sim, c["group"], c["to"])),
    "create_topic": Action(check_create_topic, create_topic),
    "add_partitions": Action(check_add_partitions, add_partitions),
    "set_retention": Action(check_set_retention, set_retention),
    "join": Action(check_join, join, terminal=True, member=JOINS),
    "leave": Action(check_remove_consumer, close_consumer, terminal=True, member=LEAVES),
    "vanish": Action(check_vanish, lambda sim, c: sim.crash(c["member"]), terminal=True, member=VANISHES),
    "real_produce": Action(check_real_produce, real_produce),
}
