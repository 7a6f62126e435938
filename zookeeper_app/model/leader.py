"""Zab, the leader's side (``Leader``, ``LearnerHandler``).

After an election the leader collects FOLLOWERINFO from a quorum, proposes a
new epoch one above every accepted epoch it heard (LEADERINFO), and once a
quorum acknowledged it (ACKEPOCH) brings each follower's log in line with its
own: DIFF sends the transactions the follower lacks, TRUNC first cuts what it
has that the leader never committed, SNAP replaces everything. NEWLEADER
acknowledged by a quorum establishes the epoch; UPTODATE lets a follower serve.
Then each write is a PROPOSAL with the next zxid, COMMITted in zxid order once
a quorum (counting the leader) has logged it.

The leader pings its followers every half tick, closes one that leaves a
proposal unacknowledged for ``syncLimit`` ticks, and steps down when it has
not heard a quorum within that time.

Each function takes the server first; ``ZkServer`` keeps the state and
delegates its leader's messages and timers here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from coordlab.sim import Message, Simulation, serializable

from . import election, service
from . import zxid as Z
from .datatree import Txn
from .prep import OutstandingChanges

if TYPE_CHECKING:
    from .server import ZkServer

COMMITTED_LOG_WINDOW = 500  # ZooKeeper's commitLogCount: older followers get a SNAP
#: ``Leader.lead`` loads its database and takes a snapshot before it accepts followers: 20–40 ms
#: on the real ensemble of golden/l_failover_timing.json (its logs), so a follower that decided
#: at the same moment is refused and tries again (``follower.on_connect_retry``)
LEADER_STARTUP_MS = 30


@serializable
@dataclass
class Learner:
    """The leader's view of one follower (``LearnerHandler``)."""

    phase: str  # "info" → "epoch" → "syncing" → "synced"
    accepted_epoch: int
    last_zxid: int
    last_heard: int
    attempt: int = -1  # which connection of the follower this is (when it began following)


def start_leading(server: ZkServer, sim: Simulation) -> None:
    server.state = "LEADING"
    server.established = False
    server.learners = {}
    server.proposals = {}
    server.outstanding = OutstandingChanges()
    server.new_epoch = -1
    server.epoch_acks = [server.name]
    server.newleader_acks = [server.name]
    server.heard_infos = {server.name: server.accepted_epoch}
    server.role_started = sim.now
    server.tick_skip = True
    server.committed_zxid = server.last_logged_zxid()  # the leader's history is the new history
    server.timer(sim, "leader_tick", server.tick_ms // 2)
    maybe_propose_epoch(server, sim)


def on_follower_info(server: ZkServer, sim: Simulation, message: Message) -> None:
    if server.state != "LEADING" or sim.now < server.role_started + LEADER_STARTUP_MS:
        return
    body = message.body
    known = server.learners.get(message.src)
    if known is not None and known.attempt == body.get("attempt", -2):
        return  # the same connection trying again: its first FOLLOWERINFO got here after all
    server.learners[message.src] = Learner("info", body["accepted_epoch"], body["last_zxid"], sim.now,
                                           body.get("attempt", -1))
    if server.new_epoch < 0:
        server.heard_infos[message.src] = body["accepted_epoch"]
        maybe_propose_epoch(server, sim)
    else:
        sim.send(server.name, message.src, "LeaderInfo", epoch=server.new_epoch)


def maybe_propose_epoch(server: ZkServer, sim: Simulation) -> None:
    if server.new_epoch >= 0 or not server.has_quorum(list(server.heard_infos)):
        return
    server.new_epoch = max(server.heard_infos.values()) + 1
    server.accepted_epoch = server.new_epoch
    sim.trace(server.name, "epoch", f"{server.name} proposes epoch {server.new_epoch} to its followers.",
              epoch=server.new_epoch)
    for name in server.learners:
        sim.send(server.name, name, "LeaderInfo", epoch=server.new_epoch)
    advance(server, sim)


def advance(server: ZkServer, sim: Simulation) -> None:
    """Move to the next phase once a quorum (counting the leader) is there."""
    if server.new_epoch >= 0 and server.current_epoch < server.new_epoch and server.has_quorum(server.epoch_acks):
        server.current_epoch = server.new_epoch
        server.counter = 0
        for name, other in server.learners.items():
            if other.phase == "epoch":
                sync_learner(server, sim, name)
    if server.current_epoch == server.new_epoch and not server.established and server.has_quorum(server.newleader_acks):
        establish(server, sim)


def on_ack_epoch(server: ZkServer, sim: Simulation, message: Message) -> None:
    learner = server.learners.get(message.src)
    if server.state != "LEADING" or learner is None:
        return
    learner.phase, learner.last_zxid, learner.last_heard = "epoch", message.body["last_zxid"], sim.now
    if message.src not in server.epoch_acks:
        server.epoch_acks.append(message.src)
    if server.current_epoch == server.new_epoch:
        sync_learner(server, sim, message.src)
    else:
        advance(server, sim)


def sync_learner(server: ZkServer, sim: Simulation, name: str) -> None:
    """Send DIFF, TRUNC+DIFF or SNAP of the committed history, then the
    proposals still in flight, then NEWLEADER (``LearnerHandler.syncFollower``).
    From here on the follower gets every PROPOSAL and COMMIT, in order."""
    learner = server.learners[name]
    learner.phase = "syncing"
    peer_last = learner.last_zxid
    committed = [txn for txn in server.log if txn.header.zxid <= server.committed_zxid]
    zxids = [txn.header.zxid for txn in committed]
    window_start = zxids[-COMMITTED_LOG_WINDOW] if len(zxids) > COMMITTED_LOG_WINDOW else 0
    common = sync_point(peer_last, zxids, window_start)
    if common < 0:
        sim.send(server.name, name, "Snap", txns=committed)
    else:
        if common != peer_last:
            sim.send(server.name, name, "Trunc", zxid=common)
        sim.send(server.name, name, "Diff", txns=[t for t in committed if t.header.zxid > common],
                 upto=server.committed_zxid)
    for zxid in sorted(server.pending):
        sim.send(server.name, name, "Proposal", txn=server.pending[zxid])
    sim.send(server.name, name, "NewLeader", epoch=server.current_epoch, zxid=Z.make(server.current_epoch, 0))


def on_ack(server: ZkServer, sim: Simulation, message: Message) -> None:
    learner = server.learners.get(message.src)
    if server.state != "LEADING" or learner is None:
        return
    learner.last_heard = sim.now
    zxid = message.body["zxid"]
    if Z.counter_of(zxid) == 0 and learner.phase == "syncing":
        learner.phase = "synced"
        if message.src not in server.newleader_acks:
            server.newleader_acks.append(message.src)
        if server.established:
            sim.send(server.name, message.src, "UpToDate")
        else:
            advance(server, sim)
        return
    ackers = server.proposals.get(zxid)
    if ackers is not None and message.src not in ackers:
        ackers.append(message.src)
        try_commit(server, sim)


def establish(server: ZkServer, sim: Simulation) -> None:
    server.established = True
    server.epoch = server.current_epoch
    server.rebuild_tree(server.committed_zxid)
    server.sessions.reset(server.tree.sessions, sim.now, server.tick_ms)
    sim.trace(server.name, "established",
              f"{server.name} leads epoch {server.epoch}: a quorum is in sync, writes are open.",
              epoch=server.epoch)
    for name, learner in server.learners.items():
        if learner.phase == "synced":
            sim.send(server.name, name, "UpToDate")
    server.serving = True


def propose(server: ZkServer, sim: Simulation, txn: Txn) -> None:
    server.log.append(txn)
    server.proposals[txn.header.zxid] = [server.name]
    server.proposal_times[txn.header.zxid] = sim.now
    server.pending[txn.header.zxid] = txn
    for name, learner in server.learners.items():
        if learner.phase in ("syncing", "synced"):
            sim.send(server.name, name, "Proposal", txn=txn)
    try_commit(server, sim)


def try_commit(server: ZkServer, sim: Simulation) -> None:
    while server.proposals:
        zxid = min(server.proposals)
        if not server.has_quorum(server.proposals[zxid]):
            return
        del server.proposals[zxid]
        for name, learner in server.learners.items():
            if learner.phase in ("syncing", "synced"):
                sim.send(server.name, name, "Commit", zxid=zxid)
        server.outstanding.committed(zxid)
        server.commit(sim, zxid)
        service.release_syncs(server, sim)


def on_leader_tick(server: ZkServer, sim: Simulation) -> None:
    if server.state != "LEADING":
        return
    for name, _learner in server.learners.items():
        sim.send(server.name, name, "Ping", zxid=server.last_logged_zxid())
    horizon = sim.now - server.sync_limit * server.tick_ms
    grace = sim.now - server.init_limit * server.tick_ms
    drop_laggards(server, sim, horizon)
    in_touch = [server.name] + [n for n, lr in server.learners.items()
                                if lr.last_heard >= (horizon if lr.phase == "synced" else grace)]
    # Leader.lead checks its quorum every other half tick (tickSkip), once the epoch is established
    # or initLimit has passed
    checks, server.tick_skip = not server.tick_skip, not server.tick_skip
    settled = server.established or sim.now - server.role_started > server.init_limit * server.tick_ms
    if checks and settled and not server.has_quorum(in_touch):
        sim.trace(server.name, "step_down",
                  f"{server.name} stops leading: it hears only {len(in_touch)} of {len(server.peers)} servers, "
                  "not a quorum.", heard=len(in_touch))
        election.look(server, sim)
        return
    if server.established:
        service.expire_sessions(server, sim)
    server.timer(sim, "leader_tick", server.tick_ms // 2)


def drop_laggards(server: ZkServer, sim: Simulation, horizon: int) -> None:
    """``SyncLimitCheck``: close a follower that has not acked a proposal within syncLimit."""
    for zxid, sent_at in list(server.proposal_times.items()):
        if zxid not in server.proposals:
            del server.proposal_times[zxid]
        elif sent_at < horizon:
            for name in [n for n in server.learners if n not in server.proposals[zxid]]:
                del server.learners[name]
                sim.trace(server.name, "drop_learner", f"{server.name} closes its connection to {name}: "
                          f"no ACK for {Z.hex_zxid(zxid)} within syncLimit.", learner=name)


def on_ping_reply(server: ZkServer, sim: Simulation, message: Message) -> None:
    learner = server.learners.get(message.src)
    if server.state == "LEADING" and learner is not None:
        learner.last_heard = sim.now
        for session in message.body["touched"]:
            server.sessions.touch(session, sim.now, server.tick_ms, server.tree.sessions)


def sync_point(peer_last: int, zxids: list[int], window_start: int) -> int:
    """Where a follower's log and the leader's committed log agree, or -1 for a SNAP.

    As ``LearnerHandler.syncFollower``: a follower ahead of the leader is
    truncated to the leader's last committed zxid; one whose last zxid the
    leader has (or a fresh epoch's zero counter) gets a DIFF; one whose last
    zxid the leader never committed is truncated to the leader's zxid before
    it, if that is in the same epoch, and gets a SNAP otherwise, as it does
    when it is older than the leader's committed-log window.
    """
    max_committed = zxids[-1] if zxids else 0
    if peer_last >= max_committed:
        return max_committed
    if peer_last < window_start:
        return -1
    if peer_last in zxids or Z.counter_of(peer_last) == 0:
        return peer_last
    following = next(z for z in zxids if z > peer_last)
    if Z.epoch_of(following) != Z.epoch_of(peer_last):
        return -1
    return max([z for z in zxids if z < peer_last], default=0)

