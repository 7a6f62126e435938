"""Topic configuration: the names, defaults and checks of Kafka's ``LogConfig``.

A topic's config is given as Kafka takes it (``{"retention.ms": "60000"}``,
strings or numbers); what is not given falls back to the broker default.
An unknown name or a bad value is refused with ``InvalidConfigurationError``,
as ``CreateTopics`` refuses it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coordlab.sim import serializable

from .errors import InvalidConfigurationError
from .log import LogConfig

# name → (LogConfig field or "", smallest allowed value); "" for the replication settings below
NUMERIC = {
    "retention.ms": ("retention_ms", -1),
    "retention.bytes": ("retention_bytes", -1),
    "segment.ms": ("segment_ms", 1),
    "segment.bytes": ("segment_bytes", 14),
    "delete.retention.ms": ("delete_retention_ms", 0),
    "min.insync.replicas": ("", 1),
}
POLICIES = ("delete", "compact", "compact,delete")
LEGAL_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")


def legal_topic_name(name: object) -> bool:
    """``Topic.validate``: letters, digits, '.', '_' and '-', at most 249, and not "." or ".."."""
    return isinstance(name, str) and name not in (".", "..") and LEGAL_TOPIC_NAME.fullmatch(name) is not None


@serializable
@dataclass
class TopicConfig:
    log: LogConfig
    min_insync_replicas: int = 1
    unclean_leader_election: bool = False

    def as_kafka(self) -> dict[str, str]:
        """The config as ``kafka-configs --describe`` names it."""
        return {
            "cleanup.policy": self.log.cleanup_policy,
            "delete.retention.ms": str(self.log.delete_retention_ms),
            "min.insync.replicas": str(self.min_insync_replicas),
            "retention.bytes": str(self.log.retention_bytes),
            "retention.ms": str(self.log.retention_ms),
            "segment.bytes": str(self.log.segment_bytes),
            "segment.ms": str(self.log.segment_ms),
            "unclean.leader.election.enable": str(self.unclean_leader_election).lower(),
        }


def parse_topic_config(given: Mapping[str, Any], base: TopicConfig | None = None) -> TopicConfig:
    """Apply ``given`` over ``base`` (the broker defaults if None)."""
    current = base or TopicConfig(LogConfig())
    values = current.as_kafka()
    for name, value in given.items():
        if name not in values:
            raise InvalidConfigurationError(f"Unknown topic config name: {name}")
        values[name] = str(value).strip().lower()
    numbers: dict[str, int] = {}
    for name, (_, smallest) in NUMERIC.items():
        try:
            numbers[name] = int(values[name])
        except ValueError:
            raise InvalidConfigurationError(f"Invalid value {values[name]} for configuration {name}: "
                                            "Not a number of type LONG") from None
        if numbers[name] < smallest:
            raise InvalidConfigurationError(f"Invalid value {numbers[name]} for configuration {name}: "
                                            f"Value must be at least {smallest}")
    policy = ",".join(sorted(p.strip() for p in values["cleanup.policy"].split(",")))
    if policy not in POLICIES:
        raise InvalidConfigurationError(f"Invalid value {values['cleanup.policy']} for configuration "
                                        "cleanup.policy: String must be one of: compact, delete")
    unclean = values["unclean.leader.election.enable"]
    if unclean not in ("true", "false"):
        raise InvalidConfigurationError(f"Invalid value {unclean} for configuration "
                                        "unclean.leader.election.enable: Expected value to be either true or false")
    log = LogConfig(**{field: numbers[name] for name, (field, _) in NUMERIC.items() if field},
                    cleanup_policy=policy)
    return TopicConfig(log, numbers["min.insync.replicas"], unclean == "true")
