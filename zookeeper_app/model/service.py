"""Serving clients: connections, sessions, requests, reads, watches.

Reads are answered from this server's own tree, so they may be stale; writes
go to the leader (forwarded by a follower) and are answered by the server the
client is connected to once it applies the committed transaction. Session
timeouts are negotiated into [2, 20] × tickTime. A client that has seen a
newer zxid than this server is refused, so it never goes back in time.

Each function takes the server first; ``ZkServer`` keeps the state and
delegates its client-facing messages here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from coordlab.sim import Message, Simulation, serializable

from . import leader
from . import zxid as Z
from .codes import Code
from .datatree import ErrorTxn, Stat, Txn, TxnHeader, TxnResult
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


# -- connecting ----------------------------------------------------------------


def on_connect_request(server: ZkServer, sim: Simulation, message: Message) -> None:
    client, body = message.src, message.body
    if not server.serving:
        sim.send(server.name, client, "Disconnect", session=body["session"],
                 reason=f"{server.name} is not serving (it is {server.state})")
        return
    if body["last_zxid"] > server.committed_zxid:
        sim.trace(server.name, "refuse",
                  f"{server.name} refuses {client}: the client has seen zxid {Z.hex_zxid(body['last_zxid'])}, "
                  f"this server only {Z.hex_zxid(server.committed_zxid)}.", client=client)
        sim.send(server.name, client, "Disconnect", session=body["session"], reason="server is behind the client")
        return
    timeout = negotiate(body["timeout_ms"], server.tick_ms)
    session = body["session"]
    if session == 0:
        server.next_session += 1
        session = server.next_session
        server.connecting[session] = (client, timeout, session ^ 0x5EED)
        submit(server, sim, CreateSessionRequest(timeout), session, 0)
        return
    if session not in server.tree.sessions or body["password"] != session ^ 0x5EED:
        sim.send(server.name, client, "ConnectResponse", session=session, timeout_ms=0, password=0)
        return
    if server.state == "FOLLOWING":
        # Learner.validateSession: the leader owns the sessions; the client waits for its answer
        server.connecting[session] = (client, server.tree.sessions[session], body["password"])
        sim.send(server.name, server.leader, "Revalidate", session=session)
        return
    reopen(server, sim, client, session, body["password"], valid=True)


def reopen(server: ZkServer, sim: Simulation, client: str, session: int, password: int, valid: bool) -> None:
    """Answer a client that reconnected with its session (an invalid one is told it expired)."""
    if not valid or session not in server.tree.sessions:
        sim.send(server.name, client, "ConnectResponse", session=session, timeout_ms=0, password=0)
        return
    server.connections[session] = server.connected_from[session] = client
    touch(server, sim, session)
    sim.send(server.name, client, "ConnectResponse", session=session, timeout_ms=server.tree.sessions[session],
             password=password)


def on_revalidate(server: ZkServer, sim: Simulation, message: Message) -> None:
    """The leader answers whether a session that reconnected to a follower is still alive, and
    touches it (``LearnerHandler``'s REVALIDATE)."""
    if server.state != "LEADING" or not server.established:
        return
    session = message.body["session"]
    valid = session in server.tree.sessions and session not in server.sessions.closing
    if valid:
        touch(server, sim, session)
    sim.send(server.name, message.src, "Revalidated", session=session, valid=valid)


def on_revalidated(server: ZkServer, sim: Simulation, message: Message) -> None:
    pending = server.connecting.get(message.body["session"]) if message.src == server.leader else None
    if pending is not None and server.serving:
        del server.connecting[message.body["session"]]
        client, _, password = pending
        reopen(server, sim, client, message.body["session"], password, message.body["valid"])


# -- requests ------------------------------------------------------------------


def on_request(server: ZkServer, sim: Simulation, message: Message) -> None:
    body = message.body
    session, xid, request = body["session"], body["xid"], body["request"]
    if server.connections.get(session) != message.src:
        sim.send(server.name, message.src, "Disconnect", session=session, reason="not connected here")
        return
    touch(server, sim, session)
    if xid == PING_XID or not (isinstance(request, WRITES) or request["op"] == "sync"):
        ahead = [key for key in server.waiting if key.startswith(f"{session}:")]
        if ahead or server.held.get(session):
            # CommitProcessor keeps a session's requests in order: a read or a ping waits for
            # the session's writes before it (a ping behind a write to a frozen leader never comes back)
            server.held.setdefault(session, []).append(Held(message.src, xid, request, ahead))
        else:
            answer(server, sim, message.src, session, xid, request)
    elif isinstance(request, WRITES):
        server.waiting[f"{session}:{xid}"] = (message.src, xid, type(request).__name__)
        submit(server, sim, request, session, xid)
    elif request["op"] == "sync":
        server.waiting[f"{session}:{xid}"] = (message.src, xid, "sync")
        if server.state == "LEADING":
            queue_sync(server, sim, server.name, session, xid)
        else:
            sim.send(server.name, server.leader, "SyncRequest", session=session, xid=xid)
    else:
        read(server, sim, message.src, session, xid, request)


@serializable
@dataclass
class Held:
    """A read or a ping waiting for the writes its session sent before it."""

    client: str
    xid: int
    request: Any
    after: list[str]


def answer(server: ZkServer, sim: Simulation, client: str, session: int, xid: int, request: Any) -> None:
    if xid == PING_XID:
        sim.send(server.name, client, "Reply", xid=PING_XID, code=0, zxid=server.committed_zxid, result=None)
    else:
        read(server, sim, client, session, xid, request)


def replied(server: ZkServer, sim: Simulation, session: int) -> None:
    """A write (or sync) of ``session`` was answered: answer what waited only for what is done."""
    held = server.held.get(session)
    while held and not any(key in server.waiting for key in held[0].after):
        first = held.pop(0)
        answer(server, sim, first.client, session, first.xid, first.request)
    if not held:
        server.held.pop(session, None)


def read(server: ZkServer, sim: Simulation, client: str, session: int, xid: int, request: dict[str, Any]) -> None:
    op, path, watch = request["op"], request["path"] or "/", request.get("watch", False)
    code = Code.OK
    # a Stat for exists, (data, Stat) for getData, (children, Stat) for getChildren
    result: Stat | tuple[bytes, Stat | None] | tuple[list[str], Stat | None] | None = None
    if op == "setWatches":
        set_watches(server, sim, client, session, request["zxid"], request["watches"])
    elif op == "exists" and "\0" in path:
        code = Code.BADARGUMENTS  # reads look paths up without validating them, but for this
    elif op == "exists":
        result = server.tree.stat_of(path)
        if watch:
            server.watches.add("data", path, session)
    elif path not in server.tree.nodes:
        code = Code.NONODE
    elif op == "getData":
        result = (server.tree.nodes[path].data, server.tree.stat_of(path))
        if watch:
            server.watches.add("data", path, session)
    elif op == "getChildren":
        result = (server.tree.children_of(path), server.tree.stat_of(path))
        if watch:
            server.watches.add("child", path, session)
    sim.send(server.name, client, "Reply", xid=xid, code=int(code), zxid=server.committed_zxid, result=result)


def set_watches(server: ZkServer, sim: Simulation, client: str, session: int, seen: int,
                watches: dict[str, list[str]]) -> None:
    """Re-register a reconnecting client's watches, firing at once those whose
    change it missed (``DataTree.setWatches``)."""
    fired: list[tuple[str, str]] = []
    for path in watches.get("data", []):
        stat = server.tree.stat_of(path)
        if stat is None:
            fired.append(("DELETED", path))
        elif stat.mzxid > seen:
            fired.append(("CHANGED", path))
        else:
            server.watches.add("data", path, session)
    for path in watches.get("exist", []):
        if path in server.tree.nodes:
            fired.append(("CREATED", path))
        else:
            server.watches.add("data", path, session)
    for path in watches.get("child", []):
        stat = server.tree.stat_of(path)
        if stat is None:
            fired.append(("DELETED", path))
        elif stat.pzxid > seen:
            fired.append(("CHILD", path))
        else:
            server.watches.add("child", path, session)
    for event, path in fired:
        sim.send(server.name, client, "WatchEvent", session=session, type=event, path=path)


def submit(server: ZkServer, sim: Simulation, request: Any, session: int, xid: int) -> None:
    if server.state == "LEADING":
        prepare_and_propose(server, sim, request, session, xid)
    else:
        sim.send(server.name, server.leader, "ForwardedRequest", session=session, xid=xid, request=request)


def on_forwarded_request(server: ZkServer, sim: Simulation, message: Message) -> None:
    if server.state == "LEADING" and server.established:
        body = message.body
        prepare_and_propose(server, sim, body["request"], body["session"], body["xid"])


def prepare_and_propose(server: ZkServer, sim: Simulation, request: Any, session: int, xid: int) -> None:
    if not server.established:
        return
    server.counter += 1
    zxid = Z.make(server.epoch, server.counter)
    if session_invalid(server, request, session, xid):
        # PrepRequestProcessor checks the session first (SessionTracker.checkSession)
        txn = Txn(TxnHeader(session, xid, zxid, sim.now, "error"), ErrorTxn(int(Code.SESSIONEXPIRED)))
    else:
        txn = Preparer(server.tree, server.outstanding).prepare(request, session, xid, zxid, sim.now)
    if isinstance(request, CloseSessionRequest):
        server.sessions.closing[session] = True
    leader.propose(server, sim, txn)


def session_invalid(server: ZkServer, request: Any, session: int, xid: int) -> bool:
    if isinstance(request, CreateSessionRequest):
        return False
    if isinstance(request, CloseSessionRequest) and xid == -1:
        return False  # the leader expiring it
    return session not in server.tree.sessions or session in server.sessions.closing


# -- after a commit ---------------------------------------------------------------


def after_apply(server: ZkServer, sim: Simulation, txn: Txn, result: TxnResult) -> None:
    header = txn.header
    if header.type == "createSession":
        session_created(server, sim, header.session)
    elif header.type == "closeSession":
        session_closed(server, sim, header.session, f"{header.session}:{header.cxid}")
    for event, path in result.events:
        for session in server.watches.trigger(event, path):
            client = server.connections.get(session)
            if client is not None:
                sim.send(server.name, client, "WatchEvent", session=session, type=event, path=path)
    waiting = server.waiting.pop(f"{header.session}:{header.cxid}", None)
    if waiting is not None:
        client, xid, _ = waiting
        sim.send(server.name, client, "Reply", xid=xid, code=int(result.code), zxid=header.zxid,
                 result=result_payload(result))
        replied(server, sim, header.session)


def session_created(server: ZkServer, sim: Simulation, session: int) -> None:
    if server.state == "LEADING":
        server.sessions.add(session, server.tree.sessions[session], sim.now, server.tick_ms)
    connecting = server.connecting.pop(session, None)
    if connecting is not None:
        client, timeout, password = connecting
        server.connections[session] = server.connected_from[session] = client
        sim.send(server.name, client, "ConnectResponse", session=session, timeout_ms=timeout, password=password)


def session_closed(server: ZkServer, sim: Simulation, session: int, key: str) -> None:
    if server.state == "LEADING":
        server.sessions.remove(session)
    client = server.connections.pop(session, None)
    server.connected_from.pop(session, None)
    server.held.pop(session, None)
    server.watches.forget(session)
    if client is not None and key not in server.waiting:
        sim.send(server.name, client, "Disconnect", session=session, reason="session expired", expired=True)


# -- sessions ------------------------------------------------------------------------


def touch(server: ZkServer, sim: Simulation, session: int) -> None:
    if server.state == "LEADING":
        server.sessions.touch(session, sim.now, server.tick_ms, server.tree.sessions)
    else:
        server.touched[session] = True


def expire_sessions(server: ZkServer, sim: Simulation) -> None:
    for session in server.sessions.expired(sim.now):
        sim.trace(server.name, "expire", f"{server.name} expires session {hex(session)}: no heartbeat within its "
                  f"timeout. Its ephemeral nodes will be deleted.", session=hex(session))
        prepare_and_propose(server, sim, CloseSessionRequest(), session, -1)


# -- sync ------------------------------------------------------------------------------


def on_sync_request(server: ZkServer, sim: Simulation, message: Message) -> None:
    if server.state == "LEADING":
        queue_sync(server, sim, message.src, message.body["session"], message.body["xid"])


def queue_sync(server: ZkServer, sim: Simulation, origin: str, session: int, xid: int) -> None:
    target = max(server.proposals, default=server.committed_zxid)
    server.syncs.append((origin, session, xid, target))
    release_syncs(server, sim)


def release_syncs(server: ZkServer, sim: Simulation) -> None:
    still = []
    for origin, session, xid, target in server.syncs:
        if target <= server.committed_zxid:
            if origin == server.name:
                sync_done(server, sim, session, xid)
            else:
                sim.send(server.name, origin, "SyncDone", session=session, xid=xid)
        else:
            still.append((origin, session, xid, target))
    server.syncs = still


def on_sync_done(server: ZkServer, sim: Simulation, message: Message) -> None:
    if message.src == server.leader:
        sync_done(server, sim, message.body["session"], message.body["xid"])


def sync_done(server: ZkServer, sim: Simulation, session: int, xid: int) -> None:
    waiting = server.waiting.pop(f"{session}:{xid}", None)
    if waiting is not None:
        sim.send(server.name, waiting[0], "Reply", xid=xid, code=0, zxid=server.committed_zxid, result=None)
        replied(server, sim, session)


def result_payload(result: TxnResult) -> Any:
    if result.multi:
        return [(int(r.code), r.path, r.stat) for r in result.multi]
    return (result.path, result.stat)
