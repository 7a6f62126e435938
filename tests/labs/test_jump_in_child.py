"""A long jump ahead runs in a forked child (``coordlab.labs.forking.jump_in_child``): the lab
stands still and shows the child's progress, then takes over exactly the simulation the child
reached, the same one a jump done here reaches. A reset or a closed lab stops the child; a
child that fails leaves the jump to go on here."""

from __future__ import annotations

import asyncio
import os

import pytest

from coordlab.labs import forking
from coordlab.labs.commands import CommandError, from_data
from coordlab.labs.engine import Engine
from coordlab.labs.lab import Lab, freeze, snapshot_text
from coordlab.labs.registry import get

pytestmark = pytest.mark.skipif(not forking.CAN_FORK, reason="needs os.fork")

JUMP_S = 40
LAB = "kafka-shop"


async def drive(engine: Engine, until, timeout_s: float = 60.0) -> None:
    """Tick the engine (letting the loop read the child's pipe between ticks) until ``until()``."""
    for _ in range(int(timeout_s / 0.01)):
        if until():
            return
        await engine.tick(50)
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def watched_lab() -> tuple[Engine, Lab]:
    engine = Engine(render=lambda lab: [f"t={lab.now}"], publish=lambda *_: asyncio.sleep(0))
    lab = engine.start_lab(get(LAB))
    engine.viewer_joined(lab.id)
    return engine, lab


async def jumping(seconds: int) -> tuple[Engine, Lab, asyncio.Future[str], forking.Child]:
    """A watched lab whose jump ahead of ``seconds`` (sent as ``execute`` does) runs in its child."""
    engine, lab = watched_lab()
    answer = asyncio.ensure_future(engine.execute(lab.id, from_data({"command": "forward", "seconds": seconds})))
    await asyncio.sleep(0)  # the command is applied before the lab moves on
    await drive(engine, lambda: lab.id in engine.jumping)
    return engine, lab, answer, engine.jumping[lab.id]


def jumped_here() -> str:
    """The simulation a jump of ``JUMP_S`` done in this process reaches, as snapshot text."""
    lab = Lab("here", get(LAB))
    lab.apply(from_data({"command": "forward", "seconds": JUMP_S}))
    assert lab.job is None
    return snapshot_text(freeze(lab.sim))


async def test_a_jump_runs_in_a_child_reports_progress_and_reaches_the_same_simulation():
    engine, lab = watched_lab()
    checkpoints_before = [c.time for c in lab.checkpoints]
    assert engine.submit(lab.id, from_data({"command": "forward", "seconds": JUMP_S})).startswith("Started jumping")
    job = lab.job
    await drive(engine, lambda: lab.id in engine.jumping)
    child = engine.jumping[lab.id]
    progress = []
    await drive(engine, lambda: (progress.append(job.progress(lab.now)) if lab.job else None) or lab.job is None)
    assert job.result == f"Jumped {JUMP_S} s ahead to {(lab.start + JUMP_S * 1000) / 1000:.1f} s."
    assert lab.job is None and lab.id not in engine.jumping and not alive(child.pid)
    assert any(0 < p < 1 for p in progress)  # the lab showed how far the child got
    assert snapshot_text(freeze(lab.sim)) == jumped_here()
    times = [c.time for c in lab.checkpoints]
    assert times[: len(checkpoints_before)] == checkpoints_before and times[-1] > checkpoints_before[-1]
    assert times == sorted(times)
    # the lab goes on from there as any lab does
    await drive(engine, lambda: lab.now > lab.start + JUMP_S * 1000 + 200)


async def test_a_reset_during_the_jump_stops_the_child_and_answers_its_sender():
    engine, lab, answer, child = await jumping(600)
    with pytest.raises(CommandError):
        engine.submit(lab.id, from_data({"command": "crash", "node": "b1"}))  # busy: refused
    engine.submit(lab.id, from_data({"command": "reset"}))
    await drive(engine, lambda: answer.done() and lab.id not in engine.jumping)
    with pytest.raises(CommandError, match="reset"):
        answer.result()
    assert not alive(child.pid) and lab.job is None and lab.now < lab.start + 5000  # back at the start


async def test_closing_the_lab_stops_its_jumping_child():
    engine, lab, answer, child = await jumping(600)
    engine.close_lab(lab.id)
    assert not alive(child.pid)
    await asyncio.sleep(0.05)
    assert answer.done() and lab.id not in engine.jumping


async def test_a_child_that_fails_leaves_the_jump_to_go_on_here(monkeypatch):
    def broken(self, report, every_s):
        raise RuntimeError("the child broke")

    monkeypatch.setattr(Lab, "handover", broken)  # the forked child has it too
    engine, lab = watched_lab()
    answer = asyncio.ensure_future(engine.execute(lab.id, from_data({"command": "forward", "seconds": JUMP_S})))
    await asyncio.sleep(0)  # the command is applied before the lab moves on
    await drive(engine, lambda: answer.done())
    assert answer.result().startswith(f"Jumped {JUMP_S} s ahead")
    assert snapshot_text(freeze(lab.sim)) == jumped_here()
