"""Guided steps in a real browser: Next (a button, PageDown or n) does a step and the lab pauses when
what the step is about has happened, for every viewer; Back (PageUp or b) shows a step again; presenter
mode shows the current step under the picture."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .test_zookeeper_labs import open_lab

pytestmark = pytest.mark.browser

TIMEOUT_MS = 30_000  # a step's moment at 20x comes within a few seconds; a loaded machine takes longer


def set_speed(page, speed: float) -> None:
    page.locator("#speed").select_option(value=str(speed))
    expect(page.locator("#lab-status")).to_have_attribute("data-speed", str(speed))


def wait_for_step(page, number: int) -> None:
    """The guide stands at step ``number`` (the ones before are done) and the lab is paused there."""
    expect(page.locator(f"#guide-step-{number}")).to_have_class(re.compile(r"\bcurrent\b"), timeout=TIMEOUT_MS)
    expect(page.locator("#lab-status")).to_have_attribute("data-playing", "false")


def test_next_plays_each_step_to_its_moment_and_back_shows_one_again(page, browser, server_url):
    open_lab(page, server_url, "master-election")
    guide = page.locator("#guide")
    expect(guide.locator(".guide-step")).to_have_count(5)
    expect(page.locator("#btn-next")).to_have_text("Next: Wait for a master ▸")
    expect(page.locator("#btn-back")).to_be_disabled()
    set_speed(page, 20.0)

    watcher = browser.new_page()  # everyone watching the lab sees the same step
    watcher.goto(page.url)
    expect(watcher.locator("#connection")).to_have_text("live")

    page.locator("#btn-next").click()  # wait for a master (maybe there already: then it is done at once)
    wait_for_step(page, 2)
    expect(page.locator("#guide-step-1")).to_contain_text("✓ done")
    expect(page.locator("#lab-timeline")).to_contain_text(re.compile(
        r"Step 1 of 5: every app server knows the master|“Wait for a master”: done: every app server knows"))
    expect(watcher.locator("#guide-step-2")).to_have_class(re.compile(r"\bcurrent\b"))
    expect(page.locator("#metric-master")).to_have_text("M1")

    page.keyboard.press("PageDown")  # a presenter's clicker: kill the master's ZooKeeper server
    wait_for_step(page, 3)
    expect(page.locator("#lab-timeline")).to_contain_text("the master's session moves to another server")
    down = page.locator('.zk-server[data-state="down"]')
    expect(down).to_have_count(1)
    expect(page.locator("#metric-master")).to_have_text("M1")  # it stayed master

    page.keyboard.press("n")  # kill the master: its session runs out, the node goes
    wait_for_step(page, 4)
    expect(page.locator("#machine-M1")).to_have_attribute("data-state", "down")
    expect(page.locator("#lab-timeline")).to_contain_text("its session expires and the node disappears")

    page.keyboard.press("PageUp")  # back: the lab as it was just before M1 was killed
    expect(page.locator("#lab-notice")).to_contain_text("Back to step 3, “Kill the master”")
    wait_for_step(page, 3)
    expect(page.locator("#machine-M1")).to_have_attribute("data-state", "up")
    expect(page.locator("#lab-status")).to_have_attribute("data-rewound", "true")

    page.keyboard.press("p")  # presenter mode: the current step under the picture
    expect(page.locator("#presenter-step")).to_be_visible()
    expect(page.locator("#presenter-step")).to_contain_text("Step 3 of 5: Kill the master")
    page.keyboard.press("PageDown")
    expect(page.locator("#presenter-step")).to_contain_text("Step 4 of 5: Watch the slaves race", timeout=TIMEOUT_MS)
    expect(page.locator("#machine-M1")).to_have_attribute("data-state", "down")
    expect(watcher.locator("#guide-step-4")).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("p")
    watcher.close()


def test_every_lab_offers_guided_steps(page, server_url):
    for slug, first in (("network-basics", None), ("kafka-shop", None), ("sessions-ephemerals", "C1 connects")):
        open_lab(page, server_url, slug)
        expect(page.locator("#guide .guide-step").first).to_be_visible()
        assert page.locator("#guide .guide-step").count() >= 2
        if first:
            expect(page.locator("#btn-next")).to_have_text(f"Next: {first} ▸")
