"""A lab kind declared and registered by this file alone: it appears in the catalog, opens as a
lab page, and keeps the lab contract, with no edit anywhere else (the README's "Adding a lab
kind" walks through the same steps)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pytest
from django.core.management import call_command
from django.template import engines

from coordlab.labs import registry
from coordlab.labs.commands import CommandError
from coordlab.labs.kinds import Action, LabKind
from coordlab.labs.lab import Lab
from coordlab.labs.scenario import Scenario
from coordlab.picture import timeline
from coordlab.sim import Message, Node, Simulation, serializable

from .lab_contract import KindContract

# -- the model: two machines play ping-pong ------------------------------------------------------


@serializable
@dataclass
class Player(Node):
    """Serves a ball to its partner every second, and returns every ball it gets."""

    partner: str = ""
    served: int = 0
    returned: int = 0

    def start(self, sim: Simulation) -> None:
        sim.set_timer(self.name, "serve", 1000)

    def on_serve(self, sim: Simulation) -> None:
        self.serve(sim)
        sim.set_timer(self.name, "serve", 1000)

    def serve(self, sim: Simulation) -> None:
        self.served += 1
        sim.send(self.name, self.partner, "Ball")

    def handle_ball(self, sim: Simulation, message: Message) -> None:
        self.returned += 1
        sim.trace(self.name, "returned", f"{self.name} got a ball from {message.src}.")


def build(seed: int) -> Simulation:
    sim = Simulation.create(seed)
    sim.network.latency_ms, sim.network.jitter_ms = 300, 50
    sim.add_node(Player(name="ping", partner="pong"))
    sim.add_node(Player(name="pong", partner="ping"))
    sim.start()
    return sim


# -- what the page shows, and what a viewer may do -----------------------------------------------


def context(lab: Lab) -> dict[str, Any]:
    players = [n for n in lab.sim.nodes.values() if isinstance(n, Player)]
    return {"players": [{"name": p.name, "alive": p.alive, "served": p.served, "returned": p.returned}
                        for p in players],
            "timeline": timeline(lab.sim, 10)}


def safety(sim: Simulation) -> list[str]:
    players = {n.name: n for n in sim.nodes.values() if isinstance(n, Player)}
    return [f"{p.name} returned more balls than {p.partner} served" for p in players.values()
            if p.returned > players[p.partner].served]


def check_serve(sim: Simulation, fields: dict[str, Any]) -> tuple[dict[str, Any], str]:
    player = sim.nodes.get(str(fields.get("player", "")))
    if not isinstance(player, Player) or not player.alive:
        raise CommandError("Name a running player: ping or pong.")
    return {"player": player.name}, f"{player.name} serves an extra ball."


def serve(sim: Simulation, logged: dict[str, Any]) -> None:
    player = sim.nodes[logged["player"]]
    assert isinstance(player, Player)
    player.serve(sim)


class Inline:
    """A template written here, compiled on first use: a worker process that thaws a simulation
    imports this module without setting Django up."""

    def __init__(self, source: str) -> None:
        self.source = source

    @cached_property
    def template(self) -> Any:
        return engines["django"].from_string(self.source).template

    def render(self, context: dict[str, Any] | None = None, request: Any = None) -> str:
        return str(engines["django"].from_string(self.source).render(context, request))


SCORE = Inline(
    '<table id="toy-score"{% if oob %} hx-swap-oob="morph"{% endif %}>'
    "{% for p in players %}<tr><th>{{ p.name }}</th><td>{{ p.served }} served</td>"
    "<td>{{ p.returned }} returned</td></tr>{% endfor %}</table>")
PANELS = Inline(
    '<div class="panels"><div class="panel-main">{% include score %}</div>'
    '<div class="panel-side">{% include "labs/partials/explain.html" %}</div></div>')

KIND = LabKind(
    slug="toy", heading="Toy: ping-pong", position=90,
    scenarios=(Scenario(slug="toy-ping-pong", title="Ping-pong", kind="toy", build=build,
                        promise="Two machines return every ball; kill one and the other's serves are lost.",
                        explain=("Each player serves once a second and returns what it gets.",),
                        simplification="Balls are never lost on a working link."),),
    context=lambda lab: {**context(lab), "score": SCORE}, panels=PANELS, fragments=(SCORE,), safety=safety,
    actions={"serve": Action(check_serve, serve)})


# -- the tests -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="module")
def registered():
    registry.register(KIND)
    yield
    registry.unregister(KIND.slug)


class TestToyKindContract(KindContract):
    kinds = (KIND,)
    modules = (__name__,)


@pytest.mark.django_db(transaction=True)
async def test_the_toy_kind_appears_in_the_catalog_and_opens_as_a_lab(async_client, runtime):
    await call_command_async("load_scenarios")
    catalog = (await async_client.get("/")).content.decode()
    assert "Toy: ping-pong" in catalog and 'id="card-toy-ping-pong"' in catalog
    started = await async_client.post("/labs/new/toy-ping-pong/")
    assert started.status_code == 302
    lab_id = re.fullmatch(r"/labs/(\w+)/", started["Location"]).group(1)
    page = (await async_client.get(started["Location"])).content.decode()
    assert 'id="toy-score"' in page and "Each player serves once a second" in page
    lab = runtime.engine.labs[lab_id]
    assert "serves an extra ball" in lab.apply(_act("serve", player="ping"))
    assert safety(lab.sim) == []


async def call_command_async(name: str) -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(call_command)(name, verbosity=0)


def _act(op: str, **fields: Any):
    from coordlab.labs.commands import from_data

    return from_data({"command": "act", "op": op, **fields})
