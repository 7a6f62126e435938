"""The one WebSocket consumer: connect, receive a command, relay frames, disconnect.

Every command is checked against who may change the lab (``coordlab.access``)
at the moment it arrives, since an instructor can hand control over at any time.

Frames do not come through this consumer's own channel: the process's fan-out
hands them straight to its ``Viewer`` (see ``coordlab.labs.fanout``), so the
consumer asks for no channel-layer channel at all.
"""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.template.loader import render_to_string

from coordlab import roster
from coordlab.access import access_to, person
from coordlab.labs.commands import CommandError, parse
from coordlab.labs.fanout import Viewer
from coordlab.labs.runtime import UnknownLab, get_runtime
from coordlab.labs.transport import daphne_socket
from coordlab.ratelimit import TokenBucket

COMMANDS_PER_SECOND = 10
COMMAND_BURST = 20
CLOSE_UNKNOWN_LAB = 4404


class LabSocket(AsyncWebsocketConsumer):
    """A WebSocket on one lab (a browser's or a terminal's): accepted only if the lab exists,
    with a rate limit on what it sends."""

    async def open(self) -> bool:
        """Accept the socket if its lab exists (else close it with 4404); True if accepted."""
        self.lab_id = self.scope["url_route"]["kwargs"]["lab_id"]
        self.runtime = await get_runtime()
        try:
            await self.runtime.open_lab(self.lab_id)
        except UnknownLab:
            await self.close(code=CLOSE_UNKNOWN_LAB)
            return False
        await self.accept()
        self.bucket = TokenBucket(COMMANDS_PER_SECOND, COMMAND_BURST)
        return True


class LabConsumer(LabSocket):
    channel_layer_alias = "frames-come-from-the-process-fanout"

    async def connect(self) -> None:
        self.viewer: Viewer | None = None
        if not await self.open():
            return
        self.person = await person(self.scope.get("session"), self.scope.get("user"))
        roster.arrive(self.lab_id, id(self), self.person.name)
        direct = daphne_socket(self.base_send) if settings.COORDLAB_DIRECT_WRITES else None
        self.viewer = Viewer(self.base_send, direct)
        await self.runtime.join(self.lab_id, self.viewer)

    async def disconnect(self, code: int) -> None:
        roster.depart(self.lab_id, id(self))
        if self.viewer is not None:
            await self.runtime.leave(self.lab_id, self.viewer)
            self.viewer = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            if not self.bucket.take():
                raise CommandError("Too many commands at once: wait a moment and try again.")
            command = parse(text_data if text_data is not None else bytes_data)
            access = await access_to(self.lab_id, self.person)
            if not access.can_change:
                raise CommandError(access.refusal)
            outcome = await self.runtime.execute(self.lab_id, command)
        except CommandError as error:
            await self.notify(str(error), ok=False)
        except UnknownLab:
            await self.notify("This lab is no longer running: reload the page.", ok=False)
        else:
            await self.notify(outcome, ok=True)

    async def notify(self, text: str, ok: bool) -> None:
        """Tell this viewer alone how its command went."""
        html = render_to_string("labs/partials/notice.html", {"text": text, "ok": ok, "oob": True})
        await self.send(text_data=html)
