"""The requests this server understands and the responses it sends, at the versions it
supports: each written after Kafka's message definition of the same name, with only the
fields of those versions. A client asks ``ApiVersions`` first and then uses, for each
API, the newest version both sides support (KIP-35).

The versions stop below each API's first flexible version (KIP-482), except for
``ApiVersions``, whose v3 both kafka-python and librdkafka send first: every client this
lab serves also speaks these older versions, as it must to talk to older brokers.
"""

from __future__ import annotations

from dataclasses import dataclass

from .schema import Array, Field, Struct, struct


@dataclass(frozen=True)
class Api:
    key: int
    name: str
    min_version: int
    max_version: int
    request: Struct
    response: Struct
    flexible_since: int = 1 << 15

    def flexible(self, version: int) -> bool:
        return version >= self.flexible_since


API_VERSIONS = Api(
    18, "ApiVersions", 0, 3, flexible_since=3,
    request=struct(Field("client_software_name", "string", since=3, default=""),
                   Field("client_software_version", "string", since=3, default="")),
    response=struct(Field("error_code", "int16"),
                    Field("api_keys", Array(struct(Field("api_key", "int16"), Field("min_version", "int16"),
                                                   Field("max_version", "int16")))),
                    Field("throttle_time_ms", "int32", since=1, default=0)),
)

METADATA = Api(
    3, "Metadata", 0, 8,
    request=struct(Field("topics", Array(struct(Field("name", "string"))), nullable=1),
                   Field("allow_auto_topic_creation", "bool", since=4, default=True),
                   Field("include_cluster_authorized_operations", "bool", since=8, default=False),
                   Field("include_topic_authorized_operations", "bool", since=8, default=False)),
    response=struct(
        Field("throttle_time_ms", "int32", since=3, default=0),
        Field("brokers", Array(struct(Field("node_id", "int32"), Field("host", "string"), Field("port", "int32"),
                                      Field("rack", "string", since=1, nullable=1)))),
        Field("cluster_id", "string", since=2, nullable=2),
        Field("controller_id", "int32", since=1, default=-1),
        Field("topics", Array(struct(
            Field("error_code", "int16"), Field("name", "string"), Field("is_internal", "bool", since=1, default=False),
            Field("partitions", Array(struct(
                Field("error_code", "int16"), Field("partition_index", "int32"), Field("leader_id", "int32"),
                Field("leader_epoch", "int32", since=7, default=-1), Field("replica_nodes", Array("int32")),
                Field("isr_nodes", Array("int32")), Field("offline_replicas", Array("int32"), since=5, default=[])))),
            Field("topic_authorized_operations", "int32", since=8, default=-2147483648)))),
        Field("cluster_authorized_operations", "int32", since=8, default=-2147483648)),
)

LIST_OFFSETS = Api(
    2, "ListOffsets", 1, 5,
    request=struct(
        Field("replica_id", "int32"), Field("isolation_level", "int8", since=2, default=0),
        Field("topics", Array(struct(Field("name", "string"), Field("partitions", Array(struct(
            Field("partition_index", "int32"), Field("current_leader_epoch", "int32", since=4, default=-1),
            Field("timestamp", "int64")))))))),
    response=struct(
        Field("throttle_time_ms", "int32", since=2, default=0),
        Field("topics", Array(struct(Field("name", "string"), Field("partitions", Array(struct(
            Field("partition_index", "int32"), Field("error_code", "int16"), Field("timestamp", "int64"),
            Field("offset", "int64"), Field("leader_epoch", "int32", since=4, default=-1)))))))),
)

FETCH = Api(
    1, "Fetch", 4, 11,
    request=struct(
        Field("replica_id", "int32"), Field("max_wait_ms", "int32"), Field("min_bytes", "int32"),
        Field("max_bytes", "int32", default=0x7FFFFFFF), Field("isolation_level", "int8", default=0),
        Field("session_id", "int32", since=7, default=0), Field("session_epoch", "int32", since=7, default=-1),
        Field("topics", Array(struct(Field("topic", "string"), Field("partitions", Array(struct(
            Field("partition", "int32"), Field("current_leader_epoch", "int32", since=9, default=-1),
            Field("fetch_offset", "int64"), Field("log_start_offset", "int64", since=5, default=-1),
            Field("partition_max_bytes", "int32"))))))),
        Field("forgotten_topics_data", Array(struct(Field("topic", "string"), Field("partitions", Array("int32")))),
              since=7, default=[]),
        Field("rack_id", "string", since=11, default="")),
    response=struct(
        Field("throttle_time_ms", "int32", default=0), Field("error_code", "int16", since=7, default=0),
        Field("session_id", "int32", since=7, default=0),
        Field("responses", Array(struct(Field("topic", "string"), Field("partitions", Array(struct(
            Field("partition_index", "int32"), Field("error_code", "int16"), Field("high_watermark", "int64"),
            Field("last_stable_offset", "int64", default=-1), Field("log_start_offset", "int64", since=5, default=-1),
            Field("aborted_transactions", Array(struct(Field("producer_id", "int64"), Field("first_offset", "int64"))),
                  nullable=4),
            Field("preferred_read_replica", "int32", since=11, default=-1),
            Field("records", "records", nullable=0)))))))),
)

PRODUCE = Api(
    0, "Produce", 3, 8,
    request=struct(
        Field("transactional_id", "string", nullable=3), Field("acks", "int16"), Field("timeout_ms", "int32"),
        Field("topic_data", Array(struct(Field("name", "string"), Field("partition_data", Array(struct(
            Field("index", "int32"), Field("records", "records", nullable=0)))))))),
    response=struct(
        Field("responses", Array(struct(Field("name", "string"), Field("partition_responses", Array(struct(
            Field("index", "int32"), Field("error_code", "int16"), Field("base_offset", "int64"),
            Field("log_append_time_ms", "int64", default=-1), Field("log_start_offset", "int64", since=5, default=-1),
            Field("record_errors", Array(struct(Field("batch_index", "int32"),
                                                Field("batch_index_error_message", "string", nullable=8))),
                  since=8, default=[]),
            Field("error_message", "string", since=8, nullable=8))))))),
        Field("throttle_time_ms", "int32", default=0)),
)

INIT_PRODUCER_ID = Api(
    22, "InitProducerId", 0, 1,
    request=struct(Field("transactional_id", "string", nullable=0), Field("transaction_timeout_ms", "int32")),
    response=struct(Field("throttle_time_ms", "int32", default=0), Field("error_code", "int16"),
                    Field("producer_id", "int64"), Field("producer_epoch", "int16")),
)

APIS = {api.key: api for api in (API_VERSIONS, METADATA, LIST_OFFSETS, FETCH, PRODUCE, INIT_PRODUCER_ID)}
