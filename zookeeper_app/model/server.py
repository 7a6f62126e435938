"""A ZooKeeper server: election, Zab and client service in one simulated machine.

What a real server fsyncs survives a crash: its transaction log and its
``currentEpoch`` / ``acceptedEpoch`` files (fields marked ``durable``).
Everything else (the in-memory tree, election state, the leader's bookkeeping,
client connections and watches) is rebuilt after a restart: the tree from the
log, as ZooKeeper loads its database on start.

``ZkServer`` holds all of a server's state and the entry points the simulation
kernel calls (``handle_<kind>`` for a message, ``on_<timer>`` for a timer).
Its behaviour lives in modules of functions that take the server first:
``election`` (Fast Leader Election), ``leader`` and ``follower`` (the two
sides of Zab) and ``service`` (clients, sessions, reads and writes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordlab.sim import Message, Node, Simulation, durable, serializable

from . import election, follower, leader, service
from .datatree import DataTree, Txn
from .election import Vote
from .leader import Learner
from .prep import OutstandingChanges
from .service import Held
from .sessions import SessionTracker
from .watches import WatchManager


@serializable
@dataclass
class ZkServer(Node):
    # zoo.cfg
    sid: int = durable(1)
    peers: list[str] = durable(default_factory=list)
    peer_ids: dict[str, int] = durable(default_factory=dict)
    tick_ms: int = durable(200)
    init_limit: int = durable(10)
    sync_limit: int = durable(5)
    half_quorum: bool = durable(False)  # the unsafe teaching switch
    # on disk
    log: list[Txn] = durable(default_factory=list)
    current_epoch: int = durable(0)
    accepted_epoch: int = durable(0)
    # in memory: the tree and what has been applied
    state: str = "LOOKING"
    tree: DataTree = field(default_factory=DataTree)
    committed_zxid: int = 0
    pending: dict[int, Txn] = field(default_factory=dict)
    serving: bool = False
    epoch: int = 0
    leader: str = ""
    role_started: int = 0
    # election
    logical_clock: int = 0
    vote: Vote = field(default_factory=lambda: Vote("", 0, 0, -1))
    recv: dict[str, Vote] = field(default_factory=dict)
    out_of_election: dict[str, Vote] = field(default_factory=dict)
    notify_interval: int = 200
    vote_heard_at: int = -1
    decide_at: int = -1
    # leading
    established: bool = False
    tick_skip: bool = True
    new_epoch: int = -1
    counter: int = 0
    heard_infos: dict[str, int] = field(default_factory=dict)
    epoch_acks: list[str] = field(default_factory=list)
    newleader_acks: list[str] = field(default_factory=list)
    learners: dict[str, Learner] = field(default_factory=dict)
    proposals: dict[int, list[str]] = field(default_factory=dict)
    proposal_times: dict[int, int] = field(default_factory=dict)
    outstanding: OutstandingChanges = field(default_factory=OutstandingChanges)
    sessions: SessionTracker = field(default_factory=SessionTracker)
    syncs: list[tuple[str, int, int, int]] = field(default_factory=list)  # (origin, session, xid, zxid)
    # following
    sync_phase: str = ""
    last_leader_contact: int = 0
    touched: dict[int, bool] = field(default_factory=dict)
    # clients
    connections: dict[int, str] = field(default_factory=dict)
    connected_from: dict[int, str] = field(default_factory=dict)  # session → its last client, as the log says
    waiting: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    held: dict[int, list[Held]] = field(default_factory=dict)  # session → reads and pings behind its writes
    connecting: dict[int, tuple[str, int, int]] = field(default_factory=dict)
    watches: WatchManager = field(default_factory=WatchManager)
    next_session: int = 0

    def start(self, sim: Simulation) -> None:
        self.rebuild_tree(self.last_logged_zxid())
        # SessionTrackerImpl.initializeNextSession: time in the middle bits, server id on top
        self.next_session = (((sim.now << 24) >> 8) & 0x00FFFFFFFFFFFFFF) | (self.sid << 56)
        election.look(self, sim)

    # -- election (election.py) --------------------------------------------------

    def handle_notification(self, sim: Simulation, message: Message) -> None:
        election.on_notification(self, sim, message)

    def on_renotify(self, sim: Simulation) -> None:
        election.on_renotify(self, sim)

    def on_finalize(self, sim: Simulation, at: int) -> None:
        election.on_finalize(self, sim, at)

    # -- leading (leader.py) -----------------------------------------------------

    def handle_follower_info(self, sim: Simulation, message: Message) -> None:
        leader.on_follower_info(self, sim, message)

    def handle_ack_epoch(self, sim: Simulation, message: Message) -> None:
        leader.on_ack_epoch(self, sim, message)

    def handle_ack(self, sim: Simulation, message: Message) -> None:
        leader.on_ack(self, sim, message)

    def handle_ping_reply(self, sim: Simulation, message: Message) -> None:
        leader.on_ping_reply(self, sim, message)

    def on_leader_tick(self, sim: Simulation) -> None:
        leader.on_leader_tick(self, sim)

    # -- following (follower.py) -------------------------------------------------

    def handle_leader_info(self, sim: Simulation, message: Message) -> None:
        follower.on_leader_info(self, sim, message)

    def handle_trunc(self, sim: Simulation, message: Message) -> None:
        follower.on_trunc(self, sim, message)

    def handle_diff(self, sim: Simulation, message: Message) -> None:
        follower.on_diff(self, sim, message)

    def handle_snap(self, sim: Simulation, message: Message) -> None:
        follower.on_snap(self, sim, message)

    def handle_new_leader(self, sim: Simulation, message: Message) -> None:
        follower.on_new_leader(self, sim, message)

    def handle_up_to_date(self, sim: Simulation, message: Message) -> None:
        follower.on_up_to_date(self, sim, message)

    def handle_proposal(self, sim: Simulation, message: Message) -> None:
        follower.on_proposal(self, sim, message)

    def handle_commit(self, sim: Simulation, message: Message) -> None:
        follower.on_commit(self, sim, message)

    def handle_ping(self, sim: Simulation, message: Message) -> None:
        follower.on_ping(self, sim, message)

    def on_follower_tick(self, sim: Simulation) -> None:
        follower.on_follower_tick(self, sim)

    def on_connect_retry(self, sim: Simulation, attempt: int) -> None:
        follower.on_connect_retry(self, sim, attempt)

    # -- serving clients (service.py) --------------------------------------------

    def handle_connect_request(self, sim: Simulation, message: Message) -> None:
        service.on_connect_request(self, sim, message)

    def handle_request(self, sim: Simulation, message: Message) -> None:
        service.on_request(self, sim, message)

    def handle_revalidate(self, sim: Simulation, message: Message) -> None:
        service.on_revalidate(self, sim, message)

    def handle_revalidated(self, sim: Simulation, message: Message) -> None:
        service.on_revalidated(self, sim, message)

    def handle_forwarded_request(self, sim: Simulation, message: Message) -> None:
        service.on_forwarded_request(self, sim, message)

    def handle_sync_request(self, sim: Simulation, message: Message) -> None:
        service.on_sync_request(self, sim, message)

    def handle_sync_done(self, sim: Simulation, message: Message) -> None:
        service.on_sync_done(self, sim, message)

    # -- helpers shared by the roles ---------------------------------------------

    def timer(self, sim: Simulation, name: str, delay: int, **data: Any) -> None:
        sim.set_timer(self.name, name, delay, **data)

    def quorum_size(self) -> int:
        """A strict majority; with the unsafe switch, half the ensemble (rounded down)."""
        total = len(self.peers)
        return max(1, total // 2) if self.half_quorum else total // 2 + 1

    def has_quorum(self, names: list[str]) -> bool:
        return len(set(names) & set(self.peers)) >= self.quorum_size()

    @property
    def last_zxid(self) -> int:
        """The last zxid in this server's log (what it votes with)."""
        return self.last_logged_zxid()

    def last_logged_zxid(self) -> int:
        return self.log[-1].header.zxid if self.log else 0

    def rebuild_tree(self, upto: int) -> None:
        """The tree is the log replayed up to ``upto``; later entries wait for their COMMIT."""
        self.tree = DataTree()
        for txn in self.log:
            if txn.header.zxid <= upto:
                self.tree.apply(txn)
        self.committed_zxid = upto
        self.pending = {t.header.zxid: t for t in self.log if t.header.zxid > upto}

    def commit(self, sim: Simulation, zxid: int) -> None:
        """Apply every logged transaction up to ``zxid``, in order, and answer for them."""
        for pending_zxid in sorted(self.pending):
            if pending_zxid > zxid:
                break
            txn = self.pending.pop(pending_zxid)
            result = self.tree.apply(txn)
            self.committed_zxid = pending_zxid
            service.after_apply(self, sim, txn, result)
        self.committed_zxid = max(self.committed_zxid, zxid)

    def undelivered(self, sim: Simulation, message: Message, refused: bool) -> None:
        """A reply or a watch event to a client was lost: its TCP connection is broken, so the
        server closes it and drops its watches (``ServerCnxn.close``). The client finds out on its
        next request or ping, reconnects and sends its watches again, and any change it missed fires."""
        if message.kind in ("Reply", "WatchEvent", "ConnectResponse"):
            self.close_client(sim, message.dst, f"a {message.kind} to it was lost")

    def connected_to(self, peer: str) -> bool:
        """Every server keeps connections to the others (elections, and leader to followers),
        and one to each client connected or connecting to it."""
        return peer in self.peers or peer in self.connections.values() or any(
            client == peer for client, _, _ in self.connecting.values())

    def handle_connection_closed(self, sim: Simulation, message: Message) -> None:
        """A peer's process was killed and its connection to us closed (a TCP reset).

        A follower whose leader it was stops following at once (``Follower.followLeader`` ends
        on the socket's exception) and looks for a new one. A leader drops that follower's
        ``LearnerHandler``; its next quorum check (every tick) steps it down if too few are
        left. A client's session stays until it expires, but its connection and watches go."""
        peer = message.src
        if self.state == "FOLLOWING" and peer == self.leader:
            sim.trace(self.name, "leader_lost", f"{self.name}'s connection to its leader {peer} closed: "
                      "it stops following at once and looks for a new leader.", leader=peer)
            election.look(self, sim)
        elif self.state == "LEADING" and peer in self.learners:
            del self.learners[peer]
            sim.trace(self.name, "drop_learner", f"{self.name}'s connection to its follower {peer} closed.",
                      learner=peer)
        else:
            self.close_client(sim, peer, "its process was killed")

    def close_client(self, sim: Simulation, client: str, why: str) -> None:
        closed = [session for session, name in self.connections.items() if name == client]
        for session in closed:
            del self.connections[session]
            self.held.pop(session, None)
            self.watches.forget(session)
        if closed:
            sim.trace(self.name, "connection_closed", f"{self.name} closes its connection to {client}: {why}.",
                      client=client)

    def leave_role(self, sim: Simulation) -> None:
        """Stop leading, following or serving: clients are disconnected, as the real server closes them."""
        for session, client in [*self.connections.items(), *((s, c[0]) for s, c in self.connecting.items())]:
            sim.send(self.name, client, "Disconnect", session=session, reason=f"{self.name} left the quorum")
        self.connections = {}
        self.waiting = {}
        self.held = {}
        self.connecting = {}
        self.watches = WatchManager()
        self.serving = False
        self.established = False
        self.learners = {}
        self.proposals = {}
        self.proposal_times = {}
        self.syncs = []
        self.outstanding = OutstandingChanges()
