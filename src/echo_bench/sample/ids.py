"""Snowflake-like ids: 19-digit strings whose high bits are the creation time.

Twitter ids since 2010 are snowflakes: milliseconds since the Twitter epoch
shifted left by 22 bits, the low 22 bits being a machine number (10 bits) and a
per-millisecond sequence (12 bits).  ``created_at`` of a post is its id's time
floored to the second, so ``snowflake_ms(post_id) // 1000 == created_at``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

TWITTER_EPOCH_MS = 1288834974657
_MACHINE_BITS = 10
_SEQUENCE_BITS = 12


def snowflake(ms: int, machine: int, sequence: int = 0) -> str:
    """The id string of a post created at epoch milliseconds ``ms``."""
    if ms < TWITTER_EPOCH_MS:
        raise ValueError(f"time {ms} ms is before the Twitter epoch")
    value = ((ms - TWITTER_EPOCH_MS) << (_MACHINE_BITS + _SEQUENCE_BITS)) | (machine << _SEQUENCE_BITS) | sequence
    return str(value)


def snowflake_ms(post_id: str | int) -> int:
    """Epoch milliseconds embedded in a snowflake id."""
    return (int(post_id) >> (_MACHINE_BITS + _SEQUENCE_BITS)) + TWITTER_EPOCH_MS


def iso_z(ms: int) -> str:
    """Twitter API v2 ``created_at`` of epoch milliseconds: second precision, ``.000Z``."""
    t = dt.datetime.fromtimestamp(ms // 1000, tz=dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class IdMaker:
    """Hands out unique snowflake ids; the same calls in the same order give the same ids."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def make(self, ms: int, rng: np.random.Generator) -> str:
        machine = int(rng.integers(0, 1 << _MACHINE_BITS))
        for sequence in range(1 << _SEQUENCE_BITS):
            candidate = snowflake(ms, machine, sequence)
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate
        raise RuntimeError(f"no free snowflake id left at {ms} ms")  # pragma: no cover

    def reserve(self, post_id: str) -> None:
        self.used.add(post_id)
