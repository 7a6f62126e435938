"""A partition's replication state on its leader (``Partition``, ``Replica``).

The leader tracks, for each follower, the log end offset it last fetched from
and when it was last caught up. A follower stays in sync while it is caught
up with the leader's log end, or was within ``replica.lag.time.max.ms``; the
ISR shrinks when it falls behind longer and grows back when the follower
reaches the high watermark. The high watermark is the smallest log end offset
in the ISR, and (since Kafka 3.7) it does not advance while the ISR is smaller
than ``min.insync.replicas``. With acks=all a write is refused before it is
appended if the ISR is below that minimum (NOT_ENOUGH_REPLICAS).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coordlab.sim import serializable

REPLICA_LAG_TIME_MAX_MS = 30_000


@serializable
@dataclass
class FollowerProgress:
    log_end_offset: int = 0
    last_caught_up: int = 0
    last_fetch_leader_leo: int = 0
    last_fetch_time: int = 0


@serializable
@dataclass
class PartitionState:
    leader: int
    replicas: list[int]
    isr: list[int]
    leader_epoch: int = 0
    min_isr: int = 1
    lag_max_ms: int = REPLICA_LAG_TIME_MAX_MS
    followers: dict[int, FollowerProgress] = field(default_factory=dict)

    def became_leader(self, now: int, leader_leo: int) -> None:
        """Reset follower tracking as a new leader does: ISR members count as caught up now."""
        self.followers = {r: FollowerProgress(0, now if r in self.isr else 0, leader_leo, now)
                          for r in self.replicas if r != self.leader}

    def effective_min_isr(self) -> int:
        return min(self.min_isr, len(self.replicas))

    def can_accept_acks_all(self) -> bool:
        """False: an acks=all produce is refused with NOT_ENOUGH_REPLICAS before it is appended."""
        return len(self.isr) >= self.effective_min_isr()

    def follower_fetched(self, follower: int, fetch_offset: int, leader_leo: int, now: int) -> None:
        """A follower fetched from ``fetch_offset``: it has everything below it
        (``Replica.updateFetchStateOrThrow``)."""
        progress = self.followers.setdefault(follower, FollowerProgress())
        if fetch_offset >= leader_leo:
            progress.last_caught_up = max(progress.last_caught_up, now)
        elif fetch_offset >= progress.last_fetch_leader_leo:
            progress.last_caught_up = max(progress.last_caught_up, progress.last_fetch_time)
        progress.log_end_offset = fetch_offset
        progress.last_fetch_leader_leo = leader_leo
        progress.last_fetch_time = now

    def out_of_sync(self, leader_leo: int, now: int) -> list[int]:
        """ISR followers that are neither caught up nor within the lag time."""
        return [r for r in self.isr if r != self.leader and not (
            self.followers.get(r, FollowerProgress()).log_end_offset == leader_leo
            or now - self.followers.get(r, FollowerProgress()).last_caught_up <= self.lag_max_ms)]

    def can_join_isr(self, follower: int, high_watermark: int) -> bool:
        progress = self.followers.get(follower)
        return follower not in self.isr and progress is not None and progress.log_end_offset >= high_watermark

    def high_watermark(self, leader_leo: int, current: int) -> int:
        """The new high watermark: the smallest LEO in the ISR, never moving back, and
        frozen while the ISR is below min.insync.replicas."""
        if len(self.isr) < self.effective_min_isr():
            return current
        ends = [leader_leo] + [self.followers.get(r, FollowerProgress()).log_end_offset
                               for r in self.isr if r != self.leader]
        return max(current, min(ends))
