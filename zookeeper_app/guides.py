"""The ZooKeeper labs' guided steps (``coordlab.labs.guide``): what each step does to the
lab, and the moment it plays to. A moment is looked at after every event while the lab
plays to it, so each reads a few machines' fields and nothing more."""

from __future__ import annotations

from typing import Any

from coordlab.labs.guide import Step
from coordlab.sim import Simulation
from zookeeper_app.model import ZkServer
from zookeeper_app.model.checks import one_master
from zookeeper_app.model.client import CONNECTED
from zookeeper_app.model.story import MASTER, AppServer, NaiveAppServer, StorageMachine

Command = dict[str, Any] | None


def servers(sim: Simulation) -> list[ZkServer]:
    return [node for node in sim.nodes.values() if isinstance(node, ZkServer)]


def leaders(sim: Simulation) -> list[ZkServer]:
    """The servers that lead an established epoch now (two only in a split brain)."""
    return [s for s in servers(sim) if s.alive and s.state == "LEADING" and s.established]


def masters(sim: Simulation) -> list[StorageMachine]:
    return [n for n in sim.nodes.values() if isinstance(n, StorageMachine) and n.alive and n.role == "master"]


def crash(name: str | None) -> Command:
    return {"command": "crash", "node": name} if name else None


def restart(name: str | None) -> Command:
    return {"command": "restart", "node": name} if name else None


def first_down(sim: Simulation, kind: type) -> str | None:
    return next((n.name for n in sim.nodes.values() if isinstance(n, kind) and not n.alive), None)


# -- moments ---------------------------------------------------------------------------------

def master_known(sim: Simulation) -> bool:
    """One live master, and every running app server has it cached."""
    found = masters(sim)
    return len(found) == 1 and all(a.cached_master == found[0].address for a in sim.nodes.values()
                                   if isinstance(a, AppServer) and a.alive)


def master_node_gone(sim: Simulation) -> bool:
    return any(leader.tree.get(MASTER) is None for leader in leaders(sim))


def session_moved(sim: Simulation) -> bool:
    """The master is connected again, through a live server, while another server is down."""
    found = masters(sim)
    return (len(found) == 1 and found[0].state == CONNECTED and sim.nodes[found[0].server].alive
            and any(not s.alive for s in servers(sim)))


def all_settled(sim: Simulation) -> bool:
    """Every storage machine runs and is master or slave, and there is one master."""
    machines = [n for n in sim.nodes.values() if isinstance(n, StorageMachine)]
    return all(n.alive and n.role in ("master", "slave") for n in machines) and len(masters(sim)) == 1


def tracker_writes_failed(sim: Simulation) -> bool:
    """The tracker is down, and every app server has had a write fail since."""
    tracker = sim.nodes["T"]
    return not tracker.alive and all(a.last_failed_at > tracker.down_since for a in sim.nodes.values()
                                     if isinstance(a, NaiveAppServer))


def minority_stopped(sim: Simulation) -> bool:
    """Split 2 | 3: z1 and z2 do not serve, and the three others have an established leader."""
    nodes = sim.nodes
    small = [nodes["z1"], nodes["z2"]]
    return not any(getattr(s, "serving", False) for s in small) and \
        any(s.name not in ("z1", "z2") for s in leaders(sim))


def one_ensemble(sim: Simulation) -> bool:
    """Every server serves, under one leader."""
    return len(leaders(sim)) == 1 and all(s.alive and s.serving for s in servers(sim))


def ensemble_and_master(sim: Simulation) -> bool:
    return one_ensemble(sim) and len(masters(sim)) == 1


def split_brain(sim: Simulation) -> bool:
    """Two leaders and two masters, and the safety badge says so (the costly look goes last)."""
    return len(leaders(sim)) >= 2 and len(masters(sim)) >= 2 and bool(one_master(sim))


def election_started(sim: Simulation) -> bool:
    return any(s.alive and s.state == "LOOKING" for s in servers(sim))


def new_leader(sim: Simulation) -> bool:
    return len(leaders(sim)) == 1 and not any(s.alive and s.state == "LOOKING" for s in servers(sim))


def old_leader_follows(sim: Simulation) -> bool:
    return all(s.alive for s in servers(sim)) and one_ensemble(sim)


def c1_node_gone(sim: Simulation) -> bool:
    return not sim.nodes["C1"].alive and master_node_gone(sim)


def c1_master_again(sim: Simulation) -> bool:
    c1 = sim.nodes["C1"]
    return isinstance(c1, StorageMachine) and c1.alive and c1.role == "master"


def c1_moved(sim: Simulation) -> bool:
    c1 = sim.nodes["C1"]
    assert isinstance(c1, StorageMachine)
    return c1.state == CONNECTED and c1.role == "master" and sim.nodes[c1.server].alive and \
        any(not s.alive for s in servers(sim))


# -- actions ---------------------------------------------------------------------------------

def kill_master(sim: Simulation) -> Command:
    found = masters(sim)
    return crash(found[0].name if found else None)


def kill_masters_server(sim: Simulation) -> Command:
    found = masters(sim)
    return crash(found[0].server if found and found[0].state == CONNECTED else None)


def kill_leader(sim: Simulation) -> Command:
    found = leaders(sim)
    return crash(found[0].name if found else None)


def restart_storage(sim: Simulation) -> Command:
    return restart(first_down(sim, StorageMachine))


def restart_server(sim: Simulation) -> Command:
    return restart(first_down(sim, ZkServer))


def kill_c1s_server(sim: Simulation) -> Command:
    c1 = sim.nodes["C1"]
    assert isinstance(c1, StorageMachine)
    return crash(c1.server if c1.state == CONNECTED else None)


# -- the steps -------------------------------------------------------------------------------

NAIVE_TRACKER = (
    Step("Count the extra hops",
         "Every write starts with a question to T. Watch the metrics: extra hops grow as fast as writes."),
    Step("Kill the tracker",
         "M1 is perfectly healthy, yet every write now fails: nobody can tell the app servers where the master "
         "is. The tracker is a single point of failure.",
         action=lambda sim: crash("T" if sim.nodes["T"].alive else None), moment=tracker_writes_failed,
         waits_for="every app server has seen a write fail"),
    Step("Restart the tracker",
         "Writes come back as soon as T answers again. The next lab replaces T with ZooKeeper, which is several "
         "machines.",
         action=lambda sim: restart(None if sim.nodes["T"].alive else "T")),
)

MASTER_ELECTION = (
    Step("Wait for a master",
         "ZooKeeper elects its leader; then the storage machines switch on one by one and race to create "
         "/clusterx/master_ip. The first one wins, and the app servers cache its address.",
         moment=master_known, waits_for="every app server knows the master"),
    Step("Kill the master's ZooKeeper server",
         "The connection closes, so the master moves its session to another server at once and stays master: "
         "nobody re-elects. The sessions table shows the new server.",
         action=kill_masters_server, moment=session_moved, waits_for="the master's session moves to another server"),
    Step("Kill the master",
         "Its session lives until its 4 s timeout: writes to it fail meanwhile. Then the leader expires the "
         "session and the ephemeral /clusterx/master_ip is deleted.",
         action=kill_master, moment=master_node_gone, waits_for="its session expires and the node disappears"),
    Step("Watch the slaves race",
         "The slaves' watches fire and they race to create the node again. One wins; the app servers' watches "
         "fire too, and they read and cache the new master.",
         moment=master_known, waits_for="every app server knows the new master"),
    Step("Restart the old master",
         "It opens a new session, finds /clusterx/master_ip taken and rejoins as a slave, watching the node.",
         action=restart_storage, moment=all_settled, waits_for="it rejoins as a slave"),
)

QUORUM = (
    Step("Wait for a master",
         "The five servers elect a leader; M1 and M2 race for /clusterx/master_ip and one of them wins.",
         moment=ensemble_and_master, waits_for="the ensemble serves and one machine is master"),
    Step("Split 2 | 3",
         "z1 and z2 cannot form a quorum (3 of 5): they stop serving, and M1, which talks to z1, cannot write. "
         "The three servers on the other side go on.",
         action=lambda sim: {"command": "partition", "preset": "split-2"}, moment=minority_stopped,
         waits_for="the small side stops serving and the big side has a leader"),
    Step("Heal the network",
         "The two sides hear each other again: z1 and z2 follow the majority's leader and catch up.",
         action=lambda sim: {"command": "heal"}, moment=one_ensemble, waits_for="all five servers serve again"),
    Step("Switch on the unsafe half rule",
         "Now 2 of 5 servers count as a quorum. ZooKeeper has no such switch: it is here to show why.",
         action=lambda sim: {"command": "toggle", "name": "half-quorum", "on": True}),
    Step("Split again",
         "Both sides elect a leader and both M1 and M2 become master: split brain. The safety badge turns red "
         "and names both masters.",
         action=lambda sim: {"command": "partition", "preset": "split-2"}, moment=split_brain,
         waits_for="both sides have a leader and a master"),
)

LEADER_ELECTION = (
    Step("Watch the first election",
         "The five servers start LOOKING and vote; the one a majority agrees on leads epoch 1.",
         moment=one_ensemble, waits_for="the servers elect a leader and serve"),
    Step("Kill the leader",
         "Its connections close, so the followers notice at once and go LOOKING. (Powered off instead, it would "
         "fall silent, and they would wait syncLimit, 2.5 s, before giving up on it.)",
         action=kill_leader, moment=election_started, waits_for="the followers go LOOKING"),
    Step("Follow the votes",
         "Each server votes for the best server it knows: higher epoch, then higher zxid, then higher id. When a "
         "majority agrees, the winner leads a new epoch: see the new epoch in every zxid. (Step → at 0.1x shows "
         "one vote at a time.)",
         moment=new_leader, waits_for="a new leader leads a new epoch"),
    Step("Restart the old leader",
         "It comes back LOOKING, learns there is a leader, and follows it: it syncs the writes it missed.",
         action=restart_server, moment=old_leader_follows, waits_for="it follows the new leader"),
)

SESSIONS = (
    Step("C1 connects",
         "C1 opens a session with a server and creates its ephemeral node, /clusterx/master_ip.",
         moment=c1_master_again, waits_for="C1 holds its ephemeral node"),
    Step("Kill C1",
         "C1 freezes: no more pings, no goodbye. Watch its session's bar run down; at zero the leader closes the "
         "session and the ephemeral node disappears.",
         action=lambda sim: crash("C1" if sim.nodes["C1"].alive else None), moment=c1_node_gone,
         waits_for="its session expires and its ephemeral node disappears"),
    Step("Restart C1",
         "A restarted C1 has a new session, and creates its ephemeral node again.",
         action=lambda sim: restart(None if sim.nodes["C1"].alive else "C1"), moment=c1_master_again,
         waits_for="C1 holds the node again"),
    Step("Kill C1's server instead",
         "C1 reconnects to another server within its timeout and keeps its session: suspended, then connected "
         "again, never expired.",
         action=kill_c1s_server, moment=c1_moved,
         waits_for="C1 moves its session to another server and holds its node"),
)
