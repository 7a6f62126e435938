"""The PostgreSQL path: with DATABASE_URL set, the real server keeps its labs in the local
PostgreSQL (127.0.0.1:5432), and a Kafka lab survives a SIGKILL of the server there too.

Each run works in a database of its own, created and dropped by the test, so runs do not
collide. PostgreSQL's own URL can be changed with COORDLAB_TEST_POSTGRES."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
from collections.abc import Iterator

import psycopg
import pytest

from bench.servers import DAPHNE, lab_server
from tests.web.test_persistence import Browser, assert_same_lab, first_view, status, wait_for, wait_until_gone, watching

ADMIN_URL = os.environ.get("COORDLAB_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
KAFKA = ("lab-status", "kafka-cluster", "kafka-topics", "kafka-producers", "kafka-groups", "kafka-lists")


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """The DATABASE_URL of a new, empty PostgreSQL database, dropped afterwards."""
    name = f"coordlab_test_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(f"the local PostgreSQL ({ADMIN_URL}) is needed for this test: {error}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def saved_time(url: str, lab_id: str) -> int | None:
    with psycopg.connect(url, autocommit=True) as db:
        row = db.execute("SELECT virtual_time_ms FROM coordlab_labrecord WHERE id = %s AND state <> ''",
                         (lab_id,)).fetchone()
    return int(row[0]) if row else None


def leaders(view: dict[str, str]) -> dict[str, str]:
    return dict(re.findall(r'id="partition-([\w.-]+)"[^>]*data-leader="(\d+)"', view["kafka-topics"]))


async def build_kafka_state(url: str, lab_id: str, browser: Browser) -> dict[str, str]:
    """Records with keys and headers, a broker down and leaders moved; the view once paused."""
    async with watching(url, lab_id, browser) as viewer:
        await viewer.command(command="forward", seconds=10)
        for n in range(3):
            await viewer.command(command="act", op="publish", topic="payments", key=f"customer-{n}",
                                 value=f"payment {n}", headers="source=postgres-test", acks="all")
        await viewer.command(command="forward", seconds=2)
        await viewer.until(lambda view: "payment 2" in view["kafka-topics"])
        before_crash = leaders(viewer.view)
        await viewer.command(command="crash", node="b1")
        await viewer.command(command="forward", seconds=15)
        await viewer.until(lambda view: leaders(view) != before_crash)
        await viewer.command(command="pause")
        await viewer.until(lambda view: not status(view)[0])
        return await viewer.settle()


def test_a_kafka_lab_survives_a_killed_server_on_postgresql(tmp_path):
    browser = Browser()
    with fresh_database() as database_url:
        env = {"DATABASE_URL": database_url, "COORDLAB_VAR_DIR": str(tmp_path)}
        with lab_server("daphne", DAPHNE, 20, **env) as first:
            lab_id = browser.start_lab(first.http_url, "kafka-replication")
            before = asyncio.run(build_kafka_state(first.http_url, lab_id, browser))
            now = status(before)[1]
            wait_for(lambda: saved_time(database_url, lab_id) == now, what="the lab's snapshot in PostgreSQL")
            os.kill(first.pid, signal.SIGKILL)
            wait_until_gone(first.pid)

        with lab_server("daphne", DAPHNE, 20, **env) as second:
            after = asyncio.run(first_view(second.http_url, lab_id, browser))
    assert_same_lab(before, after, KAFKA)
    assert leaders(after) and "1" not in leaders(after).values()
    acked = re.search(r'id="acked-payments" data-count="(\d+)"', after["kafka-topics"])
    assert acked and int(acked.group(1)) >= 3
