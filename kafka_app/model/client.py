"""What every Kafka client does: talk to brokers, time requests out, keep metadata.

A client knows only its bootstrap brokers at first. It asks any of them for
metadata (which broker leads which partition) and talks to leaders directly,
as Kafka's ``NetworkClient`` does; when a broker answers "not the leader" or
a request fails, it refreshes its metadata from another broker and retries.
A request to a broker whose process is down fails at once (connection
refused), and so does every request a broker had not answered when its process
was killed (its connection closes); one lost in a partition, or to a broker
that lost power, fails after ``request_timeout_ms``. Each failure refreshes
the metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordlab.sim import Message, Node, Simulation, durable, serializable

from .protocol import broker_name

CONNECTION_FAILED = -2  # not a protocol code: the request never got an answer
NETWORK_EXCEPTION = 13  # what a request fails with when its connection closes before the answer


@serializable
@dataclass
class InFlight:
    kind: str
    broker: str
    sent_at: int
    body: dict[str, Any]


@serializable
@dataclass
class ClientNode(Node):
    bootstrap: list[str] = durable(default_factory=list)
    client_id: str = durable("")
    request_timeout_ms: int = durable(30_000)
    retry_backoff_ms: int = durable(100)
    metadata_max_age_ms: int = durable(300_000)
    next_request: int = 1
    in_flight: dict[int, InFlight] = field(default_factory=dict)
    topics: dict[str, Any] = field(default_factory=dict)  # topic → {"partitions": {"0": {...}}, ...}
    brokers: list[int] = field(default_factory=list)
    wanted: list[str] = field(default_factory=list)
    metadata_request: int = 0
    metadata_turn: int = 0
    metadata_due: bool = False
    metadata_at: int = -1  # when the last metadata answer arrived

    # -- requests -----------------------------------------------------------------------------------

    def request(self, sim: Simulation, broker: str, kind: str, **body: Any) -> int:
        request = self.next_request
        self.next_request += 1
        self.in_flight[request] = InFlight(kind, broker, sim.now, body)
        sim.send(self.name, broker, kind, request=request, **body)
        sim.set_timer(self.name, "request_timeout", self.request_timeout_ms, request=request)
        return request

    def answered(self, message: Message) -> InFlight | None:
        """The request this response answers, if still awaited (stale answers are dropped)."""
        flight = self.in_flight.get(message.body["request"])
        if flight is None or flight.broker != message.src:
            return None
        del self.in_flight[message.body["request"]]
        return flight

    def on_request_timeout(self, sim: Simulation, request: int) -> None:
        flight = self.in_flight.pop(request, None)
        if flight is not None:
            self.failed(sim, request, flight, 7)  # REQUEST_TIMED_OUT

    def undelivered(self, sim: Simulation, message: Message, refused: bool) -> None:
        """A refused connection fails the request at once; a loss on the way is noticed by its timeout."""
        if not refused:
            return
        flight = self.in_flight.pop(message.body.get("request", 0), None)
        if flight is not None:
            self.failed(sim, message.body["request"], flight, CONNECTION_FAILED)

    def connected_to(self, peer: str) -> bool:
        """``NetworkClient`` keeps a connection to each broker it has talked to."""
        return peer in self.bootstrap or peer in (broker_name(b) for b in self.brokers) or any(
            flight.broker == peer for flight in self.in_flight.values())

    def handle_connection_closed(self, sim: Simulation, message: Message) -> None:
        """A broker's process was killed: what it had not answered fails now (``NetworkClient``
        sees the disconnection), not after ``request_timeout_ms``."""
        lost = [request for request, flight in self.in_flight.items() if flight.broker == message.src]
        if not lost:
            return
        sim.trace(self.name, "disconnected", f"{self.name}'s connection to {message.src} closed: {len(lost)} "
                  "request(s) fail at once, and it asks another broker for metadata.", broker=message.src)
        for request in lost:
            self.failed(sim, request, self.in_flight.pop(request), NETWORK_EXCEPTION)

    def failed(self, sim: Simulation, request: int, flight: InFlight, code: int) -> None:
        """A request got no answer (``code``: REQUEST_TIMED_OUT, NETWORK_EXCEPTION or a refused connection)."""
        if flight.kind == "Metadata":
            self.metadata_request = 0
            sim.set_timer(self.name, "metadata_retry", self.retry_backoff_ms)
        else:
            self.request_failed(sim, request, flight, code)
            self.refresh_metadata(sim)

    def request_failed(self, sim: Simulation, request: int, flight: InFlight, code: int) -> None:
        """Subclasses: a request other than Metadata failed."""

    # -- metadata -------------------------------------------------------------------------------------

    def want(self, sim: Simulation, topics: list[str]) -> None:
        new = [t for t in topics if t not in self.wanted]
        if new:
            self.wanted.extend(new)
            self.refresh_metadata(sim)

    def any_broker(self) -> str:
        """The next broker to ask, in turn: known live brokers, else the bootstrap list."""
        candidates = [broker_name(b) for b in self.brokers] or self.bootstrap
        self.metadata_turn += 1
        return candidates[self.metadata_turn % len(candidates)]

    def refresh_metadata(self, sim: Simulation) -> None:
        if self.metadata_request:
            self.metadata_due = True
            return
        self.metadata_due = False
        self.metadata_request = self.request(sim, self.any_broker(), "Metadata", topics=list(self.wanted),
                                             allow_auto_create=self.auto_create())

    def auto_create(self) -> bool:
        return True

    def on_metadata_retry(self, sim: Simulation) -> None:
        self.refresh_metadata(sim)

    def on_metadata_age(self, sim: Simulation) -> None:
        """``metadata.max.age.ms``: refresh even without an error, so new partitions and brokers are seen."""
        if self.metadata_at >= 0 and sim.now - self.metadata_at >= self.metadata_max_age_ms:
            self.refresh_metadata(sim)

    def handle_metadata_response(self, sim: Simulation, message: Message) -> None:
        if self.answered(message) is None:
            return
        self.metadata_request = 0
        self.metadata_at = sim.now
        sim.set_timer(self.name, "metadata_age", self.metadata_max_age_ms)
        body = message.body
        self.brokers = list(body["brokers"])
        self.topics.update(body["topics"])
        if body["errors"] or self.metadata_due:
            sim.set_timer(self.name, "metadata_retry", self.retry_backoff_ms)
        self.on_metadata(sim, body["errors"])

    def on_metadata(self, sim: Simulation, errors: dict[str, int]) -> None:
        """Subclasses: new metadata arrived."""

    def leader_of(self, topic: str, partition: int) -> int:
        info = self.topics.get(topic, {}).get("partitions", {}).get(str(partition))
        return -1 if info is None else int(info["leader"])

    def partition_count(self, topic: str) -> int:
        return len(self.topics.get(topic, {}).get("partitions", {}))
