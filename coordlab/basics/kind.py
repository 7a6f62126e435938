"""Network basics as a lab kind: heartbeats, timeouts and what a failure detector can and
cannot know."""

from __future__ import annotations

from coordlab.labs.kinds import LabKind

from . import frames
from .checks import completeness
from .scenarios import SCENARIOS

KIND = LabKind(
    slug="basics", heading="Networks and failures", position=10, scenarios=SCENARIOS,
    context=frames.context, panels="basics/page_panels.html",
    fragments=("basics/partials/network.html", "basics/partials/beliefs.html"),
    safety=completeness)
