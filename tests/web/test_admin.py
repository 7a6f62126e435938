"""Django admin lists scenarios and labs for staff, and only for staff."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

from coordlab.models import LabRecord

pytestmark = pytest.mark.django_db


def test_staff_see_scenarios_and_labs(admin_client):
    call_command("load_scenarios", verbosity=0)
    LabRecord.objects.create(id="abc23456", scenario_slug="network-basics", seed=1)
    scenarios = admin_client.get("/admin/coordlab/scenario/")
    labs = admin_client.get("/admin/coordlab/labrecord/")
    assert scenarios.status_code == 200 and "Network basics" in scenarios.content.decode()
    assert labs.status_code == 200 and "abc23456" in labs.content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/admin/coordlab/scenario/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


async def test_a_reset_from_the_admin_reaches_every_connected_viewer(async_client, runtime):
    from asgiref.sync import sync_to_async
    from django.contrib.auth.models import User

    from tests.web.test_consumer import connect, next_matching, send

    lab = await runtime.start_lab("network-basics")
    first, second = await connect(lab.id), await connect(lab.id)
    await send(first, command="forward", seconds=30)
    await next_matching(second, 'data-now="30', timeout=5)
    admin = await sync_to_async(User.objects.create_superuser)("root", password="pw")
    await async_client.aforce_login(admin)
    response = await async_client.post("/admin/coordlab/labrecord/", {"action": "reset", "_selected_action": [lab.id]})
    assert response.status_code == 302
    for viewer in (first, second):
        frame = await next_matching(viewer, "The lab was reset to its start.", timeout=5)
        assert int(re.search(r'data-now="(\d+)"', frame).group(1)) < 1000
        await viewer.disconnect()
    listing = (await async_client.get("/admin/coordlab/labrecord/")).content.decode()
    assert lab.id in listing and re.search(r">0\.\d s<", listing), "virtual time back near zero"


def test_a_copy_of_a_scenario_is_an_editable_preset_in_the_catalog(admin_client):
    from coordlab.models import Scenario

    call_command("load_scenarios", verbosity=0)
    response = admin_client.post("/admin/coordlab/scenario/", {"action": "make_copy",
                                                               "_selected_action": ["master-election"]})
    assert response.status_code == 302
    copy = Scenario.objects.get(slug="master-election-copy-1")
    assert (copy.based_on, copy.built_in, copy.listed) == ("master-election", "master-election", False)
    admin_client.post(f"/admin/coordlab/scenario/{copy.slug}/change/", {
        "slug": copy.slug, "title": "Master election, seed 42", "promise": "Same story, other timings.",
        "position": 3, "listed": "on", "based_on": "master-election", "seed": 42})
    copy.refresh_from_db()
    assert (copy.title, copy.seed, copy.listed) == ("Master election, seed 42", 42, True)
    catalog = admin_client.get("/").content.decode()
    assert 'id="card-master-election-copy-1"' in catalog and "Master election, seed 42" in catalog
    started = admin_client.post("/labs/new/master-election-copy-1/")
    lab = LabRecord.objects.get(id=started["Location"].strip("/").split("/")[1])
    assert (lab.scenario_slug, lab.seed) == ("master-election", 42)
