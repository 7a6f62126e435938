"""The network between named nodes: latency, jitter, loss, cuts and partitions.

A message is visible while in flight (the UI animates it from ``sent_at`` to
``deliver_at``). Links between a pair of nodes are FIFO, as TCP connections
are: a later message never overtakes an earlier one on the same link, whatever
the jitter. A link can be cut in one direction or both; a partition splits the
nodes into groups that cannot reach each other. ``heal()`` restores everything.
A message sent over a blocked link still leaves its sender (the sender cannot
tell) but is marked ``doomed`` and is lost when it would arrive; a message is
also lost if its link is blocked at that moment. Either way the loss is traced
at the arrival time, and the UI can show the doomed message dying on the way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from .codec import serializable


@serializable
@dataclass
class Message:
    """A message on the wire between two nodes."""

    id: int
    src: str
    dst: str
    kind: str
    body: dict[str, Any]
    sent_at: int
    deliver_at: int
    doomed: str = ""
    dst_incarnation: int = -1  # a message to a process that restarted since is lost: its connection was reset


def link_key(src: str, dst: str) -> str:
    return f"{src}>{dst}"


@serializable
@dataclass
class Network:
    """Link policy and the messages currently in flight."""

    latency_ms: int = 50
    jitter_ms: int = 10
    drop_rate: float = 0.0
    cut_links: dict[str, bool] = field(default_factory=dict)
    slow_links: dict[str, int] = field(default_factory=dict)  # extra latency per one-way link
    groups: list[list[str]] = field(default_factory=list)
    in_flight: dict[int, Message] = field(default_factory=dict)
    last_arrival: dict[str, int] = field(default_factory=dict)

    def blocked(self, src: str, dst: str) -> str | None:
        """Why a message from ``src`` to ``dst`` cannot pass now, or None."""
        if link_key(src, dst) in self.cut_links:
            return "link cut"
        if self.groups and self.group_of(src) != self.group_of(dst):
            return "partition"
        return None

    def group_of(self, node: str) -> int:
        """Index of the partition group holding ``node``; unlisted nodes share one."""
        for index, members in enumerate(self.groups):
            if node in members:
                return index
        return len(self.groups)

    def arrival_time(self, rng: random.Random, src: str, dst: str, now: int) -> int:
        """When a message sent now arrives: latency plus jitter, FIFO per link."""
        jitter = rng.randint(-self.jitter_ms, self.jitter_ms) if self.jitter_ms else 0
        key = link_key(src, dst)
        arrival = now + max(1, self.latency_ms + jitter) + self.slow_links.get(key, 0)
        arrival = max(arrival, self.last_arrival.get(key, 0))
        self.last_arrival[key] = arrival
        return arrival

    def cut(self, a: str, b: str, both_ways: bool = True) -> None:
        self.cut_links[link_key(a, b)] = True
        if both_ways:
            self.cut_links[link_key(b, a)] = True

    def restore_link(self, a: str, b: str, both_ways: bool = True) -> None:
        self.cut_links.pop(link_key(a, b), None)
        if both_ways:
            self.cut_links.pop(link_key(b, a), None)

    def partition(self, groups: list[list[str]]) -> None:
        self.groups = [list(group) for group in groups]

    def slow(self, src: str, dst: str, extra_ms: int) -> None:
        if extra_ms > 0:
            self.slow_links[link_key(src, dst)] = extra_ms
        else:
            self.slow_links.pop(link_key(src, dst), None)

    def heal(self) -> None:
        self.cut_links.clear()
        self.slow_links.clear()
        self.groups = []

    def is_cut(self, src: str, dst: str) -> bool:
        """True if the one-way link ``src`` → ``dst`` is cut (ignoring partitions)."""
        return link_key(src, dst) in self.cut_links
