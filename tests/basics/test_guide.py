"""Network basics' guided steps: Next through every step at speed 1, for the scenario's seed and
another; each step's moment must come in time, the lab pausing there, with the beliefs its
words promise."""

from __future__ import annotations

import pytest

from coordlab.basics.model import ALIVE, SUSPECTED, HeartbeatMachine
from coordlab.basics.scenarios import MACHINES, SCENARIOS
from coordlab.labs.commands import from_data
from coordlab.labs.lab import Lab
from tests.guide_steps import next_step

SCENARIO = SCENARIOS[0]


def views(lab: Lab) -> dict[str, dict[str, str]]:
    """What each running machine believes about its peers."""
    seen = {}
    for name in MACHINES:
        node = lab.sim.nodes[name]
        assert isinstance(node, HeartbeatMachine)
        if node.alive:
            seen[name] = dict(node.view)
    return seen


def test_the_guide_replaces_the_try_paragraphs():
    assert 2 <= len(SCENARIO.guide) <= 5
    assert not any(p.startswith("Try") for p in SCENARIO.explain)
    assert all(len(step.title) <= 40 and step.waits_for for step in SCENARIO.guide)


@pytest.mark.parametrize("seed", [None, 7])
def test_every_step_reaches_its_moment_and_shows_what_it_says(seed):
    lab = Lab("t", SCENARIO) if seed is None else Lab("t", SCENARIO, seed=seed)
    took = next_step(lab)
    seen = views(lab)
    assert "m3" not in seen and all(view["m3"] == SUSPECTED for view in seen.values())
    assert 3_000 <= took <= 4_500  # the 3 s timeout, and at most one heartbeat and a check more
    next_step(lab)
    assert all(state == ALIVE for view in views(lab).values() for state in view.values())
    assert len(views(lab)) == 4
    next_step(lab)
    seen = views(lab)
    for a, b in (("m1", "m3"), ("m1", "m4"), ("m2", "m3"), ("m2", "m4")):
        assert seen[a][b] == SUSPECTED and seen[b][a] == SUSPECTED
    assert seen["m1"]["m2"] == seen["m2"]["m1"] == seen["m3"]["m4"] == seen["m4"]["m3"] == ALIVE
    next_step(lab)
    assert all(state == ALIVE for view in views(lab).values() for state in view.values())
    next_step(lab)
    seen = views(lab)
    assert seen["m2"]["m1"] == SUSPECTED and seen["m1"]["m2"] == ALIVE
    assert lab.tour.at == len(SCENARIO.guide)


def test_back_shows_a_step_again_and_next_plays_it_the_same_way():
    lab = Lab("t", SCENARIO)
    next_step(lab)
    took = next_step(lab)
    at = lab.now
    lab.apply(from_data({"command": "back"}))
    assert lab.tour.at == 1 and lab.now < at
    assert next_step(lab) == took and lab.now == at
