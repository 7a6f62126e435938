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

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.template import defaultfilters
from jinja2 import Environment


def floatformat(value: Any, places: int | str = -1) -> str:
    """Django's ``floatformat`` for what the fragments show: a number with ``places`` decimals,
    or with ``-places``, as many but none for a whole number, rounded half up. Without Django's
    localization machinery, which made it a third of the status bar's cost in every frame."""
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return ""
    if not number.is_finite():
        return str(value)
    digits = int(places)
    if digits <= 0 and number == number.to_integral_value():
        return f"{int(number):d}"
    rounded = number.quantize(Decimal(1).scaleb(-abs(digits)), ROUND_HALF_UP)
    return f"{rounded if rounded else abs(rounded):f}"  # no "-0.0"


#: Django's filters the fragments use, under their Django names (Jinja2 has none of them)
FILTERS = {name: getattr(defaultfilters, name)
           for name in ("default_if_none", "pluralize", "slugify", "truncatechars", "yesno")}
FILTERS["floatformat"] = floatformat


class FragmentEnvironment(Environment):
    """Looks a name up in a dict first, as Django does (``p.name``, ``s.keys``): Jinja2 tries
    an attribute first, and a failed attribute lookup on a dict, for every variable of every
    frame, was a tenth of a busy server's time."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


def environment(**options: Any) -> Environment:
    env = FragmentEnvironment(**options, keep_trailing_newline=True)
    env.filters.update(FILTERS)
    return env
