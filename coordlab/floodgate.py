"""The flood gate: a visitor whose socket was closed for flooding may not open another
for ``BAN_S`` seconds. It stands in front of everything else a WebSocket handshake
costs (the session and user lookups, the lab, the access check), so a flooder that
reconnects in a loop costs the server next to nothing.

A visitor is their session cookie if they send one, else their network address.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from django.conf import settings

from coordlab.ratelimit import client_address

BAN_S = 30.0
MAX_BANNED = 10_000
CLOSE_FLOODING = 4429

_banned: OrderedDict[str, float] = OrderedDict()  # visitor → when the ban ends (monotonic)


def visitor(scope: dict[str, Any]) -> str:
    """The key a handshake's visitor is banned by: their session cookie, else their address."""
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                key, _, cookie = part.strip().partition("=")
                if key == settings.SESSION_COOKIE_NAME and cookie:
                    return "session:" + cookie
    return "address:" + client_address(scope)


def ban(scope: dict[str, Any]) -> None:
    key = visitor(scope)
    _banned.pop(key, None)
    _banned[key] = time.monotonic() + BAN_S
    while len(_banned) > MAX_BANNED:
        _banned.popitem(last=False)


def banned(scope: dict[str, Any]) -> bool:
    key = visitor(scope)
    until = _banned.get(key)
    if until is None:
        return False
    if until <= time.monotonic():
        del _banned[key]
        return False
    return True


def forget() -> None:
    """Lift every ban (tests)."""
    _banned.clear()


class FloodGate:
    """ASGI middleware: refuses the handshakes of banned visitors (daphne answers HTTP 403)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and banned(scope):
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": CLOSE_FLOODING})
            return
        await self.app(scope, receive, send)
