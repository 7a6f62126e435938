"""The trace: every meaningful step of a simulation as a structured event.

The timeline panel, the tests and the invariant checkers all read it. It keeps
the latest ``limit`` events for display, and a running SHA-256 digest over every
event ever recorded, so two runs can be compared byte for byte however long
they were.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .codec import serializable


@serializable
@dataclass
class TraceEvent:
    """One step: when, where, what kind, its data, and a sentence for people."""

    seq: int
    time: int
    node: str
    kind: str
    fields: dict[str, Any]
    text: str

    def canonical(self) -> bytes:
        """The event as canonical JSON bytes (the digest's input)."""
        record = [self.seq, self.time, self.node, self.kind, self.fields, self.text]
        return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


@serializable
@dataclass
class Trace:
    """A bounded list of recent events plus a digest of the whole history."""

    limit: int = 500
    events: list[TraceEvent] = field(default_factory=list)
    count: int = 0
    digest: str = hashlib.sha256().hexdigest()

    def record(self, time: int, node: str, kind: str, text: str, **fields: Any) -> TraceEvent:
        event = TraceEvent(self.count, time, node, kind, fields, text)
        self.count += 1
        self.digest = hashlib.sha256(self.digest.encode() + event.canonical()).hexdigest()
        self.events.append(event)
        if len(self.events) > self.limit * 2:
            del self.events[: len(self.events) - self.limit]
        return event

    def recent(self, n: int) -> list[TraceEvent]:
        """The last ``n`` events, oldest first."""
        return self.events[-n:] if n > 0 else []
