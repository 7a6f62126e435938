"""The Kafka lab kind: its scenarios, page, frames, safety monitor and actions, as the
platform sees them."""

from __future__ import annotations

from coordlab.labs.kinds import Endpoints, LabKind, Parts

from . import frames
from .actions import ACTIONS, TERMINAL_NAME
from .scenarios import SCENARIOS
from .wire import listeners

KIND = LabKind(
    slug="kafka", heading="Kafka: asynchronous work", position=30, scenarios=SCENARIOS,
    context=frames.context, panels="kafka/page_panels.html",
    fragments=("labs/partials/toggles.html", "kafka/partials/cluster.html", "kafka/partials/zookeeper.html",
               "kafka/partials/safety.html", "kafka/partials/topics.html", "kafka/partials/producers.html",
               "kafka/partials/groups.html", "kafka/partials/lists.html"),
    parts={"kafka/partials/topics.html": Parts("kafka/partials/partition.html", "p", frames.partitions)},
    safety=frames.violations, actions=ACTIONS, terminal_machine=TERMINAL_NAME,
    endpoints=Endpoints(listeners.open_lab, listeners.close_lab))
