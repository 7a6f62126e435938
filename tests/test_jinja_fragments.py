"""The Jinja2 fragments' environment (``coordlab.jinja``) shows values as Django's templates did."""

from __future__ import annotations

import pytest
from django.template import defaultfilters
from django.template.loader import get_template
from hypothesis import given
from hypothesis import strategies as st

from coordlab.jinja import floatformat

#: what the fragments show (speeds, rates, seconds): nothing as tiny as 1e-9, where Django gives up
#: and shows the number as Python writes it
NUMBERS = st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6).filter(lambda x: x == 0 or abs(x) > 1e-9),
                    st.decimals(-10**6, 10**6, places=4, allow_nan=False, allow_infinity=False))


@pytest.mark.parametrize("places", [-2, -1, 1, "-2", "-1", "1", "2"])
@given(value=NUMBERS)
def test_floatformat_is_djangos_for_the_numbers_the_fragments_show(value, places):
    assert floatformat(value, places) == defaultfilters.floatformat(value, places)


@pytest.mark.parametrize("value", [0.125, 2.5, 0.05, 1e-7, 19.995, "3.14", "x", None])
def test_floatformat_rounds_and_refuses_as_django_does(value):
    for places in (-2, 1):
        assert floatformat(value, places) == defaultfilters.floatformat(value, places)


def test_a_name_in_a_dict_wins_over_the_dicts_own_methods_as_in_django():
    template = get_template("kafka/partials/producers.html")
    service = {"name": "s1", "rate": 2.0, "keys": "hot", "boost": 1, "acked": 0, "failed": 0, "pending_count": 0,
               "alive": True, "retries": [], "slower": 1.0, "faster": 4.0, "recent": [], "queue": False,
               "topic": "orders"}
    html = template.render({"publishers": [], "services": [service], "key_modes": {"hot": "one key"}})
    assert 'data-keys="hot"' in html and "built-in method" not in html
