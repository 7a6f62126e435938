"""What brokers put on the wire, in the terms of Kafka's ``common.protocol``.

A response carries an error as its numeric code (``Errors.forException(e).code()``),
and a broker is reached at an endpoint named after its id (``b1`` for broker 1).
Every piece of the broker uses these, so they live apart from ``broker.py``.
"""

from __future__ import annotations

from .errors import KafkaError


def broker_name(broker_id: int) -> str:
    return f"b{broker_id}"


def broker_id_of(name: str) -> int:
    return int(name[1:])


def code_of(error: type[KafkaError] | None) -> int:
    return 0 if error is None else int(error.errno or -1)
