"""Guided steps on any lab: Next does a step and pauses at its moment, Back rewinds to before it,
and where the guide stands is part of the lab (saved, copied, reset, refused commands change nothing)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from coordlab.labs.commands import CommandError, from_data
from coordlab.labs.guide import Step
from coordlab.labs.lab import Lab
from coordlab.labs.registry import get
from zookeeper_app.guides import masters

TICK_MS = 50.0


def do(lab: Lab, by: str = "", **command) -> str:
    return lab.apply(from_data(command), by=by)


def play_to_moment(lab: Lab, limit_ms: int = 60_000) -> None:
    for _ in range(int(limit_ms / TICK_MS)):
        if lab.tour.running is None:
            return
        lab.advance(TICK_MS)
    raise AssertionError("the step's moment never came")


def master_election() -> Lab:
    lab = Lab("guide", get("master-election"), 1)
    do(lab, command="next")
    play_to_moment(lab)  # step 1: a master, known to every app server
    return lab


def test_next_plays_to_the_moment_and_pauses_exactly_there():
    lab = master_election()
    step = lab.scenario.guide[0]
    assert step.moment is not None and step.moment(lab.sim) and not lab.playing and lab.tour.at == 1
    # the moment came with the lab's latest event, not at the end of a tick: one event earlier it had not
    before = Lab("guide", get("master-election"), 1)
    before.sim.run_to(lab.now, lab.sim.processed - 1)
    assert not step.moment(before.sim)
    assert "Step 1 of 5: every app server knows the master" in lab.sim.trace_log.events[-1].text


def test_next_while_a_step_plays_is_refused_and_changes_nothing():
    lab = master_election()
    said = do(lab, command="next", by="Ada")
    assert lab.tour.running == 1 and said.startswith("Step 2 of 5, “Kill the master's ZooKeeper server”.")
    assert lab.sim.trace_log.events[-1].text.startswith("Ada: Step 2 of 5")
    version, log = lab.version, len(lab.log)
    with pytest.raises(CommandError, match="still playing until the master's session moves"):
        do(lab, command="next")
    assert (lab.version, len(lab.log), lab.tour.running) == (version, log, 1)


def test_pause_stops_playing_to_the_moment_and_next_goes_on_without_doing_the_action_twice():
    lab = master_election()
    do(lab, command="next")  # kills the master's server
    killed = [n for n in lab.sim.nodes.values() if not n.alive]
    for _ in range(8):  # the master reconnects to another server meanwhile: its server now is alive
        lab.advance(TICK_MS)
    do(lab, command="pause")
    assert lab.tour.running is None and lab.tour.at == 1 and not lab.playing
    said = do(lab, command="next")
    assert "Going on from where it was paused" in said and lab.tour.running == 1
    play_to_moment(lab)
    assert [n.name for n in lab.sim.nodes.values() if not n.alive] == [n.name for n in killed]
    assert lab.tour.at == 2


def test_back_rewinds_to_just_before_the_step_and_next_does_it_again_on_a_new_branch():
    lab = master_election()
    began = (lab.now, lab.sim.processed)
    do(lab, command="next")
    play_to_moment(lab)
    server = next(n.name for n in lab.sim.nodes.values() if not n.alive)
    said = do(lab, command="back")
    assert said.startswith("Back to step 2, “Kill the master's ZooKeeper server”")
    assert lab.rewound and (lab.now, lab.sim.processed) == began and lab.tour.at == 1 and lab.tour.running is None
    assert lab.sim.nodes[server].alive, "the lab as it was before the step's kill"
    do(lab, command="next")
    assert not lab.rewound and not lab.sim.nodes[server].alive
    play_to_moment(lab)
    assert lab.tour.at == 2 and [m.name for m in masters(lab.sim)] == ["M1"]


def test_back_at_the_first_step_and_next_after_the_last_are_refused():
    lab = Lab("guide", get("naive-tracker"), 1)
    with pytest.raises(CommandError, match="first step"):
        do(lab, command="back")
    for _ in lab.scenario.guide:
        do(lab, command="next")
        play_to_moment(lab)
    with pytest.raises(CommandError, match="last step"):
        do(lab, command="next")


def test_a_moment_that_does_not_come_pauses_the_lab_once_the_step_waited_long_enough():
    scenario = replace(get("naive-tracker"), guide=(
        Step("Wait for nothing", "Nothing happens.", moment=lambda sim: False, waits_for="pigs fly", within_ms=2000),))
    lab = Lab("guide", scenario, 1)
    do(lab, command="next")
    play_to_moment(lab, 3000)
    assert not lab.playing and lab.tour.at == 0 and 2000 <= lab.now < 2000 + TICK_MS
    assert "pigs fly did not happen within 2 s" in lab.sim.trace_log.events[-1].text


def test_the_guide_is_saved_with_the_lab_copied_with_a_fork_and_reset_with_it():
    lab = master_election()
    do(lab, command="next")
    restored = Lab.from_state("copy", lab.scenario, lab.state())
    assert restored.tour == lab.tour and restored.tour.running == 1
    play_to_moment(restored)
    assert restored.tour.at == 2
    fork = lab.fork("fork")
    assert fork.tour == lab.tour and fork.tour is not lab.tour
    do(lab, command="reset")
    assert lab.tour.at == 0 and lab.tour.running is None and lab.tour.began == []


def test_a_lab_without_steps_refuses_next():
    scenario = replace(get("naive-tracker"), guide=())
    with pytest.raises(CommandError, match="no guided steps"):
        do(Lab("guide", scenario, 1), command="next")
