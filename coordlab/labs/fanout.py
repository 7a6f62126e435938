"""Frames to viewers: once per process, never per viewer through the layer.

The engine publishes a frame to the channel-layer group ``lab.<id>``. Each
server process has one relay channel in the groups of the labs its viewers
watch, so one message per process crosses the layer. The relay encodes the
frame once and hands the same message to every local viewer.

A viewer never slows the others, and the server never queues frames for a
viewer that cannot take them: while a viewer's previous frame is still being
sent (a send that awaits the network, or bytes still in daphne's write
buffer), only its latest frame is kept, and it goes out once the socket has
drained. Frames are whole fragments, so a viewer that skipped frames is up to
date with the next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]

FRAME_HEAD = '<div id="lab-frame" hx-swap-oob="true" hidden data-seq="{seq}" data-sent="{sent:.3f}"></div>'


def group_name(lab_id: str) -> str:
    return f"lab.{lab_id}"


def frame_text(seq: int, sent: float, html: str) -> str:
    """The bytes every viewer gets: a tiny header with the frame's sequence
    number and send time (milliseconds since the epoch), then the fragments."""
    return FRAME_HEAD.format(seq=seq, sent=sent * 1000.0) + html


RETRY_SECONDS = 0.05


class Viewer:
    """One socket's outbox: at most one send in progress and one frame waiting."""

    __slots__ = ("backlog", "busy", "closed", "retry", "send", "waiting")

    def __init__(self, send: Send, backlog: Callable[[], int] | None = None) -> None:
        self.send = send
        self.backlog = backlog
        self.waiting: dict[str, Any] | None = None
        self.busy = False
        self.closed = False
        self.retry: asyncio.TimerHandle | None = None

    def push(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        if self.busy or (self.backlog is not None and self.backlog() > 0):
            self.waiting = message
            if not self.busy and self.retry is None:
                self.retry = asyncio.get_running_loop().call_later(RETRY_SECONDS, self._flush)
            return
        self._start(message)

    def _flush(self) -> None:
        self.retry = None
        message, self.waiting = self.waiting, None
        if message is not None:
            self.push(message)

    def _start(self, message: dict[str, Any]) -> None:
        # Run the send coroutine by hand: most servers (daphne) complete it
        # without suspending, and then it costs no task at all. Only a send
        # that really waits gets driven further by its futures' callbacks.
        self.busy = True
        self._resume(self.send(message), None)

    def _resume(self, coro: Any, _future: Any) -> None:
        try:
            yielded = coro.send(None)
        except StopIteration:
            self._done()
            return
        except Exception:
            logger.debug("a viewer's send failed; dropping the viewer", exc_info=True)
            self.closed = True
            return
        if yielded is None:
            asyncio.get_running_loop().call_soon(self._resume, coro, None)
        else:
            yielded._asyncio_future_blocking = False
            yielded.add_done_callback(lambda future: self._resume(coro, future))

    def _done(self) -> None:
        self.busy = False
        message, self.waiting = self.waiting, None
        if message is not None and not self.closed:
            self._start(message)


class Fanout:
    """This process's viewers, by lab, and the relay that feeds them."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.viewers: dict[str, dict[Viewer, None]] = {}
        self.latest: dict[str, dict[str, Any]] = {}

    async def start(self) -> asyncio.Task[None]:
        self.channel = await self.layer.new_channel("relay.")
        return asyncio.create_task(self._relay())

    async def join(self, lab_id: str, viewer: Viewer) -> None:
        if lab_id not in self.viewers:
            self.viewers[lab_id] = {}
            await self.layer.group_add(group_name(lab_id), self.channel)
        self.viewers[lab_id][viewer] = None
        latest = self.latest.get(lab_id)
        if latest is not None:
            viewer.push(latest)

    async def leave(self, lab_id: str, viewer: Viewer) -> None:
        viewer.closed = True
        if viewer.retry is not None:
            viewer.retry.cancel()
        local = self.viewers.get(lab_id)
        if local is None:
            return
        local.pop(viewer, None)
        if not local:
            del self.viewers[lab_id]
            self.latest.pop(lab_id, None)
            await self.layer.group_discard(group_name(lab_id), self.channel)

    async def stop(self) -> None:
        """Leave every group (the relay task is cancelled by its owner)."""
        for lab_id in list(self.viewers):
            await self.layer.group_discard(group_name(lab_id), self.channel)
        self.viewers.clear()
        self.latest.clear()

    def deliver(self, event: dict[str, Any]) -> None:
        lab_id = event["lab"]
        message = {"type": "websocket.send", "text": frame_text(event["seq"], event["sent"], event["html"])}
        self.latest[lab_id] = message
        for viewer in tuple(self.viewers.get(lab_id, ())):
            viewer.push(message)

    async def _relay(self) -> None:
        while True:
            event = await self.layer.receive(self.channel)
            try:
                self.deliver(event)
            except Exception:
                logger.exception("could not relay %r", event.get("type"))
