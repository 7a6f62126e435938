"""Sessions moving between servers, stale reads and sync, and leader failover
(ZooKeeperServer.processConnectRequest, ClientCnxn, Leader.lead, FastLeaderElection)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from zookeeper_app.model import Ensemble, KazooState
from zookeeper_app.model.election import Vote, better


@pytest.mark.parametrize("servers", [3, 5])
@pytest.mark.parametrize("seed", range(8))
def test_killing_the_leader_elects_a_higher_epoch_and_writes_resume(servers, seed):
    ens = Ensemble(servers=servers, seed=seed, tick_time=200)
    ens.run_for(2)
    old = ens.leader()
    old_epoch = ens.server(old).epoch
    zk = ens.client("c1", hosts=",".join(n for n in ens.server_names if n != old))
    zk.start()
    zk.create("/before")
    ens.crash(old)
    ens.run_for(5)
    new = ens.leader()
    assert new not in (None, old) and ens.server(new).epoch > old_epoch
    assert zk.create("/after") == "/after"
    ens.restart(old)
    ens.run_for(3)
    assert ens.server(old).state == "FOLLOWING" and ens.server(old).tree.stat_of("/after") is not None


def test_a_client_whose_server_dies_moves_to_another_and_keeps_its_session():
    ens = Ensemble(servers=3, seed=4, tick_time=200)
    ens.run_for(2)
    states = []
    zk = ens.client("c1", hosts="z1,z2,z3", timeout=4.0)
    zk.add_listener(states.append)
    zk.start()
    zk.create("/mine", ephemeral=True)
    session = zk.client_id
    first = ens.sim.nodes["c1"].server
    ens.crash(first)
    ens.run_for(6)
    assert zk.client_id == session and zk.state == KazooState.CONNECTED
    assert ens.sim.nodes["c1"].server != first
    assert states[-2:] == [KazooState.SUSPENDED, KazooState.CONNECTED]
    assert zk.exists("/mine") is not None, "not expired: its ephemeral node is still there"


def test_a_server_that_has_seen_less_than_the_client_is_refused():
    ens = Ensemble(servers=3, seed=4, tick_time=200, sync_limit=10)
    ens.run_for(2)
    leader = ens.leader()
    near, far = [s.name for s in ens.servers() if s.name != leader]
    ens.slow(leader, far, 600)  # "far" learns of commits 0.6 s late (within its 2 s syncLimit)
    # (a session that outlives the lag: the client is refused, and backs off as kazoo does, for about 0.6 s)
    zk = ens.client("c1", hosts=f"{near},{far}", timeout=4.0)
    zk.start()
    session = zk.client_id
    zk.create("/new")
    ens.crash(near)
    ens.run_for(4)
    refusals = [e for e in ens.sim.trace_log.events if e.kind == "refuse" and e.node == far]
    assert refusals, "the lagging server must refuse a client that has seen more"
    assert zk.state == KazooState.CONNECTED and zk.client_id == session
    assert ens.sim.nodes["c1"].server == far and zk.exists("/new") is not None


def test_reads_can_be_stale_until_sync():
    ens = Ensemble(servers=3, seed=5, tick_time=200)
    ens.run_for(2)
    follower = next(s.name for s in ens.servers() if s.state == "FOLLOWING")
    writer = ens.client("w", hosts=ens.leader())
    reader = ens.client("r", hosts=follower)
    writer.start()
    reader.start()
    ens.slow(ens.leader(), follower, 400)  # commits reach this follower late
    writer.create("/fresh")
    assert reader.exists("/fresh") is None, "a stale read from the follower's own tree"
    reader.sync("/")
    assert reader.exists("/fresh") is not None


def test_an_even_ensemble_elects_too():
    ens = Ensemble(servers=4, seed=1)
    ens.run_for(2)
    assert ens.leader() is not None and ens.server(ens.leader()).quorum_size() == 3


def test_votes_compare_epoch_then_zxid_then_id():
    assert better(Vote("z1", 1, 5, 2), Vote("z3", 3, 9, 1))  # epoch first
    assert better(Vote("z1", 1, 9, 1), Vote("z3", 3, 5, 1))  # then zxid
    assert better(Vote("z3", 3, 5, 1), Vote("z1", 1, 5, 1))  # then server id


def test_the_entry_point_runs_from_a_plain_python_shell_without_django():
    script = textwrap.dedent("""
        import sys
        from zookeeper_app.model import Ensemble, NodeExistsError, NoNodeError, EventType, KazooState
        ens = Ensemble(servers=3, seed=7, tick_time=200)
        ens.run_for(2.0)
        assert ens.leader() is not None and ens.now == 2000
        s = ens.server("z1"); print(s.state, s.epoch, hex(s.last_zxid), file=sys.stderr)
        zk = ens.client("c1", hosts="z1,z2,z3", timeout=10.0)
        zk.start()
        seen = []
        zk.create("/a", b"x", ephemeral=True); zk.get("/a", watch=seen.append)
        ens.partition(["z1"], ["z2", "z3", "c1"]); ens.cut("z1", "z2", both_ways=False); ens.heal()
        ens.crash("z1"); ens.restart("z1")
        zk.stop(); zk.close()
        assert "django" not in sys.modules
        print("ok")
    """)
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr


def test_the_sessions_table_names_a_crashed_clients_session_and_gives_every_row_its_own_id():
    """A crashed client forgets its session, but the server it was connected to still knows
    whose it was; restarted, the client opens a second session while the first runs down."""
    from coordlab.labs.commands import from_data
    from coordlab.labs.lab import Lab
    from coordlab.labs.registry import get
    from zookeeper_app import frames

    lab = Lab("x", get("sessions-ephemerals"))
    lab.apply(from_data({"command": "forward", "seconds": 5}))
    lab.apply(from_data({"command": "crash", "node": "C1"}))
    lab.apply(from_data({"command": "forward", "seconds": 1}))
    rows = [r for r in frames.context(lab)["sessions"] if r["client"] != "you"]  # (the console's client)
    assert [(r["client"], r["server"]) for r in rows] == [("C1", "–")]
    lab.apply(from_data({"command": "restart", "node": "C1"}))
    lab.apply(from_data({"command": "forward", "seconds": 1}))
    rows = [r for r in frames.context(lab)["sessions"] if r["client"] != "you"]
    assert [r["client"] for r in rows] == ["C1", "C1"]
    assert len({r["id"] for r in rows}) == 2  # the page's row ids (session-<id>) are unique
