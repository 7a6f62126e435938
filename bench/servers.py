"""The servers the fan-out bench measures, each in its own subprocess.

- ``lab_server``: CoordLab itself, with a throwaway database and var dir,
  under daphne exactly as ``make run`` starts it (``python -m coordlab.serve``)
  or under uvicorn;
- ``bare_server``: ``bench.bare_server``, the ``websockets.broadcast()`` baseline.

Also: how to read a process's CPU time from /proc, and how to start a lab
over HTTP as the catalog's button does.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
START_TIMEOUT = 30.0
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

DAPHNE = [PYTHON, "-m", "coordlab.serve", "--host", "127.0.0.1", "--port", "{port}"]


def uvicorn_command(ws: str) -> list[str]:
    """The same ASGI application under uvicorn, with WebSocket implementation ``ws``."""
    return [PYTHON, "-m", "uvicorn", "coordlab.asgi:application", "--host", "127.0.0.1", "--port", "{port}",
            "--ws", ws, "--log-level", "warning"]


def die_with_parent() -> None:
    """``preexec_fn`` for every child: the kernel sends it SIGTERM if the bench dies without cleaning up."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc/<pid>/task/*/children)."""
    found, pending = [], [pid]  # a worklist: processes whose children are still to list
    while pending and len(found) < 1000:
        current = pending.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children, in seconds."""
    ticks = 0
    for process in _descendants(pid):
        with contextlib.suppress(OSError):
            with open(f"/proc/{process}/stat") as stat:
                # Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
                fields = stat.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """A running server: where to connect and whose CPU to read."""

    name: str
    pid: int
    http_url: str  # also the Origin viewers send
    ws_url: str = ""


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_http(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited during start-up:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not answer within {START_TIMEOUT:g} s")


@contextlib.contextmanager
def lab_server(name: str, command: list[str], fps: float, **env: str) -> Iterator[Server]:
    """CoordLab on a free port with a fresh database; stopped (killed if need be) on exit."""
    with tempfile.TemporaryDirectory(prefix="coordlab-bench-") as var_dir:
        environment = {
            **os.environ, "DJANGO_SETTINGS_MODULE": "coordlab.settings", "REDIS_URL": "",
            "COORDLAB_VAR_DIR": var_dir, "COORDLAB_SQLITE_PATH": str(Path(var_dir) / "bench.sqlite3"),
            "COORDLAB_FRAMES_PER_SECOND": f"{fps:g}", **env,
        }
        manage = [PYTHON, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=environment, check=True,
                       timeout=120)
        subprocess.run([*manage, "load_scenarios"], cwd=ROOT, env=environment, check=True, timeout=60,
                       stdout=subprocess.DEVNULL)
        port = free_port()
        log_path = Path(var_dir) / "server.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen([part.format(port=port) for part in command], cwd=ROOT,
                                       env=environment, stdout=log, stderr=subprocess.STDOUT,
                                       preexec_fn=die_with_parent)
            try:
                url = f"http://127.0.0.1:{port}"
                _wait_for_http(url, process, log_path)
                yield Server(name, process.pid, url)
            finally:
                _stop(process)


@contextlib.contextmanager
def bare_server(size: int, fps: float) -> Iterator[Server]:
    """``bench.bare_server`` on a free port, sending frames of ``size`` bytes."""
    port = free_port()
    process = subprocess.Popen([PYTHON, "-m", "bench.bare_server", "--port", str(port), "--size", str(size),
                                "--fps", f"{fps:g}"], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                               preexec_fn=die_with_parent)
    try:
        if process.stdout is None or process.stdout.readline().strip() != "LISTENING":
            raise RuntimeError("the bare websockets server did not start")
        url = f"http://127.0.0.1:{port}"
        yield Server("bare", process.pid, url, f"ws://127.0.0.1:{port}/")
    finally:
        _stop(process)


def start_lab(url: str, slug: str = "network-basics") -> str:
    """Start a lab over HTTP (GET / for the CSRF cookie, then POST); returns its id."""
    return start_owned_lab(url, slug)[0]


def start_owned_lab(url: str, slug: str = "network-basics") -> tuple[str, str]:
    """Start a lab over HTTP; returns its id and the Cookie header of the session that
    owns it (a WebSocket sending commands must present it)."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(url + "/", timeout=10).close()
    token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    request = urllib.request.Request(url + f"/labs/new/{slug}/", data=b"", method="POST", headers={
        "X-CSRFToken": token, "Referer": url + "/", "Origin": url})
    with opener.open(request, timeout=10) as response:  # follows the 302 to /labs/<id>/
        path = urllib.parse.urlparse(response.url).path
    parts = path.strip("/").split("/")
    if len(parts) != 2 or parts[0] != "labs":
        raise RuntimeError(f"starting a lab led to {path!r}, not /labs/<id>/")
    return parts[1], "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)
