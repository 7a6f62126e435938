"""WebSocket frames encoded once for every viewer."""

from __future__ import annotations

import pytest
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.streams import StreamReader

from coordlab.labs.transport import encode_deflated_frame, encode_text_frame, innermost_send


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


@pytest.mark.parametrize("size", [0, 1, 200, 70_000])
def test_deflated_frames_decode_as_permessage_deflate_messages_in_any_order(size):
    """Compressed without context takeover: a client that keeps its window (as browsers do)
    decodes each frame, whatever it decoded before."""
    from websockets.extensions.permessage_deflate import PerMessageDeflate

    texts = [f"<div id='lab-status' data-now='{n}'>" + "x" * size + "</div>" for n in range(3)]
    client = PerMessageDeflate(remote_no_context_takeover=False, local_no_context_takeover=False,
                               remote_max_window_bits=15, local_max_window_bits=15)
    for text in (*texts, *reversed(texts)):
        reader = StreamReader()
        reader.feed_data(encode_deflated_frame(text))
        reader.feed_eof()
        parser = WsFrame.parse(reader.read_exact, mask=False, extensions=[client])
        try:
            next(parser)
        except StopIteration as done:
            frame = done.value
        assert frame.opcode is Opcode.TEXT and frame.data.decode() == text
    assert len(encode_deflated_frame(texts[0])) < len(encode_text_frame(texts[0])) or size < 50


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
