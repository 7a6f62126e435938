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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from coordlab.sim import Message, Simulation, serializable

from . import zxid as Z
from .datatree import Txn
from .prep import OutstandingChanges

if TYPE_CHECKING:
    from .server import ZkServer

COMMITTED_LOG_WINDOW = 500  # ZooKeeper's commitLogCount: older followers get a SNAP


@serializable
@dataclass
class Learner:
    """The leader's view of one follower (``LearnerHandler``)."""

    phase: str  # "info" → "epoch" → "syncing" → "synced"
    accepted_epoch: int
    last_zxid: int
    last_heard: int
    attempt: int = -1  # which connection of the follower this is (when it began following)


class LeaderMixin:
    def start_leading(self: ZkServer, sim: Simulation) -> None:
        self.state = "LEADING"
        self.established = False
        self.learners = {}
        self.proposals = {}
        self.outstanding = OutstandingChanges()
        self.new_epoch = -1
        self.epoch_acks = [self.name]
        self.newleader_acks = [self.name]
        self.heard_infos = {self.name: self.accepted_epoch}
        self.role_started = sim.now
        self.committed_zxid = self.last_logged_zxid()  # the leader's history is the new history
        self.timer(sim, "leader_tick", self.tick_ms // 2)
        self.maybe_propose_epoch(sim)

    def handle_follower_info(self: ZkServer, sim: Simulation, message: Message) -> None:
        if self.state != "LEADING":
            return
        body = message.body
        known = self.learners.get(message.src)
        if known is not None and known.attempt == body.get("attempt", -2):
            return  # the same connection trying again: its first FOLLOWERINFO got here after all
        self.learners[message.src] = Learner("info", body["accepted_epoch"], body["last_zxid"], sim.now,
                                             body.get("attempt", -1))
        if self.new_epoch < 0:
            self.heard_infos[message.src] = body["accepted_epoch"]
            self.maybe_propose_epoch(sim)
        else:
            sim.send(self.name, message.src, "LeaderInfo", epoch=self.new_epoch)

    def maybe_propose_epoch(self: ZkServer, sim: Simulation) -> None:
        if self.new_epoch >= 0 or not self.has_quorum(list(self.heard_infos)):
            return
        self.new_epoch = max(self.heard_infos.values()) + 1
        self.accepted_epoch = self.new_epoch
        sim.trace(self.name, "epoch", f"{self.name} proposes epoch {self.new_epoch} to its followers.",
                  epoch=self.new_epoch)
        for name in self.learners:
            sim.send(self.name, name, "LeaderInfo", epoch=self.new_epoch)
        self.advance(sim)

    def advance(self: ZkServer, sim: Simulation) -> None:
        """Move to the next phase once a quorum (counting the leader) is there."""
        if self.new_epoch >= 0 and self.current_epoch < self.new_epoch and self.has_quorum(self.epoch_acks):
            self.current_epoch = self.new_epoch
            self.counter = 0
            for name, other in self.learners.items():
                if other.phase == "epoch":
                    self.sync_learner(sim, name)
        if self.current_epoch == self.new_epoch and not self.established and self.has_quorum(self.newleader_acks):
            self.establish(sim)

    def handle_ack_epoch(self: ZkServer, sim: Simulation, message: Message) -> None:
        learner = self.learners.get(message.src)
        if self.state != "LEADING" or learner is None:
            return
        learner.phase, learner.last_zxid, learner.last_heard = "epoch", message.body["last_zxid"], sim.now
        if message.src not in self.epoch_acks:
            self.epoch_acks.append(message.src)
        if self.current_epoch == self.new_epoch:
            self.sync_learner(sim, message.src)
        else:
            self.advance(sim)

    def sync_learner(self: ZkServer, sim: Simulation, name: str) -> None:
        """Send DIFF, TRUNC+DIFF or SNAP of the committed history, then the
        proposals still in flight, then NEWLEADER (``LearnerHandler.syncFollower``).
        From here on the follower gets every PROPOSAL and COMMIT, in order."""
        learner = self.learners[name]
        learner.phase = "syncing"
        peer_last = learner.last_zxid
        committed = [txn for txn in self.log if txn.header.zxid <= self.committed_zxid]
        zxids = [txn.header.zxid for txn in committed]
        window_start = zxids[-COMMITTED_LOG_WINDOW] if len(zxids) > COMMITTED_LOG_WINDOW else 0
        common = sync_point(peer_last, zxids, window_start)
        if common < 0:
            sim.send(self.name, name, "Snap", txns=committed)
        else:
            if common != peer_last:
                sim.send(self.name, name, "Trunc", zxid=common)
            sim.send(self.name, name, "Diff", txns=[t for t in committed if t.header.zxid > common],
                     upto=self.committed_zxid)
        for zxid in sorted(self.pending):
            sim.send(self.name, name, "Proposal", txn=self.pending[zxid])
        sim.send(self.name, name, "NewLeader", epoch=self.current_epoch, zxid=Z.make(self.current_epoch, 0))

    def handle_ack(self: ZkServer, sim: Simulation, message: Message) -> None:
        learner = self.learners.get(message.src)
        if self.state != "LEADING" or learner is None:
            return
        learner.last_heard = sim.now
        zxid = message.body["zxid"]
        if Z.counter_of(zxid) == 0 and learner.phase == "syncing":
            learner.phase = "synced"
            if message.src not in self.newleader_acks:
                self.newleader_acks.append(message.src)
            if self.established:
                sim.send(self.name, message.src, "UpToDate")
            else:
                self.advance(sim)
            return
        ackers = self.proposals.get(zxid)
        if ackers is not None and message.src not in ackers:
            ackers.append(message.src)
            self.try_commit(sim)

    def establish(self: ZkServer, sim: Simulation) -> None:
        self.established = True
        self.epoch = self.current_epoch
        self.rebuild_tree(self.committed_zxid)
        self.sessions.reset(self.tree.sessions, sim.now, self.tick_ms)
        sim.trace(self.name, "established",
                  f"{self.name} leads epoch {self.epoch}: a quorum is in sync, writes are open.",
                  epoch=self.epoch)
        for name, learner in self.learners.items():
            if learner.phase == "synced":
                sim.send(self.name, name, "UpToDate")
        self.serving = True

    def propose(self: ZkServer, sim: Simulation, txn: Txn) -> None:
        self.log.append(txn)
        self.proposals[txn.header.zxid] = [self.name]
        self.proposal_times[txn.header.zxid] = sim.now
        self.pending[txn.header.zxid] = txn
        for name, learner in self.learners.items():
            if learner.phase in ("syncing", "synced"):
                sim.send(self.name, name, "Proposal", txn=txn)
        self.try_commit(sim)

    def try_commit(self: ZkServer, sim: Simulation) -> None:
        while self.proposals:
            zxid = min(self.proposals)
            if not self.has_quorum(self.proposals[zxid]):
                return
            del self.proposals[zxid]
            for name, learner in self.learners.items():
                if learner.phase in ("syncing", "synced"):
                    sim.send(self.name, name, "Commit", zxid=zxid)
            self.outstanding.committed(zxid)
            self.commit(sim, zxid)
            self.release_syncs(sim)

    def on_leader_tick(self: ZkServer, sim: Simulation) -> None:
        if self.state != "LEADING":
            return
        for name, _learner in self.learners.items():
            sim.send(self.name, name, "Ping", zxid=self.last_logged_zxid())
        horizon = sim.now - self.sync_limit * self.tick_ms
        grace = sim.now - self.init_limit * self.tick_ms
        self.drop_laggards(sim, horizon)
        in_touch = [self.name] + [n for n, lr in self.learners.items()
                                  if lr.last_heard >= (horizon if lr.phase == "synced" else grace)]
        if sim.now - self.role_started > self.init_limit * self.tick_ms and not self.has_quorum(in_touch):
            sim.trace(self.name, "step_down",
                      f"{self.name} stops leading: it hears only {len(in_touch)} of {len(self.peers)} servers, "
                      "not a quorum.", heard=len(in_touch))
            self.look(sim)
            return
        if self.established:
            self.expire_sessions(sim)
        self.timer(sim, "leader_tick", self.tick_ms // 2)

    def drop_laggards(self: ZkServer, sim: Simulation, horizon: int) -> None:
        """``SyncLimitCheck``: close a follower that has not acked a proposal within syncLimit."""
        for zxid, sent_at in list(self.proposal_times.items()):
            if zxid not in self.proposals:
                del self.proposal_times[zxid]
            elif sent_at < horizon:
                for name in [n for n in self.learners if n not in self.proposals[zxid]]:
                    del self.learners[name]
                    sim.trace(self.name, "drop_learner", f"{self.name} closes its connection to {name}: "
                              f"no ACK for {Z.hex_zxid(zxid)} within syncLimit.", learner=name)

    def handle_ping_reply(self: ZkServer, sim: Simulation, message: Message) -> None:
        learner = self.learners.get(message.src)
        if self.state == "LEADING" and learner is not None:
            learner.last_heard = sim.now
            for session in message.body["touched"]:
                self.sessions.touch(session, sim.now, self.tick_ms, self.tree.sessions)


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

