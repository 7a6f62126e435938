"""Every built-in scenario, found in the modules that define them."""

from __future__ import annotations

import importlib
from functools import cache

from .scenario import Scenario

#: Modules that expose ``SCENARIOS``, a tuple of ``Scenario``. Later lab kinds
#: add their module here.
SCENARIO_MODULES = ("coordlab.basics.scenarios", "zookeeper_app.scenarios", "kafka_app.scenarios")


@cache
def scenarios() -> dict[str, Scenario]:
    """All scenarios by slug, in catalog order."""
    found: dict[str, Scenario] = {}
    for module_name in SCENARIO_MODULES:
        for scenario in importlib.import_module(module_name).SCENARIOS:
            if scenario.slug in found:
                raise ValueError(f"two scenarios use the slug {scenario.slug!r}")
            found[scenario.slug] = scenario
    return found


def get(slug: str) -> Scenario | None:
    return scenarios().get(slug)
