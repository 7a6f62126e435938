"""The command schema answers every bad command with a sentence."""

from __future__ import annotations

import json

import pytest

from coordlab.labs.commands import Command, CommandError, parse


@pytest.mark.parametrize(("raw", "expected"), [
    ('{"command": "pause"}', Command("pause", {})),
    ('{"command": "crash", "node": " m1 ", "HEADERS": {"HX-Request": "true"}}', Command("crash", {"node": "m1"})),
    ('{"command": "speed", "speed": "2"}', Command("speed", {"speed": 2.0})),
    ('{"command": "cut", "a": "m1", "b": "m2"}', Command("cut", {"a": "m1", "b": "m2", "both_ways": True})),
    ('{"command": "cut", "a": "m1", "b": "m2", "both_ways": "false"}',
     Command("cut", {"a": "m1", "b": "m2", "both_ways": False})),
    ('{"command": "forward", "seconds": 30}', Command("forward", {"seconds": 30})),
    ('{"command": "seek", "time_ms": "1500"}', Command("seek", {"time_ms": 1500})),
])
def test_valid_commands(raw, expected):
    assert parse(raw) == expected


@pytest.mark.parametrize(("raw", "message"), [
    (None, "JSON text"),
    ("{not json", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('"pause"', "JSON object"),
    ('{"command": "explode"}', "Unknown command 'explode'"),
    ('{"command": 7}', "Unknown command '?'"),
    ('{"nothing": true}', "Unknown command"),
    ('{"command": "crash"}', "'crash' needs 'node'"),
    ('{"command": "crash", "node": ""}', "must name a machine"),
    ('{"command": "crash", "node": 5}', "must name a machine"),
    ('{"command": "crash", "node": "' + "x" * 100 + '"}', "too long"),
    ('{"command": "speed", "speed": "3"}', "Speed must be one of"),
    ('{"command": "speed", "speed": "fast"}', "must be a number"),
    ('{"command": "speed", "speed": "NaN"}', "finite"),
    ('{"command": "forward", "seconds": 0}', "whole number of seconds"),
    ('{"command": "forward", "seconds": 10000}', "whole number of seconds"),
    ('{"command": "seek", "time_ms": -5}', "cannot be negative"),
    ('{"command": "cut", "a": "m1", "b": "m2", "both_ways": "maybe"}', "true or false"),
])
def test_bad_commands_get_a_sentence(raw, message):
    with pytest.raises(CommandError, match=message):
        parse(raw)


def test_oversized_message_is_refused_before_parsing():
    huge = json.dumps({"command": "pause", "pad": "x" * 10_000_000})
    with pytest.raises(CommandError, match="at most 4,096"):
        parse(huge)


def test_a_command_survives_the_trip_to_another_process():
    from coordlab.labs.commands import from_data

    for data in ({"command": "crash", "node": "m1"}, {"command": "speed", "speed": 2},
                 {"command": "act", "op": "publish", "topic": "chat", "key": "k", "value": "v"}):
        command = from_data(data)
        assert from_data(command.as_data()) == command
