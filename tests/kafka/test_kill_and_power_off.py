"""A killed broker and a powered-off one, in "Replication and broker failure" (issue 16, point 3).

A killed broker's process is gone, so its host closes every connection: the producer's
unanswered batch fails at once with NETWORK_EXCEPTION, and the followers' fetches fail
too; each refreshes its metadata and retries. A broker that lost power answers nothing:
the producer waits request.timeout.ms (30 s) for its batch. Either way the controller
moves leadership only when the broker's ZooKeeper session expires.
"""

from __future__ import annotations

import pytest

from coordlab.labs.commands import from_data
from kafka_app.model import observe

from .test_lab_scenarios import forward, lab


def fail_leader(how: str) -> tuple[object, int, int]:
    the_lab = lab("kafka-replication")
    leader = observe.view(the_lab.sim)[0].partitions["payments-0"].leader
    start = the_lab.sim.now
    the_lab.apply(from_data({"command": how, "node": f"b{leader}"}))
    forward(the_lab, 40)
    return the_lab, leader, start


def first(the_lab, start: int, kind: str, node: str | None = None) -> int:
    return next(e.time - start for e in the_lab.sim.trace_log.events
                if e.time >= start and e.kind == kind and (node is None or e.node == node))


def test_a_killed_leaders_connections_close_so_its_clients_and_followers_react_at_once():
    the_lab, leader, start = fail_leader("crash")
    assert first(the_lab, start, "crash", f"b{leader}") == 0
    assert first(the_lab, start, "fetcher_disconnected") < 500
    assert first(the_lab, start, "retry", "payments") < 2_000  # a retry, not a 30 s wait
    texts = [e.text for e in the_lab.sim.trace_log.events if e.time >= start]
    assert any(f"connection to b{leader} closed" in text for text in texts)


def test_a_powered_off_leader_is_noticed_only_when_the_producers_request_times_out():
    the_lab, leader, start = fail_leader("power_off")
    assert first(the_lab, start, "power_off", f"b{leader}") == 0
    assert not [e for e in the_lab.sim.trace_log.events if e.time >= start and e.kind == "fetcher_disconnected"]
    assert first(the_lab, start, "retry", "payments") >= 30_000  # request.timeout.ms
    assert "REQUEST_TIMED_OUT" in the_lab.sim.nodes["payments"].retried


@pytest.mark.parametrize("how", ["crash", "power_off"])
def test_either_way_leadership_moves_when_the_zookeeper_session_expires_and_nothing_acknowledged_is_lost(how):
    the_lab, leader, start = fail_leader(how)
    assert observe.view(the_lab.sim)[0].partitions["payments-0"].leader not in (leader, -1)
    session_timeout = 6_000  # the lab's zookeeper.session.timeout.ms
    assert first(the_lab, start, "brokers_changed") >= session_timeout
    assert the_lab.sim.nodes["safety"].violations == []
