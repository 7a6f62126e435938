"""The packer: saved snapshots are made in a worker process, which must not outlive the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_STANDIN = """
import sys
from coordlab.labs import registry
from coordlab.labs.lab import Lab, freeze
from coordlab.labs.packing import Packer
import django
django.setup()
packer = Packer()
packer.pack(freeze(Lab("x", registry.get("network-basics")).sim))
print(next(iter(packer.pool._processes)), flush=True)
import time
time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie waiting for its reaper is gone too
        return stat.read().split()[2] != "Z"


def test_the_packer_process_ends_when_the_server_is_killed():
    """A server killed with SIGKILL (a crash, ``kill -9``) leaves no packer behind holding memory."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "coordlab.settings"}
    server = subprocess.Popen([sys.executable, "-c", SERVER_STANDIN], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              text=True)
    try:
        worker = int(server.stdout.readline())
        assert alive(worker)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        deadline = time.monotonic() + 10
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(worker), "the packer outlived its server"
    finally:
        server.kill()
