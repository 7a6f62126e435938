"""The entry point: a Kafka cluster on a ZooKeeper ensemble, in one simulation.

    >>> cluster = Cluster(brokers=3, zookeeper=3, seed=7)
    >>> cluster.run_for(30.0); cluster.controller()
    2

ZooKeeper servers are z1..zN, brokers b1..bN (broker ids 1..N), clients
producer-1, consumer-1, admin... All share one simulated network, so crashes
and partitions apply to every machine. Broker settings are given by their
server.properties names with underscores (``replica_lag_time_max_ms=10000``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from coordlab.sim import Node, Simulation
from zookeeper_app.model import Ensemble

from . import observe
from .admin import AdminNode
from .api import KafkaAdminClient, KafkaConsumer, KafkaProducer
from .broker import Broker
from .consumer import ASSIGNORS, ConsumerNode
from .controller import ControllerState, metadata
from .errors import KafkaTimeoutError
from .producer import ProducerNode
from .protocol import broker_name
from .records import log_name
from .settings import BrokerSettings

PRODUCER_CONFIGS = {"acks", "linger_ms", "batch_size", "retries", "request_timeout_ms", "delivery_timeout_ms",
                    "max_block_ms", "retry_backoff_ms", "metadata_max_age_ms", "client_id", "bootstrap_servers",
                    "key_serializer", "value_serializer", "enable_idempotence"}
CONSUMER_CONFIGS = {"group_id", "auto_offset_reset", "enable_auto_commit", "auto_commit_interval_ms",
                    "session_timeout_ms", "heartbeat_interval_ms", "max_poll_interval_ms", "max_poll_records",
                    "fetch_max_wait_ms", "partition_assignment_strategy", "client_id", "bootstrap_servers",
                    "request_timeout_ms", "retry_backoff_ms", "metadata_max_age_ms", "key_deserializer",
                    "value_deserializer", "processing_rate"}


def parse_acks(acks: Any) -> int:
    if acks in ("all", -1, "-1"):
        return -1
    if acks in (0, 1, "0", "1"):
        return int(acks)
    raise ValueError(f"acks must be 0, 1 or 'all', not {acks!r}")


class Cluster:
    def __init__(self, brokers: int = 3, zookeeper: int = 3, seed: int = 0, latency_ms: int = 5, jitter_ms: int = 2,
                 zk_tick_ms: int = 2_000, **settings: Any) -> None:
        if brokers < 1:
            raise ValueError("a cluster needs at least one broker")
        unknown = sorted(set(settings) - set(BrokerSettings.known()))
        if unknown:
            raise TypeError(f"unknown broker settings: {', '.join(unknown)}")
        self.ensemble = Ensemble(servers=zookeeper, seed=seed, tick_time=zk_tick_ms, latency_ms=latency_ms,
                                 jitter_ms=jitter_ms)
        self.sim: Simulation = self.ensemble.sim
        self.settings = BrokerSettings(**settings)
        self.broker_ids = list(range(1, brokers + 1))
        for broker_id in self.broker_ids:
            self.sim.add_node(Broker(name=broker_name(broker_id), hosts=list(self.ensemble.server_names),
                                     timeout_ms=self.settings.zookeeper_session_timeout_ms, broker_id=broker_id,
                                     settings=dataclasses.replace(self.settings)))
        self.counters: dict[str, int] = {}

    # -- time ---------------------------------------------------------------------------------------------

    @property
    def now(self) -> int:
        """Virtual time in milliseconds."""
        return self.sim.now

    def run_for(self, seconds: float) -> None:
        self.ensemble.run_for(seconds)

    def run_until(self, done: Callable[[], bool], seconds: float) -> bool:
        """Run until ``done()`` or ``seconds`` of virtual time pass; True if done."""
        return self.ensemble.run_until(done, seconds)

    # -- machines ------------------------------------------------------------------------------------------

    def broker(self, broker_id: int) -> Broker:
        node = self.sim.nodes[broker_name(broker_id)]
        assert isinstance(node, Broker)
        return node

    def brokers(self) -> list[Broker]:
        return [self.broker(b) for b in self.broker_ids]

    def controller(self) -> int | None:
        """The broker id of the active controller, or None while there is none."""
        return observe.controller_id(self.sim)

    def next_name(self, kind: str) -> str:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return f"{kind}-{self.counters[kind]}"

    def bootstrap(self, servers: Any) -> list[str]:
        if servers is None:
            return [broker_name(b) for b in self.broker_ids]
        listed = [servers] if isinstance(servers, str) else list(servers)
        names = [str(s).split(":")[0] for s in listed]
        unknown = [n for n in names if n not in self.sim.nodes or not isinstance(self.sim.nodes[n], Broker)]
        if unknown:
            raise ValueError(f"unknown bootstrap servers: {', '.join(unknown)} (the brokers are "
                             f"{', '.join(broker_name(b) for b in self.broker_ids)})")
        return names

    def producer(self, name: str | None = None, **configs: Any) -> KafkaProducer:
        """A KafkaProducer-shaped client on a new machine."""
        unknown = sorted(set(configs) - PRODUCER_CONFIGS)
        if unknown:
            raise TypeError(f"Unrecognized configs: {', '.join(unknown)}")
        name = name or self.next_name("producer")
        self.counters["producer_id"] = self.counters.get("producer_id", -1) + 1
        idempotent = configs.get("enable_idempotence", True)
        node = ProducerNode(name=name, bootstrap=self.bootstrap(configs.get("bootstrap_servers")),
                            client_id=configs.get("client_id", name), acks=parse_acks(configs.get("acks", "all")),
                            producer_id=self.counters["producer_id"] if idempotent else -1)
        for option in ("linger_ms", "batch_size", "retries", "request_timeout_ms", "delivery_timeout_ms",
                       "max_block_ms", "retry_backoff_ms", "metadata_max_age_ms"):
            if option in configs:
                setattr(node, option, int(configs[option]))
        self.sim.add_node(node)
        return KafkaProducer(self, name, configs.get("key_serializer"), configs.get("value_serializer"))

    def consumer(self, *topics: str, name: str | None = None, **configs: Any) -> KafkaConsumer:
        """A KafkaConsumer-shaped client on a new machine, subscribed to ``topics``."""
        unknown = sorted(set(configs) - CONSUMER_CONFIGS)
        if unknown:
            raise TypeError(f"Unrecognized configs: {', '.join(unknown)}")
        reset = configs.get("auto_offset_reset", "latest")
        if reset not in ("earliest", "latest", "none"):
            raise ValueError(f"auto_offset_reset must be 'earliest', 'latest' or 'none', not {reset!r}")
        strategies = [strategy_name(s) for s in configs.get("partition_assignment_strategy", ("range", "roundrobin"))]
        name = name or self.next_name("consumer")
        node = ConsumerNode(name=name, bootstrap=self.bootstrap(configs.get("bootstrap_servers")),
                            client_id=configs.get("client_id", name), group_id=configs.get("group_id") or "",
                            subscription=list(topics), auto_offset_reset=reset, assignors=strategies,
                            rate=float(configs.get("processing_rate", 0.0)),
                            enable_auto_commit=bool(configs.get("enable_auto_commit", True)))
        for option in ("auto_commit_interval_ms", "session_timeout_ms", "heartbeat_interval_ms",
                       "max_poll_interval_ms", "max_poll_records", "fetch_max_wait_ms", "request_timeout_ms",
                       "retry_backoff_ms", "metadata_max_age_ms"):
            if option in configs:
                setattr(node, option, int(configs[option]))
        if not node.group_id:
            node.request_timeout_ms = min(node.request_timeout_ms, 30_000)
        self.sim.add_node(node)
        return KafkaConsumer(self, name, configs.get("value_deserializer"), configs.get("key_deserializer"))

    def admin(self) -> KafkaAdminClient:
        return KafkaAdminClient(self)

    def admin_node(self) -> AdminNode:
        if "admin" not in self.sim.nodes:
            self.sim.add_node(AdminNode(name="admin", bootstrap=self.bootstrap(None), client_id="admin"))
        node = self.sim.nodes["admin"]
        assert isinstance(node, AdminNode)
        return node

    def wait_admin(self, ticket: int, seconds: float) -> dict[str, Any]:
        node = self.admin_node()
        if not self.run_until(lambda: ticket in self.admin_node().answers, seconds):
            node.pending.pop(ticket, None)
            raise KafkaTimeoutError(f"the admin request got no answer within {seconds:g} s")
        return self.admin_node().answers.pop(ticket)

    def add(self, node: Node) -> Node:
        """Add another machine (an actor of a scenario) to the network."""
        return self.sim.add_node(node)

    # -- what the cluster looks like ----------------------------------------------------------------------------

    def view(self) -> tuple[ControllerState, int]:
        """The active controller's state and id, else what ZooKeeper holds (and who holds /controller)."""
        return observe.view(self.sim)

    def metadata(self) -> dict[str, Any]:
        """Brokers, controller and every topic's partitions, as UpdateMetadata carries them."""
        return metadata(*self.view())

    def topics(self) -> list[str]:
        return sorted(self.view()[0].topics)

    def partition_count(self, topic: str) -> int:
        info = self.view()[0].topics.get(topic)
        return len(info.assignment) if info is not None else 0

    def has_leaders(self, topic: str) -> bool:
        """Every partition of the topic has a live leader that has taken the role."""
        state = self.view()[0]
        info = state.topics.get(topic)
        if info is None:
            return False
        for partition in info.assignment:
            name = log_name(topic, int(partition))
            leader = state.partitions[name].leader if name in state.partitions else -1
            hosted = self.broker(leader).hosted.get(name) if leader > 0 else None
            if hosted is None or hosted.state is None or not self.broker(leader).alive:
                return False
        return True

    def partition_state(self, topic: str, partition: int) -> dict[str, Any]:
        """Leader, replicas, ISR, leader epoch, and each replica's log start, high watermark and log end."""
        return observe.partition_state(self.sim, self.view()[0], topic, partition)

    # -- faults ---------------------------------------------------------------------------------------------------

    def machine(self, target: int | str) -> str:
        name = broker_name(target) if isinstance(target, int) else target
        if name not in self.sim.nodes:
            raise KeyError(f"there is no machine {target!r}")
        return name

    def crash(self, target: int | str) -> None:
        self.sim.crash(self.machine(target))

    def restart(self, target: int | str) -> None:
        self.sim.restart(self.machine(target))

    def partition(self, *groups: list[int | str]) -> None:
        """Split the network. Machines not listed (ZooKeeper servers, clients) stay with the largest group."""
        named = [[self.machine(m) for m in group] for group in groups]
        listed = {m for group in named for m in group}
        rest = [n for n in self.sim.nodes if n not in listed]
        largest = max(range(len(named)), key=lambda i: len(named[i])) if named else 0
        if named:
            named[largest] = named[largest] + rest
        self.sim.partition(named)

    def cut(self, a: int | str, b: int | str, both_ways: bool = True) -> None:
        self.sim.cut(self.machine(a), self.machine(b), both_ways)

    def heal(self) -> None:
        self.sim.heal()


def strategy_name(strategy: Any) -> str:
    """kafka-python names assignors by class; accept those and Kafka's short names."""
    name = strategy if isinstance(strategy, str) else getattr(strategy, "name", type(strategy).__name__)
    short = {"RangePartitionAssignor": "range", "RoundRobinPartitionAssignor": "roundrobin",
             "StickyPartitionAssignor": "cooperative-sticky", "CooperativeStickyAssignor": "cooperative-sticky",
             "sticky": "cooperative-sticky"}.get(str(name), str(name))
    if short not in ASSIGNORS:
        raise ValueError(f"unknown partition assignment strategy {strategy!r}: use one of {', '.join(ASSIGNORS)}")
    return short
