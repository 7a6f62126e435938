"""Kafka's record batches, message format v2 (magic 2, Kafka 0.11 and later), as
``DefaultRecordBatch`` and ``DefaultRecord`` lay them out: what a Produce request carries
and a Fetch response returns, in its ``records`` field.

A batch::

    baseOffset INT64, batchLength INT32 (the bytes after it),
    partitionLeaderEpoch INT32, magic INT8 (2), crc UINT32,
    attributes INT16, lastOffsetDelta INT32, baseTimestamp INT64, maxTimestamp INT64,
    producerId INT64, producerEpoch INT16, baseSequence INT32, recordCount INT32, records

The CRC is a CRC-32C over everything from ``attributes`` to the end: the base offset, the
length, the leader epoch and the magic byte are outside it, so a broker assigns offsets and
epochs without computing it again. A record::

    length VARINT (the bytes after it), attributes INT8 (unused), timestampDelta VARLONG,
    offsetDelta VARINT, keyLength VARINT (-1 for null), key, valueLength VARINT, value,
    headerCount VARINT, then per header: keyLength VARINT, key (UTF-8), valueLength VARINT, value

Only uncompressed batches are read; any other codec raises ``UnsupportedCompression``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .codec import BytesLike, Malformed, Reader, Writer

MAGIC = 2
#: baseOffset and batchLength, which come before what batchLength counts (Kafka's LOG_OVERHEAD)
LOG_OVERHEAD = 12
#: a batch's header, up to and including its record count (RECORD_BATCH_OVERHEAD)
BATCH_OVERHEAD = 61
#: the smallest batchLength of any message format (a v0 message's, LegacyRecord.RECORD_OVERHEAD_V0): enough to
#: reach the magic byte, which sits 16 bytes in whatever the format
MIN_ENTRY_LENGTH = 14
_MAGIC_AT = 16
_CRC_AT = 17
_ATTRIBUTES_AT = 21
#: the smallest record: its length and six one-byte fields (attributes, deltas, null key and value, no header)
MIN_RECORD_BYTES = 7

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08  # 0: CreateTime, 1: LogAppendTime (the broker's clock)
TRANSACTIONAL_MASK = 0x10
CONTROL_MASK = 0x20
DELETE_HORIZON_MASK = 0x40

COMPRESSION_CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
NO_TIMESTAMP = -1
_INT32_MAX = (1 << 31) - 1

# Kafka's error codes for what a Produce request's records may get wrong
CORRUPT_MESSAGE = 2
INVALID_RECORD = 87
UNSUPPORTED_COMPRESSION_TYPE = 76


class CorruptRecord(Malformed):
    """A batch whose CRC-32C does not match its bytes (Kafka's CorruptRecordException)."""

    error_code = CORRUPT_MESSAGE


class UnsupportedMagic(Malformed):
    """A batch of another message format than v2: v0 and v1 (before Kafka 0.11) are not read. Kafka answers a
    Produce request (v3 and later) carrying one with INVALID_RECORD."""

    error_code = INVALID_RECORD

    def __init__(self, magic: int) -> None:
        super().__init__(f"a record batch of magic {magic} (only magic {MAGIC} is read)")
        self.magic = magic


class UnsupportedCompression(Malformed):
    """A batch compressed with gzip, snappy, lz4 or zstd: only uncompressed batches are read."""

    error_code = UNSUPPORTED_COMPRESSION_TYPE

    def __init__(self, codec: int) -> None:
        super().__init__(f"a record batch compressed with {COMPRESSION_CODECS[codec]} (only uncompressed are read)")
        self.codec = codec


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # Castagnoli's polynomial, bit-reversed
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _table()


def crc32c(data: BytesLike) -> int:
    """CRC-32C (Castagnoli), as Kafka's ``Crc32C``: one table lookup a byte (about 0.1 s a MiB)."""
    table = _CRC32C_TABLE
    crc = 0xFFFFFFFF
    for byte in data if isinstance(data, bytes) else bytes(data):  # iterating bytes is the quickest
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class WireRecord:
    """One record, with its absolute offset and timestamp (milliseconds since the epoch). Its headers are kept as
    a tuple, whatever sequence they came in, so that records compare equal however they were made."""

    offset: int
    timestamp: int
    key: bytes | None = None
    value: bytes | None = None
    headers: Sequence[tuple[str, bytes | None]] = ()

    def __post_init__(self) -> None:
        if type(self.headers) is not tuple:
            object.__setattr__(self, "headers", tuple(self.headers))


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """A v2 record batch as read: its header's fields, and its records with absolute offsets and timestamps."""

    base_offset: int
    partition_leader_epoch: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int  # the first record's timestamp (Kafka's firstTimestamp), -1 in an empty batch
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records: list[WireRecord]
    crc: int
    size: int  # bytes taken on the wire, the base offset and length included

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def log_append_time(self) -> bool:
        """Whether the broker stamped the batch (every record's timestamp is then ``max_timestamp``)."""
        return bool(self.attributes & TIMESTAMP_TYPE_MASK)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_MASK)

    @property
    def is_control(self) -> bool:
        """A batch of transaction markers (commit or abort), written by brokers only."""
        return bool(self.attributes & CONTROL_MASK)

    @property
    def last_offset(self) -> int:
        """The offset of the batch's last record when it was written (compaction keeps it when that record goes)."""
        return self.base_offset + self.last_offset_delta

    @property
    def last_sequence(self) -> int:
        """The producer sequence of the batch's last record, -1 without one; sequences wrap to 0 after 2^31-1."""
        if self.base_sequence < 0:
            return -1
        return (self.base_sequence + self.last_offset_delta) % (_INT32_MAX + 1)


def _encode_record(out: Writer, offset_delta: int, timestamp_delta: int, record: WireRecord) -> None:
    body = Writer()
    body.int8(0)  # attributes: none are used
    body.varlong(timestamp_delta)
    body.varint(offset_delta)
    for data in (record.key, record.value):
        if data is None:
            body.varint(-1)
        else:
            body.varint(len(data))
            body.raw(data)
    body.varint(len(record.headers))
    for name, value in record.headers:
        key = name.encode("utf-8")
        body.varint(len(key))
        body.raw(key)
        if value is None:
            body.varint(-1)
        else:
            body.varint(len(value))
            body.raw(value)
    out.varint(len(body))
    out.raw(body.getvalue())


def encode_batch(base_offset: int, records: Sequence[WireRecord], *, producer_id: int = -1, producer_epoch: int = -1,
                 base_sequence: int = -1, partition_leader_epoch: int = -1, is_transactional: bool = False,
                 base_timestamp: int | None = None, max_timestamp: int | None = None) -> bytes:
    """One uncompressed v2 batch of ``records`` (at least one, their offsets increasing from ``base_offset``), with
    CreateTime timestamps. ``base_timestamp`` is the first record's timestamp unless given, ``max_timestamp`` the
    largest; each record carries its offset and timestamp as deltas from the base ones."""
    if not records:
        raise ValueError("a record batch needs at least one record")
    first_timestamp = records[0].timestamp if base_timestamp is None else base_timestamp
    body = Writer()
    previous = base_offset - 1
    for record in records:
        if record.offset <= previous:
            raise ValueError(f"offset {record.offset} after {previous}: a batch's offsets increase from its base")
        if record.offset - base_offset > _INT32_MAX:
            raise ValueError(f"offset {record.offset} is too far from the batch's base offset {base_offset}")
        previous = record.offset
        _encode_record(body, record.offset - base_offset, record.timestamp - first_timestamp, record)

    checked = Writer()  # what the CRC covers
    checked.int16(TRANSACTIONAL_MASK if is_transactional else 0)
    checked.int32(records[-1].offset - base_offset)
    checked.int64(first_timestamp)
    checked.int64(max(r.timestamp for r in records) if max_timestamp is None else max_timestamp)
    checked.int64(producer_id)
    checked.int16(producer_epoch)
    checked.int32(base_sequence)
    checked.int32(len(records))
    checked.raw(body.getvalue())
    tail = checked.getvalue()

    out = Writer()
    out.int64(base_offset)
    out.int32(len(tail) + _ATTRIBUTES_AT - LOG_OVERHEAD)
    out.int32(partition_leader_epoch)
    out.int8(MAGIC)
    out.uint32(crc32c(tail))
    out.raw(tail)
    return out.getvalue()


def decode_batches(data: BytesLike, *, allow_partial_tail: bool = False) -> list[DecodedBatch]:
    """The record batches one after the other in ``data`` (a Produce request's or a Fetch response's records).

    A Fetch response may end in a batch cut short by the size limit: with ``allow_partial_tail`` such a last batch
    is dropped, as Kafka's consumers do; without it (a Produce request), it is ``Malformed``. Raises
    ``UnsupportedMagic``, ``CorruptRecord`` (CRC mismatch), ``UnsupportedCompression``, or ``Malformed``: all
    subclasses of ``Malformed``, itself a ``ValueError``.
    """
    view = memoryview(data).cast("B")
    batches = []
    position, end = 0, len(view)
    while position < end:
        left = end - position
        if left < LOG_OVERHEAD:
            if allow_partial_tail:
                break
            raise Malformed(f"{left} bytes after the last record batch, too few for another one")
        header = Reader(view[position:position + LOG_OVERHEAD])
        base_offset, length = header.int64(), header.int32()
        if length < MIN_ENTRY_LENGTH:
            raise Malformed(f"a record batch of {length} bytes after its length (at least {MIN_ENTRY_LENGTH})")
        if length > left - LOG_OVERHEAD:
            if allow_partial_tail:
                break
            raise Malformed(f"a record batch of {length} bytes where {left - LOG_OVERHEAD} are left")
        batch = view[position:position + LOG_OVERHEAD + length]
        batches.append(_decode_batch(batch, base_offset))
        position += len(batch)
    return batches


def _decode_batch(batch: memoryview, base_offset: int) -> DecodedBatch:
    reader = Reader(batch)
    reader.position = LOG_OVERHEAD
    partition_leader_epoch, magic = reader.int32(), reader.int8()
    if magic != MAGIC:
        raise UnsupportedMagic(magic)
    if len(batch) < BATCH_OVERHEAD:
        raise Malformed(f"a record batch of {len(batch)} bytes (a header alone takes {BATCH_OVERHEAD})")
    stored = reader.uint32()
    computed = crc32c(batch[_ATTRIBUTES_AT:])
    if stored != computed:
        raise CorruptRecord(f"a record batch at offset {base_offset} whose CRC-32C is {computed:#010x}, "
                            f"not the {stored:#010x} it carries")
    attributes = reader.int16()
    codec = attributes & COMPRESSION_MASK
    if codec not in COMPRESSION_CODECS:
        raise Malformed(f"a record batch with compression codec {codec}, which does not exist")
    if codec:
        raise UnsupportedCompression(codec)
    last_offset_delta, base_timestamp, max_timestamp = reader.int32(), reader.int64(), reader.int64()
    producer_id, producer_epoch, base_sequence = reader.int64(), reader.int16(), reader.int32()
    count = reader.int32()
    if not 0 <= count <= reader.remaining // MIN_RECORD_BYTES:
        raise Malformed(f"a record batch claiming {count} records in {reader.remaining} bytes")
    log_append_time = max_timestamp if attributes & TIMESTAMP_TYPE_MASK else None
    records = []
    for index in range(count):
        try:
            records.append(_decode_record(reader, base_offset, base_timestamp, log_append_time))
        except Malformed as why:
            raise Malformed(f"record {index} of the batch at offset {base_offset}: {why}") from None
    if not reader.done():
        raise Malformed(f"{reader.remaining} bytes after the last of the {count} records of the batch at offset "
                        f"{base_offset}")
    return DecodedBatch(base_offset, partition_leader_epoch, attributes, last_offset_delta, base_timestamp,
                        max_timestamp, producer_id, producer_epoch, base_sequence, records, stored, len(batch))


def _sized(reader: Reader, what: str) -> bytes | None:
    size = reader.varint()
    if size == -1:
        return None
    if size < 0:
        raise Malformed(f"{what} of length {size}")
    return reader.raw(size)


def _decode_record(reader: Reader, base_offset: int, base_timestamp: int, log_append_time: int | None) -> WireRecord:
    size = reader.varint()
    if not 0 <= size <= reader.remaining:
        raise Malformed(f"a record of {size} bytes where {reader.remaining} are left")
    body = Reader(reader.raw(size))
    body.int8()  # attributes: none are used
    timestamp = base_timestamp + body.varlong()
    offset = base_offset + body.varint()
    key, value = _sized(body, "a key"), _sized(body, "a value")
    count = body.varint()
    if not 0 <= count <= body.remaining:
        raise Malformed(f"{count} headers where {body.remaining} bytes are left")
    headers = []
    for _ in range(count):
        name = _sized(body, "a header's key")
        if name is None:
            raise Malformed("a header without a key")
        try:
            text = name.decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed(f"a header key that is not UTF-8: {name!r}") from None
        headers.append((text, _sized(body, f"header {text!r}'s value")))
    if not body.done():
        raise Malformed(f"{body.remaining} bytes left over in a record of {size} bytes")
    return WireRecord(offset, timestamp if log_append_time is None else log_append_time, key, value, tuple(headers))
