"""The admin client (``KafkaAdminClient``), as a simulated machine.

Topic changes go to the controller (found in the metadata); a broker that is
no longer the controller answers NOT_CONTROLLER and the request is retried
after a metadata refresh. Group descriptions go to the group's coordinator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordlab.sim import Message, Simulation, serializable

from .client import ClientNode, InFlight

NOT_CONTROLLER = 41
RETRY_LIMIT = 20


@serializable
@dataclass
class AdminNode(ClientNode):
    controller: int = -1
    pending: dict[int, dict[str, Any]] = field(default_factory=dict)  # ticket → what to send, and tries
    answers: dict[int, dict[str, Any]] = field(default_factory=dict)  # ticket → the answer's body
    tickets: dict[int, int] = field(default_factory=dict)  # request → ticket
    next_ticket: int = 1

    def auto_create(self) -> bool:
        return False

    def ask(self, sim: Simulation, kind: str, to: str = "controller", **body: Any) -> int:
        """Queue a request for the controller, or "any" broker, or "group:<id>" (that group's
        coordinator, found first with FindCoordinator); returns a ticket."""
        ticket = self.next_ticket
        self.next_ticket += 1
        self.pending[ticket] = {"kind": kind, "to": to, "body": body, "tries": 0}
        self.refresh_metadata(sim)
        return ticket

    def on_metadata(self, sim: Simulation, errors: dict[str, int]) -> None:
        self.send_pending(sim)

    def handle_metadata_response(self, sim: Simulation, message: Message) -> None:
        if message.body["request"] in self.in_flight and message.body.get("controller") is not None:
            self.controller = message.body["controller"]
        super().handle_metadata_response(sim, message)

    def send_pending(self, sim: Simulation) -> None:
        for ticket, item in list(self.pending.items()):
            if item.get("request"):
                continue
            if item["to"] == "controller":
                if self.controller < 0:
                    sim.set_timer(self.name, "metadata_retry", self.retry_backoff_ms * 5)
                    continue
                broker = f"b{self.controller}"
            elif item["to"].startswith("group:") and item.get("coordinator", -1) < 0:
                item["tries"] += 1
                item["request"] = self.request(sim, self.any_broker(), "FindCoordinator", group=item["to"][6:])
                self.tickets[item["request"]] = ticket
                continue
            elif item["to"].startswith("group:"):
                broker = f"b{item['coordinator']}"
            else:
                broker = self.any_broker()
            item["tries"] += 1
            item["request"] = self.request(sim, broker, item["kind"], **item["body"])
            self.tickets[item["request"]] = ticket

    def answer(self, sim: Simulation, message: Message) -> None:
        flight = self.answered(message)
        if flight is None:
            return
        ticket = self.tickets.pop(message.body["request"], 0)
        item = self.pending.get(ticket)
        if item is None:
            return
        if flight.kind == "FindCoordinator" and item["kind"] != "FindCoordinator":
            item["request"] = 0
            item["coordinator"] = message.body["coordinator"] if not message.body["error"] else -1
            if item["tries"] >= RETRY_LIMIT:
                del self.pending[ticket]
                self.answers[ticket] = dict(message.body)
            else:
                sim.set_timer(self.name, "metadata_retry", 0 if not message.body["error"] else self.retry_backoff_ms)
            return
        if self.retriable(message.body) and item["tries"] < RETRY_LIMIT:
            item["request"] = 0
            item["coordinator"] = -1
            self.controller = -1
            self.refresh_metadata(sim)
            return
        del self.pending[ticket]
        self.answers[ticket] = dict(message.body)

    def retriable(self, body: dict[str, Any]) -> bool:
        if body.get("error") in (NOT_CONTROLLER, 14, 15, 16):
            return True
        return any(code == NOT_CONTROLLER for code, _ in body.get("errors", {}).values())

    def request_failed(self, sim: Simulation, request: int, flight: InFlight, code: int) -> None:
        ticket = self.tickets.pop(request, 0)
        item = self.pending.get(ticket)
        if item is None:
            return
        if item["tries"] < RETRY_LIMIT:
            item["request"] = 0
            item["coordinator"] = -1
            self.controller = -1
        else:
            del self.pending[ticket]
            self.answers[ticket] = {"error": code, "errors": {}, "message": "no broker answered"}

    def _late_answer(self, sim: Simulation, message: Message) -> None:
        self.answer(sim, message)  # looked up on the instance: a subclass's own answer is the one called

    handle_create_topics_response = _late_answer
    handle_create_partitions_response = _late_answer
    handle_alter_configs_response = _late_answer
    handle_describe_groups_response = _late_answer
    handle_find_coordinator_response = _late_answer
    handle_offset_fetch_response = _late_answer
