"""Shared by the replays of tests/zookeeper/golden/: model answers in the golden files' shape.

``capture.py`` (``Scn.stat`` and ``Scn.conv``) wrote what the real server answered after a few
normalisations, explained in golden/README.md; these functions apply the same ones to what
the model answers, so the two compare with ``==``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zookeeper_app.model import KazooClient
from zookeeper_app.model.datatree import Stat
from zookeeper_app.model.zxid import epoch_of

GOLDEN = Path(__file__).parent / "golden"


def load(name: str) -> dict[str, Any]:
    return json.loads((GOLDEN / f"{name}.json").read_text())


def rel(zxid: int, base: int) -> int | None:
    """A zxid relative to the scenario's first write; 0 (none) stays None, as capture.py writes it."""
    return None if zxid == 0 else zxid - base


def stat_as_golden(stat: Stat, base: int, owners: dict[int, str]) -> dict[str, Any]:
    """``Scn.stat``: zxids relative to ``base``, times as orderings, the owner session by label."""
    zxids = [stat.czxid, stat.mzxid, stat.pzxid]
    return {
        "czxid_rel": rel(stat.czxid, base), "mzxid_rel": rel(stat.mzxid, base), "pzxid_rel": rel(stat.pzxid, base),
        "zxid_epochs_same_as_base": all(epoch_of(z) == epoch_of(base) for z in zxids if z),
        "ctime_eq_mtime": stat.ctime == stat.mtime, "mtime_gt_ctime": stat.mtime > stat.ctime,
        "version": stat.version, "cversion": stat.cversion, "aversion": stat.aversion,
        "ephemeralOwner": owners.get(stat.ephemeralOwner, "session:unknown") if stat.ephemeralOwner else 0,
        "dataLength": stat.dataLength, "numChildren": stat.numChildren,
    }


def as_golden(result: Any, base: int, owners: dict[int, str]) -> Any:
    """``Scn.conv``: a Stat, ``(data, Stat)`` from get, a path, children, True or None.

    Children come back in the real server's HashSet order, the model's are sorted: lists of
    names are sorted here and must be sorted on the golden side too (``sorted_children``)."""
    if isinstance(result, Stat):
        return stat_as_golden(result, base, owners)
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], Stat):
        if isinstance(result[0], bytes):
            return {"data": result[0].decode(), "stat": stat_as_golden(result[1], base, owners)}
        return {"path": result[0], "stat": stat_as_golden(result[1], base, owners)}
    if isinstance(result, list):
        return sorted(result)
    return result


def sorted_children(result: Any) -> Any:
    return sorted(result) if isinstance(result, list) and all(isinstance(x, str) for x in result) else result


def probe(zk: KazooClient) -> int:
    """capture.py's ``zxid_probe``: a round trip (exists "/") and the zxid its reply carried,
    which is the server's last committed zxid."""
    zk.exists("/")
    return zk.node.last_zxid
