"""Run CoordLab under daphne with the project's server options.

``python -m coordlab.serve [--port 8000] [--host 127.0.0.1]`` is what
``make run``, the browser tests and the benchmark start, so they all run the
same server. With ``--lecture`` (``make lecture``) it serves a lecture hall: it
listens on every interface, answers to this machine's LAN addresses and names
(and to each ``--allow-host``), and prints the join address to give students
(see ``coordlab.lecture``).

A WebSocket message may be at most ``MAX_SOCKET_MESSAGE_BYTES`` (64 KiB) either way:
daphne closes a socket that sends a larger one with 1009 ("message too big") before
reading it into memory, and the same limit holds for what it sends. A command is at
most 4 KiB (``MAX_COMMAND_BYTES``): a larger one within the limit is answered with an
error. (A 4 KiB limit here would also have stopped every message the server sends
through Channels above 4 KiB, such as a terminal's batch of records.)

On SIGTERM or SIGINT, every lab that changed since its last save is saved to the
database before the server exits (at most ``SHUTDOWN_SAVE_TIMEOUT`` seconds), so a
restarted server resumes each lab where it was.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from typing import Any

from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from daphne import server as daphne_server
from daphne.cli import CommandLineInterface  # installs Twisted's asyncio reactor: import it first
from twisted.internet import defer, reactor

from coordlab import lecture
from coordlab.labs.commands import MAX_SOCKET_MESSAGE_BYTES

SHUTDOWN_SAVE_TIMEOUT = 20.0

logger = logging.getLogger("coordlab.serve")


async def _save_labs() -> None:
    from coordlab.labs.runtime import save_all_labs

    try:
        await asyncio.wait_for(save_all_labs(), SHUTDOWN_SAVE_TIMEOUT)
    except Exception:
        logger.exception("could not save the labs before stopping")


def save_labs_before_shutdown() -> Any:
    """A Twisted "before shutdown" trigger: the reactor waits for the Deferred, and its
    asyncio loop keeps running until the labs are saved."""
    return defer.Deferred.fromFuture(asyncio.ensure_future(_save_labs()))


def accept_deflate(offers: list[Any]) -> Any:
    """Accept a client's permessage-deflate offer (RFC 7692) without server context takeover:
    each message the server sends is compressed on its own, so the fan-out compresses a frame
    once for every viewer (``coordlab.labs.transport.encode_deflated_frame``). Frames are HTML
    that changes in a few numbers; compressed they are a fifth of their size or less."""
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer, no_context_takeover=True)
    return None


class CompressingWebSocketFactory(daphne_server.WebSocketFactory):  # type: ignore[misc]
    """daphne's WebSocket factory, offering compression to the clients that ask for it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setProtocolOptions(perMessageCompressionAccept=accept_deflate)


def serve_lecture_hall(given: list[str], port: int) -> None:
    """Allow this machine's LAN addresses and names (and ``given``) as hosts, and print the join
    addresses. Runs before Django reads its settings, which take them from the environment."""
    addresses, names = lecture.lan_addresses(), lecture.machine_names()
    os.environ["COORDLAB_LECTURE_HOSTS"] = ",".join(lecture.lecture_hosts(given, addresses, names))
    print(lecture.banner(given, addresses, names, port), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="the address to listen on (default 127.0.0.1; 0.0.0.0 with --lecture)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--lecture", action="store_true",
                        help="serve a lecture hall: listen on every interface and answer to this machine's "
                             "LAN addresses and names")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="with --lecture: another name students reach this machine by (comma-separated "
                             "names, or repeat it); the first is given out by pages opened at 127.0.0.1")
    args = parser.parse_args(argv)
    try:
        given = lecture.given_hosts(args.allow_host)
    except ValueError as error:
        parser.error(str(error))
    if given and not args.lecture:
        parser.error("--allow-host goes with --lecture")
    host = args.host or ("0.0.0.0" if args.lecture else "127.0.0.1")
    if args.lecture:
        serve_lecture_hall(given, args.port)
    reactor.addSystemEventTrigger("before", "shutdown", save_labs_before_shutdown)
    daphne_server.WebSocketFactory = CompressingWebSocketFactory  # daphne builds its factory from this name
    CommandLineInterface().run([
        "--bind", host, "--port", str(args.port),
        "--websocket-max-message-size", str(MAX_SOCKET_MESSAGE_BYTES),
        "--websocket-max-frame-size", str(MAX_SOCKET_MESSAGE_BYTES),
        "coordlab.asgi:application",
    ])


if __name__ == "__main__":
    main(sys.argv[1:])
