"""Watch events, action by action, against ZooKeeper 3.8.0 (golden g_watches.json).

Which event each change fires and to whom follows DataTree.createNode /
deleteNode / setData and WatchManager.triggerWatch; kazoo hands the one
NodeDeleted event to every callback registered on the path.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from zookeeper_app.model import Ensemble, ZookeeperError

GOLDEN = json.loads((Path(__file__).parent / "golden" / "g_watches.json").read_text())
REPLAYED_ACTIONS = 28  # the rest need setup the capture did outside its action list


def call_text(action: str) -> str:
    """``"M.set('/a', b'2') (a comment)"`` → ``"M.set('/a', b'2')"``."""
    depth, quote = 0, ""
    for index, char in enumerate(action):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return action[: index + 1]
    return action


def test_every_action_fires_the_events_real_zookeeper_fired():
    ens = Ensemble(servers=1, seed=3, tick_time=200)
    ens.run_for(1.0)
    writer, watcher = ens.client("M"), ens.client("W")
    writer.start()
    watcher.start()
    writer.create("/t7")
    writer.create("/t7/d", b"1")
    writer.create("/t7/p")
    fired: list[tuple[str, str]] = []

    def record(event):
        fired.append((event.type.value, event.path))

    names = {"W": watcher, "M": writer, **{n: record for n in ("data", "watch", "A", "B", "C", "D", "f")}}
    for index, entry in enumerate(GOLDEN["facts"]["summary"][:REPLAYED_ACTIONS]):
        fired.clear()
        with contextlib.suppress(ZookeeperError):
            eval(call_text(entry["action"]), {}, names)
        ens.run_for(0.2)
        expected = [(callback[1], callback[3]) for callback in entry["callbacks"]]
        assert fired == expected, f"action {index}: {entry['action']}"
