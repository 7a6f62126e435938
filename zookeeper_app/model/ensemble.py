"""The entry point: an ensemble of ZooKeeper servers and its clients in one simulation.

    >>> ens = Ensemble(servers=3, seed=7, tick_time=200)
    >>> ens.run_for(2.0); ens.leader()
    'z3'

Servers are z1..zN (or the names given); clients and other machines join the
same simulated network, so partitions and cuts apply to them too.
"""

from __future__ import annotations

from collections.abc import Callable

from coordlab.sim import Network, Node, Simulation

from .client import ZkClient
from .kazoo import KazooClient
from .server import ZkServer


class Ensemble:
    def __init__(self, servers: int | list[str] = 3, seed: int = 0, tick_time: int = 200, init_limit: int = 10,
                 sync_limit: int = 5, latency_ms: int = 5, jitter_ms: int = 2) -> None:
        names = [f"z{i}" for i in range(1, servers + 1)] if isinstance(servers, int) else list(servers)
        if not names:
            raise ValueError("an ensemble needs at least one server")
        self.sim = Simulation.create(seed, Network(latency_ms=latency_ms, jitter_ms=jitter_ms))
        peer_ids = {name: index for index, name in enumerate(names, start=1)}
        for name in names:
            self.sim.add_node(ZkServer(name=name, sid=peer_ids[name], peers=list(names), peer_ids=peer_ids,
                                       tick_ms=tick_time, init_limit=init_limit, sync_limit=sync_limit))
        self.server_names = names
        self.clients: dict[str, KazooClient] = {}
        self.sim.start()

    # -- time ------------------------------------------------------------------------

    @property
    def now(self) -> int:
        return self.sim.now

    def run_for(self, seconds: float) -> None:
        self.run_until(lambda: False, seconds)

    def run_until(self, done: Callable[[], bool], seconds: float) -> bool:
        """Run until ``done()`` or ``seconds`` of virtual time pass; True if done."""
        deadline = self.sim.now + int(seconds * 1000)
        sim = self.sim
        while not done():
            next_time = sim.next_event_time()
            if next_time is None or next_time > deadline:
                sim.run_until(deadline)
                self.dispatch()
                return done()
            sim.step()
            self.dispatch()
        return True

    def dispatch(self) -> None:
        for client in self.clients.values():
            client.dispatch()

    # -- machines ------------------------------------------------------------------------

    def server(self, name: str) -> ZkServer:
        node = self.sim.nodes[name]
        assert isinstance(node, ZkServer)
        return node

    def servers(self) -> list[ZkServer]:
        return [self.server(name) for name in self.server_names]

    def leader(self) -> str | None:
        """The server leading an established epoch, or None while there is none."""
        leaders = [s for s in self.servers() if s.alive and s.state == "LEADING" and s.established]
        if not leaders:
            return None
        return max(leaders, key=lambda s: s.epoch).name

    def client(self, name: str, hosts: str | None = None, timeout: float = 10.0) -> KazooClient:
        """A kazoo-shaped client on a new machine ``name``."""
        host_list = [h.strip() for h in (hosts or ",".join(self.server_names)).split(",") if h.strip()]
        self.sim.add_node(ZkClient(name=name, hosts=host_list, timeout_ms=int(timeout * 1000)))
        self.clients[name] = KazooClient(self, name)
        return self.clients[name]

    def add(self, node: Node) -> Node:
        """Add another machine (an actor of a story) to the network."""
        return self.sim.add_node(node)

    # -- faults ----------------------------------------------------------------------------

    def crash(self, name: str) -> None:
        self.sim.crash(name)

    def restart(self, name: str) -> None:
        self.sim.restart(name)

    def partition(self, *groups: list[str]) -> None:
        self.sim.partition([list(group) for group in groups])

    def cut(self, a: str, b: str, both_ways: bool = True) -> None:
        self.sim.cut(a, b, both_ways)

    def slow(self, src: str, dst: str, extra_ms: int) -> None:
        self.sim.slow(src, dst, extra_ms)

    def heal(self) -> None:
        self.sim.heal()

    def set_half_quorum(self, enabled: bool) -> None:
        """The unsafe teaching switch: accept a quorum of half the servers (split brain becomes possible)."""
        for server in self.servers():
            server.half_quorum = enabled
        self.sim.trace("ensemble", "unsafe" if enabled else "safe",
                       "UNSAFE: servers now accept half the ensemble as a quorum; split brain is possible."
                       if enabled else "Quorum is a strict majority again.", enabled=enabled)
