"""A client shaped like kazoo's ``KazooClient``, driving the simulation.

A synchronous call submits its request and runs the simulation until the
answer arrives, or until the client's timeout passes in virtual time (then it
raises ``KazooTimeoutError``). Errors are kazoo's exceptions; watch callbacks
get a ``WatchedEvent(type, state, path)``; listeners get ``KazooState``
values. Anyone who knows kazoo can script a lab with it.

Paths are rewritten before they are sent, as kazoo 2.11 does (``_prefix_root`` and
``normpath`` in ``kazoo.protocol.paths``, with no chroot): a missing leading "/" is added,
empty components ("//", a trailing "/") are dropped, "" becomes "/", and a "." or ".."
component raises ``ValueError`` before anything is sent. Only a sequential create keeps
a trailing "/" ("/a/" names its nodes "/a/0000000003"). A path that is not a ``str``
raises ``TypeError``. The lab console does not come through here: it sends its paths as
typed, as zkCli does.
"""

from __future__ import annotations

import contextlib
import posixpath
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


# -- kazoo.protocol.paths ------------------------------------------------------------------------

def normpath(path: str, trailing: bool = False) -> str:
    """kazoo's ``normpath``: drop empty components, refuse "." and ".."; keep a leading "/",
    and a trailing one only with ``trailing``."""
    components = []
    for component in path.split("/"):
        if component == "":
            continue
        if component in (".", ".."):
            raise ValueError("relative paths not allowed")
        components.append(component)
    normal = "/".join(components)
    if trailing and path.endswith("/"):
        normal += "/"
    if path.startswith("/") and normal != "/":
        return "/" + normal
    return normal


def prefix_root(path: str, trailing: bool = False) -> str:
    """kazoo's ``_prefix_root(chroot, path)`` for a client without a chroot: the path kazoo sends."""
    return normpath("/" + path.lstrip("/"), trailing=trailing)


def _check_path(path: object) -> None:
    if not isinstance(path, str):
        raise TypeError("Invalid type for 'path' (string expected)")


class AsyncResult:
    """What an ``_async`` call returns: ``get()`` runs the simulation until the answer.

    With ``exception``, nothing was sent and ``get()`` raises it (kazoo sets an exception
    raised while preparing a create on its async result, e.g. the ValueError of a "." path)."""

    def __init__(self, client: KazooClient, xid: int, convert: Callable[[Code, Any], Any],
                 exception: Exception | None = None) -> None:
        self.client, self.xid, self.convert, self.exception = client, xid, convert, exception

    def ready(self) -> bool:
        return self.exception is not None or self.xid in self.client.node.replies

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if self.exception is not None:
            raise self.exception
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

    def _prefix_root(self, path: str, trailing: bool = False) -> str:
        """The path as sent (see the module docstring)."""
        return prefix_root(path, trailing)

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
        _check_path(path)
        try:
            sent = self._prefix_root(path, trailing=sequence)
        except ValueError as error:  # kazoo raises it inside do_create, onto the async result
            return AsyncResult(self, -1, _answer(path), exception=error)
        convert = _answer(sent) if include_data else _answer(sent, lambda result: result[0])
        return self.call(CreateRequest(sent, bytes(value), ephemeral, sequence), None, convert)

    def create(self, path: str, value: bytes = b"", acl: Any = None, ephemeral: bool = False,
               sequence: bool = False, makepath: bool = False, include_data: bool = False) -> Any:
        """The created path; with ``include_data``, ``(path, ZnodeStat)`` as kazoo's create2.

        With ``makepath``, a missing parent is made with ``ensure_path`` and the create tried
        again, as often as it answers NoNode (kazoo's create_completion)."""
        while True:
            try:
                return self.create_async(path, value, ephemeral, sequence, include_data).get()
            except NoNodeError:
                if not makepath:
                    raise
                parent = path.rstrip("/") if sequence and path.endswith("/") else posixpath.split(path)[0]
                self.ensure_path(parent)

    def ensure_path(self, path: str, acl: Any = None) -> Any:
        """Create ``path`` and any missing ancestors. As kazoo: True if it was there already (or
        someone else created it meanwhile), else the path the last create returned."""
        if self.exists(path) is not None:
            return True
        parent, node = posixpath.split(path)
        if node:
            self.ensure_path(parent, acl)
        try:
            return self.create(path)
        except NodeExistsError:
            return True

    def get_async(self, path: str, watch: Watch | None = None) -> AsyncResult:
        _check_path(path)
        sent = self._prefix_root(path)
        return self.call({"op": "getData", "path": sent, "watch": watch is not None}, watch, _answer(sent))

    def get(self, path: str, watch: Watch | None = None) -> tuple[bytes, Stat]:
        data, stat = self.get_async(path, watch).get()
        return data, stat

    def exists_async(self, path: str, watch: Watch | None = None) -> AsyncResult:
        _check_path(path)
        sent = self._prefix_root(path)
        return self.call({"op": "exists", "path": sent, "watch": watch is not None}, watch, _answer(sent))

    def exists(self, path: str, watch: Watch | None = None) -> Stat | None:
        stat: Stat | None = self.exists_async(path, watch).get()
        return stat

    def get_children_async(self, path: str, watch: Watch | None = None) -> AsyncResult:
        _check_path(path)
        sent = self._prefix_root(path)
        return self.call({"op": "getChildren", "path": sent, "watch": watch is not None}, watch, _answer(sent))

    def get_children(self, path: str, watch: Watch | None = None, include_data: bool = False) -> Any:
        children, stat = self.get_children_async(path, watch).get()
        return (children, stat) if include_data else children

    def set_async(self, path: str, value: bytes, version: int = -1) -> AsyncResult:
        _check_path(path)
        sent = self._prefix_root(path)
        return self.call(SetDataRequest(sent, bytes(value), version), None, _answer(sent, lambda result: result[1]))

    def set(self, path: str, value: bytes, version: int = -1) -> Stat:
        stat: Stat = self.set_async(path, value, version).get()
        return stat

    def delete_async(self, path: str, version: int = -1) -> AsyncResult:
        _check_path(path)
        sent = self._prefix_root(path)
        return self.call(DeleteRequest(sent, version), None, _answer(sent, lambda result: True))

    def delete(self, path: str, version: int = -1, recursive: bool = False) -> bool | None:
        """True; with ``recursive`` (which ignores ``version``), as kazoo's ``_delete_recursive``:
        True if the node was missing, else None once it and everything under it are gone."""
        if not isinstance(recursive, bool):
            raise TypeError("Invalid type for 'recursive' (bool expected)")
        if recursive:
            return self._delete_recursive(path)
        return bool(self.delete_async(path, version).get())

    def _delete_recursive(self, path: str) -> bool | None:
        try:
            children = self.get_children(path)
        except NoNodeError:
            return True
        for child in children:
            self._delete_recursive(path + child if path == "/" else path + "/" + child)
        with contextlib.suppress(NoNodeError):
            self.delete(path)
        return None

    def sync_async(self, path: str) -> AsyncResult:
        sent = self._prefix_root(path)  # kazoo checks no type here: a non-str fails in the rewrite
        return self.call({"op": "sync", "path": sent}, None, _answer(sent, lambda result: sent))

    def sync(self, path: str) -> str:
        return str(self.sync_async(path).get())

    def transaction(self) -> TransactionRequest:
        return TransactionRequest(self)


class TransactionRequest:
    """``zk.transaction()``: operations applied all together or not at all."""

    def __init__(self, client: KazooClient) -> None:
        self.client = client
        self.operations: list[Any] = []

    # kazoo rewrites a transaction's paths as it adds them, a create's without ``trailing``
    # even when sequential: "/a/" is sent as "/a".

    def create(self, path: str, value: bytes = b"", acl: Any = None, ephemeral: bool = False,
               sequence: bool = False) -> None:
        _check_path(path)
        self.operations.append(CreateRequest(self.client._prefix_root(path), bytes(value), ephemeral, sequence))

    def delete(self, path: str, version: int = -1) -> None:
        _check_path(path)
        self.operations.append(DeleteRequest(self.client._prefix_root(path), version))

    def set_data(self, path: str, value: bytes, version: int = -1) -> None:
        _check_path(path)
        self.operations.append(SetDataRequest(self.client._prefix_root(path), bytes(value), version))

    def check(self, path: str, version: int) -> None:
        _check_path(path)
        self.operations.append(CheckRequest(self.client._prefix_root(path), version))

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
