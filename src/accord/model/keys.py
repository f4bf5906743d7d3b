"""How the engine chooses the key of a record it is about to create.

Choosing the key before writing is what makes creation crash-safe: the pending coupling is
recorded with that key first, so a rerun finds the record (or its absence) by key.
"""

from __future__ import annotations

import os
import time
import uuid
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
    """``count`` time-ordered GUIDs, with one call for their random bits."""
    noise = os.urandom(10 * count)
    return [new_uuid(noise[10 * i : 10 * i + 10]) for i in range(count)]


def new_uuid(noise: bytes | None = None) -> str:
    """A time-ordered GUID (UUIDv7, RFC 9562): 48 bits of Unix milliseconds, then random bits.

    Keys created in a run sort after the keys before them, so inserting them only appends to
    B-tree indexes (the destination's primary key, the couplings' key index) instead of
    rewriting pages all over them: random uuid4 keys make every batch commit touch most of an
    index, which grows with the table. Any system that takes a GUID takes a UUIDv7.
    """
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(noise if noise is not None else os.urandom(10), "big")
    value = (
        (millis & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | ((random >> 62) & 0xFFF) << 64
        | 0b10 << 62
        | random & ((1 << 62) - 1)
    )
    return str(uuid.UUID(int=value))
