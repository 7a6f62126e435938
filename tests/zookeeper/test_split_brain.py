"""Why a majority: with it, a partitioned minority cannot write; with the unsafe
half-quorum switch, both sides of a 2 | 3 split commit, and the checkers say so."""

from __future__ import annotations

import pytest

from zookeeper_app.model import ConnectionLoss, Ensemble
from zookeeper_app.model.checks import histories_agree

SIDE_A, SIDE_B = ["z1", "z2", "cA"], ["z3", "z4", "z5", "cB"]


def split_ensemble(unsafe: bool) -> Ensemble:
    ens = Ensemble(servers=5, seed=11, tick_time=200)
    ens.run_for(2.0)
    writers = ens.client("cA", hosts="z1,z2", timeout=4.0), ens.client("cB", hosts="z3,z4,z5", timeout=4.0)
    for zk in writers:
        zk.start()
    writers[0].create("/x", b"before")
    ens.set_half_quorum(unsafe)
    ens.partition(SIDE_A, SIDE_B)
    ens.run_for(6.0)
    return ens


def test_with_a_majority_the_minority_cannot_write_and_the_majority_can():
    ens = split_ensemble(unsafe=False)
    minority, majority = ens.clients["cA"], ens.clients["cB"]
    with pytest.raises(ConnectionLoss):
        minority.set("/x", b"A")
    assert majority.set("/x", b"B").version == 1
    assert histories_agree(ens.sim) == []
    assert all(ens.server(z).state == "LOOKING" for z in ("z1", "z2"))


def test_with_the_unsafe_switch_both_sides_commit_and_split_brain_is_reported():
    ens = split_ensemble(unsafe=True)
    side_a, side_b = ens.clients["cA"], ens.clients["cB"]
    side_a.set("/x", b"A")
    side_b.set("/x", b"B")
    assert ens.server("z1").tree.nodes["/x"].data == b"A"
    assert ens.server("z3").tree.nodes["/x"].data == b"B"
    leaders = sorted(s.name for s in ens.servers() if s.state == "LEADING")
    assert len(leaders) == 2, leaders
    violations = histories_agree(ens.sim)
    assert violations and "committed different transactions" in violations[0]
