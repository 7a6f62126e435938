"""What one hostile (or just unlucky) visitor sends cannot hurt anyone else: issue 12's
freezes, crashed sockets, floods, poisoned labs, unroutable paths and full servers,
each through the real ASGI application."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore
from django.test import AsyncClient, override_settings

from coordlab import consumers, roster
from coordlab.access import OWNER
from coordlab.asgi import application
from coordlab.consumers import CLOSE_FLOODING, CLOSE_FULL, MAX_BACKLOG
from coordlab.frames import render_frame
from coordlab.labs.commands import CommandError, from_data
from coordlab.labs.lab import Lab
from coordlab.labs.registry import get
from coordlab.labs.runtime import LabsFull
from coordlab.models import LabRecord
from tests.web.test_access import student
from tests.web.test_consumer import next_matching
from tests.web.test_identity import classroom_lab
from tests.web.test_terminal_consumer import receive

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


async def owner_cookie(token: str) -> tuple[bytes, bytes]:
    """A Cookie header for a browser session whose owner token is ``token``."""
    session = SessionStore()
    session[OWNER] = token
    await session.asave()
    return (b"cookie", f"sessionid={session.session_key}".encode())


async def connect(lab_id: str, *headers: tuple[bytes, bytes], path: str = "") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ws/labs/{lab_id}/{path}", headers=[ORIGIN, *headers])
    connected, code = await communicator.connect(timeout=5)
    assert connected, code
    return communicator


async def close_code(communicator: WebsocketCommunicator) -> int:
    """The code the server closed the socket with (the frames before it are skipped)."""
    while True:
        message = await communicator.receive_output(timeout=5)
        if message["type"] == "websocket.close":
            return int(message["code"])


async def send(communicator: WebsocketCommunicator, raw: str, timeout: float = 5) -> str:
    await communicator.send_to(text_data=raw)
    return await next_matching(communicator, 'id="lab-notice"', timeout)


# -- 1. a long jump ahead never holds the loop -----------------------------------------------


async def test_a_long_jump_ahead_runs_in_slices_while_another_lab_keeps_getting_frames(runtime):
    heavy = await runtime.start_lab("kafka-activity")
    other = await runtime.start_lab("network-basics")
    driver, watcher = await connect(heavy.id), await connect(other.id)
    assert "10x load: on" in await send(driver, '{"command": "toggle", "name": "ten-x", "on": true}')
    await driver.send_to(text_data='{"command": "forward", "seconds": 120}')
    frames_meanwhile, busy_seen = 0, False
    while True:
        text = await driver.receive_from(timeout=60)
        busy_seen = busy_seen or "jumping ahead to" in text
        if 'id="lab-notice"' in text:
            break
        while not watcher.output_queue.empty():
            frames_meanwhile += 'id="lab-frame"' in await watcher.receive_from()
    assert "Jumped 120 s ahead" in text
    assert busy_seen  # its own viewers saw the jump's progress
    assert frames_meanwhile >= 5  # the other lab went on being served while it ran
    await driver.disconnect()
    await watcher.disconnect()


async def test_a_lab_that_cannot_keep_up_says_how_fast_it_really_runs(runtime):
    lab = await runtime.start_lab("network-basics")
    lab.speed, lab.pace = 20.0, 11.0
    status = render_frame(lab)[0]
    assert "running at 11x of 20x" in status


async def test_commands_wait_for_a_running_jump_and_say_why(runtime):
    lab = await runtime.start_lab("kafka-activity")
    first, second = await connect(lab.id), await connect(lab.id)
    await first.send_to(text_data='{"command": "forward", "seconds": 300}')
    await next_matching(second, "jumping ahead to", timeout=5)
    notice = await send(second, '{"command": "crash", "node": "b1"}')
    assert "Wait a moment: the lab is jumping ahead" in notice
    assert "Paused" in await send(second, '{"command": "pause"}')  # pause, play and speed are taken
    await first.disconnect()
    await second.disconnect()


# -- 2. no message crashes a socket, and a socket that ends is always unregistered -----------


@pytest.mark.parametrize(("raw", "error"), [
    ("[" * 2000 + "]" * 2000, "nested too deeply"),
    ('{"command": "seek", "time_ms": 1' + "0" * 400 + "}", "sensible size"),
    ('{"command": "speed", "speed": 1' + "0" * 400 + "}", "sensible size"),
    ('{"command": "forward", "seconds": 1' + "0" * 400 + "}", "sensible size"),
    ('{"command": "\\ud800"}', "plain Unicode text"),
    ('{"command": "console", "op": "get", "path": "/\\ud800"}', "plain Unicode text"),
    ('{"command": "crash", "node": "m1\\u0000"}', "control characters"),
])
async def test_a_poisonous_message_gets_a_reason_and_the_socket_goes_on(runtime, raw, error):
    lab = await runtime.start_lab("network-basics")
    viewer = await connect(lab.id)
    await send(viewer, '{"command": "pause"}')
    before = (lab.sim.snapshot(), list(lab.log), lab.version)
    notice = await send(viewer, raw)
    assert 'class="notice error"' in notice and error in notice
    assert (lab.sim.snapshot(), list(lab.log), lab.version) == before
    assert "Playing" in await send(viewer, '{"command": "play"}')
    await viewer.disconnect()


async def test_a_handler_that_fails_answers_the_sender_and_keeps_the_socket(runtime, caplog):
    lab = await runtime.start_lab("network-basics")
    viewer = await connect(lab.id)

    async def broken(lab_id, command, by=""):
        raise RuntimeError("a bug")

    runtime.execute = broken
    notice = await send(viewer, '{"command": "pause"}')
    assert "The server failed on that message" in notice
    assert "a bug" in caplog.text  # logged for us, not shown to them
    await viewer.disconnect()


async def test_a_socket_whose_handler_is_cancelled_leaves_no_viewer_behind(runtime):
    lab = await runtime.start_lab("network-basics")
    viewer = await connect(lab.id)
    await next_matching(viewer, 'id="lab-frame"')
    assert runtime.engine.viewers[lab.id] == 1 and roster.local_names(lab.id)
    viewer.future.cancel()  # as daphne does to a handler that "took too long to shut down"
    with pytest.raises(asyncio.CancelledError):
        await viewer.future
    await asyncio.sleep(0.05)
    assert lab.id not in runtime.engine.viewers and lab.id not in runtime.peers.local
    assert not roster.local_names(lab.id) and lab.id not in runtime.fanout.viewers


# -- 3. one budget per visitor; refusals are cheap; flooders are disconnected -----------------


async def test_the_sockets_of_one_session_share_one_budget(runtime):
    lab = await runtime.start_lab("network-basics")
    cookie = await owner_cookie("one-visitor")
    sockets = [await connect(lab.id, cookie) for _ in range(10)]
    for _ in range(4):
        for socket in sockets:
            await socket.send_to(text_data='{"command": "heal"}')
    await asyncio.sleep(0.5)
    accepted = 0
    for socket in sockets:
        while not socket.output_queue.empty():
            accepted += "Healed the network." in await socket.receive_from()
    assert 20 <= accepted < 40  # the burst of one visitor (and what refilled meanwhile), not ten
    for socket in sockets:
        await socket.disconnect()


async def test_a_refused_command_costs_no_lab_work(runtime):
    lab = await runtime.start_lab("network-basics")
    viewer = await connect(lab.id, await owner_cookie("quick"))
    await send(viewer, '{"command": "pause"}')
    version = lab.version
    for _ in range(25):
        await viewer.send_to(text_data='{"command": "heal"}')
    await asyncio.sleep(0.3)
    assert lab.version - version <= 20  # refused ones did not touch the lab
    await viewer.disconnect()


async def test_a_socket_that_keeps_sending_after_it_was_refused_is_closed(runtime):
    lab = await runtime.start_lab("network-basics")
    cookie = await owner_cookie("flooder")
    flooder = await connect(lab.id, cookie)
    for _ in range(200):
        await flooder.send_to(text_data='{"command": "pause"}')
    assert await close_code(flooder) == CLOSE_FLOODING
    await asyncio.sleep(0.05)
    assert lab.id not in runtime.engine.viewers
    # It may not come straight back: its handshake is refused before it costs anything.
    again = WebsocketCommunicator(application, f"/ws/labs/{lab.id}/", headers=[ORIGIN, cookie])
    assert await again.connect(timeout=5) == (False, CLOSE_FLOODING)
    # Another visitor is not affected.
    other = await connect(lab.id, await owner_cookie("someone else"))
    assert "Playing" in await send(other, '{"command": "play"}')
    await other.disconnect()


async def test_what_a_socket_sends_while_its_backlog_is_full_is_dropped_not_held(runtime):
    lab = await runtime.start_lab("network-basics")
    flooder = await connect(lab.id, await owner_cookie("burst"))
    for _ in range(5000):  # all at once, as a socket's read buffer can hand them over
        flooder.input_queue.put_nowait({"type": "websocket.receive", "text": '{"command": "pause"}'})
    assert flooder.input_queue.qsize() == MAX_BACKLOG  # the rest was dropped on arrival
    assert await close_code(flooder) == CLOSE_FLOODING
    await asyncio.sleep(0.05)
    assert lab.id not in runtime.engine.viewers


# -- 8. strings are text before anything is logged ------------------------------------------


async def test_a_lone_surrogate_never_reaches_a_lab_and_its_page_still_renders(runtime):
    lab = await runtime.start_lab("master-election")
    viewer = await connect(lab.id)
    notice = await send(viewer, '{"command": "console", "op": "get", "path": "/\\ud800"}')
    assert "plain Unicode text" in notice
    await viewer.disconnect()
    terminal = await connect((await runtime.start_lab("kafka-messenger")).id, path="terminal/")
    await terminal.send_to(text_data='{"command": "act", "op": "publish", "topic": "t", "value": "\\ud800"}')
    reply = json.loads(await terminal.receive_from(timeout=5))
    assert not reply["ok"] and "plain Unicode text" in reply["text"]
    await terminal.disconnect()
    response = await AsyncClient().get(f"/labs/{lab.id}/")
    assert response.status_code == 200
    json.dumps(lab.state())  # the lab still saves


# -- 12. unroutable WebSocket paths are refused, not a server error --------------------------


@pytest.mark.parametrize("path", ["/ws/labs//", "/ws/labs/a/b/", "/ws/labs/a%2Fb/", "/ws/nothing/",
                                  "/ws/labs/" + "x" * 300 + "/"])
async def test_an_unroutable_socket_path_is_refused(runtime, path):
    communicator = WebsocketCommunicator(application, path, headers=[ORIGIN])
    connected, code = await communicator.connect(timeout=5)
    assert not connected and code == 4404
    await communicator.wait()


# -- 9. a process runs a bounded number of labs ----------------------------------------------


@override_settings(COORDLAB_MAX_LABS=2)
async def test_a_full_process_puts_away_idle_labs_and_refuses_when_every_lab_is_watched(runtime):
    idle = await runtime.start_lab("network-basics")
    watched = await runtime.start_lab("network-basics")
    viewer = await connect(watched.id)
    third = await runtime.start_lab("network-basics")  # the idle one makes room
    assert idle.id not in runtime.engine.labs and await LabRecord.objects.filter(id=idle.id).aexists()
    other_viewer = await connect(third.id)
    with pytest.raises(LabsFull, match="The server is full"):
        await runtime.start_lab("network-basics")
    refused = WebsocketCommunicator(application, f"/ws/labs/{idle.id}/", headers=[ORIGIN])
    connected, _ = await refused.connect(timeout=5)
    assert connected and "The server is full" in await refused.receive_from(timeout=5)
    assert (await refused.receive_output(timeout=5))["code"] == CLOSE_FULL
    await viewer.disconnect()
    await other_viewer.disconnect()


# -- 5. a classroom closed while students watch ----------------------------------------------


async def test_a_students_socket_closes_once_the_classroom_is_closed(runtime, monkeypatch):
    monkeypatch.setattr(consumers, "RECHECK_EVERY_S", 0.1)
    room, _ = await classroom_lab(runtime)
    grace = await student(room, "Grace")
    viewer = await connect(room.lab_id, (b"cookie", f"sessionid={grace}".encode()))
    await next_matching(viewer, 'id="lab-frame"')
    room.closed = True
    await room.asave()
    notice = await next_matching(viewer, 'id="lab-notice"')
    assert "closed" in notice
    assert await close_code(viewer) == consumers.CLOSE_NOT_ALLOWED


# -- 4. a terminal stops only the consumers it started ----------------------------------------


async def test_a_terminal_cannot_stop_someone_elses_consumer_but_stops_its_own(runtime):
    lab = await runtime.start_lab("kafka-groups")
    others = ["workers-1"]  # the lab's own consumer
    terminal = await connect(lab.id, path="terminal/")

    async def request(**message) -> dict:
        await terminal.send_to(text_data=json.dumps(message))
        return await receive(terminal, "reply")

    for op in ("vanish", "leave"):
        version = lab.version
        reply = await request(command="act", op=op, member=others[0])
        assert not reply["ok"] and "only stop the consumers it started" in reply["text"]
        assert lab.version == version
    joined = await request(command="act", op="join", member="terminal-ab12", group="mine", topic="events")
    assert joined["ok"], joined
    assert (await request(command="act", op="leave", member="terminal-ab12"))["ok"]
    await terminal.disconnect()


# -- found by the fuzz ----------------------------------------------------------------------


def test_a_publish_under_a_consumers_name_is_refused_not_a_crash():
    lab = Lab("fuzz", get("kafka-groups"))
    lab.apply(from_data({"command": "act", "op": "join", "member": "terminal-ab12", "group": "g", "topic": "events"}))
    with pytest.raises(CommandError, match="terminal-ab12 is not a producer"):
        lab.apply(from_data({"command": "act", "op": "publish", "producer": "terminal-ab12", "topic": "events",
                             "value": "v"}))


def test_a_master_address_typed_into_the_console_does_not_break_the_picture():
    lab = Lab("fuzz", get("master-election"))
    lab.advance(8_000)
    lab.apply(from_data({"command": "console", "op": "set", "path": "/clusterx/master_ip", "data": "10.0.0.1"}))
    for _ in range(40):
        lab.advance(100)
        render_frame(lab)  # app servers ask a machine that is not in the picture


def test_a_config_change_right_after_new_partitions_keeps_the_partitions():
    lab = Lab("fuzz", get("kafka-groups"))
    lab.advance(2_000)
    lab.apply(from_data({"command": "act", "op": "add_partitions", "topic": "events", "partitions": 5}))
    lab.apply(from_data({"command": "act", "op": "set_retention", "topic": "events", "retention_ms": 60000}))
    for _ in range(50):
        lab.advance(100)
    controller = next(node for node in lab.sim.nodes.values() if getattr(node, "controller", None) is not None)
    topic = controller.controller.topics["events"]
    assert len(topic.assignment) == 5 and topic.config["retention.ms"] == "60000"


def test_more_partitions_than_live_brokers_can_hold_are_refused_as_kafka_does():
    lab = Lab("fuzz", get("kafka-groups"))
    lab.advance(2_000)
    lab.apply(from_data({"command": "crash", "node": "b2"}))
    lab.apply(from_data({"command": "crash", "node": "b3"}))
    lab.advance(15_000)
    lab.apply(from_data({"command": "act", "op": "add_partitions", "topic": "events", "partitions": 6}))
    refusals: set[str] = set()
    for _ in range(300):  # the admin client first finds the controller among the brokers left
        lab.advance(100)
        refusals |= {event.text for event in lab.sim.trace_log.events if event.kind == "admin_refused"}
    assert refusals == {"The controller refused: InvalidReplicationFactorError (Replication factor: 3 larger "
                        "than available brokers: 1.)."}


async def test_a_client_that_waits_as_told_is_slowed_down_but_never_closed(runtime, monkeypatch):
    monkeypatch.setattr(consumers, "REFUSAL_BURST", 5)  # a small allowance: waiting must not spend it
    lab = await runtime.start_lab("kafka-groups")
    terminal = await connect(lab.id, path="terminal/")
    message = json.dumps({"command": "act", "op": "publish", "topic": "events", "value": "v"})
    answered = waits = 0
    while answered < 40:  # twice the burst: half of them wait for a token
        await terminal.send_to(text_data=message)
        reply = json.loads(await terminal.receive_from(timeout=5))
        if "retry_after" in reply:
            waits += 1
            await asyncio.sleep(reply["retry_after"])
        else:
            assert reply["ok"], reply
            answered += 1
    assert waits >= 15
    await terminal.disconnect()
