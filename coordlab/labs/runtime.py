"""The running labs of this process: one engine and one fan-out per event loop.

This is the API the web layer uses (views and the consumer); they never touch
simulation objects themselves. Frames go through the channel layer's group
``lab.<id>``, so the same code serves one process with the in-memory layer
and several processes sharing Redis.

Labs are saved to the database (``LabRecord.state`` and ``.snapshot``) every
``COORDLAB_SAVE_EVERY_S`` seconds (2) of wall time when they changed, and when the runtime
stops (``coordlab.serve`` stops it before daphne exits on SIGTERM or SIGINT).
After a restart a lab is restored from its latest save the first time someone
opens it, at the same virtual time with the same state, paused or playing as it
was. A killed server loses at most the last few seconds.

A process runs at most ``COORDLAB_MAX_LABS`` labs at once. To start or load
one more, it puts away (saves and drops from memory) the labs nobody has
watched for the longest; if every lab it runs is watched, it refuses with
``LabsFull``, whose sentence says so.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections
from django.utils import timezone

from coordlab.frames import render_frame

from . import collector, registry
from .commands import Command
from .engine import Engine, UnknownLab, new_lab_id
from .fanout import Fanout, Viewer, group_name
from .kinds import LabAccess
from .lab import Lab
from .ownership import Leases, LocalLeases, RedisLeases
from .packing import pack_checkpoint, unpack
from .peers import Peers

__all__ = ["LabsFull", "Runtime", "UnknownLab", "get_runtime", "save_all_labs"]

logger = logging.getLogger(__name__)

TIDY_EVERY_S = 2.0  # how often young garbage is collected and the survivors frozen
VIEW_FRESH_S = 2.0  # how long a copy of a lab another process runs serves pages before it is read again
#: frames a lab sends per second while it only moves on (a command shows at the next tick)
MOTION_FRAMES_PER_SECOND = 10


class LabsFull(Exception):
    """This process runs as many labs as it may, and all of them are watched."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The server is full: it runs {limit} labs and every one of them is being watched. "
                         "Try again in a few minutes, or ask your instructor.")


def _refresh_connections() -> None:
    """Drop this thread's database connections that broke or aged (what Django does around
    every request), so one lost connection does not fail every save after it. A connection
    inside a transaction (a test's) is left alone."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def _store(rows: list[tuple[str, dict[str, Any], bytes | None]]) -> list[str]:
    """Write labs' states to their records (in the runtime's saver thread: the JSON text and
    the compression are CPU work, kept off the loop, and a snapshot is packed in a forked
    child process). A row's third item is the frozen checkpoint to store as the lab's snapshot,
    or None to keep the stored one. Returns the ids of the records updated (a lab whose record is
    not there yet, or any more, is not)."""
    from coordlab.models import LabRecord

    written = []
    _refresh_connections()
    try:
        for lab_id, state, snapshot in rows:
            fields: dict[str, Any] = {"state": json.dumps(state, separators=(",", ":")),
                                      "virtual_time_ms": state["time"], "saved_at": timezone.now()}
            if snapshot is not None:
                fields["snapshot"] = pack_checkpoint(snapshot)
            try:
                if LabRecord.objects.filter(id=lab_id).update(**fields):
                    written.append(lab_id)
            except Exception:
                logger.exception("could not save lab %s; it is tried again later", lab_id)
    finally:
        _refresh_connections()
    return written


def _rebuild(lab_id: str, scenario: Any, record: Any) -> tuple[Lab, bytes | None]:
    """A lab rebuilt from its record (CPU work, done in a worker thread): from its latest
    saved state if it has one, otherwise started again from its scenario and seed. Also
    returns the checkpoint the stored snapshot is (None if none was saved)."""
    if record.state:
        try:
            started = time.perf_counter()
            state = json.loads(record.state)
            snapshot = unpack(record.snapshot)
            state["base"]["snapshot"] = snapshot
            lab = Lab.from_state(lab_id, scenario, state)
            logger.info("lab %s restored at %.1f s of virtual time in %.0f ms", lab_id, lab.now / 1000,
                        (time.perf_counter() - started) * 1000)
            return lab, lab.checkpoints[-1].snapshot
        except Exception:
            logger.exception("lab %s could not be restored from its saved state; it starts again", lab_id)
    return Lab(lab_id, scenario, record.seed), None


class Runtime:
    """Engine + fan-out + the tasks that run them, bound to one event loop."""

    def __init__(self) -> None:
        self.layer: Any = get_channel_layer()
        ticks = settings.COORDLAB_FRAMES_PER_SECOND
        self.engine = Engine(render_frame, self._publish, ticks,
                             ticks_per_frame=max(1, round(ticks / MOTION_FRAMES_PER_SECOND)))
        self.fanout = Fanout(self.layer, control=self._control)
        self.tasks: list[asyncio.Task[None]] = []
        self.leases: Leases = LocalLeases("")
        self.peers = Peers(self.layer, self.leases, self.engine, self._take)
        self._views: dict[str, tuple[float, Lab]] = {}
        self._idle_since: dict[str, float] = {}  # lab → when it was last seen without viewers
        #: lab id → the version last saved and the checkpoint that save replays from
        self.saved: dict[str, tuple[int, bytes | None]] = {}
        self._saving = asyncio.Lock()
        # Saves run in a thread of their own, with its own database connection: not on the loop,
        # and not on the thread that asgiref shares between requests, which a request may be
        # holding while it waits for the loop (and so for a save).
        self._saver = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coordlab-saver")
        self._opening: dict[str, asyncio.Future[Lab]] = {}

    async def start(self) -> None:
        self.tasks.append(await self.fanout.start())
        me = self.fanout.channel or ""
        self.leases = RedisLeases(settings.COORDLAB_REDIS_URL, me) if settings.COORDLAB_REDIS_URL else LocalLeases(me)
        self.peers = Peers(self.layer, self.leases, self.engine, self._take)
        self.tasks.append(asyncio.create_task(self.engine.run()))
        self.tasks.append(asyncio.create_task(self.peers.run(), context=contextvars.Context()))
        # A context of its own: the saver outlives the request that happened to start the runtime.
        self.tasks.append(asyncio.create_task(self._save_periodically(), context=contextvars.Context()))
        self.tasks.append(asyncio.create_task(self._tidy_periodically(), context=contextvars.Context()))

    async def stop(self) -> None:
        """Stop the tasks, then save every lab that changed since its last save."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        await self.save_changed()
        for lab_id in list(self.engine.labs):
            endpoints = registry.kind_of(self.engine.labs[lab_id].scenario).endpoints
            if endpoints is not None:
                await endpoints.close(lab_id)
            await self.leases.release(lab_id)  # saved: another process may take them at once
        if isinstance(self.leases, RedisLeases):
            await self.leases.close()
        await asyncio.get_running_loop().run_in_executor(self._saver, connections.close_all)
        self._saver.shutdown(wait=False)
        self.engine.freezer.shutdown(wait=False)
        await self.fanout.stop()

    # -- saving ------------------------------------------------------------------

    async def _save_periodically(self) -> None:
        every = settings.COORDLAB_SAVE_EVERY_S
        while True:
            await asyncio.sleep(every)
            try:
                await self.save_changed()
                await self.evict_idle(settings.COORDLAB_IDLE_EVICT_S)
            except Exception:
                logger.exception("saving labs failed; trying again in %g s", every)

    async def _tidy_periodically(self) -> None:
        """Keep the garbage collector's full collections rare (see ``coordlab.labs.collector``)."""
        while True:
            await asyncio.sleep(TIDY_EVERY_S)
            collector.tidy()

    async def evict_idle(self, idle_s: float) -> list[str]:
        """Put away labs nobody has watched for ``idle_s`` seconds: saved first, then dropped
        from memory (and their leases given up); the next viewer restores them."""
        now = time.monotonic()
        evicted = []
        for lab_id in list(self.engine.labs):
            if lab_id in self.engine.viewers:
                self._idle_since.pop(lab_id, None)
                continue
            if now - self._idle_since.setdefault(lab_id, now) < idle_s:
                continue
            if await self.put_away(lab_id):
                evicted.append(lab_id)
                logger.info("lab %s was idle for %g s: saved and put away", lab_id, idle_s)
        return evicted

    async def put_away(self, lab_id: str) -> bool:
        """Save a lab nobody watches and drop it from memory (the next viewer restores it);
        False if someone watches it, or arrived while it was being saved."""
        if self._watched(lab_id):
            return False
        await self.save(lab_id)
        if self._watched(lab_id) or lab_id not in self.engine.labs:
            return False
        await self._stop(lab_id)
        self._idle_since.pop(lab_id, None)
        self.saved.pop(lab_id, None)
        await self.leases.release(lab_id)
        return True

    def _watched(self, lab_id: str) -> bool:
        return lab_id in self.engine.viewers or lab_id in self.engine.waiting

    async def make_room(self) -> None:
        """Before one more lab runs here: if ``COORDLAB_MAX_LABS`` already do, put away the ones
        unwatched for the longest until there is room; ``LabsFull`` if every one is watched."""
        limit = settings.COORDLAB_MAX_LABS
        while len(self.engine.labs) >= limit:
            now = time.monotonic()
            idle = sorted((self._idle_since.get(lab_id, now), lab_id) for lab_id in self.engine.labs
                          if not self._watched(lab_id))
            if not idle:
                raise LabsFull(limit)
            for _, lab_id in idle:
                if await self.put_away(lab_id):
                    logger.info("lab %s was put away to make room for another", lab_id)
                    break
            else:
                raise LabsFull(limit)

    async def save_changed(self) -> int:
        """Save every lab that changed since it was last saved; returns how many were saved.

        Taking a lab's state is cheap and happens here on the loop (the state reuses the lab's
        latest checkpoint); turning it into text, compressing and writing happen in a worker
        thread. The snapshot is written only when the lab has a new checkpoint.
        """
        async with self._saving:
            for gone in [lab_id for lab_id in self.saved if lab_id not in self.engine.labs]:
                del self.saved[gone]
            rows: list[tuple[str, dict[str, Any], bytes | None]] = []
            versions: dict[str, tuple[int, bytes]] = {}
            for lab_id, lab in list(self.engine.labs.items()):
                version, stored = self.saved.get(lab_id, (None, None))
                if version == lab.version:
                    continue
                try:
                    state = lab.state(frozen=True)
                except Exception:
                    logger.exception("could not take the state of lab %s", lab_id)
                    continue
                snapshot: bytes = state["base"].pop("snapshot")
                rows.append((lab_id, state, None if snapshot is stored else snapshot))
                versions[lab_id] = (lab.version, snapshot)
            if not rows:
                return 0
            written = await self._store(rows)
            for lab_id in written:
                self.saved[lab_id] = versions[lab_id]
            return len(written)

    async def _store(self, rows: list[tuple[str, dict[str, Any], bytes | None]]) -> list[str]:
        return await asyncio.get_running_loop().run_in_executor(self._saver, _store, rows)

    async def save(self, lab_id: str) -> None:
        """Save one lab now if it changed (before evicting it, say)."""
        async with self._saving:
            lab = self.engine.labs.get(lab_id)
            if lab is None or self.saved.get(lab_id, (None, None))[0] == lab.version:
                return
            state = lab.state(frozen=True)
            snapshot: bytes = state["base"].pop("snapshot")
            stored = self.saved.get(lab_id, (None, None))[1]
            if await self._store([(lab_id, state, None if snapshot is stored else snapshot)]):
                self.saved[lab_id] = (lab.version, snapshot)

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
        await self.make_room()
        # Building a Kafka cluster takes a while: in a worker thread, so the loop goes on serving.
        lab = await asyncio.get_running_loop().run_in_executor(None, Lab, new_lab_id(), scenario, seed)
        await self.make_room()  # others may have started labs meanwhile
        await self._run(lab)
        await self.leases.claim(lab.id)
        await LabRecord.objects.acreate(id=lab.id, scenario_slug=slug, seed=lab.seed)
        return lab

    async def open_lab(self, lab_id: str) -> Lab:
        """The lab with that id: the running one if it runs here; if it is not running (the
        server restarted) it is restored from its latest saved state, or started again from its
        record. If another process runs it, a copy of its latest save, to render a page from
        (frames from its owner bring it up to date)."""
        lab = self.engine.labs.get(lab_id)
        if lab is not None:
            return lab
        owner = await self.leases.owner(lab_id)
        if owner is None or owner == self.leases.me:
            taken = await self._take(lab_id)
            if taken is not None:
                return taken
        return await self._view(lab_id)

    async def _take(self, lab_id: str) -> Lab | None:
        """Claim a lab and run it here (from its latest save); None if another process has it."""
        if lab_id in self.engine.labs:
            return self.engine.labs[lab_id]
        if lab_id not in self._opening:
            await self.make_room()
        if not await self.leases.claim(lab_id):
            return None
        loading = self._opening.get(lab_id)
        if loading is None:  # the first to ask loads it; the others wait for the same lab
            loading = self._opening[lab_id] = asyncio.ensure_future(self._load(lab_id))
            loading.add_done_callback(lambda _: self._opening.pop(lab_id, None))
        return await asyncio.shield(loading)

    async def _view(self, lab_id: str) -> Lab:
        """A lab another process runs, as last saved (not run here); kept a few seconds."""
        from coordlab.models import LabRecord

        cached = self._views.get(lab_id)
        if cached is not None and time.monotonic() - cached[0] < VIEW_FRESH_S:
            return cached[1]
        record = await LabRecord.objects.filter(id=lab_id).afirst()
        scenario = registry.get(record.scenario_slug) if record else None
        if scenario is None:
            raise UnknownLab(lab_id)
        lab, _ = await asyncio.get_running_loop().run_in_executor(None, _rebuild, lab_id, scenario, record)
        self._views[lab_id] = (time.monotonic(), lab)
        return lab

    async def _load(self, lab_id: str) -> Lab:
        from coordlab.models import LabRecord

        record = await LabRecord.objects.filter(id=lab_id).afirst()
        scenario = registry.get(record.scenario_slug) if record else None
        if scenario is None:
            raise UnknownLab(lab_id)
        # Restoring an hour of Kafka takes seconds: in a worker thread, so the loop goes on serving.
        lab, snapshot = await asyncio.get_running_loop().run_in_executor(None, _rebuild, lab_id, scenario, record)
        running = self.engine.labs.get(lab_id)
        if running is not None:
            return running
        await self.make_room()
        await self._run(lab)
        self.saved[lab_id] = (lab.version, snapshot)
        self._views.pop(lab_id, None)
        self.peers.adopt(lab_id)
        return lab

    async def fork_lab(self, lab_id: str) -> Lab:
        """A new lab, remembered in the database, that starts as ``lab_id`` is now."""
        from coordlab.models import LabRecord

        source = await self.open_lab(lab_id)
        await self.make_room()
        if lab_id in self.engine.labs:  # it runs here: copied while held, off the loop
            copy = await self._run(await self.engine.fork(lab_id, new_lab_id()))
        else:  # a copy of another process's latest save: nothing runs it here
            copy = await self._run(source.fork(new_lab_id()))
        await self.leases.claim(copy.id)
        await LabRecord.objects.acreate(id=copy.id, scenario_slug=copy.scenario.slug, seed=copy.seed)
        return copy

    async def close_lab(self, lab_id: str) -> None:
        """Stop a lab and forget it, in memory and in the database."""
        from coordlab.models import LabRecord

        await self._stop(lab_id)
        self.saved.pop(lab_id, None)  # its latest snapshot, which can be megabytes
        await self.leases.release(lab_id)
        await LabRecord.objects.filter(id=lab_id).adelete()

    async def _run(self, lab: Lab) -> Lab:
        """Run a lab here, and open what its kind opens to the outside (a Kafka lab's ports)."""
        self.engine.add_lab(lab)
        endpoints = registry.kind_of(lab.scenario).endpoints
        if endpoints is not None:
            await endpoints.open(lab.id, LabAccess(partial(self.engine.labs.get, lab.id), partial(self.execute, lab.id),
                                                   partial(self.watch, lab.id), partial(self.unwatch, lab.id)))
        return lab

    async def _stop(self, lab_id: str) -> None:
        lab = self.engine.labs.get(lab_id)
        endpoints = registry.kind_of(lab.scenario).endpoints if lab is not None else None
        if endpoints is not None:
            await endpoints.close(lab_id)
        self.engine.close_lab(lab_id)

    def status(self, lab_id: str) -> dict[str, Any] | None:
        """A running lab's viewers, virtual time, speed and state; None if it is not in memory here."""
        lab = self.engine.labs.get(lab_id)
        if lab is None:
            return None
        return {"viewers": self.engine.viewers.get(lab_id, 0), "now_s": lab.now / 1000, "speed": lab.speed,
                "playing": lab.playing}

    async def execute(self, lab_id: str, command: Command, by: str = "") -> str:
        """Apply a command to a lab wherever it runs (here, or by its owner process), loading
        it first if it runs nowhere; returns a sentence or raises ``CommandError``. ``by``: the
        sender's name, which the timeline then gives with what they did."""
        return await self.peers.execute(lab_id, command, by)

    async def _control(self, event: dict[str, Any]) -> None:
        await self.peers.handle(event)

    async def outbox(self, lab_id: str, node: str, after: int) -> tuple[list[dict[str, Any]], int]:
        """Items a machine of the lab keeps for an outside client (see ``Lab.outbox``), from
        whichever process runs the lab."""
        return await self.peers.outbox(lab_id, node, after)

    def watch(self, lab_id: str) -> None:
        """Count an outside client (a terminal) as watching the lab: the lab's clock runs
        while it is connected, though it gets no frames. Pair with ``unwatch``."""
        self.peers.arrive(lab_id)

    def unwatch(self, lab_id: str) -> None:
        self.peers.depart(lab_id)

    async def join(self, lab_id: str, viewer: Viewer) -> None:
        self.peers.arrive(lab_id)
        await self.fanout.join(lab_id, viewer)

    async def leave(self, lab_id: str, viewer: Viewer) -> None:
        self.peers.depart(lab_id)
        await self.fanout.leave(lab_id, viewer)


_runtimes: dict[asyncio.AbstractEventLoop, Runtime] = {}


async def stop_runtime() -> None:
    """Stop the running loop's runtime, if any (tests and shutdown)."""
    runtime = _runtimes.pop(asyncio.get_running_loop(), None)
    if runtime is not None:
        await runtime.stop()


async def save_all_labs() -> None:
    """Save every lab of the running loop's runtime that changed (the server's shutdown)."""
    runtime = _runtimes.get(asyncio.get_running_loop())
    if runtime is not None:
        count = await runtime.save_changed()
        logger.info("saved %d lab(s) before stopping", count)


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
