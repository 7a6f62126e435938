"""Who may change which lab, over the real ASGI application: sandbox owners,
classroom instructors and the students they hand control to; everyone else is
refused with a reason and nothing changes."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.contrib.sessions.backends.db import SessionStore

from coordlab import classrooms
from coordlab.access import INSTRUCTORS, OWNER
from coordlab.asgi import application
from coordlab.models import Classroom, Sandbox, Student
from coordlab.ratelimit import Budgets

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


@pytest.fixture(autouse=True)
def fresh_join_budgets(monkeypatch):
    """Join attempts start from full budgets in each test (the budgets are the process's), and
    no time passes for them: a budget spent in a test stays spent."""
    for name, per_minute, burst in (("JOINS_BY_BROWSER", classrooms.JOINS_PER_MINUTE_PER_BROWSER,
                                     classrooms.JOIN_BURST_PER_BROWSER),
                                    ("JOINS_BY_ADDRESS", classrooms.JOINS_PER_MINUTE_PER_ADDRESS,
                                     classrooms.JOIN_BURST_PER_ADDRESS)):
        monkeypatch.setattr(classrooms, name, Budgets(per_minute / 60, burst, clock=lambda: 0.0))


async def session(**values) -> str:
    store = SessionStore()
    for key, value in values.items():
        await store.aset(key, value)
    await store.asave()
    return store.session_key


async def student(classroom: Classroom, name: str, **seat) -> str:
    """The session key of a browser seated in the classroom as ``name`` (as joining does)."""
    token = f"token-of-{name}-in-{classroom.code}"
    await Student.objects.acreate(classroom=classroom, owner=token, name=name, **seat)
    return await session(**{OWNER: token, "name": name})


async def connect(lab_id: str, session_key: str | None) -> WebsocketCommunicator:
    headers = [ORIGIN] + ([(b"cookie", f"sessionid={session_key}".encode())] if session_key else [])
    communicator = WebsocketCommunicator(application, f"/ws/labs/{lab_id}/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def command(communicator: WebsocketCommunicator, **data) -> str:
    await communicator.send_to(text_data=json.dumps(data))
    deadline = asyncio.get_running_loop().time() + 3
    while True:
        text = await communicator.receive_from(timeout=deadline - asyncio.get_running_loop().time())
        if 'id="lab-notice"' in text:
            return text


async def instructor_session(username: str) -> tuple[User, str]:
    user = await sync_to_async(User.objects.create_user)(username, password="pw", is_staff=True)
    group, _ = await Group.objects.aget_or_create(name=INSTRUCTORS)
    await user.groups.aadd(group)
    key = await session(_auth_user_id=str(user.pk), _auth_user_backend="django.contrib.auth.backends.ModelBackend",
                        _auth_user_hash=user.get_session_auth_hash())
    return user, key


async def test_only_a_sandboxs_owner_changes_it(runtime):
    lab = await runtime.start_lab("network-basics")
    owner, stranger = await session(**{OWNER: "owner-token"}), await session(**{OWNER: "stranger-token"})
    await Sandbox.objects.acreate(lab_id=lab.id, owner="owner-token")
    theirs = await connect(lab.id, stranger)
    notice = await command(theirs, command="crash", node="m1")
    assert "only its owner can change it" in notice and lab.sim.nodes["m1"].alive
    anonymous = await connect(lab.id, None)
    assert "only its owner" in await command(anonymous, command="reset")
    mine = await connect(lab.id, owner)
    assert "Killed m1." in await command(mine, command="crash", node="m1")
    for communicator in (theirs, anonymous, mine):
        await communicator.disconnect()


async def test_students_are_refused_until_the_instructor_hands_over_control(runtime):
    lab = await runtime.start_lab("leader-election")
    teacher, teacher_key = await instructor_session("ada")
    classroom = await Classroom.objects.acreate(code="ACDEFG", lab_id=lab.id, instructor=teacher)
    grace = await connect(lab.id, await student(classroom, "Grace"))
    linus = await connect(lab.id, await student(classroom, "Linus"))
    instructor = await connect(lab.id, teacher_key)
    for forged in ({"command": "crash", "node": "z1"}, {"command": "reset"}, {"command": "pause"},
                   {"command": "toggle", "name": "half-quorum", "on": True},
                   {"command": "console", "op": "create", "path": "/x"}):
        assert "Only the instructor changes" in await command(grace, **forged)
    assert lab.playing and lab.sim.nodes["z1"].alive
    assert "Killed z1." in await command(instructor, command="crash", node="z1")
    classroom.control = "named"
    await classroom.asave()
    await Student.objects.filter(name="Grace").aupdate(has_control=True)
    assert "Killed z2." in await command(grace, command="crash", node="z2")
    assert "Only the instructor" in await command(linus, command="crash", node="z3")
    classroom.control = "everyone"
    await classroom.asave()
    assert "Killed z3." in await command(linus, command="crash", node="z3")
    await command(instructor, command="reset")
    notes = [e.text for e in lab.sim.trace_log.events if e.kind == "note"]  # (the reset kept only its own)
    assert notes == ["ada: The lab was reset to its start."]
    await command(grace, command="pause")
    await command(grace, command="power_off", node="z1")
    said = [e.text for e in lab.sim.trace_log.events if e.kind == "note"][-2:]
    assert said[0].startswith("Grace: Paused at ") and said[1] == (
        "Grace: Powered z1 off. It fell silent: only timeouts will tell.")  # the timeline says who
    for communicator in (grace, linus, instructor):
        await communicator.disconnect()


async def test_a_student_of_one_classroom_cannot_watch_or_change_anothers_lab(runtime):
    mine, theirs = await runtime.start_lab("network-basics"), await runtime.start_lab("network-basics")
    teacher, _ = await instructor_session("ada")
    classroom = await Classroom.objects.acreate(code="ACDEFG", lab_id=mine.id, instructor=teacher, control="everyone")
    await Classroom.objects.acreate(code="HJKMNP", lab_id=theirs.id, instructor=teacher, control="everyone")
    headers = [ORIGIN, (b"cookie", f"sessionid={await student(classroom, 'Grace')}".encode())]
    socket = WebsocketCommunicator(application, f"/ws/labs/{theirs.id}/", headers=headers)
    connected, _ = await socket.connect(timeout=5)
    assert not connected and theirs.sim.nodes["m1"].alive


async def test_a_student_cannot_open_the_admin_or_hand_over_control(async_client, runtime):
    lab = await runtime.start_lab("network-basics")
    teacher, _ = await instructor_session("ada")
    await Classroom.objects.acreate(code="ACDEFG", lab_id=lab.id, instructor=teacher)
    response = await async_client.post("/join/", {"code": "ACDEFG", "name": "Grace"})
    assert response.status_code == 302 and response["Location"] == "/classrooms/ACDEFG/"
    admin = await async_client.get("/admin/")
    assert admin.status_code == 302 and admin["Location"].startswith("/admin/login/")
    refused = await async_client.post("/classrooms/ACDEFG/control/", {"control": "everyone"})
    assert refused.status_code == 403 and "Only this classroom" in refused.content.decode()
    assert (await Classroom.objects.aget(code="ACDEFG")).control == "instructor"
    assert (await async_client.get("/classrooms/ACDEFG/watchers/")).status_code == 403


async def test_only_instructors_start_classrooms(async_client, runtime):
    await async_client.get("/")
    response = await async_client.post("/classrooms/new/network-basics/")
    assert response.status_code == 403 and "Only instructors" in response.content.decode()
    assert not await Classroom.objects.aexists()


@pytest.mark.parametrize(("code", "name", "error"), [
    ("ACDEFG", "x" * 10_000, "too long"),
    ("ACDEFG", "<b>Grace</b>", "letters, digits"),
    ("NOPE!!", "Grace", "A join code is 6 letters"),
    ("HJKMNP", "Grace", "No open classroom has the code HJKMNP"),
])
async def test_a_bad_join_changes_nothing(async_client, runtime, code, name, error):
    lab = await runtime.start_lab("network-basics")
    teacher, _ = await instructor_session("ada")
    await Classroom.objects.acreate(code="ACDEFG", lab_id=lab.id, instructor=teacher)
    await Classroom.objects.acreate(code="HJKMNP", lab_id=lab.id, instructor=teacher, closed=True)
    response = await async_client.post("/join/", {"code": code, "name": name})
    assert response.status_code in (400, 404) and error in response.content.decode()
    assert "<b>Grace</b>" not in response.content.decode()  # markup is never echoed back unescaped
    page = await async_client.get("/classrooms/ACDEFG/")
    assert page.status_code == 302 and page["Location"] == "/join/?code=ACDEFG"
