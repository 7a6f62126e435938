"""The model's errors are kazoo's: the same class names (what ``type(e).__name__`` prints),
the same bases, the same ZooKeeper codes, and kazoo's aliases, checked against the installed
kazoo."""

from __future__ import annotations

import inspect

import kazoo.exceptions as kazoo_exceptions
from kazoo.handlers.threading import KazooTimeoutError

from zookeeper_app.model import errors


def kazoos(name: str) -> type[BaseException]:
    return KazooTimeoutError if name == "KazooTimeoutError" else getattr(kazoo_exceptions, name)


def lineage(cls: type[BaseException]) -> list[str]:
    return [base.__name__ for base in cls.__mro__ if base not in (BaseException, object)]


def model_errors() -> dict[str, type[BaseException]]:
    return {name: cls for name, cls in vars(errors).items() if inspect.isclass(cls) and issubclass(cls, Exception)}


def test_every_error_and_alias_of_the_model_is_kazoos_by_name_and_bases():
    for name, ours in model_errors().items():
        theirs = kazoos(name)
        assert ours.__name__ == theirs.__name__, name
        assert lineage(ours) == lineage(theirs), name


def test_a_connection_loss_prints_as_kazoos_does():
    assert type(errors.error_for(errors.Code.CONNECTIONLOSS)).__name__ == "ConnectionLoss"
    assert errors.ConnectionLossException is errors.ConnectionLoss


def test_each_error_stands_for_the_code_kazoo_gives_it():
    for name, ours in model_errors().items():
        if issubclass(ours, errors.ZookeeperError) and ours is not errors.ZookeeperError:
            assert int(ours.code) == kazoos(name).code, name


def test_every_kazoo_alias_of_a_modelled_error_is_there():
    modelled = {cls.__name__ for cls in model_errors().values()}
    for name, cls in vars(kazoo_exceptions).items():
        if inspect.isclass(cls) and issubclass(cls, kazoo_exceptions.KazooException) and cls.__name__ in modelled:
            assert hasattr(errors, name), name
