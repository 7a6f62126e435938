"""Pages: the catalog, starting a lab, and a lab's page (rendered with the
lab's current state, so it means something before the socket connects)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from coordlab.frames import page_context
from coordlab.labs import registry
from coordlab.labs.runtime import UnknownLab, get_runtime
from coordlab.models import Scenario

#: the catalog's sections, in course order
KIND_HEADINGS = (("basics", "Networks and failures"), ("zookeeper", "ZooKeeper: coordination"),
                 ("kafka", "Kafka: asynchronous work"))


@require_GET
async def catalog(request: HttpRequest) -> HttpResponse:
    cards = [s async for s in Scenario.objects.filter(listed=True) if registry.get(s.slug)]
    sections = [(heading, [card for card in cards if card.kind == kind]) for kind, heading in KIND_HEADINGS]
    return render(request, "catalog.html", {"cards": cards, "sections": [s for s in sections if s[1]]})


@require_POST
async def start_lab(request: HttpRequest, slug: str) -> HttpResponse:
    runtime = await get_runtime()
    try:
        lab = await runtime.start_lab(slug)
    except UnknownLab:
        raise Http404("There is no such scenario.") from None
    return redirect("lab", lab_id=lab.id)


@require_GET
async def lab_page(request: HttpRequest, lab_id: str) -> HttpResponse:
    runtime = await get_runtime()
    try:
        lab = await runtime.open_lab(lab_id)
    except UnknownLab:
        raise Http404("There is no lab with that address.") from None
    return render(request, "labs/lab.html", page_context(lab))
