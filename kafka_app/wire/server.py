"""One simulated broker's TCP listener: Kafka's framing (a 4-byte size, then the request),
its request and response headers, and the choice of version.

Every byte a client sends is untrusted. A request larger than ``MAX_REQUEST_BYTES``, one
that does not parse, an unknown API or a version this server does not speak closes the
connection, as a Kafka broker does (``InvalidRequestException``); a client tells the
version it may use with ``ApiVersions`` first, which answers an unsupported version of
itself with UNSUPPORTED_VERSION and the versions it does support (KIP-511). A broker that
is down in the lab refuses connections and closes the ones it had. Nothing a client sends
reaches the lab's state: these requests only read it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from kafka_app.model.broker import Broker

from . import handlers
from .codec import Malformed, Reader, Writer
from .messages import API_VERSIONS, APIS, FETCH, LIST_OFFSETS, METADATA, Api

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 1 << 20
#: one connection's requests are answered at most this fast (a faster client waits: its requests run on
#: the server's event loop, beside every lab's frames)
REQUESTS_PER_S, REQUEST_BURST = 200.0, 50.0
#: a fetch with nothing to return waits at most this long (or the client's max_wait_ms) for records
MAX_WAIT_S = 1.0
WAIT_STEP_S = 0.05

#: the broker a listener serves, looked up afresh for each request (None: the lab is gone)
FindBroker = Callable[[], Broker | None]


class Refused(Exception):
    """The connection is closed: what the client sent is not a request this broker answers."""


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, find: FindBroker,
                ports: Callable[[], dict[int, int]]) -> None:
    """Answer one client's requests, in order, until it or the broker goes away."""
    host = writer.get_extra_info("sockname")[0]
    peer = writer.get_extra_info("peername")
    clock = asyncio.get_running_loop().time
    allowance, last = REQUEST_BURST, clock()
    try:
        while True:
            broker = find()
            if broker is None or not broker.alive:
                return
            size = int.from_bytes(await reader.readexactly(4), "big", signed=True)
            now = clock()
            allowance, last = min(REQUEST_BURST, allowance + (now - last) * REQUESTS_PER_S), now
            if allowance < 1:
                await asyncio.sleep((1 - allowance) / REQUESTS_PER_S)
                allowance = 1.0
            allowance -= 1
            if not 0 < size <= MAX_REQUEST_BYTES:
                raise Refused(f"a request of {size} bytes (at most {MAX_REQUEST_BYTES} are read)")
            answer = await respond(await reader.readexactly(size), find, host, ports)
            writer.write(len(answer).to_bytes(4, "big") + answer)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    except (Refused, Malformed) as why:
        logger.info("closed a Kafka client connection from %s: %s", peer, why)
    finally:
        writer.close()


async def respond(data: bytes, find: FindBroker, host: str, ports: Callable[[], dict[int, int]]) -> bytes:
    """The response (header and body, without its size) to one request."""
    request = Reader(data)
    key, version, correlation = request.int16(), request.int16(), request.int32()
    request.string()  # client id (nullable, never compact)
    api = APIS.get(key)
    if api is None:
        raise Refused(f"API key {key}, which this broker does not know")
    if not api.min_version <= version <= api.max_version:
        if api is not API_VERSIONS:
            raise Refused(f"{api.name} v{version} (this broker speaks v{api.min_version} to v{api.max_version})")
        return _encode(api, 0, correlation, {**handlers.api_versions(), "error_code": handlers.UNSUPPORTED_VERSION})
    flexible = api.flexible(version)
    if flexible:
        request.tagged_fields()  # request header v2
    body = api.request.read(request, version, flexible)
    broker = find()
    if broker is None or not broker.alive:
        raise Refused("the broker is down")
    return _encode(api, version, correlation, await _answer(api, body, broker, find, host, ports))


async def _answer(api: Api, body: dict[str, Any], broker: Broker, find: FindBroker, host: str,
                  ports: Callable[[], dict[int, int]]) -> dict[str, Any]:
    if api is API_VERSIONS:
        return handlers.api_versions()
    if api is METADATA:
        return handlers.metadata(broker, body, host, ports())
    if api is LIST_OFFSETS:
        return handlers.list_offsets(broker, body)
    assert api is FETCH
    answer, carried = handlers.fetch(broker, body)
    waited, wait = 0.0, min(max(body["max_wait_ms"], 0) / 1000, MAX_WAIT_S)
    while not carried and waited < wait:  # the fetch purgatory: wait for records, or for the client's limit
        await asyncio.sleep(WAIT_STEP_S)
        waited += WAIT_STEP_S
        current = find()
        if current is None or not current.alive:
            raise Refused("the broker went down")
        answer, carried = handlers.fetch(current, body)
    return answer


def _encode(api: Api, version: int, correlation: int, body: dict[str, Any]) -> bytes:
    out = Writer()
    out.int32(correlation)
    flexible = api.flexible(version)
    if flexible and api is not API_VERSIONS:  # response header v1; ApiVersions always answers with v0
        out.empty_tagged_fields()
    api.response.write(out, body, version, flexible)
    return out.getvalue()
