"""Messages in flight are sent once and moved by the page at the lab's clock: they travel from
sender to receiver at any speed, stop on pause, are gone after a rewind, and a viewer who
joins mid-flight sees the same picture as one who was there from the start."""

from __future__ import annotations

import itertools
import math
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

#: where a message is, how far along its line (0 at its sender, 1 at its receiver), and when it lands
WHERE = """(id) => {
  const el = document.getElementById(id);
  if (!el) { return null; }
  const x = Number(el.getAttribute(el.tagName === "circle" ? "cx" : "x"));
  const y = Number(el.getAttribute(el.tagName === "circle" ? "cy" : "y"));
  return {x: x, y: y};
}"""
FIRST_FLIGHT = """() => {
  const item = document.querySelector("#lab-flights i[data-f]");
  return item ? JSON.parse(item.dataset.f) : null;
}"""


def open_lab(page, server_url, card="network-basics"):
    page.goto(server_url + "/")
    page.locator(f"#card-{card}").get_by_role("button", name="Open lab").click()
    expect(page).to_have_url(re.compile(r"/labs/\w+/$"))
    expect(page.locator("#connection")).to_have_text("live")
    return page.url


def set_speed(page, speed: str) -> None:
    page.locator("#speed").select_option(value=str(float(speed)))
    expect(page.locator("#lab-status")).to_have_attribute("data-speed", re.compile(rf"^{re.escape(speed)}"))


RECORD = """() => {
  const trace = window.__flights = {pos: {}, ends: {}};
  document.addEventListener("htmx:wsAfterMessage", () => {
    document.querySelectorAll("#lab-flights i[data-f]").forEach((i) => {
      const d = JSON.parse(i.dataset.f);
      trace.ends["msg-" + d[0]] = d;
    });
  });
  (function sample() {
    document.querySelectorAll("g.flights [id^=msg-]").forEach((e) => {
      const circle = e.tagName === "circle";
      (trace.pos[e.id] = trace.pos[e.id] || []).push(
        [Number(e.getAttribute(circle ? "cx" : "x")), Number(e.getAttribute(circle ? "cy" : "y"))]);
    });
    requestAnimationFrame(sample);
  })();
}"""


@pytest.mark.parametrize(("speed", "watch_ms"), [("0.1", 9000), ("20", 2000)])
def test_a_message_travels_from_sender_to_receiver(page, server_url, speed, watch_ms):
    open_lab(page, server_url)
    set_speed(page, speed)
    page.evaluate(RECORD)
    page.wait_for_timeout(watch_ms)
    trace = page.evaluate("() => window.__flights")
    drawn = page.evaluate("() => [...document.querySelectorAll('g.flights [id^=msg-]')].map(e => e.id)")
    travelled = []
    for name, positions in trace["pos"].items():
        ends = trace["ends"].get(name)
        if ends is None or ends[7]:  # (a doomed one stops halfway)
            continue
        x1, y1, x2, y2 = ends[1:5]
        length = math.hypot(x2 - x1, y2 - y1) or 1
        progress = [math.hypot(x - x1, y - y1) / length for x, y in positions]
        assert all(b >= a - 0.02 for a, b in itertools.pairwise(progress)), f"{name} went back"
        assert max(progress) <= 1.02, f"{name} overshot its receiver"
        if name not in drawn:
            travelled.append(progress)
    assert len(travelled) >= 3, "messages were drawn on their way and taken off when they landed"
    if speed == "0.1":
        assert any(p[-1] - p[0] > 0.5 for p in travelled), "at 0.1x a message is seen crossing its line"


#: a frame that comes late, from a busy server: its clock is behind what the page has shown
LATE_FRAME = """() => {
  const s = document.getElementById("lab-status");
  s.dataset.now = String(Number(s.dataset.now) - 150);
  document.dispatchEvent(new Event("htmx:wsAfterMessage"));
}"""


def test_a_late_frame_makes_messages_wait_not_step_back(page, server_url):
    open_lab(page, server_url)
    page.evaluate(RECORD)
    for _ in range(15):
        page.wait_for_timeout(200)
        page.evaluate(LATE_FRAME)
    trace = page.evaluate("() => window.__flights")
    checked = 0
    for name, positions in trace["pos"].items():
        ends = trace["ends"].get(name)
        if ends is None or ends[7]:
            continue
        x1, y1, x2, y2 = ends[1:5]
        length = math.hypot(x2 - x1, y2 - y1) or 1
        progress = [math.hypot(x - x1, y - y1) / length for x, y in positions]
        assert all(b >= a - 0.02 for a, b in itertools.pairwise(progress)), f"{name} went back"
        checked += len(progress) > 5
    assert checked >= 3


def test_a_message_stops_where_it_is_on_pause_and_is_gone_after_a_rewind(page, server_url):
    open_lab(page, server_url)
    set_speed(page, "0.25")
    page.wait_for_function(f"() => ({FIRST_FLIGHT})() !== null")
    before = page.locator("#lab-status").get_attribute("data-now")
    page.locator("#btn-pause").click()
    expect(page.locator("#lab-status")).to_have_attribute("data-playing", "false")
    page.wait_for_timeout(300)  # the page has drawn the moment it paused at
    flight = page.evaluate(FIRST_FLIGHT)
    paused_at = page.evaluate(WHERE, f"msg-{flight[0]}")
    page.wait_for_timeout(800)
    assert page.evaluate(WHERE, f"msg-{flight[0]}") == paused_at, "it does not move while paused"
    page.evaluate("(t) => { const s = document.getElementById('lab-seek'); s.value = t;"
                  " s.dispatchEvent(new Event('change')); }", str(max(0, int(before) - 4000)))
    expect(page.locator("#lab-status")).to_have_attribute("data-rewound", "true")
    page.wait_for_timeout(300)
    shown = page.evaluate("() => [...document.querySelectorAll('g.flights [id^=msg-]')].map(e => e.id)")
    listed = page.evaluate("() => [...document.querySelectorAll('#lab-flights i[data-f]')]"
                           ".map(i => 'msg-' + JSON.parse(i.dataset.f)[0])")
    assert f"msg-{flight[0]}" not in shown or f"msg-{flight[0]}" in listed
    assert set(shown) <= set(listed), "after a rewind the picture shows the messages of that moment only"


def test_a_viewer_who_joins_mid_flight_sees_the_same_fragments(browser, page, server_url):
    url = open_lab(page, server_url, card="master-election")
    page.locator("#btn-pause").click()
    expect(page.locator("#lab-status")).to_have_attribute("data-playing", "false")
    late = browser.new_page()
    late.goto(url)
    expect(late.locator("#connection")).to_have_text("live")
    now = page.locator("#lab-status").get_attribute("data-now")
    expect(late.locator("#lab-status")).to_have_attribute("data-now", now)
    late.wait_for_timeout(500)  # both have drawn the paused moment's messages
    snapshot = """() => ({
      picture: document.getElementById("zk-ensemble").outerHTML.replace(/ (x|y|cx|cy)="[^"]*"/g, ""),
      flights: [...document.querySelectorAll("g.flights [id^=msg-]")].map(e => e.id).sort(),
      where: [...document.querySelectorAll("g.flights [id^=msg-]")].map(e => e.id + "@" +
             Math.round(Number(e.getAttribute("x") || e.getAttribute("cx"))) + "," +
             Math.round(Number(e.getAttribute("y") || e.getAttribute("cy")))).sort(),
      tree: document.getElementById("zk-trees").outerHTML,
      timeline: document.getElementById("lab-timeline").outerHTML,
    })"""
    early, joined = page.evaluate(snapshot), late.evaluate(snapshot)
    assert joined["flights"] == early["flights"] and joined["where"] == early["where"]
    assert joined["tree"] == early["tree"] and joined["timeline"] == early["timeline"]
    assert joined["picture"] == early["picture"]
    late.close()
