"""Django admin lists scenarios and labs for staff, and only for staff."""

from __future__ import annotations

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
