"""Real Kafka clients against a lab's brokers on loopback: kcat (librdkafka) and kafka-python
find the brokers, the topics and their leaders, and read the records the lab's services wrote,
and a malformed or hostile byte stream closes only its own connection."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import urllib.request

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.servers import start_owned_lab
from tests.server import running_server

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is installed by make test")

HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def lab():
    """A "Messenger" lab on a fresh server: its base URL, id, session cookie and brokers' ports."""
    with running_server(COORDLAB_MAX_SANDBOXES_PER_ADDRESS="100") as url:
        lab_id, cookie = start_owned_lab(url, "kafka-messenger")
        page = urllib.request.urlopen(urllib.request.Request(f"{url}/labs/{lab_id}/", headers={"Cookie": cookie}),
                                      timeout=10).read().decode()
        bootstrap = re.search(r'<code id="bootstrap">([^<]+)</code>', page)
        assert bootstrap, "the lab page shows its brokers' bootstrap address"
        ports = [int(item.rsplit(":", 1)[1]) for item in bootstrap.group(1).split(",")]
        assert all(item.startswith(f"{HOST}:") for item in bootstrap.group(1).split(","))
        yield {"url": url, "id": lab_id, "cookie": cookie, "ports": ports, "page": page}


def kcat(*args: str, timeout: float = 30) -> str:
    done = subprocess.run(["kcat", *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_page_gives_kcat_and_kafka_python_one_liners_for_its_brokers(lab):
    assert len(lab["ports"]) == 3 and len(set(lab["ports"])) == 3
    assert f"kcat -b {HOST}:{lab['ports'][0]} -L" in lab["page"]
    one_liner = re.search(r'<pre id="python-consume"><code>python -c \'([^<]+)\'</code>', lab["page"])
    assert one_liner, "a kafka-python consumer to paste"
    code = one_liner.group(1).replace("&quot;", '"').replace("[print(r) for r in ", "[print(r) for r, _ in zip(")
    code = code.replace('auto_offset_reset="earliest")]', 'auto_offset_reset="earliest"), range(5))]')
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(re.findall(r"^ConsumerRecord\(topic='messages'", done.stdout, re.M)) == 5, done.stdout


def test_kcat_lists_the_labs_brokers_topics_and_leaders(lab):
    listing = kcat("-b", f"{HOST}:{lab['ports'][1]}", "-L", "-J")
    import json

    metadata = json.loads(listing)
    assert sorted(b["id"] for b in metadata["brokers"]) == [1, 2, 3]
    assert sorted(b["name"] for b in metadata["brokers"]) == sorted(f"{HOST}:{p}" for p in lab["ports"])
    topics = {t["topic"]: t for t in metadata["topics"]}
    assert "messages" in topics
    partitions = topics["messages"]["partitions"]
    assert len(partitions) == 3 and all(p["leader"] in (1, 2, 3) and len(p["replicas"]) == 3 for p in partitions)


def test_kafka_python_assigns_seeks_and_polls_the_records_below_the_high_watermark(lab):
    consumer = KafkaConsumer(bootstrap_servers=f"{HOST}:{lab['ports'][2]}", group_id=None, enable_auto_commit=False,
                             consumer_timeout_ms=5000, request_timeout_ms=10000)
    try:
        partition = TopicPartition("messages", 1)
        assert consumer.partitions_for_topic("messages") == {0, 1, 2}
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        end = consumer.end_offsets([partition])[partition]
        assert end > 0, "the lab's services have written records by the time it is shown"
        records = []
        for record in consumer:
            records.append(record)
            if record.offset + 1 >= end:
                break
        assert [r.offset for r in records] == list(range(end))
        assert all(r.topic == "messages" and r.partition == 1 and r.value for r in records)
    finally:
        consumer.close()


def test_kcat_produces_through_the_lab_and_reads_its_records_back(lab):
    broker = f"{HOST}:{lab['ports'][0]}"
    done = subprocess.run(["kcat", "-b", broker, "-P", "-t", "messages", "-p", "2", "-K", ":"],
                          input="kcat-1:hello from kcat\nkcat-2:bye from kcat\n", capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    out = kcat("-b", broker, "-C", "-t", "messages", "-p", "2", "-o", "beginning", "-e", "-f", "%k=%s\n")
    assert "kcat-1=hello from kcat\nkcat-2=bye from kcat" in out, "both records, in order, on the partition asked"
    page = urllib.request.urlopen(urllib.request.Request(f"{lab['url']}/labs/{lab['id']}/",
                                                         headers={"Cookie": lab["cookie"]}), timeout=10).read().decode()
    assert 'id="machine-real-rdkafka"' in page, "the client is a machine of the lab's picture"


def test_kafka_pythons_idempotent_producer_gets_the_offset_the_lab_gave_its_record(lab):
    producer = KafkaProducer(bootstrap_servers=f"{HOST}:{lab['ports'][1]}", acks="all", client_id="booking-service")
    try:
        sent = producer.send("messages", key=b"booking-42", value=b"lab slot booked").get(timeout=30)
    finally:
        producer.close()
    consumer = KafkaConsumer(bootstrap_servers=f"{HOST}:{lab['ports'][2]}", group_id=None, consumer_timeout_ms=5000)
    try:
        partition = TopicPartition("messages", sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        record = next(iter(consumer))
    finally:
        consumer.close()
    assert (record.offset, record.key, record.value) == (sent.offset, b"booking-42", b"lab slot booked")


@pytest.mark.parametrize("frame", [
    b"\x7f\xff\xff\xff",  # a size of 2 GiB
    b"\xff\xff\xff\xff",  # a negative size
    b"\x00\x00\x00\x04\x00\x12\x00\x00",  # too short for its header
    b"\x00\x00\x00\x0a\x01\x00\x00\x00\x00\x00\x00\x01\x00\x00",  # API key 256
    b"\x00\x00\x00\x0a\x00\x03\x00\x63\x00\x00\x00\x01\x00\x00",  # Metadata v99
], ids=["2GiB", "negative", "short", "unknown-api", "unknown-version"])
def test_a_malformed_request_closes_its_connection_and_the_broker_serves_on(lab, frame):
    with socket.create_connection((HOST, lab["ports"][0]), timeout=5) as conn:
        conn.sendall(frame)
        assert conn.recv(1024) == b"", "the broker closes the connection"
    listing = kcat("-b", f"{HOST}:{lab['ports'][0]}", "-L")
    assert "3 brokers" in listing
