"""The broker's periodic log tasks (``LogManager``'s retention check and the ``LogCleaner``).

Every ``log.retention.check.interval.ms`` a leader deletes its partitions' old
segments (``cleanupLogs``); followers follow the leader's log start instead.
Every ``log.cleaner.backoff.ms`` the cleaner compacts the logs of compacted
topics, on every replica.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from coordlab.sim import Simulation

if TYPE_CHECKING:
    from .broker import Broker


def start(b: Broker, sim: Simulation) -> None:
    """``LogManager.startup``: schedule the retention check and the cleaner."""
    sim.set_timer(b.name, "retention", b.settings.log_retention_check_interval_ms)
    sim.set_timer(b.name, "cleaner", b.settings.log_cleaner_backoff_ms)


def retention(b: Broker, sim: Simulation) -> None:
    sim.set_timer(b.name, "retention", b.settings.log_retention_check_interval_ms)
    for name, log in b.logs.items():
        hosted = b.hosted.get(name)
        if hosted is None or hosted.state is None:
            continue  # followers follow the leader's log start (Kafka: the leader's deletion)
        deleted = log.delete_old_segments(sim.now)
        if deleted:
            sim.trace(b.name, "retention",
                      f"Retention deleted {len(deleted)} old segment(s) of {name}: the log now starts at "
                      f"offset {log.log_start_offset}.", topic=hosted.topic, partition=hosted.partition,
                      log_start=log.log_start_offset, segments=len(deleted))


def clean(b: Broker, sim: Simulation) -> None:
    sim.set_timer(b.name, "cleaner", b.settings.log_cleaner_backoff_ms)
    for name, log in b.logs.items():
        removed = log.compact(sim.now)
        if removed:
            sim.trace(b.name, "compacted", f"The log cleaner compacted {name} on {b.name}: "
                      f"{removed} record(s) replaced by newer values of their key, or deleted tombstones.",
                      log=name, removed=removed)
