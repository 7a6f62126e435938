"""What the fan-out may do with a viewer's socket, server by server.

Through plain ASGI, every frame to every viewer costs a ``send`` call: under
daphne, autobahn frames the message in Python and Twisted buffers it, then
registers and unregisters the socket for writing on the next reactor pass.
For a lecture hall that is most of the server's work, so under daphne the
fan-out takes a leaner path: it encodes each WebSocket frame once (server
frames are unmasked, so the bytes are the same for every viewer) and writes
them straight to each connection's non-blocking socket, handing any part the
kernel does not take at once to Twisted as before.

That is only safe while nothing else is waiting to be written on the
connection, which is also how a viewer that stops reading is noticed:
``DaphneSocket.backlog`` is what Twisted still holds for it. The fan-out sends
nothing more to such a viewer until it has drained, and then only the latest
frame. The kernel buffers too (megabytes on loopback for a stalled reader),
so the socket's send buffer is capped at ``SEND_BUFFER_BYTES``, many frames.

For daphne the ASGI ``send`` callable is a ``functools.partial`` of the
server's ``handle_reply`` bound to the connection's autobahn protocol; Channels'
session middleware wraps it, and for WebSocket messages only passes them on.
Any other server gets the plain ASGI path.
"""

from __future__ import annotations

import functools
import socket
import struct
import zlib
from collections.abc import Callable
from typing import Any

SEND_BUFFER_BYTES = 256 * 1024
TEXT_FRAME = 0x81  # FIN bit + opcode 1 (text)
DEFLATED_TEXT_FRAME = 0xC1  # FIN + RSV1 (the message is compressed, RFC 7692) + opcode 1
DEFLATE_LEVEL = 6


def encode_text_frame(text: str) -> bytes:
    """One unfragmented, unmasked WebSocket text frame (RFC 6455, section 5.2)."""
    return _frame(TEXT_FRAME, text.encode())


def encode_deflated_frame(text: str) -> bytes:
    """The same frame compressed for a connection that negotiated permessage-deflate with
    ``server_no_context_takeover`` (RFC 7692, section 7.2.1): each message is compressed on
    its own, so the bytes are the same for every such viewer."""
    compressor = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    payload = compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return _frame(DEFLATED_TEXT_FRAME, payload[:-4])  # without the 00 00 ff ff the flush ends with


def _frame(first: int, payload: bytes) -> bytes:
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + payload


def innermost_send(send: Callable[..., Any]) -> Callable[..., Any]:
    """The server's own send callable under Channels' pass-through wrappers."""
    for _ in range(8):
        inner = getattr(getattr(send, "__self__", None), "real_send", None)
        if inner is None:
            break
        send = inner
    return send


class DaphneSocket:
    """Direct writes of pre-encoded frames to one daphne WebSocket connection."""

    __slots__ = ("deflated", "protocol", "sock", "transport")

    def __init__(self, protocol: Any, transport: Any) -> None:
        self.protocol = protocol
        self.transport = transport
        self.sock = transport.socket
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        #: the connection negotiated permessage-deflate (``coordlab.serve`` offers it without context
        #: takeover, the only way the same compressed bytes fit every viewer)
        compression = getattr(protocol, "_perMessageCompress", None)
        self.deflated = compression is not None and bool(getattr(compression, "server_no_context_takeover", False))

    def backlog(self) -> int:
        """Bytes Twisted still holds for this connection."""
        transport = self.transport
        pending: int = len(transport.dataBuffer) - transport.offset + transport._tempDataLen
        return pending

    def write(self, frame: bytes) -> bool:
        """Send a whole frame (call only when ``backlog()`` is 0); False if the connection is gone."""
        if self.protocol.state != self.protocol.STATE_OPEN or self.transport.disconnecting:
            return False
        try:
            sent = self.sock.send(frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            return False  # reset or closed: daphne notices and disconnects the consumer
        if sent < len(frame):
            self.transport.write(frame[sent:])
        return True


def daphne_socket(send: Callable[..., Any]) -> DaphneSocket | None:
    """A ``DaphneSocket`` for this ASGI send callable, or None if not under daphne."""
    protocol = daphne_protocol(send)
    transport = getattr(protocol, "transport", None)
    needed = ("dataBuffer", "offset", "_tempDataLen", "socket", "disconnecting")
    if transport is None or not hasattr(protocol, "STATE_OPEN") or not all(hasattr(transport, n) for n in needed):
        return None
    return DaphneSocket(protocol, transport)


def daphne_protocol(send: Callable[..., Any]) -> Any | None:
    """The daphne protocol object (one WebSocket connection) behind an ASGI send callable, or
    None if not under daphne."""
    send = innermost_send(send)
    if not isinstance(send, functools.partial) or not send.args:
        return None
    return send.args[0]
