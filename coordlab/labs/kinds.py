"""What a lab kind (network basics, ZooKeeper, Kafka…) tells the platform about itself.

Each kind declares one ``LabKind`` in its ``kind.py`` and registers it from its
app's ``ready()`` (``coordlab.labs.registry.register``). The platform never
names a kind: the catalog, the lab page, the frames, the command parser, the
terminal socket and the contract tests all iterate over the registered kinds.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from coordlab.sim import Simulation

from .commands import Command, Parser
from .scenario import Scenario

if TYPE_CHECKING:
    from .lab import Lab

class TemplateObject(Protocol):
    """A template a kind compiled itself (``django.template.engines["django"].from_string``)."""

    def render(self, context: dict[str, Any] | None = ..., request: Any = ...) -> str: ...


#: a template's name (found in the templates directory), or a template object
Template = str | TemplateObject

#: an action's check: the simulation now and the sender's fields → (what to log, a sentence for the sender);
#: raises ``CommandError`` (and changes nothing) if the action cannot be done
Check = Callable[[Simulation, dict[str, Any]], tuple[dict[str, Any], str]]
#: an action's apply: carry out what its check logged, live and again when the lab replays its history
Apply = Callable[[Simulation, dict[str, Any]], None]


JOINS, LEAVES, VANISHES = "joins", "leaves", "vanishes"


@dataclass(frozen=True)
class Action:
    """One of a kind's own operations, sent as ``{"command": "act", "op": <name>, ...fields}``.

    ``terminal``: a terminal client (``manage.py kafka_produce``) may use it. ``member``: what
    it does to the client machine its ``member`` field names, if anything (``JOINS``,
    ``LEAVES``, or ``VANISHES``: gone without a goodbye). A terminal may only end the members it
    joined itself, and those it has not ended when its connection drops vanish."""

    check: Check
    apply: Apply
    terminal: bool = False
    member: str = ""

    @property
    def ends_member(self) -> bool:
        return self.member in (LEAVES, VANISHES)


@dataclass(frozen=True)
class KindCommand:
    """A command of a kind's own with its own fields, such as ZooKeeper's console
    (``{"command": "console", "op": "create", "path": "/app", ...}``). ``fields`` parse and
    bound each argument before anything else sees it (those with ``defaults`` are optional);
    then ``check`` and ``apply`` work as an ``Action``'s, on the parsed arguments."""

    fields: Mapping[str, Parser]
    check: Check
    apply: Apply
    defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Parts:
    """The items of a fragment that frames update one at a time (a topic's partitions): in a
    frame the fragment draws each item as an empty shell (an element with its id and
    ``data-shell``, which the page keeps as it is), and each item is a part of its own, rendered
    from ``template`` with the item as ``name`` and sent only when it changed."""

    template: Template
    name: str
    items: Callable[[dict[str, Any]], list[Any]]


@dataclass(frozen=True)
class LabAccess:
    """What a kind's endpoints may do with a lab this process runs: look at it as it is now (None once
    it is gone), send it a command as a viewer's would go, and count an outside client as watching
    it while connected (its clock runs then), with ``watch`` and ``unwatch`` in pairs."""

    lab: Callable[[], Lab | None]
    execute: Callable[[Command], Awaitable[str]]
    watch: Callable[[], None]
    unwatch: Callable[[], None]


@dataclass(frozen=True)
class Endpoints:
    """Ports (or other doors to the outside) a lab of a kind holds while this process runs it."""

    open: Callable[[str, LabAccess], Awaitable[None]]
    close: Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class LabKind:
    """Everything the platform needs from a kind of lab.

    - ``slug`` is what its scenarios name as their ``kind``; ``heading`` and ``position``
      place its section in the catalog (lower first).
    - ``context(lab)`` is what its templates show, read from the simulation.
    - ``panels`` is the template of its page's panels; ``fragments`` are the templates
      (each one element with a fixed id) that frames update, in page order, each rendered
      again only when a value it reads changed; ``parts`` splits a fragment into items.
    - ``actions`` and ``commands`` are what a viewer may do besides the platform's controls.
    - ``safety(sim)`` lists what is wrong right now, as sentences (empty: every promise the
      kind makes holds); the page's safety badge and the tests read it.
    - ``terminal_machine`` matches the names terminal clients give their machines.
    - ``endpoints`` is what a lab of the kind opens to the outside while this process runs it
      (a Kafka lab: a port per broker, for real clients): ``open(lab_id, access)`` when the lab
      starts or is loaded here (``LabAccess``), ``close(lab_id)`` when it is closed or put away.
    """

    slug: str
    heading: str
    position: int
    scenarios: tuple[Scenario, ...]
    context: Callable[[Lab], dict[str, Any]]
    panels: Template
    fragments: tuple[Template, ...]
    safety: Callable[[Simulation], list[str]]
    parts: Mapping[Template, Parts] = field(default_factory=dict)
    actions: Mapping[str, Action] = field(default_factory=dict)
    commands: Mapping[str, KindCommand] = field(default_factory=dict)
    terminal_machine: re.Pattern[str] | None = None
    endpoints: Endpoints | None = None

    def terminal_ops(self) -> tuple[str, ...]:
        return tuple(op for op, action in self.actions.items() if action.terminal)

    def vanishing_op(self) -> str | None:
        """The action that drops a terminal's member without a goodbye (when its connection drops)."""
        return next((op for op, action in self.actions.items() if action.member == VANISHES), None)
