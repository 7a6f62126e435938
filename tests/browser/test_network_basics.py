"""What a person sees and clicks on the Network basics lab."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def open_new_lab(page, server_url):
    page.goto(server_url + "/")
    page.locator("#card-network-basics").get_by_role("button", name="Open lab").click()
    expect(page).to_have_url(re.compile(r"/labs/\w+/$"))
    expect(page.locator("#connection")).to_have_text("live")
    return page.url


def test_catalog_opens_a_playing_lab_with_machines_and_moving_heartbeats(page, server_url):
    open_new_lab(page, server_url)
    for n in range(1, 5):
        expect(page.locator(f"#machine-m{n}")).to_have_attribute("data-state", "up")
    expect(page.locator("#lab-status")).to_have_attribute("data-playing", "true")
    expect(page.locator("#basics-network circle.msg").first).to_be_visible()
    first_clock = page.locator("#lab-clock").inner_text()
    expect(page.locator("#lab-clock")).not_to_have_text(first_clock)


def test_killing_a_machine_marks_it_dead_and_the_others_suspect_it(page, server_url):
    open_new_lab(page, server_url)
    page.locator("#machine-m3 circle").click()
    expect(page.locator("#machine-m3")).to_have_attribute("data-state", "down")
    expect(page.locator("#machine-m3")).to_contain_text("✖ killed")
    expect(page.locator("#lab-timeline")).to_contain_text("m3 was killed")
    expect(page.locator("#lab-notice")).to_have_text("Killed m3. Its connections closed at once.")
    page.locator("#btn-forward-5").click()
    for observer in ("m1", "m2", "m4"):
        expect(page.locator(f'#beliefs-{observer} [data-peer="m3"]')).to_have_attribute("data-state", "suspected")
    expect(page.locator("#lab-timeline")).to_contain_text("m1 suspects m3")
    page.locator("#machine-m3 circle").click()
    expect(page.locator("#machine-m3")).to_have_attribute("data-state", "up")
    expect(page.locator("#lab-timeline")).to_contain_text("m3 restarted")


def test_another_browser_watches_the_lab_but_only_its_owner_changes_it(browser, page, server_url):
    url = open_new_lab(page, server_url)
    expect(page.locator("#role")).to_have_attribute("data-role", "owner")
    other = browser.new_context().new_page()
    other.goto(url)
    expect(other.locator("#connection")).to_have_text("live")
    expect(other.locator("#role")).to_contain_text("You are watching someone else's lab")
    page.locator("#link-m1-m2 .hit").click(force=True)  # a horizontal line has no height to "see"
    expect(other.locator("#link-m1-m2")).to_have_attribute("data-state", "cut")
    expect(other.locator("#lab-timeline")).to_contain_text("The link m1 ↔ m2 is cut.")
    other.locator("#link-m1-m2 .hit").click(force=True)
    expect(other.locator("#lab-notice")).to_contain_text("only its owner can change it")
    expect(page.locator("#link-m1-m2")).to_have_attribute("data-state", "cut")
    page.locator("#link-m1-m2 .hit").click(force=True)
    expect(other.locator("#link-m1-m2")).to_have_attribute("data-state", "ok")
    other.context.close()


def test_presets_split_the_network_and_heal_all_restores_it(page, server_url):
    open_new_lab(page, server_url)
    page.locator("#preset-split-2-2").click()
    expect(page.locator("#link-m1-m3")).to_have_attribute("data-state", "partitioned")
    expect(page.locator("#link-m1-m2")).to_have_attribute("data-state", "ok")
    page.locator("#btn-forward-5").click()
    expect(page.locator('#beliefs-m1 [data-peer="m3"]')).to_have_attribute("data-state", "suspected")
    expect(page.locator('#beliefs-m1 [data-peer="m2"]')).to_have_attribute("data-state", "alive")
    page.locator("#btn-heal").click()
    expect(page.locator("#link-m1-m3")).to_have_attribute("data-state", "ok")
    expect(page.locator("#lab-timeline")).to_contain_text("The network is healed")


def test_one_way_cut_from_the_form(page, server_url):
    open_new_lab(page, server_url)
    page.locator("#oneway select[name=a]").select_option("m1")
    page.locator("#oneway select[name=b]").select_option("m2")
    page.locator("#oneway button").click()
    expect(page.locator("#link-m1-m2")).to_have_attribute("data-state", "one-way")
    page.locator("#btn-forward-5").click()
    expect(page.locator('#beliefs-m2 [data-peer="m1"]')).to_have_attribute("data-state", "suspected")
    expect(page.locator('#beliefs-m1 [data-peer="m2"]')).to_have_attribute("data-state", "alive")


def test_presenter_keyboard_shortcuts(page, server_url):
    open_new_lab(page, server_url)
    page.keyboard.press("Space")
    expect(page.locator("#lab-status")).to_have_attribute("data-playing", "false")
    expect(page.locator("#btn-play")).to_be_visible()
    expect(page.locator("#btn-pause")).to_be_hidden()
    clock = page.locator("#lab-status").get_attribute("data-now")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#lab-notice")).to_contain_text("Stepped to")
    expect(page.locator("#lab-status")).not_to_have_attribute("data-now", clock)
    page.keyboard.press("+")
    expect(page.locator("#lab-status")).to_have_attribute("data-speed", "2.0")
    page.keyboard.press("-")
    page.keyboard.press("-")
    expect(page.locator("#lab-status")).to_have_attribute("data-speed", "0.5")
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    expect(page.locator("#help")).to_contain_text("step to the next message that reaches a machine")
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()
    page.keyboard.press("Space")
    expect(page.locator("#lab-status")).to_have_attribute("data-playing", "true")


def test_speed_select_and_reset(page, server_url):
    open_new_lab(page, server_url)
    page.locator("#speed").select_option("10.0")
    expect(page.locator("#lab-status")).to_have_attribute("data-speed", "10.0")
    expect(page.locator("#lab-status")).to_contain_text("Playing at 10x")
    page.locator("#machine-m1 circle").click()
    expect(page.locator("#machine-m1")).to_have_attribute("data-state", "down")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#btn-reset").click()
    expect(page.locator("#machine-m1")).to_have_attribute("data-state", "up")
    expect(page.locator("#lab-notice")).to_have_text("The lab is back at its start.")


def test_rewind_slider_goes_back_and_play_starts_a_new_branch(page, server_url):
    open_new_lab(page, server_url)
    # Kill m2 only once the lab has run a while, so that time 0 is before the kill.
    page.wait_for_function("Number(document.getElementById('lab-status').dataset.now) >= 500")
    page.locator("#machine-m2 circle").click()
    expect(page.locator("#machine-m2")).to_have_attribute("data-state", "down")
    page.locator("#btn-forward-5").click()
    page.keyboard.press("Space")
    expect(page.locator("#lab-status")).to_have_attribute("data-playing", "false")
    page.locator("#lab-seek").fill("0")  # drag the slider to the start
    expect(page.locator("#lab-status")).to_have_attribute("data-rewound", "true")
    expect(page.locator("#lab-status")).to_contain_text("Rewound")
    expect(page.locator("#machine-m2")).to_have_attribute("data-state", "up")
    page.locator("#btn-play").click()
    expect(page.locator("#lab-timeline")).to_contain_text("a new branch of history")
    expect(page.locator("#machine-m2")).to_have_attribute("data-state", "up")


def test_the_speed_menu_follows_the_lab_for_every_viewer(browser, page, server_url):
    """The menu says the speed the lab runs at, for every viewer, however it was changed (the + and −
    keys, the menu)."""
    url = open_new_lab(page, server_url)
    other = browser.new_page()
    other.goto(url)
    expect(other.locator("#connection")).to_have_text("live")
    page.locator("body").click()  # the keyboard goes to the page, not the menu
    page.keyboard.press("+")
    expect(page.locator("#lab-status")).to_have_attribute("data-speed", "2.0")
    expect(page.locator("#speed")).to_have_value("2.0")
    expect(other.locator("#speed")).to_have_value("2.0")
    page.locator("#speed").select_option("5.0")
    expect(other.locator("#lab-status")).to_have_attribute("data-speed", "5.0")
    expect(other.locator("#speed")).to_have_value("5.0")
    page.locator("body").click()
    page.keyboard.press("-")
    expect(page.locator("#speed")).to_have_value("2.0")
    expect(other.locator("#speed")).to_have_value("2.0")
    other.close()


def test_a_playing_lab_whose_frames_stop_says_it_is_stalled_and_live_again_when_they_return(page, server_url):
    held = {"on": False}

    def proxy(ws):
        server = ws.connect_to_server()
        ws.on_message(lambda message: server.send(message))
        server.on_message(lambda message: None if held["on"] else ws.send(message))

    page.route_web_socket(re.compile(r"/ws/labs/"), proxy)
    open_new_lab(page, server_url)
    connection = page.locator("#connection")
    held["on"] = True  # the server's frames stop reaching the page; the socket stays open
    expect(connection).to_have_text(re.compile(r"^stalled: no update for \d+ s$"), timeout=8000)
    expect(connection).to_have_attribute("data-state", "stalled")
    held["on"] = False
    expect(connection).to_have_text("live", timeout=5000)
    page.locator("#btn-pause").click()
    expect(page.locator("#lab-status")).to_have_attribute("data-playing", "false")
    held["on"] = True
    page.wait_for_timeout(4500)
    expect(connection).to_have_text("live")  # a paused lab sends nothing, and that is not a stall
