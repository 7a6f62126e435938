"""What a scenario is: a named, seeded way to build a simulation, with the
words and presets its page shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from coordlab.sim import Simulation


@dataclass(frozen=True)
class Preset:
    """A one-click network partition, e.g. "split 2 | 2"."""

    slug: str
    label: str
    groups: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Scenario:
    """A built-in lab: ``build(seed)`` returns its simulation at time zero."""

    slug: str
    title: str
    promise: str
    kind: str
    build: Callable[[int], Simulation]
    explain: tuple[str, ...]
    simplification: str
    presets: tuple[Preset, ...] = field(default=())
    seed: int = 1

    def preset(self, slug: str) -> Preset | None:
        return next((p for p in self.presets if p.slug == slug), None)
