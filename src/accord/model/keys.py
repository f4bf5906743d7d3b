"""How the engine chooses the key of a record it is about to create.

Choosing the key before writing is what makes creation crash-safe: the pending coupling is
recorded with that key first, so a rerun finds the record (or its absence) by key.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """``uuid`` for GUID-keyed tables, or a number series such as ``C`` + 5 digits."""

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


def new_uuid() -> str:
    return str(uuid.uuid4())
