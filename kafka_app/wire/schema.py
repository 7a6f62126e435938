"""Kafka's request and response bodies, described by their fields and the versions each
field exists in, as Kafka's own message definitions do (``clients/src/main/resources/
common/message/*.json``), and read or written for one version.

A flexible version (KIP-482) writes strings, byte fields and arrays in their compact
form and ends every structure with its tagged fields; this server sends none and skips
those it is sent. A message's fields are Python dicts keyed by the fields' snake_case names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .codec import Malformed, Reader, Writer

#: a primitive type, by the name Kafka's message definitions give it
Primitive = str
NEWEST = 1 << 15


@dataclass(frozen=True)
class Array:
    """``[]element``: an array of a primitive or of structures."""

    element: Primitive | Struct


@dataclass(frozen=True)
class Field:
    """One field: its type and the versions it exists in (``since``..``until``, inclusive);
    ``nullable`` is the first version in which it may be null (a null array, string or
    bytes); ``default`` is what a version without the field reads as."""

    name: str
    type: Primitive | Array | Struct
    since: int = 0
    until: int = NEWEST
    nullable: int = NEWEST
    default: Any = None

    def exists(self, version: int) -> bool:
        return self.since <= version <= self.until


@dataclass(frozen=True)
class Struct:
    fields: tuple[Field, ...] = field(default=())

    def read(self, reader: Reader, version: int, flexible: bool) -> dict[str, Any]:
        value = {}
        for item in self.fields:
            if item.exists(version):
                value[item.name] = _read(reader, item.type, version, flexible, version >= item.nullable)
            else:
                value[item.name] = item.default
        if flexible:
            reader.tagged_fields()
        return value

    def write(self, writer: Writer, value: dict[str, Any], version: int, flexible: bool) -> None:
        for item in self.fields:
            if item.exists(version):
                _write(writer, item.type, value.get(item.name, item.default), version, flexible,
                       version >= item.nullable, item.name)
        if flexible:
            writer.empty_tagged_fields()


def struct(*fields: Field) -> Struct:
    return Struct(tuple(fields))


_FIXED: dict[str, tuple[Callable[[Reader], Any], Callable[[Writer, Any], None]]] = {
    "int8": (Reader.int8, Writer.int8), "int16": (Reader.int16, Writer.int16), "int32": (Reader.int32, Writer.int32),
    "int64": (Reader.int64, Writer.int64), "bool": (Reader.boolean, Writer.boolean), "uuid": (Reader.uuid, Writer.uuid),
}


def _read(reader: Reader, kind: Primitive | Array | Struct, version: int, flexible: bool, nullable: bool) -> Any:
    if isinstance(kind, Struct):
        return kind.read(reader, version, flexible)
    if isinstance(kind, Array):
        element = kind.element
        items = reader.compact_array(lambda r: _read(r, element, version, flexible, False)) if flexible else \
            reader.array(lambda r: _read(r, element, version, flexible, False))
        if items is None and not nullable:
            raise Malformed("a null array where the protocol does not allow one")
        return items
    if kind in _FIXED:
        return _FIXED[kind][0](reader)
    if kind == "string":
        text = reader.compact_string() if flexible else reader.string()
        if text is None and not nullable:
            raise Malformed("a null string where the protocol does not allow one")
        return text
    if kind in ("bytes", "records"):
        data = reader.compact_bytes() if flexible else reader.bytes()
        if data is None and not nullable:
            raise Malformed("null bytes where the protocol does not allow them")
        return data
    raise AssertionError(f"no such type: {kind}")


def _write(writer: Writer, kind: Primitive | Array | Struct, value: Any, version: int, flexible: bool,
           nullable: bool, name: str) -> None:
    if value is None and not nullable and not isinstance(kind, Struct):
        raise ValueError(f"{name} may not be null in version {version}")
    if isinstance(kind, Struct):
        kind.write(writer, value or {}, version, flexible)
    elif isinstance(kind, Array):
        element = kind.element

        def one(w: Writer, item: Any) -> None:
            _write(w, element, item, version, flexible, False, name)

        if flexible:
            writer.compact_array(value, one)
        else:
            writer.array(value, one)
    elif kind in _FIXED:
        _FIXED[kind][1](writer, value)
    elif kind == "string":
        writer.compact_string(value) if flexible else writer.string(value)
    elif kind in ("bytes", "records"):
        writer.compact_bytes(value) if flexible else writer.bytes(value)
    else:
        raise AssertionError(f"no such type: {kind}")
