"""The consumer (``KafkaConsumer`` with group management), as a simulated machine.

With a group it finds its coordinator, joins, and when it is the group's
leader computes everyone's assignment with the first assignor all members
support (range, round-robin or cooperative-sticky, each with Kafka's exact
results). It heartbeats every ``heartbeat_interval_ms``; a heartbeat answered
REBALANCE_IN_PROGRESS makes it join again. With an eager assignor it commits
and gives up all its partitions before rejoining; with cooperative-sticky it
keeps them and gives up only those the new assignment moves, then rejoins.

For each assigned partition its position starts at the committed offset, or
where ``auto_offset_reset`` says (earliest: the log start; latest: the high
watermark). It fetches from each partition's leader (long-polling up to
``fetch_max_wait_ms``), buffers the records and hands them out by ``poll()``,
or by itself at ``rate`` records a second (a simulated service's processing
speed). Auto-commit sends positions every ``auto_commit_interval_ms``.

Without a group, it reads every partition of its topics and commits nothing.
Defaults are kafka-python's (session 10 s, heartbeat 3 s, auto_offset_reset latest).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordlab.sim import Message, Simulation, durable, serializable

from .assignment import range_assign, round_robin_assign
from .client import CONNECTION_FAILED, NETWORK_EXCEPTION, ClientNode, InFlight
from .log import Record
from .records import log_name, split_log_name
from .sticky import cooperative_sticky_assign

EVIDENCE_LIMIT = 20_000
COORDINATOR_ERRORS = (13, 14, 15, 16, CONNECTION_FAILED, 7)
ASSIGNORS = ("range", "roundrobin", "cooperative-sticky")


@serializable
@dataclass
class ConsumerNode(ClientNode):
    group_id: str = durable("")
    subscription: list[str] = durable(default_factory=list)
    auto_offset_reset: str = durable("latest")
    enable_auto_commit: bool = durable(True)
    auto_commit_interval_ms: int = durable(5_000)
    session_timeout_ms: int = durable(10_000)
    heartbeat_interval_ms: int = durable(3_000)
    max_poll_interval_ms: int = durable(300_000)
    max_poll_records: int = durable(500)
    fetch_max_wait_ms: int = durable(500)
    assignors: list[str] = durable(default_factory=lambda: ["range", "roundrobin"])
    rate: float = durable(0.0)
    keep_evidence: bool = durable(True)
    evidence_limit: int = durable(EVIDENCE_LIMIT)  # records and commits kept for the checkers
    phase: str = "idle"  # idle, finding, joining, syncing, stable, closed, failed
    error: int = 0
    coordinator: int = -1
    member_id: str = ""
    generation: int = -1
    is_leader: bool = False
    assigned_counts: dict[str, int] = field(default_factory=dict)  # partitions per topic the leader assigned
    assignment: list[str] = field(default_factory=list)
    positions: dict[str, int] = field(default_factory=dict)
    fetch_positions: dict[str, int] = field(default_factory=dict)
    committed: dict[str, int] = field(default_factory=dict)
    high_watermarks: dict[str, int] = field(default_factory=dict)
    buffer: dict[str, list[Record]] = field(default_factory=dict)
    fetching: dict[str, int] = field(default_factory=dict)  # broker → fetch request in flight
    paused: bool = False
    resets: list[str] = field(default_factory=list)
    budget: float = 0.0
    heartbeat_ok_at: int = 0
    heartbeat_running: bool = False
    processed: int = 0
    commit_results: dict[int, int] = field(default_factory=dict)
    leave_request: int = 0
    consumed: list[tuple[str, int, int, int, int, int]] = field(default_factory=list)  # (t, p, off, pid, seq, hw)
    commits: list[tuple[int, str, int, int, bool]] = field(default_factory=list)  # (time, "t-p", offset, gen, reset)

    def start(self, sim: Simulation) -> None:
        if self.phase == "closed":
            return
        self.want(sim, list(self.subscription))
        if self.group_id:
            self.find_coordinator(sim)
            if self.enable_auto_commit:
                sim.set_timer(self.name, "auto_commit", self.auto_commit_interval_ms)
        else:
            self.phase = "stable"
        if self.rate > 0:
            sim.set_timer(self.name, "process", 100)

    def eager(self) -> bool:
        """The rebalance protocol: cooperative only if every configured assignor supports it."""
        return any(a != "cooperative-sticky" for a in self.assignors)

    def auto_create(self) -> bool:
        return False

    # -- finding the coordinator and joining --------------------------------------------------------------

    def find_coordinator(self, sim: Simulation) -> None:
        if self.phase in ("closed", "failed"):
            return
        self.phase = "finding"
        self.coordinator = -1
        self.request(sim, self.any_broker(), "FindCoordinator", group=self.group_id)

    def handle_find_coordinator_response(self, sim: Simulation, message: Message) -> None:
        if self.answered(message) is None or self.phase != "finding":
            return
        if message.body["error"]:
            sim.set_timer(self.name, "find_again", self.retry_backoff_ms * 3)
            self.refresh_metadata(sim)
            return
        self.coordinator = message.body["coordinator"]
        self.join(sim)

    def on_find_again(self, sim: Simulation) -> None:
        if self.phase == "finding":
            self.find_coordinator(sim)

    def coordinator_lost(self, sim: Simulation) -> None:
        sim.trace(self.name, "coordinator_lost", f"{self.name} lost its group coordinator "
                  f"b{self.coordinator}; it looks for the new one.", group=self.group_id)
        self.find_coordinator(sim)

    def join(self, sim: Simulation) -> None:
        if self.phase in ("closed", "failed") or self.coordinator < 0:
            return
        if self.eager() and self.assignment:
            self.commit_positions(sim)
            self.revoke(sim, list(self.assignment))
        self.phase = "joining"
        self.request(sim, f"b{self.coordinator}", "JoinGroup", group=self.group_id, member_id=self.member_id,
                     client_id=self.client_id, session_timeout=self.session_timeout_ms,
                     rebalance_timeout=self.max_poll_interval_ms, protocols=list(self.assignors),
                     topics=list(self.subscription), owned=[list(split_log_name(n)) for n in self.assignment])

    def handle_join_group_response(self, sim: Simulation, message: Message) -> None:
        if self.answered(message) is None or self.phase != "joining":
            return
        body = message.body
        error = body["error"]
        if error:
            self.group_error(sim, error, "JoinGroup")
            return
        self.member_id, self.generation = body["member_id"], body["generation"]
        self.is_leader = body["leader"] == self.member_id
        assignments: dict[str, list[list[Any]]] = {}
        if self.is_leader:
            assignments = self.assign(body["protocol"], body["members"])
        self.phase = "syncing"
        self.request(sim, f"b{self.coordinator}", "SyncGroup", group=self.group_id, member_id=self.member_id,
                     generation=self.generation, assignments=assignments)
        self.start_heartbeats(sim)

    def assign(self, protocol: str, members: list[dict[str, Any]]) -> dict[str, list[list[Any]]]:
        """The group leader's job: everyone's partitions, by the chosen assignor."""
        topics = sorted({t for m in members for t in m["topics"]})
        counts = {t: self.partition_count(t) for t in topics if self.partition_count(t)}
        self.assigned_counts = {t: self.partition_count(t) for t in topics}
        subscriptions = {m["member_id"]: list(m["topics"]) for m in members}
        if protocol == "roundrobin":
            result = round_robin_assign(counts, subscriptions)
        elif protocol == "cooperative-sticky":
            owned = {m["member_id"]: [(str(t), int(p)) for t, p in m["owned"]] for m in members}
            result = cooperative_sticky_assign(counts, sorted(subscriptions), owned).cooperative()
        else:
            result = range_assign(counts, subscriptions)
        return {member: [list(tp) for tp in tps] for member, tps in result.items()}

    def handle_sync_group_response(self, sim: Simulation, message: Message) -> None:
        if self.answered(message) is None or self.phase != "syncing":
            return
        body = message.body
        if body["error"]:
            self.group_error(sim, body["error"], "SyncGroup")
            return
        new = [log_name(t, p) for t, p in body["assignment"]]
        revoked = [n for n in self.assignment if n not in new]
        added = [n for n in new if n not in self.assignment]
        if revoked:
            self.commit_positions(sim)
            self.revoke(sim, revoked)
        self.assignment = [n for n in self.assignment if n in new] + added
        self.phase = "stable"
        sim.trace(self.name, "assigned", f"{self.name} owns {', '.join(self.assignment) or 'no partition'} in "
                  f"generation {self.generation}" + (f" (it gave up {', '.join(revoked)})" if revoked else "") + ".",
                  group=self.group_id, generation=self.generation, partitions=list(self.assignment))
        if added:
            self.request(sim, f"b{self.coordinator}", "OffsetFetch", group=self.group_id, partitions=added)
        if revoked and not self.eager():
            self.join(sim)  # cooperative: the revoked partitions go to their new owner in the next round
        self.fetch(sim)

    def revoke(self, sim: Simulation, names: list[str]) -> None:
        for name in names:
            self.positions.pop(name, None)
            self.fetch_positions.pop(name, None)
            self.buffer.pop(name, None)
            self.high_watermarks.pop(name, None)
        self.assignment = [n for n in self.assignment if n not in names]

    def group_error(self, sim: Simulation, error: int, what: str) -> None:
        if error in COORDINATOR_ERRORS:
            self.coordinator_lost(sim)
        elif error in (22, 25, 27):  # ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS
            if error == 25:
                self.member_id, self.generation = "", -1
            self.join(sim)
        else:
            self.phase, self.error = "failed", error
            sim.trace(self.name, "consumer_failed", f"{self.name}'s {what} failed with error {error}.", error=error)

    # -- heartbeats -----------------------------------------------------------------------------------------

    def start_heartbeats(self, sim: Simulation) -> None:
        self.heartbeat_ok_at = sim.now
        if not self.heartbeat_running:
            self.heartbeat_running = True
            sim.set_timer(self.name, "heartbeat", self.heartbeat_interval_ms)

    def on_heartbeat(self, sim: Simulation) -> None:
        if self.phase not in ("syncing", "stable", "joining"):
            self.heartbeat_running = False
            return
        sim.set_timer(self.name, "heartbeat", self.heartbeat_interval_ms)
        if sim.now - self.heartbeat_ok_at > self.session_timeout_ms:
            self.heartbeat_ok_at = sim.now
            self.coordinator_lost(sim)
            return
        if self.phase != "joining":
            self.request(sim, f"b{self.coordinator}", "Heartbeat", group=self.group_id, member_id=self.member_id,
                         generation=self.generation)

    def handle_heartbeat_response(self, sim: Simulation, message: Message) -> None:
        if self.answered(message) is None:
            return
        error = message.body["error"]
        if error in (0, 27):
            self.heartbeat_ok_at = sim.now
        if error and self.phase == "stable":
            self.group_error(sim, error, "Heartbeat")

    # -- positions -------------------------------------------------------------------------------------------

    def handle_offset_fetch_response(self, sim: Simulation, message: Message) -> None:
        if self.answered(message) is None:
            return
        if message.body["error"]:
            if message.body["error"] in COORDINATOR_ERRORS:
                self.coordinator_lost(sim)
            return
        for name, offset in message.body["offsets"].items():
            if name not in self.assignment:
                continue
            if offset >= 0:
                self.committed[name] = offset
                self.set_position(name, offset)
            else:
                self.reset(sim, name, "it has no committed offset")
        self.fetch(sim)

    def set_position(self, name: str, offset: int) -> None:
        self.positions[name] = self.fetch_positions[name] = offset
        self.buffer.pop(name, None)

    def reset(self, sim: Simulation, name: str, why: str, to: str = "") -> None:
        """Ask the leader where the log starts (``to`` "earliest") or ends ("latest"; by default
        what auto_offset_reset says) and move the position there."""
        where = to or self.auto_offset_reset
        if where not in ("earliest", "latest"):
            self.phase, self.error = "failed", -3
            sim.trace(self.name, "consumer_failed", f"{self.name} cannot read {name}: {why} and "
                      "auto_offset_reset is 'none' (NoOffsetForPartitionError).", partition=name)
            return
        topic, partition = split_log_name(name)
        leader = self.leader_of(topic, partition)
        if leader < 0:
            self.refresh_metadata(sim)
            sim.set_timer(self.name, "reset_again", self.retry_backoff_ms * 5, partition=name, why=why, to=to)
            return
        self.positions.pop(name, None)
        self.fetch_positions.pop(name, None)
        self.request(sim, f"b{leader}", "ListOffsets", topic=topic, partition=partition,
                     timestamp=-2 if where == "earliest" else -1, why=why, to=to)

    def on_reset_again(self, sim: Simulation, partition: str, why: str, to: str) -> None:
        if partition in self.assignment and partition not in self.positions:
            self.reset(sim, partition, why, to)

    def handle_list_offsets_response(self, sim: Simulation, message: Message) -> None:
        flight = self.answered(message)
        if flight is None:
            return
        body = message.body
        name = log_name(body["topic"], body["partition"])
        if name not in self.assignment:
            return
        if body["error"]:
            self.refresh_metadata(sim)
            sim.set_timer(self.name, "reset_again", self.retry_backoff_ms * 5, partition=name, why=flight.body["why"],
                          to=flight.body["to"])
            return
        self.set_position(name, body["offset"])
        policy = "" if flight.body["to"] else f", and auto_offset_reset is '{self.auto_offset_reset}'"
        sim.trace(self.name, "offset_reset", f"{self.name} starts {name} at offset {body['offset']}: "
                  f"{flight.body['why']}{policy}.",
                  partition=name, offset=body["offset"])
        self.fetch(sim)

    def seek(self, name: str, offset: int) -> None:
        self.set_position(name, offset)
        if name not in self.resets:
            self.resets.append(name)

    # -- fetching ---------------------------------------------------------------------------------------------

    def fetch(self, sim: Simulation) -> None:
        if self.phase != "stable" or self.paused:
            return
        if not self.group_id:
            self.assign_all()
            for name in self.assignment:
                if name not in self.positions and name not in self.resets:
                    self.resets.append(name)
                    self.reset(sim, name, "it reads without a group")
        per_leader: dict[str, list[dict[str, Any]]] = {}
        for name in self.assignment:
            if name not in self.fetch_positions or len(self.buffer.get(name, [])) >= self.max_poll_records:
                continue
            topic, partition = split_log_name(name)
            leader = self.leader_of(topic, partition)
            if leader < 0:
                self.refresh_metadata(sim)
                continue
            per_leader.setdefault(f"b{leader}", []).append(
                {"topic": topic, "partition": partition, "offset": self.fetch_positions[name],
                 "max_records": self.max_poll_records})
        for broker, partitions in per_leader.items():
            if broker not in self.fetching:
                self.fetching[broker] = self.request(sim, broker, "Fetch", fetch=0, replica=-1,
                                                     max_wait_ms=self.fetch_max_wait_ms, partitions=partitions)

    def assign_all(self) -> None:
        self.assignment = [log_name(t, p) for t in self.subscription for p in range(self.partition_count(t))]

    def handle_fetch_response(self, sim: Simulation, message: Message) -> None:
        flight = self.answered(message)
        if flight is None:
            return
        self.fetching.pop(flight.broker, None)
        retry = False
        for item in message.body["partitions"]:
            name = log_name(item["topic"], item["partition"])
            asked = next((p["offset"] for p in flight.body["partitions"]
                          if p["topic"] == item["topic"] and p["partition"] == item["partition"]), -1)
            if name not in self.assignment or self.fetch_positions.get(name) != asked:
                continue
            if item["error"] == 1:
                self.reset(sim, name, f"its position {asked} is outside the log "
                           f"({item['log_start']}–{item['log_end']}), deleted by retention or lost")
            elif item["error"]:
                retry = True
            else:
                records = item["records"]
                if records:
                    self.buffer.setdefault(name, []).extend(records)
                    self.fetch_positions[name] = records[-1].offset + 1
                    if self.keep_evidence:
                        self.consumed.extend((item["topic"], item["partition"], r.offset, r.producer_id, r.sequence,
                                              item["hw"]) for r in records)
                        if len(self.consumed) > self.evidence_limit:
                            del self.consumed[: self.evidence_limit // 2]
                self.high_watermarks[name] = item["hw"]
        if retry:
            self.refresh_metadata(sim)
            sim.set_timer(self.name, "fetch_again", self.retry_backoff_ms * 5)
        else:
            self.fetch(sim)

    def on_fetch_again(self, sim: Simulation) -> None:
        self.fetch(sim)

    def request_failed(self, sim: Simulation, request: int, flight: InFlight, code: int) -> None:
        if flight.kind == "Fetch":
            self.fetching.pop(flight.broker, None)
            sim.set_timer(self.name, "fetch_again", self.retry_backoff_ms * 5)
        elif flight.kind == "FindCoordinator" and self.phase == "finding":
            sim.set_timer(self.name, "find_again", self.retry_backoff_ms * 3)
        elif flight.kind in ("JoinGroup", "SyncGroup") and self.phase not in ("closed", "failed"):
            self.find_coordinator(sim)
        elif flight.kind == "OffsetCommit":
            self.commit_results[request] = code
        elif flight.kind == "OffsetFetch" and self.phase == "stable":
            self.coordinator_lost(sim)
        elif flight.kind == "LeaveGroup":
            self.leave_request = 0
        elif flight.kind == "Heartbeat" and code in (CONNECTION_FAILED, NETWORK_EXCEPTION) and self.phase == "stable":
            # (CoordinatorResponseHandler: a disconnection marks the coordinator unknown at once)
            self.coordinator_lost(sim)

    # -- handing records to the application ---------------------------------------------------------------------

    def take(self, sim: Simulation, limit: int) -> dict[str, list[Record]]:
        """Up to ``limit`` buffered records, partition by partition; positions move past them."""
        taken: dict[str, list[Record]] = {}
        for name in list(self.assignment):
            buffered = self.buffer.get(name)
            if not buffered or limit <= 0:
                continue
            batch = buffered[:limit]
            del buffered[:limit]
            limit -= len(batch)
            taken[name] = batch
            self.positions[name] = batch[-1].offset + 1
            self.processed += len(batch)
        if taken:
            self.fetch(sim)
        return taken

    def on_process(self, sim: Simulation) -> None:
        """A service that handles ``rate`` records a second by itself."""
        if self.phase == "closed" or self.rate <= 0:
            return
        sim.set_timer(self.name, "process", 100)
        if self.paused:
            return
        self.budget = min(self.budget + self.rate / 10, max(1.0, self.rate))
        whole = int(self.budget)
        if whole:
            taken = self.take(sim, whole)
            self.budget -= sum(len(batch) for batch in taken.values())
            if not taken:
                self.budget = min(self.budget, 1.0)

    # -- commits -------------------------------------------------------------------------------------------------

    def on_auto_commit(self, sim: Simulation) -> None:
        if self.phase == "closed":
            return
        sim.set_timer(self.name, "auto_commit", self.auto_commit_interval_ms)
        if self.phase == "stable":
            self.commit_positions(sim)

    def commit_positions(self, sim: Simulation, offsets: dict[str, int] | None = None) -> int:
        """Send an OffsetCommit (the given offsets, or every changed position); 0 if nothing to send."""
        if not self.group_id or self.coordinator < 0:
            return 0
        wanted = offsets if offsets is not None else {n: p for n, p in self.positions.items()
                                                      if n in self.assignment and self.committed.get(n) != p}
        if not wanted:
            return 0
        reset = any(name in self.resets for name in wanted)
        self.resets = [n for n in self.resets if n not in wanted]
        return self.request(sim, f"b{self.coordinator}", "OffsetCommit", group=self.group_id,
                            member_id=self.member_id, generation=self.generation, offsets=dict(wanted), reset=reset)

    def handle_offset_commit_response(self, sim: Simulation, message: Message) -> None:
        flight = self.answered(message)
        if flight is None:
            return
        error = message.body["error"]
        self.commit_results[message.body["request"]] = error
        if len(self.commit_results) > 100:
            del self.commit_results[next(iter(self.commit_results))]
        if error == 0:
            for name, offset in flight.body["offsets"].items():
                self.committed[name] = offset
                if self.keep_evidence:
                    self.commits.append((sim.now, name, offset, flight.body["generation"], flight.body["reset"]))
            if len(self.commits) > self.evidence_limit:
                del self.commits[: self.evidence_limit // 2]
        elif error in COORDINATOR_ERRORS and self.phase == "stable":
            self.coordinator_lost(sim)
        elif error in (22, 25, 27) and self.phase == "stable":
            self.group_error(sim, error, "OffsetCommit")

    # -- leaving --------------------------------------------------------------------------------------------------

    def close(self, sim: Simulation, autocommit: bool = True) -> None:
        if self.phase == "closed":
            return
        if self.group_id and self.member_id and self.coordinator >= 0:
            if autocommit and self.enable_auto_commit:
                self.commit_positions(sim)
            self.leave_request = self.request(sim, f"b{self.coordinator}", "LeaveGroup", group=self.group_id,
                                              member_id=self.member_id)
        self.phase = "closed"
        sim.trace(self.name, "consumer_closed", f"{self.name} closes" + (
            f" and leaves group {self.group_id}." if self.leave_request else "."), group=self.group_id)

    def handle_leave_group_response(self, sim: Simulation, message: Message) -> None:
        if self.answered(message) is not None:
            self.leave_request = 0

    def on_metadata(self, sim: Simulation, errors: dict[str, int]) -> None:
        changed = {t: self.partition_count(t) for t in self.assigned_counts} != self.assigned_counts
        if self.is_leader and self.phase == "stable" and changed:
            sim.trace(self.name, "metadata_changed", f"{self.name}, the group leader, sees the partitions of its "
                      "topics change and asks for a rebalance.", group=self.group_id)
            self.join(sim)
            return
        self.fetch(sim)

    def lag(self, name: str) -> int:
        """Records of a partition not processed yet, as far as the last fetch knows."""
        if name not in self.positions or name not in self.high_watermarks:
            return 0
        return max(0, self.high_watermarks[name] - self.positions[name])
