"""The engine renders once per change and the fan-out never lets one viewer slow the rest."""

from __future__ import annotations

import asyncio

from channels.layers import InMemoryChannelLayer

from coordlab.labs.commands import from_data
from coordlab.labs.engine import Engine
from coordlab.labs.fanout import Fanout, Frame, Viewer, group_name
from coordlab.labs.registry import get


class Published(list):
    async def __call__(self, lab_id, seq, fragments):
        self.append((lab_id, seq, "".join(fragments)))


def make_engine():
    published = Published()
    engine = Engine(render=lambda lab: [f"t={lab.now}"], publish=published)
    return engine, published


async def test_unwatched_labs_do_not_advance_or_render():
    engine, published = make_engine()
    lab = engine.start_lab(get("network-basics"))
    await engine.tick(500)
    assert lab.now == 0 and published == []


async def test_a_watched_lab_renders_once_per_change_and_not_while_paused():
    engine, published = make_engine()
    lab = engine.start_lab(get("network-basics"))
    engine.viewer_joined(lab.id)
    await engine.tick(50)
    await engine.tick(50)
    assert [html for _, _, html in published] == ["t=50", "t=100"]
    engine.submit(lab.id, from_data({"command": "pause"}))
    await engine.tick(50)
    await engine.tick(50)
    assert [seq for _, seq, _ in published] == [1, 2, 3]  # one frame for the pause itself
    engine.viewer_joined(lab.id)  # a new viewer forces a fresh frame
    await engine.tick(50)
    assert len(published) == 4


async def test_a_lab_whose_render_fails_is_paused_and_others_go_on():
    published = Published()

    def render(lab):
        if lab.id == "broken":
            raise RuntimeError("bug")
        return ["ok"]

    engine = Engine(render=render, publish=published)
    broken = engine.start_lab(get("network-basics"), lab_id="broken")
    fine = engine.start_lab(get("network-basics"), lab_id="fine")
    for lab in (broken, fine):
        engine.viewer_joined(lab.id)
    await engine.tick(50)
    assert not broken.playing and [lab_id for lab_id, _, _ in published] == ["fine"]


class StuckSocket:
    """A send that never completes, like a viewer that stopped reading."""

    def __init__(self):
        self.started = []

    async def __call__(self, message):
        self.started.append(message)
        await asyncio.Event().wait()


class FastSocket:
    def __init__(self):
        self.got = []

    async def __call__(self, message):
        self.got.append(message)


async def test_a_stuck_viewer_keeps_only_the_latest_frame_and_never_delays_the_others():
    stuck_socket, fast_socket = StuckSocket(), FastSocket()
    stuck, fast = Viewer(stuck_socket), Viewer(fast_socket)
    for n in range(100):
        frame = Frame(str(n))
        stuck.push(frame)
        fast.push(frame)
    assert [m["text"] for m in fast_socket.got] == [str(n) for n in range(100)]
    assert len(stuck_socket.started) == 1 and stuck.busy
    assert stuck.waiting.message["text"] == "99"


async def test_a_slow_viewer_gets_the_latest_frame_when_its_send_completes():
    gate = asyncio.Event()
    got = []

    async def slow_send(message):
        await gate.wait()
        got.append(message["text"])

    viewer = Viewer(slow_send)
    for n in range(5):
        viewer.push(Frame(str(n)))
    gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert got == ["0", "4"] and not viewer.busy


async def test_a_viewer_that_skips_a_frame_still_gets_the_fragments_only_that_frame_changed():
    stuck_socket = StuckSocket()
    viewer = Viewer(stuck_socket)
    viewer.push(Frame.build(1, 0.0, ['<div id="a">1</div>', '<div id="b">1</div>']))
    viewer.push(Frame.build(2, 0.0, ['<div id="a">2</div>', '<div id="controls">paused</div>']))
    viewer.push(Frame.build(3, 0.0, ['<div id="a">3</div>']))
    text = viewer.waiting.message["text"]
    assert 'data-seq="3"' in text
    assert text.endswith('<div id="controls">paused</div><div id="a">3</div>'), "frame 2's other change is kept"
    assert '<div id="a">2</div>' not in text, "a fragment sent again replaces the older one"


async def test_a_failing_send_drops_only_that_viewer():
    async def broken_send(message):
        raise ConnectionResetError

    viewer = Viewer(broken_send)
    viewer.push(Frame("x"))
    assert viewer.closed


async def test_fanout_sends_one_encoded_message_to_every_local_viewer():
    layer = InMemoryChannelLayer()
    fanout = Fanout(layer)
    relay = await fanout.start()
    sockets = [FastSocket() for _ in range(3)]
    try:
        for socket in sockets:
            await fanout.join("lab1", Viewer(socket))
        await layer.group_send(group_name("lab1"), {"type": "lab.frame", "lab": "lab1", "seq": 4,
                                                    "sent": 1000.0, "fragments": ["<p>hi</p>"]})
        for _ in range(20):
            await asyncio.sleep(0.01)
            if all(s.got for s in sockets):
                break
        messages = [s.got[0] for s in sockets]
        assert all(m is messages[0] for m in messages), "the same message object for every viewer"
        assert messages[0]["text"].endswith("<p>hi</p>") and 'data-seq="4"' in messages[0]["text"]
        late = FastSocket()
        await fanout.join("lab1", Viewer(late))
        assert late.got == [messages[0]], "a new viewer gets the latest frame at once"
    finally:
        relay.cancel()
        await fanout.stop()


async def test_frames_carry_only_changed_fragments_between_full_frames():
    from coordlab.labs.engine import FULL_FRAME_EVERY

    published = Published()
    engine = Engine(render=lambda lab: [f"<a>{lab.now}</a>", "<b>same</b>"], publish=published)
    lab = engine.start_lab(get("network-basics"))
    engine.viewer_joined(lab.id)
    for _ in range(FULL_FRAME_EVERY + 1):
        await engine.tick(50)
    frames = [html for _, _, html in published]
    assert frames[0] == "<a>50</a><b>same</b>", "the first frame is full"
    assert frames[1] == "<a>100</a>", "then only what changed"
    assert frames[FULL_FRAME_EVERY] == f"<a>{50 * (FULL_FRAME_EVERY + 1)}</a><b>same</b>", "and full again"
    engine.viewer_joined(lab.id)
    await engine.tick(50)
    assert published[-1][2].endswith("<b>same</b>"), "a new viewer gets a full frame"
