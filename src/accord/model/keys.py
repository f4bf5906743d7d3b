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
    """``count`` time-ordered GUIDs for one batch, in ascending order.

    One clock read and one call for the random bits; each key is cut from their hex text
    (the version digit and the variant nibble set by hand), about twice as quick as building
    each from an integer. Sorted, a batch's records and couplings are appended to
    their key indexes in order.
    """
    millis = f"{time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF:012x}"
    head = f"{millis[:8]}-{millis[8:]}-7"
    noise = os.urandom(10 * count)
    digits = noise.hex()
    # 74 random bits a key: 12 after the version digit, 2 in the variant nibble (0b10xx: 8,
    # 9, a or b, from the key's tenth random byte) and 60 after it. Ten bytes a key, as hex.
    variant = "89ab"
    keys = [
        f"{head}{digits[i : i + 3]}-{variant[noise[j] & 3]}{digits[i + 3 : i + 6]}-"
        f"{digits[i + 6 : i + 18]}"
        for i, j in zip(range(0, 20 * count, 20), range(9, 10 * count, 10), strict=True)
    ]
    keys.sort()
    return keys


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
