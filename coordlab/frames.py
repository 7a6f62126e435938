"""Frames: a lab's state rendered as HTML fragments with stable ids.

The page view and the WebSocket push use the same partials; in a frame each
fragment carries ``hx-swap-oob`` so htmx swaps it into place. Rendering only
reads the lab.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.template.loader import render_to_string

from coordlab.basics import frames as basics_frames
from coordlab.labs.commands import SPEEDS
from coordlab.labs.lab import Lab
from zookeeper_app import frames as zookeeper_frames

#: lab kind → (context builder, panels of its page, fragments of its frames)
KINDS: dict[str, tuple[Callable[[Lab], dict[str, Any]], str, str]] = {
    "basics": (basics_frames.context, "basics/page_panels.html", "basics/frame_panels.html"),
    "zookeeper": (zookeeper_frames.context, "zookeeper/page_panels.html", "zookeeper/frame_panels.html"),
}


def lab_context(lab: Lab) -> dict[str, Any]:
    build, page_panels, frame_panels = KINDS[lab.scenario.kind]
    return {
        "lab": lab,
        "scenario": lab.scenario,
        "status": {
            "playing": lab.playing,
            "speed": lab.speed,
            "now_s": lab.now / 1000,
            "horizon_s": lab.horizon / 1000,
            "now_ms": lab.now,
            "horizon_ms": lab.horizon,
            "rewound": lab.rewound,
        },
        "speeds": SPEEDS,
        "page_panels": page_panels,
        "frame_panels": frame_panels,
        **build(lab),
    }


def page_context(lab: Lab) -> dict[str, Any]:
    return {**lab_context(lab), "oob": False}


def render_frame(lab: Lab) -> str:
    return render_to_string("labs/frame.html", {**lab_context(lab), "oob": True})
