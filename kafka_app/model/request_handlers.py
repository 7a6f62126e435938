"""The broker's request handlers (``KafkaApis``).

Requests from the controller: ``UpdateMetadata`` replaces the broker's metadata
cache, ``LeaderAndIsr`` gives it a role per partition (``becomeLeaderOrFollower``,
done by ``replica_manager.become``); both are ignored if they come from an older
controller epoch, and acknowledged otherwise (``ControllerAck``).

Requests from clients: ``Produce`` appends as leader and answers at once, or
when the high watermark passes the records (acks=all, ``DelayedProduce``);
``Fetch`` answers from the leader's log, or waits in the fetch purgatory while
there is nothing to return; ``Metadata`` answers from the metadata cache and
may ask the controller to create a topic (``AutoTopicCreationManager``);
``ListOffsets`` gives a partition's log start or high watermark.

Group and offset requests go straight to the group coordinator
(``coordinator.py``), and the controller's own requests to the controller
(``controller.py``): see ``Broker``'s ``handle_*`` methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coordlab.sim import Message, Simulation

from . import replica_manager
from .config import legal_topic_name
from .errors import (
    InvalidTopicError,
    LeaderNotAvailableError,
    NotLeaderForPartitionError,
    UnknownTopicOrPartitionError,
)
from .protocol import broker_name, code_of
from .records import log_name
from .replica_manager import DelayedProduce, ParkedFetch
from .settings import OFFSETS_TOPIC

if TYPE_CHECKING:
    from .broker import Broker

AUTO_CREATE_RETRY_MS = 5_000


# -- requests from the controller ----------------------------------------------------------------


def fenced(b: Broker, sim: Simulation, message: Message) -> bool:
    """True (and traced) if a controller request comes from an older controller epoch."""
    epoch = message.body["controller_epoch"]
    if epoch < b.controller_epoch:
        sim.trace(b.name, "stale_controller",
                  f"{b.name} ignores a {message.kind} from {message.src}: controller epoch {epoch} "
                  f"is older than {b.controller_epoch}.", epoch=epoch)
        return True
    b.controller_epoch = epoch
    b.controller_id = message.body["controller_id"]
    return False


def acknowledge(b: Broker, sim: Simulation, message: Message) -> None:
    sim.send(b.name, message.src, "ControllerAck", seq=message.body["seq"], broker=b.broker_id,
             request=message.kind)


def update_metadata(b: Broker, sim: Simulation, message: Message) -> None:
    if not fenced(b, sim, message):
        b.metadata = message.body["metadata"]
        b.creating = {t: at for t, at in b.creating.items() if t not in b.metadata["topics"]}
        acknowledge(b, sim, message)


def leader_and_isr(b: Broker, sim: Simulation, message: Message) -> None:
    if fenced(b, sim, message):
        return
    acknowledge(b, sim, message)
    internal: dict[str, list[int]] = {"leads": [], "follows": []}
    for item in message.body["partitions"]:
        role = replica_manager.become(b, sim, item, quiet=item["topic"] == OFFSETS_TOPIC)
        if role and item["topic"] == OFFSETS_TOPIC:
            internal[role].append(item["partition"])
    if internal["leads"] or internal["follows"]:
        sim.trace(b.name, "offsets_roles", f"{b.name} leads {len(internal['leads'])} and follows "
                  f"{len(internal['follows'])} partitions of {OFFSETS_TOPIC}, where groups keep their offsets.",
                  leads=internal["leads"], follows=internal["follows"])


# -- produce and fetch ---------------------------------------------------------------------------


def produce(b: Broker, sim: Simulation, message: Message) -> None:
    body = message.body
    reply = {"request": body["request"], "topic": body["topic"], "partition": body["partition"]}
    name = log_name(body["topic"], body["partition"])
    error, base = replica_manager.append_as_leader(b, sim, name, body["records"], body["acks"])
    if body["acks"] == 0:
        return
    if error is not None or body["acks"] == 1 or base[1] <= b.logs[name].high_watermark:
        sim.send(b.name, message.src, "ProduceResponse", **reply, base_offset=base[0], error=code_of(error))
        return
    b.delayed.append(DelayedProduce(name, base[1], sim.now + body["timeout_ms"], message.src, "produce",
                                    {**reply, "base_offset": base[0]}))
    sim.set_timer(b.name, "produce_deadline", body["timeout_ms"])


def fetch(b: Broker, sim: Simulation, message: Message) -> None:
    body = message.body
    answer = replica_manager.serve_fetch(b, sim, body)
    has_data = any(p["records"] or p["error"] or p.get("diverging") for p in answer)
    if has_data or body["max_wait_ms"] <= 0:
        sim.send(b.name, message.src, "FetchResponse", fetch=body["fetch"], request=body.get("request", 0),
                 partitions=answer)
    else:
        b.parked.append(ParkedFetch(message.src, body, sim.now + body["max_wait_ms"]))
        sim.set_timer(b.name, "fetch_deadline", body["max_wait_ms"])


# -- metadata, topics and offsets ----------------------------------------------------------------


def metadata(b: Broker, sim: Simulation, message: Message) -> None:
    topics = message.body.get("topics")
    known = b.metadata["topics"]
    errors = {}
    for topic in topics or []:
        if topic in known:
            continue
        if not legal_topic_name(topic):
            errors[topic] = code_of(InvalidTopicError)
        elif message.body.get("allow_auto_create") and b.settings.auto_create_topics_enable:
            ask_to_create(b, sim, topic, b.settings.num_partitions, b.settings.default_replication_factor)
            errors[topic] = code_of(LeaderNotAvailableError)
        else:
            errors[topic] = code_of(UnknownTopicOrPartitionError)
    chosen = {t: known[t] for t in (topics if topics is not None else known) if t in known}
    sim.send(b.name, message.src, "MetadataResponse", request=message.body["request"],
             brokers=b.metadata["brokers"], controller=b.metadata["controller"], topics=chosen,
             errors=errors)


def ask_to_create(b: Broker, sim: Simulation, topic: str, partitions: int, replication: int,
                  configs: dict[str, Any] | None = None) -> None:
    """Auto-create a topic: ask the controller, as a broker does in ``AutoTopicCreationManager``."""
    asked = b.creating.get(topic)
    if (asked is not None and sim.now - asked < AUTO_CREATE_RETRY_MS) or b.controller_id < 0:
        return  # asked recently; a request lost with a dead controller is asked again later
    b.creating[topic] = sim.now
    sim.trace(b.name, "auto_create", f"{b.name} asks the controller to create topic {topic} "
              f"(auto.create.topics.enable: {partitions} partition(s), replication factor {replication}).",
              topic=topic)
    sim.send(b.name, broker_name(b.controller_id), "CreateTopics", request=0,
             topics=[{"name": topic, "partitions": partitions,
                      "replication": min(replication, max(1, len(b.metadata["brokers"]))),
                      "configs": configs or {}}])


def list_offsets(b: Broker, sim: Simulation, message: Message) -> None:
    body = message.body
    name = log_name(body["topic"], body["partition"])
    hosted, log = b.hosted.get(name), b.logs.get(name)
    reply = {"request": body["request"], "topic": body["topic"], "partition": body["partition"]}
    if hosted is None or log is None or hosted.state is None:
        sim.send(b.name, message.src, "ListOffsetsResponse", **reply, offset=-1,
                 error=code_of(NotLeaderForPartitionError))
        return
    offset = log.log_start_offset if body["timestamp"] == -2 else log.high_watermark
    sim.send(b.name, message.src, "ListOffsetsResponse", **reply, offset=offset, error=0)
