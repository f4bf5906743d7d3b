"""How the engine chooses the key of a record it is about to create.

Choosing the key before writing is what makes creation crash-safe: the pending coupling is
recorded with that key first, so a rerun finds the record (or its absence) by key.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """GUIDs (time-ordered, see :func:`new_uuid`), or a number series such as ``C`` + 5 digits."""

    series: str | None = None
    digits: int = 5

    @property
    def is_uuid(self) -> bool:
        return self.series is None

    def format(self, number: int) -> str:
        assert self.series is not None
        return f"{self.series}{number:0{self.digits}d}"

    def number_of(self, key: str) -> int | None:
        """The series number of ``key``, or None when the key is not of this series."""
        if self.series is None or not key.startswith(self.series):
            return None
        tail = key[len(self.series) :]
        return int(tail) if tail.isdigit() else None

    def describe(self) -> str:
        return "uuid" if self.series is None else f"{self.format(1)}, {self.format(2)}, …"


UUID_KEYS = KeyPolicy()


def new_uuids(count: int) -> list[str]:
    """``count`` time-ordered GUIDs, with one call for their random bits and one clock read."""
    noise = os.urandom(10 * count)
    head = _uuid7_head(time.time_ns() // 1_000_000)
    return [
        _formatted(head | _uuid7_tail(int.from_bytes(noise[i : i + 10], "big")))
        for i in range(0, 10 * count, 10)
    ]


def new_uuid(noise: bytes | None = None) -> str:
    """A time-ordered GUID (UUIDv7, RFC 9562): 48 bits of Unix milliseconds, then random bits.

    Keys created in a run sort after the keys before them, so inserting them only appends to
    B-tree indexes (the destination's primary key, the couplings' key index) instead of
    rewriting pages all over them: random uuid4 keys make every batch commit touch most of an
    index, which grows with the table. Any system that takes a GUID takes a UUIDv7.
    """
    random = int.from_bytes(noise if noise is not None else os.urandom(10), "big")
    return _formatted(_uuid7_head(time.time_ns() // 1_000_000) | _uuid7_tail(random))


def _uuid7_head(millis: int) -> int:
    """The timestamp, version (7) and variant (0b10) bits."""
    return (millis & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | 0b10 << 62


def _uuid7_tail(random: int) -> int:
    """80 random bits placed around the version and variant bits."""
    return ((random >> 62) & 0xFFF) << 64 | random & ((1 << 62) - 1)


def _formatted(value: int) -> str:
    """``str(uuid.UUID(int=value))`` without building the object."""
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
