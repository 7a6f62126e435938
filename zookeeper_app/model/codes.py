"""ZooKeeper's result codes (``KeeperException.Code``), as values.

Inside the model an operation's outcome is a code, not an exception: NONODE is
definite (the operation certainly did nothing), CONNECTIONLOSS is not (it may
or may not have happened). The kazoo-shaped client turns codes into kazoo's
exceptions at its edge.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    OK = 0
    SYSTEMERROR = -1
    RUNTIMEINCONSISTENCY = -2
    DATAINCONSISTENCY = -3
    CONNECTIONLOSS = -4
    MARSHALLINGERROR = -5
    UNIMPLEMENTED = -6
    OPERATIONTIMEOUT = -7
    BADARGUMENTS = -8
    APIERROR = -100
    NONODE = -101
    NOAUTH = -102
    BADVERSION = -103
    NOCHILDRENFOREPHEMERALS = -108
    NODEEXISTS = -110
    NOTEMPTY = -111
    SESSIONEXPIRED = -112
    INVALIDCALLBACK = -113
    INVALIDACL = -114
    AUTHFAILED = -115
    SESSIONMOVED = -118
    NOTREADONLY = -119

    @property
    def definite(self) -> bool:
        """True if a request answered with this code certainly changed nothing
        (or, for OK, certainly happened)."""
        return self not in (Code.CONNECTIONLOSS, Code.OPERATIONTIMEOUT)
