"""Frames to viewers: once per process, never per viewer through the layer.

The engine publishes a frame to the channel-layer group ``lab.<id>``. Each
server process has one relay channel in the groups of the labs its viewers
watch, so one message per process crosses the layer. The relay encodes the
frame once and hands the same message to every local viewer.

A viewer never slows the others, and the server never queues frames for a
viewer that cannot take them: while a viewer's previous frame is still being
sent (a send that awaits the network, or bytes still in daphne's write
buffer), only one frame is kept, and it goes out once the socket has
drained. A frame carries only the fragments that changed, so a frame that
replaces a waiting one takes over the waiting one's other fragments: a viewer
that skipped frames is up to date with the one it gets. A waiting frame is
never sent after a newer one, even when the socket drains before the retry.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from . import listfragments
from .transport import DaphneSocket, encode_deflated_frame, encode_text_frame

logger = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]

FRAME_HEAD = '<div id="lab-frame" hx-swap-oob="true" hidden data-seq="{seq}" data-sent="{sent:.3f}"></div>'
RETRY_SECONDS = 0.05
FRAGMENT_ID = re.compile(r'\bid="([^"]+)"')


def group_name(lab_id: str) -> str:
    return f"lab.{lab_id}"


class Frame:
    """One frame as every viewer gets it: a tiny header with the frame's
    sequence number and send time (ms since the epoch), then the fragments;
    as an ASGI message and, encoded once, as WebSocket frame bytes."""

    __slots__ = ("_data", "_deflated", "head", "message", "parts")

    def __init__(self, text: str, head: str = "", parts: tuple[str, ...] = ()) -> None:
        self.message = {"type": "websocket.send", "text": text}
        self._data: bytes | None = None
        self._deflated: bytes | None = None
        self.head, self.parts = head, parts

    @classmethod
    def build(cls, seq: int, sent: float, fragments: list[str]) -> Frame:
        head = FRAME_HEAD.format(seq=seq, sent=sent * 1000.0)
        return cls(head + "".join(fragments), head, tuple(fragments))

    def after(self, skipped: Frame) -> Frame:
        """This frame for a viewer that never got ``skipped``: with the skipped frame's
        fragments that this one does not replace, in front."""
        if not self.parts or not skipped.parts:
            return self
        mine = {fragment_id(part): index for index, part in enumerate(self.parts)}
        kept, own = [], list(self.parts)
        for part in skipped.parts:
            index = mine.get(fragment_id(part))
            if index is None:
                kept.append(part)
                continue
            merged = listfragments.merge(part, own[index])  # a list keeps the items it skipped
            if merged is not None:
                own[index] = merged
        if not kept and own == list(self.parts):
            return self
        parts = (*kept, *own)
        return Frame(self.head + "".join(parts), self.head, parts)

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = encode_text_frame(self.message["text"])
        return self._data

    @property
    def deflated(self) -> bytes:
        """The frame compressed once for every viewer whose connection negotiated permessage-deflate."""
        if self._deflated is None:
            self._deflated = encode_deflated_frame(self.message["text"])
        return self._deflated


class Viewer:
    """One socket's outbox: at most one send in progress and one frame waiting.

    With a ``DaphneSocket`` frames are written straight to the socket;
    otherwise through the ASGI ``send`` callable.
    """

    __slots__ = ("busy", "closed", "retry", "send", "socket", "waiting")

    def __init__(self, send: Send, socket: DaphneSocket | None = None) -> None:
        self.send = send
        self.socket = socket
        self.waiting: Frame | None = None
        self.busy = False
        self.closed = False
        self.retry: asyncio.TimerHandle | None = None

    def push(self, frame: Frame) -> None:
        if self.closed:
            return
        if self.waiting is not None:
            # The waiting frame is older: it goes out inside this one or never
            # (sent after this one, it would undo this one's changes).
            frame, self.waiting = frame.after(self.waiting), None
        if self.busy or (self.socket is not None and self.socket.backlog() > 0):
            self.waiting = frame
            if not self.busy and self.retry is None:
                self.retry = asyncio.get_running_loop().call_later(RETRY_SECONDS, self._flush)
            return
        if self.retry is not None:
            self.retry.cancel()
            self.retry = None
        if self.socket is not None:
            self.closed = not self.socket.write(frame.deflated if self.socket.deflated else frame.data)
        else:
            self._start(frame.message)

    def _flush(self) -> None:
        self.retry = None
        frame, self.waiting = self.waiting, None
        if frame is not None:
            self.push(frame)

    def _start(self, message: dict[str, Any]) -> None:
        # Run the send coroutine by hand: most servers complete it without
        # suspending, and then it costs no task at all. Only a send that
        # really waits gets driven further by its futures' callbacks.
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
        frame, self.waiting = self.waiting, None
        if frame is not None and not self.closed:
            self.push(frame)


def fragment_id(fragment: str) -> str:
    """The id of a fragment's top element (fragments are swapped out of band by id)."""
    found = FRAGMENT_ID.search(fragment)
    return found.group(1) if found else fragment


class Fanout:
    """This process's viewers, by lab, and the relay that feeds them."""

    def __init__(self, layer: Any, control: Callable[[dict[str, Any]], Awaitable[None]] | None = None) -> None:
        self.layer = layer
        self.control = control  # where messages other than frames go (commands between processes)
        self.channel: str | None = None
        self.viewers: dict[str, dict[Viewer, None]] = {}
        self.latest: dict[str, Frame] = {}

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
        frame = Frame.build(event["seq"], event["sent"], event["fragments"])
        self.latest[lab_id] = frame
        for viewer in tuple(self.viewers.get(lab_id, ())):
            viewer.push(frame)

    async def _relay(self) -> None:
        while True:
            try:
                event = await self.layer.receive(self.channel)
            except Exception:  # a lost connection to Redis: the relay must outlive it
                logger.warning("the relay could not receive; trying again", exc_info=True)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            try:
                if event.get("type") == "lab.frame":
                    self.deliver(event)
                elif self.control is not None:
                    await self.control(event)
            except Exception:
                logger.exception("could not relay %r", event.get("type"))
