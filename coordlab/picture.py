"""Geometry every lab picture shares: the messages in flight (which the page animates
itself), what a link looks like, and the timeline's entries. Reads the simulation only."""

from __future__ import annotations

import json
import math
from html import escape
from typing import Any

from coordlab.sim import POWERED_OFF, Message, Node, Simulation

Positions = dict[str, tuple[float, float]]


def down(node: Node) -> str:
    """What a machine that is down shows: how it went down."""
    return "⏻ powered off" if node.failure == POWERED_OFF else "✖ killed"


def flight_view(message: Message, positions: Positions, shape: str, css: str, mark: str = "") -> str:
    """One message in flight for the page to animate (``static/js/lab.js``), sent once: where
    it leaves and lands (each direction on its own side of the line), when in virtual time,
    and whether it is doomed (it stops and dies halfway, where its link is broken). ``shape``
    is "circle" or "text" (with ``mark``, a character); ``css`` its classes."""
    (x1, y1), (x2, y2) = positions[message.src], positions[message.dst]
    length = math.hypot(x2 - x1, y2 - y1) or 1.0
    nx, ny = (y2 - y1) / length * 7, -(x2 - x1) / length * 7
    label = f"{message.kind} {message.src} → {message.dst}"
    data = [message.id, round(x1 + nx, 1), round(y1 + ny, 1), round(x2 + nx, 1), round(y2 + ny, 1),
            message.sent_at, message.deliver_at, 1 if message.doomed else 0, shape, css, mark,
            label + (f": lost ({message.doomed})" if message.doomed else "")]
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def flights_fragment(flights: list[str], oob: bool = True) -> str:
    """The page's messages in flight as a list fragment: every frame carries the whole list,
    and the engine sends a viewer only the items it has not had yet (``data-mode``)."""
    items = "\n".join(f"<i data-f='{escape(item)}'></i>" for item in flights)
    swap = ' hx-swap-oob="true"' if oob else ""
    return f'<div id="lab-flights" hidden data-mode="all"{swap}>\n{items}\n</div>'


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
    """The latest ``length`` trace events worth a sentence, newest first; a sentence repeated
    one after another is one line with a count ("× 37")."""
    lines: list[dict[str, Any]] = []
    for event in reversed(sim.trace_log.events):
        if event.kind in hidden:
            continue
        if lines and lines[-1]["text"] == event.text and lines[-1]["kind"] == event.kind:
            lines[-1]["count"] += 1
            continue
        if len(lines) == length:
            break
        lines.append({"seq": event.seq, "time_s": event.time / 1000, "node": event.node, "kind": event.kind,
                      "text": event.text, "count": 1})
    return lines
