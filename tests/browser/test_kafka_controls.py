"""Every control of a Kafka lab's panels, clicked as a learner would, does what its label
says (the scenario tests cover the main stories; these cover the rest of the buttons)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_kafka_labs import forward, open_lab, pause

pytestmark = pytest.mark.browser


def member_button(page, member, label):
    page.locator(f"#member-{member}").get_by_role("button", name=label, exact=True).click()


def test_a_members_buttons_pause_resume_change_its_rate_and_remove_it(page, server_url):
    open_lab(page, server_url, "kafka-groups")
    pause(page)
    member = page.locator("#member-workers-1")
    member_button(page, "workers-1", "pause")
    expect(member).to_have_attribute("data-status", "paused")
    member_button(page, "workers-1", "resume")
    expect(member).to_have_attribute("data-status", "working")
    member_button(page, "workers-1", "faster")
    expect(member).to_contain_text(" 8/s ")
    member_button(page, "workers-1", "slower")
    expect(member).to_contain_text(" 4/s ")
    page.locator("#add-consumer-workers").click()
    forward(page, 5)
    expect(page.locator("#member-workers-2")).to_have_attribute("data-status", "working")
    member_button(page, "workers-2", "remove")
    expect(page.locator("#member-workers-2")).to_have_attribute("data-status", "left the group")
    expect(page.locator("#lab-timeline")).to_contain_text("workers-2 closes and leaves group workers")


def test_a_services_key_buttons_change_its_key_distribution(page, server_url):
    open_lab(page, server_url, "kafka-groups")
    service = page.locator("#service-events")
    expect(service).to_have_attribute("data-keys", "uniform")
    service.get_by_role("button", name="hot", exact=True).click()
    expect(service).to_have_attribute("data-keys", "hot")
    expect(service.get_by_role("button", name="hot", exact=True)).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#lab-timeline")).to_contain_text("one hot key in 4 of 5 records")


def test_topic_admin_creates_a_topic_and_a_new_group_reads_it(page, server_url):
    open_lab(page, server_url, "kafka-keys")
    form = page.locator("#create-topic")
    form.locator("input[name=topic]").fill("refunds")
    form.locator("input[name=partitions]").fill("2")
    form.locator("input[name=replication]").fill("2")
    form.locator("select[name=cleanup]").select_option("compact")
    form.get_by_role("button", name="Create topic").click()
    expect(page.locator("#lab-notice")).to_contain_text("Asked the controller to create refunds")
    expect(page.locator("#topic-refunds")).to_contain_text("2 partitions × 2 replicas · cleanup compact")
    group = page.locator("#new-group")
    group.locator("input[name=group]").fill("audit")
    group.locator("input[name=topic]").fill("refunds")
    group.get_by_role("button", name="Start").click()
    expect(page.locator("#lab-notice")).to_contain_text("audit-1 starts and joins group audit")
    forward(page, 5)
    expect(page.locator("#group-audit")).to_have_attribute("data-state", "stable")
    expect(page.locator("#member-audit-1")).to_have_attribute("data-partitions", "2")


def test_offsets_reset_to_a_given_offset_or_the_start_and_records_show_their_details(page, server_url):
    open_lab(page, server_url, "kafka-keys")
    forward(page, 5)
    pause(page)
    before = page.locator("#member-reader-1").inner_text()
    form = page.locator("#reset-offsets")
    form.locator("input[name=group]").fill("reader")
    form.locator("input[name=to]").fill("0")
    form.get_by_role("button", name="Reset").click()
    expect(page.locator("#lab-notice")).to_contain_text("Every member of reader moves to 0")
    page.locator("#group-reader").get_by_role("button", name="earliest").click()
    expect(page.locator("#lab-notice")).to_contain_text("moves to earliest")
    forward(page, 5)
    expect(page.locator("#lab-timeline")).to_contain_text("Group reader's offsets reset to earliest")
    assert page.locator("#member-reader-1").inner_text() != before, "it read the partitions again"
    record = page.locator("#kafka-topics li.record").first
    record.click()
    details = record.locator(".record-details")
    expect(details).to_be_visible()
    expect(details).to_contain_text("timestamp")
    expect(details).to_contain_text("leader epoch")
