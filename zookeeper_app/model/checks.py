"""Invariant checkers: each returns named violations, one sentence each.

They read the servers' state and the trace, never change anything, and are
what the property tests assert and the lab's safety badge shows. With the
unsafe half-quorum switch on, the first two are expected to fail.
"""

from __future__ import annotations

from collections.abc import Iterable

from coordlab.sim import Simulation, TraceEvent

from .client import ZkClient
from .server import ZkServer
from .zxid import hex_zxid

MASTER_PATH = "/clusterx/master_ip"


def servers_of(sim: Simulation) -> list[ZkServer]:
    return [n for n in sim.nodes.values() if isinstance(n, ZkServer)]


def one_leader_per_epoch(events: Iterable[TraceEvent]) -> list[str]:
    leaders: dict[int, list[str]] = {}
    for event in events:
        if event.kind == "established":
            named = leaders.setdefault(event.fields["epoch"], [])
            if event.node not in named:
                named.append(event.node)
    return [f"two leaders in epoch {epoch}: {' and '.join(names)}" for epoch, names in leaders.items()
            if len(names) > 1]


def committed_history(server: ZkServer) -> list[tuple[int, str, str]]:
    return [(t.header.zxid, t.header.type, getattr(t.record, "path", "")) for t in server.log
            if t.header.zxid <= server.committed_zxid]


def histories_agree(sim: Simulation, window: int | None = None) -> list[str]:
    """Every serving server's committed history is a prefix of every other's.

    With ``window``, only the last ``window`` transactions of the shorter history
    of each pair are compared (what a live picture can afford every frame)."""
    serving = [s for s in servers_of(sim) if s.alive and s.serving]
    histories = {s.name: committed_history(s) for s in serving}
    violations = []
    for index, first in enumerate(serving):
        for second in serving[index + 1:]:
            a, b = histories[first.name], histories[second.name]
            shorter, longer = (a, b) if len(a) <= len(b) else (b, a)
            start = 0 if window is None else max(0, len(shorter) - window)
            if longer[start: len(shorter)] != shorter[start:]:
                at = next(i for i in range(start, len(shorter)) if shorter[i] != longer[i])
                violations.append(f"{first.name} and {second.name} committed different transactions at "
                                  f"{hex_zxid(shorter[at][0])}")
    return violations


def acknowledged_writes_kept(sim: Simulation, acknowledged: dict[int, str]) -> list[str]:
    """Every write a client saw succeed (zxid → path) is in each serving server's history."""
    violations = []
    for server in servers_of(sim):
        if not (server.alive and server.serving):
            continue
        kept = {zxid for zxid, _, _ in committed_history(server)}
        for zxid, path in acknowledged.items():
            if zxid <= server.committed_zxid and zxid not in kept:
                violations.append(f"lost write: {path} at {hex_zxid(zxid)} was acknowledged, "
                                  f"but {server.name} does not have it")
    return violations


def one_master(sim: Simulation, path: str = MASTER_PATH, histories_ok: bool | None = None) -> list[str]:
    """At most one session owns the master znode, across servers whose histories diverged
    (``histories_ok``, if the caller already knows; a lagging follower is not a second master)."""
    owners = {}
    for server in servers_of(sim):
        stat = server.tree.stat_of(path) if server.alive and server.serving else None
        if stat is not None:
            owners[server.name] = stat.ephemeralOwner
    if histories_ok is None:
        histories_ok = not histories_agree(sim)
    if len(set(owners.values())) > 1 and not histories_ok:
        sides: dict[int, list[str]] = {}
        for name, owner in owners.items():
            sides.setdefault(owner, []).append(name)
        described = [f"{owner_name(sim, owner)} (on {', '.join(names)})" for owner, names in sides.items()]
        return [f"split brain: {len(sides)} masters at once, {' and '.join(described)}: "
                f"servers disagree on who owns {path}"]
    return []


def owner_name(sim: Simulation, session: int) -> str:
    """The client holding ``session`` now, else the session's id."""
    holders = [n.name for n in sim.nodes.values() if isinstance(n, ZkClient) and n.session == session]
    return holders[0] if holders else f"session {hex(session)}"


def ephemerals_die_with_sessions(sim: Simulation) -> list[str]:
    violations = []
    for server in servers_of(sim):
        if not (server.alive and server.serving):
            continue
        for owner, paths in server.tree.ephemerals.items():
            if owner not in server.tree.sessions:
                violations.append(f"session {hex(owner)} is closed but {paths[0]} remains on {server.name}")
    return violations


def watches_fire_once(sim: Simulation) -> list[str]:
    return [f"{node.name} got a watch event it had not asked for (or a second one)"
            for node in sim.nodes.values() if isinstance(node, ZkClient) and node.unexpected_events]


def all_violations(sim: Simulation, events: Iterable[TraceEvent], acknowledged: dict[int, str]) -> list[str]:
    diverged = histories_agree(sim)
    return (one_leader_per_epoch(events) + diverged + acknowledged_writes_kept(sim, acknowledged)
            + one_master(sim, histories_ok=not diverged) + ephemerals_die_with_sessions(sim)
            + watches_fire_once(sim))


#: the live safety badge compares this many recent committed transactions per pair of servers
LIVE_WINDOW = 256


def violations(sim: Simulation) -> list[str]:
    """What the lab's safety badge shows: each promise ZooKeeper makes that is broken right now
    (histories compared over their latest ``LIVE_WINDOW`` transactions, which a picture redrawn
    many times a second can afford)."""
    diverged = histories_agree(sim, window=LIVE_WINDOW)
    # two masters first: the consequence a lab is about, before the pairs of servers behind it
    return (one_master(sim, histories_ok=not diverged) + one_leader_per_epoch(sim.trace_log.events) + diverged
            + ephemerals_die_with_sessions(sim))
