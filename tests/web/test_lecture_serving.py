"""Serving a lecture hall: ``make lecture`` listens on every interface, and every
address a page gives out (the classroom's join address, its QR code, the terminal
commands) is built from the host the request came to.

The server is started with the command ``make lecture`` runs (read from ``make -n``)
and reached over loopback only: a ``Host`` header stands for the name a student's
phone would use, ``lecture-hall.local``, which the test gives as ``HOSTS=``.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import segno
from django.test import RequestFactory, override_settings
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from bench.servers import die_with_parent
from coordlab import lecture

ROOT = Path(__file__).resolve().parents[2]
HALL = "lecture-hall.local"
SCENARIO = "kafka-keys"  # a Kafka lab: its page shows the terminal commands
INSTRUCTOR = ("ada", "lovelace-1815")
START_TIMEOUT = 30.0


def free_port() -> int:
    """A port free on every interface, as the lecture server binds it."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


def make_line(target: str, *variables: str) -> list[str]:
    """The words of the line of ``make -n <target>`` that starts the server."""
    assert shutil.which("make"), "make runs the lecture server; it must be installed"
    dry_run = subprocess.run(["make", "-n", target, *variables], cwd=ROOT, capture_output=True, text=True,
                             check=True, timeout=60).stdout
    return shlex.split(next(line for line in dry_run.splitlines() if "-m coordlab.serve" in line))


def lecture_command(port: int) -> tuple[dict[str, str], list[str]]:
    """The environment assignments and the command of ``make lecture PORT=<port> HOSTS=<HALL>``,
    run by this test's Python (the one `make` installs into)."""
    words = make_line("lecture", f"PORT={port}", f"HOSTS={HALL}")
    assignments = {}
    while re.fullmatch(r"[A-Z_]+=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        assignments[name] = value
    python, *arguments = words
    assert python.endswith("/python"), words
    assert arguments[:3] == ["-m", "coordlab.serve", "--lecture"], words
    return assignments, [sys.executable, *arguments]


@dataclass
class LectureServer:
    port: int
    output: list[str] = field(default_factory=list)  # what it printed, line by line

    def printed(self) -> str:
        return "\n".join(self.output)


def manage(environment: dict[str, str], *arguments: str) -> None:
    subprocess.run([sys.executable, "manage.py", *arguments], cwd=ROOT, env=environment, check=True,
                   capture_output=True, timeout=120)


def wait_until_serving(server: LectureServer, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the lecture server exited during start-up:\n{server.printed()}")
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
            connection.request("GET", "/")
            if connection.getresponse().status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the lecture server did not answer within {START_TIMEOUT:g} s:\n{server.printed()}")


@pytest.fixture(scope="module")
def lecture_server() -> Iterator[LectureServer]:
    """The server as ``make lecture`` starts it, with a fresh database holding the scenarios and
    an instructor."""
    port = free_port()
    assignments, command = lecture_command(port)
    with tempfile.TemporaryDirectory(prefix="coordlab-lecture-") as var_dir:
        environment = {name: value for name, value in os.environ.items()
                       if name not in ("COORDLAB_ALLOWED_HOSTS", "COORDLAB_LECTURE_HOSTS")}
        environment.update(DJANGO_SETTINGS_MODULE="coordlab.settings", COORDLAB_VAR_DIR=var_dir,
                           COORDLAB_SQLITE_PATH=str(Path(var_dir) / "lecture.sqlite3"), PYTHONUNBUFFERED="1",
                           **assignments)
        manage(environment, "migrate", "--noinput", "-v0")
        manage(environment, "load_scenarios")
        manage(environment, "create_instructor", INSTRUCTOR[0], "--password", INSTRUCTOR[1])
        server = LectureServer(port)
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, preexec_fn=die_with_parent)
        assert process.stdout is not None
        reader = threading.Thread(target=lambda: server.output.extend(line.rstrip("\n") for line in process.stdout),
                                  daemon=True)
        reader.start()
        try:
            wait_until_serving(server, process)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Browser:
    """A browser as the server sees it: each request carries ``Host: <host>`` (and, for a form,
    the ``Origin`` browsers send), and its cookies are kept. It connects to 127.0.0.1 only."""

    def __init__(self, port: int, host: str) -> None:
        self.port, self.host = port, host
        self.cookies: dict[str, str] = {}

    @property
    def origin(self) -> str:
        return f"http://{self.host}"

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        """(status, Location, body) of one request, not following redirects."""
        headers = {"Host": self.host, "Cookie": self.cookie_header()}
        body = None
        if form is not None:
            body = urlencode({**form, "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")})
            headers.update({"Content-Type": "application/x-www-form-urlencoded", "Origin": self.origin})
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            for set_cookie in response.msg.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(set_cookie).items():
                    if morsel["max-age"] == "0":
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
            return response.status, response.getheader("Location", ""), response.read().decode()
        finally:
            connection.close()

    def get(self, path: str) -> str:
        status, _, body = self.request("GET", path)
        assert status == 200, (path, status, body[:500])
        return body

    def post(self, path: str, form: dict[str, str]) -> str:
        """Send a form; the path it redirects to (on this same host)."""
        status, location, body = self.request("POST", path, form)
        assert status == 302, (path, status, body[:500])
        parts = urlsplit(location)
        assert parts.netloc in ("", self.host), location
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def log_in(self, username: str, password: str) -> None:
        self.get("/admin/login/")
        assert self.post("/admin/login/", {"username": username, "password": password, "next": "/"}) == "/"

    def start_classroom(self, slug: str) -> tuple[str, str]:
        """Start a classroom from the catalog; its code and its page."""
        self.get("/")
        path = self.post(f"/classrooms/new/{slug}/", {})
        code = re.fullmatch(r"/classrooms/(\w{6})/", path)
        assert code, path
        return code[1], self.get(path)


def qr_modules(svg: str) -> set[tuple[int, int]]:
    """The dark modules of a QR code segno drew as SVG (runs along rows, ``M x y.5`` then ``h``
    for dark and ``m`` to move), shifted so that the top left finder pattern starts at 0, 0."""
    path = re.search(r'<path[^>]* d="([^"]+)"', svg)
    assert path, svg[:300]
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for command, numbers in re.findall(r"([MmHhVv])([^MmHhVv]*)", path[1]):
        values = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", numbers)]
        if command == "M":
            x, y = values
        elif command == "m":
            x, y = x + values[0], y + values[1]
        elif command == "h":
            dark.update((int(x + i), int(y)) for i in range(int(values[0])))
            x += values[0]
        else:
            raise AssertionError(f"unexpected path command {command!r} in the QR code")
    left, top = min(c for c, _ in dark), min(r for _, r in dark)
    return {(c - left, r - top) for c, r in dark}


def qr_encodes(svg: str, text: str) -> bool:
    """Whether the QR code drawn in ``svg`` holds ``text``: its modules are those of ``text``
    encoded at one of the error correction levels (encoding is deterministic)."""
    drawn = qr_modules(svg)
    for error in "lmqh":
        for boost in (True, False):
            matrix = segno.make(text, error=error, boost_error=boost).matrix
            if drawn == {(c, r) for r, row in enumerate(matrix) for c, dark in enumerate(row) if dark}:
                return True
    return False


def terminal_commands(page: str) -> list[str]:
    commands = re.findall(r'<pre id="terminal-(?:produce|consume)"><code>(.*?)</code></pre>', page, re.S)
    assert len(commands) == 2, "the Kafka page shows the produce and consume commands"
    return commands


def lab_id(page: str) -> str:
    found = re.search(r'data-lab="([\w-]+)"', page)
    assert found, "the page names its lab"
    return found[1]


def listening_sockets(port: int) -> set[str]:
    """The local addresses (hex, as in /proc/net/tcp) of the TCP sockets listening on ``port``."""
    table = Path("/proc/net/tcp")
    assert table.exists(), "the listening sockets are read from /proc/net/tcp (Linux)"
    found = set()
    for line in table.read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(address)
    return found


def test_make_lecture_listens_on_every_interface_and_says_where(lecture_server):
    assert listening_sockets(lecture_server.port) == {"00000000"}, "listening on 0.0.0.0, not on 127.0.0.1 only"
    printed = lecture_server.printed()
    assert f"http://{HALL}:{lecture_server.port}/join/" in printed
    for address in lecture.lan_addresses():
        if ":" not in address.ip:
            assert f"http://{address.ip}:{lecture_server.port}/join/" in printed
    assert "firewall" in printed
    run = make_line("run")
    assert "--lecture" not in run and "--host" not in run, "make run stays on 127.0.0.1"


def test_a_students_phone_is_given_the_host_it_came_to(lecture_server):
    host = f"{HALL}:{lecture_server.port}"
    instructor = Browser(lecture_server.port, host)
    assert "Start a classroom" not in instructor.get("/")
    instructor.log_in(*INSTRUCTOR)  # a form posted from the hall's origin passes the CSRF check
    code, page = instructor.start_classroom(SCENARIO)

    join_url = f"http://{host}/join/?code={code}"
    assert f"Students join at <b>{join_url}</b>" in page
    qr = re.search(r'<div class="qr"[^>]*>(.*?)</div>', page, re.S)
    assert qr and qr_encodes(qr[1], join_url), "the QR code holds the join address at the hall's host"
    assert not qr_encodes(qr[1], f"http://127.0.0.1:{lecture_server.port}/join/?code={code}")
    for command in terminal_commands(page):
        assert f" --server http://{host} " in command, command
    assert 'id="bootstrap"' not in page, "the Kafka brokers' ports answer on this machine only: not offered"
    assert "127.0.0.1" not in page and "localhost" not in page

    student = Browser(lecture_server.port, host)
    assert f'value="{code}"' in student.get(urlsplit(join_url).path + "?" + urlsplit(join_url).query)
    assert student.post("/join/", {"code": code, "name": "Grace"}) == f"/classrooms/{code}/"
    page = student.get(f"/classrooms/{code}/")
    for command in terminal_commands(page):
        assert f" --server http://{host} " in command, command

    # The lab's WebSocket, opened from the page the hall's host served (TCP to 127.0.0.1).
    uri = f"ws://{host}/ws/labs/{lab_id(page)}/"
    with socket.create_connection(("127.0.0.1", lecture_server.port), timeout=10) as sock, \
            connect(uri, sock=sock, origin=student.origin, additional_headers={"Cookie": student.cookie_header()},
                    open_timeout=10) as websocket:
        assert websocket.recv(timeout=10), "the lab's frames reach the student's phone"
    with socket.create_connection(("127.0.0.1", lecture_server.port), timeout=10) as sock, \
            pytest.raises(InvalidStatus) as refused:
        connect(uri, sock=sock, origin="http://elsewhere.example", open_timeout=10)
    assert refused.value.response.status_code == 403


def test_a_page_opened_at_127_0_0_1_gives_out_the_lecture_address(lecture_server):
    instructor = Browser(lecture_server.port, f"127.0.0.1:{lecture_server.port}")
    instructor.log_in(*INSTRUCTOR)
    code, page = instructor.start_classroom(SCENARIO)
    hall = f"http://{HALL}:{lecture_server.port}"  # the first name `make lecture HOSTS=` gave
    assert f"Students join at <b>{hall}/join/?code={code}</b>" in page
    qr = re.search(r'<div class="qr"[^>]*>(.*?)</div>', page, re.S)
    assert qr and qr_encodes(qr[1], f"{hall}/join/?code={code}")
    for command in terminal_commands(page):
        assert f" --server {hall} " in command, command


def test_the_machines_own_names_and_addresses_are_allowed_and_no_other(lecture_server):
    port = lecture_server.port
    own = [f"{name}:{port}" for name in lecture.machine_names()] + [f"{a.host}:{port}" for a in lecture.lan_addresses()]
    for host in own:
        status, _, _ = Browser(port, host).request("GET", "/")
        assert status == 200, host
    # Any other name is refused: a site rebinding its own name to this machine reads nothing.
    status, _, _ = Browser(port, f"rebound.example:{port}").request("GET", "/")
    assert status == 400
    deadline = time.monotonic() + 5
    while "rebound.example" not in lecture_server.printed() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "rebound.example" in lecture_server.printed(), "the lecturer sees which name was refused"


# -- the pieces, without a server --------------------------------------------------------------------------------

IP_ADDR_JSON = """[
 {"ifname": "lo", "flags": ["LOOPBACK", "UP"], "addr_info": [
   {"family": "inet", "local": "127.0.0.1", "scope": "host"}]},
 {"ifname": "wlp2s0", "flags": ["BROADCAST", "UP", "LOWER_UP"], "addr_info": [
   {"family": "inet", "local": "192.168.1.23", "scope": "global"},
   {"family": "inet6", "local": "fe80::1", "scope": "link"}]},
 {"ifname": "enp0s31f6", "flags": ["BROADCAST"], "addr_info": [
   {"family": "inet", "local": "10.0.0.5", "scope": "global"}]}
]"""

IFCONFIG_MACOS = """lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384
\tinet 127.0.0.1 netmask 0xff000000
\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x1
en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500
\tinet6 fe80::1c2b:3d4e:5f60:7182%en0 prefixlen 64 secured scopeid 0x4
\tinet 192.168.1.23 netmask 0xffffff00 broadcast 192.168.1.255
en1: flags=8822<BROADCAST,SMART,SIMPLEX,MULTICAST> mtu 1500
\tinet 10.0.0.5 netmask 0xffffff00 broadcast 10.0.0.255
"""


def test_interface_addresses_are_read_from_ip_and_ifconfig():
    assert lecture.from_ip_command(IP_ADDR_JSON) == [lecture.Address("192.168.1.23", "wlp2s0")]
    assert lecture.from_ip_command("not json") == []
    reachable = [a for a in lecture.from_ifconfig(IFCONFIG_MACOS) if lecture.reachable(a.ip)]
    assert reachable == [lecture.Address("192.168.1.23", "en0")]


@pytest.mark.parametrize(("given", "hosts"), [
    (["lecture-hall.local"], ["lecture-hall.local"]),
    (["A.example, b.example", "a.example"], ["a.example", "b.example"]),
    (["[fd00::2]"], ["[fd00::2]"]),
])
def test_allow_host_takes_bare_names(given, hosts):
    assert lecture.given_hosts(given) == hosts


@pytest.mark.parametrize("given", ["http://lecture-hall.local", "lecture-hall.local:8000", "*", "a b"])
def test_allow_host_refuses_anything_but_a_name(given):
    with pytest.raises(ValueError, match="not a host name"):
        lecture.given_hosts([given])


@pytest.mark.parametrize(("host", "lecture_hosts", "origin"), [
    ("lecture-hall.local:8000", ["192.168.1.23"], "http://lecture-hall.local:8000"),
    ("192.168.1.23:8000", ["192.168.1.23"], "http://192.168.1.23:8000"),
    ("127.0.0.1:8000", ["192.168.1.23"], "http://192.168.1.23:8000"),
    ("localhost:8000", ["192.168.1.23"], "http://192.168.1.23:8000"),
    ("[::1]:8001", ["192.168.1.23"], "http://192.168.1.23:8001"),
    ("127.0.0.1:8000", [], "http://127.0.0.1:8000"),  # make run: nobody else can reach it anyway
])
def test_the_public_origin_is_the_requests_unless_it_is_loopback_in_a_lecture(host, lecture_hosts, origin):
    allowed = ["127.0.0.1", "localhost", "[::1]", "lecture-hall.local", *lecture_hosts]
    with override_settings(COORDLAB_LECTURE_HOSTS=lecture_hosts, ALLOWED_HOSTS=allowed):
        assert lecture.public_origin(RequestFactory().get("/", HTTP_HOST=host)) == origin
