"""The Jinja2 environment of the fragments that frames re-render most (a Kafka lab's
partitions, producers and groups, and every lab's status bar).

Django's template engine costs a few microseconds for every variable it shows; those
fragments show hundreds and change in most frames, so rendering them was most of a
Kafka lab's cost (issue 15). Jinja2 compiles a template to Python code, three to four
times faster on the same fragment, measured by ``bench.labcost``. They live in
``templates/jinja2/``, autoescaped, with the few Django filters they use; a Django
template includes one with ``{% fragment "name" %}`` (``coordlab.templatetags.fragments``).
"""

from __future__ import annotations

from typing import Any

from django.template import defaultfilters
from jinja2 import Environment

#: Django's filters the fragments use, under their Django names (Jinja2 has none of them)
FILTERS = {name: getattr(defaultfilters, name)
           for name in ("default_if_none", "floatformat", "pluralize", "slugify", "truncatechars", "yesno")}


def environment(**options: Any) -> Environment:
    env = Environment(**options, keep_trailing_newline=True)
    env.filters.update(FILTERS)
    return env
