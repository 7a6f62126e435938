"""One simulated broker's TCP listener: Kafka's framing (a 4-byte size, then the request),
its request and response headers, and the choice of version.

Every byte a client sends is untrusted. A request larger than ``MAX_REQUEST_BYTES``, one
that does not parse, an unknown API or a version this server does not speak closes the
connection, as a Kafka broker does (``InvalidRequestException``); a client tells the
version it may use with ``ApiVersions`` first, which answers an unsupported version of
itself with UNSUPPORTED_VERSION and the versions it does support (KIP-511). A broker that
is down in the lab refuses connections and closes the ones it had. Reads are answered from
the broker's state; a Produce request becomes a lab command (``real_produce``: logged, so a
rewind replays it) for the client's machine in the lab, and its answer is what the broker
sends that machine back, or REQUEST_TIMED_OUT if none came in the request's time.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from coordlab.labs.commands import CommandError
from kafka_app.model.broker import Broker
from kafka_app.model.real_client import RealClient, answer_key

from . import handlers
from .codec import Malformed, Reader, Writer
from .messages import API_VERSIONS, APIS, FETCH, INIT_PRODUCER_ID, LIST_OFFSETS, METADATA, PRODUCE, Api

logger = logging.getLogger(__name__)

#: the largest request read (a Produce; other requests are far smaller: MAX_READ_REQUEST_BYTES)
MAX_REQUEST_BYTES = 256 * 1024
MAX_READ_REQUEST_BYTES = 64 * 1024
#: a connection idle this long is closed (Kafka: connections.max.idle.ms, 10 min); a request must
#: arrive whole within FRAME_DEADLINE_S of its size
IDLE_S, FRAME_DEADLINE_S = 600.0, 30.0
#: records real clients may write into one lab per second (more wait their turn: a quota's delay)
RECORDS_PER_S, RECORD_BURST = 500.0, 2000.0
#: one connection's requests are answered at most this fast (a faster client waits: its requests run on
#: the server's event loop, beside every lab's frames)
REQUESTS_PER_S, REQUEST_BURST = 200.0, 50.0
#: a fetch with nothing to return waits at most this long (or the client's max_wait_ms) for records
MAX_WAIT_S = 1.0
WAIT_STEP_S = 0.05

#: a produce request waits at most this long for the lab's answer (or the client's timeout_ms)
MAX_PRODUCE_WAIT_S = 30.0
#: real clients' idempotent producers get random ids above this one, apart from the lab's own producers'
#: (which count from 0) and from each other's, in a lab and in its copies: Kafka hands out blocks of ids
REAL_PRODUCER_IDS = 1_000_000
MAX_RECORDS_PER_REQUEST = 5000
COORDINATOR_NOT_AVAILABLE = 15
NOT_A_NAME = re.compile(r"[^a-z0-9-]+")


class Quota:
    """Records a lab takes from real clients, as a token bucket: a client over it waits (Kafka's
    quotas delay a client's answers the same way)."""

    def __init__(self, rate: float = RECORDS_PER_S, burst: float = RECORD_BURST) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = burst, time.monotonic()

    async def take(self, records: int) -> None:
        now = time.monotonic()
        self.tokens, self.at = min(self.burst, self.tokens + (now - self.at) * self.rate) - records, now
        if self.tokens < 0:
            await asyncio.sleep(-self.tokens / self.rate)


@dataclass
class Door:
    """What a broker's listener needs from the lab: the broker and the lab's machines as they are now
    (None once the lab is gone), whether it shows an earlier moment, the brokers' ports, a way to send
    a lab command, the lab's quota of records, and this door's own numbering of requests (a random
    prefix, so that a copy of the lab, or the same lab after a restart, never reads another's answers)."""

    broker: Callable[[], Broker | None]
    node: Callable[[str], object | None]
    rewound: Callable[[], bool]
    ports: Callable[[], dict[int, int]]
    execute: Callable[[dict[str, Any]], Awaitable[str]]
    quota: Quota
    prefix: str = field(default_factory=lambda: secrets.token_hex(4))
    requests: count[int] = field(default_factory=lambda: count(1))

    def next_request(self) -> str:
        return f"{self.prefix}-{next(self.requests)}"


class Refused(Exception):
    """The connection is closed: what the client sent is not a request this broker answers."""


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, door: Door) -> None:
    """Answer one client's requests, in order, until it or the broker goes away."""
    host = writer.get_extra_info("sockname")[0]
    peer = writer.get_extra_info("peername")
    clock = asyncio.get_running_loop().time
    allowance, last = REQUEST_BURST, clock()
    try:
        while True:
            broker = door.broker()
            if broker is None or not broker.alive:
                return
            size = int.from_bytes(await asyncio.wait_for(reader.readexactly(4), IDLE_S), "big", signed=True)
            now = clock()
            allowance, last = min(REQUEST_BURST, allowance + (now - last) * REQUESTS_PER_S), now
            if allowance < 1:
                await asyncio.sleep((1 - allowance) / REQUESTS_PER_S)
                allowance = 1.0
            allowance -= 1
            if not 0 < size <= MAX_REQUEST_BYTES:
                raise Refused(f"a request of {size} bytes (at most {MAX_REQUEST_BYTES} are read)")
            answer = await respond(await asyncio.wait_for(reader.readexactly(size), FRAME_DEADLINE_S), door, host)
            if answer is not None:  # (a produce with acks=0 gets no answer at all)
                writer.write(len(answer).to_bytes(4, "big") + answer)
                await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
        return  # the client went away, or kept quiet too long: its connection is closed (finally)
    except (Refused, Malformed) as why:
        logger.info("closed a Kafka client connection from %s: %s", peer, why)
    finally:
        writer.close()


async def respond(data: bytes, door: Door, host: str) -> bytes | None:
    """The response (header and body, without its size) to one request; None if it gets none."""
    request = Reader(data)
    key, version, correlation = request.int16(), request.int16(), request.int32()
    client_id = request.string() or ""  # nullable, never compact
    api = APIS.get(key)
    if api is None:
        raise Refused(f"API key {key}, which this broker does not know")
    if api is not PRODUCE and len(data) > MAX_READ_REQUEST_BYTES:
        raise Refused(f"a {api.name} request of {len(data)} bytes")
    if not api.min_version <= version <= api.max_version:
        if api is not API_VERSIONS:
            raise Refused(f"{api.name} v{version} (this broker speaks v{api.min_version} to v{api.max_version})")
        return _encode(api, 0, correlation, {**handlers.api_versions(), "error_code": handlers.UNSUPPORTED_VERSION})
    flexible = api.flexible(version)
    if flexible:
        request.tagged_fields()  # request header v2
    body = api.request.read(request, version, flexible)
    broker = door.broker()
    if broker is None or not broker.alive:
        raise Refused("the broker is down")
    if api is PRODUCE:
        answer = await _produce(body, broker, door, client_id)
        return None if answer is None else _encode(api, version, correlation, answer)
    return _encode(api, version, correlation, await _answer(api, version, body, broker, door, host))


def client_name(client_id: str) -> str:
    """The name a real client's machine has in the lab, from the client id it gives."""
    return "real-" + (NOT_A_NAME.sub("-", client_id.lower()).strip("-")[:19].strip("-") or "client")


async def _produce(body: dict[str, Any], broker: Broker, door: Door, client_id: str) -> dict[str, Any] | None:
    acks = body["acks"]
    if acks not in (-1, 0, 1):
        refused = {(t["name"], p["index"]): handlers.INVALID_REQUIRED_ACKS for t in body["topic_data"]
                   for p in t["partition_data"]}
        return handlers.produce_response(body, refused, {})
    sending, refused = handlers.produce(body)
    name, number = client_name(client_id), door.next_request()
    timeout_ms = max(0, min(body["timeout_ms"], int(MAX_PRODUCE_WAIT_S * 1000)))
    records = sum(len(p["records"]) for p in sending)
    if records > MAX_RECORDS_PER_REQUEST:
        refused.update({(p["topic"], p["partition"]): handlers.RECORD_LIST_TOO_LARGE for p in sending})
        sending = []
    elif door.rewound():  # writing now would cut the lab's history short: the client retries after play
        refused.update({(p["topic"], p["partition"]): handlers.REQUEST_TIMED_OUT for p in sending})
        sending = []
    if sending:
        await door.quota.take(records)
        try:
            await door.execute({"op": "real_produce", "client": name, "broker": broker.name, "request": number,
                                "acks": acks, "timeout_ms": timeout_ms, "partitions": sending})
        except CommandError:  # the lab cannot take it now (busy with a jump ahead, say): the client retries
            refused.update({(p["topic"], p["partition"]): handlers.REQUEST_TIMED_OUT for p in sending})
            sending = []
    if acks == 0:
        return None
    wanted = {(p["topic"], p["partition"]) for p in sending}
    answers: dict[tuple[str, int], dict[str, Any]] = {}
    waited = 0.0
    while True:
        current = door.broker()
        if current is None or not current.alive:
            raise Refused("the broker went down")  # as a killed broker's connections close
        node = door.node(name)
        if isinstance(node, RealClient):
            for topic, partition in wanted - answers.keys():
                got = node.answers.get(answer_key(number, topic, partition))
                if got is not None:
                    answers[(topic, partition)] = got
        if answers.keys() >= wanted or waited >= timeout_ms / 1000:
            return handlers.produce_response(body, refused, answers)
        await asyncio.sleep(WAIT_STEP_S)
        waited += WAIT_STEP_S


async def _answer(api: Api, version: int, body: dict[str, Any], broker: Broker, door: Door,
                  host: str) -> dict[str, Any]:
    if api is API_VERSIONS:
        return handlers.api_versions()
    if api is METADATA:
        return handlers.metadata(broker, body, version, host, door.ports())
    if api is LIST_OFFSETS:
        return handlers.list_offsets(broker, body)
    if api is INIT_PRODUCER_ID:
        if body["transactional_id"] is not None:  # transactions are not modelled: no coordinator for them
            return {"error_code": COORDINATOR_NOT_AVAILABLE, "producer_id": -1, "producer_epoch": -1}
        return {"error_code": handlers.NONE, "producer_id": REAL_PRODUCER_IDS + secrets.randbits(40),
                "producer_epoch": 0}
    assert api is FETCH
    answer, carried = handlers.fetch(broker, body)
    waited, wait = 0.0, min(max(body["max_wait_ms"], 0) / 1000, MAX_WAIT_S)
    if handlers.any_error(answer):  # a partition in error is answered at once, as Kafka does
        return answer
    while not carried and waited < wait:  # the fetch purgatory: wait for records, or for the client's limit
        await asyncio.sleep(WAIT_STEP_S)
        waited += WAIT_STEP_S
        current = door.broker()
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
