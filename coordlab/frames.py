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
from kafka_app import frames as kafka_frames
from zookeeper_app import frames as zookeeper_frames

ZOOKEEPER_FRAGMENTS = ("zookeeper/partials/toggles.html", "zookeeper/partials/ensemble.html",
                       "zookeeper/partials/safety.html", "zookeeper/partials/metrics.html",
                       "zookeeper/partials/tree.html", "zookeeper/partials/sessions.html",
                       "zookeeper/partials/console.html")
KAFKA_FRAGMENTS = ("zookeeper/partials/toggles.html", "kafka/partials/cluster.html", "kafka/partials/zookeeper.html",
                   "kafka/partials/safety.html", "kafka/partials/topics.html", "kafka/partials/producers.html",
                   "kafka/partials/groups.html", "kafka/partials/lists.html")

#: lab kind → (context builder, panels of its page, the fragments its frames update)
KINDS: dict[str, tuple[Callable[[Lab], dict[str, Any]], str, tuple[str, ...]]] = {
    "basics": (basics_frames.context, "basics/page_panels.html",
               ("basics/partials/network.html", "basics/partials/beliefs.html")),
    "zookeeper": (zookeeper_frames.context, "zookeeper/page_panels.html", ZOOKEEPER_FRAGMENTS),
    "kafka": (kafka_frames.context, "kafka/page_panels.html", KAFKA_FRAGMENTS),
}


def lab_context(lab: Lab) -> dict[str, Any]:
    build, page_panels, _ = KINDS[lab.scenario.kind]
    return {
        "lab": lab,
        "scenario": lab.scenario,
        "status": {
            "playing": lab.playing,
            "speed": lab.speed,
            "now_s": lab.now / 1000,
            "horizon_s": lab.horizon / 1000,
            "now_ms": lab.now,
            "start_ms": lab.start,
            "horizon_ms": lab.horizon,
            "rewound": lab.rewound,
            "behind": lab.behind,
            "pace": lab.pace,
            "job": lab.job.describe() if lab.job else "",
            "job_done": round(lab.job.progress(lab.now) * 100) if lab.job else 0,
        },
        "speeds": SPEEDS,
        "page_panels": page_panels,
        **build(lab),
    }


def page_context(lab: Lab) -> dict[str, Any]:
    return {**lab_context(lab), "oob": False}


def render_frame(lab: Lab) -> list[str]:
    """The lab's fragments, each an out-of-band swap, in a fixed order (the engine
    sends only those that changed since the previous frame)."""
    context = {**lab_context(lab), "oob": True}
    templates = ("labs/partials/status.html", *KINDS[lab.scenario.kind][2], "labs/partials/timeline.html")
    return [render_to_string(template, context) for template in templates]
