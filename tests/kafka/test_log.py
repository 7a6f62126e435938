"""A partition's log against UnifiedLogTest (core/src/test/scala/unit/kafka/log)."""

from __future__ import annotations

from kafka_app.model.log import LogConfig, PartitionLog, Record

RECORD = Record(0, 0, b"k", b"value").size


def log_with(records: int, **config) -> PartitionLog:
    log = PartitionLog(LogConfig(segment_bytes=RECORD * 5, **config))
    for index in range(records):
        log.append(now=1_000, key=b"k", value=b"value", timestamp=index)
    return log


def test_segments_roll_by_size_and_offsets_advance():
    log = log_with(15)
    assert [s.base_offset for s in log.segments] == [0, 5, 10]
    assert (log.log_start_offset, log.log_end_offset, log.high_watermark) == (0, 15, 0)


def test_nothing_is_deleted_below_the_high_watermark():
    # testDeleteOldSegments: no deletion before a high watermark is set
    log = log_with(15, retention_ms=1)
    assert log.delete_old_segments(now=10_000) == [] and len(log.segments) == 3


def test_time_based_retention_deletes_every_expired_segment_even_the_active_one():
    # shouldDeleteTimeBasedSegmentsReadyToBeDeleted: "There should be 1 segment remaining"
    log = log_with(15, retention_ms=10_000)
    log.high_watermark = log.log_end_offset
    deleted = log.delete_old_segments(now=1_000_000)
    assert len(deleted) == 3 and len(log.segments) == 1 and not log.segments[0].records
    assert log.log_start_offset == log.log_end_offset == 15


def test_size_based_retention():
    # shouldDeleteSizeBasedSegments: "should have 2 segments"
    log = log_with(15, retention_bytes=RECORD * 10)
    log.high_watermark = log.log_end_offset
    log.delete_old_segments(now=2_000)
    assert len(log.segments) == 2 and log.log_start_offset == 5
    # shouldNotDeleteSizeBasedSegmentsWhenUnderRetentionSize: 3 segments stay
    log = log_with(15, retention_bytes=RECORD * 15)
    log.high_watermark = log.log_end_offset
    log.delete_old_segments(now=2_000)
    assert len(log.segments) == 3


def test_consumers_read_only_below_the_high_watermark():
    log = log_with(10)
    log.high_watermark = 7
    assert [r.offset for r in log.read(5)] == [5, 6]


def test_compaction_keeps_the_latest_value_per_key_and_drops_tombstones_later():
    log = PartitionLog(LogConfig(segment_bytes=RECORD * 3, cleanup_policy="compact", delete_retention_ms=1_000))
    for key, value in ((b"a", b"1"), (b"b", b"1"), (b"a", b"2"), (b"b", None), (b"c", b"1"), (b"a", b"3"),
                       (b"d", b"1")):
        log.append(now=0, key=key, value=value)
    log.high_watermark = log.log_end_offset
    log.compact(now=100)
    kept = [(r.key, r.value) for s in log.segments[:-1] for r in s.records]
    assert kept == [(b"b", None), (b"c", b"1"), (b"a", b"3")]
    assert [r.offset for s in log.segments[:-1] for r in s.records] == [3, 4, 5], "offsets never change"
    log.compact(now=500)
    assert any(r.value is None for s in log.segments for r in s.records), "within delete.retention.ms"
    log.compact(now=1_200)
    assert not any(r.value is None for s in log.segments for r in s.records), "then the tombstone goes"


def test_truncation_drops_what_the_leader_never_had():
    log = log_with(12)
    log.truncate_to(8)
    assert log.log_end_offset == 8 and log.append(now=0, key=None, value=b"x").offset == 8


def test_the_tail_and_the_count_below_an_offset_match_the_whole_log():
    from kafka_app.model.log import LogConfig, PartitionLog

    log = PartitionLog(config=LogConfig(segment_bytes=200, cleanup_policy="compact"))
    for n in range(40):
        log.append(n, f"k{n % 5}".encode(), f"v{n}".encode())
    log.high_watermark = log.log_end_offset
    log.compact(10**9)
    records = log.all_records()
    assert len(log.segments) > 2 and len(records) < 40
    for count in (0, 1, 3, len(records), len(records) + 5):
        assert log.tail(count) == records[max(0, len(records) - count):]
    for offset in (0, 7, 20, 39, 40, 100):
        assert log.count_below(offset) == sum(1 for r in records if r.offset < offset)
