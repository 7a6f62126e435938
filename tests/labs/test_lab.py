"""A lab: commands, the clock, rewind and branches."""

from __future__ import annotations

import re
import time
from itertools import pairwise

import pytest

from coordlab.labs import lab as lab_module
from coordlab.labs.commands import CommandError, from_data
from coordlab.labs.lab import CHECKPOINT_EVERY_MS, MAX_CHECKPOINT_EVERY_MS, Lab, freeze
from coordlab.labs.registry import get


def make_lab(seed: int = 3) -> Lab:
    return Lab("test", get("network-basics"), seed)


def do(lab: Lab, **command) -> str:
    return lab.apply(from_data(command))


def test_a_new_lab_plays_at_1x_and_advances_by_wall_time_times_speed():
    lab = make_lab()
    assert lab.playing and lab.speed == 1
    lab.advance(250)
    assert lab.now == 250
    do(lab, command="speed", speed=20)
    lab.advance(100)
    assert lab.now == 2_250
    do(lab, command="speed", speed=0.1)
    for _ in range(10):
        lab.advance(33)
    assert lab.now == 2_283  # fractions of a millisecond carry over


def test_paused_lab_does_not_move_and_step_runs_to_the_next_message():
    """Step reaches a message arriving at a machine; the timers due before it go off on the way."""
    lab = make_lab()
    do(lab, command="pause")
    assert not lab.advance(1_000) and lab.now == 0
    for _ in range(3):
        processed = lab.sim.processed
        message = do(lab, command="step")
        ran = lab.sim.processed - processed
        assert re.fullmatch(r"Stepped to \d+\.\d{3} s: a \w+ from \w+ reaches \w+"
                            r"( \(after \d+ timers? went off\))?\.", message), message
        after = re.search(r"after (\d+) timer", message)
        assert ran == 1 + (int(after.group(1)) if after else 0)
    assert lab.now > 0 and not lab.playing


def test_forward_jumps_and_keeps_checkpoints():
    lab = make_lab()
    do(lab, command="forward", seconds=30)
    assert lab.now == 30_000
    times = [c.time for c in lab.checkpoints]
    assert times[0] == 0 and len(times) >= 2
    assert all(CHECKPOINT_EVERY_MS <= b - a <= MAX_CHECKPOINT_EVERY_MS for a, b in pairwise(times))


def test_costly_checkpoints_are_taken_less_often_and_a_rewind_still_lands_exactly(monkeypatch):
    lab = make_lab()
    do(lab, command="forward", seconds=10)
    exact = lab.sim.snapshot()

    def slow_freeze(sim):
        time.sleep(0.2)  # as long as an hour of Kafka traffic takes to freeze
        return freeze(sim)

    monkeypatch.setattr(lab_module, "freeze", slow_freeze)
    do(lab, command="forward", seconds=40)
    later = [c.time for c in lab.checkpoints if c.time > 10_000]
    assert len(later) < 40_000 // CHECKPOINT_EVERY_MS
    assert all(b - a >= 10_000 for a, b in pairwise(later))
    monkeypatch.setattr(lab_module, "freeze", freeze)
    do(lab, command="seek", time_ms=10_000)
    assert lab.sim.snapshot() == exact


def test_checkpoints_are_thinned_to_their_memory_cap_keeping_the_start_and_the_latest(monkeypatch):
    monkeypatch.setattr(lab_module, "MAX_CHECKPOINT_BYTES", 40_000)
    lab = make_lab()
    do(lab, command="forward", seconds=300)
    assert sum(len(c.snapshot) for c in lab.checkpoints) <= 40_000
    assert lab.checkpoints[0].time == 0 and lab.checkpoints[-1].time >= 300_000 - MAX_CHECKPOINT_EVERY_MS
    exact = lab.sim.snapshot()
    do(lab, command="seek", time_ms=123_456)
    do(lab, command="seek", time_ms=300_000)
    assert lab.sim.snapshot() == exact


def test_a_forward_with_a_deadline_goes_on_as_a_job_and_ends_where_one_without_does():
    sliced, whole = make_lab(), make_lab()
    started = sliced.apply(from_data({"command": "forward", "seconds": 120}), deadline=0.0)
    assert started.startswith("Started jumping ahead") and sliced.job is not None
    with pytest.raises(CommandError, match="jumping ahead"):
        do(sliced, command="crash", node="m1")
    job, slices = sliced.job, 0
    while sliced.job is not None:
        sliced.advance(50, deadline=0.0)  # a deadline already passed: one slice per call
        slices += 1
    assert slices > 10 and job.result == "Jumped 120 s ahead to 120.0 s."
    do(whole, command="forward", seconds=120)
    assert sliced.sim.snapshot() == whole.sim.snapshot()


def test_a_rewind_with_a_deadline_shows_the_old_moment_until_it_is_done():
    lab = make_lab()
    do(lab, command="forward", seconds=20)
    do(lab, command="crash", node="m2")
    do(lab, command="forward", seconds=20)
    lab.apply(from_data({"command": "seek", "time_ms": 24_000}), deadline=0.0)
    assert lab.job is not None and lab.now == 40_000  # still the old moment
    assert do(lab, command="speed", speed=2) == "Speed set to 2x."  # play, pause and speed are taken meanwhile
    while lab.job is not None:
        lab.advance(50, deadline=0.0)
    assert lab.now == 24_000 and lab.rewound and not lab.sim.nodes["m2"].alive


def test_a_lab_that_cannot_keep_up_runs_slower_and_says_so(monkeypatch):
    monkeypatch.setattr(lab_module, "EVENTS_PER_SLICE", 1)
    lab = make_lab()
    do(lab, command="speed", speed=20)
    for _ in range(25):
        lab.advance(50, deadline=0.0)  # no time at all: one slice of events per tick
    assert lab.behind and lab.pace < 20 * 0.9
    assert lab.now < 25 * 50 * 20
    for _ in range(40):  # the pace is measured over a second of wall time
        lab.advance(50)
    assert not lab.behind and lab.pace == 20


@pytest.mark.parametrize(("command", "error"), [
    ({"command": "crash", "node": "m9"}, "no machine 'm9'"),
    ({"command": "restart", "node": "m1"}, "already running"),
    ({"command": "cut", "a": "m1", "b": "m1"}, "two different machines"),
    ({"command": "cut", "a": "m1", "b": "zz"}, "no machine 'zz'"),
    ({"command": "partition", "preset": "nope"}, "Unknown partition preset"),
])
def test_bad_commands_change_nothing(command, error):
    lab = make_lab()
    lab.advance(1_234)
    before, version, log = lab.sim.snapshot(), lab.version, list(lab.log)
    with pytest.raises(CommandError, match=error):
        lab.apply(from_data(command))
    assert lab.sim.snapshot() == before and lab.version == version and lab.log == log


def test_crashing_a_dead_machine_is_refused():
    lab = make_lab()
    do(lab, command="crash", node="m2")
    with pytest.raises(CommandError, match="already down"):
        do(lab, command="crash", node="m2")


def test_seek_back_and_forth_reproduces_the_exact_state():
    lab = make_lab()
    lab.advance(3_000)
    do(lab, command="crash", node="m2")
    lab.advance(4_000)
    mid_time, mid_state = lab.now, lab.sim.snapshot()
    lab.advance(500)
    do(lab, command="cut", a="m1", b="m4", both_ways=False)
    lab.advance(9_000)
    end_time, end_state = lab.now, lab.sim.snapshot()

    do(lab, command="seek", time_ms=mid_time)
    assert lab.sim.snapshot() == mid_state and lab.rewound and not lab.playing
    do(lab, command="seek", time_ms=end_time)
    assert lab.sim.snapshot() == end_state
    do(lab, command="seek", time_ms=10**9)
    assert lab.now == end_time  # never past what has happened


def test_seek_reproduces_single_steps_inside_one_millisecond():
    lab = make_lab()
    do(lab, command="pause")
    for _ in range(7):
        do(lab, command="step")
    do(lab, command="crash", node="m1")
    lab.advance(0)
    do(lab, command="forward", seconds=2)
    end = lab.sim.snapshot()
    do(lab, command="seek", time_ms=0)
    do(lab, command="seek", time_ms=2_000 + lab.horizon - 2_000)
    assert lab.sim.snapshot() == end


def test_going_on_from_the_past_starts_a_new_branch():
    lab = make_lab()
    lab.advance(2_000)
    do(lab, command="crash", node="m1")
    lab.advance(8_000)
    do(lab, command="restart", node="m1")
    lab.advance(5_000)
    assert len(lab.log) == 2

    do(lab, command="seek", time_ms=5_000)
    assert lab.sim.nodes["m1"].alive is False and lab.horizon == 15_000
    do(lab, command="play")
    lab.advance(100)
    assert not lab.rewound and lab.horizon == 5_100
    assert [e.command["command"] for e in lab.log] == ["crash", "note"]
    assert "1 later command(s) are forgotten" in lab.log[-1].command["text"]
    assert all(c.time <= 5_000 for c in lab.checkpoints)
    assert lab.sim.trace_log.events[-1].kind == "note" or any(
        e.kind == "note" for e in lab.sim.trace_log.events)


def test_reset_starts_again():
    lab = make_lab()
    do(lab, command="crash", node="m1")
    lab.advance(5_000)
    do(lab, command="reset")
    assert lab.now == 0 and lab.sim.nodes["m1"].alive and lab.playing
    assert [entry.command["text"] for entry in lab.log] == ["The lab was reset to its start."]
    assert lab.sim.trace_log.events[-1].text == "The lab was reset to its start."


def test_play_pause_and_speed_are_told_in_the_timeline_but_not_while_rewound():
    lab = make_lab()
    lab.advance(1_500)
    do(lab, command="pause")
    do(lab, command="speed", speed=2)
    assert [e.text for e in lab.sim.trace_log.events[-2:]] == ["Paused at 1.5 s.", "Speed set to 2x."]
    do(lab, command="seek", time_ms=500)
    log_length = len(lab.log)
    do(lab, command="speed", speed=5)
    assert len(lab.log) == log_length and lab.rewound, "looking at the past changes no history"


def test_faster_and_slower_walk_the_speed_ladder():
    lab = make_lab()
    do(lab, command="faster")
    assert lab.speed == 2
    for _ in range(10):
        do(lab, command="slower")
    assert lab.speed == 0.1


def test_thawing_a_big_simulation_reads_it_frame_by_frame_through_python(monkeypatch):
    """The unpickler gives other threads (the event loop's) a turn between frames only if it
    reads them through Python calls: a big lab's thaw reads many, and comes back the same."""
    lab = Lab("x", get("kafka-shop"))
    lab.apply(from_data({"command": "forward", "seconds": 60}))
    reads = []
    original = lab_module._TakingTurns.read
    monkeypatch.setattr(lab_module._TakingTurns, "read",
                        lambda self, size=-1: reads.append(size) or original(self, size))
    assert lab_module.thaw(freeze(lab.sim)).snapshot() == lab.sim.snapshot()
    assert len(reads) > 10
