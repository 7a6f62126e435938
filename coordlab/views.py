"""Pages: the catalog, starting a sandbox, a lab's page (rendered with the
lab's current state, so it means something before the socket connects), and
"try it yourself". Classrooms are in ``coordlab.classrooms``."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from coordlab.access import access_to, person
from coordlab.frames import page_context
from coordlab.labs import registry
from coordlab.labs.runtime import UnknownLab, get_runtime
from coordlab.models import Sandbox, Scenario

MAX_SANDBOXES_PER_SESSION = 8

#: the catalog's sections, in course order
KIND_HEADINGS = (("basics", "Networks and failures"), ("zookeeper", "ZooKeeper: coordination"),
                 ("kafka", "Kafka: asynchronous work"))


@require_GET
async def catalog(request: HttpRequest) -> HttpResponse:
    cards = [s async for s in Scenario.objects.filter(listed=True) if registry.get(s.built_in)]
    sections = [(heading, [card for card in cards if card.kind == kind]) for kind, heading in KIND_HEADINGS]
    who = await person(request.session, await request.auser())
    return render(request, "catalog.html", {"cards": cards, "sections": [s for s in sections if s[1]],
                                            "instructor": who.instructor})


@require_POST
async def start_lab(request: HttpRequest, slug: str) -> HttpResponse:
    """Start a sandbox: a lab of a scenario that this browser session owns."""
    preset = await preset_for(slug)
    owner = await session_key(request)
    mine = [s.lab_id async for s in Sandbox.objects.filter(session_key=owner).order_by("created_at")]
    if len(mine) >= MAX_SANDBOXES_PER_SESSION:
        return render(request, "too_many_labs.html", {"labs": mine, "limit": MAX_SANDBOXES_PER_SESSION}, status=429)
    runtime = await get_runtime()
    lab = await runtime.start_lab(preset.built_in, preset.seed)
    await Sandbox.objects.acreate(lab_id=lab.id, session_key=owner)
    return redirect("lab", lab_id=lab.id)


@require_GET
async def lab_page(request: HttpRequest, lab_id: str) -> HttpResponse:
    runtime = await get_runtime()
    try:
        lab = await runtime.open_lab(lab_id)
    except UnknownLab:
        raise Http404("There is no lab with that address.") from None
    who = await person(request.session, await request.auser())
    access = await access_to(lab_id, who)
    if access.classroom:
        return redirect("classroom", code=access.classroom)
    return render(request, "labs/lab.html", {**page_context(lab), "access": access, "person": who})


@require_POST
async def fork_lab(request: HttpRequest, lab_id: str) -> HttpResponse:
    """“Try it yourself”: a private sandbox that starts as the lab is now."""
    owner = await session_key(request)
    if await Sandbox.objects.filter(session_key=owner).acount() >= MAX_SANDBOXES_PER_SESSION:
        mine = [s.lab_id async for s in Sandbox.objects.filter(session_key=owner).order_by("created_at")]
        return render(request, "too_many_labs.html", {"labs": mine, "limit": MAX_SANDBOXES_PER_SESSION}, status=429)
    runtime = await get_runtime()
    try:
        copy = await runtime.fork_lab(lab_id)
    except UnknownLab:
        raise Http404("There is no lab with that address.") from None
    await Sandbox.objects.acreate(lab_id=copy.id, session_key=owner)
    return redirect("lab", lab_id=copy.id)


@require_POST
async def close_lab(request: HttpRequest, lab_id: str) -> HttpResponse:
    """The owner closes a sandbox they no longer need."""
    owner = request.session.session_key
    if owner is None or not await Sandbox.objects.filter(lab_id=lab_id, session_key=owner).aexists():
        return render(request, "classrooms/refused.html", {"message": "Only the browser that opened a lab can "
                      "close it."}, status=403)
    runtime = await get_runtime()
    await runtime.close_lab(lab_id)
    return redirect("catalog")


async def preset_for(slug: str) -> Scenario:
    """The catalog entry (a built-in scenario or an admin's copy) with that slug, or 404."""
    preset = await Scenario.objects.filter(slug=slug).afirst()
    if preset is None or registry.get(preset.built_in) is None:
        raise Http404("There is no such scenario.")
    return preset


async def session_key(request: HttpRequest) -> str:
    """This browser's session key, creating the session on first need."""
    if request.session.session_key is None:
        await request.session.aset("started", True)
        await request.session.asave()
    key = request.session.session_key
    assert key is not None
    return key
