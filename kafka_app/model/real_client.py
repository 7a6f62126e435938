"""A real Kafka client (kcat, kafka-python, a learner's service) as a machine of the lab.

What such a client writes travels the lab's network like any producer's request: the
server hands each of its Produce requests to this machine (a logged lab command, so that a
rewind replays it), which sends one ``Produce`` per partition to the broker the client
connected to, exactly as the client built it (its partition, its records, its producer
id and sequence numbers). The broker answers as it answers every producer, and the
answer waits here until the server reads it and writes it back on the client's TCP
connection (``kafka_app.wire``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordlab.sim import Message, Node, Simulation, serializable

#: answers kept for the server to pick up (older ones are dropped: their client gave up by then)
KEEP_ANSWERS = 2000


def answer_key(request: str, topic: str, partition: int) -> str:
    return f"{request}:{topic}:{partition}"


@serializable
@dataclass
class RealClient(Node):
    produced: int = 0  # records it has had acknowledged
    sending: dict[str, int] = field(default_factory=dict)  # answer key → records in that request
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def produce(self, sim: Simulation, broker: str, request: str, acks: int, timeout_ms: int,
                partitions: list[dict[str, Any]]) -> None:
        for item in partitions:
            if acks != 0:
                self.sending[answer_key(request, item["topic"], item["partition"])] = len(item["records"])
                while len(self.sending) > KEEP_ANSWERS:  # requests a broker never answered (it was down)
                    del self.sending[next(iter(self.sending))]
            else:  # no answer will tell: counted as sent
                self.produced += len(item["records"])
            # stamped with the lab's clock: the client's own clock is not the lab's (retention reads it)
            records = [{**record, "timestamp": sim.now} for record in item["records"]]
            sim.send(self.name, broker, "Produce", request=request, topic=item["topic"], partition=item["partition"],
                     acks=acks, timeout_ms=timeout_ms, records=records)

    def handle_produce_response(self, sim: Simulation, message: Message) -> None:
        body = message.body
        key = answer_key(body["request"], body["topic"], body["partition"])
        count = self.sending.pop(key, 0)
        self.produced += count if body["error"] == 0 else 0
        self.answers[key] = {"error": body["error"], "base_offset": body["base_offset"]}
        while len(self.answers) > KEEP_ANSWERS:
            del self.answers[next(iter(self.answers))]
