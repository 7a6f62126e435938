"""The deterministic simulation kernel: virtual time, a seeded RNG, a network
of named nodes, faults and a trace. Pure Python, standard library only."""

from __future__ import annotations

from .codec import decode, encode, serializable
from .network import Message, Network
from .node import KILLED, POWERED_OFF, Node, durable
from .simulation import Deliver, Simulation, TimerFired
from .trace import Trace, TraceEvent

__all__ = [
    "KILLED",
    "POWERED_OFF",
    "Deliver",
    "Message",
    "Network",
    "Node",
    "Simulation",
    "TimerFired",
    "Trace",
    "TraceEvent",
    "decode",
    "durable",
    "encode",
    "serializable",
]
