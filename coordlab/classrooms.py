"""Classrooms: an instructor starts one from a scenario and gets a join code and
its QR code; students join at /join with the code and a name and watch the
instructor's lab; the instructor sees who is watching and may hand control to
everyone or to named students."""

from __future__ import annotations

import segno
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from coordlab import roster
from coordlab.access import access_to, clean_code, clean_name, new_code, person
from coordlab.frames import page_context
from coordlab.labs import registry
from coordlab.labs.runtime import UnknownLab, get_runtime
from coordlab.models import Classroom, Scenario

NOT_AN_INSTRUCTOR = ("Only instructors start and run classrooms: staff users in the group “Instructors”. "
                     "Log in through the admin first.")


def refused(request: HttpRequest, message: str, status: int = 403) -> HttpResponse:
    return render(request, "classrooms/refused.html", {"message": message}, status=status)


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
    """A student types the code and a name; both are checked before anything is kept."""
    values = {"code": request.GET.get("code", ""), "name": await request.session.aget("name", "")}
    if request.method == "POST":
        values = {"code": request.POST.get("code", "")[:100], "name": request.POST.get("name", "")[:100]}
        try:
            code = clean_code(request.POST.get("code"))
            name = clean_name(request.POST.get("name"))
        except ValueError as error:
            return render(request, "classrooms/join.html", {**values, "error": str(error)}, status=400)
        if not await Classroom.objects.filter(code=code, closed=False).aexists():
            return render(request, "classrooms/join.html", {**values, "error": f"No open classroom has the code "
                          f"{code}: check it with your instructor."}, status=404)
        await request.session.aset("name", name)
        await request.session.aset("classroom", code)
        return redirect("classroom", code=code)
    return render(request, "classrooms/join.html", values)


async def _classroom(code: str) -> Classroom | None:
    try:
        return await Classroom.objects.filter(code=clean_code(code)).afirst()
    except ValueError:
        return None


@require_GET
async def classroom(request: HttpRequest, code: str) -> HttpResponse:
    found = await _classroom(code)
    if found is None or found.closed:
        return refused(request, "This classroom is closed, or there never was one with that code.", 404)
    who = await person(request.session, await request.auser())
    is_instructor = who.user_id is not None and who.user_id == found.instructor_id
    if not is_instructor and (await request.session.aget("classroom") != found.code or not who.name):
        return redirect(reverse("join") + f"?code={found.code}")
    runtime = await get_runtime()
    try:
        lab = await runtime.open_lab(found.lab_id)
    except UnknownLab:
        return refused(request, "This classroom's lab is gone.", 404)
    join_url = request.build_absolute_uri(reverse("join") + f"?code={found.code}")
    context = {**page_context(lab), "access": await access_to(found.lab_id, who), "person": who,
               "classroom": {"code": found.code, "instructor": is_instructor, "control": found.control,
                             "controllers": ", ".join(found.controllers), "join_url": join_url,
                             "qr": segno.make(join_url, error="m").svg_inline(scale=5, omitsize=True, title="join code")
                             if is_instructor else "",
                             "watchers": await roster.names(found.lab_id),
                             "watchers_url": reverse("classroom-watchers", args=[found.code])}}
    return render(request, "labs/lab.html", context)


@require_POST
async def control(request: HttpRequest, code: str) -> HttpResponse:
    """The instructor hands control to everyone, to named students, or keeps it."""
    found = await _classroom(code)
    who = await person(request.session, await request.auser())
    if found is None or who.user_id != found.instructor_id:
        return refused(request, "Only this classroom's instructor can hand over control.")
    mode = request.POST.get("control", "")
    names: list[str] = []
    if mode not in {choice for choice, _ in Classroom.CONTROL_CHOICES}:
        return refused(request, "Control goes to the instructor, everyone, or named students.", 400)
    if mode == "named":
        try:
            names = [clean_name(n) for n in request.POST.get("names", "")[:2000].split(",") if n.strip()]
        except ValueError as error:
            return refused(request, f"Those names cannot be right: {error}", 400)
    found.control, found.controllers = mode, names
    await found.asave(update_fields=["control", "controllers"])
    return redirect("classroom", code=found.code)


@require_GET
async def watchers(request: HttpRequest, code: str) -> HttpResponse:
    """Who is watching, for the instructor's panel (polled every few seconds)."""
    found = await _classroom(code)
    who = await person(request.session, await request.auser())
    if found is None or who.user_id != found.instructor_id:
        return HttpResponse(status=403)
    return render(request, "classrooms/watchers.html", {"watchers": await roster.names(found.lab_id),
                                                        "watchers_url": request.path})
