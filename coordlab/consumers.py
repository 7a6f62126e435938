"""The WebSocket consumers' shared edge, and the browser's consumer.

Every socket, a browser's or a terminal's, goes through ``LabSocket``:

- One boundary: whatever goes wrong while handling a message is caught in
  ``dispatch``; the sender gets a clear error and the socket stays up.
- Whatever ends a socket (a goodbye, a crash, the server cancelling its
  handler), ``release`` runs, from ``__call__``'s ``finally``: a viewer
  registration cannot outlive its socket.
- One budget per visitor: all the sockets of a browser session, and all the
  sockets from one network address, draw their commands from shared token
  buckets. A refused message costs no lab work and little else, and at most
  a few refusals a second are answered. A refusal says when to try again; a
  socket that keeps sending before then, or that has more than
  ``MAX_BACKLOG`` messages waiting, is flooding and is closed with 4429, and
  its visitor may not open another socket for a while
  (``coordlab.floodgate``). A client that waits as told is never closed.
  What a socket sends beyond ``MAX_BACKLOG`` waiting messages is dropped as it
  arrives, so a flood holds no more than that in memory whatever its rate.

Every command is checked against who may change the lab (``coordlab.access``)
at the moment it arrives, since an instructor can hand control over at any time.

Frames do not come through this consumer's own channel: the process's fan-out
hands them straight to its ``Viewer`` (see ``coordlab.labs.fanout``), so the
consumer asks for no channel-layer channel at all.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.template.loader import render_to_string
from django.utils.html import format_html

from coordlab import floodgate, roster
from coordlab.access import Access, Person, access_to, person
from coordlab.labs import registry
from coordlab.labs.commands import CommandError, parse
from coordlab.labs.fanout import Viewer
from coordlab.labs.kinds import LabKind
from coordlab.labs.runtime import LabsFull, UnknownLab, get_runtime
from coordlab.labs.transport import daphne_protocol, daphne_socket
from coordlab.ratelimit import Budgets, TokenBucket, client_address, spend, wait

logger = logging.getLogger(__name__)

COMMANDS_PER_SECOND = 10
COMMAND_BURST = 20
#: a network address may carry several people (a shared computer, a small NAT)
ADDRESS_COMMANDS_PER_SECOND = 30
ADDRESS_COMMAND_BURST = 60
#: refusals a socket may earn by not waiting as told before it counts as flooding, and how fast
#: that allowance refills
REFUSALS_PER_SECOND = 2
REFUSAL_BURST = 30
#: a retry this early is still taken as waiting as told (clocks and schedulers are not exact)
RETRY_TOLERANCE_S = 0.05
#: a browser is told it goes too fast at most this often per socket (seconds); the page shows
#: one notice at a time anyway
REFUSAL_NOTICE_EVERY_S = 0.5
#: messages that may wait for a socket's handler before the socket counts as flooding
MAX_BACKLOG = 64
#: how often a student's socket checks that its classroom is still open to them, and whether
#: they may change its lab (seconds): two small queries, so 30 students cost 30 queries a second
RECHECK_EVERY_S = 2.0

# Close codes: a server under daphne (autobahn) may send 1000 or 3000-4999 only, so ours are
# the HTTP status that means the same, plus 4000.
CLOSE_NOT_ALLOWED = 4403
CLOSE_UNKNOWN_LAB = 4404
CLOSE_FLOODING = floodgate.CLOSE_FLOODING
CLOSE_BUG = 4500
CLOSE_FULL = 4503

TOO_FAST = "Too many commands at once: wait a moment and try again."
FLOODING = (f"Too many messages: this connection sent far more than the limit and was closed. Reload the page "
            f"in {floodgate.BAN_S:g} s.")

#: one budget per browser session (its stable owner token; a socket without one has its own) and
#: one per network address, for every socket in this process
SESSIONS = Budgets(COMMANDS_PER_SECOND, COMMAND_BURST)
#: a socket without a session gets a budget key of its own (never reused, unlike ``id()``)
SOCKET_NUMBERS = itertools.count(1)
ADDRESSES = Budgets(ADDRESS_COMMANDS_PER_SECOND, ADDRESS_COMMAND_BURST)


class LabSocket(AsyncWebsocketConsumer):
    """A WebSocket on one lab (a browser's or a terminal's): accepted only if the lab exists
    and the visitor may see it, with the visitor's shared budget for what it sends."""

    lab_id = ""
    kind: LabKind  # the lab's kind, known once the socket is open
    person: Person | None = None
    released = False
    #: refusals for going too fast are answered at most this often (seconds)
    notice_every_s = 0.0
    #: each kind of socket gives back what it holds in the lab (called once, however the socket
    #: ends) and tells its sender alone that a message was refused, and why, in its own way
    release: Callable[[], Awaitable[None]]
    refuse: Callable[..., Awaitable[None]]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # daphne (and the test communicator) hand each socket an asyncio.Queue's get: its size is
        # how many messages wait for this handler.
        queue = getattr(receive, "__self__", None)
        self.incoming = queue if isinstance(queue, asyncio.Queue) else None
        self.overflowed = False
        if self.incoming is not None:
            self._drop_beyond_backlog(self.incoming, getattr(daphne_protocol(send), "transport", None))
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self.released:
                self.released = True
                await asyncio.shield(self.release())

    def _drop_beyond_backlog(self, queue: asyncio.Queue[dict[str, Any]], transport: Any | None) -> None:
        """Make the server's queue of this socket's incoming messages drop what the socket sends
        while ``MAX_BACKLOG`` already wait, and stop reading from its connection then (its
        handler closes it as flooding next; the flood stays in the sender's buffers, not ours).
        Everything else (the connect, the disconnect) is queued as usual."""
        put = queue.put_nowait

        def put_unless_flooding(message: dict[str, Any]) -> None:
            if message.get("type") == "websocket.receive" and queue.qsize() >= MAX_BACKLOG:
                if not self.overflowed and transport is not None:
                    transport.pauseProducing()
                self.overflowed = True
                return
            put(message)

        queue.put_nowait = put_unless_flooding  # type: ignore[method-assign]

    async def dispatch(self, message: dict[str, Any]) -> None:
        try:
            await super().dispatch(message)
        except (StopConsumer, asyncio.CancelledError):
            raise
        except Exception:
            logger.exception("a socket of lab %s failed on a %s message", self.lab_id, message.get("type"))
            if message.get("type") == "websocket.receive":
                await self.refuse("The server failed on that message (a bug; it was logged). Nothing changed.")
            else:
                await self.close(code=CLOSE_BUG)

    async def open(self) -> Access | None:
        """Accept the socket if its lab exists (else close it with 4404) and its visitor may watch
        it (else 4403); the visitor's access if accepted."""
        self.lab_id = self.scope["url_route"]["kwargs"]["lab_id"]
        self.runtime = await get_runtime()
        self.person = await person(self.scope.get("session"), self.scope.get("user"))
        # A socket without a session still gets no more than one browser's budget.
        self.draws = [(ADDRESSES, client_address(self.scope)),
                      (SESSIONS, self.person.owner or f"socket:{next(SOCKET_NUMBERS)}")]
        self.patience = TokenBucket(REFUSALS_PER_SECOND, REFUSAL_BURST)
        self.last_notice = 0.0
        self.retry_at = 0.0  # when the latest refusal said to try again
        try:
            self.kind = registry.kind_of((await self.runtime.open_lab(self.lab_id)).scenario)
        except UnknownLab:
            await self.close(code=CLOSE_UNKNOWN_LAB)
            return None
        except LabsFull as full:
            await self.accept()
            await self.refuse(str(full))
            await self.close(code=CLOSE_FULL)
            return None
        access = await access_to(self.lab_id, self.person)
        if not self.may_open(access):
            await self.close(code=CLOSE_NOT_ALLOWED)
            return None
        await self.accept()
        return access

    def may_open(self, access: Access) -> bool:
        """Whether this kind of socket may be opened with that access (a browser's: to watch)."""
        return access.can_watch

    async def admitted(self) -> bool:
        """Spend a token of the visitor's budget for the message in hand. If there is none, the
        sender is told to slow down (at most every ``notice_every_s``), and a sender
        that keeps going, or whose messages pile up, is disconnected. True if admitted."""
        piled_up = self.overflowed or (self.incoming is not None and self.incoming.qsize() > MAX_BACKLOG)
        if not piled_up and spend(self.draws):
            return True
        now = time.monotonic()
        waited = now >= self.retry_at - RETRY_TOLERANCE_S
        retry_after = math.ceil(wait(self.draws) * 100) / 100
        self.retry_at = now + retry_after
        if piled_up or (not waited and not self.patience.take()):
            floodgate.ban(self.scope)
            await self.refuse(FLOODING)
            await self.close(code=CLOSE_FLOODING)
            raise StopConsumer
        if now - self.last_notice >= self.notice_every_s:
            self.last_notice = now
            await self.refuse(TOO_FAST, retry_after=retry_after)
        return False


class LabConsumer(LabSocket):
    channel_layer_alias = "frames-come-from-the-process-fanout"
    viewer: Viewer | None = None
    recheck: asyncio.Task[None] | None = None
    notice_every_s = REFUSAL_NOTICE_EVERY_S

    async def connect(self) -> None:
        access = await self.open()
        if access is None:
            return
        roster.arrive(self.lab_id, id(self), access.name)
        direct = daphne_socket(self.base_send) if settings.COORDLAB_DIRECT_WRITES else None
        self.viewer = Viewer(self.base_send, direct)
        await self.runtime.join(self.lab_id, self.viewer)
        if access.role == "student":
            self.recheck = asyncio.create_task(self.keep_checking(access.can_change))

    async def keep_checking(self, could_change: bool) -> None:
        """A student watches only while the classroom is open to them: once it is closed (or
        they are removed from it), their socket is closed with the reason. When the instructor
        hands them control, or takes it back, their page says so within a recheck."""
        assert self.person is not None
        while True:
            await asyncio.sleep(RECHECK_EVERY_S)
            access = await access_to(self.lab_id, self.person)
            if not access.can_watch:
                await self.refuse(access.watch_refusal)
                await self.close(code=CLOSE_NOT_ALLOWED)
                return
            if access.can_change != could_change:
                could_change = access.can_change
                await self.send(text_data=render_to_string("labs/partials/my_control.html",
                                                           {"can_change": could_change, "oob": True}))

    async def release(self) -> None:
        if self.recheck is not None:
            self.recheck.cancel()
            self.recheck = None
        if self.viewer is not None:
            viewer, self.viewer = self.viewer, None
            roster.depart(self.lab_id, id(self))
            await self.runtime.leave(self.lab_id, viewer)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not await self.admitted():
            return
        assert self.person is not None
        try:
            command = parse(text_data if text_data is not None else bytes_data)
            access = await access_to(self.lab_id, self.person)
            if not access.can_change:
                raise CommandError(access.refusal)
            outcome = await self.runtime.execute(self.lab_id, command, by=access.name if access.classroom else "")
        except CommandError as error:
            await self.notify(str(error), ok=False)
        except UnknownLab:
            await self.notify("This lab is no longer running: reload the page.", ok=False)
        else:
            await self.notify(outcome, ok=True)

    async def refuse(self, text: str, **extra: Any) -> None:
        await self.notify(text, ok=False)

    async def notify(self, text: str, ok: bool) -> None:
        """Tell this viewer alone how its command went (the page's notice, swapped in place)."""
        await self.send(text_data=notice_html(text, ok))


def notice_html(text: str, ok: bool) -> str:
    """The page's ``#lab-notice`` with a sentence, as an out-of-band swap (see
    templates/labs/partials/notice.html, which renders it on the page)."""
    if ok:
        return format_html('<div id="lab-notice" class="notice ok" hx-swap-oob="morph" role="status" '
                           'aria-live="polite">{}</div>', text)
    return format_html('<div id="lab-notice" class="notice error" hx-swap-oob="morph" role="status" '
                       'aria-live="polite"><b>Not done:</b> {}</div>', text)


class NoSuchSocket(AsyncWebsocketConsumer):
    """Any WebSocket path that is not a lab's: the handshake is refused (4404 before accept,
    which daphne answers with HTTP 403)."""

    async def connect(self) -> None:
        await self.close(code=CLOSE_UNKNOWN_LAB)
