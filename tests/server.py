"""The real server for tests, started as `make run` starts it (``bench.servers``
does the work: a fresh database, a free port, cleanup even if the test dies)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from bench.servers import DAPHNE, lab_server, start_lab, start_owned_lab

__all__ = ["running_server", "start_lab", "start_owned_lab"]

FRAMES_PER_SECOND = 20  # as `make run`


@contextlib.contextmanager
def running_server(**env: str) -> Iterator[str]:
    """Yield the base URL of a fresh daphne with its own database."""
    with lab_server("daphne", DAPHNE, FRAMES_PER_SECOND, **env) as server:
        yield server.http_url
