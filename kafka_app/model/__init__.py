"""The Kafka cluster model (pure Python, no Django): brokers on a ZooKeeper
ensemble, a controller elected through ZooKeeper, replicated partitions,
producers, consumer groups, retention and compaction, and clients shaped like
kafka-python's.

    from kafka_app.model import Cluster, NewTopic, TopicPartition
    cluster = Cluster(brokers=3, zookeeper=3, seed=7)
"""

from __future__ import annotations

from .api import FutureRecordMetadata, KafkaAdminClient, KafkaConsumer, KafkaProducer
from .cluster import Cluster
from .errors import (
    CommitFailedError,
    IllegalStateError,
    InvalidConfigurationError,
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    InvalidTopicError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NoOffsetForPartitionError,
    NotEnoughReplicasAfterAppendError,
    NotEnoughReplicasError,
    NotLeaderForPartitionError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from .records import ConsumerRecord, NewPartitions, NewTopic, OffsetAndMetadata, RecordMetadata, TopicPartition

__all__ = [
    "Cluster", "CommitFailedError", "ConsumerRecord", "FutureRecordMetadata", "IllegalStateError",
    "InvalidConfigurationError", "InvalidPartitionsError", "InvalidReplicationFactorError", "InvalidTopicError",
    "KafkaAdminClient", "KafkaConsumer", "KafkaError", "KafkaProducer", "KafkaTimeoutError",
    "MessageSizeTooLargeError", "NewPartitions", "NewTopic", "NoOffsetForPartitionError",
    "NotEnoughReplicasAfterAppendError", "NotEnoughReplicasError", "NotLeaderForPartitionError",
    "OffsetAndMetadata", "RecordMetadata", "TopicAlreadyExistsError", "TopicPartition",
    "UnknownTopicOrPartitionError",
]
