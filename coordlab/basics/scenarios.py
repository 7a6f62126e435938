"""The "Network basics" scenario."""

from __future__ import annotations

from coordlab.labs.scenario import Preset, Scenario
from coordlab.sim import Simulation

from .model import build_cluster

MACHINES = ["m1", "m2", "m3", "m4"]


def build(seed: int) -> Simulation:
    return build_cluster(seed, MACHINES, interval_ms=1000, timeout_ms=3000,
                         latency_ms=400, jitter_ms=150)


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
            "Try: click m3 to kill it. Its peers keep sending heartbeats into the void; about "
            "3 s later each of them suspects m3. Click it again to restart it.",
            "Try: “Split 2 | 2”. Nobody crashed, yet each half suspects the other. "
            "From the inside, a dead machine and a cut network look the same: a timeout is only a guess.",
            "Try: cut a link one way (m1 → m2 only). m2 suspects m1, while m1 still trusts m2.",
        ),
        presenter=("basics-network", "basics-beliefs", "basics-beliefs"),
        simplification="Real failure detectors adapt their timeout to the network; "
                       "here it is fixed at 3 s, and every machine has the same clock speed.",
        presets=(
            Preset("split-2-2", "Split 2 | 2", (("m1", "m2"), ("m3", "m4"))),
            Preset("isolate-m1", "Isolate m1", (("m1",), ("m2", "m3", "m4"))),
        ),
    ),
)
