"""``{% fragment "name" %}``: a fragment included in a Django template, whichever engine
renders it (the hottest ones are Jinja2's, see ``coordlab.jinja``), with the including
template's context."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from coordlab.frames import render

register = template.Library()


@register.simple_tag(takes_context=True)
def fragment(context: template.Context, name: str) -> SafeString:
    return mark_safe(render(name, context.flatten()))  # the fragment escaped what it shows
