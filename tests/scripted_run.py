"""A fixed scripted run of a lab, shared by the determinism tests.

Run as ``python -m tests.scripted_run`` it prints the trace digest and a hash
of the final snapshot, so runs under different ``PYTHONHASHSEED`` can be
compared from outside.
"""

from __future__ import annotations

import hashlib

from coordlab.labs.commands import from_data
from coordlab.labs.lab import Lab
from coordlab.labs.registry import get

SCRIPT = [
    (2_000, {"command": "crash", "node": "m3"}),
    (3_000, {"command": "cut", "a": "m1", "b": "m2", "both_ways": False}),
    (6_500, {"command": "partition", "preset": "split-2-2"}),
    (9_000, {"command": "restart", "node": "m3"}),
    (12_000, {"command": "heal"}),
    (13_000, {"command": "step"}),
    (13_000, {"command": "step"}),
    (13_000, {"command": "play"}),
]


def run(seed: int = 7, until_ms: int = 20_000, wall_step_ms: float = 50) -> Lab:
    """Play the script on a Network basics lab, advancing like the engine does."""
    lab = Lab("scripted", get("network-basics"), seed)
    for at, command in SCRIPT:
        while lab.now < at:
            lab.advance(min(wall_step_ms, at - lab.now))
        lab.apply(from_data(command))
    while lab.now < until_ms:
        lab.advance(min(wall_step_ms, until_ms - lab.now))
    return lab


def fingerprint(lab: Lab) -> str:
    snapshot_hash = hashlib.sha256(lab.sim.snapshot().encode()).hexdigest()
    return f"{lab.sim.trace_log.digest} {snapshot_hash} {lab.sim.trace_log.count}"


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coordlab.settings")
    django.setup()  # the apps register their lab kinds
    print(fingerprint(run()))
