"""What the Kafka lab page shows, computed from the simulation (read-only)."""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable
from functools import partial
from html import escape
from typing import Any, TypeVar, cast

from coordlab.labs.lab import Lab
from coordlab.picture import down, flight_view, timeline
from coordlab.sim import Message, Simulation
from zookeeper_app.model import ZkServer

from .actions import TERMINAL_NAME, WEB_PRODUCER
from .model import observe
from .model.admin import AdminNode
from .model.broker import Broker
from .model.consumer import ConsumerNode
from .model.controller import ControllerState
from .model.log import PartitionLog, Record
from .model.producer import ProducerNode
from .model.real_client import RealClient
from .model.settings import OFFSETS_TOPIC
from .model.story import (
    KEY_MODES,
    ClassicQueue,
    LagMonitor,
    Publisher,
    QueueWorker,
    SafetyMonitor,
    Service,
    groups_of,
)
from .scenarios import MONITOR, SAFETY

WIDTH = 920
PRODUCER_X, BROKER_X, CONSUMER_X = 100, 460, 820
ZK_Y = 42
TOP = 110
CHIP_W, CHIP_H, CHIPS_PER_ROW = 118, 26, 3
STRIP = 12  # records shown per partition
PENDING_SHOWN = 3  # records without an answer yet shown per producer
FRESH_MS = 3_000
TIMELINE_LENGTH = 24
OUTCOMES = 6
#: a colour per partition number (chips, strips and assignments share it)
PALETTE = ("#3b6fd8", "#d9822b", "#2e9e6a", "#a54ec2", "#c43d5a", "#1f9bb4", "#8a6d1f", "#5b6b82",
           "#d35fa0", "#4a8c2a", "#7c5cd6", "#b5482c")
#: message kind → (category, marker)
CATEGORIES = {
    "Produce": "produce", "ProduceResponse": "ack", "Fetch": "fetch", "FetchResponse": "fetch",
    "JoinGroup": "group", "JoinGroupResponse": "group", "SyncGroup": "group", "SyncGroupResponse": "group",
    "Heartbeat": "group", "HeartbeatResponse": "group", "LeaveGroup": "group", "LeaveGroupResponse": "group",
    "OffsetCommit": "group", "OffsetCommitResponse": "group", "OffsetFetch": "group", "OffsetFetchResponse": "group",
    "FindCoordinator": "group", "FindCoordinatorResponse": "group", "LeaderAndIsr": "control",
    "UpdateMetadata": "control", "ControllerAck": "control", "AlterPartition": "control",
    "AlterPartitionResponse": "control", "Enqueue": "produce", "Consume": "fetch", "Deliver": "fetch", "Ack": "ack",
}
MARKERS = {"produce": ("▶", "produce request"), "ack": ("◀", "produce ack"),
           "fetch": ("●", "fetch (replica or consumer)"), "group": ("◆", "group protocol / commit"),
           "control": ("★", "controller → brokers"),
           "zk": ("■", "ZooKeeper"), "other": ("·", "metadata and other requests")}
LEGEND = tuple((category, marker, label) for category, (marker, label) in MARKERS.items())
#: trace events too frequent for the timeline (the offsets table shows commits)
QUIET = ("lost", "unhandled", "commit")
GROUP_STATES = {"Stable": "stable", "PreparingRebalance": "rebalancing", "CompletingRebalance": "rebalancing",
                "Empty": "empty", "Dead": "gone", "no coordinator": "no coordinator"}


def colour(log: str) -> str:
    """A partition's colour, from its number (chips, strips and assignments share it)."""
    return PALETTE[int(log.rpartition("-")[2]) % len(PALETTE)]


def rates(rate: float) -> dict[str, float]:
    """The rates a "slower" and a "faster" button set."""
    return {"slower": round(rate / 2, 2), "faster": min(200.0, rate * 2 or 1)}


def context(lab: Lab) -> dict[str, Any]:
    sim = lab.sim
    state, controller = observe.view(sim)
    topics = [t for t in state.topics if t != OFFSETS_TOPIC]
    reuse = Reuse(lab)
    picture = _picture(sim, state, controller, reuse)
    ends = {f"{t}-{p}": observe.partition_state(sim, state, t, int(p)) for t in topics
            for p in state.topics[t].assignment}
    groups = _groups(sim, state, ends, reuse)
    recent = _recent_changes(sim)
    shown_topics = [_topic(sim, state, topic, ends, recent, reuse) for topic in topics]
    reuse.done()
    return {
        **picture,
        "controller": controller,
        "zookeeper": _zookeeper(sim, controller),
        "topics": shown_topics,
        "topic_names": topics,
        "group_names": [g["name"] for g in groups],
        "groups": groups,
        "services": [_service(node) for node in sim.nodes.values() if isinstance(node, Service)],
        "publishers": [_publisher(node) for node in sim.nodes.values()
                       if isinstance(node, Publisher) and not isinstance(node, Service)],
        "queue": _queue(sim),
        "safety": _safety(sim),
        "timeline": timeline(sim, TIMELINE_LENGTH, hidden=QUIET),
        "key_modes": KEY_MODES,
        "terminal": {"lab": lab.id, "topic": topics[0] if topics else "events",
                     "group": "terminal"},
    }


# -- the cluster picture -----------------------------------------------------------------------------------------


def _shown(node: Any) -> bool:
    return not isinstance(node, (ZkServer, Broker, AdminNode, LagMonitor, SafetyMonitor, ClassicQueue))


def _picture(sim: Simulation, state: ControllerState, controller: int, reuse: Reuse) -> dict[str, Any]:
    positions: dict[str, tuple[float, float]] = {}
    zk = [n for n in sim.nodes.values() if isinstance(n, ZkServer)]
    for index, server in enumerate(zk):
        positions[server.name] = (BROKER_X - 60 + index * 60, ZK_Y)
    brokers = []
    y = TOP
    offsets_leaders = Counter(p.leader for name, p in state.partitions.items() if name.startswith(OFFSETS_TOPIC))
    for broker in observe.brokers(sim):
        chips = _chips(broker, state)
        rows = max(1, -(-len(chips) // CHIPS_PER_ROW))
        height = 58 + rows * (CHIP_H + 6)
        for index, chip in enumerate(chips):
            chip["x"] = BROKER_X - 183 + (index % CHIPS_PER_ROW) * (CHIP_W + 6)
            chip["y"] = y + 46 + (index // CHIPS_PER_ROW) * (CHIP_H + 6)
        offsets = offsets_leaders[broker.broker_id]
        brokers.append({"name": broker.name, "id": broker.broker_id, "alive": broker.alive, "y": y,
                        "failure": broker.failure, "down": "" if broker.alive else down(broker),
                        "height": height, "controller": broker.broker_id == controller, "chips": chips,
                        "offsets_led": offsets, "registered": broker.broker_id in state.live})
        positions[broker.name] = (BROKER_X, y + height / 2)
        y += height + 18
    clients = [n for n in sim.nodes.values() if _shown(n)]
    producers = [n for n in clients if not isinstance(n, (ConsumerNode, QueueWorker))]
    consumers = [n for n in clients if isinstance(n, (ConsumerNode, QueueWorker))]
    height = max(y, TOP + 70 * max(len(producers), len(consumers)) + 40)
    actors = []
    for column, x in ((producers, PRODUCER_X), (consumers, CONSUMER_X)):
        gap = min(84, (height - TOP) / max(1, len(column)))
        for index, node in enumerate(column):
            position = (x, round(TOP + 30 + index * gap, 1))
            positions[node.name] = position
            actors.append(_actor(node, position))
    queue = next((n for n in sim.nodes.values() if isinstance(n, ClassicQueue)), None)
    if queue is not None:
        positions[queue.name] = (PRODUCER_X + 180, height - 20)
    flights = []
    for message in sim.network.in_flight.values():
        src, dst = positions.get(message.src), positions.get(message.dst)
        if src is not None and dst is not None:
            # A message in flight is drawn once: only where its ends stand and whether it is lost can change.
            key = ("flight", message.id, message.kind, message.sent_at, src, dst, message.doomed)
            flights.append(reuse.get(key, partial(_flight, message, positions)))
    return {"width": WIDTH, "height": round(height), "zk_servers": [
        {"name": s.name, "x": positions[s.name][0], "y": ZK_Y, "alive": s.alive, "state": _zk_state(s)} for s in zk],
        "brokers": brokers, "actors": actors, "flights": flights, "legend": LEGEND,
        "queue_box": {"x": positions[queue.name][0], "y": positions[queue.name][1], "depth": len(queue.messages)}
        if queue else None}


def _flight(message: Message, positions: dict[str, tuple[float, float]]) -> str:
    category = CATEGORIES.get(message.kind, "zk" if message.src.startswith("z") or message.dst.startswith("z")
                              else "other")
    return flight_view(message, positions, "text", f"msg marker cat-{category}", MARKERS[category][0])


def _zk_state(server: ZkServer) -> str:
    if not server.alive:
        return "down"
    return {"LEADING": "leader", "FOLLOWING": "follower"}.get(server.state, "looking")


#: the characters a chip's label, and a client's line of detail, hold at their font size; a longer one
#: is squeezed to its box's width instead of spilling over its neighbour. Presenter mode's bigger type
#: holds fewer: a chip's label longer than CHIP_CHARS_BIG is drawn a little narrower there (CSS)
CHIP_CHARS, CHIP_CHARS_BIG, ACTOR_CHARS = 13, 10, 19


def _chips(broker: Broker, state: ControllerState) -> list[dict[str, Any]]:
    chips = []
    for topic, info in state.topics.items():
        if topic == OFFSETS_TOPIC:
            continue
        for partition, replicas in info.assignment.items():
            if broker.broker_id not in replicas:
                continue
            name = f"{topic}-{partition}"
            official = state.partitions.get(name)
            leader = official is not None and official.leader == broker.broker_id
            in_isr = official is not None and broker.broker_id in official.isr
            role = "leader" if leader else "follower"
            chips.append({"name": name, "role": role, "in_isr": in_isr, "color": colour(name),
                          "label": f"{name} {'★' if leader else ''}",
                          "squeeze": len(name) + 2 > CHIP_CHARS, "long": len(name) + 2 > CHIP_CHARS_BIG,
                          "title": f"{name} on {broker.name}: {role}, {'in' if in_isr else 'OUT of'} the ISR"})
    return chips


def _actor(node: Any, position: tuple[float, float]) -> dict[str, Any]:
    x, y = position
    if not node.alive:
        detail = down(node)
    elif isinstance(node, Service):
        detail = f"{node.rate * node.boost:g}/s → {node.topic}" if not node.queue else f"{node.rate:g}/s → queue"
    elif isinstance(node, ProducerNode):
        detail = f"{node.acked_count} acked, {node.failed_count} failed"
    elif isinstance(node, ConsumerNode):
        phase = "paused" if node.paused else node.phase
        detail = f"{node.group_id}: {phase}" if node.group_id else phase
    elif isinstance(node, QueueWorker):
        detail = "reads the queue"
    elif isinstance(node, RealClient):
        detail = f"real client: {node.produced} written"
    else:
        detail = ""
    kind = "consumer" if isinstance(node, (ConsumerNode, QueueWorker)) else "producer"
    return {"name": node.name, "x": x, "y": y, "alive": node.alive, "detail": detail, "kind": kind,
            "squeeze": len(detail) > ACTOR_CHARS,
            "failure": node.failure, "terminal": bool(TERMINAL_NAME.fullmatch(node.name)),
            "partitions": [{"name": name, "color": colour(name), "x": x - 80 + 13 * i}
                           for i, name in enumerate(getattr(node, "assignment", [])[:12])
                           if node.alive and getattr(node, "phase", "") != "closed"]}


def _zookeeper(sim: Simulation, controller: int) -> dict[str, Any]:
    servers = [n for n in sim.nodes.values() if isinstance(n, ZkServer)]
    serving = [s for s in servers if s.alive and s.serving]
    tree = max(serving, key=lambda s: s.committed_zxid).tree if serving else None
    znodes = []
    if tree is not None:
        for path in ("/controller", "/controller_epoch"):
            if path in tree.nodes:
                stat = tree.stat_of(path)
                znodes.append({"path": path, "data": tree.nodes[path].data.decode(errors="replace")[:60],
                               "ephemeral": bool(stat and stat.ephemeralOwner)})
        for child in tree.children_of("/brokers/ids") if "/brokers/ids" in tree.nodes else []:
            znodes.append({"path": f"/brokers/ids/{child}", "data": "", "ephemeral": True})
    return {"servers": [{"name": s.name, "state": _zk_state(s)} for s in servers], "znodes": znodes,
            "controller": controller}


# -- topics and partition logs ---------------------------------------------------------------------------------


def _recent_changes(sim: Simulation) -> dict[str, set[str]]:
    """Log name → the kinds of change (retention, compaction) it had in the last few seconds."""
    recent: dict[str, set[str]] = {}
    for event in sim.trace_log.events[-200:]:
        if event.kind in ("retention", "compacted") and sim.now - event.time < FRESH_MS:
            name = event.fields.get("log") or f"{event.fields.get('topic')}-{event.fields.get('partition')}"
            recent.setdefault(name, set()).add(event.kind)
    return recent


def _topic(sim: Simulation, state: ControllerState, topic: str, ends: dict[str, dict[str, Any]],
           recent: dict[str, set[str]], reuse: Reuse) -> dict[str, Any]:
    info = state.topics[topic]
    config = info.config
    partitions = [_partition(sim, f"{topic}-{p}", int(p), ends[f"{topic}-{p}"], recent.get(f"{topic}-{p}", set()),
                             reuse) for p in sorted(info.assignment, key=int)]
    acked = sum(node.acked_by_topic.get(topic, 0) for node in sim.nodes.values() if isinstance(node, Publisher))
    readable = sum(p["readable"] for p in partitions)
    removed_by = ("compaction" if "compact" in config.get("cleanup.policy", "") else
                  "retention" if any(p["log_start"] for p in partitions) else "")
    return {"name": topic, "partitions": partitions, "replication": len(next(iter(info.assignment.values()), [])),
            "retention": duration(int(config.get("retention.ms", "604800000"))),
            "cleanup": config.get("cleanup.policy", "delete"), "min_isr": config.get("min.insync.replicas", "1"),
            "unclean": config.get("unclean.leader.election.enable") == "true", "acked": acked, "readable": readable,
            "removed_by": removed_by}


def partitions(context: dict[str, Any]) -> list[dict[str, Any]]:
    """Every partition the topics panel shows, in its order (each is a part of its own in frames)."""
    return [partition for topic in context["topics"] for partition in topic["partitions"]]


def _reference_log(sim: Simulation, ends: dict[str, Any], name: str) -> tuple[PartitionLog | None, int]:
    """The leader's log, else the longest live replica's (while the partition has no leader)."""
    candidates = []
    for broker_id, replica in ends["per_replica"].items():
        broker = observe.broker_by_id(sim, broker_id)
        if broker is not None and broker.alive and name in broker.logs:
            candidates.append((replica["leader"], replica["log_end_offset"], broker_id, broker.logs[name]))
    if not candidates:
        return None, -1
    best = max(candidates, key=lambda c: (c[0], c[1]))
    return best[3], best[2]


def _partition(sim: Simulation, name: str, partition: int, ends: dict[str, Any], recent: set[str],
               reuse: Reuse) -> dict[str, Any]:
    """A partition as its strip shows it: built again only when its log (the one shown) or
    its replicas moved, or a retention or compaction just happened to it."""
    log, shown_from = _reference_log(sim, ends, name)
    log_state = None if log is None else (id(log), log.log_start_offset, log.log_end_offset, log.size)
    replicas = tuple((b, *r.values()) for b, r in ends["per_replica"].items())
    key = ("partition", name, shown_from, log_state, ends["leader"], ends["leader_epoch"], tuple(ends["isr"]),
           ends["high_watermark"], ends["log_end_offset"], replicas, frozenset(recent))
    return reuse.get(key, lambda: _build_partition(log, shown_from, name, partition, ends, recent, reuse))


def _build_partition(log: PartitionLog | None, shown_from: int, name: str, partition: int, ends: dict[str, Any],
                     recent: set[str], reuse: Reuse) -> dict[str, Any]:
    records: list[Record] = log.tail(STRIP) if log else []
    high_watermark = ends["high_watermark"]
    cells: list[dict[str, Any]] = []
    previous = records[0].offset if records else 0
    for record in records:
        if record.offset > previous:
            cells.append({"gap": record.offset - previous, "fresh": "compacted" in recent})
        previous = record.offset + 1
        value = None if record.value is None else record.value.decode(errors="replace")
        key = None if record.key is None else record.key.decode(errors="replace")
        headers = ", ".join(f"{k}={v.decode(errors='replace')}" for k, v in record.headers)
        cell = {"offset": record.offset, "key": key, "value": value, "short": (value or "∅ tombstone")[:14],
                "committed": record.offset < high_watermark, "headers": headers,
                "time_s": record.timestamp / 1000, "epoch": record.leader_epoch}
        cell["html"] = reuse.box(name, *cell.values())
        cells.append(cell)
    log_start = log.log_start_offset if log else 0
    older = (log_start, records[0].offset - 1) if records and records[0].offset > log_start else None
    readable = log.count_below(high_watermark) if log else 0
    replicas = [{"broker": f"b{b}", **r} for b, r in ends["per_replica"].items()]
    return {"name": name, "number": partition, "color": colour(name), "leader": ends["leader"],
            "epoch": ends["leader_epoch"], "isr": ends["isr"], "cells": cells, "log_start": log_start,
            "deleted_fresh": "retention" in recent, "older": older, "high_watermark": high_watermark,
            "log_end": ends["log_end_offset"], "replicas": replicas, "readable": readable,
            "shown_from": f"b{shown_from}" if shown_from > 0 else "", "offline": ends["leader"] < 0}


#: what each lab's latest frame built and the next may reuse (``Reuse``)
_reused: weakref.WeakKeyDictionary[Lab, dict[tuple[Any, ...], Any]] = weakref.WeakKeyDictionary()


class Reuse:
    """What one frame of a lab builds from parts that did not change since its latest frame:
    a record's box (a record never changes once written, only whether it is committed yet),
    a partition whose log and replicas stood still, a message in flight, and a lag chart. The
    lab keeps only what its latest frame used, so things go when they leave the page, or with
    the lab."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.before = _reused.get(lab, {})
        self.now: dict[tuple[Any, ...], Any] = {}

    def get(self, key: tuple[Any, ...], build: Callable[[], T]) -> T:
        found = self.now.get(key, self.before.get(key, MISSING))
        if found is MISSING:
            found = build()
        self.now[key] = found
        return cast(T, found)

    def box(self, *fields: Any) -> str:
        return self.get(("box", *fields), lambda: record_cell(*fields))

    def done(self) -> None:
        _reused[self.lab] = self.now


MISSING = object()
T = TypeVar("T")


def record_cell(partition: str, offset: int, key: str | None, value: str | None, short: str, committed: bool,
                headers: str, time_s: float, epoch: int) -> str:
    """A record's box in a partition's strip."""
    classes = "record" + ("" if committed else " uncommitted") + (" tombstone" if value is None else "")
    shown_key = "∅" if key is None else key if len(key) <= 9 else key[:8] + "…"
    return (
        f'<li id="record-{escape(partition)}-{offset}" class="{classes}" tabindex="0" data-offset="{offset}" '
        f'data-key="{escape(key or "")}"{" data-null-key" if key is None else ""} '
        f'data-value="{escape(value or "")}"{" data-tombstone" if value is None else ""} '
        f'data-headers="{escape(headers)}" data-time="{time_s:.3f}" data-epoch="{epoch}">\n        '
        f'<span class="off">{offset}</span><span class="key">{escape(shown_key)}</span>'
        f'<span class="val">{escape(short)}</span></li>')


def duration(ms: int) -> str:
    if ms < 0:
        return "forever"
    if ms % 86_400_000 == 0:
        return f"{ms // 86_400_000} day{'s' if ms != 86_400_000 else ''}"
    if ms % 60_000 == 0:
        return f"{ms // 60_000} min"
    return f"{ms / 1000:g} s"


# -- producers ---------------------------------------------------------------------------------------------------


def _service(node: Service) -> dict[str, Any]:
    return {"name": node.name, "alive": node.alive, "topic": node.topic, "rate": node.rate, "boost": node.boost,
            "keys": node.keys, "acked": node.acked_count, "failed": node.failed_count, "queue": node.queue,
            **rates(node.rate), "recent": _outcomes(node)[:3], **_waiting(node)}


def _publisher(node: Publisher) -> dict[str, Any]:
    return {"name": node.name, "alive": node.alive, "acked": node.acked_count, "failed": node.failed_count,
            "web": node.name == WEB_PRODUCER, "recent": _outcomes(node), **_waiting(node)}


def _waiting(node: Publisher) -> dict[str, Any]:
    """What a producer has sent and has no answer for yet (the newest few, with the error their
    latest attempt got), and how many batches it retried after each retriable error."""
    pending = [{"topic": r.topic, "key": None if r.key is None else r.key.decode(errors="replace"),
                "value": None if r.value is None else r.value.decode(errors="replace"), "attempts": r.attempts,
                "error": r.last_error} for r in list(node.outgoing.values())[-PENDING_SHOWN:]]
    return {"pending": list(reversed(pending)), "pending_count": len(node.outgoing),
            "retries": sorted(node.retried.items())}


def _outcomes(node: Publisher) -> list[dict[str, Any]]:
    return [dict(item) for item in reversed(node.outbox[-OUTCOMES:])]


# -- consumer groups ------------------------------------------------------------------------------------------------


def _groups(sim: Simulation, state: ControllerState, ends: dict[str, dict[str, Any]],
            reuse: Reuse) -> list[dict[str, Any]]:
    monitor = sim.nodes.get(MONITOR)
    samples = monitor.samples if isinstance(monitor, LagMonitor) else {}
    groups = []
    for group, topics in groups_of(sim).items():
        described = observe.group_state(sim, group)
        members = [n for n in sim.nodes.values() if isinstance(n, ConsumerNode) and n.group_id == group]
        owners = {name: m.name for m in members if m.alive and m.phase == "stable" for name in m.assignment}
        partitions = []
        for topic in topics:
            info = state.topics.get(topic)
            for partition in sorted(info.assignment, key=int) if info else []:
                name = f"{topic}-{partition}"
                end, start = ends[name]["high_watermark"], ends[name]["log_start_offset"]
                committed = described["offsets"].get(name)
                lag = max(0, end - (committed if committed is not None else start))
                partitions.append({"name": name, "color": colour(name), "committed": committed,
                                   "end": end, "lag": lag, "owner": owners.get(name, "")})
        groups.append({"name": group, "topics": topics, "state": GROUP_STATES.get(described["state"],
                                                                                  described["state"]),
                       "generation": described["generation"], "coordinator": described["coordinator"],
                       "members": [_member(m) for m in members], "partitions": partitions,
                       "lag": sum(p["lag"] for p in partitions),
                       "chart": _chart(group, samples.get(group, []), sim.now, reuse)})
    return groups


def _member(node: ConsumerNode) -> dict[str, Any]:
    if not node.alive:
        status = down(node)
    elif node.phase == "closed":
        status = "left the group"
    elif node.paused:
        status = "paused"
    else:
        status = {"stable": "working", "joining": "joining…", "syncing": "joining…", "finding": "finding coordinator…"
                  }.get(node.phase, node.phase)
    running = node.alive and node.phase != "closed"
    return {"name": node.name, "status": status, "running": running, "paused": node.paused, "rate": node.rate,
            "processed": node.processed, **rates(node.rate),
            "terminal": bool(TERMINAL_NAME.fullmatch(node.name)), "idle": running and node.phase == "stable"
            and not node.assignment,
            "partitions": [{"name": name, "color": colour(name)}
                           for name in (node.assignment if running else [])]}


CHART_W, CHART_H = 300, 80


def _chart(group: str, series: list[tuple[int, int]], now: int, reuse: Reuse) -> dict[str, Any]:
    """The lag over the last two minutes as an SVG polyline, drawn again only when it changed."""
    if not series:
        return {"points": "", "max": 0, "last": 0}
    start = now // 1000 * 1000 - 120_000  # the chart moves by whole seconds (2.5 px), not every frame
    # The monitor only appends samples (dropping the oldest): its length, its first and latest
    # samples and the window's start say what the chart shows.
    key = ("chart", group, len(series), series[0], series[-1], start)
    return reuse.get(key, partial(_draw_chart, series, start))


def _draw_chart(series: list[tuple[int, int]], start: int) -> dict[str, Any]:
    top = max(10, max(lag for _, lag in series))
    points = " ".join(f"{round((t - start) / 120_000 * CHART_W, 1)},{round(CHART_H - lag / top * CHART_H, 1)}"
                      for t, lag in series if t >= start)
    return {"points": points, "max": top, "last": series[-1][1], "width": CHART_W, "height": CHART_H}


# -- the classic queue and the safety badge --------------------------------------------------------------------


def _queue(sim: Simulation) -> dict[str, Any] | None:
    queue = next((n for n in sim.nodes.values() if isinstance(n, ClassicQueue)), None)
    if queue is None:
        return None
    workers = [n for n in sim.nodes.values() if isinstance(n, QueueWorker)]
    return {"received": queue.received, "waiting": len(queue.messages),
            "workers": [{"name": w.name, "got": queue.handed.get(w.name, 0), "last": w.got[-3:]} for w in workers]}


def violations(sim: Simulation) -> list[str]:
    """What the lab's safety monitor has found broken so far (it checks every two seconds, as
    records flow, and keeps what it found)."""
    monitor = sim.nodes.get(SAFETY)
    return list(monitor.violations) if isinstance(monitor, SafetyMonitor) else []


def _safety(sim: Simulation) -> dict[str, Any]:
    broken = violations(sim)
    return {"ok": not broken, "violations": broken}
