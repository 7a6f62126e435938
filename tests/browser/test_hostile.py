"""What a learner sees when a lab is busy or a server says no, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_kafka_labs import open_lab
from tests.browser.test_zookeeper_labs import open_lab as open_zookeeper_lab
from tests.server import running_server

pytestmark = pytest.mark.browser


def test_a_long_jump_shows_its_progress_and_the_next_click_waits_its_turn(page, server_url):
    open_lab(page, server_url, "kafka-activity")
    page.locator("#toggle-ten-x").click()
    expect(page.locator("#toggle-ten-x")).to_have_attribute("data-state", "on")
    page.locator("#btn-forward-30").click()
    expect(page.locator("#lab-status")).to_contain_text(re.compile(r"Busy.*jumping ahead to .*% done"))
    page.locator("#btn-forward-5").click()  # sent while the jump runs: carried out after it
    expect(page.locator("#lab-notice")).to_contain_text(re.compile(r"Jumped 5 s ahead to \d+\.\d s\."),
                                                         timeout=30_000)
    expect(page.locator("#lab-status")).to_contain_text("Playing")
    assert int(page.locator("#lab-status").get_attribute("data-now")) >= 35_000


def test_a_poisoned_command_is_refused_and_the_lab_page_still_works(page, server_url):
    open_zookeeper_lab(page, server_url, "master-election")
    # A command no button sends, as a hostile student would send it from the console.
    page.evaluate("""() => {
        const address = location.origin.replace('http', 'ws') + location.pathname.replace('/labs/', '/ws/labs/');
        const socket = new WebSocket(address);
        socket.onopen = () => socket.send('{"command": "console", "op": "get", "path": "/\\\\ud800"}');
        socket.onmessage = (event) => { if (event.data.includes('lab-notice')) window.refusal = event.data; };
    }""")
    page.wait_for_function("window.refusal !== undefined")
    assert "plain Unicode text" in page.evaluate("window.refusal")
    page.reload()
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("#lab-status")).to_contain_text("Playing")


def test_a_full_server_says_so_instead_of_failing(browser):
    with running_server(COORDLAB_MAX_LABS="1") as url:
        first, second = browser.new_context(), browser.new_context()
        try:
            watching = first.new_page()
            open_zookeeper_lab(watching, url, "network-basics")  # the one lab this server may run, watched
            late = second.new_page()
            late.goto(url + "/")
            late.locator("#card-network-basics").get_by_role("button", name="Open lab").click()
            expect(late.locator("#refusal")).to_contain_text("The server is full")
            expect(late.locator("#refusal")).to_contain_text("Try again in a few minutes")
        finally:
            first.close()
            second.close()
