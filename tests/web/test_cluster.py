"""Two real server processes sharing the labs through Redis: viewers on both see
the same frames, a command through either changes the lab, and when the process
running the lab dies the other takes it over with its state intact."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import time

import pytest
from websockets.asyncio.client import connect

from bench.servers import DAPHNE, lab_server, start_owned_lab

pytestmark = pytest.mark.redis

REDIS_URL = "redis://127.0.0.1:6379/4"
SEQ = re.compile(r'data-seq="(\d+)"')
NOW = re.compile(r'id="lab-status"[^>]*data-now="(\d+)"')


def ws(url: str, lab_id: str) -> str:
    return url.replace("http", "ws") + f"/ws/labs/{lab_id}/"


class Viewer:
    """A WebSocket viewer that remembers every frame's sequence number, the latest virtual
    time and the latest state of machine m1."""

    def __init__(self, url: str, lab_id: str, cookie: str) -> None:
        self.url, self.lab_id, self.cookie = url, lab_id, cookie
        self.seqs: list[int] = []
        self.now = -1
        self.m1 = ""
        self.notices: list[str] = []

    async def __aenter__(self) -> Viewer:
        self.socket = await connect(ws(self.url, self.lab_id), origin=self.url, compression=None,
                                    additional_headers={"Cookie": self.cookie})
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            await self.socket.close()

    async def read_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                text = str(await asyncio.wait_for(self.socket.recv(), left))
            except TimeoutError:
                return
            if (seq := SEQ.search(text[:300])) is not None:
                self.seqs.append(int(seq.group(1)))
            if (now := NOW.search(text)) is not None:
                self.now = int(now.group(1))
            if (m1 := re.search(r'id="machine-m1"[^>]*data-state="(\w+)"', text)) is not None:
                self.m1 = m1.group(1)
            if 'id="lab-notice"' in text:
                self.notices.append(text)

    async def command(self, **data: object) -> str:
        await self.socket.send(json.dumps(data))
        count = len(self.notices)
        for _ in range(50):
            await self.read_for(0.1)
            if len(self.notices) > count:
                return self.notices[-1]
        raise AssertionError("no answer to the command")


def test_two_processes_serve_one_lab_and_survive_the_death_of_its_owner(tmp_path):
    # One database and one secret key, as `make run-cluster` shares them: a browser's session
    # (and the sandbox owner token in it) reads the same in either process.
    env = {"REDIS_URL": REDIS_URL, "COORDLAB_SQLITE_PATH": str(tmp_path / "shared.sqlite3"),
           "COORDLAB_SAVE_EVERY_S": "1", "COORDLAB_SECRET_KEY": "one key for both processes"}
    with lab_server("first", DAPHNE, 20, **env) as first, lab_server("second", DAPHNE, 20, **env) as second:
        lab_id, cookie = start_owned_lab(first.http_url)  # the first process runs it

        async def scenario() -> None:
            async with Viewer(first.http_url, lab_id, cookie) as a, Viewer(second.http_url, lab_id, cookie) as b:
                await asyncio.gather(a.read_for(3), b.read_for(3))
                shared = set(a.seqs) & set(b.seqs)
                assert len(shared) >= 20, (a.seqs[-5:], b.seqs[-5:])  # the same frames reach both processes
                assert "Killed m1." in await b.command(command="crash", node="m1")  # through the second
                await asyncio.gather(a.read_for(2), b.read_for(2))
                assert a.m1 == b.m1 == "down"
                await b.read_for(1.5)  # let the owner save it
                before = b.now
                os.kill(first.pid, signal.SIGKILL)  # the owner dies without a word
                await b.read_for(12)
                assert b.now > before, "the second process took the lab over and runs it"
                assert b.m1 == "down" or "m1" not in b.m1, "with its state, not from the start"
                assert "Restarted m1." in await b.command(command="restart", node="m1")
                await b.read_for(1)
                assert b.m1 == "up"

        asyncio.run(scenario())


def test_a_terminal_on_the_other_process_consumes_what_it_publishes(tmp_path):
    env = {"REDIS_URL": REDIS_URL, "COORDLAB_SQLITE_PATH": str(tmp_path / "shared.sqlite3")}
    with lab_server("first", DAPHNE, 20, **env) as first, lab_server("second", DAPHNE, 20, **env) as second:
        lab_id, _ = start_owned_lab(first.http_url, "kafka-keys")  # the first process runs it
        url = second.http_url

        async def scenario() -> list[dict]:
            async with connect(url.replace("http", "ws") + f"/ws/labs/{lab_id}/terminal/", origin=url) as term:
                async def request(message: dict) -> dict:
                    await term.send(json.dumps(message))
                    while True:
                        answer = json.loads(await asyncio.wait_for(term.recv(), 10))
                        if answer["type"] == "reply":
                            return answer

                assert (await request({"follow": "terminal-ab12"}))["ok"]
                joined = await request({"command": "act", "op": "join", "member": "terminal-ab12", "topic": "chat",
                                        "group": "readers"})
                assert joined["ok"], joined
                got: list[dict] = []
                deadline = time.monotonic() + 25
                while not got and time.monotonic() < deadline:
                    published = await request({"command": "act", "op": "publish", "producer": "terminal-cd34",
                                               "topic": "chat", "key": "user-3", "value": "across processes"})
                    assert published["ok"], published
                    end = time.monotonic() + 2
                    while time.monotonic() < end:
                        with contextlib.suppress(TimeoutError):
                            message = json.loads(await asyncio.wait_for(term.recv(), 0.5))
                            if message["type"] == "outbox":
                                got += [i for i in message["items"] if i["value"] == "across processes"]
                return got

        records = asyncio.run(scenario())
        assert records and records[0]["key"] == "user-3" and records[0]["topic"] == "chat"
