"""The contract every lab kind keeps, as tests a kind gets by registering.

``KindContract`` holds the tests; a subclass names the kinds it checks (every
registered kind by default), and each test runs once per scenario of those kinds:

- the same commands give the same trace under two different ``PYTHONHASHSEED``s;
- a snapshot taken with messages in flight restores to the same state and future;
- a fork equals its source, and goes on as its source does;
- rewinding and replaying give the same state;
- every bad command of the kind is refused with nothing changed;
- the page renders, every fragment a frame declares is an element of the page, and
  every panel of the page that can be swapped by a frame is one the frames update.

Run as ``python -m tests.lab_contract [module …]`` it registers each module's
``KIND`` (a kind a test module declares), and prints one fingerprint per scenario of
every registered kind's scripted run, for the hash-seed test to compare from outside.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from coordlab.frames import INCLUDED, page_context, render_frame, template_source
from coordlab.labs import registry
from coordlab.labs.commands import CommandError, from_data
from coordlab.labs.kinds import LabKind
from coordlab.labs.lab import Lab
from coordlab.labs.scenario import Scenario
from coordlab.sim import Simulation

ROOT = Path(__file__).resolve().parents[1]
SEED = 5
STEP_MS = 50
#: what a nonsense field holds, tried in order until the command's own parser accepts one
NONSENSE = ("explode", "/no/such/thing", "no-such-thing", "-7", "true", "")
#: what every lab's frame carries besides its kind's fragments: the messages in flight, the status bar,
#: the guided steps (on the kind's page, in its explain panel), presenter mode's line for the current
#: step (on the lab's page, outside the kind's panels) and the timeline
PLATFORM_PARTS = 5
ROOT_ID = re.compile(r"""^\s*<[a-z]+[^>]*?\sid="([^"]+)\"""")


def advance(lab: Lab, ms: int) -> None:
    """Play ``ms`` of virtual time at 1x, in the engine's tick sizes."""
    end = lab.now + ms
    while lab.now < end:
        lab.advance(min(STEP_MS, end - lab.now))


def scripted(scenario: Scenario) -> Lab:
    """The kind-blind script every scenario runs: play, kill a machine, play, restart it, play."""
    lab = Lab("contract", scenario, SEED)
    advance(lab, 4_000)
    victim = next(name for name, node in lab.sim.nodes.items() if node.alive)
    lab.apply(from_data({"command": "crash", "node": victim}))
    advance(lab, 3_000)
    lab.apply(from_data({"command": "restart", "node": victim}))
    advance(lab, 3_000)
    return lab


def fingerprint(lab: Lab) -> str:
    return f"{lab.scenario.slug} {lab.sim.trace_log.digest} {lab.sim.trace_log.count} {hash_of(lab.sim.snapshot())}"


def hash_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def state_of(lab: Lab) -> tuple[Any, ...]:
    """What a refused command must leave as it was, short of the whole snapshot."""
    sim = lab.sim
    return (len(lab.log), lab.version, lab.now, sim.processed, len(sim.queue), sim.next_message_id,
            sim.trace_log.count, lab.playing, lab.speed, sorted(sim.nodes), [n.alive for n in sim.nodes.values()])


def with_messages_in_flight(scenario: Scenario) -> Lab:
    """A lab of the scenario played until messages are on their way (at most 20 s)."""
    lab = Lab("contract", scenario, SEED)
    advance(lab, 1_000)
    for _ in range(400):
        if lab.sim.network.in_flight:
            return lab
        advance(lab, STEP_MS)
    pytest.fail(f"{scenario.slug} sends no message in its first 20 s")


def bad_commands(kind: LabKind, sim: Simulation) -> Iterable[dict[str, Any]]:
    """Commands that parse but that a lab of the kind must refuse."""
    yield {"command": "crash", "node": "no-such-machine"}
    yield {"command": "restart", "node": next(iter(sim.nodes))}  # running already
    yield {"command": "partition", "preset": "no-such-preset"}
    yield {"command": "toggle", "name": "no-such-switch", "on": True}
    yield {"command": "act", "op": "no_such_action"}
    for op in kind.actions:
        yield {"command": "act", "op": op}  # none of its fields
    for other in registry.kinds():
        if other is not kind:
            for name in set(other.commands) - set(kind.commands):
                yield {"command": name, **{f: nonsense(p, f) for f, p in other.commands[name].fields.items()}}
    for name, command in kind.commands.items():
        yield {"command": name, **{f: nonsense(p, f) for f, p in command.fields.items()}}


def nonsense(parse: Any, field: str) -> Any:
    for value in NONSENSE:
        try:
            parse(value, field)
        except CommandError:
            continue
        return value
    return ""


def swappable_includes(template: Any) -> set[str]:
    """The templates ``template`` includes (directly or through others) that a frame could swap
    (they carry ``hx-swap-oob``)."""
    found: set[str] = set()
    pending = list(INCLUDED.findall(template_source(template)))
    while pending:
        name = pending.pop()
        if name in found:
            continue
        source = template_source(name)
        if "hx-swap-oob" in source:
            found.add(name)
        pending.extend(INCLUDED.findall(source))
    return found


def render_page_panels(lab: Lab) -> str:
    from django.template.loader import get_template

    kind = registry.kind_of(lab.scenario)
    panels = get_template(kind.panels) if isinstance(kind.panels, str) else kind.panels
    return str(panels.render(page_context(lab)))


def fingerprints_in_processes(hash_seeds: Iterable[str], modules: list[str]) -> dict[str, list[str]]:
    """The scripted runs' fingerprints from one process per hash seed (run side by side)."""
    running = {seed: subprocess.Popen([sys.executable, "-m", "tests.lab_contract", *modules], cwd=ROOT,
                                      env={**os.environ, "PYTHONHASHSEED": seed,
                                           "DJANGO_SETTINGS_MODULE": "coordlab.settings"},
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for seed in hash_seeds}
    found = {}
    for seed, process in running.items():
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        found[seed] = out.splitlines()
    return found


class KindContract:
    """Subclass it with ``kinds`` to check (every registered kind if empty) and, for a kind a
    test module registers, ``modules``: the hash-seed processes import each and register its
    ``KIND``."""

    kinds: tuple[LabKind, ...] = ()
    modules: tuple[str, ...] = ()

    @classmethod
    def checked_kinds(cls) -> list[LabKind]:
        return list(cls.kinds) or registry.kinds()

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "scenario" in metafunc.fixturenames:
            scenarios = [s for kind in self.checked_kinds() for s in kind.scenarios]
            metafunc.parametrize("scenario", scenarios, ids=[s.slug for s in scenarios])

    def test_the_same_trace_under_two_hash_seeds(self) -> None:
        scenarios = [s for kind in self.checked_kinds() for s in kind.scenarios]
        ours = [fingerprint(scripted(s)) for s in scenarios]
        for hash_seed, lines in fingerprints_in_processes(("0", "4242"), list(self.modules)).items():
            theirs = [line for line in lines if line.split(" ", 1)[0] in {s.slug for s in scenarios}]
            assert theirs == ours, f"PYTHONHASHSEED={hash_seed}"

    def test_a_snapshot_with_messages_in_flight_round_trips(self, scenario: Scenario) -> None:
        lab = with_messages_in_flight(scenario)
        snapshot = lab.sim.snapshot()
        copy = Simulation.restore(snapshot)
        assert copy.snapshot() == snapshot
        restored = Lab.from_state("copy", scenario, lab.state())
        assert restored.sim.snapshot() == snapshot
        later = lab.now + 3_000
        for sim in (lab.sim, copy, restored.sim):
            sim.run_until(later)
        assert copy.snapshot() == lab.sim.snapshot() == restored.sim.snapshot()

    def test_a_fork_equals_its_source(self, scenario: Scenario) -> None:
        lab = with_messages_in_flight(scenario)
        fork = lab.fork("fork")
        assert fork.sim.snapshot() == lab.sim.snapshot()
        assert [e.command for e in fork.log] == [e.command for e in lab.log]
        for each in (lab, fork):
            advance(each, 2_000)
        assert fork.sim.snapshot() == lab.sim.snapshot()

    def test_rewind_and_replay_give_the_same_state(self, scenario: Scenario) -> None:
        lab = scripted(scenario)
        end, state = lab.now, lab.sim.snapshot()
        back = (lab.start + end) // 2
        lab.apply(from_data({"command": "seek", "time_ms": back}))
        assert lab.now == back
        lab.apply(from_data({"command": "seek", "time_ms": end}))
        assert lab.sim.snapshot() == state

    def test_every_bad_command_is_refused_with_nothing_changed(self, scenario: Scenario) -> None:
        lab = with_messages_in_flight(scenario)
        kind = registry.kind_of(scenario)
        before, snapshot = state_of(lab), lab.sim.snapshot()
        for data in bad_commands(kind, lab.sim):
            try:
                command = from_data(data)
            except CommandError:
                continue  # refused by the parser: the lab never saw it
            with pytest.raises(CommandError):
                lab.apply(command)
            assert state_of(lab) == before, data
        assert lab.sim.snapshot() == snapshot  # (a change would not undo itself: one look at the end)

    def test_the_page_renders_and_every_fragment_updates_in_a_frame(self, scenario: Scenario) -> None:
        lab = with_messages_in_flight(scenario)
        kind = registry.kind_of(scenario)
        page = render_page_panels(lab)
        frame = render_frame(lab)
        items = sum(len(parts.items({**page_context(lab), "oob": True})) for parts in kind.parts.values())
        assert len(frame) == len(kind.fragments) + items + PLATFORM_PARTS
        for html in frame[2:-2]:
            if not html.strip():
                continue  # a panel this scenario does not have (a console in a lab without one)
            root = ROOT_ID.match(html)
            assert root, f"a fragment that is not one element with an id: {html[:80]}"
            assert "hx-swap-oob" in html.split(">", 1)[0], f"#{root.group(1)} is not swapped out of band"
            assert f'id="{root.group(1)}"' in page, f"#{root.group(1)} is not on the page"
        declared = {*kind.fragments, *(parts.template for parts in kind.parts.values())}
        undeclared = {t for t in swappable_includes(kind.panels) if isinstance(t, str)} - declared
        assert not undeclared, f"panels on the page that no frame updates: {undeclared}"
        advance(lab, 1_000)
        assert render_frame(lab), "a later frame renders too"


def main(modules: list[str]) -> None:
    import django

    django.setup()
    for module in modules:
        registry.register(importlib.import_module(module).KIND)
    for kind in registry.kinds():
        for scenario in kind.scenarios:
            print(fingerprint(scripted(scenario)))


if __name__ == "__main__":
    main(sys.argv[1:])
