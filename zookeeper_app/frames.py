"""What the ZooKeeper lab page shows, computed from the simulation (read-only)."""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

from coordlab.labs.lab import Lab
from coordlab.picture import down, flight_view, link_view, timeline
from coordlab.sim import Message, Simulation
from zookeeper_app.model import ZkServer, hex_zxid
from zookeeper_app.model.checks import violations
from zookeeper_app.model.client import ZkClient
from zookeeper_app.model.console import OPS, ConsoleClient, console_client, console_senders
from zookeeper_app.model.story import AppServer, NaiveAppServer, PlainStorage, StorageMachine, Tracker

WIDTH, HEIGHT = 920, 500
RING_X, RING_Y, RING_R = 230, 240, 170
FRESH_MS = 1500  # a znode changed this recently flashes
TIMELINE_LENGTH = 24

#: message kind → (legend category, label)
CATEGORIES = {
    "Notification": "vote", "Proposal": "proposal", "Ack": "ack", "AckEpoch": "ack", "Commit": "commit",
    "Ping": "ping", "PingReply": "ping", "FollowerInfo": "sync", "LeaderInfo": "sync", "Diff": "sync",
    "Trunc": "sync", "Snap": "sync", "NewLeader": "sync", "UpToDate": "sync", "Request": "request",
    "ForwardedRequest": "request", "ConnectRequest": "request", "SyncRequest": "request", "Write": "request",
    "WhoIsMaster": "request", "Reply": "reply", "ConnectResponse": "reply", "SyncDone": "reply",
    "WriteAck": "reply", "WriteNack": "reply", "MasterIs": "reply", "Disconnect": "reply",
    "WatchEvent": "watch",
}
#: category → (marker, legend label): a shape as well as a colour, so colour is not the only clue
MARKERS = {"vote": ("◆", "election vote"), "proposal": ("■", "proposal"), "ack": ("▲", "ack"),
           "commit": ("★", "commit"), "ping": ("●", "ping / heartbeat"), "request": ("▶", "request"),
           "reply": ("◀", "reply"), "watch": ("✱", "watch event"), "sync": ("⬟", "sync after election")}
LEGEND = tuple((category, marker, label) for category, (marker, label) in MARKERS.items())
COLUMNS = ((StorageMachine, 520), (PlainStorage, 520), (Tracker, 690), (AppServer, 840),
           (NaiveAppServer, 840), (ConsoleClient, 690), (ZkClient, 690))


def context(lab: Lab) -> dict[str, Any]:
    sim = lab.sim
    servers = [n for n in sim.nodes.values() if isinstance(n, ZkServer)]
    positions = _layout(sim, servers)
    drawn = [m for m in sim.network.in_flight.values() if m.src in positions and m.dst in positions]
    reference = _reference_server(servers)
    return {
        "width": WIDTH, "height": HEIGHT,
        "servers": [_server(s, positions) for s in servers],
        "actors": [_actor(sim, node, positions) for node in sim.nodes.values() if not isinstance(node, ZkServer)],
        "links": [link_view(sim, a.name, b.name, positions) for a, b in combinations(servers, 2)],
        "sessions_lines": _session_lines(sim, positions),
        # A message to a name that is no machine of the picture (data typed into the console that an
        # app server takes for the master's address, say) is not drawn: it has nowhere to go.
        "flights": [_flight(m, positions) for m in drawn],
        "legend": LEGEND,
        "trees": _trees(servers, sim.now),
        "reference": reference.name if reference else "",
        "sessions": _sessions(sim, servers),
        "metrics": _metrics(sim),
        "safety": _safety(sim),
        "timeline": timeline(sim, TIMELINE_LENGTH),
        "console": _console(sim),
        "console_ops": OPS if console_client(sim) else (),
        "console_senders": console_senders(sim) if console_client(sim) else (),
        "machine_names": list(sim.nodes),
    }


def _layout(sim: Simulation, servers: list[ZkServer]) -> dict[str, tuple[float, float]]:
    positions = {}
    for index, server in enumerate(servers):
        angle = math.radians(-90 + index * 360 / max(1, len(servers)))
        positions[server.name] = (round(RING_X + RING_R * math.cos(angle), 1),
                                  round(RING_Y + RING_R * math.sin(angle), 1))
    # Other machines stand in columns by kind (further left when there is no ensemble).
    shift = 0 if servers else -250
    columns: dict[int, list[str]] = {}
    for node in sim.nodes.values():
        if not isinstance(node, ZkServer):
            x = next((column for kind, column in COLUMNS if isinstance(node, kind)), 640) + shift
            columns.setdefault(x, []).append(node.name)
    for x, names in columns.items():
        gap = min(84, 440 / len(names))
        for index, name in enumerate(names):
            positions[name] = (x, round(HEIGHT / 2 + (index - (len(names) - 1) / 2) * gap, 1))
    return positions


def _reference_server(servers: list[ZkServer]) -> ZkServer | None:
    serving = [s for s in servers if s.alive and s.serving]
    return max(serving, key=lambda s: (s.state == "LEADING", s.committed_zxid), default=None)


def _server(server: ZkServer, positions: dict[str, tuple[float, float]]) -> dict[str, Any]:
    x, y = positions[server.name]
    state = server.state if server.alive else "DOWN"
    return {"name": server.name, "x": x, "y": y, "alive": server.alive, "state": state.lower(),
            "label": {"LEADING": "leader", "FOLLOWING": "follower", "LOOKING": "looking…"}.get(state) or down(server),
            "failure": server.failure,
            "epoch": server.epoch if server.alive else "–", "zxid": hex_zxid(server.last_zxid),
            "unsafe": server.half_quorum}


def _actor(sim: Simulation, node: Any, positions: dict[str, tuple[float, float]]) -> dict[str, Any]:
    x, y = positions[node.name]
    if not node.alive:
        detail = down(node)
    elif isinstance(node, StorageMachine):
        detail = node.role
    elif isinstance(node, AppServer):
        detail = f"master: {node.cached_master or '?'}"
    elif isinstance(node, NaiveAppServer):
        detail = f"{node.succeeded} ok / {node.failed} failed"
    elif isinstance(node, Tracker):
        detail = f"tracker → {node.master}"
    elif isinstance(node, PlainStorage):
        detail = "master" if node.is_master else "slave"
    else:
        detail = getattr(node, "state", "").lower()
    kind = type(node).__name__
    return {"name": node.name, "x": x, "y": y, "alive": node.alive, "detail": detail, "kind": kind,
            "role": getattr(node, "role", ""), "failure": node.failure}


def _session_lines(sim: Simulation, positions: dict[str, tuple[float, float]]) -> list[dict[str, Any]]:
    lines = []
    for node in sim.nodes.values():
        if isinstance(node, ZkClient) and node.alive and node.server in positions and node.session:
            (x1, y1), (x2, y2) = positions[node.name], positions[node.server]
            lines.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "state": node.state.lower()})
    return lines


def _flight(message: Message, positions: dict[str, tuple[float, float]]) -> str:
    category = _category(message)
    return flight_view(message, positions, "text", f"msg marker cat-{category}", MARKERS[category][0])


def _category(message: Message) -> str:
    if message.kind == "Request" and message.body.get("xid") == -2:
        return "ping"
    return CATEGORIES.get(message.kind, "request")


def _trees(servers: list[ZkServer], now: int) -> list[dict[str, Any]]:
    """One tree per distinct state: servers that applied the same zxid hold the same tree,
    so the frame carries it once (watch counts are summed over all servers)."""
    alive = [s for s in servers if s.alive]
    watchers: dict[str, int] = {}
    for server in alive:
        for table in (server.watches.data, server.watches.child):
            for path, sessions in table.items():
                watchers[path] = watchers.get(path, 0) + len(sessions)
    trees = []
    for zxid in sorted({s.committed_zxid for s in alive}, reverse=True):
        holders = [s for s in alive if s.committed_zxid == zxid]
        trees.append({**_tree(holders[0], now, watchers), "servers": " ".join(s.name for s in holders)})
    return trees


def _tree(server: ZkServer, now: int, watchers: dict[str, int]) -> dict[str, Any]:
    tree = server.tree
    rows = []

    def walk(path: str, depth: int) -> None:
        node = tree.nodes[path]
        stat = tree.stat_of(path)
        assert stat is not None
        name = path if path == "/" else path.rsplit("/", 1)[1]
        changed = max(stat.mtime, stat.ctime)
        rows.append({"path": path, "name": name, "depth": depth, "data": node.data.decode(errors="replace")[:40],
                     "fresh": path != "/" and now - changed < FRESH_MS and stat.czxid > 0,
                     "version": stat.version, "ephemeral": hex(stat.ephemeralOwner) if stat.ephemeralOwner else "",
                     "sequential": name[-10:].isdigit() and len(name) >= 10, "watchers": watchers.get(path, 0),
                     "stat": {k: (hex_zxid(v) if k.endswith("zxid") else v) for k, v in vars(stat).items()}})
        for child in tree.children_of(path):
            walk(f"{path.rstrip('/')}/{child}", depth + 1)

    walk("/", 0)
    return {"server": server.name, "zxid": hex_zxid(server.committed_zxid), "rows": rows}


def _sessions(sim: Simulation, servers: list[ZkServer]) -> list[dict[str, Any]]:
    leader = next((s for s in servers if s.alive and s.state == "LEADING" and s.established), None)
    clients = {n.session: n for n in sim.nodes.values() if isinstance(n, ZkClient) and n.session}
    # A client that crashed forgot its session; the servers it was connected to still know whose it was.
    connected_from = {session: name for server in servers for session, name in server.connected_from.items()}
    sessions = leader.tree.sessions if leader else {}
    rows = []
    for session, timeout in sessions.items():
        client = clients.get(session)
        deadline = leader.sessions.deadlines.get(session) if leader else None
        left = max(0, deadline - sim.now) if deadline is not None else timeout
        rows.append({"id": hex(session), "client": client.name if client else connected_from.get(session, "?"),
                     "server": client.server if client and client.alive else "–", "timeout_s": timeout / 1000,
                     "left_s": left / 1000, "percent": round(100 * min(1.0, left / timeout))})
    return rows


def _metrics(sim: Simulation) -> dict[str, Any]:
    apps = [n for n in sim.nodes.values() if isinstance(n, (AppServer, NaiveAppServer))]
    if not apps:
        return {}
    total = {key: sum(getattr(a, key, 0) for a in apps)
             for key in ("attempted", "succeeded", "failed", "extra_hops", "from_cache", "asked_zookeeper")}
    total["without_master_s"] = max((getattr(a, "without_master_ms", 0) for a in apps), default=0) / 1000
    masters = [n.name for n in sim.nodes.values() if isinstance(n, StorageMachine) and n.role == "master"
               and n.alive]
    total["master"] = ", ".join(masters) or "none"
    return total


def _safety(sim: Simulation) -> dict[str, Any]:
    broken = violations(sim)
    # the events behind a violation: each current leader's rise, and each master's
    leaders = {n.name for n in sim.nodes.values() if isinstance(n, ZkServer) and n.alive and n.state == "LEADING"}
    causes = [{"seq": e.seq, "time_s": e.time / 1000, "text": e.text} for e in sim.trace_log.events
              if (e.kind == "established" and e.node in leaders) or e.kind in ("master", "unsafe")][-6:]
    return {"ok": not broken, "violations": broken, "causes": causes if broken else []}


def _console(sim: Simulation) -> dict[str, Any] | None:
    you = console_client(sim)
    if you is None:
        return None
    return {"state": you.state.lower(), "server": you.server,
            "lines": [{"time_s": line.time / 1000, "text": line.text, "kind": line.kind} for line in you.lines]}
