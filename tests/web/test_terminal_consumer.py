"""The terminal WebSocket consumer, through the real ASGI application.

Kafka's own actions (publish, join, leave, vanish) and machine outboxes belong
to the Kafka lab; here a fake stands in for them on a basics lab (whose kind
declares the same terminal actions for the test), so these tests hold the
consumer's side of the contract alone."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re

import pytest
from channels.testing import WebsocketCommunicator

from coordlab.asgi import application
from coordlab.labs import registry
from coordlab.labs.commands import Command, CommandError
from coordlab.labs.kinds import JOINS, LEAVES, VANISHES, Action

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


async def connect(lab_id: str, headers=(ORIGIN,)) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ws/labs/{lab_id}/terminal/", headers=list(headers))
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def receive(terminal: WebsocketCommunicator, kind: str, timeout: float = 3) -> dict:
    """The next message of type ``kind`` (outbox pushes may come between replies)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"no {kind} message"
        message = json.loads(await terminal.receive_from(timeout=remaining))
        if message["type"] == kind:
            return message


async def request(terminal: WebsocketCommunicator, **message) -> dict:
    await terminal.send_to(text_data=json.dumps(message))
    return await receive(terminal, "reply")


class FakeKafka:
    """What the Kafka lab would do with act commands, and machine outboxes the test fills."""

    def __init__(self, runtime) -> None:
        self.execute = runtime.execute
        self.acts: list[dict] = []
        self.outboxes: dict[str, list[dict]] = {}
        self.dropped: dict[str, int] = {}  # items a machine dropped from the front of its outbox
        runtime.execute = self.fake_execute
        runtime.outbox = self.fake_outbox

    async def fake_execute(self, lab_id: str, command: Command) -> str:
        if command.name != "act":
            return await self.execute(lab_id, command)
        self.acts.append({"op": command.args["op"], **command.args["fields"]})
        if command.args["fields"].get("topic") == "missing":
            raise CommandError("There is no topic 'missing' in this cluster.")
        return f"{command.args['op']} done."

    async def fake_outbox(self, lab_id: str, node: str, after: int) -> tuple[list[dict], int]:
        start = self.dropped.get(node, 0)
        items = self.outboxes.get(node, [])[start:]
        return items[max(0, after - start):], start + len(items)


@pytest.fixture
async def lab(runtime):
    return await runtime.start_lab("network-basics")


def never(*args):
    raise AssertionError("the fake's execute stands in for the lab")


@pytest.fixture
def kafka(runtime, monkeypatch):
    actions = {"publish": Action(never, never, terminal=True), "join": Action(never, never, True, JOINS),
               "leave": Action(never, never, True, LEAVES), "vanish": Action(never, never, True, VANISHES),
               "traffic": Action(never, never)}
    basics = dataclasses.replace(registry.kind("basics"), actions=actions,
                                 terminal_machine=re.compile(r"terminal-[a-z0-9]{4}"))
    monkeypatch.setitem(registry._kinds, "basics", basics)
    return FakeKafka(runtime)


async def test_a_command_gets_a_json_reply(runtime, lab, kafka):
    terminal = await connect(lab.id)
    reply = await request(terminal, command="act", op="publish", topic="orders", value="hi")
    assert reply == {"type": "reply", "ok": True, "text": "publish done."}
    reply = await request(terminal, command="act", op="publish", topic="missing", value="hi")
    assert reply["ok"] is False and "no topic 'missing'" in reply["text"]
    await terminal.disconnect()


@pytest.mark.parametrize("command", [{"command": "crash", "node": "m3"}, {"command": "pause"},
                                     {"command": "act", "op": "create_topic", "topic": "t"}])
async def test_a_terminal_is_a_client_of_the_lab_not_its_operator(runtime, lab, kafka, command):
    terminal = await connect(lab.id)
    reply = await request(terminal, **command)
    assert reply["ok"] is False and "A terminal publishes and consumes" in reply["text"]
    assert lab.sim.nodes["m3"].alive and lab.playing and kafka.acts == []
    await terminal.disconnect()


async def test_a_terminal_gets_no_frames_but_keeps_the_lab_clock_running(runtime, lab):
    terminal = await connect(lab.id)
    assert lab.id in runtime.engine.viewers
    before = lab.now
    await asyncio.sleep(0.4)
    assert lab.now > before
    assert await terminal.receive_nothing(timeout=0.2)
    await terminal.disconnect()
    await asyncio.sleep(0.1)
    assert lab.id not in runtime.engine.viewers


@pytest.mark.parametrize(("raw", "error"), [
    ("{this is not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"command": "launch-missiles"}', "Unknown command"),
    ('{"follow": "m1"}', "'follow' must name a terminal's machine"),
    ('{"follow": ["terminal-ab12"]}', "'follow' must name a terminal's machine"),
    (json.dumps({"follow": "terminal-ab12", "pad": "x" * 10_000}), "a command may be at most"),
    (json.dumps({"command": "crash", "node": "m1", "pad": "x" * 10_000_000}), "a command may be at most"),
])
async def test_bad_input_gets_an_error_reply_and_the_connection_stays(runtime, lab, kafka, raw, error):
    terminal = await connect(lab.id)
    await terminal.send_to(text_data=raw)
    reply = await receive(terminal, "reply")
    assert reply["ok"] is False and error in reply["text"]
    assert (await request(terminal, command="act", op="publish", topic="orders", value="v"))["ok"] is True
    await terminal.disconnect()


async def test_binary_message_is_an_error_not_a_crash(runtime, lab):
    terminal = await connect(lab.id)
    await terminal.send_to(bytes_data=b"\x00\x01\x02")
    reply = await receive(terminal, "reply")
    assert reply["ok"] is False and "not valid JSON" in reply["text"]
    await terminal.disconnect()


async def test_a_flood_is_rate_limited_with_a_hint_when_to_retry(runtime, lab, kafka):
    terminal = await connect(lab.id)
    for _ in range(30):
        await terminal.send_to(text_data='{"command": "act", "op": "publish", "topic": "orders", "value": "v"}')
    replies = [await receive(terminal, "reply") for _ in range(30)]
    limited = [reply for reply in replies if not reply["ok"]]
    assert len(limited) >= 5 and all("Too many commands" in r["text"] and r["retry_after"] > 0 for r in limited)
    await terminal.disconnect()


async def test_unknown_lab_is_refused(runtime):
    communicator = WebsocketCommunicator(application, "/ws/labs/nosuchlab/terminal/", headers=[ORIGIN])
    connected, code = await communicator.connect(timeout=5)
    assert not connected and code == 4404


@pytest.mark.parametrize("headers", [[(b"origin", b"http://evil.example")], []], ids=["foreign", "none"])
async def test_a_foreign_or_missing_origin_is_refused(runtime, lab, headers):
    communicator = WebsocketCommunicator(application, f"/ws/labs/{lab.id}/terminal/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert not connected


async def test_act_commands_reach_the_lab_with_their_fields(runtime, lab, kafka):
    terminal = await connect(lab.id)
    reply = await request(terminal, command="act", op="publish", producer="terminal-ab12", topic="orders",
                          key="21", value="hello", acks="all")
    assert reply == {"type": "reply", "ok": True, "text": "publish done."}
    assert kafka.acts == [{"op": "publish", "producer": "terminal-ab12", "topic": "orders", "key": "21",
                           "value": "hello", "acks": "all"}]
    reply = await request(terminal, command="act", op="join", member="terminal-cd34", topic="missing", group="g")
    assert reply == {"type": "reply", "ok": False, "text": "There is no topic 'missing' in this cluster."}
    await terminal.disconnect()


async def test_a_followed_machine_s_outbox_is_pushed_as_it_grows(runtime, lab, kafka):
    terminal = await connect(lab.id)
    kafka.outboxes["terminal-cd34"] = [{"offset": 0}, {"offset": 1}]
    kafka.outboxes["terminal-zz99"] = [{"offset": 99}]  # somebody else's
    assert await request(terminal, follow="terminal-cd34") == {"type": "reply", "ok": True,
                                                               "text": "Following terminal-cd34."}
    first = await receive(terminal, "outbox")
    assert first == {"type": "outbox", "node": "terminal-cd34", "items": [{"offset": 0}, {"offset": 1}]}
    kafka.outboxes["terminal-cd34"].append({"offset": 2})
    assert (await receive(terminal, "outbox"))["items"] == [{"offset": 2}]
    # The machine dropped items the terminal never saw: it is told how many.
    kafka.outboxes["terminal-cd34"] += [{"offset": 3}, {"offset": 4}, {"offset": 5}]
    kafka.dropped["terminal-cd34"] = 5
    assert await receive(terminal, "outbox") == {"type": "outbox", "node": "terminal-cd34",
                                                 "items": [{"offset": 5}], "skipped": 2}
    assert await terminal.receive_nothing(timeout=0.3)
    await terminal.disconnect()


async def test_a_big_backlog_comes_in_messages_the_server_may_send(runtime, lab, kafka):
    """A socket message is at most MAX_SOCKET_MESSAGE_BYTES either way (daphne will not send a
    larger one): a backlog of big records comes in several, every record once, in order."""
    from coordlab.labs.commands import MAX_SOCKET_MESSAGE_BYTES

    terminal = await connect(lab.id)
    kafka.outboxes["terminal-cd34"] = [{"offset": n, "value": "v" * 1000} for n in range(400)]
    await request(terminal, follow="terminal-cd34")
    got, sizes = [], []
    while len(got) < 400:
        raw = await terminal.receive_from(timeout=3)
        message = json.loads(raw)
        if message["type"] == "outbox":
            got += [item["offset"] for item in message["items"]]
            sizes.append(len(raw.encode()))
    assert got == list(range(400)) and len(sizes) > 1
    assert max(sizes) <= MAX_SOCKET_MESSAGE_BYTES
    await terminal.disconnect()


async def test_a_member_that_drops_without_leaving_vanishes(runtime, lab, kafka):
    terminal = await connect(lab.id)
    await request(terminal, follow="terminal-cd34")
    await request(terminal, command="act", op="join", member="terminal-cd34", topic="orders", group="billing")
    await terminal.disconnect()
    assert kafka.acts[-1] == {"op": "vanish", "member": "terminal-cd34"}


async def test_a_member_that_left_does_not_vanish(runtime, lab, kafka):
    terminal = await connect(lab.id)
    await request(terminal, follow="terminal-cd34")
    await request(terminal, command="act", op="join", member="terminal-cd34", topic="orders", group="billing")
    await request(terminal, command="act", op="leave", member="terminal-cd34")
    await terminal.disconnect()
    assert [act["op"] for act in kafka.acts] == ["join", "leave"]


async def test_a_join_the_lab_refused_does_not_vanish(runtime, lab, kafka):
    terminal = await connect(lab.id)
    await request(terminal, command="act", op="join", member="terminal-cd34", topic="missing", group="billing")
    await terminal.disconnect()
    assert [act["op"] for act in kafka.acts] == ["join"]
