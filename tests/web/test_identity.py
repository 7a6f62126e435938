"""Access decided by identity: a classroom's lab is its instructor's and its joined students'
(and its instructor's alone once closed), named control follows the student's browser and not
the name typed, a sandbox stays its owner's through logging in, join codes cannot be guessed
quickly or probed, and the labs one network address may open are bounded."""

from __future__ import annotations

import dataclasses
import json

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import AsyncClient
from django.urls import path

from coordlab import classrooms
from coordlab.access import OWNER, Access, access_to, person
from coordlab.asgi import application
from coordlab.models import Classroom, Sandbox, Student
from tests.web.test_access import (
    ORIGIN,
    fresh_join_budgets,  # noqa: F401  (autouse: join attempts start from full budgets)
    instructor_session,
    session,
    student,
)

pytestmark = pytest.mark.django_db(transaction=True)


class AccessProbe(AsyncWebsocketConsumer):
    """Sends back what ``access_to`` says for the Person its scope's session and user make."""

    async def connect(self) -> None:
        await self.accept()
        who = await person(self.scope["session"], self.scope["user"])
        access = await access_to(self.scope["url_route"]["kwargs"]["lab_id"], who)
        await self.send(text_data=json.dumps(dataclasses.asdict(access)))


PROBE = AuthMiddlewareStack(URLRouter([path("probe/<str:lab_id>/", AccessProbe.as_asgi())]))


async def access_over_socket(lab_id: str, session_key: str | None) -> Access:
    """What a WebSocket of this session (None: no cookie) may do with the lab, as a consumer sees it."""
    headers = [ORIGIN] + ([(b"cookie", f"sessionid={session_key}".encode())] if session_key else [])
    probe = WebsocketCommunicator(PROBE, f"/probe/{lab_id}/", headers=headers)
    assert (await probe.connect(timeout=5))[0]
    access = Access(**json.loads(await probe.receive_from(timeout=5)))
    await probe.disconnect()
    return access


class ClientAt(AsyncClient):
    """A test browser at a network address of its own."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def _base_scope(self, **request):
        return {**super()._base_scope(**request), "client": [self.address, 0]}


async def classroom_lab(runtime, code: str = "ACDEFG", **fields) -> tuple[Classroom, str]:
    """A classroom with a running lab, and the session key of its instructor."""
    lab = await runtime.start_lab("network-basics")
    teacher, teacher_key = await instructor_session(f"teacher-of-{code.lower()}")
    return await Classroom.objects.acreate(code=code, lab_id=lab.id, instructor=teacher, **fields), teacher_key


async def join(client: AsyncClient, code: str, name: str):
    return await client.post("/join/", {"code": code, "name": name})


# -- 5. a closed classroom ---------------------------------------------------------------------


async def test_a_closed_classrooms_lab_is_its_instructors_alone(async_client, runtime):
    room, teacher_key = await classroom_lab(runtime, control="everyone")
    lab_id = room.lab_id
    grace = await student(room, "Grace")
    room.closed = True
    await room.asave()
    for key in (None, await session(), grace):
        access = await access_over_socket(lab_id, key)
        assert (access.can_watch, access.can_change, access.open_classroom) == (False, False, False)
        assert "closed" in access.watch_refusal and "closed" in access.refusal
    assert (await access_over_socket(lab_id, teacher_key)).can_change
    anonymous = WebsocketCommunicator(application, f"/ws/labs/{lab_id}/", headers=[ORIGIN])
    assert not (await anonymous.connect(timeout=5))[0], "no watching, so no crash or play either"
    page = await async_client.get(f"/labs/{lab_id}/")
    assert page.status_code == 403 and "closed" in page.content.decode()
    assert "everyone with this page's address" not in page.content.decode()
    assert (await async_client.post(f"/labs/{lab_id}/fork/")).status_code == 403
    assert not await Sandbox.objects.aexists()


async def test_the_instructor_still_opens_a_closed_classroom(async_client, runtime):
    room, _ = await classroom_lab(runtime, closed=True)
    await async_client.aforce_login(await User.objects.aget(pk=room.instructor_id))
    page = await async_client.get("/classrooms/ACDEFG/")
    assert page.status_code == 200 and 'id="classroom-closed"' in page.content.decode()


# -- 6. everyone in the classroom: those who joined it ----------------------------------------


async def test_everyone_in_the_classroom_means_the_students_who_joined_it(runtime):
    room, _ = await classroom_lab(runtime, control="everyone")
    other_room, other_teacher = await classroom_lab(runtime, "HJKMNP", control="everyone")
    lab_id = room.lab_id
    assert (await access_over_socket(lab_id, await student(room, "Grace"))).can_change
    for key in (None, await session(name="Grace", **{OWNER: "never-joined"}),
                await student(other_room, "Linus"), other_teacher):
        access = await access_over_socket(lab_id, key)
        assert (access.can_watch, access.can_change, access.role) == (False, False, "outsider")
        assert "not joined" in access.watch_refusal and access.classroom == "", "the code is not given away"
        assert access.open_classroom, "a terminal with the lab's id may still take part"


# -- 7. named control follows the student's browser --------------------------------------------


async def test_named_control_goes_to_the_browser_that_joined_under_the_name(async_client, runtime):
    room, _ = await classroom_lab(runtime, control="named")
    await classroom_lab(runtime, "HJKMNP")
    lab_id = room.lab_id
    sam = AsyncClient()
    assert (await join(sam, "ACDEFG", "Sam")).status_code == 302
    await async_client.aforce_login(await User.objects.aget(pk=room.instructor_id))
    handed = await async_client.post("/classrooms/ACDEFG/control/", {"control": "named", "names": "sam"})
    assert handed.status_code == 302
    assert [(s.name, s.has_control) async for s in room.students.all()] == [("Sam", True)]
    page = (await async_client.get("/classrooms/ACDEFG/")).content.decode()
    assert 'name="names" value="Sam"' in page, "the instructor sees who has control"

    other_sam = AsyncClient()  # a student of another classroom who goes by the same name
    assert (await join(other_sam, "HJKMNP", "Sam")).status_code == 302
    assert (await access_over_socket(lab_id, other_sam.cookies["sessionid"].value)).can_change is False
    assert (await access_over_socket(lab_id, sam.cookies["sessionid"].value)).can_change is True

    second_sam = AsyncClient()
    refused = await join(second_sam, "ACDEFG", "SAM")
    assert refused.status_code == 409 and "already joined as “SAM”" in refused.content.decode()
    assert await room.students.acount() == 1


async def test_control_for_a_name_nobody_joined_under_is_refused_and_changes_nothing(async_client, runtime):
    room, _ = await classroom_lab(runtime)
    await student(room, "Grace")
    await async_client.aforce_login(await User.objects.aget(pk=room.instructor_id))
    response = await async_client.post("/classrooms/ACDEFG/control/", {"control": "named", "names": "Grace, Zed"})
    text = response.content.decode()
    assert response.status_code == 400 and "Nobody joined classroom ACDEFG as “Zed”" in text and "Grace" in text
    assert 'href="/classrooms/ACDEFG/"' in text, "a way back to the classroom"
    room = await Classroom.objects.aget(code="ACDEFG")
    assert room.control == "instructor" and not await room.students.filter(has_control=True).aexists()


async def test_joining_again_renames_the_seat_and_keeps_its_control(runtime):
    room, _ = await classroom_lab(runtime, control="named")
    browser = AsyncClient()
    await join(browser, "ACDEFG", "Sam")
    await room.students.aupdate(has_control=True)
    assert (await join(browser, "ACDEFG", "Samuel")).status_code == 302
    assert [(s.name, s.has_control) async for s in room.students.all()] == [("Samuel", True)]
    assert (await access_over_socket(room.lab_id, browser.cookies["sessionid"].value)).name == "Samuel"


async def test_staff_see_and_change_a_classrooms_students_in_the_admin(runtime):
    room, _ = await classroom_lab(runtime, control="named")
    await student(room, "Grace")
    admin = AsyncClient()
    await admin.aforce_login(await sync_to_async(User.objects.create_superuser)("root", password="pw"))
    url = "/admin/coordlab/classroom/ACDEFG/change/"
    page = (await admin.get(url)).content.decode()
    assert 'value="Grace"' in page and "token-of-Grace" not in page, "names, never owner tokens"
    seat = await room.students.aget()
    changed = await admin.post(url, {
        "instructor": room.instructor_id, "control": "named", "students-TOTAL_FORMS": 1, "students-INITIAL_FORMS": 1,
        "students-0-id": seat.pk, "students-0-classroom": "ACDEFG", "students-0-name": "Grace",
        "students-0-has_control": "on"})
    assert changed.status_code == 302 and (await room.students.aget()).has_control


# -- 11. join codes cannot be guessed quickly or probed ------------------------------------------


async def test_join_attempts_from_one_address_are_limited_across_browsers(runtime):
    await classroom_lab(runtime)
    for _ in range(classrooms.JOIN_BURST_PER_ADDRESS):
        assert (await join(ClientAt("10.0.0.1"), "HJKMNP", "Eve")).status_code == 404
    refused = await join(ClientAt("10.0.0.1"), "ACDEFG", "Eve")
    text = refused.content.decode()
    assert refused.status_code == 429 and refused["Retry-After"] == "1"  # 60 a minute: one a second
    assert "Too many attempts to join from here: wait 1 second, then try again." in text
    assert not await Student.objects.aexists(), "not even the right code gets through"
    assert (await join(ClientAt("10.0.0.2"), "ACDEFG", "Ada")).status_code == 302, "another address joins"


async def test_join_attempts_of_one_browser_are_limited_across_addresses(runtime):
    await classroom_lab(runtime)
    guesser = ClientAt("10.0.0.1")
    await guesser.get("/join/")  # the form gives the browser its owner token
    for number in range(classrooms.JOIN_BURST_PER_BROWSER):
        guesser.address = f"10.0.1.{number}"
        assert (await join(guesser, "HJKMNP", "Eve")).status_code == 404
    guesser.address = "10.0.2.1"
    refused = await join(guesser, "ACDEFG", "Eve")
    assert refused.status_code == 429 and "wait 6 seconds" in refused.content.decode()  # 10 a minute
    assert (await join(ClientAt("10.0.2.1"), "ACDEFG", "Ada")).status_code == 302, "another browser joins"


@pytest.mark.parametrize("kind", ["open", "closed", "none"])
async def test_a_classroom_page_tells_a_stranger_nothing_about_its_code(async_client, runtime, kind):
    if kind != "none":
        await classroom_lab(runtime, closed=kind == "closed")
    response = await async_client.get("/classrooms/ACDEFG/")
    assert (response.status_code, response["Location"]) == (302, "/join/?code=ACDEFG")


# -- 13. a classroom's lab is watched and forked by its members only -----------------------------


async def test_only_members_watch_or_fork_a_classroom_lab(runtime):
    room, teacher_key = await classroom_lab(runtime)
    lab_id = room.lab_id
    stranger = AsyncClient()
    page = await stranger.get(f"/labs/{lab_id}/")
    assert page.status_code == 403 and "have not joined" in page.content.decode()
    assert "ACDEFG" not in page.content.decode(), "the refusal does not give the join code away"
    assert (await stranger.post(f"/labs/{lab_id}/fork/")).status_code == 403
    assert not await Sandbox.objects.aexists()
    member = AsyncClient()
    await join(member, "ACDEFG", "Grace")
    assert (await member.get(f"/labs/{lab_id}/"))["Location"] == "/classrooms/ACDEFG/"
    assert (await access_over_socket(lab_id, member.cookies["sessionid"].value)).can_watch
    assert (await access_over_socket(lab_id, teacher_key)).can_watch
    forked = await member.post(f"/labs/{lab_id}/fork/")
    assert forked.status_code == 302 and await Sandbox.objects.acount() == 1


async def test_anyone_with_the_address_watches_a_sandbox_or_an_unowned_lab(runtime):
    unowned, sandbox = await runtime.start_lab("network-basics"), await runtime.start_lab("network-basics")
    await Sandbox.objects.acreate(lab_id=sandbox.id, owner="someone")
    for lab_id, role in ((unowned.id, "everyone"), (sandbox.id, "watcher")):
        access = await access_over_socket(lab_id, None)
        assert (access.can_watch, access.role) == (True, role)
        assert (await AsyncClient().get(f"/labs/{lab_id}/")).status_code == 200


# -- 14. logging in keeps what the browser owns ---------------------------------------------------


@pytest.fixture
def scenarios():
    call_command("load_scenarios", verbosity=0)


async def test_a_sandbox_owner_who_logs_in_keeps_the_sandbox(async_client, runtime, scenarios):
    await sync_to_async(User.objects.create_user)("ada", password="pw", is_staff=True)
    started = await async_client.post("/labs/new/network-basics/")
    lab_id = started["Location"].split("/")[2]
    before = async_client.cookies["sessionid"].value
    logged_in = await async_client.post("/admin/login/", {"username": "ada", "password": "pw", "next": "/admin/"})
    assert logged_in.status_code == 302 and async_client.cookies["sessionid"].value != before
    page = (await async_client.get(f"/labs/{lab_id}/")).content.decode()
    assert 'data-role="owner"' in page
    assert (await access_over_socket(lab_id, async_client.cookies["sessionid"].value)).can_change
    assert (await async_client.post(f"/labs/{lab_id}/close/"))["Location"] == "/"


async def test_a_student_who_logs_in_keeps_the_seat(async_client, runtime):
    room, _ = await classroom_lab(runtime, control="everyone")
    await sync_to_async(User.objects.create_user)("grace", password="pw", is_staff=True)
    await join(async_client, "ACDEFG", "Grace")
    await async_client.post("/admin/login/", {"username": "grace", "password": "pw", "next": "/admin/"})
    assert (await async_client.get("/classrooms/ACDEFG/")).status_code == 200
    assert (await access_over_socket(room.lab_id, async_client.cookies["sessionid"].value)).can_change


@sync_to_async
def migrate(target: str) -> None:
    MigrationExecutor(connection).migrate([("coordlab", target)])


@sync_to_async
def keep_sandbox_by_session_key(lab_id: str, key: str) -> None:
    """A sandbox row as migration 0005 left them: owned by a session key."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO coordlab_sandbox (lab_id, session_key, created_at) VALUES (%s, %s, %s)",
                       [lab_id, key, "2026-01-01 00:00:00"])


async def test_migrating_gives_sandbox_owning_sessions_owner_tokens(runtime):
    lab = await runtime.start_lab("network-basics")
    await migrate("0005_lab_snapshots")
    key = await session(name="Grace")
    await keep_sandbox_by_session_key(lab.id, key)
    await migrate("0006_students_and_owner_tokens")
    token = await SessionStore(key).aget(OWNER)
    assert token and (await Sandbox.objects.aget(lab_id=lab.id)).owner == token
    assert (await access_over_socket(lab.id, key)).role == "owner"


# -- 9. labs per network address -------------------------------------------------------------------


async def test_the_browsers_at_one_address_keep_a_bounded_number_of_labs(runtime, scenarios, settings):
    settings.COORDLAB_MAX_SANDBOXES_PER_ADDRESS = 2
    for _ in range(2):
        assert (await ClientAt("10.0.0.1").post("/labs/new/network-basics/")).status_code == 302
    assert [s.address async for s in Sandbox.objects.all()] == ["10.0.0.1", "10.0.0.1"]
    third = ClientAt("10.0.0.1")
    for refused in (await third.post("/labs/new/network-basics/"),
                    await third.post(f"/labs/{(await Sandbox.objects.afirst()).lab_id}/fork/")):
        text = refused.content.decode()
        assert refused.status_code == 429 and "Too many labs from your network" in text
        assert "keep 2 labs between them" in text and "close theirs" in text
    assert (await ClientAt("10.0.0.2").post("/labs/new/network-basics/")).status_code == 302
    assert await Sandbox.objects.acount() == 3
