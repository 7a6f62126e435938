"""Screenshots of every lab in presenter mode (1280x720) and on a phone (390x844), for the
README: ``make screenshots`` writes them to ``docs/screens/``.

Each lab is opened from the catalog on a fresh local server, played ten seconds forward and
paused, so the pictures show a running lab rather than its first frame."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.server import running_server

OUT = Path(__file__).resolve().parent / "screens"
VIEWS: dict[str, ViewportSize] = {"presenter": {"width": 1280, "height": 720}, "phone": {"width": 390, "height": 844}}


def slugs() -> list[str]:
    import django

    django.setup()
    from coordlab.labs import registry

    return list(registry.scenarios())


def open_played_lab(page: Page, base: str, slug: str) -> None:
    page.goto(base + "/")
    page.locator(f"#card-{slug}").get_by_role("button", name="Open lab").click()
    expect(page).to_have_url(re.compile(r"/labs/\w+/$"))
    expect(page.locator("#connection")).to_have_text("live")
    for _ in range(2):
        before = int(page.locator("#lab-status").get_attribute("data-now") or 0)
        page.locator("#btn-forward-5").click()
        page.wait_for_function(f"Number(document.getElementById('lab-status').dataset.now) >= {before + 5000}")
    page.locator("#btn-pause").click()
    expect(page.locator("#lab-status")).to_have_attribute("data-playing", "false")
    page.wait_for_timeout(300)  # the flashes of the last frame fade


def main() -> None:
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coordlab.settings")
    OUT.mkdir(exist_ok=True)
    with running_server(COORDLAB_MAX_SANDBOXES_PER_ADDRESS="1000") as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for slug in slugs():
            for view, size in VIEWS.items():
                phone = view == "phone"
                context = browser.new_context(viewport=size, is_mobile=phone, has_touch=phone)
                page = context.new_page()
                if not phone:
                    page.add_init_script("localStorage.setItem('coordlab.presenter', 'on')")
                open_played_lab(page, base, slug)
                if phone:  # the picture, which comes after the controls
                    page.locator(".network").first.evaluate("box => box.scrollIntoView({block: 'start'})")
                page.screenshot(path=str(OUT / f"{slug}-{view}.png"))
                context.close()
                print(f"{slug}-{view}.png")
        browser.close()


if __name__ == "__main__":
    main()
