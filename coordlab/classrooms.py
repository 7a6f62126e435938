"""Classrooms: an instructor starts one from a scenario and gets a join code and
its QR code; students join at /join with the code and a name and watch the
instructor's lab; the instructor sees who is watching and may hand control to
everyone or to named students.

A student is their browser (its owner token, see ``coordlab.access``), seated in
the classroom under a name no one else in it uses. Join attempts are limited per
browser and per network address, and a classroom's page tells someone who has
not joined nothing about whether its code exists."""

from __future__ import annotations

import math
from typing import Any

import segno
from asgiref.sync import sync_to_async
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from coordlab import roster
from coordlab.access import OWNER, access_to, clean_code, clean_name, new_code, owner_token, person
from coordlab.frames import page_context
from coordlab.labs import registry
from coordlab.labs.runtime import UnknownLab, get_runtime
from coordlab.lecture import public_origin
from coordlab.models import Classroom, Scenario, Student
from coordlab.ratelimit import Budgets, spend, wait
from coordlab.views import address_of, refused

#: join attempts per browser (each attempt looks a code up): room for a few typos
JOINS_PER_MINUTE_PER_BROWSER = 10
JOIN_BURST_PER_BROWSER = 5
#: join attempts per network address, which a lecture hall behind one NAT shares; even so, one
#: address needs about four weeks, on average, to guess one of a hundred open classrooms' codes
JOINS_PER_MINUTE_PER_ADDRESS = 60
JOIN_BURST_PER_ADDRESS = 30
JOINS_BY_BROWSER = Budgets(JOINS_PER_MINUTE_PER_BROWSER / 60, JOIN_BURST_PER_BROWSER)
JOINS_BY_ADDRESS = Budgets(JOINS_PER_MINUTE_PER_ADDRESS / 60, JOIN_BURST_PER_ADDRESS)

NOT_AN_INSTRUCTOR = ("Only instructors start and run classrooms: staff users in the group “Instructors”. "
                     "Log in through the admin first.")
NAME_TAKEN = ("Someone in classroom {code} already joined as “{name}”: add an initial or a surname, so that your "
              "instructor can tell you apart.")


@require_POST
async def start_classroom(request: HttpRequest, slug: str) -> HttpResponse:
    who = await person(request.session, await request.auser())
    if not who.instructor or who.user_id is None:
        return refused(request, NOT_AN_INSTRUCTOR)
    preset = await Scenario.objects.filter(slug=slug).afirst()
    if preset is None or registry.get(preset.built_in) is None:
        return refused(request, "There is no such scenario.", 404)
    runtime = await get_runtime()
    lab = await runtime.start_lab(preset.built_in, preset.seed)
    code = new_code()
    while await Classroom.objects.filter(code=code).aexists():
        code = new_code()
    await Classroom.objects.acreate(code=code, lab_id=lab.id, instructor_id=who.user_id)
    return redirect("classroom", code=code)


@require_http_methods(["GET", "POST"])
async def join(request: HttpRequest) -> HttpResponse:
    """A student types the code and a name; both are checked before anything is kept. Each look-up
    of a code spends a join attempt of the browser's and of its address's budgets; when either is
    empty the answer is 429, saying how long to wait. The form gives the browser its owner token,
    which its attempts are counted by."""
    if request.method == "GET":
        await owner_token(request.session)
        return join_form(request, {"code": request.GET.get("code", ""), "name": await request.session.aget("name", "")})
    values = {"code": request.POST.get("code", "")[:100], "name": request.POST.get("name", "")[:100]}
    try:
        code = clean_code(request.POST.get("code"))
        name = clean_name(request.POST.get("name"))
    except ValueError as error:
        return join_form(request, values, str(error), 400)
    draws = join_draws(await request.session.aget(OWNER), address_of(request))
    if not spend(draws):
        seconds = math.ceil(wait(draws))
        response = join_form(request, values, f"Too many attempts to join from here: wait {seconds} second"
                             f"{'' if seconds == 1 else 's'}, then try again.", 429)
        response["Retry-After"] = str(seconds)
        return response
    room = await Classroom.objects.filter(code=code, closed=False).afirst()
    if room is None:
        return join_form(request, values, f"No open classroom has the code {code}: check it with your instructor.",
                         404)
    try:
        await enrol(room, await owner_token(request.session), name)
    except ValueError as error:
        return join_form(request, values, str(error), 409)
    await request.session.aset("name", name)
    return redirect("classroom", code=code)


def join_form(request: HttpRequest, values: dict[str, str], error: str = "", status: int = 200) -> HttpResponse:
    return render(request, "classrooms/join.html", {**values, "error": error}, status=status)


def join_draws(owner: str | None, address: str) -> list[tuple[Budgets, str]]:
    """The budgets a join attempt spends from: its address's, and its browser's if it has an owner token."""
    return [(JOINS_BY_ADDRESS, address)] + ([(JOINS_BY_BROWSER, owner)] if owner else [])


async def enrol(room: Classroom, owner: str, name: str) -> None:
    """Seat the browser ``owner`` in the classroom as ``name`` (renaming its seat if it joined
    before); ValueError if another student of the classroom joined under that name, in any case."""
    taken = NAME_TAKEN.format(code=room.code, name=name)
    if await room.students.filter(name__iexact=name).exclude(owner=owner).aexists():
        raise ValueError(taken)
    try:
        await Student.objects.aupdate_or_create(classroom=room, owner=owner, defaults={"name": name})
    except IntegrityError:  # another browser took the name a moment ago
        raise ValueError(taken) from None


async def _classroom(code: str) -> Classroom | None:
    try:
        return await Classroom.objects.filter(code=clean_code(code)).afirst()
    except ValueError:
        return None


@require_GET
async def classroom(request: HttpRequest, code: str) -> HttpResponse:
    """The classroom's lab, for its instructor (even once it is closed) and the students who joined
    it while it is open. Anyone else goes to the join form with the code, whether or not a
    classroom has it: the answer says nothing about which codes exist."""
    found = await _classroom(code)
    who = await person(request.session, await request.auser())
    access = await access_to(found.lab_id, who) if found is not None else None
    if found is None or access is None or access.classroom != found.code:
        return redirect(reverse("join") + "?" + urlencode({"code": code}))
    runtime = await get_runtime()
    try:
        lab = await runtime.open_lab(found.lab_id)
    except UnknownLab:
        return refused(request, "This classroom's lab is gone.", 404)
    context = {**page_context(lab), "access": access, "person": who,
               "classroom": await classroom_context(request, found, access.role == "instructor")}
    return render(request, "labs/lab.html", context)


async def classroom_context(request: HttpRequest, room: Classroom, instructor: bool) -> dict[str, Any]:
    """What the classroom panel shows: to its instructor, the join address and QR code (at the
    host the instructor's browser reached, see ``coordlab.lecture.public_origin``), who is
    watching and who has control."""
    context: dict[str, Any] = {"code": room.code, "instructor": instructor}
    if instructor:
        join_url = public_origin(request) + reverse("join") + "?" + urlencode({"code": room.code})
        qr = segno.make(join_url, error="m").svg_inline(scale=5, omitsize=True, title="join code")
        controllers = [student.name async for student in room.students.filter(has_control=True)]
        context.update(control=room.control, controllers=", ".join(controllers), closed=room.closed,
                       join_url=join_url, qr=qr, watchers=await roster.names(room.lab_id),
                       watchers_url=reverse("classroom-watchers", args=[room.code]))
    return context


@require_POST
async def control(request: HttpRequest, code: str) -> HttpResponse:
    """The instructor hands control to everyone, to named students who joined, or keeps it. Names
    are matched in any case; if one of them matches nobody, nothing changes and the page says so."""
    found = await _classroom(code)
    who = await person(request.session, await request.auser())
    if found is None or who.user_id != found.instructor_id:
        return refused(request, "Only this classroom's instructor can hand over control.")
    mode = request.POST.get("control", "")
    if mode not in {choice for choice, _ in Classroom.CONTROL_CHOICES}:
        return refused(request, "Control goes to the instructor, everyone, or named students.", 400)
    chosen: list[Student] = []
    if mode == "named":
        try:
            names = [clean_name(n) for n in request.POST.get("names", "")[:2000].split(",") if n.strip()]
            chosen = await students_named(found, names)
        except ValueError as error:
            return refused(request, f"Control stays as it was. {error}", 400,
                           back=reverse("classroom", args=[found.code]))
    await hand_control(found, mode, chosen)
    return redirect("classroom", code=found.code)


async def students_named(room: Classroom, names: list[str]) -> list[Student]:
    """The students who joined the classroom under these names (in any case); ValueError naming
    those nobody joined as, and who did join."""
    joined = {student.name.casefold(): student async for student in room.students.all()}
    unknown = [name for name in names if name.casefold() not in joined]
    if unknown:
        present = ", ".join(student.name for student in joined.values()) or "nobody yet"
        raise ValueError(f"Nobody joined classroom {room.code} as {', '.join(f'“{n}”' for n in unknown)}. "
                         f"Who joined: {present}.")
    return [joined[name.casefold()] for name in names]


@sync_to_async
def hand_control(room: Classroom, mode: str, students: list[Student]) -> None:
    """Set who may change the classroom's lab: ``mode``, and for "named" these students only (at once)."""
    with transaction.atomic():
        room.students.update(has_control=Q(pk__in=[student.pk for student in students]))
        room.control = mode
        room.save(update_fields=["control"])


@require_GET
async def watchers(request: HttpRequest, code: str) -> HttpResponse:
    """Who is watching, for the instructor's panel (polled every few seconds)."""
    found = await _classroom(code)
    who = await person(request.session, await request.auser())
    if found is None or who.user_id != found.instructor_id:
        return HttpResponse(status=403)
    return render(request, "classrooms/watchers.html", {"watchers": await roster.names(found.lab_id),
                                                        "watchers_url": request.path})
