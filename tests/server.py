"""Start the real server (daphne, as `make run` does) in a subprocess for a test."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(**env: str) -> Iterator[str]:
    """Yield the base URL of a fresh daphne (started as `make run` starts it) with its own database."""
    with tempfile.TemporaryDirectory(prefix="coordlab-test-") as var_dir:
        environment = {**os.environ, "COORDLAB_VAR_DIR": var_dir, "REDIS_URL": "",
                       "DJANGO_SETTINGS_MODULE": "coordlab.settings", **env}
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=environment, check=True)
        subprocess.run([*manage, "load_scenarios"], cwd=ROOT, env=environment, check=True,
                       stdout=subprocess.DEVNULL)
        port = free_port()
        log = open(Path(var_dir) / "server.log", "w")  # noqa: SIM115 (closed below)
        process = subprocess.Popen([sys.executable, "-m", "coordlab.serve", "--port", str(port)],
                                   cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url, process)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()


def _wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        try:
            with urllib.request.urlopen(url + "/", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start within 30 s")


def start_lab(url: str, slug: str = "network-basics") -> str:
    """Start a lab over HTTP as the catalog's button does; returns its id."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    opener.open(url + "/")
    cookie = next(c for c in opener.handlers if isinstance(c, urllib.request.HTTPCookieProcessor)).cookiejar
    token = next(c.value for c in cookie if c.name == "csrftoken")
    request = urllib.request.Request(url + f"/labs/new/{slug}/", data=b"", method="POST",
                                     headers={"X-CSRFToken": token, "Referer": url + "/"})
    with opener.open(request) as response:
        return response.url.rstrip("/").rsplit("/", 1)[-1]
