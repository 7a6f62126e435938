"""A Kafka broker (``KafkaServer`` in ZooKeeper mode), as a simulated machine.

It is a ZooKeeper client, as a real broker is: on start it registers the
ephemeral ``/brokers/ids/<id>`` and races for the ephemeral ``/controller``
(the master-election recipe of the ZooKeeper labs). The winner runs the
controller (``controller.py``). Every broker then serves what the controller
tells it in ``LeaderAndIsr``:

- as a partition's **leader** it appends produced records, tracks its
  followers' fetches, moves the high watermark, and asks the controller to
  shrink or grow the ISR (``AlterPartition``); acks=all produces wait for the
  high watermark (``DelayedProduce``);
- as a **follower** it fetches from the leader, truncates where its log
  diverged (the leader-epoch check of fetch v12+), and copies the leader's
  high watermark and log start;
- as **group coordinator** for the groups whose ``__consumer_offsets``
  partition it leads (``coordinator.py``).

Its partition logs are on disk (durable); roles, fetch state, groups and
metadata are volatile and rebuilt after a restart from the controller.

``Broker`` holds all of this state; its behaviour lives in modules of
functions that take the broker first, as Kafka splits ``KafkaServer``:

- ``registration.py``: the ZooKeeper session and ``/brokers/ids`` (``KafkaZkClient``);
- ``request_handlers.py``: requests from the controller and from clients (``KafkaApis``);
- ``replica_manager.py``: roles, ISR, high watermark, produce and fetch purgatories (``ReplicaManager``);
- ``replica_fetcher.py``: fetching from leaders as a follower (``ReplicaFetcherThread``);
- ``log_manager.py``: retention and compaction (``LogManager``, ``LogCleaner``);
- ``controller.py`` and ``coordinator.py``: ``KafkaController`` and ``GroupCoordinator``.

The methods below are what the simulation kernel calls (``handle_<kind>`` for
a message, ``on_<timer>`` for a timer, ``start``, and ``ZkClient``'s
``on_state``/``on_reply``/``on_watch``), each handing over to one of those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordlab.sim import Message, Simulation, durable, serializable
from zookeeper_app.model.client import ZkClient
from zookeeper_app.model.codes import Code

from . import controller as ctl
from . import coordinator, log_manager, registration, replica_fetcher, replica_manager, request_handlers
from .config import TopicConfig, parse_topic_config
from .errors import InvalidConfigurationError, KafkaError
from .log import LogConfig, PartitionLog
from .protocol import broker_name
from .replica_fetcher import Fetcher
from .replica_manager import DelayedProduce, HostedPartition, ParkedFetch
from .settings import BrokerSettings


@serializable
@dataclass
class Broker(ZkClient):
    broker_id: int = durable(0)
    settings: BrokerSettings = durable(default_factory=BrokerSettings)
    logs: dict[str, PartitionLog] = durable(default_factory=dict)
    registered: bool = False
    controller_id: int = -1
    controller_epoch: int = 0
    hosted: dict[str, HostedPartition] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=lambda: {"brokers": [], "controller": -1, "topics": {}})
    fetchers: dict[int, Fetcher] = field(default_factory=dict)
    delayed: list[DelayedProduce] = field(default_factory=list)
    parked: list[ParkedFetch] = field(default_factory=list)
    next_fetch: int = 1
    zk_pending: dict[int, dict[str, Any]] = field(default_factory=dict)
    controller: ctl.ControllerState | None = None
    groups: dict[str, coordinator.Group] = field(default_factory=dict)
    offsets: dict[str, dict[str, int]] = field(default_factory=dict)  # group → "topic-p" → committed offset
    creating: dict[str, int] = field(default_factory=dict)  # topic → when this broker asked the controller

    # -- life cycle (KafkaServer.startup) ----------------------------------------------------------

    def start(self, sim: Simulation) -> None:
        self.connect(sim)  # registration follows once the session is connected (on_state)
        replica_manager.start(self, sim)
        log_manager.start(self, sim)

    # -- ZooKeeper session and registration (registration.py) --------------------------------------

    def on_state(self, sim: Simulation, state: str) -> None:
        registration.session_changed(self, sim, state)

    def on_reply(self, sim: Simulation, xid: int, code: Code, result: Any) -> None:
        registration.zk_reply(self, sim, xid, code, result)

    def on_watch(self, sim: Simulation, event: str, path: str) -> None:
        registration.zk_watch(self, sim, event, path)

    # -- requests from the controller (request_handlers.py, replica_manager.py) --------------------

    def handle_update_metadata(self, sim: Simulation, message: Message) -> None:
        request_handlers.update_metadata(self, sim, message)

    def handle_leader_and_isr(self, sim: Simulation, message: Message) -> None:
        request_handlers.leader_and_isr(self, sim, message)

    def handle_alter_partition_response(self, sim: Simulation, message: Message) -> None:
        replica_manager.alter_partition_response(self, sim, message)

    # -- requests from clients (request_handlers.py) -----------------------------------------------

    def handle_produce(self, sim: Simulation, message: Message) -> None:
        request_handlers.produce(self, sim, message)

    def handle_fetch(self, sim: Simulation, message: Message) -> None:
        request_handlers.fetch(self, sim, message)

    def handle_metadata(self, sim: Simulation, message: Message) -> None:
        request_handlers.metadata(self, sim, message)

    def handle_list_offsets(self, sim: Simulation, message: Message) -> None:
        request_handlers.list_offsets(self, sim, message)

    def handle_create_topics_response(self, sim: Simulation, message: Message) -> None:
        """The answer to an auto-create; the topic arrives with the next UpdateMetadata."""

    # -- the replica manager's timers (replica_manager.py) -----------------------------------------

    def on_isr_check(self, sim: Simulation) -> None:
        replica_manager.isr_check(self, sim)

    def on_produce_deadline(self, sim: Simulation) -> None:
        replica_manager.produce_deadline(self, sim)

    def on_fetch_deadline(self, sim: Simulation) -> None:
        replica_manager.fetch_deadline(self, sim)

    # -- following: the replica fetchers (replica_fetcher.py) --------------------------------------

    def handle_fetch_response(self, sim: Simulation, message: Message) -> None:
        replica_fetcher.fetch_response(self, sim, message)

    def on_fetch_timeout(self, sim: Simulation, leader: int, fetch: int) -> None:
        replica_fetcher.fetch_timeout(self, sim, leader, fetch)

    def on_fetch_again(self, sim: Simulation, leader: int) -> None:
        replica_fetcher.fetch_from(self, sim, leader)

    def undelivered(self, sim: Simulation, message: Message, refused: bool) -> None:
        super().undelivered(sim, message, refused)
        replica_fetcher.fetch_undelivered(self, sim, message, refused)

    def connected_to(self, peer: str) -> bool:
        """Its ZooKeeper session's server, and the brokers it fetches from as a follower."""
        return super().connected_to(peer) or peer in (broker_name(leader) for leader in self.fetchers)

    def handle_connection_closed(self, sim: Simulation, message: Message) -> None:
        """A killed peer: its ZooKeeper server (the session moves on, as any client's), or a leader
        this broker fetches from (the fetch fails now and is tried again after the backoff)."""
        super().handle_connection_closed(sim, message)
        replica_fetcher.leader_closed(self, sim, message.src)

    # -- retention and the cleaner (log_manager.py) ------------------------------------------------

    def on_retention(self, sim: Simulation) -> None:
        log_manager.retention(self, sim)

    def on_cleaner(self, sim: Simulation) -> None:
        log_manager.clean(self, sim)

    # -- group coordination (coordinator.py) -------------------------------------------------------

    def handle_find_coordinator(self, sim: Simulation, message: Message) -> None:
        coordinator.find(self, sim, message)

    def handle_join_group(self, sim: Simulation, message: Message) -> None:
        coordinator.join(self, sim, message)

    def handle_sync_group(self, sim: Simulation, message: Message) -> None:
        coordinator.sync(self, sim, message)

    def handle_heartbeat(self, sim: Simulation, message: Message) -> None:
        coordinator.heartbeat(self, sim, message)

    def handle_leave_group(self, sim: Simulation, message: Message) -> None:
        coordinator.leave(self, sim, message)

    def handle_offset_commit(self, sim: Simulation, message: Message) -> None:
        coordinator.commit(self, sim, message)

    def handle_offset_fetch(self, sim: Simulation, message: Message) -> None:
        coordinator.fetch_offsets(self, sim, message)

    def handle_describe_groups(self, sim: Simulation, message: Message) -> None:
        coordinator.describe(self, sim, message)

    def on_rebalance_deadline(self, sim: Simulation, group: str, token: int) -> None:
        coordinator.rebalance_deadline(self, sim, group, token)

    def on_member_expiry(self, sim: Simulation, group: str, member: str) -> None:
        coordinator.member_expiry(self, sim, group, member)

    # -- the controller, when this broker is it (controller.py) ------------------------------------

    def handle_alter_partition(self, sim: Simulation, message: Message) -> None:
        ctl.alter_partition(self, sim, message)

    def handle_create_topics(self, sim: Simulation, message: Message) -> None:
        ctl.create_topics(self, sim, message)

    def handle_create_partitions(self, sim: Simulation, message: Message) -> None:
        ctl.create_partitions(self, sim, message)

    def handle_alter_configs(self, sim: Simulation, message: Message) -> None:
        ctl.alter_configs(self, sim, message)

    def handle_controller_ack(self, sim: Simulation, message: Message) -> None:
        ctl.acknowledged(self, message.body["broker"], message.body["request"], message.body["seq"])

    def on_controller_resend(self, sim: Simulation) -> None:
        ctl.resend(self, sim)

    # -- helpers for controller.py and coordinator.py ----------------------------------------------

    def zk(self, sim: Simulation, request: Any, purpose: dict[str, Any] | None = None) -> int:
        """Send a ZooKeeper request; a ``purpose`` routes its reply (``registration.zk_reply``)."""
        xid = self.submit(sim, request)
        if purpose is not None:
            self.zk_pending[xid] = purpose
        return xid

    def topic_defaults(self) -> TopicConfig:
        s = self.settings
        return TopicConfig(LogConfig(segment_bytes=s.log_segment_bytes, retention_ms=s.log_retention_ms),
                           s.min_insync_replicas, s.unclean_leader_election_enable)

    def parse_config(self, given: dict[str, Any]) -> tuple[TopicConfig | None, str]:
        try:
            return parse_topic_config(given, self.topic_defaults()), ""
        except InvalidConfigurationError as error:
            return None, str(error)

    def append_as_leader(self, sim: Simulation, name: str, records: list[dict[str, Any]],
                         acks: int) -> tuple[type[KafkaError] | None, tuple[int, int]]:
        """Append a batch as leader: (error, (base offset, end offset)); see ``replica_manager``."""
        return replica_manager.append_as_leader(self, sim, name, records, acks)

    def ask_to_create(self, sim: Simulation, topic: str, partitions: int, replication: int,
                      configs: dict[str, Any] | None = None) -> None:
        """Ask the controller to create a topic (``AutoTopicCreationManager``); see ``request_handlers``."""
        request_handlers.ask_to_create(self, sim, topic, partitions, replication, configs)
