"""Kafka's primitive wire types (https://kafka.apache.org/protocol#protocol_types), read from
and written to bytes: no I/O, no Django.

Everything is big-endian and signed unless its name says otherwise. A ``COMPACT_`` type
(KIP-482, the flexible versions) carries its length as an unsigned varint of length + 1,
with 0 for null; the others carry an INT16 (strings) or INT32 (bytes, arrays) length with
-1 for null.

A ``Reader`` trusts nothing it reads: every read checks that the bytes it needs are there,
and a length or count larger than the bytes left fails at once, before anything is
allocated. What does not parse raises ``Malformed``, never ``IndexError`` or
``struct.error`` (the reader's position is then undefined). A ``Writer`` raises
``ValueError`` for a value its type cannot carry (a bug on our side, not the client's).
"""

from __future__ import annotations

import builtins
import struct
import uuid as uuid_module
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

#: what a ``Reader`` reads from and ``Writer.raw`` appends
BytesLike = bytes | bytearray | memoryview

#: Kafka's limit on a string's length, compact or not (the generated code's 0x7fff)
MAX_STRING_BYTES = 0x7FFF

_INT8 = struct.Struct(">b")
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_INT64 = struct.Struct(">q")
_NULL_UUID = bytes(16)


class Malformed(ValueError):
    """Bytes that are not what the protocol says they should be."""


class Reader:
    """Reads Kafka's types one after the other from ``data``, starting at ``position``."""

    __slots__ = ("_data", "_end", "position")

    def __init__(self, data: BytesLike) -> None:
        view = memoryview(data)
        if view.ndim != 1 or view.format != "B":
            view = view.cast("B")
        self._data = view
        self._end = len(view)
        self.position = 0

    @property
    def remaining(self) -> int:
        """How many bytes are left to read."""
        return self._end - self.position

    def done(self) -> bool:
        """Whether every byte has been read."""
        return self.position >= self._end

    def expect_done(self) -> None:
        """Raise ``Malformed`` if bytes are left over."""
        if self.position < self._end:
            raise Malformed(f"{self.remaining} bytes left over after the last field")

    # -- raw bytes and fixed-size types

    def _take(self, size: int, what: str) -> memoryview:
        left = self._end - self.position
        if size > left:
            raise Malformed(f"{what} of {size} bytes where {left} are left")
        start = self.position
        self.position = start + size
        return self._data[start:start + size]

    def _fixed(self, layout: struct.Struct, what: str) -> int:
        left = self._end - self.position
        if layout.size > left:
            raise Malformed(f"{what} needs {layout.size} bytes where {left} are left")
        (value,) = layout.unpack_from(self._data, self.position)
        self.position += layout.size
        return int(value)

    def raw(self, size: int) -> builtins.bytes:
        """``size`` bytes, as they are."""
        if size < 0:
            raise Malformed(f"a negative size ({size})")
        return self._take(size, "a run of bytes").tobytes()

    def int8(self) -> int:
        """INT8."""
        return self._fixed(_INT8, "INT8")

    def int16(self) -> int:
        """INT16."""
        return self._fixed(_INT16, "INT16")

    def int32(self) -> int:
        """INT32."""
        return self._fixed(_INT32, "INT32")

    def uint32(self) -> int:
        """UINT32 (a record batch's CRC, for one)."""
        return self._fixed(_UINT32, "UINT32")

    def int64(self) -> int:
        """INT64."""
        return self._fixed(_INT64, "INT64")

    def boolean(self) -> bool:
        """BOOLEAN: one byte, anything but 0 is true (as Kafka reads it)."""
        return self._fixed(_INT8, "BOOLEAN") != 0

    def uuid(self) -> uuid_module.UUID:
        """UUID: 16 bytes; all zeros is Kafka's null UUID (``Uuid.ZERO_UUID``)."""
        return uuid_module.UUID(bytes=self._take(16, "a UUID").tobytes())

    # -- variable-length integers

    def _unsigned(self, max_bytes: int, bits: int, what: str) -> int:
        data, position, end = self._data, self.position, self._end
        value = shift = 0
        for _ in range(max_bytes):
            if position >= end:
                raise Malformed(f"{what} cut short after {position - self.position} bytes")
            byte = data[position]
            position += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                if value >> bits:
                    raise Malformed(f"{what} beyond {bits} bits")
                self.position = position
                return value
            shift += 7
        raise Malformed(f"{what} longer than {max_bytes} bytes")

    def unsigned_varint(self) -> int:
        """UNSIGNED_VARINT: 7 bits a byte, low bits first, at most 5 bytes (0 to 2^32-1)."""
        return self._unsigned(5, 32, "UNSIGNED_VARINT")

    def varint(self) -> int:
        """VARINT: a zigzag-encoded 32-bit signed integer (-1 is 0x01, 1 is 0x02)."""
        value = self._unsigned(5, 32, "VARINT")
        return (value >> 1) ^ -(value & 1)

    def varlong(self) -> int:
        """VARLONG: a zigzag-encoded 64-bit signed integer, at most 10 bytes."""
        value = self._unsigned(10, 64, "VARLONG")
        return (value >> 1) ^ -(value & 1)

    # -- strings and bytes

    def _length(self, size: int, what: str) -> int:
        """A length just read, with -1 for null: any other negative one is refused."""
        if size < -1:
            raise Malformed(f"{what} of length {size}")
        return size

    def _text(self, size: int, what: str) -> str | None:
        if size == -1:
            return None
        if size > MAX_STRING_BYTES:
            raise Malformed(f"a {what} of {size} bytes (at most {MAX_STRING_BYTES})")
        raw = self._take(size, f"a {what}")
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as why:
            raise Malformed(f"a {what} that is not UTF-8 ({why.reason} at byte {why.start})") from None

    def _blob(self, size: int, what: str) -> builtins.bytes | None:
        return None if size == -1 else self._take(size, what).tobytes()

    def string(self) -> str | None:
        """STRING / NULLABLE_STRING: an INT16 length (-1 for null), then UTF-8."""
        return self._text(self._length(self.int16(), "STRING"), "STRING")

    def compact_string(self) -> str | None:
        """COMPACT_STRING / COMPACT_NULLABLE_STRING: an UNSIGNED_VARINT of length + 1 (0 for null), then UTF-8."""
        return self._text(self.unsigned_varint() - 1, "COMPACT_STRING")

    def bytes(self) -> builtins.bytes | None:
        """BYTES / NULLABLE_BYTES (and RECORDS): an INT32 length (-1 for null), then the bytes."""
        return self._blob(self._length(self.int32(), "BYTES"), "BYTES")

    def compact_bytes(self) -> builtins.bytes | None:
        """COMPACT_BYTES / COMPACT_NULLABLE_BYTES (and COMPACT_RECORDS): an UNSIGNED_VARINT of length + 1."""
        return self._blob(self.unsigned_varint() - 1, "COMPACT_BYTES")

    # -- arrays and tagged fields

    def _elements(self, count: int, read_one: Callable[[Reader], T], what: str) -> list[T] | None:
        if count == -1:
            return None
        # Kafka's own bound (its generated code refuses "a collection of size N, but there are only M bytes
        # remaining"): it holds for every array Kafka sends, and a huge count fails before any element is read.
        if count > self._end - self.position:
            raise Malformed(f"{what} of {count} elements where {self.remaining} bytes are left")
        return [read_one(self) for _ in range(count)]

    def array(self, read_one: Callable[[Reader], T]) -> list[T] | None:
        """ARRAY: an INT32 count (-1 for null), then each element as ``read_one`` reads it."""
        return self._elements(self._length(self.int32(), "ARRAY"), read_one, "ARRAY")

    def compact_array(self, read_one: Callable[[Reader], T]) -> list[T] | None:
        """COMPACT_ARRAY: an UNSIGNED_VARINT of count + 1 (0 for null), then each element."""
        return self._elements(self.unsigned_varint() - 1, read_one, "COMPACT_ARRAY")

    def tagged_fields(self) -> dict[int, builtins.bytes]:
        """TAGGED_FIELDS: an UNSIGNED_VARINT count, then each field's tag and size (both UNSIGNED_VARINT) and
        its bytes. Returned by tag: this server knows no tagged field, so callers skip them."""
        count = self.unsigned_varint()
        if count > self._end - self.position:
            raise Malformed(f"{count} tagged fields where {self.remaining} bytes are left")
        fields = {}
        for _ in range(count):
            tag = self.unsigned_varint()
            fields[tag] = self._take(self.unsigned_varint(), f"tagged field {tag}").tobytes()
        return fields


def _zigzag(value: int, bits: int, what: str) -> int:
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise ValueError(f"{value} does not fit {what}")
    return value << 1 if value >= 0 else ((-value) << 1) - 1


class Writer:
    """Appends Kafka's types to a growing buffer; ``getvalue()`` is what was written."""

    __slots__ = ("_out",)

    def __init__(self) -> None:
        self._out = bytearray()

    def __len__(self) -> int:
        return len(self._out)

    def getvalue(self) -> builtins.bytes:
        """Everything written so far."""
        return builtins.bytes(self._out)

    def _fixed(self, layout: struct.Struct, value: int, what: str) -> None:
        try:
            self._out += layout.pack(value)
        except struct.error:
            raise ValueError(f"{value!r} does not fit {what}") from None

    def raw(self, data: BytesLike) -> None:
        """Bytes as they are, with no length."""
        self._out += data

    def int8(self, value: int) -> None:
        """INT8."""
        self._fixed(_INT8, value, "INT8")

    def int16(self, value: int) -> None:
        """INT16."""
        self._fixed(_INT16, value, "INT16")

    def int32(self, value: int) -> None:
        """INT32."""
        self._fixed(_INT32, value, "INT32")

    def uint32(self, value: int) -> None:
        """UINT32."""
        self._fixed(_UINT32, value, "UINT32")

    def int64(self, value: int) -> None:
        """INT64."""
        self._fixed(_INT64, value, "INT64")

    def boolean(self, value: bool) -> None:
        """BOOLEAN: 1 or 0."""
        self._out.append(1 if value else 0)

    def uuid(self, value: uuid_module.UUID | None) -> None:
        """UUID: 16 bytes; None writes Kafka's null UUID (all zeros)."""
        self._out += _NULL_UUID if value is None else value.bytes

    def unsigned_varint(self, value: int) -> None:
        """UNSIGNED_VARINT: 0 to 2^32-1."""
        if not 0 <= value < 1 << 32:
            raise ValueError(f"{value} does not fit UNSIGNED_VARINT")
        self._varint(value)

    def _varint(self, value: int) -> None:
        out = self._out
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)

    def varint(self, value: int) -> None:
        """VARINT: a zigzag-encoded 32-bit signed integer."""
        self._varint(_zigzag(value, 32, "VARINT"))

    def varlong(self, value: int) -> None:
        """VARLONG: a zigzag-encoded 64-bit signed integer."""
        self._varint(_zigzag(value, 64, "VARLONG"))

    @staticmethod
    def _encode(value: str, what: str) -> builtins.bytes:
        data = value.encode("utf-8")
        if len(data) > MAX_STRING_BYTES:
            raise ValueError(f"a {what} of {len(data)} bytes (at most {MAX_STRING_BYTES})")
        return data

    def string(self, value: str | None) -> None:
        """STRING / NULLABLE_STRING: an INT16 length (-1 for null), then UTF-8."""
        if value is None:
            self.int16(-1)
            return
        data = self._encode(value, "STRING")
        self.int16(len(data))
        self._out += data

    def compact_string(self, value: str | None) -> None:
        """COMPACT_STRING / COMPACT_NULLABLE_STRING: an UNSIGNED_VARINT of length + 1 (0 for null), then UTF-8."""
        if value is None:
            self._out.append(0)
            return
        data = self._encode(value, "COMPACT_STRING")
        self._varint(len(data) + 1)
        self._out += data

    def bytes(self, value: BytesLike | None) -> None:
        """BYTES / NULLABLE_BYTES (and RECORDS): an INT32 length (-1 for null), then the bytes."""
        if value is None:
            self.int32(-1)
            return
        self.int32(len(value))
        self._out += value

    def compact_bytes(self, value: BytesLike | None) -> None:
        """COMPACT_BYTES / COMPACT_NULLABLE_BYTES (and COMPACT_RECORDS): an UNSIGNED_VARINT of length + 1."""
        if value is None:
            self._out.append(0)
            return
        self.unsigned_varint(len(value) + 1)
        self._out += value

    def array(self, values: Sequence[T] | None, write_one: Callable[[Writer, T], None]) -> None:
        """ARRAY: an INT32 count (-1 for null), then each element as ``write_one`` writes it."""
        if values is None:
            self.int32(-1)
            return
        self.int32(len(values))
        for value in values:
            write_one(self, value)

    def compact_array(self, values: Sequence[T] | None, write_one: Callable[[Writer, T], None]) -> None:
        """COMPACT_ARRAY: an UNSIGNED_VARINT of count + 1 (0 for null), then each element."""
        if values is None:
            self._out.append(0)
            return
        self.unsigned_varint(len(values) + 1)
        for value in values:
            write_one(self, value)

    def tagged_fields(self, fields: Mapping[int, BytesLike]) -> None:
        """TAGGED_FIELDS: their count, then each tag, size and bytes, in ascending order of tag (KIP-482)."""
        self.unsigned_varint(len(fields))
        for tag in sorted(fields):
            self.unsigned_varint(tag)
            self.unsigned_varint(len(fields[tag]))
            self._out += fields[tag]

    def empty_tagged_fields(self) -> None:
        """TAGGED_FIELDS with no field: a single 0 byte."""
        self._out.append(0)
