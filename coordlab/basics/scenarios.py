"""The "Network basics" scenario."""

from __future__ import annotations

from typing import Any

from coordlab.labs.guide import Step
from coordlab.labs.scenario import Preset, Scenario
from coordlab.sim import Simulation

from .model import ALIVE, SUSPECTED, HeartbeatMachine, build_cluster

MACHINES = ["m1", "m2", "m3", "m4"]
SPLIT = (("m1", "m2"), ("m3", "m4"))


def build(seed: int) -> Simulation:
    return build_cluster(seed, MACHINES, interval_ms=1000, timeout_ms=3000,
                         latency_ms=400, jitter_ms=150)


# -- the guided steps: what each sends, and what it waits for (a moment is tested after every event,
# so each reads the four machines' beliefs and nothing more) ----------------------------------------


def kill_m3(sim: Simulation) -> dict[str, Any] | None:
    return {"command": "crash", "node": "m3"} if sim.nodes["m3"].alive else None


def restart_m3(sim: Simulation) -> dict[str, Any] | None:
    return None if sim.nodes["m3"].alive else {"command": "restart", "node": "m3"}


def split(sim: Simulation) -> dict[str, Any]:
    return {"command": "partition", "preset": "split-2-2"}


def heal(sim: Simulation) -> dict[str, Any]:
    return {"command": "heal"}


def cut_m1_to_m2(sim: Simulation) -> dict[str, Any]:
    return {"command": "cut", "a": "m1", "b": "m2", "both_ways": False}


def belief(sim: Simulation, machine: str, peer: str) -> str:
    """What ``machine`` believes about ``peer`` now (a machine that is down believes nothing)."""
    node = sim.nodes.get(machine)
    if not isinstance(node, HeartbeatMachine) or not node.alive:
        return ""
    return node.view.get(peer, "")


def everyone_suspects_m3(sim: Simulation) -> bool:
    return all(belief(sim, m, "m3") == SUSPECTED for m in MACHINES if m != "m3")


def everyone_trusts_everyone(sim: Simulation) -> bool:
    return all(belief(sim, m, peer) == ALIVE for m in MACHINES for peer in MACHINES if peer != m)


def halves_suspect_each_other(sim: Simulation) -> bool:
    left, right = SPLIT
    return all(belief(sim, a, b) == SUSPECTED and belief(sim, b, a) == SUSPECTED for a in left for b in right)


def m2_suspects_m1(sim: Simulation) -> bool:
    return belief(sim, "m2", "m1") == SUSPECTED


GUIDE = (
    Step("Kill m3",
         "Its peers keep sending heartbeats into the void. About 3 s later each of them suspects m3.",
         kill_m3, everyone_suspects_m3, "every other machine suspects m3"),
    Step("Restart m3",
         "m3 boots knowing nothing about its peers. As heartbeats flow again, every machine believes every "
         "other alive.",
         restart_m3, everyone_trusts_everyone, "every machine believes the others alive"),
    Step("Split the network 2 | 2",
         "Nobody crashed, yet each half suspects the other. From the inside, a dead machine and a cut network "
         "look the same: a timeout is only a guess.",
         split, halves_suspect_each_other, "each half suspects the other"),
    Step("Heal the network",
         "Heartbeats cross again, and every suspicion goes away.",
         heal, everyone_trusts_everyone, "every machine believes the others alive"),
    Step("Cut the link m1 → m2 one way",
         "Only m1's messages to m2 are lost. m2 suspects m1, while m1 still trusts m2: they disagree.",
         cut_m1_to_m2, m2_suspects_m1, "m2 suspects m1"),
)

SCENARIOS = (
    Scenario(
        slug="network-basics",
        title="Network basics",
        promise="Four machines send heartbeats; kill one, cut a link or split the network, "
                "and watch who suspects whom.",
        kind="basics",
        build=build,
        explain=(
            "Each machine sends a heartbeat (a small “I'm alive” message) to every other "
            "machine once a second. Messages take about 0.4 s to arrive.",
            "A machine suspects a peer when it has heard nothing from it for 3 seconds. "
            "Each machine's row shows what it believes about the others.",
        ),
        presenter=("basics-network", "basics-beliefs", "basics-beliefs"),
        simplification="Real failure detectors adapt their timeout to the network; "
                       "here it is fixed at 3 s, and every machine has the same clock speed.",
        presets=(
            Preset("split-2-2", "Split 2 | 2", SPLIT),
            Preset("isolate-m1", "Isolate m1", (("m1",), ("m2", "m3", "m4"))),
        ),
        guide=GUIDE,
    ),
)
