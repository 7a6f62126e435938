"""What a scenario is: a named, seeded way to build a simulation, with the
words and presets its page shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from coordlab.sim import Simulation

from .guide import Step

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
class Scenario:
    """A built-in lab of the registered kind ``kind``: ``build(seed)`` returns its simulation at
    time zero. What a viewer may do besides the platform's controls is the kind's (``LabKind``)."""

    slug: str
    title: str
    promise: str
    kind: str
    build: Callable[[int], Simulation]
    explain: tuple[str, ...]
    simplification: str
    presets: tuple[Preset, ...] = field(default=())
    toggles: tuple[Toggle, ...] = field(default=())
    seed: int = 1
    #: what presenter mode keeps on one screen, by element id: the picture, the safety badge and
    #: the one figure the scenario is about (the picture again if that figure is in it)
    presenter: tuple[str, str, str] = ("", "", "")
    #: the explain panel's guided steps (``coordlab.labs.guide``), after its ``explain`` paragraphs
    guide: tuple[Step, ...] = field(default=())

    def preset(self, slug: str) -> Preset | None:
        return next((p for p in self.presets if p.slug == slug), None)

    def toggle(self, slug: str) -> Toggle | None:
        return next((t for t in self.toggles if t.slug == slug), None)
