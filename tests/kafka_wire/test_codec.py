"""Kafka's primitive types: round trips at their boundaries, the exact bytes of a few, and
untrusted input that must fail as ``Malformed`` (never another exception) and fail fast."""

from __future__ import annotations

import contextlib
import tracemalloc
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record.util import decode_varint as kafka_python_decode_varint
from kafka.record.util import encode_varint as kafka_python_encode_varint

from kafka_app.wire.codec import MAX_STRING_BYTES, Malformed, Reader, Writer

INT8 = (-(1 << 7), (1 << 7) - 1)
INT16 = (-(1 << 15), (1 << 15) - 1)
INT32 = (-(1 << 31), (1 << 31) - 1)
INT64 = (-(1 << 63), (1 << 63) - 1)


def _int32(r: Reader) -> int:
    return r.int32()


def _write_int32(w: Writer, value: int) -> None:
    w.int32(value)


def _string(r: Reader) -> str | None:
    return r.string()


def _write_string(w: Writer, value: str | None) -> None:
    w.string(value)


#: every type, by name: how to write a value and how to read it back
TYPES: dict[str, tuple[Callable[[Writer, Any], None], Callable[[Reader], Any]]] = {
    "int8": (Writer.int8, Reader.int8),
    "int16": (Writer.int16, Reader.int16),
    "int32": (Writer.int32, Reader.int32),
    "uint32": (Writer.uint32, Reader.uint32),
    "int64": (Writer.int64, Reader.int64),
    "boolean": (Writer.boolean, Reader.boolean),
    "uuid": (Writer.uuid, Reader.uuid),
    "unsigned_varint": (Writer.unsigned_varint, Reader.unsigned_varint),
    "varint": (Writer.varint, Reader.varint),
    "varlong": (Writer.varlong, Reader.varlong),
    "string": (Writer.string, Reader.string),
    "compact_string": (Writer.compact_string, Reader.compact_string),
    "bytes": (Writer.bytes, Reader.bytes),
    "compact_bytes": (Writer.compact_bytes, Reader.compact_bytes),
    "array": (lambda w, v: w.array(v, _write_int32), lambda r: r.array(_int32)),
    "compact_array": (lambda w, v: w.compact_array(v, _write_string), lambda r: r.compact_array(_string)),
    "tagged_fields": (Writer.tagged_fields, Reader.tagged_fields),
}

BOUNDARIES: list[tuple[str, Any]] = [
    *(("int8", v) for v in (*INT8, -1, 0, 1)),
    *(("int16", v) for v in (*INT16, -1, 0, 1)),
    *(("int32", v) for v in (*INT32, -1, 0, 1)),
    *(("uint32", v) for v in (0, 1, 0xFFFFFFFF)),
    *(("int64", v) for v in (*INT64, -1, 0, 1)),
    *(("boolean", v) for v in (True, False)),
    *(("uuid", v) for v in (uuid.UUID(int=0), uuid.UUID(int=(1 << 128) - 1),
                            uuid.UUID("7f3c1d2e-5b6a-4c8d-9e0f-1a2b3c4d5e6f"))),
    *(("unsigned_varint", v) for v in (0, 1, 127, 128, 16383, 16384, (1 << 31) - 1, (1 << 32) - 1)),
    *(("varint", v) for v in (*INT32, -1, 0, 1, 63, -64, 64, -65)),
    *(("varlong", v) for v in (*INT64, *INT32, -1, 0, 1)),
    *(("string", v) for v in (None, "", "a", "héllo ✓ 🦀", "x" * MAX_STRING_BYTES)),
    *(("compact_string", v) for v in (None, "", "a", "héllo ✓ 🦀", "x" * MAX_STRING_BYTES)),
    *(("bytes", v) for v in (None, b"", b"\x00", bytes(range(256)), b"z" * 70_000)),
    *(("compact_bytes", v) for v in (None, b"", b"\x00", bytes(range(256)), b"z" * 70_000)),
    *(("array", v) for v in (None, [], [0], [*INT32, -1])),
    *(("compact_array", v) for v in (None, [], [None], ["a", "", None, "ü"])),
    *(("tagged_fields", v) for v in ({}, {0: b""}, {0: b"x", 1: b"yz", 300: b"\x00" * 200})),
]


def encode(kind: str, value: Any) -> bytes:
    writer = Writer()
    TYPES[kind][0](writer, value)
    return writer.getvalue()


@pytest.mark.parametrize(("kind", "value"), BOUNDARIES, ids=lambda x: repr(x)[:24])
def test_every_type_round_trips_at_its_boundaries(kind: str, value: Any) -> None:
    data = encode(kind, value)
    reader = Reader(data)
    got = TYPES[kind][1](reader)
    assert reader.done() and reader.remaining == 0
    assert got == value


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("int16", -2, "fffe"),
    ("int32", 1, "00000001"),
    ("uint32", 0xE3069283, "e3069283"),
    ("unsigned_varint", 0, "00"),
    ("unsigned_varint", 127, "7f"),
    ("unsigned_varint", 128, "8001"),
    ("unsigned_varint", 300, "ac02"),
    ("unsigned_varint", (1 << 32) - 1, "ffffffff0f"),
    ("varint", 0, "00"),
    ("varint", -1, "01"),
    ("varint", 1, "02"),
    ("varint", -64, "7f"),
    ("varint", 64, "8001"),
    ("varint", (1 << 31) - 1, "feffffff0f"),
    ("varint", -(1 << 31), "ffffffff0f"),
    ("varlong", (1 << 63) - 1, "feffffffffffffffff01"),
    ("varlong", -(1 << 63), "ffffffffffffffffff01"),
    ("string", None, "ffff"),
    ("string", "", "0000"),
    ("string", "ab", "00026162"),
    ("compact_string", None, "00"),
    ("compact_string", "", "01"),
    ("compact_string", "ab", "036162"),
    ("bytes", None, "ffffffff"),
    ("compact_bytes", None, "00"),
    ("compact_bytes", b"\x07", "0207"),
    ("array", None, "ffffffff"),
    ("array", [], "00000000"),
    ("array", [7], "0000000100000007"),
    ("compact_array", None, "00"),
    ("compact_array", [], "01"),
    ("compact_array", ["a"], "02" "000161"),  # its elements here are STRINGs
    ("tagged_fields", {}, "00"),
    ("tagged_fields", {5: b"ab", 1: b""}, "0201000502" "6162"),  # in ascending order of tag
    ("boolean", True, "01"),
    ("uuid", None, "00" * 16),
])
def test_the_bytes_are_kafkas(kind: str, value: Any, expected: str) -> None:
    assert encode(kind, value).hex() == expected


def test_empty_tagged_fields_are_a_single_zero_byte() -> None:
    writer = Writer()
    writer.empty_tagged_fields()
    assert writer.getvalue() == b"\x00" and len(writer) == 1


def test_tagged_fields_are_skipped_and_what_follows_is_read() -> None:
    writer = Writer()
    writer.int16(7)
    writer.tagged_fields({3: b"ignored", 100_000: b"\xff" * 300})
    writer.compact_string("after")
    reader = Reader(writer.getvalue())
    assert reader.int16() == 7
    assert reader.tagged_fields() == {3: b"ignored", 100_000: b"\xff" * 300}
    assert reader.compact_string() == "after"
    reader.expect_done()


def test_a_nonzero_byte_reads_as_true() -> None:
    assert Reader(b"\x02").boolean() is True
    assert Reader(b"\x00").boolean() is False


def test_reads_from_bytes_bytearray_and_memoryview() -> None:
    data = encode("compact_string", "hello") + encode("int32", 9)
    for source in (data, bytearray(data), memoryview(data), memoryview(b"xx" + data)[2:]):
        reader = Reader(source)
        assert (reader.compact_string(), reader.int32()) == ("hello", 9)
        assert reader.done()


def test_read_bytes_are_copies_not_views() -> None:
    source = bytearray(encode("bytes", b"abc"))
    got = Reader(source).bytes()
    source[-1] = 0
    assert got == b"abc" and type(got) is bytes


def test_nested_arrays_round_trip() -> None:
    def write_row(w: Writer, row: list[str | None]) -> None:
        w.compact_array(row, _write_string)

    def read_row(r: Reader) -> list[str | None] | None:
        return r.compact_array(_string)

    rows: list[list[str | None]] = [[], ["a", None], ["b"]]
    writer = Writer()
    writer.array(rows, write_row)
    assert Reader(writer.getvalue()).array(read_row) == rows


def test_expect_done_refuses_bytes_left_over() -> None:
    reader = Reader(b"\x00\x01\x02")
    reader.int16()
    assert not reader.done() and reader.remaining == 1
    with pytest.raises(Malformed, match="1 bytes left over"):
        reader.expect_done()


# -- what a Writer refuses


@pytest.mark.parametrize(("kind", "value"), [
    ("int8", 128), ("int8", -129), ("int16", 1 << 15),
    ("int32", 1 << 31), ("int32", -(1 << 31) - 1), ("uint32", -1), ("uint32", 1 << 32),
    ("int64", 1 << 63), ("int64", -(1 << 63) - 1),
    ("unsigned_varint", -1), ("unsigned_varint", 1 << 32),
    ("varint", 1 << 31), ("varint", -(1 << 31) - 1), ("varlong", 1 << 63), ("varlong", -(1 << 63) - 1),
    ("string", "x" * (MAX_STRING_BYTES + 1)), ("compact_string", "é" * 16384),
])
def test_the_writer_refuses_what_the_type_cannot_carry(kind: str, value: Any) -> None:
    with pytest.raises(ValueError, match=r"does not fit|at most") as caught:
        encode(kind, value)
    assert not isinstance(caught.value, Malformed)


# -- malformed input


@pytest.mark.parametrize(("kind", "data", "message"), [
    ("int32", "000000", "INT32 needs 4 bytes where 3 are left"),
    ("int64", "", "INT64 needs 8 bytes where 0 are left"),
    ("uuid", "00" * 15, "a UUID of 16 bytes where 15 are left"),
    ("string", "fffe", "STRING of length -2"),
    ("string", "7fff" + "61" * 12, "a STRING of 32767 bytes where 12 are left"),
    ("string", "0002c328", "not UTF-8"),
    ("compact_string", "f1a204" + "61" * 12, r"a COMPACT_STRING of 70000 bytes \(at most 32767\)"),
    ("compact_string", "0461", "a COMPACT_STRING of 3 bytes where 1 are left"),
    ("bytes", "80000000", "BYTES of length -2147483648"),
    ("bytes", "7fffffff" + "00" * 12, "BYTES of 2147483647 bytes where 12 are left"),
    ("compact_bytes", "ffffffff0f", "COMPACT_BYTES of 4294967294 bytes where 0 are left"),
    ("array", "fffffffe", "ARRAY of length -2"),
    ("array", "7fffffff", "ARRAY of 2147483647 elements where 0 bytes are left"),
    ("compact_array", "ffffffff0f0000", "COMPACT_ARRAY of 4294967294 elements where 2 bytes are left"),
    ("tagged_fields", "ffffffff0f", "4294967295 tagged fields where 0 bytes are left"),
    ("tagged_fields", "01000a00", "tagged field 0 of 10 bytes where 1 are left"),
    ("unsigned_varint", "ffffffff7f", "UNSIGNED_VARINT beyond 32 bits"),
    ("unsigned_varint", "ffffffff1f", "UNSIGNED_VARINT beyond 32 bits"),
    ("unsigned_varint", "ffffffffff01", "UNSIGNED_VARINT longer than 5 bytes"),
    ("varint", "8080", "VARINT cut short after 2 bytes"),
    ("varlong", "ff" * 10 + "01", "VARLONG longer than 10 bytes"),
    ("varlong", "ff" * 9 + "02", "VARLONG beyond 64 bits"),
])
def test_malformed_input_says_what_is_wrong(kind: str, data: str, message: str) -> None:
    with pytest.raises(Malformed, match=message):
        TYPES[kind][1](Reader(bytes.fromhex(data)))


def test_malformed_is_a_value_error() -> None:
    assert issubclass(Malformed, ValueError)


def test_a_huge_array_fails_before_reading_or_allocating_anything() -> None:
    calls = []

    def read_one(r: Reader) -> int:
        calls.append(1)
        return r.int8()

    for data in (b"\x7f\xff\xff\xff" + bytes(1000), b"\xff\xff\xff\xff\x0f" + bytes(1000)):
        tracemalloc.start()
        try:
            with pytest.raises(Malformed, match="elements where 1000 bytes are left"):
                reader = Reader(data)
                if data[0] == 0x7F:
                    reader.array(read_one)
                else:
                    reader.compact_array(read_one)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 64 * 1024
    assert calls == []


def test_an_array_of_more_elements_than_bytes_left_is_refused_even_when_elements_could_be_empty() -> None:
    # Kafka's generated code bounds every count by the bytes remaining, whatever the element
    with pytest.raises(Malformed):
        Reader(b"\x00\x00\x00\x02\x00").array(lambda r: None)
    assert Reader(b"\x00\x00\x00\x02\x00\x00").array(lambda r: None) == [None, None]


# -- properties

VALUES: dict[str, st.SearchStrategy[Any]] = {
    "int8": st.integers(*INT8),
    "int16": st.integers(*INT16),
    "int32": st.integers(*INT32),
    "uint32": st.integers(0, 0xFFFFFFFF),
    "int64": st.integers(*INT64),
    "boolean": st.booleans(),
    "uuid": st.uuids(),
    "unsigned_varint": st.integers(0, (1 << 32) - 1),
    "varint": st.integers(*INT32),
    "varlong": st.integers(*INT64),
    "string": st.none() | st.text(max_size=40),
    "compact_string": st.none() | st.text(max_size=40),
    "bytes": st.none() | st.binary(max_size=40),
    "compact_bytes": st.none() | st.binary(max_size=40),
    "array": st.none() | st.lists(st.integers(*INT32), max_size=5),
    "compact_array": st.none() | st.lists(st.none() | st.text(max_size=5), max_size=5),
    "tagged_fields": st.dictionaries(st.integers(0, (1 << 32) - 1), st.binary(max_size=10), max_size=3),
}
FIELDS = st.lists(st.sampled_from(sorted(VALUES)).flatmap(lambda kind: st.tuples(st.just(kind), VALUES[kind])),
                  max_size=12)


def read_all(data: bytes, kinds: list[str]) -> list[Any]:
    reader = Reader(data)
    values = [TYPES[kind][1](reader) for kind in kinds]
    reader.expect_done()
    return values


@settings(max_examples=500, deadline=None)
@given(FIELDS)
def test_any_sequence_of_fields_round_trips(fields: list[tuple[str, Any]]) -> None:
    writer = Writer()
    for kind, value in fields:
        TYPES[kind][0](writer, value)
    assert read_all(writer.getvalue(), [kind for kind, _ in fields]) == [value for _, value in fields]


@settings(max_examples=300, deadline=None)
@given(FIELDS.filter(bool))
def test_a_truncated_encoding_is_malformed_wherever_it_is_cut(fields: list[tuple[str, Any]]) -> None:
    writer = Writer()
    for kind, value in fields:
        TYPES[kind][0](writer, value)
    data = writer.getvalue()
    kinds = [kind for kind, _ in fields]
    for cut in range(len(data)):
        with pytest.raises(Malformed):
            read_all(data[:cut], kinds)


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(sorted(TYPES)), min_size=1, max_size=8), st.binary(max_size=64))
def test_any_bytes_either_parse_or_are_malformed(kinds: list[str], data: bytes) -> None:
    reader = Reader(data)
    with contextlib.suppress(Malformed):  # what is not refused as Malformed must parse
        for kind in kinds:
            TYPES[kind][1](reader)
        reader.expect_done()


@settings(max_examples=500, deadline=None)
@given(st.integers(*INT64))
def test_varlong_matches_kafka_python(value: int) -> None:
    theirs = bytearray()
    kafka_python_encode_varint(value, theirs.append)
    assert encode("varlong", value) == bytes(theirs)
    assert kafka_python_decode_varint(bytearray(encode("varlong", value)), 0)[0] == value
