"""A seeded fuzz of both lab sockets: what hostile visitors send must hurt nobody.

About 20,000 generated messages go to the browser socket (``/ws/labs/<id>/``) and
the terminal socket (``/ws/labs/<id>/terminal/``) of three running labs (network
basics, ZooKeeper, Kafka), through the real ASGI application. Every visitor is a
socket of its own, with its own network address (and, for browsers, its own
session), so per-visitor rate limits apply as they would to a hall of students;
a few visitors flood on purpose and may be closed for it.

The messages come from ``Hostile``, a generator driven by one ``random.Random``
per worker (``SEED``): the same seed gives the same messages. Its families:

- ``valid``: real, cheap commands of the lab's scenario (so the labs move on and the
  hostile ones meet many states);
- ``number``: a real command with a numeric field (or one added) set to an extreme:
  huge, negative, 400 to 3,900 digits, ``NaN``/``Infinity`` literals, 1e308, 1e309,
  5e-324, numbers as strings, digits of other scripts;
- ``type``: a field holding a boolean, null, a list, an object where a scalar goes;
- ``unknown``: unknown commands, operations and fields;
- ``string``: lone surrogates (``"\\ud800"`` escapes), control characters, bidi
  marks, markup and strings just over each length limit, in every string field;
- ``path``: ZooKeeper paths without a leading slash, empty, too long, with ``..``,
  NUL or surrogates;
- ``nesting``: ``"[" * n + "]" * n`` and nested objects, up to just under the size
  limit, alone and as a field's value;
- ``utf8``: binary frames of invalid UTF-8 (overlong forms, encoded surrogates,
  code points past U+10FFFF, truncated sequences);
- ``binary``: binary frames of valid commands, UTF-16/32 and BOM-prefixed JSON, noise;
- ``empty``: empty text and binary frames, whitespace, ``{}``;
- ``non-object``: JSON that is not an object (lists, strings, numbers, ``null``,
  two objects in one message);
- ``oversize``: a real command padded to just over (or exactly at) the size limit,
  in characters and in UTF-8 bytes, and a few far over it;
- ``terminal``: ``{"follow": ...}`` with good and bad names, and ``act`` ``leave``/
  ``vanish`` naming members the terminal did not create (sent to both sockets);
- ``mutation``: a real command (Kafka ``act`` ops, ZooKeeper ``console`` ops,
  machine and network commands) with fields dropped, renamed, swapped, re-typed,
  duplicated with another value, the JSON truncated, wrapped or padded.

Checks, at the end of the run:

1. no log record at ERROR or above, and none carrying an exception, from any logger;
   no consumer ended by an exception (what daphne closes with 1011 and logs); and no
   text sent to a client that is not valid UTF-8 (daphne would fail to encode it, with
   the same result);
2. every socket the server closed was closed with a deliberate code
   (``DELIBERATE_CLOSE_CODES``), every message of an ordinary visitor was answered
   within ``REPLY_TIMEOUT_S`` (a flooder's surplus may go unanswered), and every
   consumer stopped once its socket was closed (the test closes those still open);
   and no ordinary visitor (a new address, a new session or none, ``PER_VISITOR``
   messages, under the server's burst) is told to slow down: budgets are per visitor;
3. after every socket is closed, no lab has a viewer left: neither in
   ``runtime.engine.viewers`` nor in ``runtime.peers.local`` nor in the roster;
4. a refused command leaves its lab byte-identical: for ``REFUSAL_SAMPLE`` refused
   messages, sent one at a time to a paused lab (half of them as the fuzz left it,
   half after a reset, when every machine is up), the lab's ``state()`` (its base
   snapshot included), a fresh simulation snapshot, and its version are the same
   before and after (the sample leans to good commands with one spoilt text field,
   the ones that get past the parser to the lab's own checks);
5. a terminal never leaves or vanishes a consumer it did not join itself, and no lab
   holds a string that is not valid Unicode (a lone surrogate) in its log or state.

Everything found is collected and reported at once, one line per distinct failure
with the message that caused it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import random
import time
import traceback
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from coordlab import access, consumers, roster
from coordlab.asgi import application
from coordlab.labs.commands import MAX_COMMAND_BYTES, from_data
from zookeeper_app.model.console import OPS, console_client

pytestmark = pytest.mark.django_db(transaction=True)

SEED = 20_240_612
ORIGIN = (b"origin", b"http://127.0.0.1:8000")
LABS = (("basics", "network-basics"), ("zookeeper", "master-election"), ("kafka", "kafka-groups"))
SOCKETS = ("browser", "terminal")
TOTAL_MESSAGES = 20_400  # over both sockets of the three labs
#: messages one ordinary visitor sends before it goes: well under the server's burst, so it is never told to slow down
PER_VISITOR = max(4, min(14, getattr(consumers, "COMMAND_BURST", 20) - 4))
WINDOW = 7  # messages sent before waiting for their replies
FLOOD_EVERY = 25  # every 25th visitor floods: FLOOD_SIZE messages without waiting
FLOOD_SIZE = 60
REFUSAL_SAMPLE = 200
REPLY_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 5.0
FLOOD_WAIT_S = 2.0  # how long a flooder waits for the replies it may get
SLOWED_WAIT_S = 1.0  # how long a visitor told to slow down waits for the rest (some may go unanswered)
MAX_FUZZ_S = 240.0  # a run that takes longer stops and fails (it should take well under a minute)
SLOW_S = 0.5  # replies slower than this are listed in the report (not a failure)
#: what a server may close a socket with on purpose (1011 is an unhandled exception)
DELIBERATE_CLOSE_CODES = {1000, 1008, 1009, 4403, 4404, 4429}
PROJECT_DIRS = ("/coordlab/", "/kafka_app/", "/zookeeper_app/")


# -- a JSON writer that can say anything ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text put in as it is (``NaN``, a 400-digit number, a nested list)."""

    text: str


@dataclass(frozen=True)
class Pairs:
    """A JSON object written from pairs, so a key may appear twice."""

    items: tuple[tuple[str, Any], ...]


def to_json(value: Any) -> str:
    """JSON text with every non-ASCII character escaped: a lone surrogate becomes the
    six characters ``\\ud800``, as a browser's ``JSON.stringify`` would send it."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


# -- the generator ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    family: str
    text: str | None = None
    data: bytes | None = None

    @property
    def payload(self) -> str | bytes:
        return self.text if self.text is not None else (self.data or b"")

    def short(self, limit: int = 160) -> str:
        shown = repr(self.payload)
        if len(shown) > limit:
            unit = "chars" if self.text is not None else "bytes"
            shown = f"{shown[:limit - 40]}…{shown[-30:]} ({len(self.payload):,} {unit})"
        return shown


@dataclass(frozen=True)
class Profile:
    """What a lab offers, for the generator to aim real commands at."""

    kind: str
    machines: tuple[str, ...]
    presets: tuple[str, ...]
    toggles: tuple[str, ...]
    console_ops: tuple[str, ...]
    topics: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    services: tuple[str, ...] = ()


def profile_of(kind: str, lab: Any) -> Profile:
    scenario = lab.scenario
    machines = tuple(lab.sim.nodes)
    extra: dict[str, Any] = {}
    if kind == "kafka":
        extra = {"topics": ("events",), "groups": ("workers",),
                 "members": tuple(m for m in machines if m.startswith("workers-")),
                 "services": ("events",)}
    return Profile(kind, machines, tuple(p.slug for p in scenario.presets), tuple(t.slug for t in scenario.toggles),
                   OPS if console_client(lab.sim) else (), **extra)


DIGITS_400 = "1" + "0" * 399
EXTREME_NUMBERS = (
    DIGITS_400, "-" + DIGITS_400, "9" * 400, "1" + "0" * 3900, "NaN", "Infinity", "-Infinity", "1e308", "-1e308",
    "1e309", "-1e309", "1E400", "1.7976931348623157e308", "5e-324", "-5e-324", "1e-400", "-0", "-0.0", "0",
    "-1", "-2", "-600", "601", "600.000000001", "1e3", "0.5", "1.5", "3.0000000000000004", str(2**31), str(2**53 + 1),
    str(2**63), str(2**64 + 1), str(-(2**63) - 1), "12345678901234567890.5", "1e-7", "100000000000000000000e-20",
)
NUMBER_STRINGS = (
    "1e308", "NaN", "nan", "inf", "-inf", "Infinity", "-Infinity", DIGITS_400, "-" + DIGITS_400, "9" * 5000,
    " 5 ", "5 ", "0x10", "1_000", "1,5", "١٢", "٣", "²", "½", "", " ", "true", "-0", "+5", "1e", ".", "-", "5e-324",
    "1e400", "2.5", "20.5", "0.1", "-1", "600.5", "601", "0", "00000000000000000000000001",
)
WRONG_TYPES = (
    Raw("true"), Raw("false"), Raw("null"), Raw("[]"), Raw("[1]"), Raw("{}"), Raw('{"a":1}'), Raw('[["m1"]]'),
    Raw('{"node":"m1"}'), Raw("[null]"), Raw('["\\ud800"]'), Raw("0"), Raw("1.5"), Raw('""'),
)
SURROGATES = ("\ud800", "\udfff", "\udbff", "\udc00\ud800", "\ud83d", "\ude00", "x\ud800y", "\ud800\ud800")
CONTROLS = ("\u0000", "\u0001", "\u0007", "\u0008", "\t", "\n", "\r\n", "\u000b", "\u000c", "\u001b[31m", "\u007f",
            "\u0085", "\u00a0", "\u200b", "\u200e", "\u202e", "\u2028", "\u2029", "\ufeff", "\ufffe", "\uffff",
            "\U0001f600", "\U0010ffff", "\U000e0001")
MARKUP = ("<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "{{ 7*7 }}", "{% debug %}", "%s%s%n",
          "' OR 1=1 --", "../../etc/passwd", "&amp;&lt;", "${jndi:ldap://x}", "__proto__", "constructor")
UNKNOWN_COMMANDS = ("launch", "note", "fork", "state", "do_play", "__class__", "__init__", "apply", "Pause", "PLAY",
                    " pause", "pause ", "pause\u0000", "act ", "restore_link", "shutdown", "eval", "", "0",
                    "x" * 41, "y" * 400, "ünïcödé", "\u202epause", "console2", "seek_to")
UNKNOWN_FIELDS = ("x", "pad", "HEADERS", "__proto__", "constructor", "Node", "NODE", "time", "ms", "speed_",
                  "fields", "args", "command_", "id", "lab", "lab_id", "session", "user", "role", "as_data",
                  "k" * 31, "K", "a-b", "a b", "", "\ud800", "ÿ")
UNKNOWN_OPS = ("note", "apply", "check", "get", "rmr", "ls", "deleteall", "getData", "create_topics", "publish2",
               "delete_topic", "kill", "crash", "a", "z" * 30, "z" * 31, "Publish", "pub lish", "pub_", "_x",
               "x1", "", "\ud800", "CHECKS", "__init__")
NAMES_NOT_MINE = ("workers-1", "workers-2", "events", "topic-admin", "web", "m1", "you", "z1", "terminal-zz99",
                  "terminal-0000", "terminal-ab1", "terminal-AB12", "kafka-1", "", " ", "workers-1 ", "\ud800",
                  "terminal-ab12\u0000", "x" * 41)
FOLLOW_NAMES = ("terminal-ab12", "terminal-zz99", "terminal-AB12", "terminal-ab1", "terminal-ab123", "workers-1",
                "m1", "", "\ud800", "terminal-\ud800ab", "terminal-ab12\n", "terminal-" + "a" * 1000)
PATHS = ("app/config", "", "/", "//", "/app/", "/app//x", "/./x", "/../x", "/a/../b", "/zookeeper",
         "/zookeeper/quota", "/" + "a" * 199, "/" + "a" * 200, "/" + "a" * 201, "/\u0000", "/a\ud800", "\\app",
         " /app", "/app\n", "/" + "/".join("a" * 60), "/\U0001f600", "/clusterx/master_ip", "/clusterx",
         "/a\u202eb", "/%2e%2e", "/app\u0000config", "clusterx/master_ip")
#: fields whose text a lab keeps, shows or encodes (a record's value, a znode's data…)
PAYLOAD_FIELDS = ("value", "key", "headers", "data", "path")
CHEAP_SPEEDS = ("0.1", "0.25", "0.5", "1", "2", 0.5, 1, 2.0)
TERMINAL_PRODUCERS = ("terminal-p001", "terminal-p002", "terminal-p003", "terminal-p004")
KEY_MODES = ("none", "uniform", "hot", "per-user")

FAMILIES = ("valid", "number", "type", "unknown", "string", "path", "nesting", "utf8", "binary", "empty",
            "non-object", "oversize", "terminal", "mutation")
WEIGHTS = {
    "browser": (10, 10, 8, 7, 12, 4, 4, 4, 4, 3, 4, 4, 6, 16),
    "terminal": (10, 8, 7, 6, 12, 2, 4, 4, 4, 3, 4, 4, 14, 18),
}
#: for the refusal check (no "valid"): mostly messages that parse and reach the lab's own checks
REFUSAL_WEIGHTS = {
    "browser": (12, 8, 6, 30, 8, 1, 1, 1, 1, 1, 1, 8, 20),
    "terminal": (10, 6, 5, 30, 2, 1, 1, 1, 1, 1, 1, 20, 20),
}


class Hostile:
    """Hostile messages for one socket kind of one lab, from a seeded ``random.Random``."""

    def __init__(self, rng: random.Random, profile: Profile, socket: str, worker: int = 0, visitor: int = 0) -> None:
        self.rng = rng
        self.p = profile
        self.socket = socket
        #: the machine name this visitor's terminal uses for itself (its producer and its consumer),
        #: different for every visitor of every worker (and the same in every run)
        number = worker * 36**3 + visitor
        self.mine = "terminal-" + "".join("0123456789abcdefghijklmnopqrstuvwxyz"[(number // 36**i) % 36]
                                          for i in range(3, -1, -1))

    def message(self, family: str | None = None) -> Message:
        family = family or self.rng.choices(FAMILIES, WEIGHTS[self.socket])[0]
        made = getattr(self, "gen_" + family.replace("-", "_"))()
        if isinstance(made, Message):
            return made
        return Message(family, text=made if isinstance(made, str) else to_json(made))

    def hostile(self) -> Message:
        """Any message but a plainly valid one, most of them aimed past the parser at the lab."""
        if self.rng.random() < 0.4:  # a good command with one bad text field: it reaches the lab's own checks
            return Message("string", text=to_json(self.one_bad_field(self.with_payload())))
        return self.message(self.rng.choices(FAMILIES[1:], REFUSAL_WEIGHTS[self.socket])[0])

    # -- real commands ------------------------------------------------------------------------------------------

    def machine(self) -> str:
        return self.rng.choice(self.p.machines)

    def real(self) -> dict[str, Any]:
        """A real command of this lab and socket, cheap to carry out (no long forwards, no
        20x speeds, few new machines), so the labs move on without the test's run time."""
        rng, p = self.rng, self.p
        if self.socket == "terminal" or (p.kind == "kafka" and rng.random() < 0.6):
            return self.kafka_act()
        if p.kind == "zookeeper" and rng.random() < 0.4:
            return self.console()
        pair = rng.sample(p.machines, 2)
        choices = [
            {"command": "pause"}, {"command": "play"}, {"command": "step"}, {"command": "slower"},
            {"command": "speed", "speed": rng.choice(CHEAP_SPEEDS)},
            {"command": "forward", "seconds": rng.choice((1, "1", 2))},
            {"command": "seek", "time_ms": rng.randrange(0, 4000)},
            {"command": "crash", "node": self.machine()}, {"command": "restart", "node": self.machine()},
            {"command": "cut", "a": pair[0], "b": pair[1], "both_ways": rng.choice((True, False, "on", "0"))},
            {"command": "restore", "a": pair[0], "b": pair[1]},
            {"command": "heal"},
        ]
        if p.presets:
            choices.append({"command": "partition", "preset": rng.choice(p.presets)})
        if p.toggles:
            choices.append({"command": "toggle", "name": rng.choice(p.toggles), "on": rng.choice((True, False))})
        if rng.random() < 0.02:
            choices.append({"command": "reset"})
        return rng.choice(choices)

    def with_payload(self) -> dict[str, Any]:
        """A real command that carries text the lab keeps: a record, a znode's data, a path."""
        if self.p.kind == "kafka" or self.socket == "terminal":
            command = self.kafka_act()
            while command["op"] != "publish":
                command = self.kafka_act()
            return command
        if self.p.console_ops:
            command = self.console()
            command["op"] = self.rng.choice(("create", "set"))
            command.setdefault("data", "v1")
            return command
        return self.real()

    def console(self) -> dict[str, Any]:
        rng = self.rng
        op = rng.choice(self.p.console_ops or ("get",))
        command: dict[str, Any] = {"command": "console", "op": op,
                                   "path": rng.choice(("/app", "/app/config", "/clusterx", "/clusterx/master_ip",
                                                       "/fuzz", "/fuzz/a"))}
        if op in ("create", "set"):
            command["data"] = rng.choice(("", "v1", "hello", "10.0.0.1"))
        for flag in ("ephemeral", "sequential", "watch"):
            if rng.random() < 0.3:
                command[flag] = rng.choice((True, False, "on", "off", "1", "0", ""))
        if op in ("set", "delete") and rng.random() < 0.5:
            command["version"] = rng.choice((-1, 0, 1, "", "2"))
        return command

    def kafka_act(self) -> dict[str, Any]:
        rng, p = self.rng, self.p
        topic = rng.choice((*p.topics, "events", "orders"))
        member = rng.choice((*p.members, "workers-1", "workers-2"))
        if self.socket == "terminal":  # few joins: every member joined stays in the lab as a machine
            ops = ("publish",) * 12 + ("join", "leave", "vanish")
        else:
            ops = ("publish", "publish", "traffic", "add_consumer", "remove_consumer", "pause_consumer",
                   "resume_consumer", "consumer_rate", "reset_offsets", "create_topic", "add_partitions",
                   "set_retention", "join", "leave", "vanish")
        op = rng.choice(ops)
        act: dict[str, Any] = {"command": "act", "op": op}
        if op == "publish":
            act.update(topic=topic, value=rng.choice(("hi", "order 7", "", "x" * 50)),
                       key=rng.choice(("", "user-3", "k")), acks=rng.choice(("all", "1", "0")))
            if rng.random() < 0.3:
                act["headers"] = rng.choice(("source=web", "a=1, b=2", ""))
            if self.socket == "terminal":  # a few producers (each one stays in the lab), now and then its own name
                act["producer"] = self.mine if rng.random() < 0.1 else rng.choice(TERMINAL_PRODUCERS)
        elif op == "traffic":
            act.update(producer=rng.choice((*p.services, "events")), rate=rng.choice(("0", "2", "5", 1)),
                       keys=rng.choice(KEY_MODES))
        elif op == "add_consumer":
            act.update(group=rng.choice(("workers", "audit")), topic=topic, rate=rng.choice(("1", "4")))
        elif op in ("remove_consumer", "pause_consumer", "resume_consumer"):
            act["member"] = member
        elif op == "consumer_rate":
            act.update(member=member, rate=rng.choice(("0", "3", "8")))
        elif op == "reset_offsets":
            act.update(group="workers", to=rng.choice(("earliest", "latest", "0", "5")))
        elif op == "create_topic":
            act.update(topic=rng.choice(("t1", "t2", "t3")), partitions=rng.choice(("1", "2", "3")),
                       replication=rng.choice(("1", "2")))
        elif op == "add_partitions":
            act.update(topic=topic, partitions=rng.choice(("5", "6", "8")))
        elif op == "set_retention":
            act.update(topic=topic, retention_ms=rng.choice(("60000", "600000")))
        elif op == "join":
            act.update(member=self.mine, group=rng.choice(("billing", "workers")), topic=topic,
                       reset=rng.choice(("earliest", "latest")))
        elif op in ("leave", "vanish"):
            act["member"] = self.mine if self.socket == "terminal" else member
        return act

    # -- families ------------------------------------------------------------------------------------------------

    def gen_valid(self) -> Any:
        return self.real()

    def string_fields(self, command: dict[str, Any]) -> list[str]:
        return [k for k, v in command.items() if isinstance(v, str)]

    def gen_number(self) -> Any:
        rng = self.rng
        command = rng.choice((
            {"command": "speed", "speed": 1}, {"command": "forward", "seconds": 1}, {"command": "seek", "time_ms": 0},
            {"command": "console", "op": "set", "path": "/app", "data": "x", "version": 0},
            {"command": "act", "op": "create_topic", "topic": "t9", "partitions": 3, "replication": 1},
            {"command": "act", "op": "add_partitions", "topic": "events", "partitions": 6},
            {"command": "act", "op": "set_retention", "topic": "events", "retention_ms": 60000},
            {"command": "act", "op": "traffic", "producer": "events", "rate": 2, "keys": "uniform"},
            {"command": "act", "op": "consumer_rate", "member": "workers-1", "rate": 2},
            {"command": "act", "op": "reset_offsets", "group": "workers", "to": 5},
            {"command": "act", "op": "add_consumer", "group": "workers", "topic": "events", "rate": 2},
            {"command": "act", "op": "publish", "topic": "events", "value": 1, "key": 2, "acks": 1},
            {"command": "cut", "a": "m1", "b": "m2", "both_ways": 1}, {"command": "toggle", "name": "x", "on": 1},
            self.real(),
        ))
        numeric = [k for k in command if k not in ("command", "op")] or ["seconds"]
        key = rng.choice(numeric)
        if rng.random() < 0.75:
            command[key] = Raw(rng.choice(EXTREME_NUMBERS))
        else:
            command[key] = rng.choice(NUMBER_STRINGS)
        if rng.random() < 0.2:
            command[rng.choice(("seconds", "time_ms", "speed", "version", "rate", "partitions"))] = Raw(
                rng.choice(EXTREME_NUMBERS))
        return command

    def gen_type(self) -> Any:
        command = self.real()
        keys = list(command)
        for _ in range(self.rng.randint(1, 2)):
            command[self.rng.choice(keys)] = self.rng.choice(WRONG_TYPES)
        return command

    def gen_unknown(self) -> Any:
        rng = self.rng
        roll = rng.random()
        if roll < 0.35:
            return {"command": rng.choice(UNKNOWN_COMMANDS), **({"node": "m1"} if rng.random() < 0.3 else {})}
        if roll < 0.6:
            return {"command": "act" if rng.random() < 0.7 else "console", "op": rng.choice(UNKNOWN_OPS),
                    "path": "/app", "topic": "events"}
        command = self.real()
        for _ in range(rng.randint(1, 14)):
            command[rng.choice(UNKNOWN_FIELDS) + (str(rng.randrange(20)) if rng.random() < 0.5 else "")] = \
                rng.choice(("x", 1, True, Raw("null"), Raw(DIGITS_400), "\ud800"))
        return command

    def bad_string(self, real: str, surrogates: float = 0.45) -> str:
        rng = self.rng
        roll = rng.random()
        junk = rng.choice(SURROGATES) if roll < surrogates else rng.choice(CONTROLS) if roll < 0.8 \
            else rng.choice(MARKUP)
        where = rng.randrange(4)
        if where == 0:
            return junk
        if where == 1:
            return real + junk
        if where == 2:
            return junk + real
        cut = rng.randrange(len(real) + 1)
        return real[:cut] + junk + real[cut:]

    def gen_string(self) -> Any:
        rng = self.rng
        command = self.real()
        roll = rng.random()
        if roll < 0.15:  # a string just over a length limit
            key = rng.choice(self.string_fields(command) or ["command"])
            command[key] = rng.choice(("m", "/", "é", "\U0001f600")) * rng.choice((31, 41, 201, 1001, 1002, 1990))
            return command
        if roll < 0.7 and len(command) > 1:  # one field of an otherwise good command: it gets past the parser
            return self.one_bad_field(command)
        for key in rng.sample(list(command), rng.randint(1, min(3, len(command)))):
            value = command[key]
            command[key] = self.bad_string(value if isinstance(value, str) else str(value))
        return command

    def one_bad_field(self, command: dict[str, Any]) -> dict[str, Any]:
        """The command with one of its own fields (most often the text a lab keeps) spoilt."""
        own = [k for k in command if k not in ("command", "op")] or list(command)
        payload = [k for k in own if k in PAYLOAD_FIELDS]
        key = self.rng.choice(payload if payload and self.rng.random() < 0.7 else own)
        value = command[key] if isinstance(command[key], str) else str(command[key])
        command[key] = self.bad_string(value, surrogates=0.6)
        return command

    def gen_path(self) -> Any:
        command = self.console() if self.p.console_ops else {"command": "console", "op": "get"}
        command["path"] = self.rng.choice(PATHS)
        if self.rng.random() < 0.3:
            command["data"] = self.bad_string("v")
        return command

    def gen_nesting(self) -> Any:
        rng = self.rng
        n = rng.choice((10, 100, 500, 999, 1000, 1001, 1500, 1900, 2000, 2040))
        shape = rng.randrange(5)
        if shape == 0:
            return "[" * n + "]" * n
        if shape == 1:
            return '{"a":' * n + "1" + "}" * n
        if shape == 2:  # unbalanced
            return "[" * n
        inner = "[" * (n - 30) + "]" * (n - 30)
        if shape == 3:
            return {"command": "crash", "node": Raw(inner)}
        return {"command": "act", "op": "publish", "topic": "events", "value": Raw(inner)}

    def gen_utf8(self) -> Message:
        rng = self.rng
        bad = rng.choice((b"\xff", b"\xfe\xff", b"\xc0\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80",
                          b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82", b"\x80",
                          b"\xed\xa0\xbd\xed\xb8\x80"))
        body = to_json(self.real()).encode()
        where = rng.randrange(4)
        if where == 0:
            data = bad
        elif where == 1:  # inside a string value
            quote = body.rfind(b'"', 0, len(body) - 1)
            data = body[:quote] + bad + body[quote:]
        elif where == 2:
            data = body + bad
        else:
            data = bad + body
        return Message("utf8", data=data)

    def gen_binary(self) -> Message:
        rng = self.rng
        text = to_json(self.real())
        roll = rng.randrange(7)
        if roll == 0:
            data = text.encode()
        elif roll == 1:
            data = text.encode(rng.choice(("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le")))
        elif roll == 2:
            data = b"\xef\xbb\xbf" + text.encode()
        elif roll == 3:  # a lone surrogate spelled in UTF-16 without its pair
            data = '{"command":"console","op":"get","path":"/x"}'.encode("utf-16-le").replace(
                "x".encode("utf-16-le"), b"\x00\xd8")
        elif roll == 4:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        elif roll == 5:
            data = b"\x00" * rng.randint(1, 300)
        else:
            data = text.encode()[: rng.randint(1, len(text))]
        return Message("binary", data=data)

    def gen_empty(self) -> Message:
        choice = self.rng.choice(("", b"", " ", "\n", "\t\r\n ", "{}", '{"":""}', "null", '""', '{"command":""}',
                                  '{"command":null}', "\u0000", b"\x00"))
        if isinstance(choice, bytes):
            return Message("empty", data=choice)
        return Message("empty", text=choice)

    def gen_non_object(self) -> str:
        rng = self.rng
        real = to_json(self.real())
        return rng.choice(("[]", "[1,2,3]", '"pause"', "42", "-0", "null", "true", "false", "1e999", "NaN",
                           '"\\ud800"', f"[{real}]", f"{real} {real}", f"{real},", f'"{real}"',
                           json.dumps(real), DIGITS_400, "[" * 40 + real + "]" * 40, f"{{{real}}}", real[1:],
                           "\ufeff" + real, real + "\u0000", "{'command': 'pause'}", "{command: pause}"))

    def gen_oversize(self) -> Message:
        rng = self.rng
        command = self.real()
        over = rng.choice((1, 1, 2, 7, 64, 0, -1))
        base = to_json({**command, "pad": ""})
        roll = rng.randrange(10)
        if roll < 6:  # characters, just over (or at) the limit
            pad = "x" * max(0, MAX_COMMAND_BYTES + over - len(base))
            return Message("oversize", text=to_json({**command, "pad": pad}))
        if roll < 8:  # few characters, many UTF-8 bytes
            pad = "é" * max(0, (MAX_COMMAND_BYTES + over - len(base)) // 2 + 1)
            text = json.dumps({**command, "pad": pad}, ensure_ascii=False)
            return Message("oversize", data=text.encode()) if rng.random() < 0.5 else Message("oversize", text=text)
        if roll < 9:
            pad = "y" * max(0, MAX_COMMAND_BYTES + over - len(base))
            return Message("oversize", data=to_json({**command, "pad": pad}).encode())
        size = rng.choice((65_536, 1_000_000))
        return Message("oversize", text=to_json({**command, "pad": "z" * size}))

    def gen_terminal(self) -> Any:
        rng = self.rng
        roll = rng.random()
        if roll < 0.4:
            name = rng.choice((*FOLLOW_NAMES, self.mine))
            message: dict[str, Any] = {"follow": rng.choice((name, name, Raw(DIGITS_400), Raw("null"), Raw("[]"),
                                                             Raw('{"a":1}'), Raw("true"), Raw("NaN")))}
            if rng.random() < 0.15:
                message["command"] = rng.choice(("pause", "crash", "act"))
            return message
        if roll < 0.85:
            return {"command": "act", "op": rng.choice(("leave", "vanish")),
                    "member": rng.choice((*NAMES_NOT_MINE, *self.p.members, *self.p.machines))}
        return {"command": "act", "op": "join", "member": rng.choice(NAMES_NOT_MINE),
                "group": rng.choice(("billing", "workers", "\ud800", "", "G")),
                "topic": rng.choice(("events", "nope", "\u0000")), "reset": rng.choice(("earliest", "latest", "x"))}

    def gen_mutation(self) -> Any:
        rng = self.rng
        command = self.real()
        pairs = list(command.items())
        for _ in range(rng.randint(1, 3)):
            roll = rng.randrange(12)
            if roll == 0 and len(pairs) > 1:  # drop a field
                del pairs[rng.randrange(1, len(pairs))]
            elif roll == 1 and pairs:  # rename a field
                i = rng.randrange(len(pairs))
                pairs[i] = (rng.choice((pairs[i][0].upper(), pairs[i][0] + "_", pairs[i][0][:-1] or "x")), pairs[i][1])
            elif roll == 2 and len(pairs) > 2:  # swap two values
                i, j = rng.sample(range(len(pairs)), 2)
                pairs[i], pairs[j] = (pairs[i][0], pairs[j][1]), (pairs[j][0], pairs[i][1])
            elif roll == 3 and pairs:  # the same key again, with another value
                key = rng.choice(pairs)[0]
                pairs.append((key, rng.choice(("crash", "reset", "m1", Raw("null"), Raw(DIGITS_400), "\ud800"))))
            elif roll == 4:  # htmx's HEADERS, or junk in its place
                pairs.append(("HEADERS", rng.choice((Raw('{"HX-Request":"true","HX-Trigger":"f"}'), Raw("[]"),
                                                     Raw(DIGITS_400), "\ud800", Raw('{"a":' * 50 + "1" + "}" * 50)))))
            elif roll == 5 and pairs:  # a value as text
                i = rng.randrange(len(pairs))
                pairs[i] = (pairs[i][0], str(pairs[i][1]).upper() if rng.random() < 0.5 else f" {pairs[i][1]} ")
            elif roll == 6:  # as many fields as an action takes, and one more
                pairs += [(f"f{chr(97 + k // 26)}{chr(97 + k % 26)}", "v") for k in range(rng.choice((11, 12, 13, 40)))]
            elif roll == 7 and pairs:  # the command name in another case or spacing
                pairs[0] = ("command", rng.choice((str(pairs[0][1]).upper(), f" {pairs[0][1]}", f"{pairs[0][1]}\n")))
            elif roll == 8 and len(pairs) > 1:  # a value as a JSON-encoded string
                i = rng.randrange(1, len(pairs))
                pairs[i] = (pairs[i][0], to_json(pairs[i][1]))
            elif roll == 9:  # the whole command under another key, or as a field of itself
                pairs = [("command", "act"), ("op", "publish"), ("value", Raw(to_json(dict(pairs))))]
            elif roll == 10:  # the terminal's own fields on a browser command and the other way round
                pairs += [("producer", rng.choice(("terminal-ab12", "web", "events", "\ud800"))),
                          ("member", rng.choice(("workers-1", "terminal-ab12")))]
            else:  # order changed
                rng.shuffle(pairs)
        text = to_json(Pairs(tuple(pairs)))
        if rng.random() < 0.15:  # the JSON text itself broken
            cut = rng.randrange(1, len(text))
            text = rng.choice((text[:cut], text + "}", text + "garbage", text.replace(":", "=", 1),
                               text[:cut] + "\u0000" + text[cut:], text.replace('"', "'")))
        return text


def utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- visitors --------------------------------------------------------------------------------------------------------


@dataclass
class Problem:
    kind: str
    detail: str
    socket: str = ""
    lab: str = ""
    message: Message | None = None

    def key(self) -> tuple[str, str, str]:
        """Problems with the same key are one failure: the same kind, detail and socket (or lab)."""
        return (self.kind, self.detail, self.socket or self.lab)


def where(error: BaseException | None) -> str:
    """``Type at file:line in function``, at the deepest frame of the project's own code."""
    if error is None:
        return ""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if any(part in f.filename for part in PROJECT_DIRS)] or frames
    if not ours:
        return type(error).__name__
    frame = ours[-1]
    path = frame.filename
    for part in PROJECT_DIRS:
        if part in path:
            path = part.strip("/") + "/" + path.split(part, 1)[1]
            break
    return f"{type(error).__name__} at {path}:{frame.lineno} in {frame.name}"


@dataclass
class Run:
    """Everything one fuzz run saw."""

    problems: list[Problem] = field(default_factory=list)
    sent: int = 0
    answered: int = 0
    refused: int = 0
    accepted: int = 0
    limited: int = 0
    sockets: int = 0
    closes: collections.Counter[int] = field(default_factory=collections.Counter)
    families: collections.Counter[str] = field(default_factory=collections.Counter)
    sessions: list[str] = field(default_factory=list)
    visitors: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    open: set[Visitor] = field(default_factory=set)
    slow: list[tuple[float, str, list[Message]]] = field(default_factory=list)  # waits over SLOW_S, for the report
    phases: dict[str, float] = field(default_factory=dict)
    deadline: float = field(default_factory=lambda: time.monotonic() + MAX_FUZZ_S)

    def problem(self, kind: str, detail: str, visitor: Visitor | None = None, message: Message | None = None) -> None:
        self.problems.append(Problem(kind, detail, visitor.kind if visitor else "", visitor.lab_kind if visitor else "",
                                     message))


class Visitor:
    """One socket of one visitor (its own address, and for a browser its own session)."""

    def __init__(self, run: Run, kind: str, lab_kind: str, lab_id: str) -> None:
        self.run, self.kind, self.lab_kind, self.lab_id = run, kind, lab_kind, lab_id
        self.number = number = next(run.visitors)
        self.address = f"10.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"
        headers = [ORIGIN]
        if kind == "browser" and run.sessions:
            headers.append((b"cookie", f"sessionid={run.sessions[number % len(run.sessions)]}".encode()))
        path = f"/ws/labs/{lab_id}/" + ("terminal/" if kind == "terminal" else "")
        self.comm = WebsocketCommunicator(self.asgi, path, headers=headers)
        self.pending: collections.deque[Message] = collections.deque()
        self.replies: list[tuple[Message, bool, str]] = []
        self.joined: set[str] = set()  # members this terminal joined (accepted) and did not leave
        self.closed: int | None = None  # the server's close code
        self.flooding = False
        self.sent = 0
        self.slowed: float | None = None  # when the server first said "too many"
        self.ended = False  # the consumer stopped (or the test gave up on it)

    async def asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await application({**scope, "client": (self.address, 50_000)}, receive, send)

    @property
    def live(self) -> bool:
        return self.closed is None and not self.ended

    async def open(self) -> bool:
        self.run.sockets += 1
        self.run.open.add(self)
        await self.comm.send_input({"type": "websocket.connect"})
        output = await self.next_output(REPLY_TIMEOUT_S)
        if output is None:
            if self.live:
                self.run.problem("no answer to the connection", f"waited {REPLY_TIMEOUT_S:g} s", self)
                await self.stop()
            return False
        if output["type"] == "websocket.accept":
            return True
        if output["type"] == "websocket.close":
            self.on_close(output)
            await self.stop()
        else:
            self.run.problem("unexpected first message", output["type"], self)
            await self.stop()
        return False

    async def next_output(self, timeout: float) -> dict[str, Any] | None:
        """The consumer's next output; None if it ended (with the ending recorded) or if
        nothing came within ``timeout`` (then the visitor is still ``live``). Unlike
        ``receive_output``, a timeout does not cancel the consumer."""
        queue = self.comm.output_queue
        if queue.empty() and not self.comm.future.done():
            getter = asyncio.ensure_future(queue.get())
            await asyncio.wait({getter, self.comm.future}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                return getter.result()
            getter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await getter
        if not queue.empty():
            return queue.get_nowait()
        if self.comm.future.done():
            self.on_end()
        return None

    def on_end(self) -> None:
        """The consumer's task is over without closing the socket first."""
        if self.ended:
            return
        self.ended = True
        self.run.open.discard(self)
        future = self.comm.future
        error = None if future.cancelled() else future.exception()
        if error is not None:
            culprit = self.pending[0] if self.pending else None
            self.run.problem("consumer crashed (daphne: 1011 and a traceback)", where(error), self, culprit)
        elif self.closed is None:
            self.run.problem("consumer ended without closing the socket", "", self,
                             self.pending[0] if self.pending else None)
        self.pending.clear()

    def on_close(self, output: dict[str, Any]) -> None:
        code = int(output.get("code") or 1000)
        self.closed = code
        self.run.closes[code] += 1
        if code not in DELIBERATE_CLOSE_CODES:
            self.run.problem("closed with an undeliberate code", str(code), self,
                             self.pending[0] if self.pending else None)
        self.pending.clear()

    def on_output(self, output: dict[str, Any]) -> None:
        if output["type"] == "websocket.close":
            self.on_close(output)
            return
        if output["type"] != "websocket.send":
            self.run.problem("unexpected output", output["type"], self)
            return
        text = output.get("text")
        if text is None:
            self.run.problem("binary reply", repr(output.get("bytes"))[:80], self)
            return
        if not utf8(text):  # daphne encodes every text frame as UTF-8: this one would fail to go out
            what = "a notice" if 'id="lab-notice"' in text else "a reply" if self.kind == "terminal" else "a frame"
            culprit = self.pending[0] if self.pending and what != "a frame" else None
            self.run.problem("the server sent text that is not valid UTF-8 (daphne: an exception, the socket lost)",
                             what, self, culprit)
        if self.kind == "browser":
            if 'id="lab-notice"' not in text:
                return  # a frame
            ok = 'class="notice ok"' in text
            limited = "Too many" in text
        else:
            try:
                reply = json.loads(text)
            except ValueError:
                self.run.problem("terminal reply is not JSON", text[:80], self)
                return
            if reply.get("type") != "reply":
                return  # an outbox push
            ok, limited = bool(reply.get("ok")), "retry_after" in reply
            text = str(reply.get("text"))
        self.run.answered += 1
        if not self.pending:
            self.run.problem("a reply nobody asked for", text[:80], self)
            return
        message = self.pending.popleft()
        self.replies.append((message, ok, text))
        if limited:
            self.run.limited += 1
            if self.slowed is None:
                self.slowed = time.monotonic()
                if not self.flooding and self.sent <= PER_VISITOR:
                    self.run.problem("a new visitor was told to slow down before it used its budget",
                                     f"within its first {PER_VISITOR} messages (the burst is "
                                     f"{getattr(consumers, 'COMMAND_BURST', '?')})", self, message)
        elif ok:
            self.run.accepted += 1
            self.after_accepted(message)
        else:
            self.run.refused += 1

    def after_accepted(self, message: Message) -> None:
        """Check 5: a terminal leaves or vanishes only the consumers it joined itself."""
        if self.kind != "terminal":
            return
        try:
            command = json.loads(message.payload)
        except ValueError:
            return
        if not isinstance(command, dict) or command.get("command") != "act":
            return
        member = command.get("member")
        if command.get("op") == "join" and isinstance(member, str):
            self.joined.add(member.strip())
        elif command.get("op") in ("leave", "vanish"):
            if isinstance(member, str) and member.strip() in self.joined:
                self.joined.discard(member.strip())
            else:
                self.run.problem("a terminal removed a consumer it did not join", f"op {command.get('op')}", self,
                                 message)

    async def send(self, message: Message) -> bool:
        if not self.live:
            return False
        self.run.sent += 1
        self.sent += 1
        self.run.families[message.family] += 1
        self.pending.append(message)
        if message.text is not None:
            event = {"type": "websocket.receive", "text": message.text}
        else:
            event = {"type": "websocket.receive", "bytes": message.data or b""}
        await self.comm.input_queue.put(event)
        self.drain()
        return self.live

    def drain(self) -> None:
        """Take in whatever the consumer has sent so far, without waiting."""
        queue = self.comm.output_queue
        while not queue.empty() and self.closed is None:
            self.on_output(queue.get_nowait())
        if self.comm.future.done() and queue.empty():
            self.on_end()

    async def settle(self, timeout: float = REPLY_TIMEOUT_S, required: bool = True) -> None:
        """Wait until every message sent has its reply, or the socket is closed or gone. A
        message still unanswered after ``timeout`` is a hang if a reply is ``required`` (a
        flooder's surplus may go unanswered)."""
        self.drain()
        started, waiting = time.monotonic(), list(self.pending)
        deadline = started + timeout
        while self.pending and self.live:
            if self.slowed is not None:  # refusals for going too fast need not all be answered
                deadline = min(deadline, self.slowed + SLOWED_WAIT_S)
            output = await self.next_output(max(0.0, deadline - time.monotonic()))
            if output is None:
                if self.live and required and self.slowed is None:
                    self.run.problem("no reply", f"none within {timeout:g} s", self, self.pending[0])
                self.pending.clear()
                break
            self.on_output(output)
        waited = time.monotonic() - started
        if waited > SLOW_S:
            self.run.slow.append((waited, f"{self.kind} socket of the {self.lab_kind} lab", waiting))

    async def stop(self) -> None:
        """Close the socket (as the client, or after the server closed it) and wait until the
        consumer has run its disconnect and stopped."""
        if self.ended:
            return
        self.drain()
        if not self.ended:
            await self.comm.input_queue.put({"type": "websocket.disconnect", "code": self.closed or 1000})
            done, _ = await asyncio.wait({self.comm.future}, timeout=STOP_TIMEOUT_S)
            if not done:
                self.run.problem("consumer did not stop after its socket closed", f"waited {STOP_TIMEOUT_S:g} s",
                                 self)
                self.comm.future.cancel()
                with contextlib.suppress(BaseException):
                    await self.comm.future
            elif not self.comm.future.cancelled() and self.comm.future.exception() is not None:
                self.on_end()
        self.ended = True
        self.run.open.discard(self)


# -- the run -------------------------------------------------------------------------------------------------------


class LogCatcher(logging.Handler):
    """Every record at WARNING or above, from any logger (the root's and those that do not propagate)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self.attached: list[logging.Logger] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> LogCatcher:
        loggers = [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                           if isinstance(logger, logging.Logger) and not logger.propagate]
        for logger in loggers:
            logger.addHandler(self)
            self.attached.append(logger)
        return self

    def __exit__(self, *exc: object) -> None:
        for logger in self.attached:
            logger.removeHandler(self)

    def bad(self) -> list[logging.LogRecord]:
        return [r for r in self.records if r.levelno >= logging.ERROR or r.exc_info]


async def make_sessions(count: int) -> list[str]:
    """Browser sessions, one per ``count`` visitors: each browser visitor is its own person."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils.crypto import get_random_string

    def create() -> list[str]:
        expire = timezone.now() + timedelta(days=1)
        keys = [get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(count)]
        # two browsers in three have been around and carry an owner token; the others have an empty session
        owner = getattr(access, "OWNER", "owner")
        data = [SessionStore().encode({owner: get_random_string(32)} if n % 3 else {}) for n in range(count)]
        Session.objects.bulk_create([Session(session_key=key, session_data=data[n], expire_date=expire)
                                     for n, key in enumerate(keys)])
        return keys

    return await sync_to_async(create)()


async def fuzz_worker(run: Run, worker: int, kind: str, lab_kind: str, lab_id: str, profile: Profile,
                      quota: int) -> None:
    """Visitors one after another, each on a new socket, until ``quota`` messages are sent. The
    messages depend on ``SEED`` and ``worker`` alone."""
    rng = random.Random(SEED * 100 + worker)
    sent = 0
    visitors = 0
    refused_in_a_row = 0
    while sent < quota:
        if time.monotonic() > run.deadline:
            run.problem("the fuzz ran out of time", f"{MAX_FUZZ_S:g} s were not enough for {quota:,} messages a worker")
            return
        visitors += 1
        visitor = Visitor(run, kind, lab_kind, lab_id)
        generator = Hostile(rng, profile, kind, worker, visitors)
        if not await visitor.open():
            refused_in_a_row += 1
            if refused_in_a_row >= 50:
                run.problem("new visitors are refused", f"50 connections in a row, last code {visitor.closed}", visitor)
                return
            await asyncio.sleep(0.01)
            continue
        refused_in_a_row = 0
        flooding = visitor.flooding = visitors % FLOOD_EVERY == 0
        budget = min(quota - sent, FLOOD_SIZE if flooding else PER_VISITOR)
        for i in range(budget):
            message = generator.message()
            if not await visitor.send(message):
                break
            sent += 1
            if not flooding and (i + 1) % WINDOW == 0:
                await visitor.settle()
        await visitor.settle(FLOOD_WAIT_S if flooding else REPLY_TIMEOUT_S, required=not flooding)
        await visitor.stop()
        await asyncio.sleep(0)


FINGERPRINT = ("state", "base snapshot", "snapshot", "version", "playing", "speed", "log length")


def fingerprint(lab: Any) -> tuple[Any, ...]:
    """The lab, byte for byte: its saved state (base snapshot included), a fresh snapshot
    of its simulation, its version, and whether and how fast it plays."""
    state = lab.state()
    base = state["base"].pop("snapshot")  # compared as it is: the same string, or an equal one
    return (json.dumps(state, sort_keys=True), base, lab.sim.snapshot(), lab.version, lab.playing, lab.speed,
            len(lab.log))


async def check_refusals(run: Run, runtime: Any, labs: dict[str, str], profiles: dict[str, Profile]) -> int:
    """Check 4: refused messages, sent one at a time to a paused lab, change nothing. Returns
    how many refusals were compared."""
    rng = random.Random(SEED + 4)
    compared = 0
    per_lab = -(-REFUSAL_SAMPLE // len(labs))
    for n, (lab_kind, lab_id) in enumerate(labs.items()):
        watcher = Visitor(run, "browser", lab_kind, lab_id)  # keeps the lab in memory and watched meanwhile
        await watcher.open()
        found, attempts, opened, visitor, kind, reset = 0, 0, 0, None, "browser", False
        before: tuple[Any, ...] | None = None  # the lab as the last refusal left it, while nothing else moved it
        while found < per_lab and attempts < per_lab * 5:
            attempts += 1
            if visitor is None or not visitor.live or len(visitor.replies) >= PER_VISITOR - 2:
                if visitor is not None:
                    await visitor.stop()  # a terminal's goodbye may change the lab (its members vanish)
                kind = SOCKETS[opened % 2]
                opened += 1
                visitor, before = Visitor(run, kind, lab_kind, lab_id), None
                if not await visitor.open():
                    visitor = None
                    continue
            lab = runtime.engine.labs.get(lab_id)
            if lab is None:
                run.problem("lab gone", "the lab left memory during the refusal check")
                break
            if found == per_lab // 2 and not reset:  # half as the fuzz left the lab, half from its start
                lab.apply(from_data({"command": "reset"}))
                reset, before = True, None
            if lab.playing:  # an accepted message may have set it playing: time must not move
                lab.apply(from_data({"command": "pause"}))
                before = None
            message = Hostile(rng, profiles[lab_kind], kind, 10 + n, opened).hostile()
            try:
                before = before or fingerprint(lab)
            except Exception as error:  # a poisoned lab: reported, and nothing more to compare
                run.problem("lab state cannot be taken", f"{type(error).__name__}: {str(error)[:80]}", visitor)
                break
            answered = len(visitor.replies)
            await visitor.send(message)
            await visitor.settle()
            if len(visitor.replies) > answered and visitor.replies[-1][1]:
                before = None
                continue  # accepted: not a refusal
            after = fingerprint(runtime.engine.labs.get(lab_id, lab))
            found += 1
            if after != before:
                changed = [name for name, a, b in zip(FINGERPRINT, before, after, strict=True) if a != b]
                run.problem("a refused command changed its lab", "changed: " + ", ".join(changed), visitor, message)
            before = after
        compared += found
        if visitor is not None:
            await visitor.stop()
        await watcher.stop()
    return compared


def check_unicode(run: Run, runtime: Any, labs: dict[str, str]) -> None:
    """Check 5: no lab holds text that is not valid Unicode (a lone surrogate) in its log,
    its state or its simulation: such a lab cannot be shown, saved or replayed."""
    for lab_kind, lab_id in labs.items():
        lab = runtime.engine.labs.get(lab_id)
        if lab is None:
            continue
        for part, data in (("its log or state", lab.state()), ("its simulation", json.loads(lab.sim.snapshot()))):
            try:
                json.dumps(data, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                run.problems.append(Problem("a lab holds text that is not valid Unicode", part, lab=lab_kind))


def report(run: Run, logs: list[logging.LogRecord], seconds: float) -> str:
    lines = [f"{run.sent:,} messages on {run.sockets:,} sockets in {seconds:.1f} s: {run.accepted:,} accepted, "
             f"{run.refused:,} refused, {run.limited:,} rate-limited; closes by code {dict(run.closes)}; "
             + ", ".join(f"{name} {took:.1f} s" for name, took in run.phases.items()) + ".",
             "  (families: " + ", ".join(f"{name} {n:,}" for name, n in run.families.most_common()) + ")"]
    for waited, place, waiting in sorted(run.slow, key=lambda slow: slow[0], reverse=True)[:5]:
        lines.append(f"  (slow: {waited:.1f} s for replies on the {place}, to "
                     + "; ".join(message.short(80) for message in waiting[:WINDOW]) + ")")
    distinct: dict[tuple[str, str, str], list[Problem]] = {}
    for problem in run.problems:
        distinct.setdefault(problem.key(), []).append(problem)
    for (kind, detail, _), found in distinct.items():
        first = found[0]
        labs = sorted({problem.lab for problem in found if problem.lab})
        place = (f"{first.socket} sockets of " if first.socket else "") \
            + (f"the {', '.join(labs)} lab{'s' if len(labs) > 1 else ''}" if labs else "")
        families = collections.Counter(problem.message.family for problem in found if problem.message)
        shown = f" (families: {', '.join(f'{name} ×{n}' for name, n in families.most_common())})" if families else ""
        example = f"; e.g. {first.message.short()}" if first.message else ""
        lines.append(f"- {kind}: {detail} ×{len(found)}, on {place or 'the run'}{shown}{example}")
    seen: collections.Counter[tuple[str, str]] = collections.Counter()
    examples: dict[tuple[str, str], logging.LogRecord] = {}
    for record in logs:
        error = record.exc_info[1] if record.exc_info else None
        key = (record.name, where(error) if error else str(record.msg)[:60])
        seen[key] += 1
        examples.setdefault(key, record)
    for (name, text), count in seen.items():
        record = examples[(name, text)]
        error = record.exc_info[1] if record.exc_info else None
        tail = f" ({str(error)[:90]})" if error else ""
        lines.append(f"- log {record.levelname} from {name}: {text}{tail} ×{count}; first: {record.getMessage()[:200]}")
    return "\n".join(lines)


async def test_hostile_messages_on_both_sockets_hurt_nobody(runtime):
    started = time.monotonic()
    labs: dict[str, str] = {}
    profiles: dict[str, Profile] = {}
    for lab_kind, slug in LABS:
        lab = await runtime.start_lab(slug)
        labs[lab_kind], profiles[lab_kind] = lab.id, profile_of(lab_kind, lab)
    run = Run()
    run.sessions = await make_sessions(TOTAL_MESSAGES // PER_VISITOR + 1_000)  # one per browser visitor
    with LogCatcher() as logs:
        workers = []
        quota = -(-TOTAL_MESSAGES // (len(LABS) * len(SOCKETS)))
        for n, (lab_kind, lab_id) in enumerate(labs.items()):
            for m, kind in enumerate(SOCKETS):
                worker = n * len(SOCKETS) + m
                workers.append(fuzz_worker(run, worker, kind, lab_kind, lab_id, profiles[lab_kind], quota))
        await asyncio.gather(*workers)
        fuzzed = run.sent
        run.phases["fuzz"] = time.monotonic() - started
        check_unicode(run, runtime, labs)
        compared = await check_refusals(run, runtime, labs, profiles)
        run.phases["refusal check"] = time.monotonic() - started - run.phases["fuzz"]
        for visitor in list(run.open):  # check 2: the test closes whatever is still open
            await visitor.stop()
        await asyncio.sleep(0.3)
        for lab_kind, lab_id in labs.items():  # check 3: nobody left watching
            left = {"engine.viewers": runtime.engine.viewers.get(lab_id),
                    "peers.local": runtime.peers.local.get(lab_id),
                    "roster": len(roster.local_names(lab_id)) or None}
            for counted_in, count in left.items():
                if count:
                    run.problems.append(Problem("viewers left after every socket closed", f"{counted_in} = {count}",
                                                lab=lab_kind))
        check_unicode(run, runtime, labs)
        await runtime.save_changed()  # what the server does every few seconds and when it stops
        await asyncio.sleep(0.1)
    seconds = time.monotonic() - started
    # (text with lone surrogates, as some replies and log lines hold, printed safely)
    summary = report(run, logs.bad(), seconds).encode("utf-8", "backslashreplace").decode("utf-8")
    assert fuzzed >= 20_000, summary
    assert compared >= REFUSAL_SAMPLE, summary
    assert not run.problems and not logs.bad(), summary
