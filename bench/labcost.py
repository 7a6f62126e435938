"""What each lab of the catalog costs to run and to watch, in one process.

Each lab plays at 1x through the real engine (``Engine.tick`` with the frame
interval's wall time, as ``Engine.run`` calls it), with one viewer, for a 5 s
warm-up and then 10 s measured. For each lab it prints the CPU the simulation
took per second of play, the CPU rendering took, the frames it sent per second,
and the bytes one viewer got per second (the frames as they go on the wire,
header included, plain and compressed with permessage-deflate as the server
sends them to every browser, which always asks for it). The ticks run back to back, so the figures are CPU
time, not wall time; they are a share of one core.

This machine is shared, and its speed changes over a day (by up to 2x): so the
run also times a baseline, a bare ``heapq`` loop (``bench.kernel.heapq_run``),
before and after the labs, and prints each Kafka figure scaled to the speed
that loop had when the targets were set (``REFERENCE_STEPS_PER_S``), beside the
figure as measured.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

from bench.kernel import heapq_run, setup_django

WARM_UP_S = 5
MEASURED_S = 10
TARGET_BYTES_PER_S = 40_000
TARGET_KAFKA_SHARE = 0.03
TARGET_MOTION_FPS = 10
#: the bare heapq loop's speed on this machine when the targets were set (README, 2026-11-26)
REFERENCE_STEPS_PER_S = 4_661_187
BASELINE_STEPS, BASELINE_DEPTH = 300_000, 15


@dataclass
class Cost:
    slug: str
    kind: str
    sim_s: float
    render_s: float
    frames: int
    bytes: int
    deflated: int
    moving: bool

    def line(self) -> str:
        per_s = 1 / MEASURED_S
        return (f"  {self.slug:<22}{self.sim_s * per_s * 100:>9.2f}%{self.render_s * per_s * 100:>9.2f}%"
                f"{(self.sim_s + self.render_s) * per_s * 100:>9.2f}%{self.frames * per_s:>9.1f}"
                f"{self.bytes * per_s / 1000:>11.1f}{self.deflated * per_s / 1000:>10.1f}"
                f"{'' if self.moving else '  (nothing moved)':<18}")


async def measure(slug: str, fps: float) -> Cost:
    from coordlab.frames import render_frame
    from coordlab.labs import registry
    from coordlab.labs.engine import Engine
    from coordlab.labs.fanout import Frame
    from coordlab.labs.runtime import MOTION_FRAMES_PER_SECOND

    scenario = registry.get(slug)
    assert scenario is not None
    sent: list[bytes] = []
    deflated: list[bytes] = []
    moving = False
    render_s = 0.0

    def render(lab):  # type: ignore[no-untyped-def]
        nonlocal render_s
        started = time.process_time()
        try:
            return render_frame(lab)
        finally:
            render_s += time.process_time() - started

    async def publish(lab_id: str, seq: int, fragments: list[str]) -> None:
        frame = Frame.build(seq, time.time(), fragments)
        sent.append(frame.data)
        deflated.append(frame.deflated)

    engine = Engine(render, publish, frames_per_second=fps,
                    ticks_per_frame=max(1, round(fps / MOTION_FRAMES_PER_SECOND)))
    lab = engine.start_lab(scenario)
    # The server freezes checkpoints in a forked child while the loop goes on; ticks back to back here
    # never give it the chance, so the lab takes them itself (their CPU counts as the simulation's).
    lab.defer_checkpoints = False
    engine.viewer_joined(lab.id)
    interval_ms = 1000 / fps
    for _ in range(int(WARM_UP_S * fps)):
        await engine.tick(interval_ms)
    sent.clear()
    deflated.clear()
    render_s = 0.0
    started = time.process_time()
    for _ in range(int(MEASURED_S * fps)):
        moving |= bool(lab.sim.network.in_flight)
        await engine.tick(interval_ms)
    total = time.process_time() - started
    return Cost(slug, scenario.kind, total - render_s, render_s, len(sent), sum(map(len, sent)),
                sum(map(len, deflated)), moving)


def baseline() -> float:
    """The bare heapq loop's steps per second now (best of three)."""
    return BASELINE_STEPS / min(heapq_run(BASELINE_STEPS, BASELINE_DEPTH) for _ in range(3))


def main(argv: list[str] | None = None) -> None:
    var_dir = tempfile.mkdtemp(prefix="coordlab-bench-")
    try:
        setup_django(var_dir)
        from django.conf import settings

        from coordlab.labs import registry

        fps = settings.COORDLAB_FRAMES_PER_SECOND
        only = set(argv if argv is not None else sys.argv[1:])
        before = baseline()
        costs = [asyncio.run(measure(slug, fps)) for slug in registry.scenarios() if not only or slug in only]
        after = baseline()
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    print(f"Lab cost: each lab at 1x through the engine ({fps:g} frames/s), one viewer, {WARM_UP_S} s warm-up, "
          f"{MEASURED_S} s measured; CPU as a share of one core ({os.cpu_count()} cores here)")
    print(f"  {'lab':<22}{'sim CPU':>10}{'render':>10}{'together':>10}{'frames/s':>9}{'KB/s/viewer':>12}"
          f"{'deflated':>10}")
    for cost in costs:
        print(cost.line())
    heaviest = max(costs, key=lambda c: c.deflated)
    kafka = [c for c in costs if c.kind == "kafka"]
    worst_kafka = max(kafka, key=lambda c: c.sim_s + c.render_s) if kafka else None
    slowest = min((c for c in costs if c.moving), key=lambda c: c.frames, default=None)
    wire = heaviest.deflated / MEASURED_S
    print(f"  heaviest on the wire: {heaviest.slug}, {wire / 1000:.1f} KB/s per viewer with permessage-deflate "
          f"(every browser asks for it; {heaviest.bytes / MEASURED_S / 1000:.1f} KB/s without) "
          f"(target <= {TARGET_BYTES_PER_S / 1000:g}: {'met' if wire <= TARGET_BYTES_PER_S else 'NOT met'})")
    speed = (before + after) / 2
    scale = speed / REFERENCE_STEPS_PER_S
    print(f"  baseline in this run: the bare heapq loop at {before / 1e6:.2f}M steps/s before the labs and "
          f"{after / 1e6:.2f}M after, {scale:.2f}x its speed when the targets were set "
          f"({REFERENCE_STEPS_PER_S / 1e6:.2f}M)")
    if worst_kafka is not None:
        share = (worst_kafka.sim_s + worst_kafka.render_s) / MEASURED_S
        print(f"  costliest Kafka lab: {worst_kafka.slug}, {share * 100:.1f}% of a core as measured, "
              f"{share * scale * 100:.1f}% at the reference speed "
              f"(target <= {TARGET_KAFKA_SHARE * 100:g}%: {'met' if share <= TARGET_KAFKA_SHARE else 'NOT met'} "
              f"as measured, {'met' if share * scale <= TARGET_KAFKA_SHARE else 'NOT met'} at the reference speed)")
    if slowest is not None:
        rate = slowest.frames / MEASURED_S
        print(f"  fewest frames while something moves: {slowest.slug}, {rate:.1f}/s "
              f"(target >= {TARGET_MOTION_FPS}: {'met' if rate >= TARGET_MOTION_FPS else 'NOT met'})")


if __name__ == "__main__":
    main()
