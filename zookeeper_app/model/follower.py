"""Zab, the follower's side (``Follower``, ``Learner``).

A follower registers with its leader (FOLLOWERINFO), accepts the new epoch,
takes the DIFF, TRUNC or SNAP it is sent, acknowledges NEWLEADER and serves
once UPTODATE arrives. It logs each PROPOSAL before acknowledging it and
applies COMMITs in order. It goes back to LOOKING when it has not heard its
leader for ``syncLimit`` ticks, or when the leader's stream skips a packet,
which on a real TCP connection means the connection broke.

Each function takes the server first; ``ZkServer`` keeps the state and
delegates its follower's messages and timers here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from coordlab.sim import Message, Simulation

from . import election
from . import zxid as Z
from .datatree import Txn

if TYPE_CHECKING:
    from .server import ZkServer

LEADER_CONNECT_DELAY_MS = 100  # leaderConnectDelayDuringRetryMs


def start_following(server: ZkServer, sim: Simulation) -> None:
    server.state = "FOLLOWING"
    server.sync_phase = "connecting"
    server.last_leader_contact = sim.now
    server.role_started = sim.now
    send_follower_info(server, sim)
    server.timer(sim, "follower_tick", server.tick_ms)


def send_follower_info(server: ZkServer, sim: Simulation) -> None:
    sim.send(server.name, server.leader, "FollowerInfo", accepted_epoch=server.accepted_epoch,
             last_zxid=server.last_logged_zxid(), attempt=server.role_started)
    server.timer(sim, "connect_retry", LEADER_CONNECT_DELAY_MS, attempt=server.role_started)


def from_leader(server: ZkServer, message: Message) -> bool:
    return server.state == "FOLLOWING" and message.src == server.leader


def in_stream(server: ZkServer, message: Message) -> bool:
    """Part of this connection's stream: the leader's PROPOSALs, COMMITs and
    PINGs count only once LEADERINFO opened the sync (a restarted follower
    must not take packets the leader meant for its previous connection)."""
    return from_leader(server, message) and server.sync_phase in ("syncing", "synced")


def on_leader_info(server: ZkServer, sim: Simulation, message: Message) -> None:
    if not from_leader(server, message):
        return
    server.last_leader_contact = sim.now
    epoch = message.body["epoch"]
    if epoch < server.accepted_epoch:
        election.look(server, sim)
        return
    server.accepted_epoch = epoch
    sim.send(server.name, server.leader, "AckEpoch", current_epoch=server.current_epoch,
             last_zxid=server.last_logged_zxid())
    server.sync_phase = "syncing"


def on_trunc(server: ZkServer, sim: Simulation, message: Message) -> None:
    if not from_leader(server, message):
        return
    zxid = message.body["zxid"]
    cut = [t for t in server.log if t.header.zxid > zxid]
    server.log = [t for t in server.log if t.header.zxid <= zxid]
    server.pending = {}
    sim.trace(server.name, "trunc", f"{server.name} truncates {len(cut)} transaction(s) the new leader never "
              f"committed (TRUNC to {Z.hex_zxid(zxid)}).", zxid=zxid, dropped=len(cut))


def on_diff(server: ZkServer, sim: Simulation, message: Message) -> None:
    if from_leader(server, message):
        server.pending = {}
        server.log.extend(message.body["txns"])
        server.committed_zxid = message.body["upto"]
        if message.body["txns"]:
            sim.trace(server.name, "diff", f"{server.name} catches up by DIFF: {len(message.body['txns'])} "
                      "transaction(s).", count=len(message.body["txns"]))


def on_snap(server: ZkServer, sim: Simulation, message: Message) -> None:
    if from_leader(server, message):
        server.pending = {}
        server.log = list(message.body["txns"])
        server.committed_zxid = server.last_logged_zxid()
        sim.trace(server.name, "snap", f"{server.name} is too far behind and takes a SNAP of the leader's state.")


def on_new_leader(server: ZkServer, sim: Simulation, message: Message) -> None:
    if not from_leader(server, message):
        return
    server.current_epoch = message.body["epoch"]
    server.last_leader_contact = sim.now
    sim.send(server.name, server.leader, "Ack", zxid=message.body["zxid"])


def on_up_to_date(server: ZkServer, sim: Simulation, message: Message) -> None:
    if not from_leader(server, message):
        return
    server.sync_phase = "synced"
    server.epoch = server.current_epoch
    server.rebuild_tree(server.committed_zxid)
    server.serving = True
    sim.trace(server.name, "synced", f"{server.name} is in sync with {server.leader} and serves clients.",
              leader=server.leader)


def on_proposal(server: ZkServer, sim: Simulation, message: Message) -> None:
    if not in_stream(server, message):
        return
    server.last_leader_contact = sim.now
    txn: Txn = message.body["txn"]
    if txn.header.zxid <= server.last_logged_zxid():
        return
    last = server.last_logged_zxid()
    # the next proposal follows the last one, or opens a new epoch at counter 1
    epoch = Z.epoch_of(txn.header.zxid)
    expected = last + 1 if Z.epoch_of(last) == epoch else Z.make(epoch, 1)
    if txn.header.zxid != expected:
        stream_broken(server, sim, f"proposal {Z.hex_zxid(txn.header.zxid)} arrived after {Z.hex_zxid(last)}")
        return
    server.log.append(txn)
    server.pending[txn.header.zxid] = txn
    sim.send(server.name, server.leader, "Ack", zxid=txn.header.zxid)


def on_commit(server: ZkServer, sim: Simulation, message: Message) -> None:
    if not in_stream(server, message):
        return
    server.last_leader_contact = sim.now
    zxid = message.body["zxid"]
    if zxid > server.committed_zxid and zxid not in server.pending:
        stream_broken(server, sim, f"commit of {Z.hex_zxid(zxid)}, a proposal it never got")
        return
    if server.sync_phase == "synced":
        server.commit(sim, zxid)
    else:
        server.committed_zxid = max(server.committed_zxid, message.body["zxid"])


def on_ping(server: ZkServer, sim: Simulation, message: Message) -> None:
    if not in_stream(server, message):
        return
    server.last_leader_contact = sim.now
    if message.body["zxid"] > server.last_logged_zxid():
        # FIFO: every proposal sent before this ping has arrived, or was lost
        stream_broken(server, sim, f"the leader is at {Z.hex_zxid(message.body['zxid'])}")
        return
    sim.send(server.name, server.leader, "PingReply", touched=list(server.touched))
    server.touched = {}


def stream_broken(server: ZkServer, sim: Simulation, what: str) -> None:
    """A TCP stream never skips a packet: a gap means the connection broke."""
    sim.trace(server.name, "stream_broken", f"{server.name} lost part of the leader's stream ({what}); "
              "it drops the connection and rejoins.", leader=server.leader)
    election.look(server, sim)


def on_follower_tick(server: ZkServer, sim: Simulation) -> None:
    if server.state != "FOLLOWING":
        return
    limit = (server.sync_limit if server.sync_phase == "synced" else server.init_limit) * server.tick_ms
    stuck = server.sync_phase != "synced" and sim.now - server.role_started > server.init_limit * server.tick_ms
    if sim.now - server.last_leader_contact > limit or stuck:
        sim.trace(server.name, "leader_lost",
                  f"{server.name} has not heard its leader {server.leader} for {limit / 1000:g} s "
                  "and looks for a new one.", leader=server.leader)
        election.look(server, sim)
        return
    server.timer(sim, "follower_tick", server.tick_ms)


def on_connect_retry(server: ZkServer, sim: Simulation, attempt: int) -> None:
    """``Learner.connectToLeader`` tries again after ``leaderConnectDelayDuringRetryMs``: the
    winner may not be listening yet when a follower decides before it does (its FOLLOWERINFO
    then reached a server still LOOKING, as a connection refused)."""
    if server.state == "FOLLOWING" and server.sync_phase == "connecting" and server.role_started == attempt:
        send_follower_info(server, sim)
