"""A lab socket that a bench client reads in the background: every message goes to the
reader's ``take``, and ``until`` waits for what ``take`` noted, for the socket to close, or
for a deadline, whichever comes first."""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed


class SocketReader(ABC):
    """Subclasses say what a message means in ``take``; ``start`` begins reading."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.changed = asyncio.Event()
        self.close_code: int | None = None  # once the server closed the socket (1006: without a code)
        self.task: asyncio.Task[None] | None = None

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self._read())
        return self.task

    @abstractmethod
    def take(self, data: bytes, received: float) -> bool:
        """Note one message (``received``: its wall-clock arrival); True if a waiter should look."""

    async def _read(self) -> None:
        recv = self.socket.recv
        try:
            while True:
                data = await recv(decode=False)
                if self.take(data, time.time()):
                    self.changed.set()
        except ConnectionClosed:
            self.close_code = self.socket.close_code or 1006
            self.changed.set()

    async def until(self, ready: Callable[[], bool], deadline: float) -> bool:
        """Wait until ``ready()`` or the socket closed, at most until ``deadline`` (monotonic)."""
        while not ready() and not self.closed:
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)
        return bool(ready())
