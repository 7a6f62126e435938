"""Broker settings: Kafka's server.properties names and defaults.

The lab scenarios shorten some of them so a failure plays out in seconds,
and say so on the page; everything else uses what a Kafka 3.7 broker uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordlab.sim import serializable

OFFSETS_TOPIC = "__consumer_offsets"


@serializable
@dataclass
class BrokerSettings:
    zookeeper_session_timeout_ms: int = 18_000
    replica_lag_time_max_ms: int = 30_000
    replica_fetch_wait_max_ms: int = 500
    replica_fetch_backoff_ms: int = 1_000
    replica_socket_timeout_ms: int = 30_000
    log_retention_check_interval_ms: int = 300_000
    log_cleaner_backoff_ms: int = 15_000
    group_initial_rebalance_delay_ms: int = 3_000
    group_min_session_timeout_ms: int = 6_000
    group_max_session_timeout_ms: int = 1_800_000
    offsets_topic_num_partitions: int = 50
    offsets_topic_replication_factor: int = 3
    offsets_topic_segment_bytes: int = 104_857_600
    auto_create_topics_enable: bool = True
    num_partitions: int = 1
    default_replication_factor: int = 1
    message_max_bytes: int = 1_048_588
    min_insync_replicas: int = 1
    unclean_leader_election_enable: bool = False
    log_retention_ms: int = 604_800_000
    log_segment_bytes: int = 1_073_741_824

    @classmethod
    def known(cls) -> list[str]:
        return list(cls.__dataclass_fields__)
