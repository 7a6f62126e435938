"""Readable from the back of a lecture hall on a projector; usable on a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .test_classrooms import log_in

pytestmark = pytest.mark.browser

SMALLEST_TEXT = """() => {
  const small = [];
  for (const el of document.querySelectorAll('body *')) {
    if (!el.childNodes.length || ![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || getComputedStyle(el).visibility === 'hidden') continue;
    let size = parseFloat(getComputedStyle(el).fontSize);
    const svg = el.closest('svg');
    if (svg) size *= svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    if (size < 14) small.push(el.tagName + ' ' + size.toFixed(1) + ' ' + el.textContent.trim().slice(0, 30));
  }
  return small;
}"""


def open_lab(page, server_url, slug):
    page.goto(server_url + "/")
    page.locator(f"#card-{slug}").get_by_role("button", name="Open lab").click()
    expect(page).to_have_url(re.compile(r"/labs/\w+/$"))
    expect(page.locator("#connection")).to_have_text("live")


@pytest.mark.parametrize("slug", ["network-basics", "master-election"])
def test_no_text_under_14px_on_a_projector(browser, server_url, slug):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    open_lab(page, server_url, slug)
    page.locator("#btn-forward-5").click()
    expect(page.locator("#lab-timeline li").first).to_be_visible()
    assert page.evaluate(SMALLEST_TEXT) == []
    page.close()


@pytest.mark.parametrize("slug", ["network-basics", "master-election"])
def test_usable_on_a_phone(browser, server_url, slug):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    open_lab(page, server_url, slug)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling"
    machine = page.locator(".machine").first
    machine.scroll_into_view_if_needed()
    machine.locator("circle, rect").first.click()
    expect(machine).to_have_attribute("data-state", "down")
    page.locator("#btn-pause").click()
    expect(page.locator("#lab-status")).to_have_attribute("data-playing", "false")
    page.close()


def lab_slugs() -> list[str]:
    from coordlab.labs import registry

    return list(registry.scenarios())


OUTSIDE = """ids => ids.map(id => [id, document.getElementById(id).getBoundingClientRect()])
  .filter(([, box]) => box.left < 0 || box.top < 0 || box.right > innerWidth + 0.5 || box.bottom > innerHeight + 0.5
          || !box.width || !box.height)
  .map(([id, box]) => `${id}: ${[box.left, box.top, box.right, box.bottom].map(Math.round)}`)"""


#: text on presenter mode's stage (the picture, the badge, the key figure, the current step) under 18 px, as
#: it is drawn: a picture's text at its font size times the picture's scale on the screen
STAGE_TEXT_UNDER_18PX = SMALLEST_TEXT.replace(
    "if (svg) size *= svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;",
    "if (svg) size *= svg.getScreenCTM().a;").replace(
    "const el of document.querySelectorAll('body *')", "const el of document.querySelectorAll('#stage *')").replace(
    "if (size < 14)", "if (size < 17.95)")


@pytest.mark.parametrize("slug", lab_slugs())
def test_presenter_mode_fits_the_picture_the_badge_and_the_key_figure_on_a_projector(browser, server_url, slug):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    open_lab(page, server_url, slug)
    page.locator("#btn-presenter").click()
    expect(page.locator("body")).to_have_class(re.compile(r"\bpresenter\b"))
    expect(page.locator("#btn-presenter")).to_have_attribute("aria-pressed", "true")
    page.locator("#btn-forward-5").click()  # (with what five seconds of play put in the panels)
    expect(page.locator("#lab-timeline li").first).to_be_visible()
    shown = page.locator("#lab").get_attribute("data-present").split()
    assert len(shown) == 3 and page.evaluate(OUTSIDE, [*shown, "presenter-step"]) == []
    assert page.evaluate(STAGE_TEXT_UNDER_18PX) == [], "text on the stage is at least 18 px"
    page.reload()  # the browser remembers it
    expect(page.locator("body")).to_have_class(re.compile(r"\bpresenter\b"))
    expect(page.locator(f"#stage #{shown[0]}")).to_have_count(1)
    page.keyboard.press("p")  # and the key turns it off: every panel back in its place
    expect(page.locator("#stage")).to_be_hidden()
    expect(page.locator(f"#stage #{shown[0]}")).to_have_count(0)
    expect(page.locator(f"#{shown[0]}")).to_be_visible()
    page.close()


PICTURE_TEXT_UNDER_12PX = SMALLEST_TEXT.replace("const el of document.querySelectorAll('body *')",
                                                "const el of document.querySelectorAll('.network svg *')"
                                                ).replace("if (size < 14)", "if (size < 12)")


TAP_TARGETS_UNDER_44PX = """() => {
  const seen = el => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden';
  const small = [];
  for (const el of document.querySelectorAll('button, select, input:not([type=hidden]), summary, .machine')) {
    const label = el.type === 'checkbox' && el.closest('label');  // (a checkbox's label takes the tap)
    const box = (label || el).getBoundingClientRect();
    if (seen(el) && (box.height < 43.5 || box.width < 43.5))
      small.push(`${el.id || el.tagName}: ${Math.round(box.width)}x${Math.round(box.height)}`);
  }
  for (const hit of document.querySelectorAll('.link .hit')) {
    const width = parseFloat(getComputedStyle(hit).strokeWidth) * hit.getScreenCTM().a;
    if (width < 43.5) small.push(`${hit.parentNode.id}: ${Math.round(width)} px wide`);
  }
  return small;
}"""


@pytest.mark.parametrize("slug", lab_slugs())
def test_every_picture_is_readable_on_a_phone_and_a_swipe_kills_nothing(browser, server_url, slug):
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    open_lab(page, server_url, slug)
    page.locator("#btn-pause").click()
    assert page.evaluate(PICTURE_TEXT_UNDER_12PX) == []
    assert page.evaluate(TAP_TARGETS_UNDER_44PX) == [], "a fingertip needs 44 px"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the picture scrolls in its box, not the page"
    picture = page.locator(".network").first
    assert picture.evaluate("box => box.scrollWidth > box.clientWidth"), "the picture is wider than the phone"
    picture.evaluate("box => { box.scrollLeft = box.scrollWidth; }")
    machine = page.locator(".machine").last
    machine.scroll_into_view_if_needed()
    # a finger that lands on a machine to swipe the picture (pointerdown, then no click) kills nothing
    machine.locator("circle, rect").first.dispatch_event("pointerdown", {"pointerType": "touch", "button": 0,
                                                                         "isPrimary": True, "bubbles": True})
    before = page.locator("#lab-status").get_attribute("data-now")
    page.locator("#btn-step").click()  # any kill was sent before it: the frame that shows the step shows it too
    expect(page.locator("#lab-status")).not_to_have_attribute("data-now", before)
    assert machine.get_attribute("data-state") == "up"
    machine.locator("circle, rect").first.tap()  # a tap kills it
    expect(machine).to_have_attribute("data-state", "down")
    page.close()


def test_presenter_mode_keeps_18px_with_the_instructors_classroom_panel(browser, server_url, instructor):
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.add_init_script("localStorage.setItem('coordlab.presenter', 'on')")
    log_in(page, server_url, *instructor)
    page.locator("#classroom-master-election").click()
    expect(page).to_have_url(re.compile(r"/classrooms/\w{6}/$"))
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("#join-code")).to_be_visible()  # the code students type stays on screen
    shown = page.locator("#lab").get_attribute("data-present").split()
    assert page.evaluate(OUTSIDE, [*shown, "presenter-step", "join-code"]) == []
    assert page.evaluate(STAGE_TEXT_UNDER_18PX) == []
    page.close()
