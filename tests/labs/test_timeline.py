"""The timeline: newest first, and a sentence repeated one after another is one line with a count."""

from __future__ import annotations

from coordlab.picture import timeline
from coordlab.sim import Simulation


def test_repeated_lines_fold_into_one_with_a_count():
    sim = Simulation.create(1)
    sim.trace("p", "retry", "p's batch failed (NOT_ENOUGH_REPLICAS): it retries.")
    for _ in range(37):
        sim.trace("p", "retry", "p's batch failed (NOT_ENOUGH_REPLICAS): it retries.")
    sim.trace("c", "note", "something else")
    sim.trace("p", "retry", "p's batch failed (NOT_ENOUGH_REPLICAS): it retries.")
    lines = timeline(sim, 10)
    assert [(line["text"][:9], line["count"]) for line in lines] == [
        ("p's batch", 1), ("something", 1), ("p's batch", 38)]
    assert lines[2]["seq"] == 37  # the latest of the run (seqs count from 0): its id changes as it grows


def test_the_length_counts_lines_not_events():
    sim = Simulation.create(1)
    for index in range(30):
        for _ in range(3):
            sim.trace("n", "note", f"line {index}")
    lines = timeline(sim, 5)
    assert [line["text"] for line in lines] == [f"line {i}" for i in range(29, 24, -1)]
    assert all(line["count"] == 3 for line in lines)
