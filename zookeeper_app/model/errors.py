"""kazoo's exception classes, with the ZooKeeper code each one stands for.

Names follow ``kazoo.exceptions`` so a kazoo user recognises them:
``NodeExistsError``, ``NoNodeError``, ``BadVersionError`` ... and kazoo's
aliases ``ConnectionLoss`` and ``SessionExpiredError``.
"""

from __future__ import annotations

from .codes import Code


class KazooException(Exception):
    """Base of everything the client raises."""


class ZookeeperError(KazooException):
    """An error a ZooKeeper server answered with."""

    code: Code = Code.SYSTEMERROR


class KazooTimeoutError(KazooException):
    """kazoo's handler timeout: a call did not get its answer in time."""


class RolledBackError(ZookeeperError):
    """This operation of a failed transaction was rolled back."""

    code = Code.OK


class SystemZookeeperError(ZookeeperError):
    """A system error."""

    code = Code.SYSTEMERROR


class RuntimeInconsistency(ZookeeperError):
    """Not attempted: an earlier operation of the transaction failed."""

    code = Code.RUNTIMEINCONSISTENCY


class DataInconsistency(ZookeeperError):
    """Data inconsistency."""

    code = Code.DATAINCONSISTENCY


class ConnectionLossException(ZookeeperError):
    """The connection was lost; the request may or may not have been applied."""

    code = Code.CONNECTIONLOSS


class MarshallingError(ZookeeperError):
    """Bad request encoding."""

    code = Code.MARSHALLINGERROR


class UnimplementedError(ZookeeperError):
    """Not implemented."""

    code = Code.UNIMPLEMENTED


class OperationTimeoutError(ZookeeperError):
    """The operation timed out."""

    code = Code.OPERATIONTIMEOUT


class BadArgumentsError(ZookeeperError):
    """Invalid arguments, such as a bad path."""

    code = Code.BADARGUMENTS


class APIError(ZookeeperError):
    """API error."""

    code = Code.APIERROR


class NoNodeError(ZookeeperError):
    """The node does not exist."""

    code = Code.NONODE


class NoAuthError(ZookeeperError):
    """Not authorised."""

    code = Code.NOAUTH


class BadVersionError(ZookeeperError):
    """The node's version is not the one given."""

    code = Code.BADVERSION


class NoChildrenForEphemeralsError(ZookeeperError):
    """Ephemeral nodes may not have children."""

    code = Code.NOCHILDRENFOREPHEMERALS


class NodeExistsError(ZookeeperError):
    """The node already exists."""

    code = Code.NODEEXISTS


class NotEmptyError(ZookeeperError):
    """The node has children."""

    code = Code.NOTEMPTY


class SessionExpiredError(ZookeeperError):
    """The session has expired."""

    code = Code.SESSIONEXPIRED


class InvalidCallbackError(ZookeeperError):
    """Invalid callback."""

    code = Code.INVALIDCALLBACK


class InvalidACLError(ZookeeperError):
    """Invalid ACL."""

    code = Code.INVALIDACL


class AuthFailedError(ZookeeperError):
    """Authentication failed."""

    code = Code.AUTHFAILED


class SessionMovedError(ZookeeperError):
    """The session moved to another server."""

    code = Code.SESSIONMOVED


class NotReadOnlyCallError(ZookeeperError):
    """Not a read-only call."""

    code = Code.NOTREADONLY


ConnectionLoss = ConnectionLossException

EXCEPTIONS: dict[Code, type[ZookeeperError]] = {
    cls.code: cls for cls in ZookeeperError.__subclasses__()
}


def error_for(code: Code, message: str = "") -> ZookeeperError:
    """The kazoo exception for a ZooKeeper result code."""
    return EXCEPTIONS.get(code, SystemZookeeperError)(message or code.name)
