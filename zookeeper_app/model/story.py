"""The actors of the master-election story, as simulated machines.

- ``StorageMachine``: races to create the ephemeral ``/clusterx/master_ip``
  holding its address. The winner is master; the others are slaves that watch
  the node and race again when it is deleted (when the master's session
  expires). A restarted machine has a new session, finds the node taken, and
  rejoins as a slave. Like a leader-latch recipe, a master whose connection is
  suspended stops acting as master (it cannot know whether its session still
  lives), and a machine that reconnects with its session looks at the node
  again: absent, it races; its own, it is master again; another's, it is a
  slave and watches it. A create that ended in a connection loss may have
  happened, so it is not simply retried: the look after reconnecting tells.
- ``AppServer``: reads the master's address once with a watch, caches it, and
  sends its writes straight to the cached master. When the watch fires it
  drops the cache and reads again on the next write; while no master is known
  its writes fail.
- ``Tracker`` and ``NaiveAppServer``: the naive alternative. App servers ask
  one dedicated tracker on every write (an extra hop each time); when the
  tracker dies, writes fail although the master is healthy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coordlab.sim import Message, Node, Simulation, durable, serializable

from .client import CONNECTED, LOST, SUSPENDED, ZkClient
from .codes import Code
from .prep import CreateRequest

CLUSTER = "/clusterx"
MASTER = "/clusterx/master_ip"
WRITE_TIMEOUT_MS = 1000


@serializable
@dataclass
class StoryClient(ZkClient):
    """A machine of the story that uses ZooKeeper. At the lab's start it may be switched on
    later (``boot_at_ms``): one by one, once the ensemble serves, as a storage cluster is
    started after its ZooKeeper. A restart later in the lab boots it at once."""

    boot_at_ms: int = durable(0)

    def start(self, sim: Simulation) -> None:
        if sim.now < self.boot_at_ms:
            sim.set_timer(self.name, "boot", self.boot_at_ms - sim.now)
        else:
            self.switch_on(sim)

    def on_boot(self, sim: Simulation) -> None:
        sim.trace(self.name, "boot", f"{self.name} is switched on and connects to ZooKeeper.")
        self.switch_on(sim)

    def switch_on(self, sim: Simulation) -> None:
        self.connect(sim)


@serializable
@dataclass
class StorageMachine(StoryClient):
    address: str = durable("")
    role: str = "starting"  # starting → racing → master | slave; a master whose connection is suspended: unsure
    creating: int = 0
    watching: int = 0
    writes_served: int = 0

    def start(self, sim: Simulation) -> None:
        self.role = "starting"
        super().start(sim)

    def on_state(self, sim: Simulation, state: str) -> None:
        if state == CONNECTED and self.role == "starting":
            self.submit(sim, CreateRequest(CLUSTER))
            self.race(sim)
        elif state == CONNECTED:
            # the same session on another (or the same) server: what happened meanwhile is unknown,
            # so look at the node again, as a leader-latch recipe does on RECONNECTED
            self.look(sim)
        elif state == SUSPENDED and self.role == "master":
            # Curator's LeaderLatch: while SUSPENDED you cannot be certain you are still the leader
            self.role = "unsure"
            sim.trace(self.name, "master_unsure", f"{self.name} lost its connection: it cannot know whether "
                      f"it still owns {MASTER}, so it stops acting as master until it reconnects.")
        elif state == LOST:
            was = self.role
            self.role = "starting"
            sim.trace(self.name, "session_lost", f"{self.name}'s session expired"
                      + (": it is no longer master." if was in ("master", "unsure") else ".")
                      + " It opens a new session.")
            self.connect(sim)

    def race(self, sim: Simulation) -> None:
        self.role = "racing"
        sim.trace(self.name, "race", f"{self.name} tries to become master: create ephemeral {MASTER}.")
        self.creating = self.submit(sim, CreateRequest(MASTER, self.address.encode(), ephemeral=True))

    def look(self, sim: Simulation) -> None:
        """Read the node with a watch: absent, race; ours, master; someone else's, slave."""
        self.watching = self.submit(sim, {"op": "exists", "path": MASTER, "watch": True})

    def on_reply(self, sim: Simulation, xid: int, code: Code, result: Any) -> None:
        if code in (Code.CONNECTIONLOSS, Code.SESSIONEXPIRED):
            return  # the create may or may not have happened: look again once reconnected (or race anew)
        if xid == self.creating:
            if code == Code.OK:
                self.role = "master"
                sim.trace(self.name, "master", f"{self.name} created {MASTER}: it is the master now.")
                self.look(sim)  # watch its own node too: if anyone deletes it, it is master no more
            elif code == Code.NODEEXISTS:
                self.role = "slave"
                sim.trace(self.name, "slave", f"{MASTER} exists: {self.name} is a slave and watches it.")
                self.look(sim)
            else:
                if code == Code.NONODE:  # /clusterx itself is missing (its create was lost, or deleted)
                    self.submit(sim, CreateRequest(CLUSTER))
                self.race(sim)
        elif xid == self.watching and code in (Code.OK, Code.NONODE):
            if result is None:
                if self.role != "racing" or self.creating not in self.pending:
                    self.race(sim)  # the node vanished (between our create and our exists, or meanwhile)
            elif result.ephemeralOwner == self.session:
                if self.role != "master":
                    self.role = "master"
                    sim.trace(self.name, "master", f"{MASTER} is still {self.name}'s: it is the master again.")
            elif self.role != "slave":
                self.role = "slave"
                sim.trace(self.name, "slave", f"{MASTER} is another machine's: {self.name} is a slave and watches it.")

    def on_watch(self, sim: Simulation, event: str, path: str) -> None:
        if path != MASTER or self.role == "starting":
            return
        if event == "DELETED" and self.role == "slave":
            sim.trace(self.name, "master_gone", f"{self.name} sees {MASTER} deleted and races for master.")
            self.race(sim)
        elif event == "DELETED" and self.role == "master":
            sim.trace(self.name, "master_gone", f"{self.name}'s own {MASTER} was deleted: it stops acting as "
                      "master and races again with the others.")
            self.race(sim)
        else:
            self.look(sim)  # a watch fires once: set it again (and race if the node is gone)

    def handle_write(self, sim: Simulation, message: Message) -> None:
        if self.role == "master":
            self.writes_served += 1
            sim.send(self.name, message.src, "WriteAck", id=message.body["id"])
        else:
            sim.send(self.name, message.src, "WriteNack", id=message.body["id"], reason=f"{self.name} is {self.role}")


@serializable
@dataclass
class AppServer(StoryClient):
    write_every_ms: int = durable(500)
    cached_master: str = ""
    reading: int = 0
    in_flight: dict[int, int] = field(default_factory=dict)  # write id → sent at
    next_write: int = 1
    attempted: int = 0
    succeeded: int = 0
    failed: int = 0
    from_cache: int = 0
    asked_zookeeper: int = 0
    without_master_ms: int = 0

    def switch_on(self, sim: Simulation) -> None:
        self.connect(sim)
        sim.set_timer(self.name, "write", self.write_every_ms)

    def read_master(self, sim: Simulation) -> None:
        if self.reading or self.state != CONNECTED:
            return
        self.asked_zookeeper += 1
        self.reading = self.submit(sim, {"op": "getData", "path": MASTER, "watch": True})

    def on_state(self, sim: Simulation, state: str) -> None:
        if state == CONNECTED and not self.cached_master:
            self.read_master(sim)

    def on_reply(self, sim: Simulation, xid: int, code: Code, result: Any) -> None:
        if xid != self.reading:
            return
        self.reading = 0
        if code == Code.OK:
            self.cached_master = result[0].decode()
            sim.trace(self.name, "cache", f"{self.name} learns the master is {self.cached_master} and caches it.")
        else:
            self.cached_master = ""
            # NONODE: no master now; watch for its creation
            self.submit(sim, {"op": "exists", "path": MASTER, "watch": True})

    def on_watch(self, sim: Simulation, event: str, path: str) -> None:
        if path != MASTER:
            return
        if event == "DELETED":
            sim.trace(self.name, "cache_drop", f"{self.name}'s watch fires: the master is gone; it drops its cache.")
        self.cached_master = ""
        self.read_master(sim)

    def on_write(self, sim: Simulation) -> None:
        sim.set_timer(self.name, "write", self.write_every_ms)
        for write_id, sent in list(self.in_flight.items()):
            if sim.now - sent > WRITE_TIMEOUT_MS:
                del self.in_flight[write_id]
                self.failed += 1
                self.cached_master = ""
        self.attempted += 1
        if not self.cached_master:
            self.failed += 1
            self.without_master_ms += self.write_every_ms
            self.read_master(sim)
            return
        self.from_cache += 1
        write_id = self.next_write
        self.next_write += 1
        self.in_flight[write_id] = sim.now
        sim.send(self.name, self.cached_master, "Write", id=write_id)

    def handle_write_ack(self, sim: Simulation, message: Message) -> None:
        if self.in_flight.pop(message.body["id"], None) is not None:
            self.succeeded += 1

    def handle_write_nack(self, sim: Simulation, message: Message) -> None:
        if self.in_flight.pop(message.body["id"], None) is not None:
            self.failed += 1
            self.cached_master = ""
            self.read_master(sim)


@serializable
@dataclass
class Tracker(Node):
    """The naive alternative to ZooKeeper: one machine that knows the master."""

    master: str = durable("")

    def handle_who_is_master(self, sim: Simulation, message: Message) -> None:
        sim.send(self.name, message.src, "MasterIs", id=message.body["id"], master=self.master)


@serializable
@dataclass
class NaiveAppServer(Node):
    tracker: str = durable("")
    write_every_ms: int = durable(500)
    pending: dict[int, int] = field(default_factory=dict)
    next_write: int = 1
    attempted: int = 0
    succeeded: int = 0
    failed: int = 0
    last_failed_at: int = -1  # when a write of ours last failed
    extra_hops: int = 0

    def start(self, sim: Simulation) -> None:
        sim.set_timer(self.name, "write", self.write_every_ms)

    def on_write(self, sim: Simulation) -> None:
        sim.set_timer(self.name, "write", self.write_every_ms)
        for write_id, sent in list(self.pending.items()):
            if sim.now - sent > WRITE_TIMEOUT_MS:
                del self.pending[write_id]
                self.failed += 1
                self.last_failed_at = sim.now
        self.attempted += 1
        self.extra_hops += 1
        write_id = self.next_write
        self.next_write += 1
        self.pending[write_id] = sim.now
        sim.send(self.name, self.tracker, "WhoIsMaster", id=write_id)

    def handle_master_is(self, sim: Simulation, message: Message) -> None:
        if message.body["id"] in self.pending:
            sim.send(self.name, message.body["master"], "Write", id=message.body["id"])

    def handle_write_ack(self, sim: Simulation, message: Message) -> None:
        if self.pending.pop(message.body["id"], None) is not None:
            self.succeeded += 1

    def handle_write_nack(self, sim: Simulation, message: Message) -> None:
        if self.pending.pop(message.body["id"], None) is not None:
            self.failed += 1
            self.last_failed_at = sim.now


@serializable
@dataclass
class PlainStorage(Node):
    """A storage machine of the naive story: master by configuration, no ZooKeeper."""

    is_master: bool = durable(False)

    def handle_write(self, sim: Simulation, message: Message) -> None:
        kind = "WriteAck" if self.is_master else "WriteNack"
        sim.send(self.name, message.src, kind, id=message.body["id"])
