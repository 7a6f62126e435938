"""The Java producer's partitioner, bit for bit.

A record with a key goes to ``toPositive(murmur2(key)) % partitions``
(``BuiltInPartitioner.partitionForKey``), so one key always lands in one
partition while the partition count stays the same. ``murmur2`` is
``org.apache.kafka.common.utils.Utils.murmur2``: MurmurHash2 with Kafka's seed,
computed in Java's 32-bit signed arithmetic.
"""

from __future__ import annotations

SEED = 0x9747B28C
M = 0x5BD1E995
R = 24
MASK = 0xFFFFFFFF


def _signed(value: int) -> int:
    value &= MASK
    return value - (1 << 32) if value & 0x80000000 else value


def murmur2(data: bytes) -> int:
    """``Utils.murmur2``: a signed 32-bit int, as Java returns it."""
    length = len(data)
    h = (SEED ^ length) & MASK
    for start in range(0, length - length % 4, 4):
        k = data[start] | data[start + 1] << 8 | data[start + 2] << 16 | data[start + 3] << 24
        k = (k * M) & MASK
        k ^= k >> R
        k = (k * M) & MASK
        h = (h * M) & MASK
        h ^= k
    tail = length & ~3
    remaining = length % 4
    # Java's switch falls through: case 3 also does case 2 and case 1.
    if remaining == 3:
        h ^= data[tail + 2] << 16
    if remaining >= 2:
        h ^= data[tail + 1] << 8
    if remaining >= 1:
        h ^= data[tail]
        h = (h * M) & MASK
    h ^= h >> 13
    h = (h * M) & MASK
    h ^= h >> 15
    return _signed(h)


def to_positive(number: int) -> int:
    """``Utils.toPositive``: clear the sign bit (not ``abs``)."""
    return number & 0x7FFFFFFF


def partition_for_key(key: bytes, partitions: int) -> int:
    """The partition of a keyed record."""
    if partitions <= 0:
        raise ValueError("a topic has at least one partition")
    return to_positive(murmur2(key)) % partitions


def java_string_hash(text: str) -> int:
    """``String.hashCode``: s[0]*31^(n-1) + ... + s[n-1], on UTF-16 code units, signed 32-bit."""
    h = 0
    encoded = text.encode("utf-16-be")
    for index in range(0, len(encoded), 2):
        h = (31 * h + (encoded[index] << 8 | encoded[index + 1])) & MASK
    return _signed(h)


def java_abs(number: int) -> int:
    """``Utils.abs``: like Math.abs, but Integer.MIN_VALUE gives 0, not a negative number."""
    return 0 if number == -(1 << 31) else abs(number)


def coordinator_partition(group_id: str, offsets_partitions: int = 50) -> int:
    """The ``__consumer_offsets`` partition of a group; its leader is the group's coordinator
    (``GroupMetadataManager.partitionFor``)."""
    return java_abs(java_string_hash(group_id)) % offsets_partitions
