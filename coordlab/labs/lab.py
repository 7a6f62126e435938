"""A lab: one running scenario with its command log, speed and history.

Time in a lab only moves through ``advance`` (the engine calls it with wall
clock milliseconds), ``step`` and ``forward``. Every command that changes the
simulation is logged with the exact position it was applied at (virtual time
and number of events run), and the lab keeps a checkpoint every few virtual
seconds. Together they make rewind exact: going back to time t restores the
latest checkpoint before t and replays the log up to t. Going on from a
rewound moment starts a new branch and forgets the old future, as RaftScope's
slider does.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter
from typing import Any

from coordlab.sim import Simulation
from coordlab.sim.codec import decode, encode

from .commands import SPEEDS, Command, CommandError
from .scenario import Scenario

CHECKPOINT_EVERY_MS = 5000
MAX_CHECKPOINTS = 240
#: a checkpoint may cost at most this share of the virtual time between two of them, so a big
#: simulation (an hour of Kafka traffic) is snapshotted less often instead of stuttering
CHECKPOINT_SHARE = 0.02
MAX_CHECKPOINT_EVERY_MS = 60_000
#: the layout of ``Lab.state()``; a saved state of another format is not restored
STATE_FORMAT = 1


@dataclass(frozen=True)
class LogEntry:
    """A simulation command and the position it was applied at."""

    time: int
    processed: int
    command: dict[str, Any]


@dataclass(frozen=True)
class Checkpoint:
    """The whole simulation at one moment, and how much of the log led there."""

    time: int
    processed: int
    log_length: int
    snapshot: str


class Lab:
    """A scenario running in virtual time, driven by commands."""

    def __init__(self, lab_id: str, scenario: Scenario, seed: int | None = None) -> None:
        self.id = lab_id
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.version = 0
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
        self._checkpoint()

    @property
    def now(self) -> int:
        return self.sim.now

    def machine_names(self) -> list[str]:
        return list(self.sim.nodes)

    # -- the clock --------------------------------------------------------

    def advance(self, wall_ms: float) -> bool:
        """Move virtual time on by ``wall_ms`` × speed if playing; True if it moved."""
        if not self.playing:
            return False
        self._carry += wall_ms * self.speed
        whole = int(self._carry)
        if whole <= 0:
            return False
        self._carry -= whole
        self._branch_if_rewound()
        self._run_to(self.sim.now + whole)
        self.version += 1
        return True

    def _run_to(self, time: int) -> None:
        while self.checkpoints[-1].time + self._checkpoint_every <= time:
            self.sim.run_until(self.checkpoints[-1].time + self._checkpoint_every)
            self._checkpoint()
        self.sim.run_until(time)
        self.horizon = max(self.horizon, self.sim.now)

    def _checkpoint(self) -> None:
        sim = self.sim
        started = perf_counter()
        self.checkpoints.append(Checkpoint(sim.now, sim.processed, len(self.log), sim.snapshot()))
        cost_ms = (perf_counter() - started) * 1000
        # Where checkpoints fall changes nothing in the simulation, only how far a rewind replays.
        self._checkpoint_every = min(MAX_CHECKPOINT_EVERY_MS, max(CHECKPOINT_EVERY_MS, int(cost_ms / CHECKPOINT_SHARE)))
        if len(self.checkpoints) > MAX_CHECKPOINTS:
            # Thin out the older half; the first checkpoint (time zero) stays.
            self.checkpoints = self.checkpoints[:1] + self.checkpoints[2::2]

    # -- commands -----------------------------------------------------------

    def apply(self, command: Command) -> str:
        """Carry out ``command``; return a sentence for the sender.

        Raises ``CommandError`` and changes nothing if the command cannot apply.
        """
        handler = getattr(self, "do_" + command.name)
        message: str = handler(**command.args)
        self.version += 1
        return message

    def do_play(self) -> str:
        self.playing = True
        self._note(f"Playing at {self.speed:g}x.")
        return f"Playing at {self.speed:g}x."

    def do_pause(self) -> str:
        self.playing = False
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
        self.playing = False
        self._branch_if_rewound()
        description = self._describe_next_event()
        if description is None:
            return "Nothing is scheduled: there is no next event."
        self.sim.step()
        self.horizon = max(self.horizon, self.sim.now)
        return f"Stepped to {self.sim.now / 1000:.3f} s: {description}."

    def do_forward(self, seconds: int) -> str:
        self._branch_if_rewound()
        self._run_to(self.sim.now + seconds * 1000)
        return f"Jumped {seconds} s ahead to {self.sim.now / 1000:.1f} s."

    def do_reset(self) -> str:
        self._begin()
        self._note("The lab was reset to its start.")
        return "The lab is back at its start."

    @property
    def start(self) -> int:
        """The virtual time the scenario begins at (a Kafka lab begins with its cluster up)."""
        return self.checkpoints[0].time

    def do_seek(self, time_ms: int) -> str:
        target = max(self.start, min(time_ms, self.horizon))
        self._rebuild_at(target)
        self.playing = False
        self.rewound = target < self.horizon
        return f"Showing the lab at {target / 1000:.1f} s. Press play to go on from here."

    def do_crash(self, node: str) -> str:
        self._require_machine(node, alive=True)
        return self._record({"command": "crash", "node": node}, f"Killed {node}.")

    def do_restart(self, node: str) -> str:
        self._require_machine(node, alive=False)
        return self._record({"command": "restart", "node": node}, f"Restarted {node}.")

    def do_cut(self, a: str, b: str, both_ways: bool) -> str:
        self._require_link(a, b)
        if self.sim.network.is_cut(a, b) and (not both_ways or self.sim.network.is_cut(b, a)):
            raise CommandError(f"The link {a} → {b} is already cut.")
        return self._record({"command": "cut", "a": a, "b": b, "both_ways": both_ways},
                            f"Cut the link between {a} and {b}." if both_ways
                            else f"Cut the link from {a} to {b} (one way).")

    def do_restore(self, a: str, b: str, both_ways: bool) -> str:
        self._require_link(a, b)
        return self._record({"command": "restore", "a": a, "b": b, "both_ways": both_ways},
                            f"Restored the link between {a} and {b}.")

    def do_partition(self, preset: str) -> str:
        found = self.scenario.preset(preset)
        if found is None:
            raise CommandError(f"Unknown partition preset '{preset}'.")
        groups = found.resolve(self.sim)
        if len(groups) < 2:
            raise CommandError(f"“{found.label}” does not apply right now.")
        return self._record({"command": "partition", "groups": groups}, f"{found.label}.")

    def do_console(self, **args: Any) -> str:
        if self.scenario.console is None:
            raise CommandError("This lab has no console.")
        if args["op"] not in self.scenario.console_ops:
            raise CommandError(f"Unknown operation '{args['op']}' (try: {', '.join(self.scenario.console_ops)}).")
        return self._record({"command": "console", **args}, "Sent: the answer appears in the console.")

    def do_toggle(self, name: str, on: bool) -> str:
        found = self.scenario.toggle(name)
        if found is None:
            raise CommandError(f"Unknown switch '{name}'.")
        return self._record({"command": "toggle", "name": name, "on": on},
                            f"{found.label}: {'on' if on else 'off'}.")

    def do_act(self, op: str, fields: dict[str, Any]) -> str:
        if self.scenario.actions is None:
            raise CommandError("This lab has no actions of its own.")
        logged, message = self.scenario.actions.check(self.sim, op, fields)
        return self._record({"command": "act", **logged}, message)

    def fork(self, lab_id: str) -> Lab:
        """A copy of this lab as it is now, history included, under another id; the two go
        their own ways from here."""
        copy = Lab.__new__(Lab)
        copy.__dict__.update(self.__dict__)
        copy.id = lab_id
        copy.sim = Simulation.restore(self.sim.snapshot())
        copy.log = list(self.log)
        copy.checkpoints = list(self.checkpoints)
        copy.version = 0
        return copy

    # -- saving and restoring ------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The lab as plain data that ``Lab.from_state`` turns back into the same lab.

        The simulation is stored as the latest checkpoint at or before the moment shown,
        plus the log and the exact position (virtual time, events run) to replay to. The
        checkpoint's snapshot string already exists, so saving a lab costs next to nothing
        even when a fresh snapshot of it would take a second (an hour of Kafka traffic);
        restoring replays at most one checkpoint interval. The whole log is kept, so a
        restored lab can still rewind to any moment since its start.
        """
        applied = self._replayed if self.rewound else len(self.log)
        base = next(c for c in reversed(self.checkpoints) if c.time <= self.sim.now and c.log_length <= applied)
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
                     "is_start": base is start, "snapshot": base.snapshot},
            "log": self._log_data(),
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
        base = Checkpoint(int(saved["time"]), int(saved["processed"]), int(saved["log_length"]), saved["snapshot"])
        if saved["is_start"]:
            lab.checkpoints = [base]
        else:
            start_sim = scenario.build(lab.seed)
            if (start_sim.now, start_sim.processed) != (state["start"]["time"], state["start"]["processed"]):
                raise ValueError(f"the scenario {scenario.slug!r} no longer starts where the saved lab started")
            lab.checkpoints = [Checkpoint(start_sim.now, start_sim.processed, 0, start_sim.snapshot()), base]
        lab.playing = bool(state["playing"])
        lab.speed = float(state["speed"])
        lab.horizon = int(state["horizon"])
        lab.rewound = bool(state["rewound"])
        lab._replayed = int(state["replayed"])
        lab._carry = float(state["carry"])
        lab._checkpoint_every = int(state["checkpoint_every"])
        sim = Simulation.restore(base.snapshot)
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

    def do_heal(self) -> str:
        return self._record({"command": "heal"}, "Healed the network.")

    # -- the log, replay and branches ------------------------------------------

    def _record(self, command: dict[str, Any], message: str) -> str:
        self._branch_if_rewound()
        self.log.append(LogEntry(self.sim.now, self.sim.processed, command))
        apply_to_simulation(self.sim, command, self.scenario)
        return message

    def _note(self, text: str) -> None:
        """Say in the timeline what a viewer did (not while looking at the past)."""
        if not self.rewound:
            self._record({"command": "note", "text": text}, text)

    def _rebuild_at(self, time: int) -> None:
        checkpoint = next(c for c in reversed(self.checkpoints) if c.time <= time)
        sim = Simulation.restore(checkpoint.snapshot)
        applied = checkpoint.log_length
        for entry in self.log[checkpoint.log_length:]:
            if entry.time > time:
                break
            sim.run_to(entry.time, entry.processed)
            apply_to_simulation(sim, entry.command, self.scenario)
            applied += 1
        sim.run_until(time)
        self.sim = sim
        self._replayed = applied
        self._carry = 0.0

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

    # -- checks ------------------------------------------------------------------

    def _require_machine(self, name: str, alive: bool) -> None:
        node = self.sim.nodes.get(name)
        if node is None:
            known = ", ".join(self.sim.nodes)
            raise CommandError(f"There is no machine '{name}' in this lab (machines: {known}).")
        if alive and not node.alive:
            raise CommandError(f"{name} is already down.")
        if not alive and node.alive:
            raise CommandError(f"{name} is already running.")

    def _require_link(self, a: str, b: str) -> None:
        for name in (a, b):
            if name not in self.sim.nodes:
                raise CommandError(f"There is no machine '{name}' in this lab.")
        if a == b:
            raise CommandError("A link joins two different machines.")

    def _describe_next_event(self) -> str | None:
        if not self.sim.queue:
            return None
        _, _, event = self.sim.queue[0]
        message_id = getattr(event, "message_id", None)
        if message_id is not None:
            message = self.sim.network.in_flight[message_id]
            return f"a {message.kind} from {message.src} reaches {message.dst}"
        return f"{event.node}'s {event.name} timer goes off"


def apply_to_simulation(sim: Simulation, command: dict[str, Any], scenario: Scenario) -> None:
    """Apply one logged command to a simulation (live, and again on replay)."""
    name = command["command"]
    toggle = scenario.toggle(command.get("name", "")) if name == "toggle" else None
    if name == "crash":
        sim.crash(command["node"])
    elif name == "restart":
        sim.restart(command["node"])
    elif name == "cut":
        sim.cut(command["a"], command["b"], command["both_ways"])
    elif name == "restore":
        sim.restore_link(command["a"], command["b"], command["both_ways"])
    elif name == "partition":
        sim.partition(command["groups"])
    elif name == "heal":
        sim.heal()
    elif name == "note":
        sim.trace("lab", "note", command["text"])
    elif toggle is not None:
        toggle.apply(sim, command["on"])
    elif name == "act" and scenario.actions is not None:
        scenario.actions.apply(sim, {k: v for k, v in command.items() if k != "command"})
    elif name == "console" and scenario.console is not None:
        scenario.console(sim, {k: v for k, v in command.items() if k != "command"})
    else:
        raise ValueError(f"not a simulation command: {name}")
