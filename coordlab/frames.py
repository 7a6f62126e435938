"""Frames: a lab's state rendered as HTML fragments with stable ids.

The page view and the WebSocket push use the same partials; in a frame each
fragment carries ``hx-swap-oob`` so htmx swaps it into place. What a kind's page
shows and which fragments its frames update is its ``LabKind``'s; the status bar,
the switches and the timeline are every lab's. Rendering only reads the lab.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from coordlab.labs import registry
from coordlab.labs.commands import SPEEDS
from coordlab.labs.kinds import Template
from coordlab.labs.lab import Lab


def lab_context(lab: Lab) -> dict[str, Any]:
    kind = registry.kind_of(lab.scenario)
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
        "page_panels": kind.panels,
        "toggles": [{"slug": t.slug, "label": t.label, "on": t.is_on(lab.sim)} for t in lab.scenario.toggles],
        **kind.context(lab),
    }


def page_context(lab: Lab) -> dict[str, Any]:
    return {**lab_context(lab), "oob": False}


def render_frame(lab: Lab) -> list[str]:
    """The lab's fragments, each an out-of-band swap, in a fixed order (the engine
    sends only those that changed since the previous frame)."""
    context = {**lab_context(lab), "oob": True}
    templates = ("labs/partials/status.html", *registry.kind_of(lab.scenario).fragments, "labs/partials/timeline.html")
    return [render(template, context) for template in templates]


def render(template: Template, context: dict[str, Any]) -> str:
    """A template given by name, or a template object a kind made itself."""
    return render_to_string(template, context) if isinstance(template, str) else str(template.render(context))
