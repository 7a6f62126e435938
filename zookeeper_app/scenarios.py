"""The ZooKeeper lab's built-in scenarios."""

from __future__ import annotations

from coordlab.labs.scenario import Groups, Preset, Scenario, Toggle
from coordlab.sim import Simulation
from zookeeper_app import guides
from zookeeper_app.model import Ensemble, ZkServer
from zookeeper_app.model.console import CONSOLE_CLIENT, ConsoleClient
from zookeeper_app.model.story import AppServer, NaiveAppServer, PlainStorage, StorageMachine, Tracker

TICK_MS = 500
LATENCY_MS, JITTER_MS = 120, 40
ENSEMBLE_UP_MS = 1600  # three servers elect, sync and serve within about 1.4 s of the lab's start
STORAGE_BOOT_MS = 800  # from then on, one more storage machine is switched on every 0.8 s
SIMPLIFIED = ("No ACLs, quotas or snapshot files; each server replays its whole log on restart. "
              "Timings are slowed down (tick 0.5 s, 120 ms per message) so you can watch them.")


def ensemble(seed: int, servers: int) -> Ensemble:
    """An ensemble with the console's "you" client, slowed down to watch."""
    ens = Ensemble(servers=servers, seed=seed, tick_time=TICK_MS, latency_ms=LATENCY_MS, jitter_ms=JITTER_MS)
    ens.add(ConsoleClient(name=CONSOLE_CLIENT, hosts=list(ens.server_names), timeout_ms=10_000))
    return ens


def servers_of(sim: Simulation) -> list[str]:
    return [name for name, node in sim.nodes.items() if isinstance(node, ZkServer)]


def isolate_leader(sim: Simulation) -> Groups:
    leaders = [n for n, node in sim.nodes.items() if isinstance(node, ZkServer) and node.state == "LEADING"]
    if not leaders:
        return []
    return [[leaders[0]], [name for name in sim.nodes if name != leaders[0]]]


def split(minority: int) -> Preset:
    def groups(sim: Simulation) -> Groups:
        servers = servers_of(sim)
        others = [n for n in sim.nodes if n not in servers]
        # clients stay with the side their connect string starts on
        left = servers[:minority]
        return [left + [o for o in others if getattr(sim.nodes[o], "hosts", [""])[0] in left],
                servers[minority:] + [o for o in others if getattr(sim.nodes[o], "hosts", [""])[0] not in left]]

    total = "2 | 3" if minority == 2 else f"{minority} | rest"
    return Preset(f"split-{minority}", f"Split {total}", groups)


ISOLATE_LEADER = Preset("isolate-leader", "Isolate the leader", isolate_leader)


def set_half_quorum(sim: Simulation, on: bool) -> None:
    for name in servers_of(sim):
        server = sim.nodes[name]
        assert isinstance(server, ZkServer)
        server.half_quorum = on
    sim.trace("ensemble", "unsafe" if on else "safe",
              "UNSAFE: servers now accept half the ensemble as a quorum; split brain is possible."
              if on else "Quorum is a strict majority again: split brain is impossible.", enabled=on)


def half_quorum_on(sim: Simulation) -> bool:
    return any(getattr(node, "half_quorum", False) for node in sim.nodes.values())


HALF_QUORUM = Toggle("half-quorum", "UNSAFE: accept half the servers as a quorum", set_half_quorum, half_quorum_on)


def build_tracker(seed: int) -> Simulation:
    sim = Simulation.create(seed)
    sim.network.latency_ms, sim.network.jitter_ms = LATENCY_MS, JITTER_MS
    for index in range(1, 4):
        sim.add_node(PlainStorage(name=f"M{index}", is_master=index == 1))
    sim.add_node(Tracker(name="T", master="M1"))
    for index in range(1, 4):
        sim.add_node(NaiveAppServer(name=f"A{index}", tracker="T", write_every_ms=1000))
    sim.start()
    return sim


def build_master_election(seed: int) -> Simulation:
    ens = ensemble(seed, 3)
    hosts = ens.server_names
    # The storage cluster is switched on once ZooKeeper serves, one machine after another, so
    # their sessions spread over the servers as their connect strings say and M1 becomes master.
    for index in range(1, 6):
        ens.add(StorageMachine(name=f"M{index}", hosts=hosts[index % 3:] + hosts[:index % 3], timeout_ms=4000,
                               address=f"M{index}", boot_at_ms=ENSEMBLE_UP_MS + STORAGE_BOOT_MS * (index - 1)))
    for index in range(1, 4):
        ens.add(AppServer(name=f"A{index}", hosts=hosts[index % 3:] + hosts[:index % 3], timeout_ms=4000,
                          write_every_ms=1000, boot_at_ms=ENSEMBLE_UP_MS + STORAGE_BOOT_MS * index))
    return ens.sim


def build_quorum(seed: int) -> Simulation:
    ens = ensemble(seed, 5)
    for index, first in ((1, "z1"), (2, "z5")):
        others = [n for n in ens.server_names if n != first]
        ens.add(StorageMachine(name=f"M{index}", hosts=[first, *others], timeout_ms=4000, address=f"M{index}"))
    return ens.sim


def build_election(seed: int) -> Simulation:
    return ensemble(seed, 5).sim


def build_sessions(seed: int) -> Simulation:
    ens = ensemble(seed, 3)
    ens.add(StorageMachine(name="C1", hosts=["z1", "z2", "z3"], timeout_ms=4000, address="C1"))
    return ens.sim


SCENARIOS = (
    Scenario(
        slug="naive-tracker", title="The naive tracker", kind="zookeeper", build=build_tracker,
        promise="App servers ask one tracker machine where the master is on every write. "
                "Count the extra hops, then kill the tracker.",
        explain=(
            "M1 is the storage master. Before every write, each app server (A1–A3) asks the tracker T "
            "“who is the master?”, then sends the write to M1: every write costs an extra round trip.",
        ),
        guide=guides.NAIVE_TRACKER,
        presenter=("zk-ensemble", "zk-safety", "zk-metrics"),
        simplification="The tracker's answer is fixed (M1); a real one would have to learn it somehow.",
    ),
    Scenario(
        slug="master-election", title="Master election with ZooKeeper", kind="zookeeper",
        build=build_master_election,
        promise="Storage machines race for an ephemeral /clusterx/master_ip; app servers watch it. "
                "Kill the master and watch the hand-over.",
        explain=(
            "Once ZooKeeper serves, the storage machines are switched on one by one, and each tries to create "
            "the ephemeral node /clusterx/master_ip. M1 comes first and wins: it is master; the others are "
            "slaves and watch the node. A1–A3 read the master once, with a watch, cache it, and send their "
            "writes straight to it.",
            "Slow down to 0.1x and use Step to follow a failover message by message.",
    ),
        guide=guides.MASTER_ELECTION,
        presenter=("zk-ensemble", "zk-safety", "zk-metrics"),
        simplification=SIMPLIFIED, presets=(ISOLATE_LEADER,),
    ),
    Scenario(
        slug="quorum-split-brain", title="Why a majority: quorum and split brain", kind="zookeeper",
        build=build_quorum,
        promise="Five servers split 2 | 3: only the majority can write. Switch on the unsafe half rule and "
                "both sides elect a master.",
        explain=(
            "Five ZooKeeper servers; M1 talks to z1 first, M2 to z5 first. One of them is master.",
    ),
        guide=guides.QUORUM,
        presenter=("zk-ensemble", "zk-safety", "zk-ensemble"),
        simplification=SIMPLIFIED + " The unsafe switch does not exist in ZooKeeper: it is here to show why.",
        presets=(split(2), ISOLATE_LEADER), toggles=(HALF_QUORUM,),
    ),
    Scenario(
        slug="leader-election", title="Inside ZooKeeper: leader election", kind="zookeeper", build=build_election,
        promise="Kill the leader of five servers, follow the votes, and see the new epoch in every zxid.",
        explain=(
            "Each server shows its state, its epoch and its last zxid (epoch in the high bits, counter in the low "
            "bits: 0x200000003 is epoch 2, write 3).",
            "Pause, set 0.1x, and Step through the election one message at a time.",
    ),
        guide=guides.LEADER_ELECTION,
        presenter=("zk-ensemble", "zk-safety", "zk-ensemble"),
        simplification=SIMPLIFIED, presets=(ISOLATE_LEADER,),
    ),
    Scenario(
        slug="sessions-ephemerals", title="Sessions and ephemeral nodes", kind="zookeeper",
        build=build_sessions,
        promise="A client heartbeats to keep its session. Freeze it and its ephemeral node vanishes; "
                "kill its server instead and the session moves.",
        explain=(
            "C1 holds a session and an ephemeral node (/clusterx/master_ip). It pings its server every third of "
            "its timeout; the leader expires sessions whose pings stop.",
    ),
        guide=guides.SESSIONS,
        presenter=("zk-ensemble", "zk-safety", "zk-sessions"),
        simplification=SIMPLIFIED,
    ),
)
