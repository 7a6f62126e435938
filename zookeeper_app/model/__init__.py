"""A ZooKeeper 3.8 ensemble in the simulation kernel: Fast Leader Election,
Zab, sessions, znodes, watches, and a kazoo-shaped client. Pure Python."""

from __future__ import annotations

from .codes import Code
from .datatree import Stat
from .ensemble import Ensemble
from .errors import (
    BadArgumentsError,
    BadVersionError,
    ConnectionLoss,
    ConnectionLossException,
    KazooException,
    KazooTimeoutError,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
    SessionExpiredError,
    ZookeeperError,
)
from .kazoo import EventType, KazooClient, KazooState, KeeperState, WatchedEvent, ZnodeStat
from .server import ZkServer
from .zxid import hex_zxid

__all__ = [
    "BadArgumentsError", "BadVersionError", "Code", "ConnectionLoss", "ConnectionLossException", "Ensemble",
    "EventType", "KazooClient", "KazooException", "KazooState", "KazooTimeoutError", "KeeperState",
    "NoChildrenForEphemeralsError", "NoNodeError", "NodeExistsError", "NotEmptyError", "RolledBackError",
    "RuntimeInconsistency", "SessionExpiredError", "Stat", "WatchedEvent", "ZkServer", "ZnodeStat",
    "ZookeeperError", "hex_zxid",
]
