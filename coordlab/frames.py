"""Frames: a lab's state rendered as HTML fragments with stable ids.

The page view and the WebSocket push use the same partials; in a frame each
fragment carries ``hx-swap-oob`` so htmx swaps it into place. What a kind's page
shows and which fragments its frames update is its ``LabKind``'s; the status bar,
the switches and the timeline are every lab's. Rendering only reads the lab.
"""

from __future__ import annotations

import re
import weakref
from functools import cache
from typing import Any

from django.template import Context
from django.template.backends.django import Template as DjangoTemplate
from django.template.loader import get_template

from coordlab.labs import registry
from coordlab.labs.commands import SPEEDS
from coordlab.labs.kinds import Template
from coordlab.labs.lab import Lab
from coordlab.picture import flights_fragment


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
            "pace": round(lab.pace, 2),  # (a measured rate: more digits would only make frames churn)
            "job": lab.job.describe() if lab.job else "",
            "job_done": round(lab.job.progress(lab.now) * 100) if lab.job else 0,
        },
        "speeds": SPEEDS,
        "page_panels": kind.panels,
        "toggles": [{"slug": t.slug, "label": t.label, "on": t.is_on(lab.sim)} for t in lab.scenario.toggles],
        "guide": lab.guide(),
        **kind.context(lab),
    }


def page_context(lab: Lab) -> dict[str, Any]:
    context = {**lab_context(lab), "oob": False}
    return {**context, "flights_now": flights_fragment(context.get("flights", []), oob=False)}


#: names in a template's tags and variables, and the templates it includes by name
NAMES = re.compile(r"{[{%]\s*(?:(?:if|elif|for|with|include)\s+)?(.*?)\s*[%}]}", re.S)
IDENTIFIER = re.compile(r"(?<![.\w'\"|:])([A-Za-z_]\w*)")
INCLUDED = re.compile(r"""{%\s*include\s+["']([^"']+)["']""")
#: what each lab's viewers were last sent, per fragment: the values it showed and its HTML
_shown: weakref.WeakKeyDictionary[Lab, dict[Any, tuple[tuple[Any, ...], str]]] = weakref.WeakKeyDictionary()


@cache
def template_names(template: Template) -> tuple[str, ...]:
    """Every name a template (and what it includes by name) may read from its context: an
    over-estimate, which only costs a render that was not needed."""
    found: set[str] = set()
    pending, seen = [template], set()
    while pending:
        current = pending.pop()
        source = template_source(current)
        for tag in NAMES.findall(source):
            found.update(IDENTIFIER.findall(tag))
        for name in INCLUDED.findall(source):
            if name not in seen:
                seen.add(name)
                pending.append(name)
    return tuple(sorted(found))


def template_source(template: Template) -> str:
    """A template's text, given by name or as a template object (of either engine)."""
    found = getattr(loaded(template) if isinstance(template, str) else template, "template", None) or template
    source = getattr(found, "source", None)
    if source is None:  # a Jinja2 template keeps the file it came from, not its text
        with open(found.filename, encoding="utf-8") as file:  # type: ignore[union-attr]
            source = file.read()
    return str(source)


def render_changed(lab: Lab, template: Template, context: dict[str, Any], slot: int = -1) -> str:
    """The fragment's HTML (or its item's, at ``slot``), rendered again only if a value it reads
    changed since the last frame."""
    key = tuple(context.get(name) for name in template_names(template))
    shown = _shown.setdefault(lab, {})
    previous = shown.get((template, slot))
    if previous is not None and previous[0] == key:
        return previous[1]
    html = render(template, context)
    shown[(template, slot)] = (key, html)
    return html


def render_frame(lab: Lab) -> list[str]:
    """The lab's fragments, each an out-of-band swap, in a fixed order (the engine
    sends only those that changed since the previous frame). The second is the list of
    messages in flight, which the page animates itself: pictures do not draw them in frames."""
    context = {**lab_context(lab), "oob": True}
    kind = registry.kind_of(lab.scenario)
    frame = [render_changed(lab, "labs/partials/status.html", context), flights_fragment(context.get("flights", []))]
    for template in kind.fragments:
        frame.append(render_changed(lab, template, context))
        parts = kind.parts.get(template)
        for index, item in enumerate(parts.items(context) if parts else ()):
            assert parts is not None
            frame.append(render_changed(lab, parts.template, {parts.name: item, "oob": True}, slot=index))
    frame.append(render_changed(lab, "labs/partials/guide.html", context))
    frame.append(render_changed(lab, "labs/partials/presenter_step.html", context))
    frame.append(render_changed(lab, "labs/partials/timeline.html", context))
    return frame


@cache
def loaded(name: str) -> Any:
    """A template by name, looked up once per process: frames render fragments hundreds of times
    a second, and the loaders' lookup was a tenth of a render (the server does not reload edited
    templates anyway)."""
    return get_template(name)


def render(template: Template, context: dict[str, Any]) -> str:
    """A template given by name (of either engine: ``coordlab.jinja``), or a template object a
    kind made itself. Django's numbers are not localized (the labs show them as Python writes
    them; localizing each one was a fifth of a frame's cost)."""
    found = loaded(template) if isinstance(template, str) else template
    if isinstance(found, DjangoTemplate):
        return str(found.template.render(Context(context, autoescape=True, use_l10n=False)))
    return str(found.render(context))
