"""A lab: one running scenario with its command log, speed and history.

Time in a lab only moves through ``advance`` (the engine calls it with wall
clock milliseconds), ``step`` and ``forward``. Every command that changes the
simulation is logged with the exact position it was applied at (virtual time
and number of events run), and the lab keeps a checkpoint every few virtual
seconds. Together they make rewind exact: going back to time t restores the
latest checkpoint before t and replays the log up to t. Going on from a
rewound moment starts a new branch and forgets the old future, as RaftScope's
slider does.

Work that can take long (a jump ahead, a rewind's replay, catching up with a
fast speed) runs in slices: given a ``deadline`` on the wall clock, the lab
stops when it passes and goes on at the next call, so a server runs many labs
on one event loop without any of them holding it. A jump or a rewind that is
not done yet is the lab's ``job``; until it is done the lab refuses commands
other than play, pause, speed and reset. A lab that cannot keep up with its
speed runs slower and says so (``pace``). Checkpoints are kept in memory as
compressed pickles (ten times faster to take than the JSON snapshot) and
take at most ``MAX_CHECKPOINT_BYTES``; only a saved lab is turned into JSON.
A lab with ``defer_checkpoints`` set (the engine's) does not take a due
checkpoint itself: it stops at it (``checkpoint_due``) until the engine has
frozen the simulation off the event loop and handed it to ``add_checkpoint``,
or promised it (``promise_checkpoint``: a forked copy of this moment is being
frozen) so that the lab goes on meanwhile.
"""

from __future__ import annotations

import gc
import pickle
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from time import perf_counter
from typing import Any

from coordlab.sim import Simulation
from coordlab.sim.codec import decode, encode

from .changes import apply_to_simulation, change
from .commands import SPEEDS, Command, CommandError, from_data
from .guide import Moment, Tour, describe
from .scenario import Scenario

CHECKPOINT_EVERY_MS = 5000
MAX_CHECKPOINTS = 240
#: the checkpoints of one lab take at most this much memory (older ones are thinned out first)
MAX_CHECKPOINT_BYTES = 24 * 1024 * 1024
#: events run between two looks at the wall clock when a deadline is given
EVENTS_PER_SLICE = 20
#: how many timers a step runs at most on its way to the next message
STEP_TIMERS = 1000
#: the commands that move a lab's clock (the ``do_`` methods); every other command changes the
#: simulation and is logged (``coordlab.labs.changes``)
CONTROLS = ("play", "pause", "speed", "faster", "slower", "step", "forward", "seek", "reset", "next", "back")
#: commands a lab takes while a jump ahead or a rewind is still going on
WHILE_BUSY = ("play", "pause", "speed", "faster", "slower", "reset")
#: a lab whose pace over the last second is below this share of its speed says it is slower
BEHIND = 0.9
#: checkpoints may cost at most this share of the time spent simulating between two of them, so a
#: big simulation (an hour of Kafka traffic) is checkpointed less often instead of stuttering
CHECKPOINT_SHARE = 0.05
MAX_CHECKPOINT_EVERY_MS = 60_000
#: the layout of ``Lab.state()`` and of the models it snapshots; a saved state of another format
#: is not restored (the lab starts again). 2: machines fail as killed or powered off, and the
#: ZooKeeper client's periodic tick is gone, so a format-1 snapshot holds timers no node handles. 3: a
#: Kafka record keeps its batch's first sequence number and a log the producers' latest five batches
STATE_FORMAT = 3


@dataclass(frozen=True)
class LogEntry:
    """A simulation command and the position it was applied at."""

    time: int
    processed: int
    command: dict[str, Any]


@dataclass(frozen=True)
class Checkpoint:
    """The whole simulation at one moment (``freeze``), and how much of the log led there."""

    time: int
    processed: int
    log_length: int
    snapshot: bytes


def freeze(sim: Simulation) -> bytes:
    """A simulation as compressed pickle bytes: a checkpoint in memory, never stored or sent."""
    return zlib.compress(pickle.dumps(sim, protocol=pickle.HIGHEST_PROTOCOL), 1)


def thaw(frozen: bytes) -> Simulation:
    """The simulation that ``freeze`` made (the collector is held off meanwhile: it would
    otherwise scan the growing heap of new objects again and again, tripling the time)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        sim: Simulation = pickle.Unpickler(_TakingTurns(zlib.decompress(frozen))).load()
    finally:
        if collecting:
            gc.enable()
    return sim


class _TakingTurns:
    """Bytes to unpickle, read through Python calls. The unpickler is C code that holds the
    interpreter lock from start to end when it reads from memory: 100 ms for a big Kafka lab,
    in which the event loop's thread could not run. Reading each pickle frame (64 KiB) through
    a Python method lets other threads have their turn between frames."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def read(self, size: int = -1) -> bytes:
        start = self.at
        self.at = len(self.data) if size < 0 else min(len(self.data), start + size)
        return self.data[start:self.at]

    def readline(self) -> bytes:
        end = self.data.find(b"\n", self.at)
        start, self.at = self.at, len(self.data) if end < 0 else end + 1
        return self.data[start:self.at]


@dataclass(eq=False)
class Job:
    """A jump ahead or a rewind that is not done yet. ``result`` is the sentence for whoever
    asked, once it is done (``failed`` if it was cancelled)."""

    kind: str  # "forward" or "seek"
    target: int
    begin: int  # the virtual time it started from
    sim: Simulation | None = None  # a rewind: the simulation being rebuilt
    log_index: int = 0  # a rewind: the next log entry to replay into it
    result: str | None = None
    failed: bool = False
    #: a jump ahead running in another process (``coordlab.labs.forking``): the lab stands still
    #: meanwhile, and ``reached`` is how far the other process says it got
    elsewhere: bool = False
    reached: int | None = None
    stay_here: bool = False  # running it elsewhere failed: it goes on in slices here
    done_text: str = ""  # what to tell the asker once it is done, if not the usual sentence
    #: a rewind to an exact position: the events run and the log entries applied there
    processed: int | None = None
    log_end: int | None = None

    def progress(self, now: int) -> float:
        span = abs(self.target - self.begin)
        done = self.reached if self.elsewhere and self.reached is not None else now
        return 1.0 if span == 0 else min(1.0, abs(done - self.begin) / span)

    def describe(self) -> str:
        if self.kind == "forward":
            return f"jumping ahead to {self.target / 1000:.1f} s"
        return f"rewinding to {self.target / 1000:.1f} s"


class Lab:
    """A scenario running in virtual time, driven by commands."""

    _by = ""  # while ``apply`` runs: who sent the command, if the lab knows

    def __init__(self, lab_id: str, scenario: Scenario, seed: int | None = None) -> None:
        self.id = lab_id
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.version = 0
        self.defer_checkpoints = False
        self._begin()

    # -- state ----------------------------------------------------------

    def _begin(self) -> None:
        self.sim: Simulation = self.scenario.build(self.seed)
        self.playing = True
        self.speed = 1.0
        self.log: list[LogEntry] = []
        self.checkpoints: list[Checkpoint] = []
        self.horizon = self.sim.now
        self.rewound = False
        self._replayed = 0
        self._carry = 0.0
        self._checkpoint_every = CHECKPOINT_EVERY_MS
        self._simulated_s = 0.0  # CPU time spent simulating since the latest checkpoint
        self.checkpoint_due = False
        self._promised: tuple[int, int, int] | None = None  # a checkpoint being frozen elsewhere
        self.job: Job | None = None
        self.pace = 1.0  # virtual seconds per wall second over the last second of play
        self._pace_window = [0.0, 0.0]  # wall ms and virtual ms since the window began
        self.tour = Tour()
        self._checkpoint()

    @property
    def now(self) -> int:
        return self.sim.now

    # -- the clock --------------------------------------------------------

    @property
    def behind(self) -> bool:
        """True if the lab plays slower than its speed (the server cannot keep up with it)."""
        return self.playing and self.job is None and self.pace < self.speed * BEHIND

    def advance(self, wall_ms: float, deadline: float | None = None) -> bool:
        """Move virtual time on by ``wall_ms`` × speed if playing, or work on the job if there
        is one, stopping once ``deadline`` (``perf_counter`` seconds) has passed; True if the
        lab changed. Time a deadline cut off is not made up later: the lab runs slower."""
        if self.job is not None:
            if self.job.elsewhere:
                return False
            self._work(deadline)
            self.version += 1
            return True
        if not self.playing:
            return False
        self._carry += wall_ms * self.speed
        whole = int(self._carry)
        if whole <= 0:
            self._keep_pace(wall_ms, 0)
            return False
        self._carry -= whole
        self._branch_if_rewound()
        before = self.sim.now
        moment = self._awaited()
        if not self._run_to(self.sim.now + whole, deadline, moment):
            self._carry = 0.0
        self._keep_pace(wall_ms, self.sim.now - before)
        if moment is not None:
            self._look_for_moment(moment)
        self.version += 1
        return True

    def _keep_pace(self, wall_ms: float, virtual_ms: int) -> None:
        window = self._pace_window
        window[0] += wall_ms
        window[1] += virtual_ms
        if window[0] >= 1000:
            self.pace = window[1] / window[0]
            self._pace_window = [0.0, 0.0]

    def _run_to(self, time: int, deadline: float | None = None, moment: Moment | None = None) -> bool:
        """Run the simulation to ``time``, taking checkpoints on the way; False if the deadline
        came first (the simulation stands at its last event then). With ``moment``, stop (True)
        at the first event after which it holds."""
        while not self.checkpoint_due:
            latest = self._promised[0] if self._promised is not None else self.checkpoints[-1].time
            boundary = latest + self._checkpoint_every
            goal = boundary if boundary <= time else time
            started = perf_counter()
            run = partial(self.sim.run_until, goal) if moment is None else partial(_run_to_moment, self.sim, goal,
                                                                                     moment)
            reached = _sliced(run, deadline)
            self._simulated_s += perf_counter() - started
            self.horizon = max(self.horizon, self.sim.now)
            if not reached:
                return False
            if goal != boundary or (moment is not None and moment(self.sim)):
                return True
            if self.defer_checkpoints:
                self.checkpoint_due = True
            else:
                self._checkpoint()
        return False

    def _checkpoint(self) -> None:
        started = perf_counter()
        frozen = freeze(self.sim)
        self.add_checkpoint(frozen, perf_counter() - started)

    def promise_checkpoint(self) -> tuple[int, int, int]:
        """The lab's position (virtual time, events run, log length) for a checkpoint that a copy
        of this moment is frozen into elsewhere; the lab goes on meanwhile, and
        ``add_checkpoint`` with the position keeps it."""
        self._promised = (self.sim.now, self.sim.processed, len(self.log))
        self.checkpoint_due = False
        return self._promised

    def add_checkpoint(self, frozen: bytes, cost_s: float, position: tuple[int, int, int] | None = None) -> None:
        """Keep ``frozen`` (``freeze`` of the simulation at ``position``, promised, or as it is now;
        it took ``cost_s``) as a checkpoint, and go on."""
        sim = self.sim
        time, processed, log_length = position or (sim.now, sim.processed, len(self.log))
        span_ms = time - self.checkpoints[-1].time if self.checkpoints else 0
        self.checkpoints.append(Checkpoint(time, processed, log_length, frozen))
        self.checkpoint_due = False
        self._promised = None
        # Where checkpoints fall changes nothing in the simulation, only how far a rewind replays.
        # The next one comes once simulating has cost 1/CHECKPOINT_SHARE times what this one did,
        # at the pace (virtual ms per CPU second) of the span just simulated.
        pace = span_ms / max(self._simulated_s, 1e-6)
        self._checkpoint_every = min(MAX_CHECKPOINT_EVERY_MS,
                                     max(CHECKPOINT_EVERY_MS, int(pace * cost_s / CHECKPOINT_SHARE)))
        self._simulated_s = 0.0
        while len(self.checkpoints) > 2 and (len(self.checkpoints) > MAX_CHECKPOINTS or
                                             sum(len(c.snapshot) for c in self.checkpoints) > MAX_CHECKPOINT_BYTES):
            # Thin out: every other one between the first (the start) and the latest goes.
            first, *middle, latest = self.checkpoints
            self.checkpoints = [first, *middle[1::2], latest]

    def _work(self, deadline: float | None) -> bool:
        """Go on with the job until it is done (True) or the deadline passes (False)."""
        job = self.job
        assert job is not None
        done = self._run_to(job.target, deadline) if job.kind == "forward" else self._replay(job, deadline)
        if not done:
            return False
        if job.kind == "forward":
            job.result = f"Jumped {(job.target - job.begin) / 1000:g} s ahead to {self.sim.now / 1000:.1f} s."
        else:
            assert job.sim is not None
            self.sim, job.sim = job.sim, None
            self._promised = None  # frozen from the simulation just left
            self._replayed = job.log_index
            self._carry = 0.0
            self.playing = False
            self.rewound = job.target < self.horizon
            job.result = job.done_text or (f"Showing the lab at {job.target / 1000:.1f} s. "
                                           "Press play to go on from here.")
        self.job = None
        return True

    def handover(self, report: Callable[[int], None], every_s: float) -> dict[str, Any]:
        """Do the whole jump ahead, calling ``report`` with the virtual time reached every
        ``every_s`` seconds, and return what the lab it was copied from needs to stand where
        this one then stands (``take_handover``). Runs in the process the jump was sent to, on
        a copy of the lab; checkpoints are taken as it goes."""
        job = self.job
        assert job is not None and job.kind == "forward"
        before = {id(c) for c in self.checkpoints}
        self.defer_checkpoints = False
        self.checkpoint_due = False
        while not self._work(perf_counter() + every_s):
            report(self.sim.now)
        return {
            "sim": freeze(self.sim), "result": job.result, "horizon": self.horizon,
            "checkpoint_every": self._checkpoint_every, "simulated_s": self._simulated_s,
            # the lab it was copied from has the checkpoints this one had: they go back as positions
            "checkpoints": [(c.time, c.processed) if id(c) in before else c for c in self.checkpoints],
        }

    def take_handover(self, job: Job, handover: dict[str, Any], sim: Simulation) -> None:
        """Stand where the copy that ran ``job`` elsewhere stands: its simulation (thawed from
        ``handover["sim"]``) and its checkpoints."""
        if job is not self.job:
            return
        self.sim = sim
        mine = {(c.time, c.processed): c for c in self.checkpoints}
        self.checkpoints = [c if isinstance(c, Checkpoint) else mine[c] for c in handover["checkpoints"]]
        self.horizon = max(self.horizon, handover["horizon"])
        self._checkpoint_every = handover["checkpoint_every"]
        self._simulated_s = handover["simulated_s"]
        self._promised = None
        self.checkpoint_due = False
        self._carry = 0.0
        job.result = handover["result"]
        self.job = None
        self.version += 1

    def _replay(self, job: Job, deadline: float | None) -> bool:
        """A rewind: replay the log into the rebuilt simulation up to the job's target."""
        sim = job.sim
        assert sim is not None
        end = len(self.log) if job.log_end is None else job.log_end
        while job.log_index < end and self.log[job.log_index].time <= job.target:
            entry = self.log[job.log_index]
            if not _sliced(partial(sim.run_to, entry.time, entry.processed), deadline):
                return False
            apply_to_simulation(sim, entry.command, self.scenario)
            job.log_index += 1
        if job.processed is not None:
            return _sliced(partial(sim.run_to, job.target, job.processed), deadline)
        return _sliced(partial(sim.run_until, job.target), deadline)

    def cancel_job(self, why: str) -> None:
        """Give up the job (its asker is told ``why``)."""
        if self.job is not None:
            self.job.result, self.job.failed = why, True
            self.job = None

    # -- commands -----------------------------------------------------------

    def apply(self, command: Command, deadline: float | None = None, by: str = "") -> str:
        """Carry out ``command``; return a sentence for the sender. With ``by`` (the sender's
        name, in a classroom), the timeline says who did it ("Ada: The lab was reset…").

        Raises ``CommandError`` and changes nothing if the command cannot apply. A jump
        ahead or a rewind runs to its end, or with a ``deadline`` until then: if it is not
        done, it goes on as the lab's ``job`` in ``advance``, and its ``result`` is the
        sentence for the sender.
        """
        if self.job is not None and command.name not in WHILE_BUSY:
            raise CommandError(f"Wait a moment: the lab is {self.job.describe()} "
                               f"({self.job.progress(self.now):.0%} done).")
        self._by = by
        try:
            if command.name in CONTROLS:
                handler = getattr(self, "do_" + command.name)
                if command.name in ("forward", "seek", "back"):
                    message: str = handler(deadline=deadline, **command.args)
                else:
                    message = handler(**command.args)
            else:
                message = self._change(command)
        finally:
            self._by = ""
        self.version += 1
        return message

    def _change(self, command: Command) -> str:
        """Check and log a command that changes the simulation; the sentence for the sender."""
        found = change(command.name, self.scenario)
        if found is None:
            raise CommandError(f"This kind of lab has no '{command.name}' command.")
        logged, message = found.check(self, command.args)
        self._record({"command": command.name, **logged}, message)
        if self._by:
            self._note(message)
        return message

    def do_play(self) -> str:
        self.playing = True
        self._note(f"Playing at {self.speed:g}x.")
        return f"Playing at {self.speed:g}x."

    def do_pause(self) -> str:
        self.playing = False
        self.tour.running = None
        self._note(f"Paused at {self.now / 1000:.1f} s.")
        return "Paused."

    def do_speed(self, speed: float) -> str:
        self.speed = speed
        self._note(f"Speed set to {speed:g}x.")
        return f"Speed set to {speed:g}x."

    def do_faster(self) -> str:
        faster = [s for s in SPEEDS if s > self.speed]
        return self.do_speed(faster[0] if faster else self.speed)

    def do_slower(self) -> str:
        slower = [s for s in SPEEDS if s < self.speed]
        return self.do_speed(slower[-1] if slower else self.speed)

    def do_step(self) -> str:
        """Run to the next message that reaches a machine: the timers due before it go off on the
        way (a step that only shows a timer going off teaches nothing), at most ``STEP_TIMERS``."""
        self.playing = False
        self.tour.running = None
        self._branch_if_rewound()
        timers = 0
        while (next_event := self._describe_next_event()) is not None:
            description, is_message = next_event
            self.sim.step()
            self.horizon = max(self.horizon, self.sim.now)
            if is_message or timers == STEP_TIMERS:
                break
            timers += 1
        else:
            return "Nothing is scheduled: there is no next event."
        return f"Stepped to {self.sim.now / 1000:.3f} s: {description}" + (
            f" (after {timers} timer{'s' if timers > 1 else ''} went off)." if timers else ".")

    def do_forward(self, seconds: int, deadline: float | None = None) -> str:
        self._branch_if_rewound()
        return self._start(Job("forward", self.sim.now + seconds * 1000, self.sim.now), deadline)

    def _start(self, job: Job, deadline: float | None) -> str:
        self.job = job
        if self._work(deadline):
            assert job.result is not None
            return job.result
        return f"Started {job.describe()}…"

    # -- the guided steps (``coordlab.labs.guide``) -----------------------------------

    def do_next(self) -> str:
        """Do the guide's current step: send its action, then play until its moment and pause there
        (a step without a moment is done at once, and the lab plays on)."""
        steps, tour = self.scenario.guide, self.tour
        if not steps:
            raise CommandError("This lab has no guided steps.")
        if tour.running is not None:
            raise CommandError(f"Step {tour.running + 1} is still playing until {steps[tour.running].waits_for}: "
                               "wait for it, or pause to stop there.")
        if tour.at >= len(steps):
            raise CommandError("That was the last step. Press Back to see one again, or Reset to start over.")
        step, index = steps[tour.at], tour.at
        self._branch_if_rewound()  # going on from a moment shown again starts a new branch, as play does
        name = f"Step {index + 1} of {len(steps)}, “{step.title}”"
        done = ""
        if len(tour.began) > index:  # begun already, then paused: its action is done, go on to its moment
            done = "Going on from where it was paused."
        else:
            tour.began.append((self.sim.now, self.sim.processed, len(self.log)))
            if step.action is not None and (data := step.action(self.sim)) is not None:
                try:
                    done = self._change(from_data(data))
                except CommandError as error:  # the lab is not as the step expects (a learner did it already)
                    done = f"Nothing to do: {error}"
        if step.moment is None or step.moment(self.sim):
            tour.at += 1
            self.playing = step.moment is None
            outcome = "done." if step.moment is None else f"done: {step.waits_for} already."
            self._note(f"{name}: {outcome}")
            return " ".join(part for part in (f"{name}: {outcome}", done, self._next_up()) if part)
        tour.running, tour.until_ms = index, self.sim.now + step.within_ms
        self.playing = True
        self._note(f"{name}: playing until {step.waits_for}.")
        return " ".join(part for part in (f"{name}.", done, f"Playing until {step.waits_for}…") if part)

    def _next_up(self) -> str:
        steps, at = self.scenario.guide, self.tour.at
        if at >= len(steps):
            return "That was the last step."
        return f"Next: step {at + 1}, “{steps[at].title}”."

    def do_back(self, deadline: float | None = None) -> str:
        """Rewind to just before the previous step began (or the one playing now), to show it again."""
        tour = self.tour
        index = tour.running if tour.running is not None else tour.at - 1
        if not 0 <= index < len(tour.began):
            raise CommandError("This is the first step: there is nothing to go back to.")
        time, processed, log_length = tour.began[index]  # where the step began, before its own action
        del tour.began[index:]
        tour.at, tour.running = index, None
        back = f"Back to step {index + 1}, “{self.scenario.guide[index].title}”"
        checkpoint = self._latest_checkpoint(time, processed, log_length)
        # a rewind that does not fit in the deadline goes on in ticks, and its sender is told once it is done
        return self._rewind(Job("seek", time, self.sim.now, thaw(checkpoint.snapshot), checkpoint.log_length,
                                done_text=f"{back}: the lab as it was just before it began, at {time / 1000:.1f} s. "
                                          "Press Next to do it again.", processed=processed, log_end=log_length),
                            deadline)

    def _awaited(self) -> Moment | None:
        """The moment the lab plays to, if a guided step is waiting for one."""
        running = self.tour.running
        return None if running is None else self.scenario.guide[running].moment

    def _look_for_moment(self, moment: Moment) -> None:
        """Pause the lab at the moment its running step waits for (or once it waited too long)."""
        tour = self.tour
        assert tour.running is not None
        index, steps = tour.running, self.scenario.guide
        step = steps[index]
        if moment(self.sim):
            tour.running, tour.at, self.playing = None, index + 1, False
            self._note(f"Step {index + 1} of {len(steps)}: {step.waits_for}, at {self.now / 1000:.1f} s. "
                       f"Paused. {self._next_up()}")
        elif self.sim.now >= tour.until_ms:
            tour.running, self.playing = None, False
            self._note(f"Step {index + 1} of {len(steps)}: {step.waits_for} did not happen within "
                       f"{step.within_ms / 1000:g} s. Paused: press Next to wait for it again.")

    def guide(self) -> dict[str, object]:
        """What the guide panel shows (``coordlab.labs.guide.describe``)."""
        return describe(self.scenario.guide, self.tour)

    def do_reset(self) -> str:
        self.cancel_job("Cancelled: the lab was reset.")
        self._begin()
        self._note("The lab was reset to its start.")
        return "The lab is back at its start."

    @property
    def start(self) -> int:
        """The virtual time the scenario begins at (a Kafka lab begins with its cluster up)."""
        return self.checkpoints[0].time

    def do_seek(self, time_ms: int, deadline: float | None = None) -> str:
        target = max(self.start, min(time_ms, self.horizon))
        checkpoint = self._latest_checkpoint(target)
        return self._rewind(Job("seek", target, self.sim.now, thaw(checkpoint.snapshot), checkpoint.log_length),
                            deadline)

    def _latest_checkpoint(self, time: int, processed: int | None = None, log_length: int | None = None) -> Checkpoint:
        """The latest checkpoint at or before virtual ``time`` (and, if given, at or before that many
        events run at that time, and that many log entries applied)."""
        return next(c for c in reversed(self.checkpoints)
                    if c.time <= time and (processed is None or (c.time, c.processed) <= (time, processed))
                    and (log_length is None or c.log_length <= log_length))

    def _rewind(self, job: Job, deadline: float | None) -> str:
        self.playing = False
        self.tour.running = None
        return self._start(job, deadline)

    def fork(self, lab_id: str, sim: Simulation | None = None) -> Lab:
        """A copy of this lab as it is now, history included, under another id; the two go
        their own ways from here. ``sim`` is a copy of the simulation made already (else one
        is made now)."""
        copy = Lab.__new__(Lab)
        copy.__dict__.update(self.__dict__)
        copy.id = lab_id
        copy.sim = sim if sim is not None else thaw(freeze(self.sim))
        copy.job = None
        copy._pace_window = [0.0, 0.0]
        copy.log = list(self.log)
        copy.checkpoints = list(self.checkpoints)
        copy.version = 0
        copy.tour = Tour(**self.tour.as_data())
        return copy

    # -- saving and restoring ------------------------------------------------------

    def state(self, frozen: bool = False) -> dict[str, Any]:
        """The lab as plain data that ``Lab.from_state`` turns back into the same lab.

        The simulation is stored as the latest checkpoint at or before the moment shown,
        plus the log and the exact position (virtual time, events run) to replay to. The
        checkpoint already exists; with ``frozen`` its ``base.snapshot`` is the checkpoint's
        frozen bytes, so taking the state costs next to nothing, and ``snapshot_text`` later
        turns them into the JSON text that ``from_state`` reads (a second for an hour of Kafka
        traffic: the saver does it in a worker thread). Restoring replays at most one
        checkpoint interval. The whole log is kept, so a restored lab can still rewind to any moment
        since its start.
        """
        applied = self._replayed if self.rewound else len(self.log)
        base = self._latest_checkpoint(self.sim.now, log_length=applied)
        start = self.checkpoints[0]
        return {
            "format": STATE_FORMAT,
            "scenario": self.scenario.slug,
            "seed": self.seed,
            "version": self.version,
            "time": self.sim.now,
            "processed": self.sim.processed,
            "playing": self.playing,
            "speed": self.speed,
            "horizon": self.horizon,
            "rewound": self.rewound,
            "replayed": self._replayed,
            "carry": self._carry,
            "checkpoint_every": self._checkpoint_every,
            "start": {"time": start.time, "processed": start.processed},
            "base": {"time": base.time, "processed": base.processed, "log_length": base.log_length,
                     "is_start": base is start,
                     "snapshot": base.snapshot if frozen else snapshot_text(base.snapshot)},
            "log": self._log_data(),
            "guide": self.tour.as_data(),
        }

    def _log_data(self) -> list[list[Any]]:
        """The log as plain data. A lab is saved every few seconds and its log only grows at
        the end (a branch cuts it, a reset replaces it), so the entries already turned into
        data are kept: an hour of a terminal publishing records costs only what is new."""
        log = self.log
        done: list[list[Any]] = getattr(self, "_log_done", [])
        if getattr(self, "_log_done_for", None) is not log or len(log) < len(done) or \
                (done and log[len(done) - 1] is not getattr(self, "_log_done_last", None)):
            done = []  # another log, or one cut since: start again
        done.extend([entry.time, entry.processed, encode(entry.command)] for entry in log[len(done):])
        self._log_done, self._log_done_for, self._log_done_last = done, log, (log[-1] if log else None)
        return list(done)  # a copy: the saver reads it in another thread while the log grows

    @classmethod
    def from_state(cls, lab_id: str, scenario: Scenario, state: dict[str, Any]) -> Lab:
        """Rebuild a lab from ``state()``: the same moment, log, speed and play/pause.

        Its checkpoints are the scenario's start (built again from the seed) and the saved
        one, so a rewind to before that replays the log from the start, as it would have.
        Raises ``ValueError`` if the state is not one this code can restore.
        """
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"a lab state of format {state.get('format')!r}, not {STATE_FORMAT}")
        if state["scenario"] != scenario.slug:
            raise ValueError(f"a state of scenario {state['scenario']!r} given for {scenario.slug!r}")
        lab = cls.__new__(cls)
        lab.id = lab_id
        lab.scenario = scenario
        lab.seed = int(state["seed"])
        lab.version = int(state["version"])
        lab.log = [LogEntry(int(time), int(processed), decode(command)) for time, processed, command in state["log"]]
        saved = state["base"]
        sim = Simulation.restore(saved["snapshot"])
        base = Checkpoint(int(saved["time"]), int(saved["processed"]), int(saved["log_length"]), freeze(sim))
        if saved["is_start"]:
            lab.checkpoints = [base]
        else:
            start_sim = scenario.build(lab.seed)
            if (start_sim.now, start_sim.processed) != (state["start"]["time"], state["start"]["processed"]):
                raise ValueError(f"the scenario {scenario.slug!r} no longer starts where the saved lab started")
            lab.checkpoints = [Checkpoint(start_sim.now, start_sim.processed, 0, freeze(start_sim)), base]
        lab.playing = bool(state["playing"])
        lab.speed = float(state["speed"])
        lab.horizon = int(state["horizon"])
        lab.rewound = bool(state["rewound"])
        lab._replayed = int(state["replayed"])
        lab._carry = float(state["carry"])
        lab._checkpoint_every = int(state["checkpoint_every"])
        lab._simulated_s = 0.0
        lab.checkpoint_due = False
        lab._promised = None
        lab.defer_checkpoints = False
        lab.job = None
        lab.pace, lab._pace_window = lab.speed, [0.0, 0.0]
        lab.tour = Tour.from_data(state.get("guide"), len(scenario.guide))
        applied = lab._replayed if lab.rewound else len(lab.log)
        for entry in lab.log[base.log_length:applied]:
            sim.run_to(entry.time, entry.processed)
            apply_to_simulation(sim, entry.command, scenario)
        sim.run_to(int(state["time"]), int(state["processed"]))
        lab.sim = sim
        # The saved log is already data: the next save need not encode it again.
        lab._log_done, lab._log_done_for = [list(item) for item in state["log"]], lab.log
        lab._log_done_last = lab.log[-1] if lab.log else None
        return lab

    def outbox(self, node: str, after: int) -> tuple[list[dict[str, Any]], int]:
        """What a machine holds for an outside client (a terminal consumer's records) past
        index ``after``, and the index to ask from next time."""
        machine = self.sim.nodes.get(node)
        items: list[dict[str, Any]] = getattr(machine, "outbox", None) or []
        start: int = getattr(machine, "outbox_start", 0)
        end = start + len(items)
        return items[max(0, after - start):], end

    # -- the log, replay and branches ------------------------------------------

    def _record(self, command: dict[str, Any], message: str) -> str:
        self._branch_if_rewound()
        self.log.append(LogEntry(self.sim.now, self.sim.processed, command))
        apply_to_simulation(self.sim, command, self.scenario)
        return message

    def _note(self, text: str) -> None:
        """Say in the timeline what a viewer did, and who if the lab knows (not while looking
        at the past)."""
        if not self.rewound:
            said = f"{self._by}: {text}" if self._by else text
            self._record({"command": "note", "text": said}, said)

    def _branch_if_rewound(self) -> None:
        if not self.rewound:
            return
        dropped = len(self.log) - self._replayed
        del self.log[self._replayed:]
        self.checkpoints = [c for c in self.checkpoints if c.time <= self.sim.now]
        self.horizon = self.sim.now
        self.rewound = False
        note = (f"Going on from {self.sim.now / 1000:.1f} s: a new branch of history"
                + (f"; {dropped} later command(s) are forgotten." if dropped else "."))
        self.log.append(LogEntry(self.sim.now, self.sim.processed, {"command": "note", "text": note}))
        apply_to_simulation(self.sim, {"command": "note", "text": note}, self.scenario)

    # -- describing ---------------------------------------------------------------

    def _describe_next_event(self) -> tuple[str, bool] | None:
        """What the next event is, and whether it is a message reaching a machine."""
        if not self.sim.queue:
            return None
        _, _, event = self.sim.queue[0]
        message_id = getattr(event, "message_id", None)
        if message_id is not None:
            message = self.sim.network.in_flight[message_id]
            return f"a {message.kind} from {message.src} reaches {message.dst}", True
        return f"{event.node}'s {event.name} timer goes off", False


def snapshot_text(frozen: bytes) -> str:
    """A checkpoint's frozen simulation as the JSON snapshot text a saved lab keeps."""
    return thaw(frozen).snapshot()


def _run_to_moment(sim: Simulation, goal: int, moment: Moment, limit: int | None = None) -> bool:
    """``sim.run_until(goal, limit)``, except that it stops (True) after the first event once
    ``moment(sim)`` holds: the clock stays at that event then."""
    if not sim.started:
        sim.start()
    queue, count = sim.queue, 0
    while queue and queue[0][0] <= goal:
        if limit is not None and count == limit:
            return False
        sim.step()
        count += 1
        if moment(sim):
            return True
    sim.now = max(sim.now, goal)
    return True


def _sliced(run: Callable[[int | None], bool], deadline: float | None) -> bool:
    """Call ``run(limit)`` (a simulation run of at most ``limit`` events, True once it got
    there) slice after slice until it gets there (True) or ``deadline`` passes (False)."""
    if deadline is None:
        return run(None)
    while not run(EVENTS_PER_SLICE):
        if perf_counter() >= deadline:
            return False
    return True
