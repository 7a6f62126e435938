"""Kafka's protocol errors with their codes (``org.apache.kafka.common.protocol.Errors``),
as exception classes named and derived as kafka-python's (``kafka.errors``), so that
``type(e).__name__`` and ``except RetriableError`` mean what they mean there. ``message``
is the name Kafka 3.x itself gives the code, which the lab shows: kafka-python still uses
older names for three of them (NOT_LEADER_FOR_PARTITION, INVALID_TOPIC,
MESSAGE_SIZE_TOO_LARGE). ``tests/kafka/test_kafka_python_names.py`` checks them against
the installed kafka-python."""

from __future__ import annotations


class KafkaError(Exception):
    """Base of every error the model raises."""

    errno: int | None = None
    message = "UNKNOWN"
    retriable = False


class BrokerResponseError(KafkaError):
    """An error code a broker answered with."""


class RetriableError(KafkaError):
    """Trying again may succeed."""

    retriable = True


class InvalidMetadataError(RetriableError):
    """The client's view of the cluster is out of date: it refreshes its metadata."""


class KafkaTimeoutError(RetriableError):
    """A synchronous call did not complete in time."""


class CommitFailedError(KafkaError):
    """The group rebalanced before this consumer could commit."""


class OffsetOutOfRangeError(BrokerResponseError):
    """The requested offset is outside the partition's log."""

    errno, message, retriable = 1, "OFFSET_OUT_OF_RANGE", False


class UnknownTopicOrPartitionError(InvalidMetadataError, BrokerResponseError):
    """This broker does not host the topic or partition."""

    errno, message, retriable = 3, "UNKNOWN_TOPIC_OR_PARTITION", True


class LeaderNotAvailableError(InvalidMetadataError, BrokerResponseError):
    """The partition is being led by no one (a leader election is under way)."""

    errno, message, retriable = 5, "LEADER_NOT_AVAILABLE", True


class NotLeaderForPartitionError(InvalidMetadataError, BrokerResponseError):
    """The broker is not the partition's leader (Kafka: NOT_LEADER_OR_FOLLOWER)."""

    errno, message, retriable = 6, "NOT_LEADER_OR_FOLLOWER", True


class RequestTimedOutError(RetriableError, BrokerResponseError):
    """The broker did not complete the request in time."""

    errno, message, retriable = 7, "REQUEST_TIMED_OUT", True


class NetworkExceptionError(InvalidMetadataError, BrokerResponseError):
    """The broker's connection closed before it answered (its process was killed)."""

    errno, message, retriable = 13, "NETWORK_EXCEPTION", True


class CoordinatorNotAvailableError(RetriableError, BrokerResponseError):
    """The group coordinator is not available."""

    errno, message, retriable = 15, "COORDINATOR_NOT_AVAILABLE", True


class NotCoordinatorError(RetriableError, BrokerResponseError):
    """This broker is not the group's coordinator."""

    errno, message, retriable = 16, "NOT_COORDINATOR", True


class NotEnoughReplicasError(RetriableError, BrokerResponseError):
    """Fewer in-sync replicas than min.insync.replicas: nothing was written (acks=all)."""

    errno, message, retriable = 19, "NOT_ENOUGH_REPLICAS", True


class NotEnoughReplicasAfterAppendError(RetriableError, BrokerResponseError):
    """Written by the leader, but the ISR shrank below min.insync.replicas before it was acknowledged."""

    errno, message, retriable = 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", True


class IllegalGenerationError(BrokerResponseError):
    """The consumer's group generation is stale."""

    errno, message, retriable = 22, "ILLEGAL_GENERATION", False


class UnknownMemberIdError(BrokerResponseError):
    """The coordinator does not know this member (its session expired)."""

    errno, message, retriable = 25, "UNKNOWN_MEMBER_ID", False


class RebalanceInProgressError(BrokerResponseError):
    """The group is rebalancing."""

    errno, message, retriable = 27, "REBALANCE_IN_PROGRESS", False


class TopicAlreadyExistsError(BrokerResponseError):
    """A topic with this name exists."""

    errno, message, retriable = 36, "TOPIC_ALREADY_EXISTS", False


class InvalidPartitionsError(BrokerResponseError):
    """The number of partitions is invalid."""

    errno, message, retriable = 37, "INVALID_PARTITIONS", False


class InvalidReplicationFactorError(BrokerResponseError):
    """The replication factor is invalid (e.g. larger than the number of brokers)."""

    errno, message, retriable = 38, "INVALID_REPLICATION_FACTOR", False


class InvalidTopicError(BrokerResponseError):
    """The topic name is not valid (empty, too long, or with characters other than letters,
    digits, '.', '_' and '-')."""

    errno, message, retriable = 17, "INVALID_TOPIC_EXCEPTION", False


class MessageSizeTooLargeError(BrokerResponseError):
    """The record is larger than the broker accepts (message.max.bytes)."""

    errno, message, retriable = 10, "MESSAGE_TOO_LARGE", False


class CoordinatorLoadInProgressError(RetriableError, BrokerResponseError):
    """The coordinator is still loading the group's offsets."""

    errno, message, retriable = 14, "COORDINATOR_LOAD_IN_PROGRESS", True


class InvalidConfigurationError(BrokerResponseError):
    """A topic config name or value is not valid."""

    errno, message, retriable = 40, "INVALID_CONFIG", False


class NotControllerError(RetriableError, BrokerResponseError):
    """The request went to a broker that is not the controller."""

    errno, message, retriable = 41, "NOT_CONTROLLER", True


class KafkaConnectionError(InvalidMetadataError):
    """The connection to a broker failed (its process is down)."""


class NoOffsetForPartitionError(KafkaError):
    """No committed offset and auto_offset_reset is 'none'."""


class IllegalStateError(KafkaError):
    """The call does not fit the client's state (e.g. seek on an unassigned partition)."""


def error_for(code: int) -> type[KafkaError]:
    """The exception class of a protocol error code."""
    return _BY_CODE.get(code, KafkaError)


_BY_CODE: dict[int, type[KafkaError]] = {
    cls.errno: cls for cls in list(globals().values())
    if isinstance(cls, type) and issubclass(cls, KafkaError) and cls.errno is not None
}
