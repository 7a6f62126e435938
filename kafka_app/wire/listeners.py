"""The loopback ports a Kafka lab's brokers listen on while the lab runs in this process.

Each broker of a lab gets its own port, the first free one of ``COORDLAB_KAFKA_PORTS``
(``19000-19999``; empty: no listener at all), bound on ``COORDLAB_WIRE_HOST``
(``127.0.0.1``). The ports are the lab's for as long as this process runs it: they are
opened when the lab starts or is loaded here, and closed when it is closed or put away.
A port another process holds is skipped, so two servers on one machine share the range.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from django.conf import settings  # type: ignore[import-untyped]

from coordlab.labs.commands import Command
from coordlab.labs.kinds import LabAccess
from coordlab.labs.lab import Lab
from kafka_app.model import observe
from kafka_app.model.broker import Broker
from kafka_app.model.protocol import broker_name

from .server import Door, Quota, serve

logger = logging.getLogger(__name__)

#: lab id → {broker id: (port, its server)}, for the labs this process runs
_open: dict[str, dict[int, tuple[int, asyncio.Server]]] = {}
#: lab id → its clients' open connections (closed with the lab)
_clients: dict[str, set[asyncio.StreamWriter]] = {}
#: connections one lab serves at once, all its brokers together
MAX_CLIENTS = 64


def port_range() -> range:
    """``COORDLAB_KAFKA_PORTS`` as a range (empty if unset or malformed)."""
    low, _, high = str(getattr(settings, "COORDLAB_KAFKA_PORTS", "")).partition("-")
    try:
        return range(int(low), int(high or low) + 1)
    except ValueError:
        return range(0)


def ports(lab_id: str) -> dict[int, int]:
    """The port of each broker of the lab, by broker id (none if it runs elsewhere)."""
    return {broker_id: port for broker_id, (port, _) in _open.get(lab_id, {}).items()}


async def open_lab(lab_id: str, access: LabAccess) -> None:
    """Give each broker of the lab a port and answer Kafka clients on it."""
    find_lab = access.lab
    lab = find_lab()
    if lab is None or lab_id in _open or not port_range():
        return
    quota = Quota()  # the records all real clients of the lab may write, together

    def rewound() -> bool:
        current = find_lab()
        return current is not None and current.rewound

    def node(name: str) -> object | None:
        current = find_lab()
        return current.sim.nodes.get(name) if current is not None else None

    async def act(fields: dict[str, Any]) -> str:
        return await access.execute(Command("act", {"op": fields["op"], "fields": fields}))

    host, free = settings.COORDLAB_WIRE_HOST, iter(port_range())
    taken = {port for servers in _open.values() for port, _ in servers.values()}
    opened: dict[int, tuple[int, asyncio.Server]] = {}
    _open[lab_id] = opened
    for broker in observe.brokers(lab.sim):
        for port in free:
            if port in taken:
                continue
            door = Door(partial(_broker, find_lab, broker.broker_id), node, rewound, partial(ports, lab_id), act, quota)
            handler = partial(_connected, lab_id, door, access)
            try:
                server = await asyncio.start_server(handler, host, port, reuse_address=True)
            except OSError:
                continue  # another process (or test) holds it
            opened[broker.broker_id] = (port, server)
            break
        else:
            logger.warning("no free port left in COORDLAB_KAFKA_PORTS for %s of lab %s", broker.name, lab_id)
            return


async def close_lab(lab_id: str) -> None:
    servers = _open.pop(lab_id, {})
    for writer in _clients.pop(lab_id, set()):  # first: from Python 3.12 on, wait_closed waits for them
        writer.close()
    for _, server in servers.values():
        server.close()
        await server.wait_closed()


def _broker(find_lab: Callable[[], Lab | None], broker_id: int) -> Broker | None:
    lab = find_lab()
    node = lab.sim.nodes.get(broker_name(broker_id)) if lab is not None else None
    return node if isinstance(node, Broker) else None


async def _connected(lab_id: str, door: Door, access: LabAccess, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
    """Serve one client; while it is connected the lab counts it as watching, so its clock runs. A lab
    serves at most ``MAX_CLIENTS`` connections at once."""
    clients = _clients.setdefault(lab_id, set())
    if lab_id not in _open or len(clients) >= MAX_CLIENTS:  # closed meanwhile, or full
        writer.close()
        return
    clients.add(writer)
    access.watch()
    try:
        await serve(reader, writer, door)
    finally:
        access.unwatch()
        clients.discard(writer)
