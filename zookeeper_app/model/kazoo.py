"""A client shaped like kazoo's ``KazooClient``, driving the simulation.

A synchronous call submits its request and runs the simulation until the
answer arrives, or until the client's timeout passes in virtual time (then it
raises ``KazooTimeoutError``). Errors are kazoo's exceptions; watch callbacks
get a ``WatchedEvent(type, state, path)``; listeners get ``KazooState``
values. Anyone who knows kazoo can script a lab with it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from . import client as C
from .codes import Code
from .datatree import Stat
from .errors import ConnectionLoss, KazooTimeoutError, NodeExistsError, NoNodeError, error_for
from .prep import CheckRequest, CreateRequest, DeleteRequest, MultiRequest, SetDataRequest

if TYPE_CHECKING:
    from .ensemble import Ensemble

ZnodeStat = Stat


class EventType(StrEnum):
    CREATED = "CREATED"
    DELETED = "DELETED"
    CHANGED = "CHANGED"
    CHILD = "CHILD"
    NONE = "NONE"


class KazooState(StrEnum):
    CONNECTED = "CONNECTED"
    SUSPENDED = "SUSPENDED"
    LOST = "LOST"


class KeeperState(StrEnum):
    CONNECTED = "CONNECTED"
    CONNECTING = "CONNECTING"
    EXPIRED_SESSION = "EXPIRED_SESSION"
    CLOSED = "CLOSED"


class WatchedEvent(NamedTuple):
    type: EventType
    state: KeeperState
    path: str


Watch = Callable[[WatchedEvent], Any]


class AsyncResult:
    """What an ``_async`` call returns: ``get()`` runs the simulation until the answer."""

    def __init__(self, client: KazooClient, xid: int, convert: Callable[[Code, Any], Any]) -> None:
        self.client, self.xid, self.convert = client, xid, convert

    def ready(self) -> bool:
        return self.xid in self.client.node.replies

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        code, result = self.client.wait(self.xid, timeout)
        return self.convert(code, result)


class KazooClient:
    def __init__(self, ensemble: Ensemble, name: str) -> None:
        self.ensemble = ensemble
        self.name = name
        self.listeners: list[Callable[[KazooState], Any]] = []
        self.watchers: dict[tuple[str, str], list[Watch]] = {}
        self.last_state = self.state

    @property
    def node(self) -> C.ZkClient:
        node = self.ensemble.sim.nodes[self.name]
        assert isinstance(node, C.ZkClient)
        return node

    # -- connection ------------------------------------------------------------------

    @property
    def state(self) -> KazooState:
        return KazooState.CONNECTED if self.node.state == C.CONNECTED else (
            KazooState.SUSPENDED if self.node.state == C.SUSPENDED else KazooState.LOST)

    @property
    def connected(self) -> bool:
        return self.node.state == C.CONNECTED

    @property
    def client_id(self) -> tuple[int, int] | None:
        return (self.node.session, self.node.password) if self.node.session else None

    @property
    def session_timeout(self) -> int:
        return self.node.negotiated_ms

    def add_listener(self, listener: Callable[[KazooState], Any]) -> None:
        self.listeners.append(listener)

    def remove_listener(self, listener: Callable[[KazooState], Any]) -> None:
        self.listeners.remove(listener)

    def start(self, timeout: float = 15) -> None:
        self.node.connect(self.ensemble.sim)
        if not self.ensemble.run_until(lambda: self.connected, timeout):
            raise KazooTimeoutError("Connection time-out")

    def stop(self) -> None:
        if self.node.state == C.CONNECTED:
            xid = self.node.close(self.ensemble.sim)
            self.wait(xid, None)
        self.node.state = C.CLOSED

    def close(self) -> None:
        """Release resources (nothing to release in a simulation)."""

    # -- waiting and dispatching ---------------------------------------------------------------

    def wait(self, xid: int, timeout: float | None) -> tuple[Code, Any]:
        seconds = timeout if timeout is not None else self.node.timeout_ms / 1000
        if not self.ensemble.run_until(lambda: xid in self.node.replies, seconds):
            if not self.connected:
                raise ConnectionLoss(f"not connected to ZooKeeper for {seconds:g} s")
            raise KazooTimeoutError(f"no answer from ZooKeeper within {seconds:g} s")
        code, _, result = self.node.replies.pop(xid)
        return Code(code), result

    def dispatch(self) -> None:
        """Call watch callbacks and listeners for what happened (the ensemble calls this)."""
        node = self.node
        state = self.state
        if state != self.last_state:
            self.last_state = state
            for listener in list(self.listeners):
                listener(state)
        while node.events:
            event, _, path = node.events.pop(0)
            for kind in C.CLEARS[event]:
                for watch in self.watchers.pop((kind, path), []):
                    watch(WatchedEvent(EventType(event), KeeperState.CONNECTED, path))

    def call(self, request: Any, watch: Watch | None, convert: Callable[[Code, Any], Any]) -> AsyncResult:
        xid = self.node.submit(self.ensemble.sim, request)
        if watch is not None and isinstance(request, dict):
            key = (C.watch_kind(request["op"]), request["path"])
            if watch not in self.watchers.setdefault(key, []):
                self.watchers[key].append(watch)
        return AsyncResult(self, xid, convert)

    # -- operations ------------------------------------------------------------------------------

    def create_async(self, path: str, value: bytes = b"", ephemeral: bool = False, sequence: bool = False,
                     include_data: bool = False) -> AsyncResult:
        convert = _answer(path) if include_data else _answer(path, lambda result: result[0])
        return self.call(CreateRequest(path, bytes(value), ephemeral, sequence), None, convert)

    def create(self, path: str, value: bytes = b"", acl: Any = None, ephemeral: bool = False,
               sequence: bool = False, makepath: bool = False, include_data: bool = False) -> Any:
        """The created path; with ``include_data``, ``(path, ZnodeStat)`` as kazoo's create2."""
        try:
            return self.create_async(path, value, ephemeral, sequence, include_data).get()
        except NoNodeError:
            if not makepath:
                raise
            self.ensure_path(path.rsplit("/", 1)[0] or "/")
            return self.create_async(path, value, ephemeral, sequence, include_data).get()

    def ensure_path(self, path: str) -> bool:
        if path == "/" or self.exists(path) is not None:
            return True
        self.ensure_path(path.rsplit("/", 1)[0] or "/")
        with contextlib.suppress(NodeExistsError):
            self.create(path)
        return True

    def get_async(self, path: str, watch: Watch | None = None) -> AsyncResult:
        return self.call({"op": "getData", "path": path, "watch": watch is not None}, watch, _answer(path))

    def get(self, path: str, watch: Watch | None = None) -> tuple[bytes, Stat]:
        data, stat = self.get_async(path, watch).get()
        return data, stat

    def exists_async(self, path: str, watch: Watch | None = None) -> AsyncResult:
        return self.call({"op": "exists", "path": path, "watch": watch is not None}, watch, _answer(path))

    def exists(self, path: str, watch: Watch | None = None) -> Stat | None:
        stat: Stat | None = self.exists_async(path, watch).get()
        return stat

    def get_children_async(self, path: str, watch: Watch | None = None) -> AsyncResult:
        return self.call({"op": "getChildren", "path": path, "watch": watch is not None}, watch, _answer(path))

    def get_children(self, path: str, watch: Watch | None = None, include_data: bool = False) -> Any:
        children, stat = self.get_children_async(path, watch).get()
        return (children, stat) if include_data else children

    def set_async(self, path: str, value: bytes, version: int = -1) -> AsyncResult:
        return self.call(SetDataRequest(path, bytes(value), version), None, _answer(path, lambda result: result[1]))

    def set(self, path: str, value: bytes, version: int = -1) -> Stat:
        stat: Stat = self.set_async(path, value, version).get()
        return stat

    def delete_async(self, path: str, version: int = -1) -> AsyncResult:
        return self.call(DeleteRequest(path, version), None, _answer(path, lambda result: True))

    def delete(self, path: str, version: int = -1, recursive: bool = False) -> bool:
        if recursive:
            for child in self.get_children(path):
                self.delete(f"{path.rstrip('/')}/{child}", recursive=True)
        return bool(self.delete_async(path, version).get())

    def sync_async(self, path: str) -> AsyncResult:
        return self.call({"op": "sync", "path": path}, None, _answer(path, lambda result: path))

    def sync(self, path: str) -> str:
        return str(self.sync_async(path).get())

    def transaction(self) -> TransactionRequest:
        return TransactionRequest(self)


class TransactionRequest:
    """``zk.transaction()``: operations applied all together or not at all."""

    def __init__(self, client: KazooClient) -> None:
        self.client = client
        self.operations: list[Any] = []

    def create(self, path: str, value: bytes = b"", acl: Any = None, ephemeral: bool = False,
               sequence: bool = False) -> None:
        self.operations.append(CreateRequest(path, bytes(value), ephemeral, sequence))

    def delete(self, path: str, version: int = -1) -> None:
        self.operations.append(DeleteRequest(path, version))

    def set_data(self, path: str, value: bytes, version: int = -1) -> None:
        self.operations.append(SetDataRequest(path, bytes(value), version))

    def check(self, path: str, version: int) -> None:
        self.operations.append(CheckRequest(path, version))

    def commit_async(self) -> AsyncResult:
        return self.client.call(MultiRequest(list(self.operations)), None, self._results)

    def commit(self) -> list[Any]:
        results: list[Any] = self.commit_async().get()
        return results

    def _results(self, code: Code, result: Any) -> list[Any]:
        _check(code, "")
        out: list[Any] = []
        for op, (op_code, path, stat) in zip(self.operations, result, strict=True):
            if op_code != 0 or (op_code == 0 and any(c != 0 for c, _, _ in result)):
                out.append(error_for(Code(op_code), getattr(op, "path", "")))
            elif isinstance(op, CreateRequest):
                out.append(path)
            elif isinstance(op, SetDataRequest):
                out.append(stat)
            else:
                out.append(True)
        return out


def _check(code: Code, path: str) -> None:
    if code != Code.OK:
        raise error_for(code, path)


def _answer(path: str, pick: Callable[[Any], Any] = lambda result: result) -> Callable[[Code, Any], Any]:
    """Raise the kazoo exception for an error code, else return ``pick(result)``."""
    def convert(code: Code, result: Any) -> Any:
        _check(code, path)
        return pick(result)
    return convert
