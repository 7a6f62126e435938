"""Record batches (message format v2): CRC-32C, round trips, and agreement with a real
client's implementation both ways (kafka-python's ``DefaultRecordBatch`` reads what we
write, we read what its builder writes), and untrusted batches refused as Kafka would."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record._crc32c import crc as kafka_python_crc32c
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.legacy_records import LegacyRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

from kafka_app.wire.codec import Malformed, Writer
from kafka_app.wire.records import (
    BATCH_OVERHEAD,
    CorruptRecord,
    DecodedBatch,
    UnsupportedCompression,
    UnsupportedMagic,
    WireRecord,
    crc32c,
    decode_batches,
    encode_batch,
)

RECORDS = [
    WireRecord(100, 1_700_000_000_000, b"key", b"value", [("trace", b"abc"), ("empty", b""), ("null", None)]),
    WireRecord(101, 1_700_000_000_500, None, b"no key"),
    WireRecord(105, 1_699_999_999_000, b"", None, [("é ✓", b"\x00\xff")]),  # a gap, an earlier time, a tombstone
]


def one(data: bytes, **options: bool) -> DecodedBatch:
    batches = decode_batches(data, **options)
    assert len(batches) == 1
    return batches[0]


def fix_crc(data: bytes | bytearray) -> bytes:
    """The batch with its CRC recomputed, as if a client had written whatever it holds."""
    out = bytearray(data)
    struct.pack_into(">I", out, 17, crc32c(out[21:]))
    return bytes(out)


def kafka_python_batch(records: list[tuple[int, int, bytes | None, bytes | None, list[tuple[str, bytes | None]]]],
                       compression: int = 0, producer: tuple[int, int, int] = (-1, -1, -1),
                       transactional: bool = False) -> bytes:
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=compression, is_transactional=transactional,
                                        producer_id=producer[0], producer_epoch=producer[1],
                                        base_sequence=producer[2], batch_size=1 << 20)
    for offset, timestamp, key, value, headers in records:
        assert builder.append(offset, timestamp, key, value, headers) is not None
    return bytes(builder.build())


# -- CRC-32C


@pytest.mark.parametrize(("data", "expected"), [
    (b"", 0),
    (b"123456789", 0xE3069283),
    (bytes(32), 0x8A9136AA),  # RFC 3720 B.4, iSCSI's test vectors
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
])
def test_crc32c_vectors(data: bytes, expected: int) -> None:
    assert crc32c(data) == expected
    assert crc32c(bytearray(data)) == crc32c(memoryview(data)) == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_crc32c_matches_kafka_python(data: bytes) -> None:
    assert crc32c(data) == kafka_python_crc32c(data)


# -- round trips and layout


def test_a_batch_round_trips() -> None:
    data = encode_batch(100, RECORDS, producer_id=7, producer_epoch=2, base_sequence=40, partition_leader_epoch=5)
    batch = one(data)
    assert batch.records == RECORDS
    assert (batch.base_offset, batch.last_offset_delta, batch.last_offset) == (100, 5, 105)
    assert (batch.base_timestamp, batch.max_timestamp) == (1_700_000_000_000, 1_700_000_000_500)
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence, batch.last_sequence) == (7, 2, 40, 45)
    assert batch.partition_leader_epoch == 5
    assert (batch.attributes, batch.compression, batch.is_transactional, batch.is_control, batch.log_append_time) \
        == (0, 0, False, False, False)
    assert batch.size == len(data)


def test_the_header_is_where_kafka_puts_it() -> None:
    data = encode_batch(100, RECORDS, producer_id=7, producer_epoch=2, base_sequence=40, partition_leader_epoch=5,
                        is_transactional=True)
    header = struct.unpack_from(">qiibIhiqqqhii", data)
    assert header == (100, len(data) - 12, 5, 2, crc32c(data[21:]), 0x10, 5, 1_700_000_000_000,
                      1_700_000_000_500, 7, 2, 40, 3)
    assert struct.calcsize(">qiibIhiqqqhii") == BATCH_OVERHEAD
    assert one(data).is_transactional


def test_the_smallest_record_is_seven_bytes() -> None:
    data = encode_batch(0, [WireRecord(0, 0)])
    assert len(data) == BATCH_OVERHEAD + 7
    assert data[BATCH_OVERHEAD:].hex() == "0c" "00" "00" "00" "01" "01" "00"  # length 6, then the six fields


def test_records_compare_equal_whatever_sequence_their_headers_came_in() -> None:
    made = [WireRecord(1, 2, b"k", b"v", [("a", b"1")]), WireRecord(1, 2, b"k", b"v", (("a", b"1"),))]
    assert made[0] == made[1] and made[0].headers == (("a", b"1"),)
    assert len(set(made)) == 1  # hashable, too


def test_base_and_max_timestamps_may_be_given() -> None:
    batch = one(encode_batch(0, [WireRecord(0, 50), WireRecord(1, 70)], base_timestamp=40, max_timestamp=99))
    assert (batch.base_timestamp, batch.max_timestamp) == (40, 99)
    assert [r.timestamp for r in batch.records] == [50, 70]


def test_several_batches_are_read_in_order() -> None:
    first = encode_batch(0, [WireRecord(0, 1, None, b"a")])
    second = encode_batch(1, [WireRecord(1, 2, None, b"b"), WireRecord(2, 3, None, b"c")])
    batches = decode_batches(first + second)
    assert [r.value for b in batches for r in b.records] == [b"a", b"b", b"c"]
    assert decode_batches(b"") == []


@pytest.mark.parametrize(("base", "records", "message"), [
    (0, [], "at least one record"),
    (5, [WireRecord(4, 0)], "increase from its base"),
    (0, [WireRecord(1, 0), WireRecord(1, 0)], "increase from its base"),
    (0, [WireRecord(1 << 31, 0)], "too far"),
])
def test_encode_refuses_what_is_not_a_batch(base: int, records: list[WireRecord], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_batch(base, records)


def test_sequences_wrap_after_the_largest_int32() -> None:
    data = encode_batch(0, [WireRecord(0, 0), WireRecord(1, 0), WireRecord(2, 0)], producer_id=1, producer_epoch=0,
                        base_sequence=(1 << 31) - 2)
    assert one(data).last_sequence == 0  # 2^31-2, 2^31-1, 0: DefaultRecordBatch.incrementSequence
    assert one(encode_batch(0, [WireRecord(0, 0)])).last_sequence == -1


HEADERS = st.lists(st.tuples(st.text(max_size=8), st.none() | st.binary(max_size=8)), max_size=3)


@st.composite
def batches(draw: st.DrawFn) -> tuple[int, list[WireRecord]]:
    base = draw(st.integers(0, 1 << 50))
    gaps = draw(st.lists(st.integers(1, 1000), min_size=1, max_size=8))
    offsets = [base - 1 + sum(gaps[:i + 1]) for i in range(len(gaps))]
    first = draw(st.integers(0, 1 << 42))
    records = [WireRecord(offset, first + draw(st.integers(-(1 << 30), 1 << 30)),
                          draw(st.none() | st.binary(max_size=20)), draw(st.none() | st.binary(max_size=40)),
                          draw(HEADERS)) for offset in offsets]
    return base, records


@settings(max_examples=300, deadline=None)
@given(batches())
def test_any_batch_round_trips(batch: tuple[int, list[WireRecord]]) -> None:
    base, records = batch
    assert one(encode_batch(base, records)).records == records


# -- kafka-python, both ways


def read_with_kafka_python(data: bytes) -> list[list[tuple[object, ...]]]:
    out = []
    for batch in MemoryRecords(data):
        assert isinstance(batch, DefaultRecordBatch) and batch.validate_crc()
        out.append([(r.offset, r.timestamp, r.key, r.value, r.headers) for r in batch])
    return out


def test_kafka_python_reads_our_batches() -> None:
    data = encode_batch(100, RECORDS, producer_id=7, producer_epoch=2, base_sequence=40, partition_leader_epoch=5)
    theirs = DefaultRecordBatch(data)
    assert theirs.validate_crc()
    assert (theirs.base_offset, theirs.last_offset, theirs.leader_epoch, theirs.magic) == (100, 105, 5, 2)
    assert (theirs.producer_id, theirs.producer_epoch, theirs.base_sequence) == (7, 2, 40)
    assert (theirs.first_timestamp, theirs.max_timestamp, theirs.timestamp_type) \
        == (1_700_000_000_000, 1_700_000_000_500, 0)
    assert [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in theirs] \
        == [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in RECORDS]
    assert theirs.size_in_bytes == len(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(batches(), min_size=1, max_size=3))
def test_kafka_python_reads_any_sequence_of_our_batches(drawn: list[tuple[int, list[WireRecord]]]) -> None:
    data = b"".join(encode_batch(base, records) for base, records in drawn)
    assert read_with_kafka_python(data) == [[(r.offset, r.timestamp, r.key, r.value, list(r.headers))
                                             for r in records] for _, records in drawn]


def test_we_read_kafka_pythons_batches() -> None:
    data = kafka_python_batch([(0, 1000, b"k", b"v", [("h", b"1"), ("n", None)]), (1, 900, None, None, []),
                               (2, 1500, b"", b"", [])], producer=(42, 3, 17))
    batch = one(data)
    assert batch.records == [WireRecord(0, 1000, b"k", b"v", [("h", b"1"), ("n", None)]), WireRecord(1, 900),
                             WireRecord(2, 1500, b"", b"")]
    assert (batch.base_offset, batch.last_offset_delta, batch.base_timestamp, batch.max_timestamp) == (0, 2, 1000, 1500)
    assert (batch.producer_id, batch.producer_epoch, batch.base_sequence, batch.partition_leader_epoch) \
        == (42, 3, 17, 0)


def test_we_read_kafka_pythons_transactional_batches() -> None:
    batch = one(kafka_python_batch([(0, 1, None, b"x", [])], producer=(5, 0, 0), transactional=True))
    assert batch.is_transactional and batch.producer_id == 5


@settings(max_examples=200, deadline=None)
@given(batches())
def test_we_read_any_batch_kafka_python_builds(batch: tuple[int, list[WireRecord]]) -> None:
    _, records = batch  # kafka-python's builder writes offset deltas from 0, as a producer does
    start = records[0].offset
    data = kafka_python_batch([(r.offset - start, r.timestamp, r.key, r.value, list(r.headers)) for r in records])
    assert one(data).records == [WireRecord(r.offset - start, r.timestamp, r.key, r.value, r.headers)
                                 for r in records]


def test_log_append_time_gives_every_record_the_batch_max_timestamp() -> None:
    data = bytearray(encode_batch(0, [WireRecord(0, 10), WireRecord(1, 20)], max_timestamp=5000))
    data[22] |= 0x08  # attributes' low byte: the timestamp type
    data = bytearray(fix_crc(data))
    batch = one(bytes(data))
    assert batch.log_append_time
    assert [r.timestamp for r in batch.records] == [5000, 5000]
    assert [r.timestamp for r in DefaultRecordBatch(data)] == [5000, 5000]  # as kafka-python reads it


# -- what is refused


def test_every_flipped_byte_the_crc_covers_is_a_corrupt_record() -> None:
    data = encode_batch(100, RECORDS)
    for position in range(17, len(data)):  # the CRC itself, and everything after it
        flipped = bytearray(data)
        flipped[position] ^= 0x01
        with pytest.raises(CorruptRecord, match="CRC-32C") as caught:
            decode_batches(bytes(flipped))
        assert caught.value.error_code == 2  # CORRUPT_MESSAGE


def test_the_crc_does_not_cover_the_offset_or_the_leader_epoch() -> None:
    data = bytearray(encode_batch(100, RECORDS, partition_leader_epoch=5))
    data[7] ^= 0x01  # the base offset: 100 -> 101
    data[15] ^= 0x02  # the partition leader epoch: 5 -> 7, as a broker rewrites it
    batch = one(bytes(data))
    assert (batch.base_offset, batch.partition_leader_epoch) == (101, 7)
    assert [r.offset for r in batch.records] == [101, 102, 106]


def test_a_gzip_batch_is_unsupported_compression() -> None:
    data = kafka_python_batch([(0, 1, None, b"compress me " * 50, [])], compression=1)
    assert DefaultRecordBatch(data).compression_type == 1  # kafka-python sends it uncompressed if gzip gains nothing
    with pytest.raises(UnsupportedCompression, match="gzip") as caught:
        decode_batches(data)
    assert (caught.value.codec, caught.value.error_code) == (1, 76)  # UNSUPPORTED_COMPRESSION_TYPE


@pytest.mark.parametrize("codec", [2, 3, 4])
def test_snappy_lz4_and_zstd_are_unsupported_compression(codec: int) -> None:
    data = bytearray(encode_batch(0, RECORDS[:1]))
    data[22] |= codec
    with pytest.raises(UnsupportedCompression) as caught:
        decode_batches(fix_crc(data))
    assert caught.value.codec == codec


@pytest.mark.parametrize("codec", [5, 6, 7])
def test_a_codec_that_does_not_exist_is_malformed(codec: int) -> None:
    data = bytearray(encode_batch(0, RECORDS[:1]))
    data[22] |= codec
    with pytest.raises(Malformed, match=f"codec {codec}") as caught:
        decode_batches(fix_crc(data))
    assert not isinstance(caught.value, UnsupportedCompression)


@pytest.mark.parametrize("magic", [0, 1])
def test_old_message_formats_are_unsupported_magic(magic: int) -> None:
    builder = LegacyRecordBatchBuilder(magic=magic, compression_type=0, batch_size=1 << 20)
    builder.append(0, timestamp=None if magic == 0 else 1000, key=b"k", value=b"v")
    with pytest.raises(UnsupportedMagic, match=f"magic {magic}") as caught:
        decode_batches(bytes(builder.build()))
    assert (caught.value.magic, caught.value.error_code) == (magic, 87)  # INVALID_RECORD


def test_a_magic_from_the_future_is_unsupported_magic() -> None:
    data = bytearray(encode_batch(0, RECORDS))
    data[16] = 3
    with pytest.raises(UnsupportedMagic, match="magic 3"):
        decode_batches(bytes(data))


def test_the_exceptions_are_malformed() -> None:
    for kind in (CorruptRecord, UnsupportedMagic, UnsupportedCompression):
        assert issubclass(kind, Malformed) and issubclass(kind, ValueError)


def test_a_truncated_tail_is_dropped_only_when_allowed() -> None:
    first = encode_batch(0, RECORDS[:1])
    second = encode_batch(1, [WireRecord(1, 5, b"k", b"v" * 30)])
    for cut in range(1, len(second)):
        data = first + second[:cut]
        assert [b.base_offset for b in decode_batches(data, allow_partial_tail=True)] == [0]
        assert len(list(MemoryRecords(data))) == 1  # kafka-python drops it as well
        with pytest.raises(Malformed, match=r"too few|where"):
            decode_batches(data)
    assert len(decode_batches(first + second, allow_partial_tail=True)) == 2


def test_a_lone_truncated_batch_leaves_nothing() -> None:
    assert decode_batches(encode_batch(0, RECORDS)[:-1], allow_partial_tail=True) == []


def test_a_cut_short_batch_is_still_refused_when_its_length_is_impossible() -> None:
    data = bytearray(encode_batch(0, RECORDS))
    struct.pack_into(">i", data, 8, 13)
    with pytest.raises(Malformed, match="at least 14"):
        decode_batches(bytes(data), allow_partial_tail=True)


def test_a_huge_batch_length_is_malformed() -> None:
    data = bytearray(encode_batch(0, RECORDS))
    struct.pack_into(">i", data, 8, (1 << 31) - 1)
    with pytest.raises(Malformed, match=f"a record batch of 2147483647 bytes where {len(data) - 12} are left"):
        decode_batches(bytes(data))


def test_a_v2_batch_shorter_than_its_header_is_malformed() -> None:
    data = bytearray(encode_batch(0, RECORDS))[:BATCH_OVERHEAD - 1]
    struct.pack_into(">i", data, 8, len(data) - 12)
    with pytest.raises(Malformed, match="a header alone"):
        decode_batches(bytes(data))


def with_count(data: bytes, count: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(">i", out, 57, count)
    return fix_crc(out)


def test_a_record_count_beyond_the_bytes_fails_fast() -> None:
    data = encode_batch(0, RECORDS)
    for count in ((1 << 31) - 1, -1, len(data)):
        with pytest.raises(Malformed, match=f"claiming {count} records"):
            decode_batches(with_count(data, count))


def test_a_record_count_that_disagrees_with_the_records_is_malformed() -> None:
    data = encode_batch(0, RECORDS)
    with pytest.raises(Malformed, match="bytes after the last of the 2 records"):
        decode_batches(with_count(data, 2))
    with pytest.raises(Malformed, match="record 3 of the batch"):
        decode_batches(with_count(data, 4))


def record_batch(body: bytes, count: int = 1) -> bytes:
    """A batch around hand-written record bytes."""
    template = bytearray(encode_batch(0, [WireRecord(0, 0)]))[:BATCH_OVERHEAD]
    out = template + body
    struct.pack_into(">i", out, 8, len(out) - 12)
    struct.pack_into(">i", out, 57, count)
    return fix_crc(out)


def record(*fields: bytes) -> bytes:
    body = b"".join(fields)
    writer = Writer()
    writer.varint(len(body))
    return writer.getvalue() + body


def varint(value: int) -> bytes:
    writer = Writer()
    writer.varint(value)
    return writer.getvalue()


ZERO = varint(0)
NULL = varint(-1)


@pytest.mark.parametrize(("body", "message"), [
    (record(b"\x00", ZERO, ZERO, NULL, NULL, ZERO) + b"\x00" * 7, "bytes after the last"),
    (varint(100) + b"\x00" * 10, "a record of 100 bytes where 10 are left"),
    (varint(-3) + b"\x00" * 10, "a record of -3 bytes"),
    (record(b"\x00", ZERO, ZERO, varint(-2), NULL, ZERO), "a key of length -2"),
    (record(b"\x00", ZERO, ZERO, varint(5), b"ab", NULL, ZERO), "VARINT cut short|where"),
    (record(b"\x00", ZERO, ZERO, NULL, NULL, varint(-1)), "-1 headers"),
    (record(b"\x00", ZERO, ZERO, NULL, NULL, varint(50)), "50 headers where 0 bytes are left"),
    (record(b"\x00", ZERO, ZERO, NULL, NULL, varint(1), NULL, NULL), "a header without a key"),
    (record(b"\x00", ZERO, ZERO, NULL, NULL, varint(1), varint(2), b"\xc3\x28", NULL), "not UTF-8"),
    (record(b"\x00", ZERO, ZERO, NULL, NULL, ZERO, b"\x00"), "1 bytes left over in a record of 7 bytes"),
    (record(b"\x00", b"\xff" * 11), "VARLONG longer than 10 bytes"),
])
def test_a_malformed_record_says_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(Malformed, match=message) as caught:
        decode_batches(record_batch(body))
    assert type(caught.value) is Malformed


def test_the_hand_written_record_template_is_valid() -> None:
    assert one(record_batch(record(b"\x00", ZERO, ZERO, NULL, NULL, ZERO))).records == [WireRecord(0, 0)]


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_either_decode_or_are_malformed(data: bytes) -> None:
    for allow in (False, True):
        with contextlib.suppress(Malformed):
            decode_batches(data, allow_partial_tail=allow)


@settings(max_examples=500, deadline=None)
@given(batches(), st.lists(st.tuples(st.integers(0), st.integers(0, 255)), min_size=1, max_size=4))
def test_any_mangled_batch_with_a_valid_crc_decodes_or_is_malformed(batch: tuple[int, list[WireRecord]],
                                                                     changes: list[tuple[int, int]]) -> None:
    base, records = batch
    data = bytearray(encode_batch(base, records))
    for position, byte in changes:
        data[21 + position % (len(data) - 21)] = byte  # past the CRC, so that the records' parser sees it
    with contextlib.suppress(Malformed):
        decode_batches(fix_crc(data))
