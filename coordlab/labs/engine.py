"""The engine: owns the labs of this process and drives their clocks.

Every tick it advances each watched lab by the wall-clock time since the last
tick (times its speed), and when a lab's state changed it renders one frame
and publishes it once. A lab nobody watches does not advance and costs
nothing. Commands are applied at once, in the order they arrive.

No lab holds the event loop: each tick gives the simulations together at most
``SIMULATION_SHARE`` of a frame interval, split between the labs it advances,
and a lab that needs more runs slower than its speed and says so. A jump ahead
or a rewind that does not fit in one slice goes on over the next ticks, and
``execute`` answers its sender when it is done. A checkpoint is frozen in a
forked child process (``coordlab.labs.forking``): the lab is held only while
the process forks, and goes on at once. A jump ahead that did not fit in the
command's slice goes on in a forked child too, on another core, while the lab
stands still and shows how far it got. The copy a fork of a lab starts from
is frozen in a worker thread while the lab is held: it does not advance and
commands to it wait (the loop serves everyone else).
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import collector, forking, listfragments
from .commands import Command, CommandError
from .lab import Job, Lab, freeze, thaw
from .scenario import Scenario

logger = logging.getLogger(__name__)

LAB_ID_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LAB_ID_LENGTH = 8

Render = Callable[[Lab], list[str]]

#: a frame carries only the fragments that changed (a viewer that skipped frames gets
#: their fragments merged into its next one, and a new viewer a full frame); every
#: FULL_FRAME_EVERY frames all of them go again, in case a frame was lost on the way
#: (a channel layer may drop one under load)
FULL_FRAME_EVERY = 90
#: the share of a frame interval the simulations of all labs may use together in one tick
SIMULATION_SHARE = 0.5
#: the least a lab gets in a tick, however many labs there are (seconds)
MIN_SLICE_S = 0.001
#: a tick never advances a lab by more wall time than this (ms): after a stall the labs
#: lose the time they missed instead of catching up in one long burst
MAX_TICK_MS = 250.0
#: a tick longer than this is logged (seconds)
SLOW_TICK_S = 0.15
#: a closed lab whose checkpoints take this much is big enough to collect its garbage at once
BIG_LAB_CHECKPOINT_BYTES = 4 * 1024 * 1024
#: how long a command may run at once (a jump ahead or a rewind that needs more goes on in ticks)
COMMAND_SLICE_S = 0.010
Publish = Callable[[str, int, list[str]], Awaitable[None]]  # lab id, frame seq, the frame's fragments


def new_lab_id() -> str:
    return "".join(secrets.choice(LAB_ID_ALPHABET) for _ in range(LAB_ID_LENGTH))


class UnknownLab(LookupError):
    """No lab with that id runs here."""


class Engine:
    """Runs labs in virtual time and publishes a frame when one changes."""

    def __init__(self, render: Render, publish: Publish, frames_per_second: float = 20,
                 clock: Callable[[], float] = time.monotonic, ticks_per_frame: int = 1) -> None:
        self.render = render
        self.publish = publish
        self.interval = 1.0 / frames_per_second
        #: a lab that only moves on sends a frame every so many ticks; one that got a command, at the next
        self.ticks_per_frame = ticks_per_frame
        self.waited: dict[str, int] = {}  # ticks since each lab's latest frame
        self.commanded: set[str] = set()  # labs that got a command since their latest frame
        self.clock = clock
        self.labs: dict[str, Lab] = {}
        self.viewers: dict[str, int] = {}
        self.rendered: dict[str, int] = {}
        self.frame_seq: dict[str, int] = {}
        self.fragments: dict[str, list[str]] = {}
        self.since_full: dict[str, int] = {}
        self.shown_at: dict[str, int] = {}  # the virtual time of the latest frame of each lab
        #: jobs (a jump ahead, a rewind) whose senders wait for their answer, by lab
        self.waiting: dict[str, list[tuple[Job, asyncio.Future[str]]]] = {}
        #: labs held while their simulation is frozen in the freezer thread, and what ends the hold
        self.holds: dict[str, asyncio.Future[None]] = {}
        self.freezer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coordlab-freezer")
        self.freezing: set[str] = set()  # labs whose checkpoint is being frozen
        self.jumping: dict[str, forking.Child] = {}  # labs whose jump ahead runs in a child
        self.background: set[asyncio.Task[None]] = set()
        self.slowest: tuple[str, float] = ("", 0.0)  # the lab that took longest in the latest tick, ms

    # -- labs ----------------------------------------------------------------

    def start_lab(self, scenario: Scenario, seed: int | None = None, lab_id: str | None = None) -> Lab:
        return self.add_lab(Lab(lab_id or new_lab_id(), scenario, seed))

    def add_lab(self, lab: Lab) -> Lab:
        """Run a lab (built here, elsewhere, or restored from its saved state)."""
        lab.defer_checkpoints = True
        self.labs[lab.id] = lab
        return lab

    def close_lab(self, lab_id: str) -> None:
        """Forget a lab (its viewers see it stop)."""
        lab = self.labs.pop(lab_id, None)
        # a big lab's garbage is worth a full collection soon (a pause for everyone, so not for every lab)
        if lab is not None and sum(len(c.snapshot) for c in lab.checkpoints) >= BIG_LAB_CHECKPOINT_BYTES:
            collector.lab_gone()
        for table in (self.viewers, self.rendered, self.frame_seq, self.fragments, self.since_full, self.shown_at,
                      self.waited):
            table.pop(lab_id, None)
        self.commanded.discard(lab_id)
        for _, answer in self.waiting.pop(lab_id, []):
            if not answer.done():
                answer.set_exception(UnknownLab(lab_id))
        child = self.jumping.pop(lab_id, None)
        if child is not None:
            forking.end(child)

    def lab(self, lab_id: str) -> Lab:
        try:
            return self.labs[lab_id]
        except KeyError:
            raise UnknownLab(lab_id) from None

    def submit(self, lab_id: str, command: Command, by: str = "") -> str:
        """Apply ``command`` to a lab now, for at most ``COMMAND_SLICE_S``; returns a sentence,
        or raises ``CommandError``. A jump ahead or a rewind that is not done by then goes on
        as the lab's job (``execute`` waits for it)."""
        lab = self.lab(lab_id)
        if lab_id in self.holds:
            raise CommandError("Wait a moment: the lab is taking a checkpoint.")
        try:
            text = lab.apply(command, time.perf_counter() + COMMAND_SLICE_S, by)
            self.commanded.add(lab_id)
            return text
        except CommandError:
            raise
        except Exception:
            logger.exception("command %s failed in lab %s", command, lab_id)
            raise CommandError("The lab could not carry out that command (a bug; it was logged).") from None

    async def execute(self, lab_id: str, command: Command, by: str = "") -> str:
        """Apply ``command`` and answer when it is done: a jump ahead or a rewind goes on over
        the next ticks (the loop serves everyone else meanwhile) and is answered at its end."""
        await self._unheld(lab_id)
        lab = self.lab(lab_id)
        before = lab.job
        text = self.submit(lab_id, command, by)
        job = lab.job
        if job is None or job is before:
            self._settle(lab_id)  # a reset may have cancelled another sender's job
            return text
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(lab_id, []).append((job, answer))
        return await answer

    # -- holding a lab while its simulation is frozen in another thread ------------------------

    async def _unheld(self, lab_id: str) -> None:
        """Wait until nothing holds the lab."""
        while (hold := self.holds.get(lab_id)) is not None:
            await asyncio.shield(hold)

    def _hold(self, lab_id: str) -> None:
        self.holds[lab_id] = asyncio.get_running_loop().create_future()

    def _release(self, lab_id: str) -> None:
        hold = self.holds.pop(lab_id, None)
        if hold is not None and not hold.done():
            hold.set_result(None)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _take_checkpoint(self, lab_id: str, lab: Lab) -> None:
        """Freeze the lab's simulation as it stands at its checkpoint and keep it: in a forked
        child, the lab going on as soon as it has forked; else in the freezer thread, the lab
        held until it is done."""
        sim = lab.sim
        loop = asyncio.get_running_loop()
        try:
            if forking.CAN_FORK:
                position = lab.promise_checkpoint()
                child = forking.freeze_in_child(sim)
                self._release(lab_id)
                frozen, cost_s = await loop.run_in_executor(self.freezer, forking.collect, child)
                if lab.sim is sim:
                    lab.add_checkpoint(frozen, cost_s, position)
            else:
                frozen, cost_s = await loop.run_in_executor(self.freezer, _timed_freeze, sim)
                if lab.sim is sim:
                    lab.add_checkpoint(frozen, cost_s)
        except Exception:
            logger.exception("could not take a checkpoint of lab %s; it takes one itself", lab_id)
            lab.defer_checkpoints = False
            lab.checkpoint_due = False
        finally:
            self._release(lab_id)
            self.freezing.discard(lab_id)

    def _jump_elsewhere(self, lab_id: str, lab: Lab) -> None:
        """Send the lab's jump ahead to a forked child if it is not done after a slice here."""
        job = lab.job
        if (job is None or job.kind != "forward" or job.elsewhere or job.stay_here or not forking.CAN_FORK
                or lab.checkpoint_due or lab_id in self.freezing or lab_id in self.holds):
            return
        job.elsewhere = True
        child = forking.jump_in_child(lab)
        self.jumping[lab_id] = child
        self._in_background(self._jump(lab_id, lab, job, child))

    async def _jump(self, lab_id: str, lab: Lab, job: Job, child: forking.Child) -> None:
        """Follow a jump ahead in its child: its progress, then the lab it hands over. If the
        child fails, the jump goes on here, in slices; if the job was cancelled, it is stopped."""
        handover: dict[str, Any] | None = None
        try:
            async for tag, data in forking.messages(child):
                if job is not lab.job:
                    break
                if tag == forking.PROGRESS:
                    job.reached = int.from_bytes(data, "big")
                    lab.version += 1
                else:
                    handover = pickle.loads(data)
            if handover is not None and job is lab.job:
                sim = await asyncio.get_running_loop().run_in_executor(None, thaw, handover["sim"])
                lab.take_handover(job, handover, sim)
                self.commanded.add(lab_id)
            elif job is lab.job:
                raise RuntimeError(f"the child jumping ahead ended with status {forking.end(child)}")
        except Exception:
            logger.exception("lab %s could not jump ahead in a child; it goes on here", lab_id)
            job.elsewhere, job.stay_here = False, True
        finally:
            forking.end(child)
            if self.jumping.get(lab_id) is child:
                del self.jumping[lab_id]
            self._settle(lab_id)

    async def fork(self, lab_id: str, new_id: str) -> Lab:
        """A copy of a lab as it is now (``Lab.fork``), its simulation copied off the loop."""
        await self._unheld(lab_id)
        lab = self.lab(lab_id)
        self._hold(lab_id)
        try:
            loop = asyncio.get_running_loop()
            frozen, _ = await loop.run_in_executor(self.freezer, _timed_freeze, lab.sim)
            # The lab's fields as they were frozen (held, it did not change); the copy gets a
            # simulation of its own below.
            copy = lab.fork(new_id, lab.sim)
        finally:
            self._release(lab_id)
        copy.sim = await loop.run_in_executor(None, thaw, frozen)
        return copy

    def _settle(self, lab_id: str) -> None:
        """Answer the senders of a lab's jobs that are done."""
        waiting = self.waiting.get(lab_id)
        if not waiting:
            return
        for job, answer in [item for item in waiting if item[0].result is not None]:
            waiting.remove((job, answer))
            if answer.done():
                continue
            if job.failed:
                answer.set_exception(CommandError(job.result))
            else:
                answer.set_result(str(job.result))
        if not waiting:
            del self.waiting[lab_id]

    def outbox(self, lab_id: str, node: str, after: int) -> tuple[list[dict[str, Any]], int]:
        return self.lab(lab_id).outbox(node, after)

    def viewer_joined(self, lab_id: str) -> None:
        self.lab(lab_id)
        self.viewers[lab_id] = self.viewers.get(lab_id, 0) + 1
        self.rendered.pop(lab_id, None)
        self.fragments.pop(lab_id, None)  # the newcomer needs a full frame

    def viewer_left(self, lab_id: str) -> None:
        count = self.viewers.get(lab_id, 0) - 1
        if count > 0:
            self.viewers[lab_id] = count
        else:
            self.viewers.pop(lab_id, None)

    # -- the loop ------------------------------------------------------------------

    async def run(self) -> None:
        """Tick forever at the frame rate. A late tick advances the labs by the wall time it
        missed (up to ``MAX_TICK_MS``), and the ticks after it keep the rate: no burst of
        frames to catch up. A tick that took longer than ``SLOW_TICK_S`` is logged, with the
        lab that took longest."""
        last = self.clock()
        deadline = last
        while True:
            deadline += self.interval
            await asyncio.sleep(max(0.0, deadline - self.clock()))
            now = self.clock()
            if now - deadline > self.interval:
                deadline = now
            try:
                await self.tick(min(MAX_TICK_MS, (now - last) * 1000.0))
            except Exception:  # a failed publish must not stop every lab of the process
                logger.exception("a tick failed; the engine goes on")
            took = self.clock() - now
            if took > SLOW_TICK_S:
                logger.warning("a tick took %.0f ms; lab %s took %.0f ms of it", took * 1000, *self.slowest)
            last = now

    async def tick(self, wall_ms: float) -> None:
        """Advance every watched lab (and every lab whose job someone waits for) within the
        tick's share of time, and publish a frame for each one that changed."""
        busy = [lab_id for lab_id in self.waiting if lab_id not in self.viewers]
        active = list(self.viewers) + busy
        share = max(MIN_SLICE_S, self.interval * SIMULATION_SHARE / max(1, len(active)))
        self.slowest = ("", 0.0)
        for lab_id in active:
            lab = self.labs.get(lab_id)
            if lab is None:
                continue
            started = time.perf_counter()
            try:
                if lab_id not in self.holds:
                    lab.advance(wall_ms, time.perf_counter() + share)
                    self._jump_elsewhere(lab_id, lab)
                    if lab.checkpoint_due and lab_id not in self.freezing:
                        self.freezing.add(lab_id)
                        self._hold(lab_id)
                        self._in_background(self._take_checkpoint(lab_id, lab))
                self._settle(lab_id)
                if self.rendered.get(lab_id) == lab.version or lab_id not in self.viewers:
                    continue
                self.waited[lab_id] = waited = self.waited.get(lab_id, 0) + 1
                if waited < self.ticks_per_frame and lab_id not in self.commanded:
                    continue
                fragments = self.render(lab)
            except Exception:
                logger.exception("lab %s failed; pausing it", lab_id)
                lab.cancel_job("The lab stopped on an error (a bug; it was logged).")
                self._settle(lab_id)
                lab.playing = False
                lab.version += 1
                continue
            await self._send(lab_id, lab, fragments)
            took_ms = (time.perf_counter() - started) * 1000
            if took_ms > self.slowest[1]:
                self.slowest = (lab_id, took_ms)

    async def _send(self, lab_id: str, lab: Lab, fragments: list[str]) -> None:
        """Publish what changed since the lab's previous frame."""
        self.rendered[lab_id] = lab.version
        self.waited[lab_id] = 0
        self.commanded.discard(lab_id)
        frame = self.changed_fragments(lab_id, fragments, rewound=lab.now < self.shown_at.get(lab_id, 0))
        self.shown_at[lab_id] = lab.now
        seq = self.frame_seq.get(lab_id, 0) + 1
        self.frame_seq[lab_id] = seq
        await self.publish(lab_id, seq, frame)

    def changed_fragments(self, lab_id: str, fragments: list[str], rewound: bool = False) -> list[str]:
        """The frame to send: every fragment now and then (and after the lab went back in
        time), otherwise only the changed ones, and of a list fragment only its new items."""
        previous = self.fragments.get(lab_id)
        self.fragments[lab_id] = fragments
        since = self.since_full.get(lab_id, 0) + 1
        if previous is None or len(previous) != len(fragments) or since >= FULL_FRAME_EVERY or rewound:
            self.since_full[lab_id] = 0
            return list(fragments)
        self.since_full[lab_id] = since
        frame = []
        for new, old in zip(fragments, previous, strict=True):
            if new == old:
                continue
            delta = listfragments.delta(new, old)
            if delta != "":
                frame.append(new if delta is None else delta)
        return frame


def _timed_freeze(sim: Any) -> tuple[bytes, float]:
    """``freeze(sim)`` and the seconds it took (run in the freezer thread)."""
    started = time.perf_counter()
    frozen = freeze(sim)
    return frozen, time.perf_counter() - started
