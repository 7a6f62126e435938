"""The generic snapshot codec."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

import pytest

from coordlab.sim import decode, encode, serializable


@serializable
@dataclass
class Inner:
    numbers: tuple[int, ...] = ()
    by_id: dict[int, str] = field(default_factory=dict)
    blob: bytes = b""


@serializable
@dataclass
class Outer:
    name: str = ""
    inner: Inner = field(default_factory=Inner)
    rng: random.Random = field(default_factory=lambda: random.Random(5))
    items: list[Inner] = field(default_factory=list)


def test_round_trip_keeps_types_and_values():
    original = Outer("x", Inner((1, 2), {3: "three"}, b"\x00\xff"), random.Random(9), [Inner((4,), {})])
    original.rng.random()
    copy = decode(json.loads(json.dumps(encode(original))))
    assert copy == Outer("x", Inner((1, 2), {3: "three"}, b"\x00\xff"), copy.rng, [Inner((4,), {})])
    assert isinstance(copy.inner.numbers, tuple) and list(copy.inner.by_id) == [3]
    assert copy.rng.random() == original.rng.random()


def test_unregistered_types_are_refused():
    class Unknown:
        """Not registered with @serializable."""

    with pytest.raises(TypeError, match="register it"):
        encode({"x": Unknown()})


def test_unknown_type_name_in_a_snapshot_is_refused():
    with pytest.raises(ValueError, match="unknown type"):
        decode({"@": "NoSuchClass"})


def test_reserved_key_is_refused():
    with pytest.raises(ValueError):
        encode({"@": "sneaky"})
