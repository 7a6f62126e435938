"""The lab WebSocket consumer, through the real ASGI application."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
from channels.testing import WebsocketCommunicator

from coordlab import consumers
from coordlab.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


async def connect(lab_id: str, headers=(ORIGIN,)) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ws/labs/{lab_id}/", headers=list(headers))
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def next_matching(communicator: WebsocketCommunicator, needle: str, timeout: float = 3) -> str:
    """The next message that contains ``needle`` (frames keep arriving meanwhile)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"no message containing {needle!r}"
        text = await communicator.receive_from(timeout=remaining)
        if needle in text:
            return text


async def send(communicator, **command):
    await communicator.send_to(text_data=json.dumps(command))
    return await next_matching(communicator, 'id="lab-notice"')


@pytest.fixture
async def lab(runtime):
    return await runtime.start_lab("network-basics")


async def test_a_viewer_gets_frames_and_a_valid_command_changes_the_lab(runtime, lab):
    viewer = await connect(lab.id)
    frame = await next_matching(viewer, 'id="lab-frame"')
    assert 'id="machine-m3"' in frame and 'hx-swap-oob="morph"' in frame
    notice = await send(viewer, command="crash", node="m3")
    assert "Killed m3." in notice and "error" not in notice
    frame = await next_matching(viewer, 'data-state="down"')
    assert "m3 was killed" in frame
    await viewer.disconnect()


async def test_two_viewers_see_each_others_commands(runtime, lab):
    first, second = await connect(lab.id), await connect(lab.id)
    await send(first, command="crash", node="m2")
    frame = await next_matching(second, 'id="machine-m2" class="machine down"')
    assert "m2 was killed" in frame
    await first.disconnect()
    await second.disconnect()


@pytest.mark.parametrize(("raw", "error"), [
    ("{this is not json", "not valid JSON"),
    ('{"command": "launch-missiles"}', "Unknown command"),
    ('{"command": "crash", "node": "m99"}', "no machine &#x27;m99&#x27;"),
    (json.dumps({"command": "crash", "node": "m1", "pad": "x" * 10_000_000}), "a command may be at most"),
])
async def test_bad_input_gets_an_error_and_changes_nothing(runtime, lab, raw, error):
    viewer = await connect(lab.id)
    await send(viewer, command="pause")
    before = (lab.sim.snapshot(), list(lab.log), lab.playing, lab.speed)
    await viewer.send_to(text_data=raw)
    notice = await next_matching(viewer, 'id="lab-notice"')
    assert 'class="notice error"' in notice and error in notice
    assert (lab.sim.snapshot(), list(lab.log), lab.playing, lab.speed) == before
    # The socket stays open and keeps working.
    assert "Playing" in await send(viewer, command="play")
    await viewer.disconnect()


async def test_binary_message_is_an_error_not_a_crash(runtime, lab):
    viewer = await connect(lab.id)
    await viewer.send_to(bytes_data=b"\x00\x01\x02")
    notice = await next_matching(viewer, 'id="lab-notice"')
    assert "not valid JSON" in notice
    await viewer.disconnect()


async def test_a_flood_of_commands_is_rate_limited(runtime, lab, monkeypatch):
    # The session's budget sees no time pass: on a slow machine, sending 30 messages took long
    # enough for the budget to refill a token, and a 21st command went through.
    monkeypatch.setattr(consumers.SESSIONS, "clock", lambda: 0.0)
    viewer = await connect(lab.id)
    for _ in range(30):
        await viewer.send_to(text_data='{"command": "pause"}')
    notices = []
    with contextlib.suppress(asyncio.TimeoutError):  # (the answers may take a while on a busy machine)
        while len(notices) < 21:
            text = await viewer.receive_from(timeout=10)
            if 'id="lab-notice"' in text:
                notices.append(text)
    await asyncio.sleep(0.5)  # and then nothing more comes
    while not viewer.output_queue.empty():
        text = await viewer.receive_from()
        if 'id="lab-notice"' in text:
            notices.append(text)
    assert sum("Paused." in n for n in notices) == 20  # the burst
    # The rest are refused, and the page is told so once, not once per message.
    assert sum("Too many commands" in n for n in notices) == 1
    await viewer.disconnect()


async def test_bad_input_from_one_viewer_does_not_delay_another(runtime, lab):
    noisy, quiet = await connect(lab.id), await connect(lab.id)
    await next_matching(quiet, 'id="lab-frame"')
    for _ in range(20):
        await noisy.send_to(text_data="x" * 100_000)
    start = asyncio.get_running_loop().time()
    seqs = []
    while len(seqs) < 5:
        text = await next_matching(quiet, 'id="lab-frame"')
        seqs.append(int(text.split('data-seq="')[1].split('"')[0]))
    assert seqs == sorted(seqs) and asyncio.get_running_loop().time() - start < 2
    await noisy.disconnect()
    await quiet.disconnect()


async def test_unknown_lab_is_refused(runtime):
    communicator = WebsocketCommunicator(application, "/ws/labs/nosuchlab/", headers=[ORIGIN])
    connected, code = await communicator.connect(timeout=5)
    assert not connected and code == 4404


async def test_foreign_origin_is_refused(runtime, lab):
    communicator = WebsocketCommunicator(application, f"/ws/labs/{lab.id}/",
                                         headers=[(b"origin", b"http://evil.example")])
    connected, _ = await communicator.connect(timeout=5)
    assert not connected


async def test_a_viewer_leaving_stops_the_lab_clock_when_nobody_watches(runtime, lab):
    viewer = await connect(lab.id)
    await next_matching(viewer, 'id="lab-frame"')
    await viewer.disconnect()
    await asyncio.sleep(0.1)
    frozen = lab.now
    await asyncio.sleep(0.3)
    assert lab.now == frozen and lab.id not in runtime.engine.viewers


async def test_a_kafka_action_reaches_the_lab_and_a_bad_one_is_refused_with_a_reason(runtime):
    lab = await runtime.start_lab("kafka-keys")
    viewer = await connect(lab.id)
    await next_matching(viewer, 'id="kafka-cluster"')
    notice = await send(viewer, command="act", op="publish", topic="chat", key="user-3", value="hi", acks="all")
    assert "murmur2(“user-3”)" in notice and "% 4 partitions = partition" in notice
    await next_matching(viewer, "at offset", timeout=5)  # the web producer's outcome, in a frame
    for command, reason in (
        ({"op": "publish", "topic": "nope", "value": "x"}, "There is no topic"),
        ({"op": "publish", "topic": "chat", "value": "x" * 5000}, "a command may be at most"),
        ({"op": "create_topic", "topic": "t", "partitions": "-1"}, "must be from 1 to 12"),
        ({"op": "add_consumer", "group": "<script>"}, "A group name is a short lowercase word"),
        ({"op": "publish", "topic": ["chat"], "value": "x"}, "must be text, a number or true/false"),
    ):
        notice = await send(viewer, command="act", **command)
        assert "Not done" in notice and reason in notice, notice
    await viewer.disconnect()


async def test_a_zookeeper_lab_has_no_kafka_actions(runtime):
    lab = await runtime.start_lab("leader-election")
    viewer = await connect(lab.id)
    notice = await send(viewer, command="act", op="publish", topic="chat")
    assert "This lab has no actions of its own." in notice
    await viewer.disconnect()
