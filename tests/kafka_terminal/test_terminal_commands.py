"""``manage.py kafka_produce`` and ``kafka_consume`` as a learner runs them: real
subprocesses against a real server, a message from one terminal reaching the
other through the lab, Ctrl-C leaving the group, and bad input answered in one
line."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from bench.servers import free_port
from kafka_app.terminal_client import (
    Session,
    TerminalError,
    format_outcome,
    format_record,
    origin_of,
    split_line,
)
from tests.server import running_server, start_lab

ROOT = Path(__file__).resolve().parents[2]
#: how long a terminal command may take to print a line: a bound, not a speed target (starting
#: Python and Django in a subprocess took over 10 s on this machine while other tests ran)
WAIT_S = 30
SLUG, TOPIC = "kafka-messenger", "messages"


@pytest.fixture(scope="module")
def server():
    with running_server() as url:
        yield url


def manage(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, text=True,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "coordlab.settings"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


def run(*args: str, stdin: str = "", timeout: float = 30) -> subprocess.CompletedProcess:
    process = manage(*args, stdin=subprocess.PIPE)
    out, err = process.communicate(stdin, timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def on_page(server: str, lab: str, group: str, member: str) -> tuple[str, str]:
    """(the group's state, the member's status) as the lab's page shows them ("" if absent)."""
    with urllib.request.urlopen(f"{server}/labs/{lab}/", timeout=10) as response:
        page = response.read().decode()
    state = re.search(rf'<article class="group" id="group-{group}" data-state="([^"]*)"', page)
    status = re.search(rf'<li id="member-{member}" data-status="([^"]*)"', page)
    return (state.group(1) if state else "", status.group(1) if status else "")


def eventually(check, timeout: float = 5):
    deadline = time.monotonic() + timeout
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return result


class Lines:
    """A process's output lines, read in a thread, to wait for."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self.queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.queue.put(line.rstrip("\n")) for line in stream], daemon=True).start()

    def wait_for(self, found, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.seen:
                if found(line):
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"not printed within {timeout:g} s; printed:\n" + "\n".join(self.seen[-30:]))
            with contextlib.suppress(queue.Empty):
                self.seen.append(self.queue.get(timeout=remaining))


def test_a_terminal_consumer_prints_what_a_terminal_producer_publishes_and_leaves_on_ctrl_c(server):
    lab = start_lab(server, SLUG)
    group = "term" + secrets.token_hex(2)
    watcher = Session(server, lab)  # as a browser would, keeps the lab's clock running throughout
    consumer = manage("kafka_consume", "--lab", lab, "--topic", TOPIC, "--group", group, "--server", server)
    try:
        out = Lines(consumer.stdout)
        joined = out.wait_for(lambda line: "joins group" in line, WAIT_S)
        member = joined.split()[0]
        assert member.startswith("terminal-") and group in joined
        # The lab's own messenger service publishes all the time: once the member prints a record,
        # it owns partitions and its positions are set, so nothing of ours can go by unseen.
        out.wait_for(lambda line: line.startswith(f"{TOPIC}-"), 20)
        assert on_page(server, lab, group, member) == ("stable", "working")

        tag = secrets.token_hex(3)
        produced = run("kafka_produce", "--lab", lab, "--topic", TOPIC, "--key-separator", ":", "--server", server,
                       stdin=f"alice:hello {tag}\nbob:hi: there {tag}\n")
        assert produced.returncode == 0, produced.stderr
        assert produced.stderr == ""
        landed = [line for line in produced.stdout.splitlines() if line.startswith(f"{TOPIC}-")]
        assert len(landed) == 2, produced.stdout
        assert landed[0].endswith(f"key=alice value=hello {tag}")
        assert landed[1].endswith(f"key=bob value=hi: there {tag}")  # only the first separator splits
        for line in landed:  # the consumer prints the same partition and offset the producer was told
            assert out.wait_for(lambda printed, line=line: printed == line, WAIT_S)

        consumer.send_signal(signal.SIGINT)
        assert consumer.wait(timeout=10) == 0, consumer.stderr.read()
        left = out.wait_for(lambda line: line.startswith(member) and "joins group" not in line
                            and not line.startswith(f"{TOPIC}-"), 2)
        assert "leaves its group" in left, left
        assert consumer.stderr.read() == ""
        assert eventually(lambda: on_page(server, lab, group, member) == ("empty", "left the group"))
    finally:
        watcher.close()
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait()


def test_a_consumer_killed_without_a_goodbye_is_gone_from_the_lab(server):
    lab = start_lab(server, SLUG)
    consumer = manage("kafka_consume", "--lab", lab, "--topic", TOPIC, "--group", "billing", "--server", server)
    try:
        member = Lines(consumer.stdout).wait_for(lambda line: "joins group" in line, WAIT_S).split()[0]
    finally:
        consumer.kill()
        consumer.wait()
    # The server saw the connection drop and made the member vanish, as a killed process would:
    # the page shows it down, not as a member that left.
    assert eventually(lambda: on_page(server, lab, "billing", member)[1] == "✖ killed")


def test_a_line_without_the_separator_stops_the_producer_after_reporting_what_it_sent(server):
    lab = start_lab(server, SLUG)
    result = run("kafka_produce", "--lab", lab, "--topic", TOPIC, "--key-separator", ":", "--server", server,
                 stdin="alice:first\nno separator here\nbob:never sent\n")
    assert result.returncode == 1
    assert result.stderr == "error: no ':' in 'no separator here' to separate its key from its value\n"
    landed = [line for line in result.stdout.splitlines() if line.startswith(f"{TOPIC}-")]
    assert len(landed) == 1 and landed[0].endswith("key=alice value=first")


def test_a_consumer_whose_reader_goes_away_leaves_its_group(server):
    lab = start_lab(server, SLUG)
    consumer = manage("kafka_consume", "--lab", lab, "--topic", TOPIC, "--group", "billing", "--server", server)
    try:
        assert "joins group" in consumer.stdout.readline()
        assert consumer.stdout.readline().startswith(f"{TOPIC}-")
        consumer.stdout.close()  # as `| head -2` does
        assert consumer.wait(timeout=15) == 0
        assert consumer.stderr.read() == ""
    finally:
        if consumer.poll() is None:
            consumer.kill()
            consumer.wait()


@pytest.mark.parametrize("command", [
    ["kafka_produce", "--topic", TOPIC],
    ["kafka_consume", "--topic", TOPIC, "--group", "billing"],
])
def test_an_unknown_lab_or_a_server_that_is_not_running_is_one_line_on_stderr(server, command):
    unknown = run(*command, "--lab", "nosuchlab", "--server", server, stdin="x\n")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr == f"error: no lab nosuchlab on {server}\n"

    nowhere = f"http://127.0.0.1:{free_port()}"
    down = run(*command, "--lab", "nosuchlab", "--server", nowhere, stdin="x\n")
    assert down.returncode == 1 and down.stdout == ""
    assert down.stderr.startswith(f"error: cannot reach {nowhere}") and down.stderr.count("\n") == 1
    assert "is the server running?" in down.stderr


def test_a_missing_topic_is_one_line_on_stderr(server):
    lab = start_lab(server, SLUG)
    produced = run("kafka_produce", "--lab", lab, "--topic", "no-such-topic", "--server", server, stdin="hello\n")
    assert produced.returncode == 1 and produced.stderr.count("\n") == 1
    assert produced.stderr.startswith("error: ") and "no-such-topic" in produced.stderr
    consumed = run("kafka_consume", "--lab", lab, "--topic", "no-such-topic", "--group", "billing", "--server", server)
    assert consumed.returncode == 1 and consumed.stderr.count("\n") == 1
    assert consumed.stderr.startswith("error: ") and "no-such-topic" in consumed.stderr
    for result in (produced, consumed):
        assert "Traceback" not in result.stderr


def test_a_missing_argument_is_a_usage_error():
    result = run("kafka_consume", "--lab", "x", "--topic", TOPIC, timeout=30)
    assert result.returncode == 2 and "--group" in result.stderr and "Traceback" not in result.stderr


# -- the client's own pieces, without a server ---------------------------------------------------


def test_a_line_splits_at_the_first_separator_only():
    assert split_line("21:hello: world", ":") == ("21", "hello: world")
    assert split_line("hello: world", None) == ("", "hello: world")
    assert split_line(":no key", ":") == ("", "no key")
    with pytest.raises(TerminalError, match="no ':'"):
        split_line("no separator", ":")


def test_records_print_on_one_line_with_partition_and_offset():
    item = {"topic": "orders", "partition": 2, "offset": 17, "key": "21", "value": "two\nlines", "error": ""}
    assert format_record(item) == "orders-2@17 key=21 value=two\\nlines"
    assert format_outcome(item) == format_record(item)
    assert format_record({**item, "key": None}) == "orders-2@17 key=null value=two\\nlines"
    failed = {**item, "partition": -1, "offset": -1, "error": "NOT_ENOUGH_REPLICAS"}
    assert format_outcome(failed) == "FAILED orders key=21 value=two\\nlines: NOT_ENOUGH_REPLICAS"


@pytest.mark.parametrize(("server", "origin"), [
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("http://localhost:8000/labs/abc/", "http://localhost:8000"),
    ("https://lab.example.org", "https://lab.example.org"),
])
def test_the_origin_is_the_server_s(server, origin):
    assert origin_of(server) == origin


@pytest.mark.parametrize("server", ["127.0.0.1:8000", "ftp://x", "http://"])
def test_a_server_that_is_not_an_http_address_is_refused(server):
    with pytest.raises(TerminalError, match="--server must be an http:// address"):
        origin_of(server)
