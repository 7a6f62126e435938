"""Zxids: a 64-bit transaction id, the epoch in the high 32 bits and a counter
in the low 32, printed in hex as ZooKeeper prints them (``0x100000003``)."""

from __future__ import annotations


def make(epoch: int, counter: int) -> int:
    return (epoch << 32) | counter


def epoch_of(zxid: int) -> int:
    return zxid >> 32


def counter_of(zxid: int) -> int:
    return zxid & 0xFFFFFFFF


def hex_zxid(zxid: int) -> str:
    return hex(zxid)
