"""A simulated broker's answers to Kafka requests, without a socket: versions are negotiated as
KIP-35 and KIP-511 say, and no byte string, however malformed, does more than close its own
connection or changes the lab."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordlab.labs import registry
from coordlab.labs.lab import Lab
from kafka_app.model.broker import Broker
from kafka_app.wire import server
from kafka_app.wire.codec import Malformed, Reader, Writer
from kafka_app.wire.messages import API_VERSIONS, APIS, FETCH, METADATA, PRODUCE, Api
from kafka_app.wire.records import WireRecord, decode_batches, encode_batch
from kafka_app.wire.server import Door, Quota, Refused, respond

PORTS = {1: 19001, 2: 19002, 3: 19003}


@pytest.fixture(scope="module")
def lab() -> Lab:
    scenario = registry.get("kafka-messenger")
    assert scenario is not None
    return Lab("wire", scenario)


def broker(lab: Lab, broker_id: int = 1) -> Broker:
    node = lab.sim.nodes[f"b{broker_id}"]
    assert isinstance(node, Broker)
    return node


def request(api: Api, version: int, body: dict[str, Any], correlation: int = 7) -> bytes:
    out = Writer()
    out.int16(api.key)
    out.int16(version)
    out.int32(correlation)
    out.string("test-client")
    if api.flexible(version):
        out.empty_tagged_fields()
    api.request.write(out, body, version, api.flexible(version))
    return out.getvalue()


def ask(lab: Lab, data: bytes, broker_id: int = 1) -> bytes | None:
    async def refuse(fields: dict[str, Any]) -> str:
        raise AssertionError("a read does not send the lab a command")

    door = Door(lambda: broker(lab, broker_id), lab.sim.nodes.get, lambda: False, lambda: PORTS, refuse, Quota())
    return asyncio.run(respond(data, door, "127.0.0.1"))


def answer(api: Api, version: int, data: bytes | None, header_flexible: bool = False) -> tuple[int, dict[str, Any]]:
    assert data is not None
    reader = Reader(data)
    correlation = reader.int32()
    if header_flexible:
        reader.tagged_fields()
    body = api.response.read(reader, version, api.flexible(version))
    assert reader.done()
    return correlation, body


def test_api_versions_lists_every_api_this_broker_speaks(lab: Lab) -> None:
    correlation, body = answer(API_VERSIONS, 3, ask(lab, request(API_VERSIONS, 3, {
        "client_software_name": "test", "client_software_version": "1"})))
    assert correlation == 7 and body["error_code"] == 0
    assert {(k["api_key"], k["min_version"], k["max_version"]) for k in body["api_keys"]} == \
        {(api.key, api.min_version, api.max_version) for api in APIS.values()}


def test_a_newer_api_versions_than_this_broker_speaks_gets_unsupported_version_in_v0(lab: Lab) -> None:
    data = request(API_VERSIONS, 3, {"client_software_name": "x", "client_software_version": "1"})
    newer = data[:2] + (4).to_bytes(2, "big") + data[4:]
    _, body = answer(API_VERSIONS, 0, ask(lab, newer))
    assert body["error_code"] == 35 and any(k["api_key"] == 18 and k["max_version"] == 3 for k in body["api_keys"])


def test_metadata_names_each_broker_at_the_address_the_client_used_with_its_own_port(lab: Lab) -> None:
    _, body = answer(METADATA, 8, ask(lab, request(METADATA, 8, {"topics": None})))
    assert sorted((b["node_id"], b["host"], b["port"]) for b in body["brokers"]) == \
        [(i, "127.0.0.1", port) for i, port in sorted(PORTS.items())]
    topics = {t["name"]: t for t in body["topics"]}
    assert [p["partition_index"] for p in topics["messages"]["partitions"]] == [0, 1, 2]
    _, unknown = answer(METADATA, 1, ask(lab, request(METADATA, 1, {"topics": [{"name": "nope"}]})))
    assert unknown["topics"][0]["error_code"] == 3  # UNKNOWN_TOPIC_OR_PARTITION


def test_a_fetch_from_a_follower_is_refused_and_from_the_leader_returns_records(lab: Lab) -> None:
    state = broker(lab).metadata["topics"]["messages"]["partitions"]
    leader = state["0"]["leader"]
    follower = next(b for b in state["0"]["replicas"] if b != leader)
    fetch = {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
             "topics": [{"topic": "messages", "partitions": [{"partition": 0, "fetch_offset": 0,
                                                              "partition_max_bytes": 1 << 20}]}]}
    _, refused = answer(FETCH, 11, ask(lab, request(FETCH, 11, fetch), follower))
    assert refused["responses"][0]["partitions"][0]["error_code"] == 6  # NOT_LEADER_OR_FOLLOWER
    _, served = answer(FETCH, 11, ask(lab, request(FETCH, 11, fetch), leader))
    partition = served["responses"][0]["partitions"][0]
    assert partition["error_code"] == 0 and partition["records"] and partition["high_watermark"] > 0


def valid_requests() -> list[bytes]:
    return [
        request(API_VERSIONS, 3, {"client_software_name": "a", "client_software_version": "1"}),
        request(METADATA, 8, {"topics": [{"name": "messages"}]}),
        request(FETCH, 11, {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1 << 20,
                            "isolation_level": 0, "topics": [{"topic": "messages", "partitions": [
                                {"partition": 1, "fetch_offset": 0, "partition_max_bytes": 1 << 20}]}]}),
    ]


def lab_state(lab: Lab) -> tuple[Any, ...]:
    return (lab.sim.processed, lab.sim.now, len(lab.log),
            {name: log.log_end_offset for name, log in broker(lab).logs.items()})


@settings(max_examples=4000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(max_size=200), which=st.integers(0, 2), cut=st.integers(0, 400),
       flips=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4))
def test_malformed_requests_only_close_their_connection_and_change_nothing(
        lab: Lab, junk: bytes, which: int, cut: int, flips: list[tuple[int, int]]) -> None:
    before = lab_state(lab)
    mutated = bytearray(valid_requests()[which])
    for position, value in flips:
        mutated[position % len(mutated)] = value
    with patch.object(server, "MAX_WAIT_S", 0.0):  # a fetch with nothing new answers at once here
        for data in (junk, bytes(mutated[:cut]) + junk, bytes(mutated)):
            with contextlib.suppress(Refused, Malformed):  # the connection is closed; nothing else happens
                ask(lab, data)
    assert lab_state(lab) == before


def produce_request(records: bytes, acks: int = -1) -> bytes:
    return request(PRODUCE, 8, {"transactional_id": None, "acks": acks, "timeout_ms": 100, "topic_data": [
        {"name": "messages", "partition_data": [{"index": 0, "records": records}]}]})


def recording_door(lab: Lab, rewound: bool = False) -> tuple[Door, list[dict[str, Any]]]:
    """A door to broker 1 whose lab commands are only noted (the lab here is not run by an engine)."""
    sent: list[dict[str, Any]] = []

    async def execute(fields: dict[str, Any]) -> str:
        sent.append(fields)
        return "sent"

    return Door(lambda: broker(lab), lab.sim.nodes.get, lambda: rewound, lambda: PORTS, execute, Quota()), sent


def test_a_produce_becomes_one_lab_command_and_a_broken_batch_is_refused_without_one(lab: Lab) -> None:
    door, sent = recording_door(lab)
    batch = encode_batch(0, [WireRecord(0, 5, b"k", b"v", [("h", b"1")])], producer_id=7, base_sequence=3)
    _, body = answer(PRODUCE, 8, asyncio.run(respond(produce_request(batch), door, "127.0.0.1")))
    assert [(f["op"], f["client"], f["broker"], f["acks"]) for f in sent] == [("real_produce", "real-test-client",
                                                                               "b1", -1)]
    record = sent[0]["partitions"][0]["records"][0]
    assert (record["key"], record["value"], record["headers"], record["producer_id"], record["sequence"]) == \
        (b"k", b"v", [("h", b"1")], 7, 3)
    # nothing answered within the request's 100 ms (this lab does not run here): the client retries
    assert body["responses"][0]["partition_responses"][0]["error_code"] == 7  # REQUEST_TIMED_OUT
    broken = bytearray(batch)
    broken[-1] ^= 0xFF
    _, refused = answer(PRODUCE, 8, asyncio.run(respond(produce_request(bytes(broken)), door, "127.0.0.1")))
    assert refused["responses"][0]["partition_responses"][0]["error_code"] == 2  # CORRUPT_MESSAGE
    assert len(sent) == 1, "a batch that fails its CRC never reaches the lab"
    assert asyncio.run(respond(produce_request(batch, acks=0), door, "127.0.0.1")) is None, "acks=0: no answer"


def test_a_request_cannot_make_its_answer_grow_by_naming_a_partition_again_and_again(lab: Lab) -> None:
    leader = broker(lab).metadata["topics"]["messages"]["partitions"]["0"]["leader"]
    same = {"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1}
    fetch = {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1, "isolation_level": 0,
             "topics": [{"topic": "messages", "partitions": [same] * 300}] * 3}
    _, body = answer(FETCH, 11, ask(lab, request(FETCH, 11, fetch), leader))
    assert [len(t["partitions"]) for t in body["responses"]] == [1], "each partition once"
    assert len(decode_batches(body["responses"][0]["partitions"][0]["records"])[0].records) == 1, \
        "over max_bytes, only the first record goes (so that a big one is not stuck)"
    _, none = answer(METADATA, 1, ask(lab, request(METADATA, 1, {"topics": []})))
    assert none["topics"] == [], "from v1 an empty list asks for no topic (null asks for all)"


def test_a_produce_while_the_lab_shows_an_earlier_moment_waits_for_play(lab: Lab) -> None:
    door, sent = recording_door(lab, rewound=True)
    batch = encode_batch(0, [WireRecord(0, 5, b"k", b"v")])
    _, body = answer(PRODUCE, 8, asyncio.run(respond(produce_request(batch), door, "127.0.0.1")))
    assert body["responses"][0]["partition_responses"][0]["error_code"] == 7 and sent == [], \
        "retriable, and the lab's history is not cut"
