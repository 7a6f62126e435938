"""The WebSocket consumer for terminal clients (``manage.py kafka_produce`` and
``kafka_consume``): JSON in, JSON out, no HTML frames.

Client to server, one JSON object per message:

- a lab command, as the browser sends it (``{"command": "act", "op": "publish", ...}``);
- ``{"follow": "terminal-cd34"}``: push that machine's outbox from now on.

Server to client:

- ``{"type": "reply", "ok": bool, "text": str}``, one per message, in order
  (a rate-limited message's reply also carries ``"retry_after"`` in seconds);
- ``{"type": "outbox", "node": str, "items": [...]}`` as the followed machine's
  outbox grows (with ``"skipped": n`` if the machine dropped items the client
  never got).

A terminal is a Kafka client of the lab, not its operator: it may publish and
join a group in any lab whose id it knows (an open classroom's, so every
student's terminal takes part), leave or drop only the consumer members it
joined itself, and nothing else. It shares its visitor's command budget with
the browser (see ``coordlab.consumers``).

A connected terminal keeps its lab's clock running, as a browser viewer does.
A consumer member joined through this connection and not left through it
vanishes when the connection drops: its process died without a goodbye, and
the group notices after its session timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from coordlab.access import Access, access_to
from coordlab.consumers import LabSocket
from coordlab.labs.commands import (
    MAX_COMMAND_BYTES,
    MAX_SOCKET_MESSAGE_BYTES,
    Command,
    CommandError,
    check_text,
    from_data,
    parse,
)
from coordlab.labs.kinds import JOINS
from coordlab.labs.runtime import UnknownLab

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.1
MAX_ITEMS_PER_MESSAGE = 500


class TerminalConsumer(LabSocket):
    channel_layer_alias = "terminals-get-no-frames"

    watching = False
    follower: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.members: list[str] = []  # joined here and not left here
        if await self.open() is None:
            return
        self.runtime.watch(self.lab_id)
        self.watching = True

    async def release(self) -> None:
        if self.follower is not None:
            self.follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.follower
            self.follower = None
        vanish = self.kind.vanishing_op() if self.members else None
        for member in self.members if vanish else []:
            with contextlib.suppress(CommandError, UnknownLab):
                await self.runtime.execute(self.lab_id, from_data({"command": "act", "op": vanish, "member": member}))
        self.members = []
        if self.watching:
            self.runtime.unwatch(self.lab_id)
            self.watching = False

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else bytes_data
        if not await self.admitted():
            return
        try:
            follow = self.follow_request(raw)
            if follow is not None:
                await self.reply(True, self.follow(follow))
                return
            command = parse(raw)
            # A terminal may be a client of the lab (the kind says which actions a client takes), never
            # operate it (kill machines, pause, reset): that stays with whoever may change it in its page.
            if command.name != "act" or command.args["op"] not in self.kind.terminal_ops():
                raise CommandError("A terminal publishes and consumes; the lab's other controls are in its page.")
            self.check_ending(command)
            assert self.person is not None
            access = await access_to(self.lab_id, self.person)
            if not self.may_open(access):
                raise CommandError(access.watch_refusal)
            outcome = await self.runtime.execute(self.lab_id, command)
        except CommandError as error:
            await self.reply(False, str(error))
        except UnknownLab:
            await self.reply(False, "This lab is no longer running.")
        else:
            self.remember(command)
            await self.reply(True, outcome)

    def may_open(self, access: Access) -> bool:
        """A terminal is a Kafka client: of a lab it may watch, or of an open classroom's lab
        whose id it knows (students' terminals have no browser session to join with)."""
        return access.can_watch or access.open_classroom

    async def refuse(self, text: str, **extra: Any) -> None:
        await self.reply(False, text, **extra)

    async def reply(self, ok: bool, text: str, **extra: Any) -> None:
        await self.send(text_data=json.dumps({"type": "reply", "ok": ok, "text": text, **extra}))

    def check_ending(self, command: Command) -> None:
        """A terminal leaves or drops only the consumer members it joined itself."""
        if self.kind.actions[command.args["op"]].ends_member and _member(command) not in self.members:
            raise CommandError("A terminal can only stop the consumers it started itself.")

    def remember(self, command: Command) -> None:
        """Keep track of the consumer members this connection has joined and not left."""
        member, action = _member(command), self.kind.actions[command.args["op"]]
        if action.member == JOINS and member and member not in self.members:
            self.members.append(member)
        elif action.ends_member and member in self.members:
            self.members.remove(member)

    def follow_request(self, raw: str | bytes | None) -> str | None:
        """The machine name of a ``{"follow": name}`` message; None for anything else
        (which then goes to the command parser, with its errors for bad input)."""
        if raw is None or len(raw) > MAX_COMMAND_BYTES:
            return None
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
        if not isinstance(data, dict) or "follow" not in data or "command" in data:
            return None
        check_text(data)
        name = data["follow"]
        pattern = self.kind.terminal_machine
        if not isinstance(name, str) or pattern is None or not pattern.fullmatch(name):
            raise CommandError("'follow' must name a terminal's machine, such as terminal-cd34.")
        return name

    # -- following a machine's outbox ---------------------------------------------

    def follow(self, node: str) -> str:
        if self.follower is not None:
            self.follower.cancel()
        self.follower = asyncio.create_task(self.relay_outbox(node))
        return f"Following {node}."

    async def relay_outbox(self, node: str) -> None:
        """Every POLL_SECONDS, send the items the machine added since the last look."""
        after = 0
        while True:
            try:
                items, end = await self.runtime.outbox(self.lab_id, node, after)
            except UnknownLab:
                return
            except Exception:
                logger.exception("reading the outbox of %s in lab %s failed", node, self.lab_id)
                return
            if end < after:  # the machine's outbox started again from nothing
                after = 0
                continue
            first = end - len(items)  # the index of items[0]
            skipped = max(0, first - after)  # dropped by the machine before we looked
            items = items[:MAX_ITEMS_PER_MESSAGE]
            if items or skipped:
                message: dict[str, Any] = {"type": "outbox", "node": node, "items": items}
                if skipped:
                    message["skipped"] = skipped
                text = json.dumps(message)
                while len(text.encode()) > MAX_SOCKET_MESSAGE_BYTES and len(items) > 1:
                    items = message["items"] = items[:len(items) // 2]  # the rest goes in the next message
                    text = json.dumps(message)
                await self.send(text_data=text)
            after = first + len(items)
            await asyncio.sleep(POLL_SECONDS)


def _member(command: Command) -> str:
    """The consumer member an ``act`` command names, as the lab reads it."""
    member = command.args["fields"].get("member")
    return member.strip() if isinstance(member, str) else ""
