"""What the Network basics page shows, computed from the simulation (read-only)."""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

from coordlab.labs.lab import Lab
from coordlab.sim import Simulation

from .model import ALIVE, SUSPECTED, HeartbeatMachine

WIDTH, HEIGHT = 640, 440
CENTER_X, CENTER_Y, RADIUS = 320, 220, 160
TIMELINE_LENGTH = 14
LOST_WINDOW_MS = 10_000

BELIEF_LABELS = {ALIVE: "alive", SUSPECTED: "suspected", "unknown": "not heard yet"}


def context(lab: Lab) -> dict[str, Any]:
    sim = lab.sim
    positions = _layout(list(sim.nodes))
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "machines": [_machine(node, positions) for node in sim.nodes.values()],
        "links": [_link(sim, a, b, positions) for a, b in combinations(sim.nodes, 2)],
        "messages": [_message(sim, m, positions) for m in sim.network.in_flight.values()],
        "timeline": _timeline(sim),
        "lost": _lost(sim),
        "machine_names": list(sim.nodes),
        "presets": lab.scenario.presets,
        "partitioned": bool(sim.network.groups),
    }


def _layout(names: list[str]) -> dict[str, tuple[float, float]]:
    count = len(names)
    positions = {}
    for index, name in enumerate(names):
        angle = math.radians(-135 + index * 360 / count)
        positions[name] = (round(CENTER_X + RADIUS * math.cos(angle), 1),
                           round(CENTER_Y + RADIUS * math.sin(angle), 1))
    return positions


def _machine(node: Any, positions: dict[str, tuple[float, float]]) -> dict[str, Any]:
    assert isinstance(node, HeartbeatMachine)
    x, y = positions[node.name]
    beliefs = [{"peer": peer, "state": node.view.get(peer, "unknown"),
                "label": BELIEF_LABELS[node.view.get(peer, "unknown")]} for peer in node.peers]
    return {"name": node.name, "x": x, "y": y, "alive": node.alive, "boots": node.boots,
            "beliefs": beliefs, "suspects": sum(b["state"] == SUSPECTED for b in beliefs)}


def _link(sim: Simulation, a: str, b: str, positions: dict[str, tuple[float, float]]) -> dict[str, Any]:
    network = sim.network
    (x1, y1), (x2, y2) = positions[a], positions[b]
    a_to_b, b_to_a = network.is_cut(a, b), network.is_cut(b, a)
    partitioned = bool(network.groups) and network.group_of(a) != network.group_of(b)
    if partitioned:
        state, note, label = "partitioned", "✂ partition", f"{a} – {b}: blocked by the partition"
    elif a_to_b and b_to_a:
        state, note, label = "cut", "✂ cut", f"{a} – {b}: cut both ways (click to restore)"
    elif a_to_b or b_to_a:
        src, dst = (a, b) if a_to_b else (b, a)
        state, note = "one-way", f"✂ {src} → {dst}"
        label = f"{src} → {dst} cut, {dst} → {src} works (click to restore)"
    else:
        state, note, label = "ok", "", f"{a} – {b}: working (click to cut)"
    return {"a": a, "b": b, "x1": x1, "y1": y1, "x2": x2, "y2": y2, "state": state, "note": note, "label": label,
            "mx": round((x1 + x2) / 2, 1), "my": round((y1 + y2) / 2, 1)}


def _message(sim: Simulation, message: Any, positions: dict[str, tuple[float, float]]) -> dict[str, Any]:
    (x1, y1), (x2, y2) = positions[message.src], positions[message.dst]
    span = max(1, message.deliver_at - message.sent_at)
    progress = min(1.0, max(0.0, (sim.now - message.sent_at) / span))
    # A doomed message dies where the link is broken: halfway.
    stopped = bool(message.doomed) and progress >= 0.5
    if message.doomed:
        progress = min(progress, 0.5)
    length = math.hypot(x2 - x1, y2 - y1) or 1.0
    # Shift each direction to its own side of the line so both are visible.
    nx, ny = (y2 - y1) / length * 7, -(x2 - x1) / length * 7
    label = f"{message.kind} {message.src} → {message.dst}" + (f": lost ({message.doomed})" if stopped else "")
    return {"id": message.id, "kind": message.kind.lower(), "label": label, "stopped": stopped,
            "x": round(x1 + (x2 - x1) * progress + nx, 1), "y": round(y1 + (y2 - y1) * progress + ny, 1)}


def _timeline(sim: Simulation) -> list[dict[str, Any]]:
    events = [e for e in sim.trace_log.events if e.kind != "lost"][-TIMELINE_LENGTH:]
    return [{"seq": e.seq, "time_s": e.time / 1000, "node": e.node, "kind": e.kind, "text": e.text}
            for e in reversed(events)]


def _lost(sim: Simulation) -> dict[str, Any]:
    recent = [e for e in sim.trace_log.events if e.kind == "lost" and e.time >= sim.now - LOST_WINDOW_MS]
    return {"count": len(recent), "latest": recent[-1].text if recent else ""}
