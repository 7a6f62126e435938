"""Nodes: the machines of a simulation.

A node is a dataclass. Fields marked ``durable()`` are what the real system
keeps on disk (a transaction log, a log segment); every other field is
volatile and returns to its default when the node crashes. Messages are
dispatched by kind to ``handle_<kind>`` and timers by name to
``on_<name>``, as Channels dispatches ``type`` to a method.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .codec import serializable

if TYPE_CHECKING:
    from .network import Message
    from .simulation import Simulation


def durable(default: Any = dataclasses.MISSING, default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field that survives a crash (it is on disk)."""
    return field(default=default, default_factory=default_factory, metadata={"durable": True})


KILLED = "killed"
POWERED_OFF = "powered off"
#: the message a killed process's host sends each peer connected to it (``Node.connected_to``)
CONNECTION_CLOSED = "ConnectionClosed"

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_HANDLERS: dict[tuple[type, str], Callable[..., None] | None] = {}


def handler_name(kind: str) -> str:
    """``AppendEntries`` → ``handle_append_entries``."""
    return "handle_" + _CAMEL.sub("_", kind).lower()


@serializable
@dataclass
class Node:
    """Base class of every simulated machine."""

    name: str = durable()
    alive: bool = durable(True)
    incarnation: int = durable(0)
    down_since: int = durable(-1)
    failure: str = durable("")  # while down: KILLED (its host resets connections) or POWERED_OFF (silent)

    def start(self, sim: Simulation) -> None:
        """Called when the node boots, first and after every restart."""

    def deliver(self, sim: Simulation, message: Message) -> None:
        """Dispatch ``message`` to ``handle_<kind>``; unknown kinds are traced."""
        method = _lookup(type(self), handler_name(message.kind))
        if method is None:
            sim.trace(self.name, "unhandled", f"{self.name} ignores a {message.kind} message.",
                      message=message.kind)
            return
        method(self, sim, message)

    def fire(self, sim: Simulation, timer: str, data: dict[str, Any]) -> None:
        """Dispatch a timer to ``on_<timer>``."""
        method = _lookup(type(self), "on_" + timer)
        if method is None:
            raise AttributeError(f"{type(self).__name__} has no timer handler on_{timer}")
        method(self, sim, **data)

    def undelivered(self, sim: Simulation, message: Message, refused: bool) -> None:
        """A message of ours was lost. ``refused``: it reached a machine whose process was killed,
        and its host answered "connection refused" at once (a TCP reset). Otherwise a cut link,
        a partition, a powered-off machine or a restart lost it: TCP would keep retrying and then
        break the connection, so a node that holds a connection may treat it as broken."""

    def connected_to(self, peer: str) -> bool:
        """Whether this machine holds a connection to ``peer`` (which then sends it a
        ``ConnectionClosed`` if its process is killed). None by default."""
        return False

    def fresh_after_crash(self) -> Node:
        """A copy that keeps only durable fields; volatile ones take their defaults."""
        kept = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.metadata.get("durable") and f.init}
        return type(self)(**kept)


def _lookup(cls: type, name: str) -> Callable[..., None] | None:
    key = (cls, name)
    if key not in _HANDLERS:
        _HANDLERS[key] = getattr(cls, name, None)
    return _HANDLERS[key]
