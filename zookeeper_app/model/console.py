"""The lab's "you" client: ZooKeeper commands typed by a learner, with results
and watch events written as lines everyone watching the lab can read.

A command can also be sent as any other client of the lab (a storage machine,
an app server): it goes out on that client's connection, in its session, so
an ephemeral node it creates is that session's and a watch it sets is that
client's, and its answer comes back to the console."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordlab.sim import Simulation, serializable

from .client import ZkClient
from .codes import Code
from .errors import EXCEPTIONS
from .prep import CreateRequest, DeleteRequest, SetDataRequest

OPS = ("create", "get", "set", "delete", "exists", "children", "sync")
#: the name of the console's client, in the labs that have one
CONSOLE_CLIENT = "you"
MAX_LINES = 12


@serializable
@dataclass
class ConsoleLine:
    time: int
    text: str
    kind: str  # "command" | "ok" | "error" | "watch"


@serializable
@dataclass
class ConsoleClient(ZkClient):
    lines: list[ConsoleLine] = field(default_factory=list)
    asked: dict[int, str] = field(default_factory=dict)

    def start(self, sim: Simulation) -> None:
        self.connect(sim)

    def run(self, sim: Simulation, op: str, path: str, data: str, ephemeral: bool, sequential: bool,
            watch: bool, version: int, client: str = CONSOLE_CLIENT) -> None:
        """Send one console command, as ``client``; its answer arrives later as a line."""
        flags = " ".join(f for f, on in (("-e", ephemeral), ("-s", sequential), ("-w", watch)) if on)
        shown = f"{op} {flags} {path}".replace("  ", " ") + (f" “{data}”" if op in ("create", "set") else "")
        if version != -1 and op in ("set", "delete"):
            shown += f" (version {version})"
        request = build_request(op, path, data, ephemeral, sequential, watch, version)
        sender = sim.nodes[client]
        assert isinstance(sender, ZkClient) and sender.alive
        xid = sender.submit(sim, request)
        if sender is self:
            self.asked[xid] = op
        else:
            sender.console_xids[xid] = op
            if watch:
                sender.console_watches.append(path)
        where = "" if sender.state == "CONNECTED" else " (queued: not connected)"
        session = f" (session {hex(sender.session)})" if sender is not self and sender.session else ""
        self.say(sim, "command", f"{client}{session}: {shown}{where}")

    def answered(self, sim: Simulation, client: str, op: str, code: Code, result: Any) -> None:
        """The answer to a command sent as another client."""
        self.say_answer(sim, f"{client} {op}", code, result, op)

    def watch_fired(self, sim: Simulation, client: str, event: str, path: str) -> None:
        self.say(sim, "watch", f"{client}'s watch fired: {event} {path}")

    def say(self, sim: Simulation, kind: str, text: str) -> None:
        self.lines.append(ConsoleLine(sim.now, text, kind))
        del self.lines[:-MAX_LINES]

    def on_reply(self, sim: Simulation, xid: int, code: Code, result: Any) -> None:
        op = self.asked.pop(xid, "")
        if op:
            self.say_answer(sim, op, code, result, op)

    def say_answer(self, sim: Simulation, label: str, code: Code, result: Any, op: str) -> None:
        if code != Code.OK:
            name = EXCEPTIONS[code].__name__ if code in EXCEPTIONS else code.name
            self.say(sim, "error", f"{label}: {name} ({code.name})")
            return
        self.say(sim, "ok", f"{label}: {describe(op, result)}")

    def on_watch(self, sim: Simulation, event: str, path: str) -> None:
        self.say(sim, "watch", f"watch fired: {event} {path}")
        sim.trace(self.name, "watch", f"Your watch fired: {event} on {path}.", event=event, path=path)


def console_senders(sim: Simulation) -> list[str]:
    """Who the console can send as: "you" first, then every other ZooKeeper client of the lab."""
    return [CONSOLE_CLIENT, *(n.name for n in sim.nodes.values()
                              if isinstance(n, ZkClient) and n.name != CONSOLE_CLIENT)]


def console_client(sim: Simulation) -> ConsoleClient | None:
    """The lab's console client (None in a lab without a console)."""
    you = sim.nodes.get(CONSOLE_CLIENT)
    return you if isinstance(you, ConsoleClient) else None


def build_request(op: str, path: str, data: str, ephemeral: bool, sequential: bool, watch: bool,
                  version: int) -> Any:
    """The protocol request for one console operation."""
    if op == "create":
        return CreateRequest(path, data.encode(), ephemeral, sequential)
    if op == "set":
        return SetDataRequest(path, data.encode(), version)
    if op == "delete":
        return DeleteRequest(path, version)
    reads = {"get": "getData", "exists": "exists", "children": "getChildren"}
    if op in reads:
        return {"op": reads[op], "path": path, "watch": watch}
    return {"op": "sync", "path": path}


def describe(op: str, result: Any) -> str:
    if op == "create":
        return f"created {result[0]}"
    if op == "set":
        return f"ok, version {result[1].version}"
    if op == "delete":
        return "deleted"
    if op == "get":
        data, stat = result
        return f"“{data.decode(errors='replace')}” (version {stat.version}, mzxid {hex(stat.mzxid)})"
    if op == "exists":
        return "no such node" if result is None else f"exists (version {result.version}, " \
            f"{'ephemeral' if result.ephemeralOwner else 'persistent'})"
    if op == "children":
        return ", ".join(result[0]) or "(no children)"
    return "synced"
