"""Fast Leader Election (``FastLeaderElection``), as a server's behaviour.

A LOOKING server votes for itself, tells every peer, and adopts any vote
that is better by ZooKeeper's total order (peer epoch, then last zxid, then
server id). Notifications carry the election epoch (``logicalclock``): a
higher one restarts the count, a lower one is answered with our own vote so
its sender catches up. When a quorum of votes agree, the server waits
``FINALIZE_WAIT_MS`` for a better vote and then leads or follows. A server
that is already LEADING or FOLLOWING answers a LOOKING peer with its current
vote, which is how a restarted server finds the existing leader.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from coordlab.sim import Message, Simulation, serializable

if TYPE_CHECKING:
    from .server import ZkServer

FINALIZE_WAIT_MS = 200
MAX_NOTIFICATION_INTERVAL_MS = 60_000


@serializable
@dataclass(frozen=True)
class Vote:
    leader: str
    leader_sid: int
    zxid: int
    peer_epoch: int


def better(new: Vote, current: Vote) -> bool:
    """``FastLeaderElection.totalOrderPredicate``: epoch, then zxid, then server id."""
    return (new.peer_epoch, new.zxid, new.leader_sid) > (current.peer_epoch, current.zxid, current.leader_sid)


class ElectionMixin:
    """The election half of ``ZkServer``."""

    def look(self: ZkServer, sim: Simulation) -> None:
        """Start a new round of election (``lookForLeader``)."""
        self.leave_role(sim)
        self.state = "LOOKING"
        self.leader = ""
        self.logical_clock += 1
        self.vote = self.own_vote()
        self.recv = {self.name: self.vote}
        self.out_of_election = {}
        self.notify_interval = FINALIZE_WAIT_MS
        self.decide_at = -1
        sim.trace(self.name, "looking", f"{self.name} is LOOKING for a leader (election round {self.logical_clock}).",
                  round=self.logical_clock)
        self.send_notifications(sim)
        self.timer(sim, "renotify", self.notify_interval)
        self.check_votes(sim)

    def check_votes(self: ZkServer, sim: Simulation) -> None:
        """A quorum agrees with my vote: decide after FINALIZE_WAIT_MS unless a better vote comes."""
        if self.has_quorum([s for s, v in self.recv.items() if v == self.vote]):
            self.decide_at = sim.now + FINALIZE_WAIT_MS
            self.timer(sim, "finalize", FINALIZE_WAIT_MS, at=self.decide_at)

    def own_vote(self: ZkServer) -> Vote:
        return Vote(self.name, self.sid, self.last_logged_zxid(), self.current_epoch)

    def send_notifications(self: ZkServer, sim: Simulation) -> None:
        for peer in self.peers:
            if peer != self.name:
                self.notify(sim, peer)

    def notify(self: ZkServer, sim: Simulation, peer: str) -> None:
        vote = self.vote if self.state == "LOOKING" else self.current_leader_vote()
        sim.send(self.name, peer, "Notification", vote=vote, election_epoch=self.logical_clock, state=self.state)

    def current_leader_vote(self: ZkServer) -> Vote:
        return Vote(self.leader, self.peer_ids[self.leader], self.last_logged_zxid(), self.current_epoch)

    def on_renotify(self: ZkServer, sim: Simulation) -> None:
        if self.state != "LOOKING":
            return
        self.send_notifications(sim)
        self.notify_interval = min(self.notify_interval * 2, MAX_NOTIFICATION_INTERVAL_MS)
        self.timer(sim, "renotify", self.notify_interval)

    def handle_notification(self: ZkServer, sim: Simulation, message: Message) -> None:
        vote: Vote = message.body["vote"]
        epoch: int = message.body["election_epoch"]
        state: str = message.body["state"]
        sender = message.src
        if self.state != "LOOKING":
            if state == "LOOKING":
                self.notify(sim, sender)  # tell the looker who leads
            return
        if state == "LOOKING":
            self._looking_peer(sim, sender, vote, epoch)
        else:
            self._decided_peer(sim, sender, vote, epoch)

    def _looking_peer(self: ZkServer, sim: Simulation, sender: str, vote: Vote, epoch: int) -> None:
        if epoch > self.logical_clock:
            self.logical_clock = epoch
            self.recv = {}
            self.vote = vote if better(vote, self.own_vote()) else self.own_vote()
            self.send_notifications(sim)
        elif epoch < self.logical_clock:
            self.notify(sim, sender)
            return
        elif better(vote, self.vote):
            self.vote = vote
            self.send_notifications(sim)
        self.recv[sender] = vote
        self.recv[self.name] = self.vote
        self.check_votes(sim)

    def on_finalize(self: ZkServer, sim: Simulation, at: int) -> None:
        if self.state != "LOOKING" or self.decide_at != at:
            return
        if not self.has_quorum([s for s, v in self.recv.items() if v == self.vote]):
            return
        self.decide(sim, self.vote.leader)

    def _decided_peer(self: ZkServer, sim: Simulation, sender: str, vote: Vote, epoch: int) -> None:
        # A peer that already follows or leads: join its leader once a quorum
        # says so and the leader itself is among them (checkLeader).
        if epoch == self.logical_clock:
            self.recv[sender] = vote
        self.out_of_election[sender] = vote
        backers = [s for s, v in self.out_of_election.items() if v.leader == vote.leader]
        leader_agrees = vote.leader in self.out_of_election or vote.leader == self.name
        if self.has_quorum([*backers, self.name]) and leader_agrees:
            self.logical_clock = max(self.logical_clock, epoch)
            self.vote = vote
            self.decide(sim, vote.leader)

    def decide(self: ZkServer, sim: Simulation, leader: str) -> None:
        self.leader = leader
        self.decide_at = -1
        if leader == self.name:
            sim.trace(self.name, "elected", f"{self.name} won the election and becomes LEADING.", leader=leader)
            self.start_leading(sim)
        else:
            sim.trace(self.name, "elected", f"{self.name} decides {leader} leads, and becomes FOLLOWING.",
                      leader=leader)
            self.start_following(sim)
