"""The running labs of this process: one engine and one fan-out per event loop.

This is the API the web layer uses (views and the consumer); they never touch
simulation objects themselves. Frames go through the channel layer's group
``lab.<id>``, so the same code serves one process with the in-memory layer
and several processes sharing Redis.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from coordlab.frames import render_frame

from . import registry
from .commands import Command
from .engine import Engine, UnknownLab
from .fanout import Fanout, Viewer, group_name
from .lab import Lab

__all__ = ["Runtime", "UnknownLab", "get_runtime"]


class Runtime:
    """Engine + fan-out + the tasks that run them, bound to one event loop."""

    def __init__(self) -> None:
        self.layer: Any = get_channel_layer()
        self.engine = Engine(render_frame, self._publish, settings.COORDLAB_FRAMES_PER_SECOND)
        self.fanout = Fanout(self.layer)
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.tasks.append(await self.fanout.start())
        self.tasks.append(asyncio.create_task(self.engine.run()))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        await self.fanout.stop()

    async def _publish(self, lab_id: str, seq: int, fragments: list[str]) -> None:
        await self.layer.group_send(group_name(lab_id), {
            "type": "lab.frame", "lab": lab_id, "seq": seq, "sent": time.time(), "fragments": fragments,
        })

    # -- labs --------------------------------------------------------------------

    async def start_lab(self, slug: str, seed: int | None = None) -> Lab:
        """Start a new lab of a built-in scenario and remember it in the database."""
        from coordlab.models import LabRecord

        scenario = registry.get(slug)
        if scenario is None:
            raise UnknownLab(slug)
        lab = self.engine.start_lab(scenario, seed)
        await LabRecord.objects.acreate(id=lab.id, scenario_slug=slug, seed=lab.seed)
        return lab

    async def open_lab(self, lab_id: str) -> Lab:
        """The running lab with that id, started again from its record if needed."""
        from coordlab.models import LabRecord

        if lab_id in self.engine.labs:
            return self.engine.labs[lab_id]
        record = await LabRecord.objects.filter(id=lab_id).afirst()
        scenario = registry.get(record.scenario_slug) if record else None
        if scenario is None:
            raise UnknownLab(lab_id)
        return self.engine.labs.get(lab_id) or self.engine.start_lab(scenario, record.seed, lab_id)

    async def fork_lab(self, lab_id: str) -> Lab:
        """A new lab, remembered in the database, that starts as ``lab_id`` is now."""
        from coordlab.models import LabRecord

        source = await self.open_lab(lab_id)
        copy = self.engine.fork_lab(source.id)
        await LabRecord.objects.acreate(id=copy.id, scenario_slug=copy.scenario.slug, seed=copy.seed)
        return copy

    async def close_lab(self, lab_id: str) -> None:
        """Stop a lab and forget it, in memory and in the database."""
        from coordlab.models import LabRecord

        self.engine.close_lab(lab_id)
        await LabRecord.objects.filter(id=lab_id).adelete()

    def status(self, lab_id: str) -> dict[str, Any] | None:
        """A running lab's viewers, virtual time, speed and state; None if it is not in memory here."""
        lab = self.engine.labs.get(lab_id)
        if lab is None:
            return None
        return {"viewers": self.engine.viewers.get(lab_id, 0), "now_s": lab.now / 1000, "speed": lab.speed,
                "playing": lab.playing}

    async def command(self, lab_id: str, command: Command) -> str:
        """Apply a command to a lab, loading it first if it is not running (the admin's actions)."""
        await self.open_lab(lab_id)
        return self.submit(lab_id, command)

    def submit(self, lab_id: str, command: Command) -> str:
        return self.engine.submit(lab_id, command)

    def outbox(self, lab_id: str, node: str, after: int) -> tuple[list[dict[str, Any]], int]:
        """Items a machine of the lab keeps for an outside client (see ``Lab.outbox``)."""
        return self.engine.outbox(lab_id, node, after)

    def watch(self, lab_id: str) -> None:
        """Count an outside client (a terminal) as watching the lab: the lab's clock runs
        while it is connected, though it gets no frames. Pair with ``unwatch``."""
        self.engine.viewer_joined(lab_id)

    def unwatch(self, lab_id: str) -> None:
        self.engine.viewer_left(lab_id)

    async def join(self, lab_id: str, viewer: Viewer) -> None:
        self.engine.viewer_joined(lab_id)
        await self.fanout.join(lab_id, viewer)

    async def leave(self, lab_id: str, viewer: Viewer) -> None:
        self.engine.viewer_left(lab_id)
        await self.fanout.leave(lab_id, viewer)


_runtimes: dict[asyncio.AbstractEventLoop, Runtime] = {}


async def stop_runtime() -> None:
    """Stop the running loop's runtime, if any (tests and shutdown)."""
    runtime = _runtimes.pop(asyncio.get_running_loop(), None)
    if runtime is not None:
        await runtime.stop()


async def get_runtime() -> Runtime:
    """The runtime of the running event loop, started on first use."""
    loop = asyncio.get_running_loop()
    runtime = _runtimes.get(loop)
    if runtime is None:
        for old_loop in [old for old in _runtimes if old.is_closed()]:
            del _runtimes[old_loop]
        runtime = _runtimes[loop] = Runtime()
        await runtime.start()
    return runtime
