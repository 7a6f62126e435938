"""The registered lab kinds and their scenarios.

An app registers its ``LabKind`` once, from its ``AppConfig.ready()``; the
platform finds everything through here and imports no app.
"""

from __future__ import annotations

from . import commands
from .kinds import LabKind
from .scenario import Scenario

_kinds: dict[str, LabKind] = {}
_scenarios: dict[str, Scenario] = {}


def register(kind: LabKind) -> None:
    """Add a lab kind, with its scenarios and commands. Registering the same kind again does
    nothing; another kind under a taken slug, or a scenario slug or command name already in
    use, is a ``ValueError``."""
    if _kinds.get(kind.slug) is kind:
        return
    if kind.slug in _kinds:
        raise ValueError(f"two lab kinds use the slug {kind.slug!r}")
    for scenario in kind.scenarios:
        if scenario.slug in _scenarios:
            raise ValueError(f"two scenarios use the slug {scenario.slug!r}")
        if scenario.kind != kind.slug:
            raise ValueError(f"scenario {scenario.slug!r} is of kind {scenario.kind!r}, not {kind.slug!r}")
    for name, command in kind.commands.items():
        commands.declare(name, command.fields, command.defaults)
    _kinds[kind.slug] = kind
    _reorder()


def unregister(slug: str) -> None:
    """Forget a kind (a test's), its scenarios and its commands."""
    kind = _kinds.pop(slug)
    for name in kind.commands:
        commands.forget(name)
    _reorder()


def _reorder() -> None:
    ordered = sorted(_kinds.values(), key=lambda k: k.position)
    _kinds.clear()
    _kinds.update((k.slug, k) for k in ordered)
    _scenarios.clear()
    _scenarios.update((s.slug, s) for k in ordered for s in k.scenarios)


def kinds() -> list[LabKind]:
    """Every registered kind, in catalog order."""
    return list(_kinds.values())


def kind(slug: str) -> LabKind:
    """The kind a scenario names (``KeyError`` if no app registered it)."""
    return _kinds[slug]


def kind_of(scenario: Scenario) -> LabKind:
    return _kinds[scenario.kind]


def scenarios() -> dict[str, Scenario]:
    """All scenarios by slug, in catalog order (kind by kind)."""
    return dict(_scenarios)


def get(slug: str) -> Scenario | None:
    return _scenarios.get(slug)
