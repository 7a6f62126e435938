"""The leader's request processor (``PrepRequestProcessor``).

A write request is checked against the leader's tree *plus* the changes it
has proposed but not yet committed (its outstanding changes), and turned into
a transaction: the change itself, or an error transaction carrying the code.
Either way the transaction gets the next zxid and goes through Zab, as in
ZooKeeper, so every server sees the same sequence. Checks run in ZooKeeper's
order, which decides which error a doubly-wrong request gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from coordlab.sim import serializable

from .codes import Code
from .datatree import (
    SYSTEM_PATHS,
    CheckVersionTxn,
    CloseSessionTxn,
    CreateSessionTxn,
    CreateTxn,
    DataTree,
    DeleteTxn,
    ErrorTxn,
    MultiTxn,
    SetDataTxn,
    Stat,
    Txn,
    TxnHeader,
)
from .paths import invalid_reason, parent_of

# -- requests (what clients send) ----------------------------------------------


@serializable
@dataclass
class CreateRequest:
    path: str
    data: bytes = b""
    ephemeral: bool = False
    sequential: bool = False


@serializable
@dataclass
class DeleteRequest:
    path: str
    version: int = -1


@serializable
@dataclass
class SetDataRequest:
    path: str
    data: bytes
    version: int = -1


@serializable
@dataclass
class CheckRequest:
    path: str
    version: int


@serializable
@dataclass
class MultiRequest:
    ops: list[Any]


@serializable
@dataclass
class CreateSessionRequest:
    timeout_ms: int


@serializable
@dataclass
class CloseSessionRequest:
    """A client's goodbye, or the leader expiring a session (it carries no fields)."""


REQUEST_TYPES = {CreateRequest: "create", DeleteRequest: "delete", SetDataRequest: "setData",
                 CheckRequest: "check", MultiRequest: "multi", CreateSessionRequest: "createSession",
                 CloseSessionRequest: "closeSession"}


class Refused(Exception):
    """A request that fails a check; becomes an error transaction."""

    def __init__(self, code: Code, path: str = "") -> None:
        super().__init__(code.name, path)
        self.code = code


@serializable
@dataclass
class ChangeRecord:
    """How a path will look once the outstanding proposals commit (None: deleted)."""

    zxid: int
    path: str
    stat: Stat | None
    child_count: int


@serializable
@dataclass
class OutstandingChanges:
    """The change records of proposals not committed yet, in order, and the latest per path.
    ``by_path`` is compared by value, never identity: a snapshot (JSON, like every state here)
    brings the two back as separate copies of the same records."""

    records: list[ChangeRecord] = field(default_factory=list)
    by_path: dict[str, ChangeRecord] = field(default_factory=dict)

    def add(self, record: ChangeRecord) -> None:
        self.records.append(record)
        self.by_path[record.path] = record

    def committed(self, zxid: int) -> None:
        """Forget the records of every transaction up to ``zxid``."""
        while self.records and self.records[0].zxid <= zxid:
            record = self.records.pop(0)
            if self.by_path.get(record.path) == record:
                del self.by_path[record.path]

    def rollback(self, zxid: int, checkpoint: int) -> None:
        """Drop the records a failed multi added (all with this ``zxid``)."""
        dropped = self.records[checkpoint:]
        del self.records[checkpoint:]
        for record in dropped:
            if self.by_path.get(record.path) == record:
                del self.by_path[record.path]
                earlier = next((r for r in reversed(self.records) if r.path == record.path), None)
                if earlier is not None:
                    self.by_path[record.path] = earlier


class Preparer:
    """Turns one request into one transaction against tree + outstanding changes."""

    def __init__(self, tree: DataTree, outstanding: OutstandingChanges) -> None:
        self.tree = tree
        self.outstanding = outstanding

    def prepare(self, request: Any, session: int, cxid: int, zxid: int, time: int) -> Txn:
        kind = REQUEST_TYPES[type(request)]
        header = TxnHeader(session, cxid, zxid, time, kind)
        if kind == "multi":
            return Txn(header, self._multi(request, zxid, time))
        checkpoint = len(self.outstanding.records)
        try:
            record = self._one(kind, request, session, zxid, time)
        except Refused as refused:
            self.outstanding.rollback(zxid, checkpoint)
            header.type = "error"
            return Txn(header, ErrorTxn(int(refused.code)))
        return Txn(header, record)

    def _multi(self, request: MultiRequest, zxid: int, time: int) -> MultiTxn:
        checkpoint = len(self.outstanding.records)
        ops: list[tuple[str, Any]] = []
        failed = False
        for op in request.ops:
            kind = REQUEST_TYPES[type(op)]
            if failed:
                ops.append(("error", ErrorTxn(int(Code.RUNTIMEINCONSISTENCY))))
                continue
            try:
                ops.append((kind, self._one(kind, op, 0, zxid, time)))
            except Refused as refused:
                failed = True
                ops.append(("error", ErrorTxn(int(refused.code))))
                self.outstanding.rollback(zxid, checkpoint)
        return MultiTxn(ops)

    # -- one operation -------------------------------------------------------------

    def _one(self, kind: str, request: Any, session: int, zxid: int, time: int) -> Any:
        if kind == "create":
            return self._create(request, session, zxid, time)
        if kind == "delete":
            return self._delete(request, zxid)
        if kind == "setData":
            return self._set_data(request, zxid, time)
        if kind == "check":
            _, stat = self._record(self._valid(request.path))
            self._check_version(stat, request.version, request.path)
            return CheckVersionTxn(request.path, request.version)
        if kind == "createSession":
            return CreateSessionTxn(request.timeout_ms)
        if kind == "closeSession":
            return CloseSessionTxn()
        raise ValueError(f"not a write request: {kind}")

    def _create(self, request: CreateRequest, session: int, zxid: int, time: int) -> CreateTxn:
        path = request.path
        if not isinstance(path, str) or "/" not in path or "\0" in path:
            raise Refused(Code.BADARGUMENTS, str(path))
        # ZooKeeper's validatePathForCreate cuts at the last "/": the parent of "/" (and of "/a") is
        # "", which its DataTree keeps as a second name of the root. The model names the root "/" only,
        # and parent_of("/") is "/": so "/" itself already exists (NodeExists), and a sequential "/"
        # gets a name under the root from the root's counter, as on the real server.
        parent_path = parent_of(path)
        parent, parent_stat = self._record(parent_path)
        if request.sequential:
            path = f"{path}{parent_stat.cversion:010d}"
        if invalid_reason(path) is not None:
            raise Refused(Code.BADARGUMENTS, path)
        if self._lookup(path) is not None:
            raise Refused(Code.NODEEXISTS, path)
        if parent_stat.ephemeralOwner != 0:
            raise Refused(Code.NOCHILDRENFOREPHEMERALS, path)
        new_cversion = parent_stat.cversion + 1
        self.outstanding.add(ChangeRecord(zxid, parent_path, replace(parent_stat, cversion=new_cversion, pzxid=zxid),
                                          parent.child_count + 1))
        owner = session if request.ephemeral else 0
        stat = Stat(czxid=zxid, mzxid=zxid, ctime=time, mtime=time, ephemeralOwner=owner, pzxid=zxid,
                    dataLength=len(request.data))
        self.outstanding.add(ChangeRecord(zxid, path, stat, 0))
        return CreateTxn(path, request.data, request.ephemeral, new_cversion)

    def _delete(self, request: DeleteRequest, zxid: int) -> DeleteTxn:
        path = request.path
        if not isinstance(path, str) or "/" not in path or "\0" in path or path in SYSTEM_PATHS:
            raise Refused(Code.BADARGUMENTS, str(path))
        parent_path = parent_of(path)
        parent, parent_stat = self._record(parent_path)
        node, stat = self._record(path)
        self._check_version(stat, request.version, path)
        if node.child_count > 0:
            raise Refused(Code.NOTEMPTY, path)
        self.outstanding.add(ChangeRecord(zxid, parent_path, replace(parent_stat, pzxid=zxid),
                                          parent.child_count - 1))
        self.outstanding.add(ChangeRecord(zxid, path, None, -1))
        return DeleteTxn(path)

    def _set_data(self, request: SetDataRequest, zxid: int, time: int) -> SetDataTxn:
        path = self._valid(request.path)
        node, current = self._record(path)
        version = self._check_version(current, request.version, path)
        stat = replace(current, version=version, mzxid=zxid, mtime=time, dataLength=len(request.data))
        self.outstanding.add(ChangeRecord(zxid, path, stat, node.child_count))
        return SetDataTxn(path, request.data, version)

    # -- helpers -----------------------------------------------------------------------

    def _valid(self, path: Any) -> str:
        if invalid_reason(path) is not None:
            raise Refused(Code.BADARGUMENTS, str(path))
        return str(path)

    def _lookup(self, path: str) -> ChangeRecord | None:
        record = self.outstanding.by_path.get(path)
        if record is not None:
            return record if record.stat is not None else None
        node = self.tree.get(path)
        if node is None:
            return None
        return ChangeRecord(node.stat.mzxid, path, replace(node.stat, dataLength=len(node.data)), len(node.children))

    def _record(self, path: str) -> tuple[ChangeRecord, Stat]:
        """The path's pending-or-committed record and Stat, or NONODE."""
        record = self._lookup(path)
        if record is None or record.stat is None:
            raise Refused(Code.NONODE, path)
        return record, record.stat

    @staticmethod
    def _check_version(stat: Stat, expected: int, path: str) -> int:
        current = stat.version
        if expected != -1 and expected != current:
            raise Refused(Code.BADVERSION, path)
        return current + 1
