"""A lecture survives a server restart: the real server process builds a lab's state,
is killed (SIGKILL, so only the periodic snapshot counts) or stopped (SIGTERM, so the
save on shutdown counts), starts again on the same database, and the lab comes back at
the same virtual time with the same znodes, leaders and timeline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from bench.servers import DAPHNE, Server, lab_server

FRAGMENT = re.compile(r'<(\w+) id="([\w-]+)"[^>]*hx-swap-oob')  # nested elements do not swap
#: where a panel's frame leaves an item that comes as a part of its own (a topic's partition)
SHELL = re.compile(r'<(\w+) id="([\w.-]+)"[^>]*data-shell></\1>')
STATUS = re.compile(r'data-playing="(\w+)"[^>]*data-now="(\d+)"')


class Browser:
    """One browser session against the server: its cookies survive the server's restart."""

    def __init__(self) -> None:
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def start_lab(self, url: str, slug: str) -> str:
        self.opener.open(url + "/", timeout=10).close()
        token = next(cookie.value for cookie in self.jar if cookie.name == "csrftoken")
        request = urllib.request.Request(url + f"/labs/new/{slug}/", data=b"", method="POST", headers={
            "X-CSRFToken": token, "Referer": url + "/", "Origin": url})
        with self.opener.open(request, timeout=10) as response:
            return urllib.parse.urlparse(response.url).path.strip("/").split("/")[1]

    def page(self, url: str, lab_id: str) -> str:
        with self.opener.open(url + f"/labs/{lab_id}/", timeout=30) as response:
            return response.read().decode()

    def cookies(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.jar)


def fragments(frame: str) -> dict[str, str]:
    """A frame's fragments by their element id (each fragment is one top-level element)."""
    found: dict[str, str] = {}
    starts = list(FRAGMENT.finditer(frame))
    for match, following in zip(starts, [*starts[1:], None], strict=True):
        found[match.group(2)] = frame[match.start():following.start() if following else None].strip()
    return found


def status(view: dict[str, str]) -> tuple[bool, int]:
    match = STATUS.search(view["lab-status"])
    assert match, view["lab-status"][:300]
    return match.group(1) == "true", int(match.group(2))


class Viewer:
    """A WebSocket viewer of a lab that keeps the latest version of every fragment."""

    def __init__(self, socket) -> None:
        self.socket = socket
        self.view: dict[str, str] = {}
        self.latest: dict[str, str] = {}  # as the frames sent them
        self.notices: list[str] = []

    async def receive(self, timeout: float = 10) -> None:
        text = await asyncio.wait_for(self.socket.recv(), timeout)
        if 'id="lab-notice"' in text[:200]:
            self.notices.append(text)
        else:
            self.latest.update(fragments(text))
            # as the page does: each part in its panel's shell for it
            self.view = {name: SHELL.sub(lambda shell: self.latest.get(shell.group(2), shell.group(0)), html)
                         for name, html in self.latest.items()}

    async def command(self, **command) -> str:
        before = len(self.notices)
        await self.socket.send(json.dumps(command))
        while len(self.notices) == before:
            await self.receive()
        assert 'class="notice ok"' in self.notices[-1], self.notices[-1]
        return self.notices[-1]

    async def until(self, predicate: Callable[[dict[str, str]], bool], timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not (self.view and predicate(self.view)):
            await self.receive(max(0.1, deadline - time.monotonic()))

    async def settle(self, quiet: float = 0.6) -> dict[str, str]:
        """The view once no frame has come for ``quiet`` seconds (a paused lab sends none)."""
        with contextlib.suppress(TimeoutError):
            while True:
                await self.receive(quiet)
        return dict(self.view)


@contextlib.asynccontextmanager
async def watching(url: str, lab_id: str, browser: Browser):
    ws_url = url.replace("http", "ws") + f"/ws/labs/{lab_id}/"
    async with connect(ws_url, origin=url, compression=None, max_size=None,
                       additional_headers={"Cookie": browser.cookies()}) as socket:
        viewer = Viewer(socket)
        await viewer.until(lambda view: "lab-status" in view)
        yield viewer


def saved_record(database: Path, lab_id: str) -> tuple[int, str] | None:
    """(virtual time, saved at) of a lab's latest snapshot in the server's SQLite file."""
    with contextlib.closing(sqlite3.connect(database, timeout=5)) as db:
        row = db.execute("SELECT virtual_time_ms, saved_at FROM coordlab_labrecord WHERE id = ? AND state != ''",
                         (lab_id,)).fetchone()
    return (int(row[0]), str(row[1])) if row else None


def wait_for(check: Callable[[], object], timeout: float = 15, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}")


def wait_until_gone(pid: int, timeout: float = 20) -> None:
    """Until the process has exited (a zombie: the test's harness reaps it later)."""
    def gone() -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
        except OSError:
            return True
    wait_for(gone, timeout, f"process {pid} to exit")


@contextlib.contextmanager
def server(var_dir: Path, **env: str) -> Iterator[Server]:
    """The real server (``python -m coordlab.serve``) on a database that outlives it."""
    with lab_server("daphne", DAPHNE, 20, COORDLAB_VAR_DIR=str(var_dir),
                    COORDLAB_SQLITE_PATH=str(var_dir / "coordlab.sqlite3"), **env) as running:
        yield running


def leaders(view: dict[str, str]) -> list[str]:
    return re.findall(r'id="machine-(\w+)" class="machine zk-server leading', view["zk-ensemble"])


async def build_master_election_state(url: str, lab_id: str, browser: Browser) -> dict[str, str]:
    """A crashed leader and a new one, a znode; returns the view once paused."""
    async with watching(url, lab_id, browser) as viewer:
        await viewer.command(command="forward", seconds=10)
        await viewer.until(lambda view: len(leaders(view)) == 1)  # a frame comes after the command's notice
        first = leaders(viewer.view)[0]
        await viewer.command(command="crash", node=first)
        await viewer.command(command="forward", seconds=10)
        await viewer.command(command="console", op="create", path="/lecture", data="persisted")
        await viewer.command(command="forward", seconds=3)
        await viewer.until(lambda view: "/lecture" in view["zk-trees"])
        await viewer.command(command="pause")
        await viewer.until(lambda view: not status(view)[0])
        view = await viewer.settle()
    assert len(leaders(view)) == 1 and leaders(view) != [first]
    assert "persisted" in view["zk-trees"]
    return view


async def first_view(url: str, lab_id: str, browser: Browser) -> dict[str, str]:
    async with watching(url, lab_id, browser) as viewer:
        return await viewer.settle()


def assert_same_lab(before: dict[str, str], after: dict[str, str], names: tuple[str, ...]) -> None:
    assert status(after) == status(before)  # paused, at the same virtual time
    for name in names:
        assert after[name] == before[name], name


ZOOKEEPER = ("lab-status", "zk-ensemble", "zk-trees", "zk-sessions")


def test_a_killed_server_resumes_the_lab_from_its_latest_snapshot(tmp_path):
    browser = Browser()
    database = tmp_path / "coordlab.sqlite3"
    with server(tmp_path) as first:
        lab_id = browser.start_lab(first.http_url, "master-election")
        before = asyncio.run(build_master_election_state(first.http_url, lab_id, browser))
        _, now = status(before)
        wait_for(lambda: (saved_record(database, lab_id) or (0,))[0] == now, what="the paused lab's snapshot")
        os.kill(first.pid, signal.SIGKILL)
        wait_until_gone(first.pid)

    with server(tmp_path) as second:
        page = browser.page(second.http_url, lab_id)
        assert f'data-now="{now}"' in page and 'data-playing="false"' in page
        after = asyncio.run(first_view(second.http_url, lab_id, browser))
    assert_same_lab(before, after, ZOOKEEPER)
    assert after["lab-timeline"] == before["lab-timeline"]


async def change_and_read(url: str, lab_id: str, browser: Browser) -> dict[str, str]:
    async with watching(url, lab_id, browser) as viewer:
        await viewer.command(command="console", op="create", path="/after-the-snapshot", data="late")
        await viewer.command(command="forward", seconds=3)
        await viewer.until(lambda view: "/after-the-snapshot" in view["zk-trees"])
        return await viewer.settle()


def test_a_stopped_server_saves_every_lab_on_its_way_out(tmp_path):
    """With the periodic snapshot out of the way (once an hour), only the save on SIGTERM
    can bring back what changed after the lab was first saved."""
    browser = Browser()
    database = tmp_path / "coordlab.sqlite3"
    with server(tmp_path, COORDLAB_SAVE_EVERY_S="3600") as first:
        lab_id = browser.start_lab(first.http_url, "master-election")
        before = asyncio.run(build_master_election_state(first.http_url, lab_id, browser))
        before = asyncio.run(change_and_read(first.http_url, lab_id, browser))
        assert saved_record(database, lab_id) is None
        os.kill(first.pid, signal.SIGTERM)
        wait_until_gone(first.pid)
        assert saved_record(database, lab_id) == (status(before)[1], saved_record(database, lab_id)[1])

    with server(tmp_path, COORDLAB_SAVE_EVERY_S="3600") as second:
        after = asyncio.run(first_view(second.http_url, lab_id, browser))
    assert_same_lab(before, after, ZOOKEEPER)
    assert "late" in after["zk-trees"]


# -- the runtime: what it saves, when, and what it restores ------------------------------------


def record(lab_id: str):
    from coordlab.models import LabRecord

    return LabRecord.objects.filter(id=lab_id).afirst()


async def restart(runtime):
    """What a restart does to the runtime: stop it (saving), and a fresh one in its place."""
    from coordlab.labs.runtime import get_runtime, stop_runtime

    assert runtime is await get_runtime()
    await stop_runtime()
    fresh = await get_runtime()
    assert fresh is not runtime and not fresh.engine.labs
    return fresh


async def do(runtime, lab_id: str, **command) -> str:
    from coordlab.labs.commands import from_data

    return await runtime.engine.execute(lab_id, from_data(command))


@pytest.mark.django_db(transaction=True)
async def test_the_runtime_restores_a_kafka_lab_as_it_was_saved(runtime):
    lab = await runtime.start_lab("kafka-replication")
    await do(runtime, lab.id, command="forward", seconds=20)
    await do(runtime, lab.id, command="act", op="publish", topic="payments", key="k", value="kept", headers="a=b",
       acks="all")
    await do(runtime, lab.id, command="crash", node="b2")
    await do(runtime, lab.id, command="forward", seconds=7)
    await do(runtime, lab.id, command="speed", speed=2)
    snapshot, now = lab.sim.snapshot(), lab.now

    runtime = await restart(runtime)
    saved = await record(lab.id)
    assert saved.virtual_time_ms == now and saved.snapshot.startswith("zlib:") and saved.saved_at is not None
    back = await runtime.open_lab(lab.id)
    assert back is not lab and back.now == now and back.sim.snapshot() == snapshot
    assert back.playing and back.speed == 2
    assert await runtime.open_lab(lab.id) is back


@pytest.mark.django_db(transaction=True)
async def test_a_lab_is_saved_every_few_seconds_and_its_snapshot_only_when_it_has_a_new_checkpoint(runtime):
    lab = await runtime.start_lab("master-election")
    await runtime.open_lab(lab.id)
    await wait_async(lambda: record(lab.id), lambda saved: saved.state != "")  # the periodic save
    first = await record(lab.id)
    assert await runtime.save_changed() == 0  # nothing changed since

    await do(runtime, lab.id, command="pause")  # the same checkpoint: the snapshot is not written again
    assert await runtime.save_changed() == 1
    paused = await record(lab.id)
    assert paused.state != first.state and paused.snapshot == first.snapshot and paused.saved_at > first.saved_at

    await do(runtime, lab.id, command="forward", seconds=12)  # new checkpoints
    assert await runtime.save_changed() == 1
    assert (await record(lab.id)).snapshot != first.snapshot


async def wait_async(fetch, check, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await fetch()
        if found is not None and check(found):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.django_db(transaction=True)
async def test_forks_are_saved_and_a_closed_lab_is_not(runtime):
    lab = await runtime.start_lab("network-basics")
    await do(runtime, lab.id, command="forward", seconds=9)
    copy = await runtime.fork_lab(lab.id)
    await do(runtime, copy.id, command="crash", node="m1")
    snapshot = copy.sim.snapshot()
    gone = await runtime.start_lab("network-basics")
    await runtime.close_lab(gone.id)
    assert await runtime.save_changed() == 2

    runtime = await restart(runtime)
    assert (await runtime.open_lab(copy.id)).sim.snapshot() == snapshot
    assert await record(gone.id) is None


@pytest.mark.django_db(transaction=True)
async def test_a_state_that_cannot_be_restored_starts_the_lab_again_and_says_so(runtime, caplog):
    from coordlab.models import LabRecord

    lab = await runtime.start_lab("network-basics")
    await do(runtime, lab.id, command="forward", seconds=9)
    runtime = await restart(runtime)
    await LabRecord.objects.filter(id=lab.id).aupdate(snapshot="zlib:not base64 at all")
    back = await runtime.open_lab(lab.id)
    assert back.now == back.start and "could not be restored" in caplog.text


def test_snapshots_are_packed_small_and_plain_text_still_reads():
    from coordlab.labs.packing import pack, unpack

    text = json.dumps({"nodes": ["z1"] * 1000})
    assert unpack(pack(text)) == text and len(pack(text)) < len(text) / 10
    assert unpack(text) == text


@pytest.mark.django_db(transaction=True)
async def test_a_lab_nobody_watches_is_saved_put_away_and_comes_back_where_it_was(runtime):
    watched, idle = await runtime.start_lab("network-basics"), await runtime.start_lab("network-basics")
    runtime.watch(watched.id)
    await do(runtime, idle.id, command="forward", seconds=12)
    await do(runtime, idle.id, command="crash", node="m2")
    snapshot, now = idle.sim.snapshot(), idle.now
    assert await runtime.evict_idle(60) == []  # idle, but not for long enough
    assert await runtime.evict_idle(0) == [idle.id]
    assert idle.id not in runtime.engine.labs and watched.id in runtime.engine.labs
    back = await runtime.open_lab(idle.id)
    assert back is not idle and back.now == now and back.sim.snapshot() == snapshot
    runtime.unwatch(watched.id)
