"""The command schema: what a viewer may ask a lab to do, parsed in one place.

A command arrives as a JSON object (htmx's WebSocket extension sends form
values as strings, plus a ``HEADERS`` object that is ignored). ``parse``
returns a ``Command`` with typed arguments (an ``act`` command, a lab kind's
own action such as a Kafka publish, keeps its other fields in ``fields`` for
that lab to check) or raises ``CommandError`` with a
sentence for the sender. Whether a named machine exists is checked by the lab,
which knows its machines.

Everything is checked here, once, before anything is logged: every string in
a command (keys too) must be valid Unicode text without control characters
other than tab and newline (a lone surrogate cannot be saved, sent or shown),
and every number must be finite and in range.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_COMMAND_BYTES = 4096
#: the largest WebSocket message either way: daphne closes a socket that sends a larger one (1009)
#: before reading it, and refuses to send one (the terminal's outbox messages stay below it)
MAX_SOCKET_MESSAGE_BYTES = 64 * 1024
SPEEDS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0)
MAX_FORWARD_SECONDS = 600
MAX_NAME_LENGTH = 40
MAX_DATA_LENGTH = 1000
MAX_ACTION_FIELDS = 12
ACTION_NAME = re.compile(r"[a-z][a-z_]{0,29}")
#: virtual time is at most this (about 30 years): larger numbers are refused, not rounded
MAX_TIME_MS = 10**12
#: lone surrogates (not text at all) and control characters other than tab, newline and return
UNTEXT = re.compile(r"[\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f]")


class CommandError(Exception):
    """A command that cannot be carried out; the message is for the sender."""


@dataclass(frozen=True)
class Command:
    name: str
    args: dict[str, Any]

    def as_data(self) -> dict[str, Any]:
        """The command as a JSON object again, as ``from_data`` reads it (an action's own
        fields sit beside ``op``)."""
        args = {k: v for k, v in self.args.items() if k != "fields"}
        return {"command": self.name, **args, **self.args.get("fields", {})}


def machine_name(value: Any, field: str) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        raise CommandError(f"'{field}' must name a machine.")
    if len(name) > MAX_NAME_LENGTH:
        raise CommandError(f"'{field}' is too long to be a machine name.")
    return name


def flag(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "on", "1", 1):
        return True
    if value in ("false", "off", "0", 0, ""):
        return False
    raise CommandError(f"'{field}' must be true or false.")


def number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise CommandError(f"'{field}' must be a number.")
    try:
        result = float(value)
    except (ValueError, OverflowError):
        raise CommandError(f"'{field}' must be a number of a sensible size.") from None
    if result != result or result in (float("inf"), float("-inf")):
        raise CommandError(f"'{field}' must be a finite number.")
    return result


def _speed(value: Any, field: str) -> float:
    speed = number(value, field)
    if speed not in SPEEDS:
        allowed = ", ".join(f"{s:g}x" for s in SPEEDS)
        raise CommandError(f"Speed must be one of {allowed}.")
    return speed


def _seconds(value: Any, field: str) -> int:
    seconds = number(value, field)
    if not 0 < seconds <= MAX_FORWARD_SECONDS or seconds != int(seconds):
        raise CommandError(f"'{field}' must be a whole number of seconds from 1 to {MAX_FORWARD_SECONDS}.")
    return int(seconds)


def _time_ms(value: Any, field: str) -> int:
    time_ms = number(value, field)
    if time_ms < 0:
        raise CommandError(f"'{field}' cannot be negative.")
    if time_ms > MAX_TIME_MS:
        raise CommandError(f"'{field}' is past any lab's end (at most {MAX_TIME_MS:,} ms).")
    return int(time_ms)


def op_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.isalpha() or len(value) > 20:
        raise CommandError(f"'{field}' must name an operation.")
    return value


def text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise CommandError(f"'{field}' must be text.")
    if len(value) > MAX_DATA_LENGTH:
        raise CommandError(f"'{field}' is too long (at most {MAX_DATA_LENGTH} characters here).")
    return value


def _action(value: Any, field: str) -> str:
    if not isinstance(value, str) or not ACTION_NAME.fullmatch(value):
        raise CommandError(f"'{field}' must name an action, such as publish.")
    return value


def _fields(data: dict[str, Any]) -> dict[str, Any]:
    """An action's own fields: a few short scalars, checked further by the lab that knows the action."""
    fields = {k: v for k, v in data.items() if k not in ("command", "op", "HEADERS")}
    if len(fields) > MAX_ACTION_FIELDS:
        raise CommandError(f"An action takes at most {MAX_ACTION_FIELDS} fields.")
    for key, value in fields.items():
        if not ACTION_NAME.fullmatch(key):
            raise CommandError("Field names are short lowercase words, such as topic or key.")
        if not isinstance(value, (str, int, float, bool)) or (isinstance(value, float) and value != value):
            raise CommandError(f"'{key}' must be text, a number or true/false.")
        if isinstance(value, str) and len(value) > MAX_DATA_LENGTH:
            raise CommandError(f"'{key}' is too long (at most {MAX_DATA_LENGTH} characters here).")
    return fields


def _slug(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_LENGTH:
        raise CommandError(f"'{field}' must be a short name, such as a preset's.")
    return value


def check_text(data: Any) -> None:
    """Refuse any string in ``data`` (a decoded JSON value, keys included) that is not plain
    text: a lone surrogate or a control character other than tab and newline."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if UNTEXT.search(value):
                raise CommandError("Text in a command must be plain Unicode text, without control characters "
                                   "or lone surrogates (such as \\ud800).")
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


Parser = Callable[[Any, str], Any]

#: command name → {argument: parser}; an argument with a default is optional.
SCHEMA: dict[str, dict[str, Parser]] = {
    "play": {},
    "pause": {},
    "step": {},
    "next": {},
    "back": {},
    "reset": {},
    "speed": {"speed": _speed},
    "faster": {},
    "slower": {},
    "forward": {"seconds": _seconds},
    "seek": {"time_ms": _time_ms},
    "crash": {"node": machine_name},
    "power_off": {"node": machine_name},
    "restart": {"node": machine_name},
    "cut": {"a": machine_name, "b": machine_name, "both_ways": flag},
    "restore": {"a": machine_name, "b": machine_name, "both_ways": flag},
    "partition": {"preset": _slug},
    "heal": {},
    "toggle": {"name": _slug, "on": flag},
    "act": {"op": _action},
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "cut": {"both_ways": True},
    "restore": {"both_ways": True},
}


def declare(name: str, fields: Mapping[str, Parser], defaults: Mapping[str, Any]) -> None:
    """Add a lab kind's own command to the schema (``coordlab.labs.registry`` does, for each
    registered kind). A name taken by another command is a ``ValueError``."""
    if name in SCHEMA and (SCHEMA[name], DEFAULTS.get(name, {})) != (dict(fields), dict(defaults)):
        raise ValueError(f"the command {name!r} is declared twice")
    SCHEMA[name] = dict(fields)
    if defaults:
        DEFAULTS[name] = dict(defaults)


def forget(name: str) -> None:
    """Take a kind's command out of the schema again (when its kind is unregistered)."""
    SCHEMA.pop(name, None)
    DEFAULTS.pop(name, None)


def parse(raw: str | bytes | None) -> Command:
    """Turn one WebSocket message into a ``Command`` or raise ``CommandError``."""
    if raw is None:
        raise CommandError("Send commands as JSON text.")
    if len(raw) > MAX_COMMAND_BYTES:
        raise CommandError(f"That message is {len(raw):,} bytes; a command may be at most {MAX_COMMAND_BYTES:,}.")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise CommandError("That message is not valid JSON.") from None
    except RecursionError:
        raise CommandError("That message is nested too deeply to be a command.") from None
    if not isinstance(data, dict):
        raise CommandError('A command must be a JSON object such as {"command": "pause"}.')
    return from_data(data)


def from_data(data: dict[str, Any]) -> Command:
    """Validate an already decoded command object."""
    check_text(data)
    name = data.get("command")
    if not isinstance(name, str) or name not in SCHEMA:
        shown = name if isinstance(name, str) and len(name) <= MAX_NAME_LENGTH else "?"
        raise CommandError(f"Unknown command '{shown}'.")
    spec = SCHEMA[name]
    args = dict(DEFAULTS.get(name, {}))
    for field, parser in spec.items():
        if field in data:
            args[field] = parser(data[field], field)
        elif field not in args:
            raise CommandError(f"'{name}' needs '{field}'.")
    if name == "act":
        args["fields"] = _fields(data)
    return Command(name, args)
