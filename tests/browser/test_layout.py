"""Readable from the back of a lecture hall on a projector; usable on a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

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
