"""Pages: the catalog, starting a sandbox, a lab's page (rendered with the
lab's current state, so it means something before the socket connects), and
"try it yourself". Classrooms are in ``coordlab.classrooms``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from coordlab.access import OWNER, access_to, owner_token, person
from coordlab.frames import page_context
from coordlab.labs import registry
from coordlab.labs.lab import Lab
from coordlab.labs.runtime import UnknownLab, get_runtime
from coordlab.models import Sandbox, Scenario

#: labs one browser keeps at once: it closes one to open another
MAX_SANDBOXES_PER_SESSION = 8


def refused(request: HttpRequest, message: str, status: int = 403, back: str = "") -> HttpResponse:
    """A page that says why something was not done (with a link ``back`` where it was asked, if given)."""
    return render(request, "classrooms/refused.html", {"message": message, "back": back}, status=status)


@require_GET
async def catalog(request: HttpRequest) -> HttpResponse:
    cards = [s async for s in Scenario.objects.filter(listed=True) if registry.get(s.built_in)]
    sections = [(kind.heading, [card for card in cards if card.kind == kind.slug]) for kind in registry.kinds()]
    who = await person(request.session, await request.auser())
    return render(request, "catalog.html", {"cards": cards, "sections": [s for s in sections if s[1]],
                                            "instructor": who.instructor})


@require_POST
async def start_lab(request: HttpRequest, slug: str) -> HttpResponse:
    """Start a sandbox: a lab of a scenario that this browser owns."""
    preset = await preset_for(slug)
    runtime = await get_runtime()
    return await open_sandbox(request, lambda: runtime.start_lab(preset.built_in, preset.seed))


@require_GET
async def lab_page(request: HttpRequest, lab_id: str) -> HttpResponse:
    """The lab as it is now, for whoever may watch it (a classroom's lab moves to its classroom's page).

    The browser gets its owner token here if it had none, so that all its sockets share one budget."""
    who = await person(request.session, await request.auser())
    access = await access_to(lab_id, who)
    if not access.can_watch:
        return refused(request, access.watch_refusal)
    if access.classroom:
        return redirect("classroom", code=access.classroom)
    runtime = await get_runtime()
    try:
        lab = await runtime.open_lab(lab_id)
    except UnknownLab:
        raise Http404("There is no lab with that address.") from None
    await owner_token(request.session)
    return render(request, "labs/lab.html", {**page_context(lab), "access": access, "person": who})


@require_POST
async def fork_lab(request: HttpRequest, lab_id: str) -> HttpResponse:
    """“Try it yourself”: a private sandbox that starts as the lab is now, for whoever may watch it."""
    access = await access_to(lab_id, await person(request.session, await request.auser()))
    if not access.can_watch:
        return refused(request, access.watch_refusal)
    runtime = await get_runtime()
    try:
        return await open_sandbox(request, lambda: runtime.fork_lab(lab_id))
    except UnknownLab:
        raise Http404("There is no lab with that address.") from None


@require_POST
async def close_lab(request: HttpRequest, lab_id: str) -> HttpResponse:
    """The owner closes a sandbox they no longer need."""
    owner = await request.session.aget(OWNER)
    if owner is None or not await Sandbox.objects.filter(lab_id=lab_id, owner=owner).aexists():
        return refused(request, "Only the browser that opened a lab can close it.")
    runtime = await get_runtime()
    await runtime.close_lab(lab_id)
    return redirect("catalog")


async def open_sandbox(request: HttpRequest, start: Callable[[], Awaitable[Lab]]) -> HttpResponse:
    """Start a lab with ``start`` as a sandbox of this browser and go to it, unless the browser or
    its network address already keeps as many labs as it may (then a page saying which limit)."""
    owner = await owner_token(request.session)
    address = address_of(request)
    mine = [{"id": s.lab_id, "title": title_of(s.lab.scenario_slug)}
            async for s in Sandbox.objects.filter(owner=owner).select_related("lab").order_by("created_at")]
    per_address = settings.COORDLAB_MAX_SANDBOXES_PER_ADDRESS
    if len(mine) >= MAX_SANDBOXES_PER_SESSION:
        return render(request, "too_many_labs.html", {"labs": mine, "limit": MAX_SANDBOXES_PER_SESSION,
                                                      "per": "browser"}, status=429)
    if await Sandbox.objects.filter(address=address).acount() >= per_address:
        return render(request, "too_many_labs.html", {"labs": mine, "limit": per_address, "per": "address"},
                      status=429)
    lab = await start()
    await Sandbox.objects.acreate(lab_id=lab.id, owner=owner, address=address)
    return redirect("lab", lab_id=lab.id)


def title_of(slug: str) -> str:
    """A scenario's title, as the catalog shows it (its slug, if it is no longer in the catalog)."""
    scenario = registry.get(slug)
    return scenario.title if scenario is not None else slug


def address_of(request: HttpRequest) -> str:
    """The network address a request comes from, as ``coordlab.ratelimit.client_address`` names a
    socket's (Django puts the ASGI scope's client there), or "?" if the server did not say."""
    return str(request.META.get("REMOTE_ADDR") or "?")


async def preset_for(slug: str) -> Scenario:
    """The catalog entry (a built-in scenario or an admin's copy) with that slug, or 404."""
    preset = await Scenario.objects.filter(slug=slug).afirst()
    if preset is None or registry.get(preset.built_in) is None:
        raise Http404("There is no such scenario.")
    return preset
