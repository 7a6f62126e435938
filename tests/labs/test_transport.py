"""WebSocket frames encoded once for every viewer."""

from __future__ import annotations

import pytest
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.streams import StreamReader

from coordlab.labs.transport import encode_text_frame, innermost_send


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 300_000])
def test_encoded_frames_parse_as_websocket_text_frames(size):
    text = ("é" * size)[:size]
    reader = StreamReader()
    reader.feed_data(encode_text_frame(text))
    reader.feed_eof()
    parser = WsFrame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data.decode() == text


def test_innermost_send_looks_through_session_wrappers():
    async def real_send(message):
        return None

    class Wrapper:
        def __init__(self, inner):
            self.real_send = inner

        async def send(self, message):
            await self.real_send(message)

    assert innermost_send(Wrapper(Wrapper(real_send).send).send) is real_send
    assert innermost_send(real_send) is real_send
