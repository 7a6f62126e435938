"""The client side of the protocol (``ClientCnxn``), as a simulated machine.

A client tries the servers of its connect string in order, each for
``timeout / len(hosts)``. Connected, it pings when it has sent nothing for a
third of the negotiated timeout, and gives up on a server it has not heard
from for two thirds of it: the connection is SUSPENDED, requests in flight
fail with CONNECTIONLOSS, and it tries the next server with the same session.
A server that says the session is unknown (timeout 0) or expired makes the
session LOST. Watches are re-registered on every new connection
(``SetWatches``), so a change missed while disconnected still fires: an
``exists`` watch on a node that was there is re-sent as a data watch (it
fires DELETED if the node went), one on a missing node as an exist watch (it
fires CREATED if the node appeared), as ZooKeeper's client files them.

Subclasses (the story's actors) override the ``on_*`` hooks; the kazoo-shaped
facade reads ``replies`` and ``events``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordlab.sim import Message, Node, Simulation, durable, serializable

from .codes import Code
from .service import PING_XID

# which client-side registrations an event consumes (ZKWatchManager.materialize)
CLEARS = {"CREATED": ("data", "exist"), "CHANGED": ("data", "exist"),
          "DELETED": ("data", "exist", "child"), "CHILD": ("child",)}

SET_WATCHES_XID = -8  # as ClientCnxn's SET_WATCHES_XID

CONNECTED = "CONNECTED"
SUSPENDED = "SUSPENDED"
LOST = "LOST"
CLOSED = "CLOSED"


@serializable
@dataclass
class Pending:
    request: Any
    sent: bool
    sent_at: int = 0


@serializable
@dataclass
class ZkClient(Node):
    hosts: list[str] = durable(default_factory=list)
    timeout_ms: int = durable(10_000)
    state: str = LOST  # kazoo's KazooState, plus CLOSED once stopped
    started: bool = False
    session: int = 0
    password: int = 0
    negotiated_ms: int = 0
    server: str = ""
    host_index: int = -1
    connecting_since: int = 0
    last_zxid: int = 0
    last_heard: int = 0
    last_sent: int = 0
    next_xid: int = 1
    pending: dict[int, Pending] = field(default_factory=dict)
    replies: dict[int, tuple[int, int, Any]] = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    watched: dict[str, list[str]] = field(default_factory=dict)  # kind → paths, re-sent on reconnect
    closing_xid: int = 0
    unexpected_events: int = 0

    # -- the API (used by the facade and by actors) -------------------------------------

    def connect(self, sim: Simulation) -> None:
        self.started = True
        self.session = 0
        self.state = SUSPENDED
        self.try_next_server(sim)
        self.timer(sim)

    def submit(self, sim: Simulation, request: Any) -> int:
        """Queue a request (a write dataclass or a read dict); returns its xid."""
        xid = self.next_xid
        self.next_xid += 1
        self.pending[xid] = Pending(request, False)
        if isinstance(request, dict) and request.get("watch"):
            kind = watch_kind(request["op"])
            self.watched.setdefault(kind, [])
            if request["path"] not in self.watched[kind]:
                self.watched[kind].append(request["path"])
        self.flush(sim)
        return xid

    def close(self, sim: Simulation) -> int:
        """Close the session (``zk.stop()``)."""
        from .prep import CloseSessionRequest

        self.closing_xid = self.submit(sim, CloseSessionRequest())
        return self.closing_xid

    # -- hooks for subclasses ---------------------------------------------------------------

    def on_reply(self, sim: Simulation, xid: int, code: Code, result: Any) -> None:
        self.replies[xid] = (int(code), self.last_zxid, result)

    def on_watch(self, sim: Simulation, event: str, path: str) -> None:
        self.events.append((event, CONNECTED, path))

    def on_state(self, sim: Simulation, state: str) -> None:
        """Called when the connection state changes."""

    # -- connection management ----------------------------------------------------------------

    def timer(self, sim: Simulation) -> None:
        sim.set_timer(self.name, "client_tick", max(50, self.timeout_ms // 30))

    def set_state(self, sim: Simulation, state: str) -> None:
        if state != self.state:
            self.state = state
            self.on_state(sim, state)

    def try_next_server(self, sim: Simulation) -> None:
        self.host_index = (self.host_index + 1) % len(self.hosts)
        self.server = self.hosts[self.host_index]
        self.connecting_since = sim.now
        password = self.password if self.session else 0
        sim.send(self.name, self.server, "ConnectRequest", session=self.session, password=password,
                 timeout_ms=self.timeout_ms, last_zxid=self.last_zxid)

    def on_client_tick(self, sim: Simulation) -> None:
        if self.state in (LOST, CLOSED):
            return
        if self.state == CONNECTED:
            read_timeout = self.negotiated_ms * 2 // 3
            overdue = any(p.sent and sim.now - p.sent_at > read_timeout for p in self.pending.values())
            if sim.now - self.last_heard > read_timeout or overdue:
                # TCP never loses one message and delivers the next: a request
                # that went unanswered means the connection is broken.
                self.lose_connection(sim, f"no answer from {self.server}")
            elif sim.now - self.last_sent >= self.negotiated_ms // 3:
                self.last_sent = sim.now
                sim.send(self.name, self.server, "Request", session=self.session, xid=PING_XID, request=None)
        elif sim.now - self.connecting_since > self.timeout_ms // len(self.hosts):
            self.try_next_server(sim)
        self.timer(sim)

    def lose_connection(self, sim: Simulation, reason: str) -> None:
        sim.trace(self.name, "disconnected", f"{self.name} lost its connection to {self.server} ({reason}); "
                  "it tries the next server with the same session.", server=self.server)
        self.fail_pending(sim, Code.CONNECTIONLOSS)
        self.set_state(sim, SUSPENDED)
        self.try_next_server(sim)

    def fail_pending(self, sim: Simulation, code: Code) -> None:
        for xid, pending in list(self.pending.items()):
            if pending.sent:
                del self.pending[xid]
                self.on_reply(sim, xid, code, None)

    def flush(self, sim: Simulation) -> None:
        if self.state != CONNECTED:
            return
        for xid, pending in self.pending.items():
            if not pending.sent:
                pending.sent = True
                pending.sent_at = self.last_sent = sim.now
                sim.send(self.name, self.server, "Request", session=self.session, xid=xid, request=pending.request)

    # -- messages from servers -------------------------------------------------------------------

    def handle_connect_response(self, sim: Simulation, message: Message) -> None:
        if message.src != self.server or self.state in (LOST, CLOSED):
            return
        body = message.body
        if body["timeout_ms"] <= 0:
            self.expire(sim)
            return
        first = self.session == 0
        self.session, self.password, self.negotiated_ms = body["session"], body["password"], body["timeout_ms"]
        self.last_heard = self.last_sent = sim.now
        sim.trace(self.name, "connected",
                  f"{self.name} {'opened session' if first else 'resumed session'} {hex(self.session)} "
                  f"on {self.server} (timeout {self.negotiated_ms / 1000:g} s).",
                  server=self.server, session=hex(self.session))
        if any(self.watched.values()):
            sim.send(self.name, self.server, "Request", session=self.session, xid=SET_WATCHES_XID,
                     request={"op": "setWatches", "path": "/", "zxid": self.last_zxid,
                              "watches": {kind: list(paths) for kind, paths in self.watched.items()}})
        self.set_state(sim, CONNECTED)
        self.flush(sim)

    def handle_reply(self, sim: Simulation, message: Message) -> None:
        if message.src != self.server:
            return
        body = message.body
        self.last_heard = sim.now
        self.last_zxid = max(self.last_zxid, body["zxid"])
        pending = self.pending.pop(body["xid"], None)
        if pending is not None:
            code = Code(body["code"])
            self.forget_watch_if_failed(pending.request, code)
            self.file_exists_watch(pending.request, code, body["result"])
            self.on_reply(sim, body["xid"], code, body["result"])
            if body["xid"] == self.closing_xid:
                self.set_state(sim, CLOSED)

    def forget_watch_if_failed(self, request: Any, code: Code) -> None:
        if not isinstance(request, dict) or not request.get("watch"):
            return
        if code != Code.OK and not (code == Code.NONODE and request["op"] == "exists"):
            kind = watch_kind(request["op"])
            if request["path"] in self.watched.get(kind, []):
                self.watched[kind].remove(request["path"])

    def file_exists_watch(self, request: Any, code: Code, result: Any) -> None:
        """An ``exists`` watch on a node that is there watches its data: it is re-sent on
        reconnect as a data watch, which fires DELETED if the node went meanwhile. Only one
        on a missing node stays an exist watch, which fires CREATED if the node appeared
        (``ExistsWatchRegistration.getWatches``: ``rc == 0 ? dataWatches : existWatches``)."""
        if not (isinstance(request, dict) and request.get("watch") and request["op"] == "exists"):
            return
        if code != Code.OK or result is None:
            return
        path = request["path"]
        if path in self.watched.get("exist", []):
            self.watched["exist"].remove(path)
            self.watched.setdefault("data", [])
            if path not in self.watched["data"]:
                self.watched["data"].append(path)

    def handle_watch_event(self, sim: Simulation, message: Message) -> None:
        if message.src != self.server:
            return
        event, path = message.body["type"], message.body["path"]
        registered = [kind for kind in CLEARS[event] if path in self.watched.get(kind, [])]
        if not registered:
            self.unexpected_events += 1
        for kind in registered:
            self.watched[kind].remove(path)
        self.on_watch(sim, event, path)

    def handle_disconnect(self, sim: Simulation, message: Message) -> None:
        if message.src != self.server or self.state in (LOST, CLOSED):
            return
        if message.body.get("expired"):
            self.expire(sim)
        elif self.state == CONNECTED:
            self.lose_connection(sim, message.body["reason"])
        else:
            self.try_next_server(sim)

    def expire(self, sim: Simulation) -> None:
        sim.trace(self.name, "expired", f"{self.name}'s session {hex(self.session)} has expired: its ephemeral "
                  "nodes are gone and its watches are lost.", session=hex(self.session))
        self.fail_pending(sim, Code.SESSIONEXPIRED)
        for xid in list(self.pending):
            del self.pending[xid]
            self.on_reply(sim, xid, Code.SESSIONEXPIRED, None)
        self.watched = {}
        self.set_state(sim, LOST)


def watch_kind(op: str) -> str:
    return {"getChildren": "child", "exists": "exist"}.get(op, "data")
