"""``{% broker_ports lab_id as ports %}``: the ports a Kafka lab's brokers listen on in this process,
in broker order, for the page's "Real Kafka clients" (read when the page is rendered, not in frames)."""

from __future__ import annotations

from django import template

from kafka_app.wire import listeners

register = template.Library()


@register.simple_tag
def broker_ports(lab_id: str) -> list[int]:
    return [port for _, port in sorted(listeners.ports(lab_id).items())]
