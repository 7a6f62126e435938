"""The commands that change a lab's simulation (kill a machine, cut a link, a kind's own
actions…), each a check and an apply declared together.

``check(lab, args)`` looks at the lab as it is now and returns what to log and a
sentence for the sender, or raises ``CommandError`` with nothing changed.
``apply(sim, scenario, logged)`` carries out a logged command: live, and again
whenever the lab replays its history (a rewind, a restore), so it must depend
on nothing but the simulation, the scenario and what was logged. The lab's own
controls (play, pause, speed, step, forward, seek, reset) move its clock and
are the ``Lab``'s methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from coordlab.sim import Simulation

from . import registry
from .commands import CommandError
from .scenario import Scenario

if TYPE_CHECKING:
    from .lab import Lab

Logged = dict[str, Any]


@dataclass(frozen=True)
class Change:
    check: Callable[[Lab, dict[str, Any]], tuple[Logged, str]]
    apply: Callable[[Simulation, Scenario, Logged], None]


def require_machine(sim: Simulation, name: str, alive: bool) -> None:
    node = sim.nodes.get(name)
    if node is None:
        known = ", ".join(sim.nodes)
        raise CommandError(f"There is no machine '{name}' in this lab (machines: {known}).")
    if alive and not node.alive:
        raise CommandError(f"{name} is already down.")
    if not alive and node.alive:
        raise CommandError(f"{name} is already running.")


def require_link(sim: Simulation, a: str, b: str) -> None:
    for name in (a, b):
        if name not in sim.nodes:
            raise CommandError(f"There is no machine '{name}' in this lab.")
    if a == b:
        raise CommandError("A link joins two different machines.")


def check_crash(lab: Lab, args: dict[str, Any]) -> tuple[Logged, str]:
    require_machine(lab.sim, args["node"], alive=True)
    return {"node": args["node"]}, f"Killed {args['node']}. Its connections closed at once."


def check_power_off(lab: Lab, args: dict[str, Any]) -> tuple[Logged, str]:
    require_machine(lab.sim, args["node"], alive=True)
    return {"node": args["node"]}, f"Powered {args['node']} off. It fell silent: only timeouts will tell."


def check_restart(lab: Lab, args: dict[str, Any]) -> tuple[Logged, str]:
    require_machine(lab.sim, args["node"], alive=False)
    return {"node": args["node"]}, f"Restarted {args['node']}."


def check_cut(lab: Lab, args: dict[str, Any]) -> tuple[Logged, str]:
    a, b, both_ways = args["a"], args["b"], args["both_ways"]
    require_link(lab.sim, a, b)
    if lab.sim.network.is_cut(a, b) and (not both_ways or lab.sim.network.is_cut(b, a)):
        raise CommandError(f"The link {a} → {b} is already cut.")
    return ({"a": a, "b": b, "both_ways": both_ways},
            f"Cut the link between {a} and {b}." if both_ways else f"Cut the link from {a} to {b} (one way).")


def check_restore(lab: Lab, args: dict[str, Any]) -> tuple[Logged, str]:
    a, b = args["a"], args["b"]
    require_link(lab.sim, a, b)
    return {"a": a, "b": b, "both_ways": args["both_ways"]}, f"Restored the link between {a} and {b}."


def check_partition(lab: Lab, args: dict[str, Any]) -> tuple[Logged, str]:
    found = lab.scenario.preset(args["preset"])
    if found is None:
        raise CommandError(f"Unknown partition preset '{args['preset']}'.")
    groups = found.resolve(lab.sim)
    if len(groups) < 2:
        raise CommandError(f"“{found.label}” does not apply right now.")
    return {"groups": groups}, f"{found.label}."


def check_toggle(lab: Lab, args: dict[str, Any]) -> tuple[Logged, str]:
    found = lab.scenario.toggle(args["name"])
    if found is None:
        raise CommandError(f"Unknown switch '{args['name']}'.")
    return {"name": args["name"], "on": args["on"]}, f"{found.label}: {'on' if args['on'] else 'off'}."


def apply_toggle(sim: Simulation, scenario: Scenario, logged: Logged) -> None:
    toggle = scenario.toggle(logged["name"])
    assert toggle is not None, f"a logged switch {logged['name']!r} the scenario does not have"
    toggle.apply(sim, logged["on"])


def check_act(lab: Lab, args: dict[str, Any]) -> tuple[Logged, str]:
    actions = registry.kind_of(lab.scenario).actions
    if not actions:
        raise CommandError("This lab has no actions of its own.")
    op = args["op"]
    if op not in actions:
        raise CommandError(f"Unknown action '{op}' (try: {', '.join(actions)}).")
    logged, message = actions[op].check(lab.sim, args["fields"])
    return {"op": op, **logged}, message


def apply_act(sim: Simulation, scenario: Scenario, logged: Logged) -> None:
    registry.kind_of(scenario).actions[logged["op"]].apply(sim, logged)


def refuse_note(lab: Lab, args: dict[str, Any]) -> tuple[Logged, str]:
    raise CommandError("A note is written by the lab itself.")


CHANGES: dict[str, Change] = {
    "crash": Change(check_crash, lambda sim, _, c: sim.crash(c["node"])),
    "power_off": Change(check_power_off, lambda sim, _, c: sim.power_off(c["node"])),
    "restart": Change(check_restart, lambda sim, _, c: sim.restart(c["node"])),
    "cut": Change(check_cut, lambda sim, _, c: sim.cut(c["a"], c["b"], c["both_ways"])),
    "restore": Change(check_restore, lambda sim, _, c: sim.restore_link(c["a"], c["b"], c["both_ways"])),
    "partition": Change(check_partition, lambda sim, _, c: sim.partition(c["groups"])),
    "heal": Change(lambda lab, _: ({}, "Healed the network."), lambda sim, _, c: sim.heal()),
    "toggle": Change(check_toggle, apply_toggle),
    "act": Change(check_act, apply_act),
    # what a viewer did, said in the timeline (written by the lab, never sent by a viewer)
    "note": Change(refuse_note, lambda sim, _, c: sim.trace("lab", "note", c["text"])),
}


def change(name: str, scenario: Scenario) -> Change | None:
    """The change a command of that name makes in a lab of ``scenario`` (None if it makes none:
    a clock control, or another kind's command)."""
    found = CHANGES.get(name)
    if found is not None:
        return found
    own = registry.kind_of(scenario).commands.get(name)
    if own is None:
        return None
    return Change(lambda lab, args: own.check(lab.sim, args), lambda sim, _, logged: own.apply(sim, logged))


def apply_to_simulation(sim: Simulation, command: dict[str, Any], scenario: Scenario) -> None:
    """Apply one logged command to a simulation (live, and again on replay)."""
    name = command["command"]
    found = change(name, scenario)
    if found is None:
        raise ValueError(f"not a simulation command: {name}")
    found.apply(sim, scenario, {k: v for k, v in command.items() if k != "command"})
