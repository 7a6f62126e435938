"""The simulation kernel: clock, queue, timers, network faults, crash and restart."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from coordlab.sim import Message, Node, Simulation, durable, serializable


@serializable
@dataclass
class Recorder(Node):
    """Records what it receives; keeps ``disk`` across crashes, ``memory`` not."""

    disk: list[str] = durable(default_factory=list)
    memory: list[str] = field(default_factory=list)
    got: list[tuple[int, str, int]] = field(default_factory=list)

    def handle_ping(self, sim: Simulation, message: Message) -> None:
        self.got.append((sim.now, message.src, message.body["n"]))

    def on_alarm(self, sim: Simulation, label: str) -> None:
        sim.trace(self.name, "alarm", f"{self.name}: {label}", label=label)


def make_sim(seed: int = 0, names: tuple[str, ...] = ("a", "b", "c"), latency: int = 10,
             jitter: int = 0) -> Simulation:
    sim = Simulation.create(seed)
    sim.network.latency_ms, sim.network.jitter_ms = latency, jitter
    for name in names:
        sim.add_node(Recorder(name=name))
    sim.start()
    return sim


def test_clock_jumps_to_events_and_same_time_events_run_in_schedule_order():
    sim = make_sim()
    sim.set_timer("a", "alarm", 50, label="second")
    sim.set_timer("a", "alarm", 20, label="first")
    sim.set_timer("b", "alarm", 50, label="third")
    sim.run_until(1000)
    assert [(e.time, e.fields["label"]) for e in sim.trace_log.events] == [
        (20, "first"), (50, "second"), (50, "third")]
    assert sim.now == 1000


def test_cancelled_timer_never_fires():
    sim = make_sim()
    timer = sim.set_timer("a", "alarm", 10, label="x")
    sim.cancel_timer(timer)
    sim.run_until(100)
    assert sim.trace_log.count == 0


def test_messages_are_visible_in_flight_then_delivered():
    sim = make_sim(latency=30)
    message = sim.send("a", "b", "Ping", n=1)
    assert message is not None and sim.network.in_flight[message.id].deliver_at == 30
    sim.run_until(29)
    assert sim.nodes["b"].got == [] and message.id in sim.network.in_flight
    sim.run_until(30)
    assert sim.nodes["b"].got == [(30, "a", 1)] and not sim.network.in_flight


def test_links_are_fifo_whatever_the_jitter():
    sim = make_sim(seed=3, latency=50, jitter=45)
    for n in range(50):
        sim.send("a", "b", "Ping", n=n)
        sim.run_until(sim.now + 1)
    sim.run_until(10_000)
    assert [n for _, _, n in sim.nodes["b"].got] == list(range(50))


def test_one_way_cut_blocks_only_that_direction():
    sim = make_sim()
    sim.cut("a", "b", both_ways=False)
    assert sim.send("a", "b", "Ping", n=1).doomed == "link cut"
    assert sim.send("b", "a", "Ping", n=2).doomed == ""
    sim.run_until(100)
    assert sim.nodes["b"].got == [] and sim.nodes["a"].got == [(10, "b", 2)]
    assert sim.trace_log.events[-1].kind == "lost"


def test_two_way_cut_and_restore():
    sim = make_sim()
    sim.cut("a", "b")
    assert sim.network.blocked("a", "b") == sim.network.blocked("b", "a") == "link cut"
    assert sim.network.blocked("a", "c") is None
    sim.restore_link("a", "b")
    assert sim.network.blocked("a", "b") is None and sim.network.blocked("b", "a") is None


def test_partition_blocks_between_groups_and_unlisted_nodes_form_their_own_group():
    sim = make_sim(names=("a", "b", "c", "d"))
    sim.partition([["a", "b"], ["c"]])
    assert sim.network.blocked("a", "b") is None
    assert sim.network.blocked("a", "c") == "partition"
    assert sim.network.blocked("c", "d") == "partition"  # d is in the "rest" group
    assert sim.network.blocked("d", "a") == "partition"
    sim.heal()
    assert all(sim.network.blocked(x, y) is None for x in "abcd" for y in "abcd" if x != y)


def test_a_message_sent_over_a_blocked_link_travels_and_is_lost_on_arrival():
    sim = make_sim(latency=100)
    sim.cut("a", "b")
    message = sim.send("a", "b", "Ping", n=1)
    sim.heal()
    assert message.id in sim.network.in_flight
    sim.run_until(99)
    assert sim.trace_log.events[-1].kind == "heal"
    sim.run_until(100)
    assert sim.nodes["b"].got == [] and sim.trace_log.events[-1].kind == "lost"
    assert sim.trace_log.events[-1].time == 100


def test_a_message_in_flight_is_lost_if_its_link_is_cut_before_it_arrives():
    sim = make_sim(latency=100)
    sim.send("a", "b", "Ping", n=1)
    sim.run_until(50)
    sim.partition([["a"], ["b", "c"]])
    sim.run_until(200)
    assert sim.nodes["b"].got == []
    assert sim.trace_log.events[-1].fields["reason"] == "partition"


def test_drop_rate_loses_messages_from_the_seeded_rng():
    def delivered(seed: int) -> list[int]:
        sim = make_sim(seed=seed)
        sim.network.drop_rate = 0.5
        for n in range(200):
            sim.send("a", "b", "Ping", n=n)
        sim.run_until(1000)
        return [n for _, _, n in sim.nodes["b"].got]

    first = delivered(7)
    assert 60 < len(first) < 140
    assert delivered(7) == first
    assert delivered(8) != first


def test_crash_loses_volatile_state_and_timers_but_keeps_durable_state():
    sim = make_sim()
    node = sim.nodes["a"]
    node.disk.append("fsynced")
    node.memory.append("volatile")
    sim.set_timer("a", "alarm", 100, label="before crash")
    sim.crash("a")
    crashed = sim.nodes["a"]
    assert not crashed.alive and crashed.disk == ["fsynced"] and crashed.memory == []
    sim.send("b", "a", "Ping", n=1)
    sim.run_until(50)
    sim.restart("a")
    sim.run_until(500)
    assert sim.nodes["a"].alive and sim.nodes["a"].got == []
    assert "before crash" not in [e.fields.get("label") for e in sim.trace_log.events]
    assert [e.kind for e in sim.trace_log.events] == ["crash", "lost", "restart"]


def test_unknown_message_kind_is_traced_not_fatal():
    sim = make_sim()
    sim.send("a", "b", "Mystery")
    sim.run_until(100)
    assert sim.trace_log.events[-1].kind == "unhandled"


def test_trace_is_bounded_but_digest_covers_everything():
    sim = make_sim()
    sim.trace_log.limit = 10
    for n in range(100):
        sim.trace("a", "tick", f"tick {n}")
    assert len(sim.trace_log.events) <= 20
    assert sim.trace_log.count == 100
    assert sim.trace_log.recent(1)[0].text == "tick 99"


def test_duplicate_node_names_are_refused():
    sim = make_sim()
    with pytest.raises(ValueError):
        sim.add_node(Recorder(name="a"))


@serializable
@dataclass
class Holder(Node):
    """Holds a connection to ``to``; notes when it closes and which of its messages were lost how."""

    to: str = durable("")
    closed: list[tuple[int, str]] = field(default_factory=list)
    lost: list[tuple[str, bool]] = field(default_factory=list)

    def connected_to(self, peer: str) -> bool:
        return peer == self.to

    def handle_connection_closed(self, sim: Simulation, message: Message) -> None:
        self.closed.append((sim.now, message.src))

    def undelivered(self, sim: Simulation, message: Message, refused: bool) -> None:
        self.lost.append((message.dst, refused))


def holders() -> Simulation:
    sim = make_sim(names=("server",), latency=10)
    sim.add_node(Holder(name="linked", to="server"))
    sim.add_node(Holder(name="stranger", to="elsewhere"))
    return sim


def test_a_killed_process_closes_its_connections_at_once_and_refuses_what_comes_later():
    sim = holders()
    sim.run_until(100)
    sim.crash("server")
    sim.send("linked", "server", "Ping", n=1)
    sim.run_until(200)
    assert sim.nodes["linked"].closed == [(110, "server")]  # one network delay after the kill
    assert sim.nodes["stranger"].closed == []  # it held no connection to the server
    assert sim.nodes["linked"].lost == [("server", True)]  # its host answers with a reset
    assert sim.nodes["server"].failure == "killed"
    assert [e.kind for e in sim.trace_log.events if e.node == "server"] == ["crash"]


def test_a_powered_off_machine_falls_silent_and_a_cut_link_keeps_the_news_from_a_killed_ones_peer():
    sim = holders()
    sim.power_off("server")
    sim.send("linked", "server", "Ping", n=1)
    sim.run_until(100)
    assert sim.nodes["linked"].closed == [] and sim.nodes["linked"].lost == [("server", False)]
    assert sim.nodes["server"].failure == "powered off"
    sim.restart("server")
    assert sim.nodes["server"].failure == ""
    sim.cut("server", "linked")
    sim.crash("server")
    sim.run_until(200)
    assert sim.nodes["linked"].closed == []  # the reset was lost on the cut link
