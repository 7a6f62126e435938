"""Watch events, action by action, against ZooKeeper 3.8.0 (golden g_watches.json).

Which event each change fires and to whom follows DataTree.createNode /
deleteNode / setData and WatchManager.triggerWatch; kazoo hands the one
NodeDeleted event to every callback registered on the path.

What each call returned is compared too, except Stats: the capture made /t7/d and /t7/p
at other points than this replay does, so their zxids differ. That leaves paths, children,
errors, True from a delete and None from a recursive one (kazoo's ``_delete_recursive``).
"""

from __future__ import annotations

import json
from pathlib import Path

from zookeeper_app.model import Ensemble, ZookeeperError
from zookeeper_app.model.datatree import Stat

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
        try:
            answer = eval(call_text(entry["action"]), {}, names)
        except ZookeeperError as error:
            answer = {"exception": type(error).__name__}
        ens.run_for(0.2)
        expected = [(callback[1], callback[3]) for callback in entry["callbacks"]]
        assert fired == expected, f"action {index}: {entry['action']}"
        recorded = GOLDEN["actions"][index]
        assert recorded["action"] == entry["action"]
        if not isinstance(answer, Stat | tuple):
            golden = recorded["result"]
            if isinstance(golden, dict):
                golden = {"exception": golden["exception"]}
            if isinstance(golden, list):  # the real server's HashSet order; compare as sets of names
                answer, golden = sorted(answer), sorted(golden)
            assert answer == golden, f"action {index}: {entry['action']}"
