"""Geometry every lab picture shares: where a message in flight is drawn, what a
link looks like, and the timeline's entries. Reads the simulation only."""

from __future__ import annotations

import math
from typing import Any

from coordlab.sim import Message, Simulation

Positions = dict[str, tuple[float, float]]


def message_view(sim: Simulation, message: Message, positions: Positions) -> dict[str, Any]:
    """A message's point on its way; a doomed one stops and dies halfway, where its link is broken.
    Each direction runs on its own side of the line so both can be seen."""
    (x1, y1), (x2, y2) = positions[message.src], positions[message.dst]
    span = max(1, message.deliver_at - message.sent_at)
    progress = min(1.0, max(0.0, (sim.now - message.sent_at) / span))
    stopped = bool(message.doomed) and progress >= 0.5
    if message.doomed:
        progress = min(progress, 0.5)
    length = math.hypot(x2 - x1, y2 - y1) or 1.0
    nx, ny = (y2 - y1) / length * 7, -(x2 - x1) / length * 7
    label = f"{message.kind} {message.src} → {message.dst}" + (f": lost ({message.doomed})" if stopped else "")
    return {"id": message.id, "label": label, "stopped": stopped,
            "x": round(x1 + (x2 - x1) * progress + nx, 1), "y": round(y1 + (y2 - y1) * progress + ny, 1)}


def link_view(sim: Simulation, a: str, b: str, positions: Positions) -> dict[str, Any]:
    """A link's state (ok, cut, one-way, partitioned), its short note and a sentence."""
    network = sim.network
    (x1, y1), (x2, y2) = positions[a], positions[b]
    a_to_b, b_to_a = network.is_cut(a, b), network.is_cut(b, a)
    if network.groups and network.group_of(a) != network.group_of(b):
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


def timeline(sim: Simulation, length: int, hidden: tuple[str, ...] = ("lost", "unhandled")) -> list[dict[str, Any]]:
    """The latest ``length`` trace events worth a sentence, newest first."""
    events = [e for e in sim.trace_log.events if e.kind not in hidden][-length:]
    return [{"seq": e.seq, "time_s": e.time / 1000, "node": e.node, "kind": e.kind, "text": e.text}
            for e in reversed(events)]
