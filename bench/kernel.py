"""Kernel events per second against a bare heapq loop, and ms per rendered frame."""

from __future__ import annotations

import heapq
import os
import time

from coordlab.basics.scenarios import build

VIRTUAL_MS = 600_000


def best_of(repeats: int, run) -> float:
    return min(run() for _ in range(repeats))


def kernel_seconds_per_event() -> tuple[float, int]:
    sim = build(seed=1)
    sim.run_until(1_000)
    start_events, start = sim.processed, time.perf_counter()
    sim.run_until(1_000 + VIRTUAL_MS)
    events = sim.processed - start_events
    return (time.perf_counter() - start) / events, events


def heapq_seconds_per_event(events: int) -> float:
    """The same number of events through a bare heap: pop one, push the next."""
    queue = [(t, t, None) for t in range(64)]
    heapq.heapify(queue)
    seq = 64
    start = time.perf_counter()
    for _ in range(events):
        time_ms, _, _ = heapq.heappop(queue)
        heapq.heappush(queue, (time_ms + 37, seq, None))
        seq += 1
    return (time.perf_counter() - start) / events


def render_ms_per_frame() -> tuple[float, int]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coordlab.settings")
    import django

    django.setup()
    from coordlab.frames import render_frame
    from coordlab.labs.lab import Lab
    from coordlab.labs.registry import get

    lab = Lab("bench", get("network-basics"))
    lab.advance(5_000)
    frames = 200
    start = time.perf_counter()
    for _ in range(frames):
        lab.advance(50)
        html = render_frame(lab)
    return (time.perf_counter() - start) * 1000 / frames, len(html.encode())


def main() -> None:
    kernel, events = min(kernel_seconds_per_event() for _ in range(3))
    bare = best_of(3, lambda: heapq_seconds_per_event(events))
    print("Kernel (Network basics, 10 virtual minutes, best of 3)")
    print(f"  kernel:     {1 / kernel:12,.0f} events/s")
    print(f"  bare heapq: {1 / bare:12,.0f} events/s   (kernel is {kernel / bare:.1f}x slower per event)")
    render_ms, size = min(render_ms_per_frame() for _ in range(3))
    print(f"Rendering: {render_ms:.2f} ms per frame ({size:,} bytes), best of 3 runs of 200 frames")


if __name__ == "__main__":
    main()
