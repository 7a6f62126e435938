"""How fast failures are noticed, against ZooKeeper 3.8.0 (golden l_failover_timing.json).

capture.py (scenario ``l``) ran each case five times on a fresh 3-server ensemble on loopback
(tickTime 200, initLimit 50, syncLimit 25) with a kazoo client (timeout 10 s, negotiated 4 s)
and recorded, in seconds after the signal, when each thing happened. A SIGKILL is ``crash``
here (the process dies, its connections close at once); a SIGSTOP is ``power_off`` (the
machine falls silent, and only timeouts tell). The model runs each case over several seeds
(its network delays and kazoo's retry jitter are drawn from the seed), and each figure's
median must fall within what the real ensemble showed, widened by a margin for what the model
leaves out (loopback is 0.1 ms, the model's links 3–7 ms; fsyncs, thread wake-ups).

Left out, as a difference the test names: kazoo forgets its watchers when a connection drops
(it calls each with a NONE event, ``_reset_watchers``), so the real watch never fired after the
client's server was killed; the model's client re-registers its watches on the new server as
ZooKeeper's own Java client does (``SetWatches``), so its watch fires.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import pytest

from zookeeper_app.model import Ensemble
from zookeeper_app.model.client import CONNECTED, SUSPENDED
from zookeeper_app.model.codes import Code
from zookeeper_app.model.prep import CreateRequest

from .golden_replay import load
from .test_golden_epochs import LIMITS, settled

REAL = load("l_failover_timing")
SEEDS = range(1, 11)
MARGIN_S = 0.1  # what the model leaves out: loopback's 0.1 ms links are 3–7 ms here, fsyncs, thread wake-ups


class Case:
    """One failure on a settled model ensemble, and the first time each figure's condition held."""

    def __init__(self, seed: int, client_on: str) -> None:
        self.ens = ens = Ensemble(servers=3, seed=seed, **LIMITS)
        assert ens.run_until(lambda: settled(ens), 90)
        self.leader = ens.leader()
        followers = [n for n in ens.server_names if n != self.leader]
        first = self.leader if client_on == "leader" else followers[0]
        hosts = [first] + [n for n in ens.server_names if n != first]
        self.zk = ens.client("C", hosts=",".join(hosts))
        self.zk.start()
        assert self.zk.node.server == first
        self.zk.create("/k")
        self.session = self.zk.node.session
        self.writing = 0
        self.suspended = False

    def write(self) -> bool:
        """Keep one write outstanding, as capture.py's loop does; True once one succeeded."""
        node = self.ens.sim.nodes["C"]
        if self.writing and self.writing in node.replies:
            code = node.replies.pop(self.writing)[0]
            if code == Code.OK:
                return True
            self.writing = 0
        if not self.writing:
            self.writing = node.submit(self.ens.sim, CreateRequest("/k/w-", b"", False, True))
        return False

    def measure(self, fail: Callable[[], None], figures: dict[str, Callable[[], bool]],
                seconds: float = 30) -> dict[str, float]:
        """As capture.py: a write loop fails the leader while a write is out; the client-server
        cases and the followers' kill come 0.5 s after the client's last request."""
        if "secs_first_write_ok" in figures:
            self.write()
        else:
            self.ens.run_for(0.5)
        start, found = self.ens.now, {}
        fail()

        def done() -> bool:
            for name, holds in figures.items():
                if name not in found and holds():
                    found[name] = (self.ens.now - start) / 1000
            return len(found) == len(figures)

        assert self.ens.run_until(done, seconds), f"never: {set(figures) - set(found)}"
        return found

    def client_state(self) -> str:
        state = self.ens.sim.nodes["C"].state
        self.suspended |= state == SUSPENDED
        return state

    def others_serving(self, count: int) -> bool:
        return sum(s.alive and s.serving and s.name != self.leader for s in self.ens.servers()) >= count


def leader_failure(seed: int, how: str) -> dict[str, float]:
    case = Case(seed, client_on="follower")
    ens = case.ens
    survivors = [s for s in ens.server_names if s != case.leader]

    def new_leader() -> bool:
        return ens.leader() not in (None, case.leader)

    return case.measure(lambda: getattr(ens.sim, how)(case.leader), {
        "secs_survivor_stops_serving": lambda: not all(ens.server(s).serving for s in survivors),
        "secs_new_leader_serving": new_leader,
        "secs_survivors_serving": lambda: new_leader() and all(ens.server(s).serving for s in survivors),
        "secs_first_write_ok": case.write,
        "secs_client_suspended": lambda: case.client_state() == SUSPENDED,
        "secs_client_reconnected": lambda: case.client_state() == CONNECTED and case.suspended,
    })


def followers_killed(seed: int) -> dict[str, float]:
    case = Case(seed, client_on="leader")
    ens = case.ens

    def kill_both() -> None:
        for name in ens.server_names:
            if name != case.leader:
                ens.sim.crash(name)

    return case.measure(kill_both, {
        "secs_leader_stops_serving": lambda: not ens.server(case.leader).serving,
        "secs_client_on_leader_suspended": lambda: case.client_state() == SUSPENDED,
    })


def client_server_failure(seed: int, how: str) -> dict[str, float]:
    case = Case(seed, client_on="follower")
    server = case.zk.node.server
    case.zk.create("/k/mine", ephemeral=True)
    found = case.measure(lambda: getattr(case.ens.sim, how)(server), {
        "secs_client_suspended": lambda: case.client_state() == SUSPENDED,
        "secs_client_reconnected": lambda: case.client_state() == CONNECTED and case.suspended,
    })
    # as on the real ensemble: the session moved, and its ephemeral node stayed
    assert case.zk.node.session == case.session and case.zk.node.server != server
    assert case.zk.exists("/k/mine").ephemeralOwner == case.session
    return found


MEASURE: dict[str, Callable[[int], dict[str, float]]] = {
    "leader_kill": lambda seed: leader_failure(seed, "crash"),
    "leader_power_off": lambda seed: leader_failure(seed, "power_off"),
    "both_followers_killed": followers_killed,
    "client_server_killed": lambda seed: client_server_failure(seed, "crash"),
    "client_server_power_off": lambda seed: client_server_failure(seed, "power_off"),
}


@pytest.mark.parametrize("case", list(MEASURE))
def test_failures_are_noticed_about_as_fast_as_on_real_zookeeper(case):
    runs = [MEASURE[case](seed) for seed in SEEDS]
    for figure, (low, high) in REAL["facts"][case].items():
        model = statistics.median(run[figure] for run in runs)
        print(f"{case} {figure}: model median {model:.3f} s, real {low:.3f}–{high:.3f} s")
        assert low - MARGIN_S <= model <= high + MARGIN_S, (case, figure, model, (low, high))
