"""One generic mechanism that turns simulation state into JSON data and back.

Every class that is part of a snapshot is a dataclass registered with
``@serializable``. ``encode`` walks plain data (None, bool, int, float, str,
bytes, list, tuple, dict) and registered dataclasses; ``decode`` rebuilds the same
objects without calling ``__init__`` or ``__post_init__``, so a restored object
is field-for-field the one that was saved. ``random.Random`` is stored as its
internal state. Nothing else is accepted: an unknown type is a bug, and says so.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

_REGISTRY: dict[str, type] = {}
_FIELDS: dict[type, tuple[str, ...]] = {}

TYPE_KEY = "@"


def serializable(cls: type) -> type:
    """Register a dataclass so snapshots may contain it (used as a decorator)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} must be a dataclass to be serializable")
    name = cls.__qualname__
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls:
        raise TypeError(f"two serializable classes are named {name}")
    _REGISTRY[name] = cls
    _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return cls


def encode(obj: Any) -> Any:
    """Return JSON-ready data for ``obj``."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, list):
        return [encode(item) for item in obj]
    if isinstance(obj, dict):
        if all(type(key) is str for key in obj):
            if TYPE_KEY in obj:
                raise ValueError(f"a dict key may not be {TYPE_KEY!r}")
            return {key: encode(value) for key, value in obj.items()}
        return {TYPE_KEY: "dict", "items": [[encode(k), encode(v)] for k, v in obj.items()]}
    if isinstance(obj, bytes):
        return {TYPE_KEY: "bytes", "hex": obj.hex()}
    if isinstance(obj, tuple):
        return {TYPE_KEY: "tuple", "items": [encode(item) for item in obj]}
    if isinstance(obj, random.Random):
        version, internal, gauss = obj.getstate()
        return {TYPE_KEY: "random", "state": [version, list(internal), gauss]}
    fields = _FIELDS.get(type(obj))
    if fields is None:
        raise TypeError(f"cannot snapshot a {type(obj).__name__}: register it with @serializable")
    data = {TYPE_KEY: type(obj).__qualname__}
    for name in fields:
        data[name] = encode(getattr(obj, name))
    return data


def decode(data: Any) -> Any:
    """Rebuild the objects that ``encode`` turned into ``data``."""
    if isinstance(data, list):
        return [decode(item) for item in data]
    if not isinstance(data, dict):
        return data
    kind = data.get(TYPE_KEY)
    if kind is None:
        return {key: decode(value) for key, value in data.items()}
    if kind == "tuple":
        return tuple(decode(item) for item in data["items"])
    if kind == "bytes":
        return bytes.fromhex(data["hex"])
    if kind == "dict":
        return {decode(k): decode(v) for k, v in data["items"]}
    if kind == "random":
        version, internal, gauss = data["state"]
        rng = random.Random()
        rng.setstate((version, tuple(internal), gauss))
        return rng
    cls = _REGISTRY.get(kind)
    if cls is None:
        raise ValueError(f"snapshot names an unknown type {kind!r}")
    obj: Any = object.__new__(cls)
    for name in _FIELDS[cls]:
        object.__setattr__(obj, name, decode(data[name]))
    return obj
