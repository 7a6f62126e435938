"""Fast Leader Election (``FastLeaderElection``), as functions of a server.

A LOOKING server votes for itself, tells every peer, and adopts any vote
that is better by ZooKeeper's total order (peer epoch, then last zxid, then
server id). Notifications carry the election epoch (``logicalclock``): a
higher one restarts the count, a lower one is answered with our own vote so
its sender catches up. When a quorum of votes agree, the server waits
``FINALIZE_WAIT_MS`` for a better vote and then leads or follows. A server
that is already LEADING or FOLLOWING answers a LOOKING peer with its current
vote, which is how a restarted server finds the existing leader.

Each function takes the server first; ``ZkServer`` keeps the state and
delegates its election messages and timers here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from coordlab.sim import Message, Simulation, serializable

from . import follower, leader

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


def look(server: ZkServer, sim: Simulation) -> None:
    """Start a new round of election (``lookForLeader``)."""
    server.leave_role(sim)
    server.state = "LOOKING"
    server.leader = ""
    server.logical_clock += 1
    server.vote = own_vote(server)
    server.recv = {server.name: server.vote}
    server.out_of_election = {}
    server.notify_interval = FINALIZE_WAIT_MS
    server.decide_at = -1
    sim.trace(server.name, "looking", f"{server.name} is LOOKING for a leader (election round {server.logical_clock}).",
              round=server.logical_clock)
    send_notifications(server, sim)
    server.timer(sim, "renotify", server.notify_interval)
    check_votes(server, sim)


def check_votes(server: ZkServer, sim: Simulation) -> None:
    """A quorum agrees with my vote: decide after FINALIZE_WAIT_MS unless a better vote comes."""
    if server.has_quorum([s for s, v in server.recv.items() if v == server.vote]):
        server.decide_at = sim.now + FINALIZE_WAIT_MS
        server.timer(sim, "finalize", FINALIZE_WAIT_MS, at=server.decide_at)


def own_vote(server: ZkServer) -> Vote:
    return Vote(server.name, server.sid, server.last_logged_zxid(), server.current_epoch)


def send_notifications(server: ZkServer, sim: Simulation) -> None:
    for peer in server.peers:
        if peer != server.name:
            notify(server, sim, peer)


def notify(server: ZkServer, sim: Simulation, peer: str) -> None:
    vote = server.vote if server.state == "LOOKING" else current_leader_vote(server)
    sim.send(server.name, peer, "Notification", vote=vote, election_epoch=server.logical_clock, state=server.state)


def current_leader_vote(server: ZkServer) -> Vote:
    return Vote(server.leader, server.peer_ids[server.leader], server.last_logged_zxid(), server.current_epoch)


def on_renotify(server: ZkServer, sim: Simulation) -> None:
    """``lookForLeader`` polls its queue for ``notTimeout`` and sends its vote again only when
    nothing came: a notification received restarts the wait, and while a quorum agrees it
    waits out ``finalizeWait`` instead."""
    if server.state != "LOOKING":
        return
    quiet = sim.now - server.vote_heard_at
    if server.decide_at >= 0 or quiet < server.notify_interval:
        wait = server.notify_interval if server.decide_at >= 0 else server.notify_interval - quiet
        server.timer(sim, "renotify", wait)
        return
    send_notifications(server, sim)
    server.notify_interval = min(server.notify_interval * 2, MAX_NOTIFICATION_INTERVAL_MS)
    server.timer(sim, "renotify", server.notify_interval)


def on_notification(server: ZkServer, sim: Simulation, message: Message) -> None:
    vote: Vote = message.body["vote"]
    epoch: int = message.body["election_epoch"]
    state: str = message.body["state"]
    sender = message.src
    if server.state != "LOOKING":
        if state == "LOOKING":
            notify(server, sim, sender)  # tell the looker who leads
        return
    server.vote_heard_at = sim.now
    if state == "LOOKING":
        _looking_peer(server, sim, sender, vote, epoch)
    else:
        _decided_peer(server, sim, sender, vote, epoch)


def _looking_peer(server: ZkServer, sim: Simulation, sender: str, vote: Vote, epoch: int) -> None:
    if epoch > server.logical_clock:
        server.logical_clock = epoch
        server.recv = {}
        server.vote = vote if better(vote, own_vote(server)) else own_vote(server)
        send_notifications(server, sim)
    elif epoch < server.logical_clock:
        notify(server, sim, sender)
        return
    elif better(vote, server.vote):
        server.vote = vote
        send_notifications(server, sim)
    server.recv[sender] = vote
    server.recv[server.name] = server.vote
    check_votes(server, sim)


def on_finalize(server: ZkServer, sim: Simulation, at: int) -> None:
    if server.state != "LOOKING" or server.decide_at != at:
        return
    if not server.has_quorum([s for s, v in server.recv.items() if v == server.vote]):
        return
    decide(server, sim, server.vote.leader)


def _decided_peer(server: ZkServer, sim: Simulation, sender: str, vote: Vote, epoch: int) -> None:
    # A peer that already follows or leads: join its leader once a quorum
    # says so and the leader itself is among them (checkLeader).
    if epoch == server.logical_clock:
        server.recv[sender] = vote
    server.out_of_election[sender] = vote
    backers = [s for s, v in server.out_of_election.items() if v.leader == vote.leader]
    leader_agrees = vote.leader in server.out_of_election or vote.leader == server.name
    if server.has_quorum([*backers, server.name]) and leader_agrees:
        server.logical_clock = max(server.logical_clock, epoch)
        server.vote = vote
        decide(server, sim, vote.leader)


def decide(server: ZkServer, sim: Simulation, winner: str) -> None:
    server.leader = winner
    server.decide_at = -1
    if winner == server.name:
        sim.trace(server.name, "elected", f"{server.name} won the election and becomes LEADING.", leader=winner)
        leader.start_leading(server, sim)
    else:
        sim.trace(server.name, "elected", f"{server.name} decides {winner} leads, and becomes FOLLOWING.",
                  leader=winner)
        follower.start_following(server, sim)
