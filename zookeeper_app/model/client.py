"""The client side of the protocol (``ClientCnxn``), as a simulated machine.

A client tries the servers of its connect string in order, each for
``timeout / len(hosts)``; a server whose process is down refuses at once, and
one that is not serving closes the connection, so the client moves on at
once. After a whole round of the list without a connection it waits before
the next round: 100 ms at first, each wait drawn between 0.6 and 1.4 times the
current delay, which then doubles from what was drawn (kazoo's connection
retry).

Connected, it wakes when it has sent nothing for half its read timeout (two
thirds of the negotiated timeout), less 10–400 ms of jitter, and pings; if
the ping is still unanswered when it next wakes, it gives up on the server
(kazoo's connection loop). It gives up at once when the server's process is
killed and the connection closes. Then the connection is SUSPENDED, requests
in flight fail with CONNECTIONLOSS, and it tries the next server with the same
session. A server that says the session is unknown (timeout 0) or expired
makes the session LOST.

Watches are re-registered on every new connection (``SetWatches``), as
ZooKeeper's Java client does, so a change missed while disconnected still
fires: an ``exists`` watch on a node that was there is re-sent as a data watch
(it fires DELETED if the node went), one on a missing node as an exist watch
(it fires CREATED if the node appeared). (kazoo itself forgets its watchers
when a connection drops, calling each with a NONE event.)

Subclasses (the story's actors) override the ``on_*`` hooks; the kazoo-shaped
facade reads ``replies`` and ``events``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coordlab.sim import Message, Node, Simulation, durable, serializable

from .codes import Code
from .service import PING_XID

if TYPE_CHECKING:
    from .console import ConsoleClient

# which client-side registrations an event consumes (ZKWatchManager.materialize)
CLEARS = {"CREATED": ("data", "exist"), "CHANGED": ("data", "exist"),
          "DELETED": ("data", "exist", "child"), "CHILD": ("child",)}

SET_WATCHES_XID = -8  # as ClientCnxn's SET_WATCHES_XID
RETRY_DELAY_MS = 100  # kazoo's KazooRetry: delay 0.1 s, backoff 2, max_jitter 0.4, max_delay 60 s
RETRY_MAX_DELAY_MS = 60_000
RETRY_JITTER = 0.4

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
    tries: int = 0  # connection attempts since the last connection
    attempt: int = 0  # every connection attempt's number
    retry_delay: float = RETRY_DELAY_MS
    retry_at: int = -1  # while waiting between two rounds of the list
    wake_at: int = -1  # when the connection loop next wakes with nothing read (to ping, or give up)
    ping_outstanding: bool = False
    last_zxid: int = 0
    last_sent: int = 0
    next_xid: int = 1
    pending: dict[int, Pending] = field(default_factory=dict)
    replies: dict[int, tuple[int, int, Any]] = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    watched: dict[str, list[str]] = field(default_factory=dict)  # kind → paths, re-sent on reconnect
    closing_xid: int = 0
    console_xids: dict[int, str] = field(default_factory=dict)  # requests the lab's console sent as us: xid → op
    console_watches: list[str] = field(default_factory=list)  # paths the console set watches on as us
    unexpected_events: int = 0

    # -- the API (used by the facade and by actors) -------------------------------------

    def connect(self, sim: Simulation) -> None:
        self.started = True
        self.session = 0
        self.state = SUSPENDED
        self.tries, self.retry_at, self.retry_delay = 0, -1, RETRY_DELAY_MS
        self.try_next_server(sim)

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

    def answer(self, sim: Simulation, xid: int, code: Code, result: Any) -> None:
        """A request's outcome: to the lab's console if it sent the request as us, else ``on_reply``."""
        op = self.console_xids.pop(xid, None)
        if op is None:
            self.on_reply(sim, xid, code, result)
        elif (console := self.console(sim)) is not None:
            console.answered(sim, self.name, op, code, result)

    def console(self, sim: Simulation) -> ConsoleClient | None:
        """The lab's console, which may send requests as us (console.py builds on this module)."""
        from .console import console_client

        return console_client(sim)

    # -- hooks for subclasses ---------------------------------------------------------------

    def on_reply(self, sim: Simulation, xid: int, code: Code, result: Any) -> None:
        self.replies[xid] = (int(code), self.last_zxid, result)

    def on_watch(self, sim: Simulation, event: str, path: str) -> None:
        self.events.append((event, CONNECTED, path))

    def on_state(self, sim: Simulation, state: str) -> None:
        """Called when the connection state changes."""

    # -- connection management ----------------------------------------------------------------

    def set_state(self, sim: Simulation, state: str) -> None:
        if state != self.state:
            self.state = state
            self.on_state(sim, state)

    def try_next_server(self, sim: Simulation) -> None:
        """Connect to the next server of the list, or wait first if a whole round of it failed."""
        if self.tries and not self.tries % len(self.hosts) and self.retry_at < 0:
            waited = self.retry_delay * sim.rng.uniform(1 - RETRY_JITTER, 1 + RETRY_JITTER)
            self.retry_delay = min(waited * 2, RETRY_MAX_DELAY_MS)
            delay = round(waited)
            self.retry_at = sim.now + delay
            sim.set_timer(self.name, "retry", delay, at=self.retry_at)
            return
        self.retry_at = -1
        self.tries += 1
        self.attempt += 1
        self.host_index = (self.host_index + 1) % len(self.hosts)
        self.server = self.hosts[self.host_index]
        password = self.password if self.session else 0
        sim.send(self.name, self.server, "ConnectRequest", session=self.session, password=password,
                 timeout_ms=self.timeout_ms, last_zxid=self.last_zxid)
        sim.set_timer(self.name, "connect_timeout", self.timeout_ms // len(self.hosts), attempt=self.attempt)

    def on_connect_timeout(self, sim: Simulation, attempt: int) -> None:
        """No answer from the server tried for ``timeout / len(hosts)``: try the next one."""
        if self.state == SUSPENDED and self.retry_at < 0 and self.attempt == attempt:
            self.try_next_server(sim)

    def sleep(self, sim: Simulation) -> None:
        """Wake at ``last_sent`` + half the read timeout − jitter, but not sooner than the jitter
        (``_connect_attempt``'s select timeout)."""
        jitter = sim.rng.randint(10, 400)
        self.wake_at = max(self.last_sent + self.negotiated_ms // 3 - jitter, sim.now + jitter)
        sim.set_timer(self.name, "wake", self.wake_at - sim.now, at=self.wake_at)

    def on_wake(self, sim: Simulation, at: int) -> None:
        if at != self.wake_at or self.state != CONNECTED:
            return
        if self.ping_outstanding:
            self.lose_connection(sim, "outstanding heartbeat ping not received")
            return
        read_timeout = self.negotiated_ms * 2 // 3
        if any(p.sent and sim.now - p.sent_at > read_timeout for p in self.pending.values()):
            # TCP never loses one message and delivers the next: a request lost on a cut link
            # while later pings came back means the connection broke
            self.lose_connection(sim, f"no answer from {self.server}")
            return
        self.ping_outstanding = True
        self.last_sent = sim.now
        sim.send(self.name, self.server, "Request", session=self.session, xid=PING_XID, request=None)
        self.sleep(sim)

    def on_retry(self, sim: Simulation, at: int) -> None:
        if self.retry_at == at and self.state == SUSPENDED:
            self.try_next_server(sim)

    def connected_to(self, peer: str) -> bool:
        return peer == self.server and self.state not in (LOST, CLOSED)

    def handle_connection_closed(self, sim: Simulation, message: Message) -> None:
        """The server's process was killed: its connection closed, so the client knows at once."""
        self.server_gone(sim, message.src, "the connection closed", connecting=True)

    def undelivered(self, sim: Simulation, message: Message, refused: bool) -> None:
        """A refused connection (the server's process is down) fails at once; anything else lost
        on the way is noticed by the timeouts."""
        if refused:
            self.server_gone(sim, message.dst, "connection refused", connecting=message.kind == "ConnectRequest")

    def server_gone(self, sim: Simulation, server: str, reason: str, connecting: bool) -> None:
        """``server``'s process is gone: leave it now, connected or (``connecting``) trying it."""
        if server != self.server or self.state in (LOST, CLOSED) or self.retry_at >= 0:
            return
        if self.state == CONNECTED:
            self.lose_connection(sim, reason)
        elif connecting:
            self.try_next_server(sim)

    def lose_connection(self, sim: Simulation, reason: str) -> None:
        self.wake_at, self.ping_outstanding = -1, False
        sim.trace(self.name, "disconnected", f"{self.name} lost its connection to {self.server} ({reason}); "
                  "it tries the next server with the same session.", server=self.server)
        self.fail_pending(sim, Code.CONNECTIONLOSS)
        self.set_state(sim, SUSPENDED)
        self.try_next_server(sim)

    def fail_pending(self, sim: Simulation, code: Code) -> None:
        for xid, pending in list(self.pending.items()):
            if pending.sent:
                del self.pending[xid]
                self.answer(sim, xid, code, None)

    def flush(self, sim: Simulation) -> None:
        if self.state != CONNECTED:
            return
        sent = False
        for xid, pending in self.pending.items():
            if not pending.sent:
                pending.sent = sent = True
                pending.sent_at = self.last_sent = sim.now
                sim.send(self.name, self.server, "Request", session=self.session, xid=xid, request=pending.request)
        if sent:
            self.sleep(sim)  # (requests act as pings: the next wake moves)

    # -- messages from servers -------------------------------------------------------------------

    def handle_connect_response(self, sim: Simulation, message: Message) -> None:
        if message.src != self.server or self.state in (LOST, CLOSED):
            return
        body = message.body
        if body["timeout_ms"] <= 0:
            self.expire(sim)
            return
        first = self.session == 0
        self.tries, self.retry_delay = 0, RETRY_DELAY_MS
        self.session, self.password, self.negotiated_ms = body["session"], body["password"], body["timeout_ms"]
        self.last_sent = sim.now
        sim.trace(self.name, "connected",
                  f"{self.name} {'opened session' if first else 'resumed session'} {hex(self.session)} "
                  f"on {self.server} (timeout {self.negotiated_ms / 1000:g} s).",
                  server=self.server, session=hex(self.session))
        if any(self.watched.values()):
            sim.send(self.name, self.server, "Request", session=self.session, xid=SET_WATCHES_XID,
                     request={"op": "setWatches", "path": "/", "zxid": self.last_zxid,
                              "watches": {kind: list(paths) for kind, paths in self.watched.items()}})
        self.ping_outstanding = False
        self.set_state(sim, CONNECTED)
        self.sleep(sim)
        self.flush(sim)

    def handle_reply(self, sim: Simulation, message: Message) -> None:
        if message.src != self.server:
            return
        body = message.body
        if body["xid"] == PING_XID:
            self.ping_outstanding = False
        self.last_zxid = max(self.last_zxid, body["zxid"])
        pending = self.pending.pop(body["xid"], None)
        if pending is not None:
            code = Code(body["code"])
            self.forget_watch_if_failed(pending.request, code)
            self.file_exists_watch(pending.request, code, body["result"])
            self.answer(sim, body["xid"], code, body["result"])
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
        if path in self.console_watches:
            self.console_watches.remove(path)
            if (console := self.console(sim)) is not None:
                console.watch_fired(sim, self.name, event, path)
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
            self.answer(sim, xid, Code.SESSIONEXPIRED, None)
        self.watched = {}
        self.set_state(sim, LOST)


def watch_kind(op: str) -> str:
    return {"getChildren": "child", "exists": "exist"}.get(op, "data")
