"""An admin stops and resets a running lab from Django's admin; every viewer sees it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_classrooms import log_in
from tests.browser.test_kafka_labs import forward
from tests.browser.test_zookeeper_labs import open_lab

pytestmark = pytest.mark.browser


def run_action(admin, server_url, lab_id, action):
    admin.goto(server_url + "/admin/coordlab/labrecord/")
    admin.locator(f'input[name="_selected_action"][value="{lab_id}"]').check()
    admin.locator("select[name=action]").select_option(action)
    admin.locator("button[name=index]").click()
    expect(admin.locator(".messagelist")).to_contain_text("everyone watching sees it now")


def test_an_admin_stops_and_resets_a_lab_every_viewer_watches(browser, page, server_url, superuser):
    open_lab(page, server_url, "leader-election")
    forward(page, 30)
    lab_id = page.url.rstrip("/").rsplit("/", 1)[1]
    admin = browser.new_context().new_page()
    log_in(admin, server_url, *superuser)
    admin.goto(server_url + "/admin/coordlab/labrecord/")
    expect(admin.locator("#result_list")).to_contain_text(lab_id)
    run_action(admin, server_url, lab_id, "stop")
    expect(page.locator("#lab-status")).to_have_attribute("data-playing", "false")
    run_action(admin, server_url, lab_id, "reset")
    expect(page.locator("#lab-timeline")).to_contain_text("The lab was reset to its start.")
    assert int(page.locator("#lab-status").get_attribute("data-now")) < 30_000
    admin.context.close()


def test_an_admins_copy_of_a_scenario_appears_in_the_catalog_and_opens(browser, server_url, superuser):
    admin = browser.new_context().new_page()
    log_in(admin, server_url, *superuser)
    admin.goto(server_url + "/admin/coordlab/scenario/")
    admin.locator('input[name="_selected_action"][value="network-basics"]').check()
    admin.locator("select[name=action]").select_option("make_copy")
    admin.locator("button[name=index]").click()
    expect(admin.locator(".messagelist")).to_contain_text("Copied")
    admin.goto(server_url + "/admin/coordlab/scenario/network-basics-copy-1/change/")
    admin.locator("#id_title").fill("Network basics, other timings")
    admin.locator("#id_seed").fill("99")
    admin.locator("#id_listed").check()
    admin.locator("input[name=_save]").click()
    admin.goto(server_url + "/")
    card = admin.locator("#card-network-basics-copy-1")
    expect(card).to_contain_text("Network basics, other timings")
    card.get_by_role("button", name="Open lab").click()
    expect(admin.locator("#connection")).to_have_text("live")
    expect(admin.locator("#machine-m1")).to_be_visible()
    admin.context.close()
