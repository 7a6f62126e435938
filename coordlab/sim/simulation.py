"""The simulation: virtual time, the event queue, faults and snapshots.

The clock is an integer number of milliseconds that jumps to the next event;
nothing sleeps. Events are ordered by (time, sequence), so two events at the
same millisecond run in the order they were scheduled. All randomness comes
from one ``random.Random`` seeded at creation. The same seed and the same
calls give the same trace, byte for byte.
"""

from __future__ import annotations

import heapq
import json
import random
from dataclasses import dataclass, field
from typing import Any

from .codec import decode, encode, serializable
from .network import Message, Network
from .node import CONNECTION_CLOSED, KILLED, POWERED_OFF, Node
from .trace import Trace


@serializable
@dataclass
class Deliver:
    """A message reaches its destination."""

    message_id: int


@serializable
@dataclass
class TimerFired:
    """A timer set by a node goes off (ignored if the node restarted since)."""

    timer_id: int
    node: str
    name: str
    incarnation: int
    data: dict[str, Any]


@serializable
@dataclass
class Simulation:
    """A whole simulated world. Build one with ``Simulation.create(seed)``."""

    seed: int = 0
    now: int = 0
    processed: int = 0
    next_seq: int = 0
    next_message_id: int = 1
    rng: random.Random = field(default_factory=random.Random)
    network: Network = field(default_factory=Network)
    nodes: dict[str, Node] = field(default_factory=dict)
    queue: list[tuple[int, int, Any]] = field(default_factory=list)
    live_timers: dict[int, bool] = field(default_factory=dict)
    trace_log: Trace = field(default_factory=Trace)
    started: bool = False

    @classmethod
    def create(cls, seed: int, network: Network | None = None) -> Simulation:
        return cls(seed=seed, rng=random.Random(seed), network=network or Network())

    # -- building --------------------------------------------------------

    def add_node(self, node: Node) -> Node:
        if node.name in self.nodes:
            raise ValueError(f"there is already a node named {node.name}")
        self.nodes[node.name] = node
        if self.started and node.alive:
            node.start(self)
        return node

    def start(self) -> None:
        """Boot every node (once)."""
        if self.started:
            return
        self.started = True
        for node in list(self.nodes.values()):
            if node.alive:
                node.start(self)

    # -- what nodes call -------------------------------------------------

    def send(self, src: str, dst: str, kind: str, **body: Any) -> Message:
        """Put a message on the wire. If its link is blocked now, or the network
        drops it, it is doomed: it travels, then is lost instead of delivered."""
        message = Message(self.next_message_id, src, dst, kind, body, self.now, self.now)
        self.next_message_id += 1
        reason = self.network.blocked(src, dst)
        if reason is None and self.network.drop_rate and self.rng.random() < self.network.drop_rate:
            reason = "dropped by the network"
        message.doomed = reason or ""
        target = self.nodes.get(dst)
        message.dst_incarnation = target.incarnation if target is not None else -1
        message.deliver_at = self.network.arrival_time(self.rng, src, dst, self.now)
        self.network.in_flight[message.id] = message
        self._schedule(message.deliver_at, Deliver(message.id))
        return message

    def set_timer(self, node: str, name: str, delay_ms: int, **data: Any) -> int:
        """Call ``on_<name>(sim, **data)`` on ``node`` after ``delay_ms``."""
        timer_id = self.next_seq
        incarnation = self.nodes[node].incarnation
        self._schedule(self.now + max(0, delay_ms), TimerFired(timer_id, node, name, incarnation, data))
        self.live_timers[timer_id] = True
        return timer_id

    def cancel_timer(self, timer_id: int) -> None:
        self.live_timers.pop(timer_id, None)

    def trace(self, node: str, kind: str, text: str, **fields: Any) -> None:
        self.trace_log.record(self.now, node, kind, text, **fields)

    # -- running ---------------------------------------------------------

    def next_event_time(self) -> int | None:
        return self.queue[0][0] if self.queue else None

    def step(self) -> bool:
        """Run the next event; the clock jumps to its time. False if none is left."""
        if not self.started:
            self.start()
        if not self.queue:
            return False
        time, _, event = heapq.heappop(self.queue)
        self.now = time
        self.processed += 1
        if type(event) is Deliver:
            self._deliver(event)
        else:
            self._fire(event)
        return True

    def run_until(self, time: int, limit: int | None = None) -> bool:
        """Run every event due at or before ``time``, then set the clock to it; True.

        With ``limit``, run at most that many events: if some due by ``time`` are
        left, the clock stays at the last one run and the answer is False (call
        again to go on; the run is the same as one without a limit).
        """
        if not self.started:
            self.start()
        queue = self.queue
        if limit is None:
            while queue and queue[0][0] <= time:
                self.step()
        else:
            for _ in range(limit):
                if not queue or queue[0][0] > time:
                    break
                self.step()
            else:
                if queue and queue[0][0] <= time:
                    return False
        self.now = max(self.now, time)
        return True

    def run_to(self, time: int, processed: int, limit: int | None = None) -> bool:
        """Run until exactly ``processed`` events have run, then set the clock to ``time``; True.

        Replaying to a recorded (time, processed) position reproduces a run that
        was stepped one event at a time, even inside one millisecond. With
        ``limit``, as in ``run_until``: at most that many events, False if not there yet.
        """
        if not self.started:
            self.start()
        left = processed - self.processed if limit is None else min(limit, processed - self.processed)
        for _ in range(max(0, left)):
            if not self.step():
                break
        if self.processed < processed and self.queue:
            return False
        self.now = max(self.now, time)
        return True

    # -- faults ----------------------------------------------------------

    def crash(self, name: str) -> None:
        """Kill a node's process: volatile state and pending timers are lost, and its host closes
        every connection at once. Each peer that held one (``Node.connected_to``)
        gets a ``ConnectionClosed`` from it, one network delay later, as TCP reports a reset; one
        behind a cut link hears nothing. Messages sent to it later are refused at once."""
        if not self._stop(name, KILLED):
            return
        peers = [n.name for n in self.nodes.values() if n.alive and n.connected_to(name)]
        self.trace(name, "crash", f"{name} was killed: its process died and lost everything not on disk. "
                   "Its connections close at once, so the machines connected to it notice right away.",
                   how=KILLED)
        for peer in peers:
            self.send(name, peer, CONNECTION_CLOSED)

    def power_off(self, name: str) -> None:
        """Pull a node's plug (or freeze it): it loses what is not on disk, as a killed one does,
        but it falls silent. Nothing tells its peers; messages to it vanish, as on a cut link, and
        they find out only when a timeout of their own expires."""
        if not self._stop(name, POWERED_OFF):
            return
        self.trace(name, "power_off", f"{name} lost power: it stopped without a word. Nothing closes its "
                   "connections, so the machines talking to it notice only when their timeouts expire.",
                   how=POWERED_OFF)

    def _stop(self, name: str, how: str) -> bool:
        node = self.nodes[name]
        if not node.alive:
            return False
        fresh = node.fresh_after_crash()
        fresh.alive = False
        fresh.down_since = self.now
        fresh.failure = how
        self.nodes[name] = fresh
        return True

    def restart(self, name: str) -> None:
        """Boot a crashed node again from its durable state."""
        node = self.nodes[name]
        if node.alive:
            return
        node.alive = True
        node.down_since = -1
        node.failure = ""
        node.incarnation += 1
        self.trace(name, "restart", f"{name} restarted from what it had on disk.")
        node.start(self)

    def cut(self, a: str, b: str, both_ways: bool = True) -> None:
        self.network.cut(a, b, both_ways)
        arrow = "↔" if both_ways else "→"
        self.trace("network", "cut", f"The link {a} {arrow} {b} is cut.", a=a, b=b, both_ways=both_ways)

    def restore_link(self, a: str, b: str, both_ways: bool = True) -> None:
        self.network.restore_link(a, b, both_ways)
        arrow = "↔" if both_ways else "→"
        self.trace("network", "restore", f"The link {a} {arrow} {b} works again.",
                   a=a, b=b, both_ways=both_ways)

    def slow(self, src: str, dst: str, extra_ms: int) -> None:
        """Make the one-way link ``src`` → ``dst`` slower by ``extra_ms`` (0 restores it)."""
        self.network.slow(src, dst, extra_ms)
        text = (f"The link {src} → {dst} is slow: {extra_ms} ms more per message." if extra_ms > 0
                else f"The link {src} → {dst} has its normal speed again.")
        self.trace("network", "slow", text, src=src, dst=dst, extra_ms=extra_ms)

    def partition(self, groups: list[list[str]]) -> None:
        self.network.partition(groups)
        sides = " | ".join(", ".join(group) for group in groups)
        self.trace("network", "partition", f"The network splits: {sides}.", groups=groups)

    def heal(self) -> None:
        self.network.heal()
        self.trace("network", "heal", "The network is healed: every link works.")

    # -- snapshots -------------------------------------------------------

    def snapshot(self) -> str:
        """The whole simulation as a JSON string."""
        return json.dumps(encode(self), separators=(",", ":"))

    @staticmethod
    def restore(snapshot: str) -> Simulation:
        sim: Simulation = decode(json.loads(snapshot))
        heapq.heapify(sim.queue)
        return sim

    # -- internals -------------------------------------------------------

    def _schedule(self, time: int, event: Any) -> None:
        heapq.heappush(self.queue, (time, self.next_seq, event))
        self.next_seq += 1

    def _deliver(self, event: Deliver) -> None:
        message = self.network.in_flight.pop(event.message_id)
        node = self.nodes.get(message.dst)
        reason = message.doomed or self.network.blocked(message.src, message.dst)
        if not reason and node is not None and not node.alive and node.failure == POWERED_OFF:
            reason = f"{message.dst} is powered off"
        refused = not reason and (node is None or not node.alive)
        if refused:
            reason = f"{message.dst} is down"
        elif not reason and node is not None and node.incarnation != message.dst_incarnation:
            reason = f"{message.dst} restarted since it was sent (its connection was reset)"
        if reason:
            self._lost(message, reason)
            sender = self.nodes.get(message.src)
            if sender is not None and sender.alive:
                sender.undelivered(self, message, refused)
        elif node is not None:
            node.deliver(self, message)

    def _fire(self, event: TimerFired) -> None:
        if self.live_timers.pop(event.timer_id, None) is None:
            return
        node = self.nodes[event.node]
        if not node.alive or node.incarnation != event.incarnation:
            return
        node.fire(self, event.name, event.data)

    def _lost(self, message: Message, reason: str) -> None:
        self.trace(message.src, "lost",
                   f"A {message.kind} from {message.src} to {message.dst} was lost: {reason}.",
                   message=message.kind, src=message.src, dst=message.dst, reason=reason)
