"""Turning the runtime's refusals into pages: a full server answers 503 with a sentence
that says what happened and what to do, whichever page asked for a lab."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.deprecation import MiddlewareMixin

from coordlab.labs.runtime import LabsFull

#: how long a browser is told to wait before trying a full server again (seconds)
RETRY_AFTER_S = 60


class LabsFullPage(MiddlewareMixin):
    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, LabsFull):
            return None
        response = render(request, "classrooms/refused.html", {"message": str(exception)}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response
