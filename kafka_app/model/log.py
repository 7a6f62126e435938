"""A partition's log on one broker: segments, offsets, retention and compaction
(``UnifiedLog``, ``LogSegment``, ``LogCleaner``). It is what a broker keeps on
disk, so it survives a crash.

Offsets: the log start offset (first offset still kept), the log end offset
(LEO, the next offset to write) and the high watermark (HW, set by the leader
from its in-sync replicas; consumers read below it). A segment rolls when the
next batch would pass ``segment.bytes`` or when ``segment.ms`` has passed since
its first record. Retention deletes whole segments from the oldest, only below
the HW; even the active segment once the HW reaches the end (a new empty one is
rolled first). Compaction keeps the latest record of each key outside the
active segment; a tombstone (null value) is kept for ``delete.retention.ms``
after the cleaner first sees it, then dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from coordlab.sim import serializable

RECORD_OVERHEAD = 70  # bytes per record besides key and value, roughly a v2 batch's per-record share


@serializable
@dataclass
class Record:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    delete_horizon: int = -1  # set on a tombstone the first time the cleaner sees it

    @property
    def size(self) -> int:
        return RECORD_OVERHEAD + len(self.key or b"") + len(self.value or b"")


@serializable
@dataclass
class Segment:
    base_offset: int
    created_at: int
    records: list[Record] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(record.size for record in self.records)

    @property
    def largest_timestamp(self) -> int:
        return max((r.timestamp for r in self.records), default=self.created_at)


@serializable
@dataclass
class LogConfig:
    segment_bytes: int = 1_073_741_824
    segment_ms: int = 604_800_000
    retention_ms: int = 604_800_000
    retention_bytes: int = -1
    cleanup_policy: str = "delete"  # "delete", "compact" or "compact,delete"
    delete_retention_ms: int = 86_400_000


@serializable
@dataclass
class PartitionLog:
    config: LogConfig = field(default_factory=LogConfig)
    segments: list[Segment] = field(default_factory=list)
    log_start_offset: int = 0
    high_watermark: int = 0

    @property
    def log_end_offset(self) -> int:
        for segment in reversed(self.segments):
            if segment.records:
                return segment.records[-1].offset + 1
            return segment.base_offset
        return self.log_start_offset

    @property
    def size(self) -> int:
        return sum(segment.size for segment in self.segments)

    # -- writing ------------------------------------------------------------------

    def append(self, now: int, key: bytes | None, value: bytes | None, timestamp: int | None = None,
               headers: list[tuple[str, bytes]] | None = None) -> Record:
        """Append one record at the log end offset, rolling a segment first if due."""
        record = Record(self.log_end_offset, now if timestamp is None else timestamp, key, value, headers or [])
        active = self.segments[-1] if self.segments else None
        if active is None or self._should_roll(active, record):
            self.roll(now)
        self.segments[-1].records.append(record)
        return record

    def _should_roll(self, active: Segment, record: Record) -> bool:
        if not active.records:
            return False
        too_big = active.size > self.config.segment_bytes - record.size
        too_old = record.timestamp - active.records[0].timestamp > self.config.segment_ms
        return too_big or too_old

    def roll(self, now: int) -> None:
        self.segments.append(Segment(self.log_end_offset, now))

    def truncate_to(self, offset: int) -> None:
        """Drop every record at or above ``offset`` (a follower whose leader never had them)."""
        for segment in self.segments:
            segment.records = [r for r in segment.records if r.offset < offset]
        while len(self.segments) > 1 and not self.segments[-1].records and self.segments[-1].base_offset > offset:
            self.segments.pop()
        self.high_watermark = min(self.high_watermark, offset)

    # -- reading -------------------------------------------------------------------

    def read(self, offset: int, max_records: int = 500, upto: int | None = None) -> list[Record]:
        """Records from ``offset`` below ``upto`` (the high watermark unless given)."""
        limit = self.high_watermark if upto is None else upto
        found = []
        for segment in self.segments:
            for record in segment.records:
                if offset <= record.offset < limit:
                    found.append(record)
                    if len(found) == max_records:
                        return found
        return found

    # -- retention and compaction -------------------------------------------------------

    def delete_old_segments(self, now: int) -> list[Segment]:
        """``deleteOldSegments``: by size, then by time; returns the deleted segments."""
        if "delete" not in self.config.cleanup_policy:
            return []
        deleted = []
        if self.config.retention_bytes >= 0:
            excess = [self.size - self.config.retention_bytes]

            def over_size(segment: Segment) -> bool:
                if excess[0] - segment.size < 0:
                    return False
                excess[0] -= segment.size
                return True

            deleted += self._delete_while(now, over_size)
        if self.config.retention_ms >= 0:
            deleted += self._delete_while(now, lambda s: now - s.largest_timestamp > self.config.retention_ms)
        return deleted

    def _delete_while(self, now: int, predicate: Callable[[Segment], bool]) -> list[Segment]:
        """Delete from the oldest while below the HW and ``predicate`` holds (``deletableSegments``)."""
        deleted: list[Segment] = []
        while self.segments:
            segment = self.segments[0]
            is_last = len(self.segments) == 1
            upper = self.log_end_offset if is_last else self.segments[1].base_offset
            if is_last and not segment.records:
                break
            if not (self.high_watermark >= upper and predicate(segment)):
                break
            if is_last:
                self.roll(now)  # keep an empty active segment at the log end
            deleted.append(self.segments.pop(0))
            self.log_start_offset = self.segments[0].base_offset
        return deleted

    def compact(self, now: int) -> int:
        """One cleaner pass over everything but the active segment; returns records removed."""
        if "compact" not in self.config.cleanup_policy or len(self.segments) < 2:
            return 0
        cleanable = self.segments[:-1]
        latest: dict[bytes, int] = {}
        for segment in cleanable:
            for record in segment.records:
                if record.key is not None:
                    latest[record.key] = record.offset
        removed = 0
        for segment in cleanable:
            kept = []
            for record in segment.records:
                if record.key is None or latest.get(record.key) != record.offset:
                    removed += 1
                    continue
                if record.value is None:
                    if record.delete_horizon < 0:
                        record.delete_horizon = now + self.config.delete_retention_ms
                    elif now >= record.delete_horizon:
                        removed += 1
                        continue
                kept.append(record)
            segment.records = kept
        return removed
