"""Serving clients: connections, sessions, requests, reads, watches.

Reads are answered from this server's own tree, so they may be stale; writes
go to the leader (forwarded by a follower) and are answered by the server the
client is connected to once it applies the committed transaction. Session
timeouts are negotiated into [2, 20] × tickTime. A client that has seen a
newer zxid than this server is refused, so it never goes back in time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coordlab.sim import Message, Simulation

from . import zxid as Z
from .codes import Code
from .datatree import ErrorTxn, Txn, TxnHeader, TxnResult
from .prep import (
    CheckRequest,
    CloseSessionRequest,
    CreateRequest,
    CreateSessionRequest,
    DeleteRequest,
    MultiRequest,
    Preparer,
    SetDataRequest,
)

if TYPE_CHECKING:
    from .server import ZkServer

WRITES = (CreateRequest, DeleteRequest, SetDataRequest, CheckRequest, MultiRequest, CloseSessionRequest)
PING_XID = -2


def negotiate(requested_ms: int, tick_ms: int) -> int:
    """``ZooKeeperServer.processConnectRequest``: clamp to [2, 20] ticks."""
    return min(max(requested_ms, 2 * tick_ms), 20 * tick_ms)


class ServiceMixin:
    # -- connecting ----------------------------------------------------------------

    def handle_connect_request(self: ZkServer, sim: Simulation, message: Message) -> None:
        client, body = message.src, message.body
        if not self.serving:
            sim.send(self.name, client, "Disconnect", session=body["session"],
                     reason=f"{self.name} is not serving (it is {self.state})")
            return
        if body["last_zxid"] > self.committed_zxid:
            sim.trace(self.name, "refuse",
                      f"{self.name} refuses {client}: the client has seen zxid {Z.hex_zxid(body['last_zxid'])}, "
                      f"this server only {Z.hex_zxid(self.committed_zxid)}.", client=client)
            sim.send(self.name, client, "Disconnect", session=body["session"], reason="server is behind the client")
            return
        timeout = negotiate(body["timeout_ms"], self.tick_ms)
        session = body["session"]
        if session == 0:
            self.next_session += 1
            session = self.next_session
            self.connecting[session] = (client, timeout, session ^ 0x5EED)
            self.submit(sim, CreateSessionRequest(timeout), session, 0)
            return
        if session not in self.tree.sessions or body["password"] != session ^ 0x5EED:
            sim.send(self.name, client, "ConnectResponse", session=session, timeout_ms=0, password=0)
            return
        self.connections[session] = client
        self.touch(sim, session)
        sim.send(self.name, client, "ConnectResponse", session=session, timeout_ms=self.tree.sessions[session],
                 password=body["password"])

    # -- requests ------------------------------------------------------------------

    def handle_request(self: ZkServer, sim: Simulation, message: Message) -> None:
        body = message.body
        session, xid, request = body["session"], body["xid"], body["request"]
        if self.connections.get(session) != message.src:
            sim.send(self.name, message.src, "Disconnect", session=session, reason="not connected here")
            return
        self.touch(sim, session)
        if xid == PING_XID:
            sim.send(self.name, message.src, "Reply", xid=PING_XID, code=0, zxid=self.committed_zxid, result=None)
        elif isinstance(request, WRITES):
            self.waiting[f"{session}:{xid}"] = (message.src, xid, type(request).__name__)
            self.submit(sim, request, session, xid)
        elif request["op"] == "sync":
            self.waiting[f"{session}:{xid}"] = (message.src, xid, "sync")
            if self.state == "LEADING":
                self.queue_sync(sim, self.name, session, xid)
            else:
                sim.send(self.name, self.leader, "SyncRequest", session=session, xid=xid)
        else:
            self.read(sim, message.src, session, xid, request)

    def read(self: ZkServer, sim: Simulation, client: str, session: int, xid: int, request: dict[str, Any]) -> None:
        op, path, watch = request["op"], request["path"] or "/", request.get("watch", False)
        code, result = Code.OK, None
        if op == "setWatches":
            self.set_watches(sim, client, session, request["zxid"], request["watches"])
        elif op == "exists" and "\0" in path:
            code = Code.BADARGUMENTS  # reads look paths up without validating them, but for this
        elif op == "exists":
            result = self.tree.stat_of(path)
            if watch:
                self.watches.add("data", path, session)
        elif path not in self.tree.nodes:
            code = Code.NONODE
        elif op == "getData":
            result = (self.tree.nodes[path].data, self.tree.stat_of(path))
            if watch:
                self.watches.add("data", path, session)
        elif op == "getChildren":
            result = (self.tree.children_of(path), self.tree.stat_of(path))
            if watch:
                self.watches.add("child", path, session)
        sim.send(self.name, client, "Reply", xid=xid, code=int(code), zxid=self.committed_zxid, result=result)

    def set_watches(self: ZkServer, sim: Simulation, client: str, session: int, seen: int,
                    watches: dict[str, list[str]]) -> None:
        """Re-register a reconnecting client's watches, firing at once those whose
        change it missed (``DataTree.setWatches``)."""
        fired: list[tuple[str, str]] = []
        for path in watches.get("data", []):
            stat = self.tree.stat_of(path)
            if stat is None:
                fired.append(("DELETED", path))
            elif stat.mzxid > seen:
                fired.append(("CHANGED", path))
            else:
                self.watches.add("data", path, session)
        for path in watches.get("exist", []):
            if path in self.tree.nodes:
                fired.append(("CREATED", path))
            else:
                self.watches.add("data", path, session)
        for path in watches.get("child", []):
            stat = self.tree.stat_of(path)
            if stat is None:
                fired.append(("DELETED", path))
            elif stat.pzxid > seen:
                fired.append(("CHILD", path))
            else:
                self.watches.add("child", path, session)
        for event, path in fired:
            sim.send(self.name, client, "WatchEvent", session=session, type=event, path=path)

    def submit(self: ZkServer, sim: Simulation, request: Any, session: int, xid: int) -> None:
        if self.state == "LEADING":
            self.prepare_and_propose(sim, request, session, xid)
        else:
            sim.send(self.name, self.leader, "ForwardedRequest", session=session, xid=xid, request=request)

    def handle_forwarded_request(self: ZkServer, sim: Simulation, message: Message) -> None:
        if self.state == "LEADING" and self.established:
            body = message.body
            self.prepare_and_propose(sim, body["request"], body["session"], body["xid"])

    def prepare_and_propose(self: ZkServer, sim: Simulation, request: Any, session: int, xid: int) -> None:
        if not self.established:
            return
        self.counter += 1
        zxid = Z.make(self.epoch, self.counter)
        if self.session_invalid(request, session, xid):
            # PrepRequestProcessor checks the session first (SessionTracker.checkSession)
            txn = Txn(TxnHeader(session, xid, zxid, sim.now, "error"), ErrorTxn(int(Code.SESSIONEXPIRED)))
        else:
            txn = Preparer(self.tree, self.outstanding).prepare(request, session, xid, zxid, sim.now)
        if isinstance(request, CloseSessionRequest):
            self.sessions.closing[session] = True
        self.propose(sim, txn)

    def session_invalid(self: ZkServer, request: Any, session: int, xid: int) -> bool:
        if isinstance(request, CreateSessionRequest):
            return False
        if isinstance(request, CloseSessionRequest) and xid == -1:
            return False  # the leader expiring it
        return session not in self.tree.sessions or session in self.sessions.closing

    # -- after a commit ---------------------------------------------------------------

    def after_apply(self: ZkServer, sim: Simulation, txn: Txn, result: TxnResult) -> None:
        header = txn.header
        if header.type == "createSession":
            self.session_created(sim, header.session)
        elif header.type == "closeSession":
            self.session_closed(sim, header.session, f"{header.session}:{header.cxid}")
        for event, path in result.events:
            for session in self.watches.trigger(event, path):
                client = self.connections.get(session)
                if client is not None:
                    sim.send(self.name, client, "WatchEvent", session=session, type=event, path=path)
        waiting = self.waiting.pop(f"{header.session}:{header.cxid}", None)
        if waiting is not None:
            client, xid, _ = waiting
            sim.send(self.name, client, "Reply", xid=xid, code=int(result.code), zxid=header.zxid,
                     result=result_payload(result))

    def session_created(self: ZkServer, sim: Simulation, session: int) -> None:
        if self.state == "LEADING":
            self.sessions.add(session, self.tree.sessions[session], sim.now, self.tick_ms)
        connecting = self.connecting.pop(session, None)
        if connecting is not None:
            client, timeout, password = connecting
            self.connections[session] = client
            sim.send(self.name, client, "ConnectResponse", session=session, timeout_ms=timeout, password=password)

    def session_closed(self: ZkServer, sim: Simulation, session: int, key: str) -> None:
        if self.state == "LEADING":
            self.sessions.remove(session)
        client = self.connections.pop(session, None)
        self.watches.forget(session)
        if client is not None and key not in self.waiting:
            sim.send(self.name, client, "Disconnect", session=session, reason="session expired", expired=True)

    # -- sessions ------------------------------------------------------------------------

    def touch(self: ZkServer, sim: Simulation, session: int) -> None:
        if self.state == "LEADING":
            self.sessions.touch(session, sim.now, self.tick_ms, self.tree.sessions)
        else:
            self.touched[session] = True

    def expire_sessions(self: ZkServer, sim: Simulation) -> None:
        for session in self.sessions.expired(sim.now):
            sim.trace(self.name, "expire", f"{self.name} expires session {hex(session)}: no heartbeat within its "
                      f"timeout. Its ephemeral nodes will be deleted.", session=hex(session))
            self.prepare_and_propose(sim, CloseSessionRequest(), session, -1)

    # -- sync ------------------------------------------------------------------------------

    def handle_sync_request(self: ZkServer, sim: Simulation, message: Message) -> None:
        if self.state == "LEADING":
            self.queue_sync(sim, message.src, message.body["session"], message.body["xid"])

    def queue_sync(self: ZkServer, sim: Simulation, origin: str, session: int, xid: int) -> None:
        target = max(self.proposals, default=self.committed_zxid)
        self.syncs.append((origin, session, xid, target))
        self.release_syncs(sim)

    def release_syncs(self: ZkServer, sim: Simulation) -> None:
        still = []
        for origin, session, xid, target in self.syncs:
            if target <= self.committed_zxid:
                if origin == self.name:
                    self.sync_done(sim, session, xid)
                else:
                    sim.send(self.name, origin, "SyncDone", session=session, xid=xid)
            else:
                still.append((origin, session, xid, target))
        self.syncs = still

    def handle_sync_done(self: ZkServer, sim: Simulation, message: Message) -> None:
        if message.src == self.leader:
            self.sync_done(sim, message.body["session"], message.body["xid"])

    def sync_done(self: ZkServer, sim: Simulation, session: int, xid: int) -> None:
        waiting = self.waiting.pop(f"{session}:{xid}", None)
        if waiting is not None:
            sim.send(self.name, waiting[0], "Reply", xid=xid, code=0, zxid=self.committed_zxid, result=None)


def result_payload(result: TxnResult) -> Any:
    if result.multi:
        return [(int(r.code), r.path, r.stat) for r in result.multi]
    return (result.path, result.stat)
