"""A lecture: an instructor drives a classroom's lab, students join by code and
watch, control is handed over, and "try it yourself" forks a private copy."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from coordlab.classrooms import JOIN_BURST_PER_BROWSER

pytestmark = pytest.mark.browser


def log_in(page, server_url, username, password):
    page.goto(server_url + "/admin/login/?next=/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.locator("input[type=submit]").click()
    expect(page).to_have_url(server_url + "/")


def join(browser, server_url, code, name):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(server_url + "/join/")
    page.locator("input[name=code]").fill(code.lower())  # codes are not case-sensitive
    page.locator("input[name=name]").fill(name)
    page.get_by_role("button", name="Join").click()
    expect(page).to_have_url(re.compile(rf"/classrooms/{code}/$"))
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.locator("#my-name")).to_have_text(name)
    return page


def test_a_lecture_watches_the_instructor_and_tries_it_itself(browser, page, server_url, instructor):
    log_in(page, server_url, *instructor)
    page.locator("#classroom-leader-election").click()
    expect(page).to_have_url(re.compile(r"/classrooms/\w{6}/$"))
    code = page.locator("#join-code").inner_text().strip()
    expect(page.locator(".qr svg")).to_be_visible()
    grace, linus = join(browser, server_url, code, "Grace"), join(browser, server_url, code, "Linus")
    expect(page.locator("#watchers")).to_have_attribute("data-count", "3", timeout=8000)
    expect(page.locator("#watchers")).to_contain_text("Grace")
    expect(page.locator("#watchers")).to_contain_text("Linus")

    page.locator("#machine-z1 circle").click()  # the instructor kills a server
    for student in (grace, linus):
        expect(student.locator("#machine-z1")).to_have_attribute("data-state", "down")

    grace.locator("#machine-z2 circle").click()  # not allowed yet
    expect(grace.locator("#lab-notice")).to_contain_text("Only the instructor changes the classroom's lab")
    grace.locator("#btn-pause").click()
    expect(grace.locator("#lab-notice")).to_contain_text("Only the instructor")
    expect(page.locator("#machine-z2")).to_have_attribute("data-state", "up")
    expect(page.locator("#lab-status")).to_have_attribute("data-playing", "true")

    expect(grace.locator("#my-control")).to_have_attribute("data-can-change", "false")
    page.locator("#classroom-control input[value=named]").check()
    page.locator("#classroom-control input[name=names]").fill("Grace")
    page.locator("#classroom-control button").click()
    expect(page.locator("#classroom-control input[value=named]")).to_be_checked()
    # the student's page says so live, without a reload; the other student's does not change
    expect(grace.locator("#my-control")).to_have_attribute("data-can-change", "true", timeout=8000)
    expect(grace.locator("#my-control")).to_contain_text("The instructor lets you change this lab")
    expect(linus.locator("#my-control")).to_have_attribute("data-can-change", "false")
    grace.locator("#machine-z2 circle").click()
    expect(page.locator("#machine-z2")).to_have_attribute("data-state", "down")
    # everyone's timeline says who did it
    expect(linus.locator("#lab-timeline")).to_contain_text("Grace: Killed z2. Its connections closed at once.")
    linus.locator("#machine-z3 circle").click()
    expect(linus.locator("#lab-notice")).to_contain_text("Only the instructor")

    page.locator("#btn-pause").click()
    expect(linus.locator("#lab-status")).to_have_attribute("data-playing", "false")
    now = page.locator("#lab-status").get_attribute("data-now")
    linus.locator("#try-it").click()
    expect(linus).to_have_url(re.compile(r"/labs/\w+/$"))
    expect(linus.locator("#role")).to_have_attribute("data-role", "owner")
    expect(linus.locator("#lab-status")).to_have_attribute("data-now", now)
    for machine, state in (("z1", "down"), ("z2", "down"), ("z3", "up"), ("z4", "up"), ("z5", "up")):
        expect(linus.locator(f"#machine-{machine}")).to_have_attribute("data-state", state)
    linus.locator("#machine-z3 circle").click()  # in the sandbox: allowed, and private
    expect(linus.locator("#machine-z3")).to_have_attribute("data-state", "down")
    expect(page.locator("#machine-z3")).to_have_attribute("data-state", "up")
    expect(grace.locator("#machine-z3")).to_have_attribute("data-state", "up")
    for student in (grace, linus):
        student.context.close()


BAD_JOINS = [
    ("acd-efg", "Ada", "No open classroom has the code ACDEFG"),
    ("ZZZZZZ", "Ada", "A join code is 6 letters and digits"),
    ("12", "Ada", "A join code is 6 letters and digits"),
    ("{code}", "x" * 10_000, "That name is too long"),
    ("{code}", "<script>alert(1)</script>", "A name is letters, digits"),
    ("{code}", "   ", "Please type your name"),
]


def test_joining_with_a_bad_code_or_name_says_why_and_joins_nobody(browser, page, server_url, instructor):
    log_in(page, server_url, *instructor)
    page.locator("#classroom-network-basics").click()
    real = page.locator("#join-code").inner_text().strip()
    student = browser.new_context().new_page()
    for code, name, error in BAD_JOINS:
        student.goto(server_url + "/join/")
        student.locator("input[name=code]").fill(code.format(code=real))
        name_field = student.locator("input[name=name]")
        name_field.evaluate("(el, v) => { el.removeAttribute('maxlength'); el.removeAttribute('required'); "
                            "el.value = v; }", name)
        student.get_by_role("button", name="Join").click()
        expect(student.locator("#join-error")).to_contain_text(error)
        expect(student).to_have_url(server_url + "/join/")
    student.goto(server_url + f"/classrooms/{real}/")  # never joined: sent back to the join form
    expect(student).to_have_url(re.compile(r"/join/\?code="))
    expect(page.locator("#watchers")).to_have_attribute("data-count", "1")
    student.context.close()


def test_a_browser_keeps_a_few_labs_and_closes_one_to_open_another(browser, server_url):
    page = browser.new_context().new_page()  # its own: a 429 and a 404 are expected here
    opened = []
    for _ in range(8):
        page.goto(server_url + "/")
        page.locator("#card-network-basics").get_by_role("button", name="Open lab").click()
        expect(page).to_have_url(re.compile(r"/labs/\w+/$"))
        opened.append(page.url)
    page.goto(server_url + "/")
    page.locator("#card-network-basics").get_by_role("button", name="Open lab").click()
    expect(page.locator("h1")).to_have_text("You already have 8 labs")
    expect(page.locator(".my-labs li")).to_have_count(8)
    expect(page.locator(".my-labs li").first).to_contain_text("Network basics")  # its title, not only its id
    page.locator(".my-labs li").first.get_by_role("button", name="Close it").click()
    expect(page).to_have_url(server_url + "/")
    assert page.goto(opened[0]).status == 404, "a closed lab is gone"
    page.goto(server_url + "/")
    page.locator("#card-network-basics").get_by_role("button", name="Open lab").click()
    expect(page).to_have_url(re.compile(r"/labs/\w+/$"))
    expect(page.locator("#role")).to_have_attribute("data-role", "owner")
    page.context.close()


def test_a_name_already_taken_or_never_joined_is_refused_with_the_reason(browser, page, server_url, instructor):
    log_in(page, server_url, *instructor)
    page.locator("#classroom-network-basics").click()
    code = page.locator("#join-code").inner_text().strip()
    grace = join(browser, server_url, code, "Grace")
    impostor = browser.new_context().new_page()  # its own: a 409 is expected here
    impostor.goto(server_url + f"/join/?code={code}")
    impostor.locator("input[name=name]").fill("grace")
    impostor.get_by_role("button", name="Join").click()
    expect(impostor.locator("#join-error")).to_contain_text(f"Someone in classroom {code} already joined as “grace”")

    teacher = browser.new_context().new_page()  # its own: a 400 is expected here
    teacher.context.add_cookies(page.context.cookies())
    teacher.goto(server_url + f"/classrooms/{code}/")
    teacher.locator("#classroom-control input[value=named]").check()
    teacher.locator("#classroom-control input[name=names]").fill("Grace, Sam")
    teacher.locator("#classroom-control button").click()
    expect(teacher.locator("#refusal")).to_contain_text(f"Nobody joined classroom {code} as “Sam”. Who joined: Grace.")
    teacher.locator("#back").click()
    expect(teacher.locator("#classroom-control input[value=instructor]")).to_be_checked()
    teacher.locator("#classroom-control input[value=named]").check()
    teacher.locator("#classroom-control input[name=names]").fill("grace")
    teacher.locator("#classroom-control button").click()
    expect(teacher.locator("#classroom-control input[name=names]")).to_have_value("Grace")
    grace.locator("#machine-m1 circle").click()
    expect(teacher.locator("#machine-m1")).to_have_attribute("data-state", "down")
    for other in (grace, impostor, teacher):
        other.context.close()


def test_a_browser_that_keeps_guessing_codes_is_told_how_long_to_wait(browser, server_url):
    guesser = browser.new_context().new_page()  # its own: 404s and a 429 are expected here
    guesser.goto(server_url + "/join/")
    for _ in range(JOIN_BURST_PER_BROWSER + 5):
        guesser.locator("input[name=code]").fill("WXY347")
        guesser.locator("input[name=name]").fill("Eve")
        with guesser.expect_navigation():
            guesser.get_by_role("button", name="Join").click()
        if "Too many attempts" in guesser.locator("#join-error").inner_text():
            break
    expect(guesser.locator("#join-error")).to_contain_text(re.compile(
        r"Too many attempts to join from here: wait \d+ seconds?, then try again"))
    guesser.context.close()
