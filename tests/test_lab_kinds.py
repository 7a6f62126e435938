"""Every registered lab kind keeps the lab contract (``tests.lab_contract``)."""

from __future__ import annotations

from coordlab.labs import registry

from .lab_contract import KindContract


class TestEveryKind(KindContract):
    """All the kinds the apps register: network basics, ZooKeeper, Kafka."""


def test_the_apps_register_their_kinds_in_catalog_order():
    assert [k.slug for k in registry.kinds()][:3] == ["basics", "zookeeper", "kafka"]
    assert all(s.kind == k.slug for k in registry.kinds() for s in k.scenarios)
