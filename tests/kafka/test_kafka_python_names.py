"""The model's Kafka errors are kafka-python's: the same class names, the same bases (so
``except RetriableError`` catches what it catches there), the same codes and the same
retriable flag, checked against the installed kafka-python. Only ``message`` differs where
kafka-python still uses an older name than Kafka 3.x's."""

from __future__ import annotations

import inspect

import kafka.errors as kafka_python

from kafka_app.model import errors

#: Kafka 3.x's names for codes that kafka-python still calls by their older ones
RENAMED = {"NOT_LEADER_FOR_PARTITION": "NOT_LEADER_OR_FOLLOWER", "INVALID_TOPIC": "INVALID_TOPIC_EXCEPTION",
           "MESSAGE_SIZE_TOO_LARGE": "MESSAGE_TOO_LARGE"}


def model_errors() -> dict[str, type[Exception]]:
    return {name: cls for name, cls in vars(errors).items() if inspect.isclass(cls) and issubclass(cls, Exception)}


def test_every_error_of_the_model_is_kafka_pythons_by_name_bases_code_and_retriability():
    for name, ours in model_errors().items():
        theirs = getattr(kafka_python, name)
        assert ours.__name__ == theirs.__name__, name
        assert [b.__name__ for b in ours.__bases__] == [b.__name__ for b in theirs.__bases__], name
        assert ours.errno == getattr(theirs, "errno", None), name
        assert ours.retriable == theirs.retriable, name


def test_each_code_has_kafkas_own_name():
    for ours in model_errors().values():
        theirs = getattr(kafka_python, ours.__name__)
        if ours.errno is not None:
            assert ours.message == RENAMED.get(theirs.message, theirs.message), ours.__name__


def test_a_retriable_broker_answer_is_caught_as_kafka_python_catches_it():
    assert issubclass(errors.NotLeaderForPartitionError, errors.RetriableError)
    assert issubclass(errors.NotEnoughReplicasError, errors.BrokerResponseError)
    assert not issubclass(errors.RebalanceInProgressError, errors.RetriableError)
    assert errors.error_for(6) is errors.NotLeaderForPartitionError
