"""A heartbeat failure detector, the simplest protocol worth watching.

Every machine sends a ``Heartbeat`` to each peer every ``interval_ms``. A
machine believes a peer alive while it keeps hearing from it, and suspects it
once ``timeout_ms`` pass in silence. The suspicion is only a guess: a dead
machine, a cut link and a slow network look the same from the other end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coordlab.sim import Message, Node, Simulation, durable, serializable

ALIVE = "alive"
SUSPECTED = "suspected"
UNKNOWN = "unknown"

CHECK_EVERY_MS = 100


@serializable
@dataclass
class HeartbeatMachine(Node):
    """A machine with a timeout failure detector."""

    peers: list[str] = durable(default_factory=list)
    interval_ms: int = durable(1000)
    timeout_ms: int = durable(3000)
    boots: int = durable(0)
    booted_at: int = 0
    beats_sent: int = 0
    last_heard: dict[str, int] = field(default_factory=dict)
    view: dict[str, str] = field(default_factory=dict)

    def start(self, sim: Simulation) -> None:
        self.boots += 1
        self.booted_at = sim.now
        self.last_heard = {peer: sim.now for peer in self.peers}
        self.view = {peer: UNKNOWN for peer in self.peers}
        first_beat = sim.rng.randint(0, self.interval_ms - 1)
        sim.set_timer(self.name, "beat", first_beat)
        sim.set_timer(self.name, "check", CHECK_EVERY_MS)
        if self.boots > 1:
            sim.trace(self.name, "boot",
                      f"{self.name} is up again (boot #{self.boots}); it knows nothing about its peers yet.",
                      boots=self.boots)

    def on_beat(self, sim: Simulation) -> None:
        self.beats_sent += 1
        for peer in self.peers:
            sim.send(self.name, peer, "Heartbeat", seq=self.beats_sent)
        sim.set_timer(self.name, "beat", self.interval_ms)

    def on_check(self, sim: Simulation) -> None:
        for peer in self.peers:
            silent_for = sim.now - self.last_heard[peer]
            if self.view[peer] != SUSPECTED and silent_for > self.timeout_ms:
                self.view[peer] = SUSPECTED
                sim.trace(self.name, "suspect",
                          f"{self.name} suspects {peer}: no heartbeat for {silent_for / 1000:.1f} s "
                          f"(timeout {self.timeout_ms / 1000:g} s).",
                          peer=peer, silent_ms=silent_for)
        sim.set_timer(self.name, "check", CHECK_EVERY_MS)

    def handle_heartbeat(self, sim: Simulation, message: Message) -> None:
        peer = message.src
        if peer not in self.last_heard:
            return
        self.last_heard[peer] = sim.now
        before = self.view[peer]
        self.view[peer] = ALIVE
        if before == SUSPECTED:
            sim.trace(self.name, "trust",
                      f"{self.name} hears {peer} again and stops suspecting it.", peer=peer)
        elif before == UNKNOWN and self.boots > 1:
            sim.trace(self.name, "trust", f"{self.name} hears {peer}: it believes {peer} alive.",
                      peer=peer)


def build_cluster(seed: int, names: list[str], interval_ms: int = 1000, timeout_ms: int = 3000,
                  latency_ms: int = 400, jitter_ms: int = 150) -> Simulation:
    """A simulation of machines that all send heartbeats to each other."""
    sim = Simulation.create(seed)
    sim.network.latency_ms = latency_ms
    sim.network.jitter_ms = jitter_ms
    for name in names:
        peers = [other for other in names if other != name]
        sim.add_node(HeartbeatMachine(name=name, peers=peers, interval_ms=interval_ms,
                                      timeout_ms=timeout_ms))
    sim.start()
    return sim
