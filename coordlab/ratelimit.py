"""Rate limits: a token bucket, and budgets shared by everything one visitor opens.

A visitor is known by their browser session and by their network address; a
limit per socket would let ten sockets of one session send ten times as much.
So every socket and request of a visitor draws from the same buckets: one
``Budgets`` per kind of key (sessions, addresses) with a bucket per key, and
``spend`` takes a token from each of the visitor's buckets or from none.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any


class TokenBucket:
    """``rate`` actions per second on average, bursts up to ``burst``."""

    __slots__ = ("burst", "clock", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def available(self) -> bool:
        self._refill()
        return self.tokens >= 1

    def take(self) -> bool:
        """Spend one token if there is one; False means "slow down"."""
        self._refill()
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def wait(self) -> float:
        """Seconds until the next token."""
        self._refill()
        return max(0.0, (1 - self.tokens) / self.rate)


class Budgets:
    """One token bucket per key, shared by every socket and request that names the key.

    At most ``max_keys`` buckets are kept (the least recently used go first: a
    forgotten bucket is a full one, which only helps a visitor who went quiet).
    """

    def __init__(self, rate: float, burst: int, max_keys: int = 20_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        self.buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def bucket(self, key: str) -> TokenBucket:
        found = self.buckets.get(key)
        if found is None:
            found = self.buckets[key] = TokenBucket(self.rate, self.burst, self.clock)
            while len(self.buckets) > self.max_keys:
                self.buckets.popitem(last=False)
        else:
            self.buckets.move_to_end(key)
        return found

    def take(self, key: str) -> bool:
        return self.bucket(key).take()


def spend(draws: Iterable[tuple[Budgets, str]]) -> bool:
    """Spend a token from each (budgets, key) bucket, or from none if any of them is empty."""
    buckets = [budgets.bucket(key) for budgets, key in draws]
    if not all(bucket.available() for bucket in buckets):
        return False
    for bucket in buckets:
        bucket.take()
    return True


def wait(draws: Iterable[tuple[Budgets, str]]) -> float:
    """Seconds until every (budgets, key) bucket has a token again."""
    return max((budgets.bucket(key).wait() for budgets, key in draws), default=0.0)


def client_address(scope: dict[str, Any]) -> str:
    """The network address an ASGI connection or request comes from ("?" if the server did not say)."""
    client = scope.get("client")
    return str(client[0]) if client else "?"
