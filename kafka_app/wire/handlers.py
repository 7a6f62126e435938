"""What a simulated broker answers a real client, read from the broker's own state.

Each request is answered by the broker the client connected to, as Kafka's ``KafkaApis``
does: ``Metadata`` from its metadata cache (a broker the controller has not told yet
answers with what it knows), ``ListOffsets`` and ``Fetch`` from the logs it leads (a
follower answers NOT_LEADER_OR_FOLLOWER, and the client asks the metadata again). The
brokers' addresses in a metadata answer are the address the client reached this one at,
with each broker's own port.

Where the lab simplifies: these read requests are answered at once, from the broker as it
is in the lab's current moment; they do not travel the lab's network as messages, and
the lab shows them only in the broker's counters of real clients.
"""

from __future__ import annotations

from typing import Any

from kafka_app.model.broker import Broker
from kafka_app.model.log import PartitionLog
from kafka_app.model.records import log_name

from .codec import Malformed
from .messages import APIS
from .records import WireRecord, decode_batches, encode_batch

NONE, OFFSET_OUT_OF_RANGE, CORRUPT_MESSAGE, UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER = 0, 1, 2, 3, 6
LEADER_NOT_AVAILABLE, REQUEST_TIMED_OUT, RECORD_LIST_TOO_LARGE = 5, 7, 18
UNSUPPORTED_VERSION, INVALID_REQUIRED_ACKS, INVALID_RECORD = 35, 21, 87
#: a request names at most this many partitions (or topics), each once
MAX_ENTRIES = 1000
EARLIEST, LATEST = -2, -1
#: a fetch answers at most this many bytes and records, whatever the client allows: encoding them runs
#: on the server's event loop, which must not be held for long (a client simply fetches again)
FETCH_BYTES_CAP = 256 * 1024
FETCH_RECORDS_CAP = 500
CLUSTER_ID = "coordlab"


def api_versions() -> dict[str, Any]:
    return {"error_code": NONE, "throttle_time_ms": 0,
            "api_keys": [{"api_key": api.key, "min_version": api.min_version, "max_version": api.max_version}
                         for api in sorted(APIS.values(), key=lambda a: a.key)]}


def metadata(broker: Broker, request: dict[str, Any], version: int, host: str, ports: dict[int, int]) -> dict[str, Any]:
    cache = broker.metadata
    known = cache["topics"]
    wanted = request["topics"]
    # null asks for every topic, and so does an empty list in v0; from v1 an empty list asks for none
    names = list(known) if wanted is None or (version == 0 and not wanted) else \
        list(dict.fromkeys(t["name"] for t in wanted))[:MAX_ENTRIES]
    topics = []
    for name in names:
        info = known.get(name)
        if info is None:
            topics.append({"error_code": UNKNOWN_TOPIC_OR_PARTITION, "name": name, "is_internal": False,
                           "partitions": []})
            continue
        partitions = [{"error_code": NONE if state["leader"] >= 0 else LEADER_NOT_AVAILABLE,
                       "partition_index": int(index), "leader_id": state["leader"],
                       "leader_epoch": state["leader_epoch"], "replica_nodes": list(state["replicas"]),
                       "isr_nodes": list(state["isr"]),
                       "offline_replicas": [r for r in state["replicas"] if r not in cache["brokers"]]}
                      for index, state in sorted(info["partitions"].items(), key=lambda item: int(item[0]))]
        topics.append({"error_code": NONE, "name": name, "is_internal": bool(info.get("internal")),
                       "partitions": partitions})
    brokers = [{"node_id": broker_id, "host": host, "port": ports[broker_id], "rack": None}
               for broker_id in sorted(cache["brokers"]) if broker_id in ports]
    return {"brokers": brokers, "cluster_id": CLUSTER_ID, "controller_id": cache["controller"], "topics": topics}


def list_offsets(broker: Broker, request: dict[str, Any]) -> dict[str, Any]:
    topics, known = [], _partitions(broker)
    for topic, items in _entries(request["topics"], "name", "partitions", "partition_index"):
        partitions = []
        for item in items:
            answer = {"partition_index": item["partition_index"], "error_code": NONE, "timestamp": -1, "offset": -1,
                      "leader_epoch": -1}
            partitions.append(answer)
            name = log_name(topic, item["partition_index"])
            hosted, log = broker.hosted.get(name), broker.logs.get(name)
            if hosted is None or log is None:
                answer["error_code"] = UNKNOWN_TOPIC_OR_PARTITION if name not in known else NOT_LEADER_OR_FOLLOWER
                continue
            if hosted.state is None:
                answer["error_code"] = NOT_LEADER_OR_FOLLOWER
                continue
            answer["leader_epoch"] = hosted.leader_epoch
            wanted = item["timestamp"]
            if wanted == EARLIEST:
                answer["offset"] = log.log_start_offset
            elif wanted == LATEST:
                answer["offset"] = log.high_watermark
            else:  # the first record written at or after that time (Kafka: fetchOffsetByTimestamp)
                found = _first_at_or_after(log, wanted)
                if found is not None:
                    answer["offset"], answer["timestamp"] = found
        topics.append({"name": topic, "partitions": partitions})
    return {"throttle_time_ms": 0, "topics": topics}


def fetch(broker: Broker, request: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The answer, and how many records it carries."""
    budget = max(0, min(request["max_bytes"], FETCH_BYTES_CAP))
    carried, responses, known = 0, [], _partitions(broker)
    for topic, items in _entries(request["topics"], "topic", "partitions", "partition"):
        partitions = []
        for item in items:
            answer: dict[str, Any] = {"partition_index": item["partition"], "error_code": NONE, "high_watermark": -1,
                                      "last_stable_offset": -1, "log_start_offset": -1, "aborted_transactions": None,
                                      "preferred_read_replica": -1, "records": b""}
            partitions.append(answer)
            name = log_name(topic, item["partition"])
            hosted, log = broker.hosted.get(name), broker.logs.get(name)
            if hosted is None or log is None or hosted.state is None:
                answer["error_code"] = UNKNOWN_TOPIC_OR_PARTITION if name not in known else NOT_LEADER_OR_FOLLOWER
                continue
            answer.update(high_watermark=log.high_watermark, last_stable_offset=log.high_watermark,
                          log_start_offset=log.log_start_offset)
            offset = item["fetch_offset"]
            if not log.log_start_offset <= offset <= log.log_end_offset:
                answer["error_code"] = OFFSET_OUT_OF_RANGE
                continue
            limit = min(item["partition_max_bytes"], budget)
            records: list[WireRecord] = []
            size, epoch = 0, -1
            for record in log.read(offset, max_records=FETCH_RECORDS_CAP):
                size += record.size + sum(len(k) + len(v or b"") for k, v in record.headers)
                # Kafka's first batch goes even when it is over the limits, so that a big record is not
                # stuck; here only while nothing was answered yet, so the answer stays bounded
                if size > limit and (records or carried):
                    break
                records.append(WireRecord(record.offset, record.timestamp, record.key, record.value,
                                          list(record.headers)))
                epoch = record.leader_epoch
            if records:
                answer["records"] = encode_batch(records[0].offset, records, partition_leader_epoch=epoch)
                budget -= len(answer["records"])
                carried += len(records)
        responses.append({"topic": topic, "partitions": partitions})
    return {"throttle_time_ms": 0, "error_code": NONE, "session_id": 0, "responses": responses}, carried


def any_error(answer: dict[str, Any]) -> bool:
    return any(p["error_code"] for t in answer["responses"] for p in t["partitions"])


def _entries(topics: list[dict[str, Any]], name: str, items: str, index: str) -> list[tuple[str, list[Any]]]:
    """A request's topics with their partitions, each once (the first time it is named), at most
    ``MAX_ENTRIES`` of them in all."""
    seen: set[tuple[str, int]] = set()
    found: dict[str, list[Any]] = {}
    for topic in topics:
        for item in topic[items]:
            key = (topic[name], item[index])
            if key not in seen and len(seen) < MAX_ENTRIES:
                seen.add(key)
                found.setdefault(topic[name], []).append(item)
    return list(found.items())


def produce(request: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[tuple[str, int], int]]:
    """What the lab's real-client machine sends for a Produce request: one entry per partition with its
    records (each batch decoded, its CRC checked), and the partitions refused before that, with their
    error (a batch that does not parse, is compressed, or is not Kafka's v2 format)."""
    sending, refused = [], {}
    for topic in request["topic_data"]:
        for item in topic["partition_data"]:
            where = (topic["name"], item["index"])
            try:
                batches = decode_batches(item["records"] or b"")
            except Malformed as error:
                refused[where] = getattr(error, "error_code", CORRUPT_MESSAGE)
                continue
            # a Produce carries one batch of records per partition; control batches are the brokers' own
            if len(batches) != 1 or not batches[0].records or batches[0].is_control:
                refused[where] = INVALID_RECORD
                continue
            batch = batches[0]
            records = [{"key": r.key, "value": r.value, "headers": [(k, v or b"") for k, v in r.headers],
                        "timestamp": r.timestamp, "producer_id": batch.producer_id,
                        "sequence": batch.base_sequence + i if batch.base_sequence >= 0 else -1}
                       for i, r in enumerate(batch.records)]
            sending.append({"topic": topic["name"], "partition": item["index"], "records": records})
    return sending, refused


def produce_response(request: dict[str, Any], refused: dict[tuple[str, int], int],
                     answers: dict[tuple[str, int], dict[str, Any]]) -> dict[str, Any]:
    """The Produce response: each partition's answer from the broker, its refusal, or a timeout."""
    responses = []
    for topic in request["topic_data"]:
        partitions = []
        for item in topic["partition_data"]:
            where = (topic["name"], item["index"])
            got = answers.get(where)
            error = refused.get(where, got["error"] if got else REQUEST_TIMED_OUT)
            partitions.append({"index": item["index"], "error_code": error,
                               "base_offset": got["base_offset"] if got and not error else -1,
                               "log_append_time_ms": -1, "log_start_offset": -1, "record_errors": [],
                               "error_message": None})
        responses.append({"name": topic["name"], "partition_responses": partitions})
    return {"responses": responses, "throttle_time_ms": 0}


def _first_at_or_after(log: PartitionLog, timestamp: int) -> tuple[int, int] | None:
    """(offset, timestamp) of the first committed record written at or after ``timestamp``; only the
    first segment whose newest record is that recent is read (``LogSegment.findOffsetByTimestamp``)."""
    for segment in log.segments:
        if segment.records and segment.largest_timestamp >= timestamp:
            for record in segment.records:
                if record.timestamp >= timestamp and record.offset < log.high_watermark:
                    return record.offset, record.timestamp
    return None


def _partitions(broker: Broker) -> set[str]:
    return {log_name(topic, int(index)) for topic, info in broker.metadata["topics"].items()
            for index in info["partitions"]}
