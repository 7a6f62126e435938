"""Invariant checkers for the heartbeat failure detector.

Each returns a list of violations, one sentence each; an empty list means the
property holds. A timeout detector cannot be accurate while the network is
faulty, so accuracy is only checked on a healed network with every machine up.
"""

from __future__ import annotations

from coordlab.sim import Simulation

from .model import CHECK_EVERY_MS, SUSPECTED, HeartbeatMachine


def completeness(sim: Simulation) -> list[str]:
    """Every running machine suspects every machine that has been down for
    longer than its timeout, counted from the later of the crash and the
    observer's own boot (plus the slowest message delay, since heartbeats sent
    just before the crash still arrive, and one check interval)."""
    worst_delay = sim.network.latency_ms + sim.network.jitter_ms
    violations = []
    for node in _machines(sim):
        if not node.alive:
            continue
        for peer_name in node.peers:
            peer = sim.nodes[peer_name]
            down_for = sim.now - max(peer.down_since, node.booted_at)
            late = peer.down_since >= 0 and down_for > node.timeout_ms + worst_delay + CHECK_EVERY_MS
            if late and node.view.get(peer_name) != SUSPECTED:
                violations.append(f"{node.name} still trusts {peer_name}, down for {down_for / 1000:.1f} s")
    return violations


def accuracy(sim: Simulation, settled_since: int) -> list[str]:
    """On a healthy network, nobody is suspected once a timeout has passed
    since ``settled_since`` (the last fault or restart)."""
    network = sim.network
    healthy = not network.cut_links and not network.groups and not network.drop_rate
    machines = _machines(sim)
    if not healthy or not all(node.alive for node in machines):
        return []
    worst_delay = network.latency_ms + network.jitter_ms
    violations = []
    for node in machines:
        if sim.now - settled_since <= node.timeout_ms + node.interval_ms + worst_delay + CHECK_EVERY_MS:
            continue
        for peer_name, belief in node.view.items():
            if belief == SUSPECTED:
                violations.append(f"{node.name} suspects {peer_name} on a healthy network")
    return violations


def _machines(sim: Simulation) -> list[HeartbeatMachine]:
    return [node for node in sim.nodes.values() if isinstance(node, HeartbeatMachine)]
