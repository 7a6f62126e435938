"""Kafka's protocol errors with their codes (``org.apache.kafka.common.protocol.Errors``),
as exception classes named as kafka-python names them."""

from __future__ import annotations


class KafkaError(Exception):
    """Base of every error the model raises."""

    errno: int | None = None
    message = "UNKNOWN"
    retriable = False


class KafkaTimeoutError(KafkaError):
    """A synchronous call did not complete in time."""


class NoBrokersAvailable(KafkaError):
    """No broker answered the bootstrap."""


class CommitFailedError(KafkaError):
    """The group rebalanced before this consumer could commit."""


class OffsetOutOfRangeError(KafkaError):
    """The requested offset is outside the partition's log."""

    errno, message, retriable = 1, "OFFSET_OUT_OF_RANGE", False


class UnknownTopicOrPartitionError(KafkaError):
    """This broker does not host the topic or partition."""

    errno, message, retriable = 3, "UNKNOWN_TOPIC_OR_PARTITION", True


class LeaderNotAvailableError(KafkaError):
    """The partition is being led by no one (a leader election is under way)."""

    errno, message, retriable = 5, "LEADER_NOT_AVAILABLE", True


class NotLeaderForPartitionError(KafkaError):
    """The broker is not the partition's leader (Kafka: NOT_LEADER_OR_FOLLOWER)."""

    errno, message, retriable = 6, "NOT_LEADER_OR_FOLLOWER", True


class RequestTimedOutError(KafkaError):
    """The broker did not complete the request in time."""

    errno, message, retriable = 7, "REQUEST_TIMED_OUT", True


class GroupCoordinatorNotAvailableError(KafkaError):
    """The group coordinator is not available."""

    errno, message, retriable = 15, "COORDINATOR_NOT_AVAILABLE", True


class NotCoordinatorForGroupError(KafkaError):
    """This broker is not the group's coordinator."""

    errno, message, retriable = 16, "NOT_COORDINATOR", True


class NotEnoughReplicasError(KafkaError):
    """Fewer in-sync replicas than min.insync.replicas: nothing was written (acks=all)."""

    errno, message, retriable = 19, "NOT_ENOUGH_REPLICAS", True


class NotEnoughReplicasAfterAppendError(KafkaError):
    """Written by the leader, but the ISR shrank below min.insync.replicas before it was acknowledged."""

    errno, message, retriable = 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", True


class IllegalGenerationError(KafkaError):
    """The consumer's group generation is stale."""

    errno, message, retriable = 22, "ILLEGAL_GENERATION", False


class UnknownMemberIdError(KafkaError):
    """The coordinator does not know this member (its session expired)."""

    errno, message, retriable = 25, "UNKNOWN_MEMBER_ID", False


class RebalanceInProgressError(KafkaError):
    """The group is rebalancing."""

    errno, message, retriable = 27, "REBALANCE_IN_PROGRESS", False


class TopicAlreadyExistsError(KafkaError):
    """A topic with this name exists."""

    errno, message, retriable = 36, "TOPIC_ALREADY_EXISTS", False


class InvalidPartitionsError(KafkaError):
    """The number of partitions is invalid."""

    errno, message, retriable = 37, "INVALID_PARTITIONS", False


class InvalidReplicationFactorError(KafkaError):
    """The replication factor is invalid (e.g. larger than the number of brokers)."""

    errno, message, retriable = 38, "INVALID_REPLICATION_FACTOR", False


class InvalidTopicError(KafkaError):
    """The topic name is not valid (empty, too long, or with characters other than letters,
    digits, '.', '_' and '-')."""

    errno, message, retriable = 17, "INVALID_TOPIC_EXCEPTION", False


class MessageSizeTooLargeError(KafkaError):
    """The record is larger than the broker accepts (message.max.bytes)."""

    errno, message, retriable = 10, "MESSAGE_TOO_LARGE", False


class GroupLoadInProgressError(KafkaError):
    """The coordinator is still loading the group's offsets."""

    errno, message, retriable = 14, "COORDINATOR_LOAD_IN_PROGRESS", True


class InvalidConfigurationError(KafkaError):
    """A topic config name or value is not valid."""

    errno, message, retriable = 40, "INVALID_CONFIG", False


class NotControllerError(KafkaError):
    """The request went to a broker that is not the controller."""

    errno, message, retriable = 41, "NOT_CONTROLLER", True


class KafkaConnectionError(KafkaError):
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
