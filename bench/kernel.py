"""Kernel and rendering figures: events per second, and ms per rendered frame.

(a) The Network basics simulation runs a long virtual span with
``Simulation.run_until``; events are ``sim.processed`` before and after. In the
same run a bare ``heapq`` loop pushes and pops as many ``(time, seq, payload)``
tuples, through a trivial handler that schedules the next event, on a heap as
deep as the simulation's queue. The ratio says what a whole kernel event (the
protocol's handler, its sends and timers, the trace) costs over a heap step.

(b) ``coordlab.frames.render_frame`` on a Network basics lab, advanced 50 ms
of virtual time between calls (only the rendering is timed).

Every figure is the best of a few repeats, timed with ``time.perf_counter``.

    python -m bench.kernel
"""

from __future__ import annotations

import heapq
import os
import shutil
import tempfile
import time

from coordlab.basics.scenarios import build

VIRTUAL_MS = 3_600_000  # one virtual hour
WARM_UP_MS = 5_000
REPEATS = 3
FRAMES = 200
FRAME_STEP_MS = 50


def kernel_run() -> tuple[float, int, int]:
    """Seconds and events for ``VIRTUAL_MS`` of Network basics, and the queue's depth."""
    sim = build(1)
    sim.run_until(WARM_UP_MS)
    depth, events_before = len(sim.queue), sim.processed
    start = time.perf_counter()
    sim.run_until(WARM_UP_MS + VIRTUAL_MS)
    elapsed = time.perf_counter() - start
    return elapsed, sim.processed - events_before, depth


def heapq_run(events: int, depth: int) -> float:
    """Seconds for ``events`` pops from a heap of ``depth`` events, each handler pushing the next."""
    queue: list[tuple[int, int, object]] = [(t, t, None) for t in range(depth)]
    heapq.heapify(queue)
    seq = depth
    pop, push = heapq.heappop, heapq.heappush

    def handle(now: int, payload: object) -> None:  # the trivial handler: schedule the next event
        nonlocal seq
        seq += 1
        push(queue, (now + 37 + seq % 17, seq, payload))

    start = time.perf_counter()
    for _ in range(events):
        now, _, payload = pop(queue)
        handle(now, payload)
    return time.perf_counter() - start


def render_run(lab: object) -> tuple[float, int]:
    """Mean seconds per ``render_frame`` call over ``FRAMES`` calls, and the last frame's size."""
    from coordlab.frames import render_frame

    spent, html = 0.0, ""
    for _ in range(FRAMES):
        lab.advance(FRAME_STEP_MS)  # type: ignore[attr-defined]
        start = time.perf_counter()
        html = render_frame(lab)  # type: ignore[arg-type]
        spent += time.perf_counter() - start
    return spent / FRAMES, len("".join(html).encode())


def setup_django(var_dir: str) -> None:
    # A throwaway var dir and a fixed key, so the bench writes nothing into the project.
    os.environ.setdefault("COORDLAB_VAR_DIR", var_dir)
    os.environ.setdefault("COORDLAB_SECRET_KEY", "bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coordlab.settings")
    import django

    django.setup()


def main() -> None:
    kernel_runs = [kernel_run() for _ in range(REPEATS)]
    kernel_seconds, events, depth = min(kernel_runs)
    bare_seconds = min(heapq_run(events, depth) for _ in range(REPEATS))
    kernel_rate, bare_rate = events / kernel_seconds, events / bare_seconds
    print(f"Kernel: Network basics, {VIRTUAL_MS / 60_000:g} virtual minutes = {events:,} events, "
          f"best of {REPEATS}")
    print(f"  kernel (sim.run_until): {kernel_rate:>12,.0f} events/s  ({kernel_seconds * 1e3:.0f} ms)")
    print(f"  bare heapq loop:        {bare_rate:>12,.0f} events/s  ({bare_seconds * 1e3:.0f} ms, heap of {depth})")
    print(f"  ratio kernel/baseline speed: {kernel_rate / bare_rate:.3f} "
          f"(a kernel event costs {bare_rate / kernel_rate:.1f}x a bare heap step)")

    var_dir = tempfile.mkdtemp(prefix="coordlab-bench-")
    try:
        setup_django(var_dir)
        from coordlab.labs.lab import Lab
        from coordlab.labs.registry import get

        scenario = get("network-basics")
        assert scenario is not None, "the network-basics scenario is missing"
        best, size = float("inf"), 0
        for _ in range(REPEATS):
            lab = Lab("bench", scenario)
            lab.advance(WARM_UP_MS)
            seconds, size = render_run(lab)
            best = min(best, seconds)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    print(f"Rendering: {best * 1e3:.3f} ms per frame (render_frame, {size:,} bytes of HTML), "
          f"best of {REPEATS} runs of {FRAMES} frames {FRAME_STEP_MS} ms of virtual time apart")


if __name__ == "__main__":
    main()
