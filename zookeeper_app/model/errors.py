"""kazoo's exception classes, with the ZooKeeper code each one stands for.

Names and bases follow ``kazoo.exceptions`` so a kazoo user recognises them
(``type(e).__name__`` is what a learner prints): ``NodeExistsError``,
``NoNodeError``, ``BadVersionError``, ``ConnectionLoss``,
``SessionExpiredError`` ..., with kazoo's ``...Exception`` aliases.
``tests/zookeeper/test_kazoo_names.py`` checks them against the installed kazoo.
"""

from __future__ import annotations

from .codes import Code


class KazooException(Exception):
    """Base of everything the client raises."""


class ZookeeperError(KazooException):
    """An error a ZooKeeper server answered with."""

    code: Code = Code.SYSTEMERROR


class KazooTimeoutError(Exception):
    """kazoo's handler timeout: a call did not get its answer in time. kazoo defines it with
    its handlers (``kazoo.handlers.threading``), outside ``KazooException``."""


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


class ConnectionLoss(ZookeeperError):
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


# kazoo's aliases, under which a learner may also know them
ConnectionLossException = ConnectionLoss
MarshallingErrorException = MarshallingError
SystemErrorException = SystemZookeeperError
RuntimeInconsistencyException = RuntimeInconsistency
DataInconsistencyException = DataInconsistency
UnimplementedException = UnimplementedError
OperationTimeoutException = OperationTimeoutError
BadArgumentsException = BadArgumentsError
ApiErrorException = APIError
NoNodeException = NoNodeError
NoAuthException = NoAuthError
BadVersionException = BadVersionError
NoChildrenForEphemeralsException = NoChildrenForEphemeralsError
NodeExistsException = NodeExistsError
InvalidACLException = InvalidACLError
AuthFailedException = AuthFailedError
NotEmptyException = NotEmptyError
SessionExpiredException = SessionExpiredError
InvalidCallbackException = InvalidCallbackError

EXCEPTIONS: dict[Code, type[ZookeeperError]] = {
    cls.code: cls for cls in ZookeeperError.__subclasses__()
}


def error_for(code: Code, message: str = "") -> ZookeeperError:
    """The kazoo exception for a ZooKeeper result code."""
    return EXCEPTIONS.get(code, SystemZookeeperError)(message or code.name)
