"""What the Network basics page shows, computed from the simulation (read-only)."""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

from coordlab.labs.lab import Lab
from coordlab.picture import down, flight_view, link_view, timeline
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
    drawn = [m for m in sim.network.in_flight.values() if m.src in positions and m.dst in positions]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "machines": [_machine(node, positions) for node in sim.nodes.values()],
        "links": [link_view(sim, a, b, positions) for a, b in combinations(sim.nodes, 2)],
        "flights": [flight_view(m, positions, "circle", f"msg msg-{m.kind.lower()}") for m in drawn],
        "timeline": timeline(sim, TIMELINE_LENGTH),
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
            "failure": node.failure, "down": "" if node.alive else down(node),
            "beliefs": beliefs, "suspects": sum(b["state"] == SUSPECTED for b in beliefs)}


def _lost(sim: Simulation) -> dict[str, Any]:
    recent = [e for e in sim.trace_log.events if e.kind == "lost" and e.time >= sim.now - LOST_WINDOW_MS]
    return {"count": len(recent), "latest": recent[-1].text if recent else ""}
