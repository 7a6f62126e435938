"""Zab, the follower's side (``Follower``, ``Learner``).

A follower registers with its leader (FOLLOWERINFO), accepts the new epoch,
takes the DIFF, TRUNC or SNAP it is sent, acknowledges NEWLEADER and serves
once UPTODATE arrives. It logs each PROPOSAL before acknowledging it and
applies COMMITs in order. It goes back to LOOKING when it has not heard its
leader for ``syncLimit`` ticks, or when the leader's stream skips a packet,
which on a real TCP connection means the connection broke.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from coordlab.sim import Message, Simulation

from . import zxid as Z
from .datatree import Txn

if TYPE_CHECKING:
    from .server import ZkServer


class FollowerMixin:
    def start_following(self: ZkServer, sim: Simulation) -> None:
        self.state = "FOLLOWING"
        self.sync_phase = "connecting"
        self.last_leader_contact = sim.now
        self.role_started = sim.now
        self.send_follower_info(sim)
        self.timer(sim, "follower_tick", self.tick_ms)

    def send_follower_info(self: ZkServer, sim: Simulation) -> None:
        sim.send(self.name, self.leader, "FollowerInfo", accepted_epoch=self.accepted_epoch,
                 last_zxid=self.last_logged_zxid(), attempt=self.role_started)

    def from_leader(self: ZkServer, message: Message) -> bool:
        return self.state == "FOLLOWING" and message.src == self.leader

    def in_stream(self: ZkServer, message: Message) -> bool:
        """Part of this connection's stream: the leader's PROPOSALs, COMMITs and
        PINGs count only once LEADERINFO opened the sync (a restarted follower
        must not take packets the leader meant for its previous connection)."""
        return self.from_leader(message) and self.sync_phase in ("syncing", "synced")

    def handle_leader_info(self: ZkServer, sim: Simulation, message: Message) -> None:
        if not self.from_leader(message):
            return
        self.last_leader_contact = sim.now
        epoch = message.body["epoch"]
        if epoch < self.accepted_epoch:
            self.look(sim)
            return
        self.accepted_epoch = epoch
        sim.send(self.name, self.leader, "AckEpoch", current_epoch=self.current_epoch,
                 last_zxid=self.last_logged_zxid())
        self.sync_phase = "syncing"

    def handle_trunc(self: ZkServer, sim: Simulation, message: Message) -> None:
        if not self.from_leader(message):
            return
        zxid = message.body["zxid"]
        cut = [t for t in self.log if t.header.zxid > zxid]
        self.log = [t for t in self.log if t.header.zxid <= zxid]
        self.pending = {}
        sim.trace(self.name, "trunc", f"{self.name} truncates {len(cut)} transaction(s) the new leader never "
                  f"committed (TRUNC to {Z.hex_zxid(zxid)}).", zxid=zxid, dropped=len(cut))

    def handle_diff(self: ZkServer, sim: Simulation, message: Message) -> None:
        if self.from_leader(message):
            self.pending = {}
            self.log.extend(message.body["txns"])
            self.committed_zxid = message.body["upto"]
            if message.body["txns"]:
                sim.trace(self.name, "diff", f"{self.name} catches up by DIFF: {len(message.body['txns'])} "
                          "transaction(s).", count=len(message.body["txns"]))

    def handle_snap(self: ZkServer, sim: Simulation, message: Message) -> None:
        if self.from_leader(message):
            self.pending = {}
            self.log = list(message.body["txns"])
            self.committed_zxid = self.last_logged_zxid()
            sim.trace(self.name, "snap", f"{self.name} is too far behind and takes a SNAP of the leader's state.")

    def handle_new_leader(self: ZkServer, sim: Simulation, message: Message) -> None:
        if not self.from_leader(message):
            return
        self.current_epoch = message.body["epoch"]
        self.last_leader_contact = sim.now
        sim.send(self.name, self.leader, "Ack", zxid=message.body["zxid"])

    def handle_up_to_date(self: ZkServer, sim: Simulation, message: Message) -> None:
        if not self.from_leader(message):
            return
        self.sync_phase = "synced"
        self.epoch = self.current_epoch
        self.rebuild_tree(self.committed_zxid)
        self.serving = True
        sim.trace(self.name, "synced", f"{self.name} is in sync with {self.leader} and serves clients.",
                  leader=self.leader)

    def handle_proposal(self: ZkServer, sim: Simulation, message: Message) -> None:
        if not self.in_stream(message):
            return
        self.last_leader_contact = sim.now
        txn: Txn = message.body["txn"]
        if txn.header.zxid <= self.last_logged_zxid():
            return
        last = self.last_logged_zxid()
        # the next proposal follows the last one, or opens a new epoch at counter 1
        epoch = Z.epoch_of(txn.header.zxid)
        expected = last + 1 if Z.epoch_of(last) == epoch else Z.make(epoch, 1)
        if txn.header.zxid != expected:
            self.stream_broken(sim, f"proposal {Z.hex_zxid(txn.header.zxid)} arrived after {Z.hex_zxid(last)}")
            return
        self.log.append(txn)
        self.pending[txn.header.zxid] = txn
        sim.send(self.name, self.leader, "Ack", zxid=txn.header.zxid)

    def handle_commit(self: ZkServer, sim: Simulation, message: Message) -> None:
        if not self.in_stream(message):
            return
        self.last_leader_contact = sim.now
        zxid = message.body["zxid"]
        if zxid > self.committed_zxid and zxid not in self.pending:
            self.stream_broken(sim, f"commit of {Z.hex_zxid(zxid)}, a proposal it never got")
            return
        if self.sync_phase == "synced":
            self.commit(sim, zxid)
        else:
            self.committed_zxid = max(self.committed_zxid, message.body["zxid"])

    def handle_ping(self: ZkServer, sim: Simulation, message: Message) -> None:
        if not self.in_stream(message):
            return
        self.last_leader_contact = sim.now
        if message.body["zxid"] > self.last_logged_zxid():
            # FIFO: every proposal sent before this ping has arrived, or was lost
            self.stream_broken(sim, f"the leader is at {Z.hex_zxid(message.body['zxid'])}")
            return
        sim.send(self.name, self.leader, "PingReply", touched=list(self.touched))
        self.touched = {}

    def stream_broken(self: ZkServer, sim: Simulation, what: str) -> None:
        """A TCP stream never skips a packet: a gap means the connection broke."""
        sim.trace(self.name, "stream_broken", f"{self.name} lost part of the leader's stream ({what}); "
                  "it drops the connection and rejoins.", leader=self.leader)
        self.look(sim)

    def on_follower_tick(self: ZkServer, sim: Simulation) -> None:
        if self.state != "FOLLOWING":
            return
        limit = (self.sync_limit if self.sync_phase == "synced" else self.init_limit) * self.tick_ms
        stuck = self.sync_phase != "synced" and sim.now - self.role_started > self.init_limit * self.tick_ms
        if sim.now - self.last_leader_contact > limit or stuck:
            sim.trace(self.name, "leader_lost",
                      f"{self.name} has not heard its leader {self.leader} for {limit / 1000:g} s "
                      "and looks for a new one.", leader=self.leader)
            self.look(sim)
            return
        if self.sync_phase == "connecting":
            # Learner.connectToLeader retries: the winner may not be listening yet when a follower
            # decides before it does (its FOLLOWERINFO then reached a server still LOOKING)
            self.send_follower_info(sim)
        self.timer(sim, "follower_tick", self.tick_ms)
