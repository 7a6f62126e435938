"""Several server processes serving the same labs (``REDIS_URL`` set).

Each lab is run by one process, its owner, which holds the lab's lease
(``coordlab.labs.ownership``). Every process relays the owner's frames to its
own viewers (one channel-layer message per process). Other processes:

- forward their viewers' commands to the owner and wait for its answer;
- tell the owner every second that they have viewers ("watch"), so the owner
  keeps the lab's clock running and sends a whole frame to a newcomer;
- take the lab over when its lease runs out (the owner died): they claim it and
  restore it from its latest saved state, so viewers see a pause, not a reset.

With one process (no ``REDIS_URL``) the process owns every lab and none of this
traffic happens.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from .commands import Command, CommandError, from_data
from .engine import Engine, UnknownLab
from .lab import Lab
from .ownership import RENEW_EVERY_S, Leases

logger = logging.getLogger(__name__)

ANSWER_TIMEOUT_S = 5.0
#: a jump ahead or a rewind is answered when it is done, which may take a while
LONG_ANSWER_TIMEOUT_S = 120.0
LONG_COMMANDS = ("forward", "seek")
WATCH_EVERY_S = 1.0
WATCH_FORGOTTEN_S = 3.5  # a process that stopped saying it watches no longer counts


class Peers:
    def __init__(self, layer: Any, leases: Leases, engine: Engine,
                 take: Callable[[str], Awaitable[Lab | None]]) -> None:
        self.layer = layer
        self.leases = leases
        self.engine = engine
        self.take = take  # claim a lab and run it here from its latest save; None if another process has it
        self.background: set[asyncio.Task[None]] = set()
        self.local: dict[str, int] = {}  # lab → sockets and terminals watching it in this process
        self.remote: dict[str, dict[str, float]] = {}  # lab we own → other process → when it last watched
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.ids = itertools.count(1)

    # -- this process's viewers ----------------------------------------------------------------

    def arrive(self, lab_id: str) -> None:
        self.local[lab_id] = self.local.get(lab_id, 0) + 1
        if lab_id in self.engine.labs:
            self.engine.viewer_joined(lab_id)
        else:
            self._soon(self._watch(lab_id))

    def _soon(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def depart(self, lab_id: str) -> None:
        count = self.local.get(lab_id, 0) - 1
        if count > 0:
            self.local[lab_id] = count
        else:
            self.local.pop(lab_id, None)
        if lab_id in self.engine.labs:
            self.engine.viewer_left(lab_id)

    def adopt(self, lab_id: str) -> None:
        """A lab now runs here: count this process's viewers of it."""
        logger.info("lab %s runs in this process now, for %d local viewer(s)", lab_id, self.local.get(lab_id, 0))
        for _ in range(self.local.get(lab_id, 0)):
            self.engine.viewer_joined(lab_id)

    # -- commands --------------------------------------------------------------------------------

    async def execute(self, lab_id: str, command: Command, by: str = "") -> str:
        """Apply a command to a lab wherever it runs; raises ``CommandError`` with the owner's reason."""
        for _ in range(3):  # the lab may change hands while we ask
            if lab_id in self.engine.labs:
                return await self.engine.execute(lab_id, command, by)
            owner = await self.leases.owner(lab_id)
            if owner is not None and owner != self.leases.me:
                return await self._ask(owner, lab_id, command, by)
            await self.take(lab_id)
        raise CommandError("This lab is changing servers: try again in a moment.")

    async def _ask(self, owner: str, lab_id: str, command: Command, by: str) -> str:
        timeout = LONG_ANSWER_TIMEOUT_S if command.name in LONG_COMMANDS else ANSWER_TIMEOUT_S
        reply = await self._request(owner, {"type": "lab.command", "lab": lab_id, "command": command.as_data(),
                                            "by": by}, timeout)
        if not reply["ok"]:
            raise CommandError(reply["text"])
        return str(reply["text"])

    async def _request(self, owner: str, message: dict[str, Any], timeout: float = ANSWER_TIMEOUT_S,
                       ) -> dict[str, Any]:
        """Send a request to the owner process and wait for its reply."""
        request = next(self.ids)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[request] = answer
        try:
            await self.layer.send(owner, {**message, "reply_to": self.leases.me, "request": request})
            return await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            raise CommandError("The server running this lab did not answer: try again in a moment.") from None
        finally:
            self.waiting.pop(request, None)

    async def outbox(self, lab_id: str, node: str, after: int) -> tuple[list[dict[str, Any]], int]:
        """A machine's outbox past ``after``, from wherever its lab runs (nothing while it runs nowhere)."""
        if lab_id in self.engine.labs:
            return self.engine.outbox(lab_id, node, after)
        owner = await self.leases.owner(lab_id)
        if owner is None or owner == self.leases.me:
            return [], after
        reply = await self._request(owner, {"type": "lab.outbox", "lab": lab_id, "node": node, "after": after})
        return (list(reply["items"]), int(reply["next"])) if reply["ok"] else ([], after)

    async def handle(self, event: dict[str, Any]) -> None:
        """A message from another process (the fan-out hands over everything that is not a frame)."""
        kind = event.get("type")
        if kind == "lab.command":
            self._soon(self._serve(event))
        elif kind == "lab.outbox":
            self._soon(self._serve_outbox(event))
        elif kind == "lab.reply":
            answer = self.waiting.get(event["request"])
            if answer is not None and not answer.done():
                answer.set_result(event)
        elif kind == "lab.watch" and event["lab"] in self.engine.labs:
            watchers = self.remote.setdefault(event["lab"], {})
            if event["from"] not in watchers:
                self.engine.viewer_joined(event["lab"])  # also: the next frame is a whole one
            watchers[event["from"]] = time.monotonic()

    async def _serve(self, event: dict[str, Any]) -> None:
        try:
            if event["lab"] not in self.engine.labs:
                raise CommandError("This lab moved to another server: try again in a moment.")
            by = event.get("by", "")
            text, ok = await self.engine.execute(event["lab"], from_data(event["command"]), by), True
        except CommandError as error:
            text, ok = str(error), False
        except UnknownLab:
            text, ok = "This lab is no longer running.", False
        await self.layer.send(event["reply_to"], {"type": "lab.reply", "request": event["request"],
                                                  "ok": ok, "text": text})

    async def _serve_outbox(self, event: dict[str, Any]) -> None:
        ok = event["lab"] in self.engine.labs
        items, end = self.engine.outbox(event["lab"], event["node"], event["after"]) if ok else ([], event["after"])
        await self.layer.send(event["reply_to"], {"type": "lab.reply", "request": event["request"], "ok": ok,
                                                  "items": items, "next": end})

    # -- keeping leases, watching, taking over ---------------------------------------------------

    async def run(self) -> None:
        """Forever: renew our leases, tell owners we watch, take over labs whose owner died."""
        while True:
            await asyncio.sleep(min(RENEW_EVERY_S, WATCH_EVERY_S))
            try:
                await self.tick()
            except Exception:
                logger.exception("keeping leases failed; trying again")

    async def tick(self) -> None:
        for lab_id in await self.leases.renew(list(self.engine.labs)):
            logger.warning("lab %s is run by another process now", lab_id)
            self.engine.close_lab(lab_id)
            self.remote.pop(lab_id, None)
        now = time.monotonic()
        for lab_id, watchers in list(self.remote.items()):
            for process, seen in list(watchers.items()):
                if now - seen > WATCH_FORGOTTEN_S:
                    del watchers[process]
                    if lab_id in self.engine.labs:
                        self.engine.viewer_left(lab_id)
        for lab_id in [lab for lab in self.local if lab not in self.engine.labs]:
            await self._watch(lab_id)

    async def _watch(self, lab_id: str) -> None:
        owner = await self.leases.owner(lab_id)
        if owner is None:  # its owner died (or nobody ran it yet): run it here, from its latest save
            try:
                await self.take(lab_id)
            except UnknownLab:
                return
        elif owner != self.leases.me:
            await self.layer.send(owner, {"type": "lab.watch", "lab": lab_id, "from": self.leases.me})
