"""What a scenario is: a named, seeded way to build a simulation, with the
words and presets its page shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from coordlab.sim import Simulation

Groups = list[list[str]]


@dataclass(frozen=True)
class Preset:
    """A one-click network partition, e.g. "split 2 | 2". ``groups`` is fixed,
    or a function of the simulation ("isolate the leader")."""

    slug: str
    label: str
    groups: tuple[tuple[str, ...], ...] | Callable[[Simulation], Groups]

    def resolve(self, sim: Simulation) -> Groups:
        if callable(self.groups):
            return self.groups(sim)
        return [list(group) for group in self.groups]


@dataclass(frozen=True)
class Toggle:
    """A labelled switch of the simulated system, e.g. the unsafe half-quorum rule."""

    slug: str
    label: str
    apply: Callable[[Simulation, bool], None]
    is_on: Callable[[Simulation], bool]


@dataclass(frozen=True)
class Actions:
    """A lab kind's own commands (publish a record, add a consumer…), sent as
    ``{"command": "act", "op": …}``. ``check(sim, op, fields)`` validates one
    against the simulation now and returns its logged form and a sentence for
    the sender, or raises ``CommandError``; ``apply(sim, logged)`` carries out a
    logged one, live and again on replay."""

    check: Callable[[Simulation, str, dict[str, Any]], tuple[dict[str, Any], str]]
    apply: Callable[[Simulation, dict[str, Any]], None]


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
    toggles: tuple[Toggle, ...] = field(default=())
    console: Callable[[Simulation, dict[str, Any]], None] | None = None
    console_ops: tuple[str, ...] = ()
    actions: Actions | None = None
    seed: int = 1

    def preset(self, slug: str) -> Preset | None:
        return next((p for p in self.presets if p.slug == slug), None)

    def toggle(self, slug: str) -> Toggle | None:
        return next((t for t in self.toggles if t.slug == slug), None)
