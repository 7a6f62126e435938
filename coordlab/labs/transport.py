"""What the fan-out may learn about a viewer's socket, server by server.

ASGI hides the socket, but a viewer that stops reading must not make the
server buffer frames for it without end (Twisted, under daphne, buffers every
write). For daphne the ASGI ``send`` callable is a ``functools.partial`` of the
server's ``handle_reply`` bound to the connection's protocol, whose Twisted
transport knows how many bytes still wait to be written. ``backlog_probe``
returns a function that reads that number, or None where it cannot be known
(then only sends that really wait count as backlog).

The kernel buffers too: on loopback it would take megabytes for a socket
whose reader stopped. ``backlog_probe`` caps the socket's kernel send buffer
at ``SEND_BUFFER_BYTES`` (many frames; far more than a healthy viewer needs at
20 frames per second), so a stalled viewer soon shows a backlog.

Channels' session middleware wraps ``send`` to save sessions on HTTP
responses; for WebSocket frames it only passes the message on, so
``innermost_send`` looks through it to reach the server's own callable.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from typing import Any

SEND_BUFFER_BYTES = 256 * 1024


def innermost_send(send: Callable[..., Any]) -> Callable[..., Any]:
    """The server's own send callable under Channels' pass-through wrappers."""
    for _ in range(8):
        inner = getattr(getattr(send, "__self__", None), "real_send", None)
        if inner is None:
            break
        send = inner
    return send


def backlog_probe(send: Callable[..., Any]) -> Callable[[], int] | None:
    """A function returning the bytes still buffered for this socket, if knowable."""
    send = innermost_send(send)
    if not isinstance(send, functools.partial) or not send.args:
        return None
    transport = getattr(send.args[0], "transport", None)
    if transport is None or not all(hasattr(transport, name) for name in ("dataBuffer", "offset", "_tempDataLen")):
        return None
    sock = getattr(transport, "socket", None)
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)

    def backlog() -> int:
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    return backlog
