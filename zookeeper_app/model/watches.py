"""One server's watch registrations (``WatchManager``): one-shot, per session.

Data watches are set by ``get`` and by ``exists`` (even on a missing node);
child watches by ``get_children``. A change fires and removes every matching
registration; a session registered twice for the same path and kind gets one
event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coordlab.sim import serializable

# event type → which registrations it fires, as DataTree.createNode/deleteNode/setData do
FIRES = {
    "CREATED": ("data",),
    "CHANGED": ("data",),
    "DELETED": ("data", "child"),
    "CHILD": ("child",),
}


@serializable
@dataclass
class WatchManager:
    data: dict[str, list[int]] = field(default_factory=dict)
    child: dict[str, list[int]] = field(default_factory=dict)

    def add(self, kind: str, path: str, session: int) -> None:
        table = self.data if kind == "data" else self.child
        sessions = table.setdefault(path, [])
        if session not in sessions:
            sessions.append(session)

    def trigger(self, event: str, path: str) -> list[int]:
        """Fire ``event`` on ``path``: the sessions to notify, each once, in registration order."""
        fired: list[int] = []
        for kind in FIRES[event]:
            table = self.data if kind == "data" else self.child
            for session in table.pop(path, []):
                if session not in fired:
                    fired.append(session)
        return fired

    def forget(self, session: int) -> None:
        """Drop every registration of a session (its connection closed)."""
        for table in (self.data, self.child):
            for path in list(table):
                if session in table[path]:
                    table[path].remove(session)
                    if not table[path]:
                        del table[path]

    def count(self, path: str) -> int:
        return len(self.data.get(path, [])) + len(self.child.get(path, []))
