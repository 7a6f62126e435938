"""A terminal's producer and consumer for a Kafka lab on a running CoordLab server.

``manage.py kafka_produce`` and ``manage.py kafka_consume`` are thin wrappers
around ``produce`` and ``consume`` here. They talk to the server the way a
browser does: HTTP to check that the lab exists, then a WebSocket
(``/ws/labs/<id>/terminal/``, see ``coordlab.terminal``) that carries lab
commands and brings back what the terminal's machine in the lab received. The
producer and the consumer are machines of the lab named ``terminal-`` and four
random letters or digits (``terminal-k3x9``), so every browser watching the lab
sees them.

Nothing here needs Django; failures the user can fix are ``TerminalError``
with a one-line message.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import secrets
import signal
import string
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from types import FrameType
from typing import Any, TextIO

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

DEFAULT_SERVER = "http://127.0.0.1:8000"
CONNECT_TIMEOUT = 10.0
REPLY_TIMEOUT = 10.0
#: how long a producer waits, after its last line, for its records' outcomes
OUTCOME_WAIT = 15.0
POLL = 0.1
NAME_ALPHABET = string.ascii_lowercase + string.digits


class TerminalError(Exception):
    """Something the user can fix, said in one line."""


class Refused(TerminalError):
    """The lab refused a command; the message is the lab's sentence."""


class BadInput(TerminalError):
    """A line that cannot be sent as it is."""


def machine_name() -> str:
    """A fresh name for this run's machine in the lab, such as ``terminal-cd34``."""
    return "terminal-" + "".join(secrets.choice(NAME_ALPHABET) for _ in range(4))


def origin_of(server: str) -> str:
    """``scheme://host[:port]`` of ``--server``: what the WebSocket sends as its Origin."""
    parts = urllib.parse.urlsplit(server.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TerminalError(f"--server must be an http:// address such as {DEFAULT_SERVER}, not {server!r}")
    return f"{parts.scheme}://{parts.netloc}"


def check_lab(server: str, lab_id: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Raise ``TerminalError`` unless the server answers and has that lab."""
    origin = origin_of(server)
    url = f"{origin}/labs/{urllib.parse.quote(lab_id, safe='')}/"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the lab server is direct
    try:
        with opener.open(url, timeout=timeout):
            return
    except urllib.error.HTTPError as error:
        if error.code == 404:
            raise TerminalError(f"no lab {lab_id} on {origin}") from None
        raise TerminalError(f"{origin} answered {error.code} {error.reason} for lab {lab_id}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise TerminalError(f"cannot reach {origin} ({reason}): is the server running? (make run)") from None


class Session:
    """One WebSocket to a lab's terminal endpoint: commands with their replies,
    and the outbox items of the machine it follows, kept until asked for."""

    def __init__(self, server: str, lab_id: str) -> None:
        origin = origin_of(server)
        self.origin, self.lab_id = origin, lab_id
        url = origin.replace("http", "ws", 1) + f"/ws/labs/{urllib.parse.quote(lab_id, safe='')}/terminal/"
        try:
            self.socket: ClientConnection = connect(url, origin=Origin(origin), proxy=None,
                                                    open_timeout=CONNECT_TIMEOUT, close_timeout=2)
        except InvalidStatus as error:
            status = error.response.status_code
            raise TerminalError(f"{origin} refused a terminal connection to lab {lab_id} (HTTP {status})") from None
        except (InvalidHandshake, InvalidURI, OSError, TimeoutError) as error:
            raise TerminalError(f"cannot open a WebSocket to {origin} ({error})") from None
        self.items: collections.deque[dict[str, Any]] = collections.deque()
        self.skipped = 0

    def close(self) -> None:
        self.socket.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(self, message: dict[str, Any], timeout: float = REPLY_TIMEOUT) -> str:
        """Send one message and return the lab's sentence; ``Refused`` if the lab said no.
        A rate-limited message is sent again after the wait the server asks for."""
        deadline = time.monotonic() + timeout
        while True:
            self._send(message)
            reply = self._reply(deadline)
            if reply.get("ok"):
                return str(reply.get("text", ""))
            retry_after = reply.get("retry_after")
            if isinstance(retry_after, (int, float)) and time.monotonic() + retry_after < deadline:
                time.sleep(retry_after)
                continue
            raise Refused(str(reply.get("text", "the lab refused that")))

    def follow(self, machine: str) -> None:
        self.request({"follow": machine})

    def poll(self, timeout: float = 0.0) -> list[dict[str, Any]]:
        """The outbox items received so far; if none, wait up to ``timeout`` for some."""
        if not self.items:
            with contextlib.suppress(TimeoutError):
                self._dispatch(self._recv(timeout))
        while True:  # whatever else is already here
            try:
                self._dispatch(self._recv(0))
            except TimeoutError:
                break
        items = list(self.items)
        self.items.clear()
        return items

    def take_skipped(self) -> int:
        skipped, self.skipped = self.skipped, 0
        return skipped

    # -- the socket -------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self.socket.send(json.dumps(message, ensure_ascii=False))
        except ConnectionClosed:
            raise self._lost() from None

    def _recv(self, timeout: float) -> dict[str, Any]:
        try:
            text = self.socket.recv(timeout=max(0.0, timeout))
        except ConnectionClosed:
            raise self._lost() from None
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TerminalError(f"{self.origin} sent something that is not a terminal message")
        return data

    def _reply(self, deadline: float) -> dict[str, Any]:
        while True:
            try:
                message = self._recv(deadline - time.monotonic())
            except TimeoutError:
                raise TerminalError(f"{self.origin} did not answer within {REPLY_TIMEOUT:g} s") from None
            if message.get("type") == "reply":
                return message
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") == "outbox":
            self.items.extend(item for item in message.get("items", []) if isinstance(item, dict))
            self.skipped += int(message.get("skipped", 0))

    def _lost(self) -> TerminalError:
        return TerminalError(f"lost the connection to {self.origin} (did the server stop?)")


# -- what the user sees ------------------------------------------------------------------

def _text(value: Any) -> str:
    """A key or value on one line: null for none, newlines shown as \\n."""
    if value is None:
        return "null"
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def format_record(item: dict[str, Any]) -> str:
    """``orders-1@5 key=21 value=hello``."""
    return (f"{item.get('topic')}-{item.get('partition')}@{item.get('offset')} "
            f"key={_text(item.get('key'))} value={_text(item.get('value'))}")


def format_outcome(item: dict[str, Any]) -> str:
    """A produced record's outcome: where it landed, or why it did not."""
    if item.get("error"):
        return (f"FAILED {item.get('topic')} key={_text(item.get('key'))} value={_text(item.get('value'))}: "
                f"{item['error']}")
    return format_record(item)


class Printer:
    """Prints a line at a time, flushed; once the reader has gone (``| head``) it prints
    nothing more, and ``gone`` tells the caller to wind up."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.gone = out, False

    def __call__(self, line: str) -> None:
        if self.gone:
            return
        try:
            print(line, file=self.out, flush=True)
        except BrokenPipeError:
            self.gone = True
            with contextlib.suppress(OSError, ValueError):  # nor complain when Python flushes at exit
                os.dup2(os.open(os.devnull, os.O_WRONLY), self.out.fileno())


def split_line(line: str, separator: str | None) -> tuple[str, str]:
    """(key, value) of an input line; key "" (null) without a separator."""
    if separator is None:
        return "", line
    key, found, value = line.partition(separator)
    if not found:
        raise BadInput(f"no {separator!r} in {line[:60]!r} to separate its key from its value")
    return key, value


def _lines_in_background(lines: Iterable[str]) -> queue.Queue[str | Exception | None]:
    """Read ``lines`` in a thread, so that outcomes print while the user types: each line,
    then None at the end, or the error that stopped the reading."""
    found: queue.Queue[str | Exception | None] = queue.Queue()

    def read() -> None:
        try:
            for line in lines:
                found.put(line)
        except Exception as error:  # such as bytes that are not text
            found.put(error)
        else:
            found.put(None)

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return found


# -- the two commands ------------------------------------------------------------------------

def produce(server: str, lab_id: str, topic: str, lines: Iterable[str], out: TextIO, err: TextIO,
            separator: str | None = None, outcome_wait: float = OUTCOME_WAIT) -> int:
    """Publish each line; print the lab's sentence for each and, as they come, where each
    record landed. Returns the exit status: 0 if every record was acknowledged."""
    check_lab(server, lab_id)
    producer = machine_name()
    say = Printer(out)
    failed = False
    published = outcomes = 0

    def show(items: list[dict[str, Any]]) -> None:
        nonlocal failed, outcomes
        for item in items:
            say(format_outcome(item))
            failed = failed or bool(item.get("error"))
        outcomes += len(items)

    with Session(server, lab_id) as session:
        session.follow(producer)
        pending = _lines_in_background(lines)
        while True:
            try:
                line = pending.get(timeout=POLL)
            except queue.Empty:
                show(session.poll())
                continue
            if line is None:
                break
            try:
                if isinstance(line, Exception):
                    raise BadInput(f"cannot read standard input ({line})")
                line = line.rstrip("\r\n")
                if not line:
                    continue
                key, value = split_line(line, separator)
                sentence = session.request({"command": "act", "op": "publish", "producer": producer,
                                            "topic": topic, "key": key, "value": value, "acks": "all"})
            except (Refused, BadInput) as error:  # stop there, but say what became of what was sent
                print(f"error: {error}", file=err, flush=True)
                failed = True
                break
            published += 1
            say(sentence)
            show(session.poll())
        deadline = time.monotonic() + outcome_wait
        while outcomes < published and time.monotonic() < deadline:
            show(session.poll(min(POLL, max(0.0, deadline - time.monotonic()))))
    if outcomes < published:
        missing = published - outcomes
        print(f"error: {missing} of {published} records got no answer within {outcome_wait:g} s "
              "(is the lab paused, or its brokers down?)", file=err, flush=True)
        return 1
    return 1 if failed else 0


def consume(server: str, lab_id: str, topic: str, group: str, out: TextIO, err: TextIO,
            stop: threading.Event, from_beginning: bool = False) -> int:
    """Join ``group`` as a new member and print each record it gets, until ``stop``
    is set (or the output is closed); then leave the group (commit, LeaveGroup) and
    return 0."""
    check_lab(server, lab_id)
    member = machine_name()
    say = Printer(out)
    with Session(server, lab_id) as session:
        session.follow(member)
        say(session.request({"command": "act", "op": "join", "member": member, "topic": topic, "group": group,
                             "reset": "earliest" if from_beginning else "latest"}))
        while not stop.is_set() and not say.gone:
            for item in session.poll(POLL):
                say(format_record(item))
            skipped = session.take_skipped()
            if skipped:
                print(f"({skipped} records went by before this terminal could show them)", file=err, flush=True)
        for item in session.poll():
            say(format_record(item))
        say(session.request({"command": "act", "op": "leave", "member": member}))
    return 0


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by the first SIGINT or SIGTERM (a second one interrupts at once)."""
    stop = threading.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.getsignal(number) for number in signals}

    def handle(number: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    for number in signals:
        signal.signal(number, handle)
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
