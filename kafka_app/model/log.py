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
active segment and below the HW; a tombstone (null value) is kept for
``delete.retention.ms`` after the cleaner first sees it, then dropped.

Two more things live in the log, as in Kafka: the leader-epoch cache (which
epoch's leader wrote from which offset; a follower uses it to find where its
log diverged from a new leader's) and each idempotent producer's latest
batches (``ProducerStateManager``), so a retried batch is not written twice.
A record carries its batch's first sequence number (the batch header's
``baseSequence``), so a follower knows the batches it copies as its leader did.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field

from coordlab.sim import serializable

RECORD_OVERHEAD = 70  # bytes per record besides key and value, roughly a v2 batch's per-record share
NUM_BATCHES_TO_RETAIN = 5  # ProducerStateEntry.NUM_BATCHES_TO_RETAIN: a producer's batches a log remembers


@serializable
@dataclass
class Record:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    delete_horizon: int = -1  # set on a tombstone the first time the cleaner sees it
    leader_epoch: int = 0  # the epoch of the leader that appended it (the batch's partitionLeaderEpoch)
    producer_id: int = -1  # the idempotent producer that sent it, and its sequence number
    sequence: int = -1
    base_sequence: int = -1  # the sequence of its batch's first record (the batch header's baseSequence)

    @property
    def size(self) -> int:
        return RECORD_OVERHEAD + len(self.key or b"") + len(self.value or b"")


@serializable
@dataclass
class Segment:
    base_offset: int
    created_at: int
    records: list[Record] = field(default_factory=list)
    size: int = 0  # bytes, kept up to date as records come and go

    def add(self, record: Record) -> None:
        self.records.append(record)
        self.size += record.size

    def keep(self, records: list[Record]) -> None:
        self.records = records
        self.size = sum(record.size for record in records)

    @property
    def largest_timestamp(self) -> int:
        return max((r.timestamp for r in self.records), default=self.created_at)


@serializable
@dataclass
class BatchMetadata:
    """One of a producer's latest batches in a log: its sequence numbers and offsets, first to
    last (``BatchMetadata`` of Kafka's ``ProducerStateEntry``)."""

    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int


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
    epochs: list[tuple[int, int]] = field(default_factory=list)  # (leader epoch, its first offset)
    producers: dict[int, list[BatchMetadata]] = field(default_factory=dict)  # producer id → its latest batches

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
               headers: list[tuple[str, bytes]] | None = None, leader_epoch: int = 0,
               producer_id: int = -1, sequence: int = -1, base_sequence: int = -1) -> Record:
        """Append one record at the log end offset (what a leader does); ``base_sequence`` is its
        batch's first sequence (a record without one is a batch of its own)."""
        record = Record(self.log_end_offset, now if timestamp is None else timestamp, key, value, headers or [],
                        -1, leader_epoch, producer_id, sequence, base_sequence if base_sequence >= 0 else sequence)
        return self.append_record(now, record)

    def append_record(self, now: int, record: Record) -> Record:
        """Append a record that already has its offset (what a follower copies from its leader),
        rolling a segment first if one is due."""
        active = self.segments[-1] if self.segments else None
        if active is None or self._should_roll(active, record):
            self.roll(now, record.offset)
        self.segments[-1].add(record)
        if not self.epochs or record.leader_epoch > self.epochs[-1][0]:
            self.epochs.append((record.leader_epoch, record.offset))
        if record.producer_id >= 0:
            self._note_producer(record)
        return record

    def _note_producer(self, record: Record) -> None:
        """``ProducerStateManager``: a record of its producer's latest batch extends that batch's
        metadata; a record of another batch starts new metadata, forgetting all but the latest 5."""
        batches = self.producers.setdefault(record.producer_id, [])
        if batches and batches[-1].first_seq == record.base_sequence:
            batches[-1].last_seq, batches[-1].last_offset = record.sequence, record.offset
            return
        batches.append(BatchMetadata(record.base_sequence, record.sequence, record.offset, record.offset))
        del batches[:-NUM_BATCHES_TO_RETAIN]

    def duplicate_of(self, producer_id: int, first_seq: int, last_seq: int) -> tuple[int, int] | None:
        """``ProducerStateEntry.findDuplicateBatch``: a batch whose sequence range is exactly that of
        one of the producer's latest batches here was written already (a retry); its offsets, first
        and last + 1. None if it is new. (Kafka answers OUT_OF_ORDER_SEQUENCE_NUMBER for a batch that
        does not follow the latest one; the model does not check that.)"""
        for batch in self.producers.get(producer_id, []) if producer_id >= 0 else []:
            if (batch.first_seq, batch.last_seq) == (first_seq, last_seq):
                return batch.first_offset, batch.last_offset + 1
        return None

    def _should_roll(self, active: Segment, record: Record) -> bool:
        if not active.records:
            return False
        too_big = active.size > self.config.segment_bytes - record.size
        too_old = record.timestamp - active.records[0].timestamp > self.config.segment_ms
        return too_big or too_old

    def roll(self, now: int, base_offset: int | None = None) -> None:
        base = self.log_end_offset if base_offset is None else base_offset
        if self.segments and not self.segments[-1].records:
            self.segments[-1] = Segment(base, now)
        else:
            self.segments.append(Segment(base, now))

    def truncate_to(self, offset: int) -> list[Record]:
        """Drop every record at or above ``offset`` (a follower whose leader never had them);
        returns what was dropped."""
        dropped: list[Record] = []
        for segment in self.segments:
            if segment.records and segment.records[-1].offset >= offset:
                dropped += [r for r in segment.records if r.offset >= offset]
                segment.keep([r for r in segment.records if r.offset < offset])
        while len(self.segments) > 1 and not self.segments[-1].records and self.segments[-1].base_offset >= offset:
            self.segments.pop()
        if self.segments and not self.segments[-1].records and self.segments[-1].base_offset > offset:
            self.segments[-1].base_offset = max(offset, self.log_start_offset)
        self.high_watermark = min(self.high_watermark, offset)
        self.epochs = [(epoch, start) for epoch, start in self.epochs if start < offset]
        if dropped:  # the producer state is rebuilt from what is left (``ProducerStateManager.truncateAndReload``)
            self.producers = {}
            for record in self.all_records():
                if record.producer_id >= 0:
                    self._note_producer(record)
        return dropped

    def advance_log_start(self, offset: int) -> None:
        """Move the log start up to ``offset`` (a follower following its leader's retention),
        deleting whole segments below it."""
        end = self.log_end_offset
        offset = min(offset, end)
        if not self.segments:
            self.roll(0, end)
        while len(self.segments) > 1 and self.segments[1].base_offset <= offset:
            self.segments.pop(0)
        first = self.segments[0]
        first.keep([r for r in first.records if r.offset >= offset])
        if not first.records and len(self.segments) == 1:
            first.base_offset = end
        self.log_start_offset = max(self.log_start_offset, offset)

    def reset_to(self, offset: int, now: int) -> None:
        """Empty the log and start it at ``offset`` (a follower far behind a leader whose retention
        already deleted what it lacks)."""
        self.segments = [Segment(offset, now)]
        self.log_start_offset = self.high_watermark = offset
        self.epochs = []
        self.producers = {}  # ``ProducerStateManager.truncateFullyAndStartAt``

    @property
    def latest_epoch(self) -> int:
        return self.epochs[-1][0] if self.epochs else -1

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        """``LeaderEpochFileCache.endOffsetFor``: the largest epoch not above ``epoch`` and the
        offset where it ended (the log end for the latest one); (-1, -1) if none is that old."""
        if not self.epochs or epoch < self.epochs[0][0]:
            return -1, -1
        if epoch >= self.epochs[-1][0]:
            return self.epochs[-1][0], self.log_end_offset
        index = bisect_right([e for e, _ in self.epochs], epoch)
        return self.epochs[index - 1][0], self.epochs[index][1]

    # -- reading -------------------------------------------------------------------

    def read(self, offset: int, max_records: int = 500, upto: int | None = None) -> list[Record]:
        """Records from ``offset`` below ``upto`` (the high watermark unless given)."""
        limit = self.high_watermark if upto is None else upto
        found: list[Record] = []
        first = max(0, bisect_right([s.base_offset for s in self.segments], offset) - 1)
        for segment in self.segments[first:]:
            records = segment.records
            start = bisect_left(records, offset, key=lambda r: r.offset)
            for record in records[start: start + max_records - len(found)]:
                if record.offset >= limit:
                    return found
                found.append(record)
            if len(found) >= max_records:
                return found
        return found

    def rest_of_batch(self, record: Record, upto: int) -> list[Record]:
        """The records after ``record``, below ``upto``, of its idempotent producer's batch: what a
        follower's fetch adds when ``read`` stopped inside a batch at ``max_records``, since Kafka
        replicates whole record batches (a follower never holds part of one)."""
        rest: list[Record] = []
        while record.producer_id >= 0 and record.offset + 1 < upto:
            after = self.record_at(record.offset + 1)
            if after is None or (after.producer_id, after.base_sequence) != (record.producer_id, record.base_sequence):
                break
            rest.append(after)
            record = after
        return rest

    def record_at(self, offset: int) -> Record | None:
        """The record at ``offset``, if the log holds it. Offsets in a segment are consecutive
        until compaction leaves gaps, so this is mostly one index, else a bisection."""
        index = bisect_right(self.segments, offset, key=lambda segment: segment.base_offset) - 1
        if index < 0:
            return None
        records = self.segments[index].records
        guess = offset - records[0].offset if records else -1
        if 0 <= guess < len(records) and records[guess].offset == offset:
            return records[guess]
        found = bisect_left(records, offset, key=lambda r: r.offset)
        return records[found] if found < len(records) and records[found].offset == offset else None

    def all_records(self) -> list[Record]:
        return [record for segment in self.segments for record in segment.records]

    def tail(self, count: int) -> list[Record]:
        """The last ``count`` records, oldest first, without walking the whole log."""
        found: list[Record] = []
        for segment in reversed(self.segments):
            found[:0] = segment.records[-(count - len(found)):] if count > len(found) else []
            if len(found) >= count:
                break
        return found

    def count_below(self, offset: int) -> int:
        """How many records the log holds below ``offset`` (compaction leaves gaps, so not a subtraction)."""
        total = 0
        for segment in self.segments:
            if not segment.records or segment.records[-1].offset < offset:  # compaction may empty one
                total += len(segment.records)
            else:
                total += bisect_left(segment.records, offset, key=lambda r: r.offset)
                break
        return total

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
        cleanable = [s for index, s in enumerate(self.segments[:-1])
                     if self.segments[index + 1].base_offset <= self.high_watermark]
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
            segment.keep(kept)
        return removed
