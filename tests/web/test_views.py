"""Pages: the catalog, starting a lab, and the lab page before any socket."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

from coordlab.labs import registry
from coordlab.models import LabRecord, Scenario

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scenarios():
    call_command("load_scenarios", verbosity=0)


def test_load_scenarios_syncs_the_catalog_from_code(scenarios):
    slugs = list(Scenario.objects.values_list("slug", flat=True))
    assert slugs == list(registry.scenarios()) and slugs[0] == "network-basics"
    assert "master-election" in slugs
    call_command("load_scenarios", verbosity=0)  # idempotent
    assert Scenario.objects.count() == len(slugs)


async def test_catalog_has_a_card_per_scenario(async_client, scenarios, runtime):
    response = await async_client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="card-network-basics"' in html and "Network basics" in html
    assert 'action="/labs/new/network-basics/"' in html


async def test_opening_a_card_starts_a_playing_lab_at_its_own_url(async_client, scenarios, runtime):
    response = await async_client.post("/labs/new/network-basics/")
    assert response.status_code == 302
    lab_id = re.fullmatch(r"/labs/(\w+)/", response["Location"]).group(1)
    assert await LabRecord.objects.filter(id=lab_id).aexists()
    page = await async_client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert f'ws-connect="/ws/labs/{lab_id}/"' in html and 'hx-ext="ws,morph"' in html
    assert all(f'id="machine-m{n}"' in html for n in range(1, 5))
    assert 'data-playing="true"' in html and "Playing" in html
    assert 'hx-swap-oob' not in html, "the page itself is not an out-of-band swap"


async def test_a_lab_url_still_works_after_the_process_forgot_the_lab(async_client, scenarios, runtime):
    response = await async_client.post("/labs/new/network-basics/")
    lab_id = response["Location"].split("/")[2]
    del runtime.engine.labs[lab_id]
    page = await async_client.get(response["Location"])
    assert page.status_code == 200 and lab_id in runtime.engine.labs


@pytest.mark.parametrize("url", ["/labs/nosuchlab/", "/labs/new/no-such-scenario/"])
async def test_unknown_things_are_404(async_client, scenarios, runtime, url):
    method = async_client.post if "new" in url else async_client.get
    assert (await method(url)).status_code == 404


async def test_starting_a_lab_needs_post(async_client, scenarios, runtime):
    assert (await async_client.get("/labs/new/network-basics/")).status_code == 405
