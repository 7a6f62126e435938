"""The znode tree and the transactions that change it (``DataTree``).

Every server applies committed transactions to its own tree, in zxid order.
A transaction is already decided when it gets here (the leader checked it
against the tree and its outstanding changes, see ``prep.py``), so applying
one cannot fail, as in ZooKeeper's ``DataTree.processTxn``. The result of
applying one says which watches fire, for the server's ``WatchManager``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from coordlab.sim import serializable

from .codes import Code
from .paths import name_of, parent_of

SYSTEM_PATHS = ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config")


@serializable
@dataclass
class Stat:
    """A znode's metadata, with the field names of ZooKeeper and kazoo's ``ZnodeStat``."""

    czxid: int = 0
    mzxid: int = 0
    ctime: int = 0
    mtime: int = 0
    version: int = 0
    cversion: int = 0
    aversion: int = 0
    ephemeralOwner: int = 0
    dataLength: int = 0
    numChildren: int = 0
    pzxid: int = 0


@serializable
@dataclass
class Znode:
    data: bytes
    stat: Stat
    children: dict[str, bool] = field(default_factory=dict)


# -- transactions (what the leader proposes) ----------------------------------


@serializable
@dataclass
class TxnHeader:
    session: int
    cxid: int
    zxid: int
    time: int
    type: str


@serializable
@dataclass
class CreateTxn:
    path: str
    data: bytes
    ephemeral: bool
    parent_cversion: int


@serializable
@dataclass
class DeleteTxn:
    path: str


@serializable
@dataclass
class SetDataTxn:
    path: str
    data: bytes
    version: int


@serializable
@dataclass
class CheckVersionTxn:
    path: str
    version: int


@serializable
@dataclass
class ErrorTxn:
    code: int


@serializable
@dataclass
class CreateSessionTxn:
    timeout_ms: int


@serializable
@dataclass
class CloseSessionTxn:
    """Close the header's session and delete its ephemeral nodes (it carries no fields)."""


@serializable
@dataclass
class MultiTxn:
    ops: list[tuple[str, Any]]  # (type, txn) pairs


@serializable
@dataclass
class Txn:
    """A whole transaction as logged and proposed."""

    header: TxnHeader
    record: Any


@dataclass
class TxnResult:
    """What applying one transaction did: its outcome and the watches it fires."""

    code: Code = Code.OK
    path: str = ""
    stat: Stat | None = None
    multi: list[TxnResult] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)  # (event type, path)


def new_root() -> dict[str, Znode]:
    """The tree of a fresh server: "/", "/zookeeper", its "quota" and "config"."""
    nodes = {path: Znode(b"", Stat()) for path in SYSTEM_PATHS}
    nodes["/zookeeper/config"].stat.aversion = -1  # its ACL was set once, read-only
    nodes["/"].children = {"zookeeper": True}
    nodes["/zookeeper"].children = {"quota": True, "config": True}
    return nodes


@serializable
@dataclass
class DataTree:
    nodes: dict[str, Znode] = field(default_factory=new_root)
    ephemerals: dict[int, list[str]] = field(default_factory=dict)
    sessions: dict[int, int] = field(default_factory=dict)  # session id → timeout (ms)
    last_zxid: int = 0

    # -- reads ----------------------------------------------------------------

    def get(self, path: str) -> Znode | None:
        return self.nodes.get(path)

    def stat_of(self, path: str) -> Stat | None:
        """A copy of the node's Stat as a client sees it (``DataNode.copyStat``).

        The stored cversion counts child creations only (it is also the
        sequential-name counter); the visible one is ``2 × stored −
        numChildren``, which counts creations and deletions alike.
        """
        node = self.nodes.get(path)
        if node is None:
            return None
        children = len(node.children)
        return replace(node.stat, numChildren=children, dataLength=len(node.data),
                       cversion=node.stat.cversion * 2 - children)

    def children_of(self, path: str) -> list[str]:
        node = self.nodes.get(path)
        return sorted(node.children) if node else []

    # -- applying committed transactions ----------------------------------------

    def apply(self, txn: Txn) -> TxnResult:
        """Apply a committed transaction (``DataTree.processTxn``)."""
        header = txn.header
        result = self._apply_record(header, header.type, txn.record)
        self.last_zxid = max(self.last_zxid, header.zxid)
        return result

    def _apply_record(self, header: TxnHeader, kind: str, record: Any) -> TxnResult:
        zxid, time = header.zxid, header.time
        if kind == "create":
            owner = header.session if record.ephemeral else 0
            return self.create_node(record.path, record.data, owner, record.parent_cversion, zxid, time)
        if kind == "delete":
            return self.delete_node(record.path, zxid)
        if kind == "setData":
            return self.set_data(record.path, record.data, record.version, zxid, time)
        if kind == "check":
            return TxnResult(path=record.path)
        if kind == "error":
            return TxnResult(code=Code(record.code))
        if kind == "createSession":
            self.sessions[header.session] = record.timeout_ms
            return TxnResult()
        if kind == "closeSession":
            return self.kill_session(header.session, zxid)
        if kind == "multi":
            return self._apply_multi(header, record)
        raise ValueError(f"unknown transaction type {kind}")

    def _apply_multi(self, header: TxnHeader, record: MultiTxn) -> TxnResult:
        # As in DataTree.processTxn: if any op failed, the ones before it are
        # reported as rolled back (OK inside an error) and the rest as
        # RUNTIMEINCONSISTENCY; nothing is applied.
        failed = any(kind == "error" for kind, _ in record.ops)
        result = TxnResult()
        after_failure = False
        for kind, sub in record.ops:
            if kind == "error":
                after_failure = True
            if failed and kind != "error":
                code = Code.RUNTIMEINCONSISTENCY if after_failure else Code.OK
                kind, sub = "error", ErrorTxn(int(code))
            sub_result = self._apply_record(header, kind, sub)
            result.multi.append(sub_result)
            result.events.extend(sub_result.events)
        return result

    def create_node(self, path: str, data: bytes, owner: int, parent_cversion: int, zxid: int,
                    time: int) -> TxnResult:
        parent_path = parent_of(path)
        parent = self.nodes[parent_path]
        stat = Stat(czxid=zxid, mzxid=zxid, ctime=time, mtime=time, ephemeralOwner=owner, pzxid=zxid)
        self.nodes[path] = Znode(data, stat)
        parent.children[name_of(path)] = True
        if parent_cversion > parent.stat.cversion:
            parent.stat.cversion = parent_cversion
            parent.stat.pzxid = zxid
        if owner:
            self.ephemerals.setdefault(owner, []).append(path)
        return TxnResult(path=path, stat=self.stat_of(path),
                         events=[("CREATED", path), ("CHILD", parent_path)])

    def delete_node(self, path: str, zxid: int) -> TxnResult:
        node = self.nodes.pop(path)
        parent_path = parent_of(path)
        parent = self.nodes[parent_path]
        del parent.children[name_of(path)]
        if zxid > parent.stat.pzxid:
            parent.stat.pzxid = zxid
        owner = node.stat.ephemeralOwner
        if owner and path in self.ephemerals.get(owner, []):
            self.ephemerals[owner].remove(path)
            if not self.ephemerals[owner]:
                del self.ephemerals[owner]
        return TxnResult(path=path, events=[("DELETED", path), ("CHILD", parent_path)])

    def set_data(self, path: str, data: bytes, version: int, zxid: int, time: int) -> TxnResult:
        node = self.nodes[path]
        node.data = data
        node.stat.version = version
        node.stat.mzxid = zxid
        node.stat.mtime = time
        return TxnResult(path=path, stat=self.stat_of(path), events=[("CHANGED", path)])

    def kill_session(self, session: int, zxid: int) -> TxnResult:
        """Close a session: delete its ephemeral nodes (``DataTree.killSession``)."""
        self.sessions.pop(session, None)
        result = TxnResult()
        for path in sorted(self.ephemerals.get(session, [])):
            if path in self.nodes:
                result.events.extend(self.delete_node(path, zxid).events)
        self.ephemerals.pop(session, None)
        return result
