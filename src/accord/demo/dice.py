"""Seeded randomness for the demo generator: fast draws, GUIDs and modified-on stamps.

A 100,000-customer build draws a few million values. ``random.Random.choice`` and
``randrange`` spend most of their time in pure-Python rejection sampling, so ``Dice`` draws
everything from ``random()`` instead (the tiny bias does not matter for demo data), makes
timestamps from precomputed text, and offers each draw for a whole column at once
(``picks``, ``integers``, ...), which is what the generators use for their hot paths.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import repeat
from typing import TypeVar

__all__ = ["BASE_TIME", "SPAN_DAYS", "Dice", "stream"]

T = TypeVar("T")

BASE_TIME = datetime(2026, 1, 5, 8, 0, 0)
"""Earliest modified-on stamp; fixed (never the clock) so that a seed fixes the data."""

SPAN_DAYS = 300
"""Modified-on stamps spread over this many days after :data:`BASE_TIME`."""

_SPAN_SECONDS = SPAN_DAYS * 86400
_DAYS = tuple(
    (BASE_TIME.replace(hour=0) + timedelta(days=day)).strftime("%Y-%m-%d ")
    for day in range(SPAN_DAYS + 1)
)
_CLOCK = tuple(f"{minute // 60:02d}:{minute % 60:02d}:" for minute in range(1440))
# SQLAlchemy's text form of a SQLite DATETIME, so the engine's own writes sort with ours.
_SECONDS = tuple(f"{second:02d}.000000" for second in range(60))
_START = BASE_TIME.hour * 3600 + BASE_TIME.minute * 60
_CLEAR_VERSION = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_4 = (4 << 76) | (0x8000 << 48)


def stream(seed: int, part: str) -> Dice:
    """An independent, reproducible random stream for one part of the demo world.

    String seeds are hashed with SHA-512 by ``random``, so the stream does not depend on
    ``PYTHONHASHSEED`` and adding draws to one part does not reshuffle another.
    """
    return Dice(random.Random(f"accord-demo:{seed}:{part}"))


class Dice:
    """The draws the generator needs, all from one ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.random = rng.random

    def pick(self, options: Sequence[T]) -> T:
        """One of ``options``, uniformly."""
        return options[int(self.random() * len(options))]

    def between(self, low: int, high: int) -> int:
        """An integer in ``[low, high)``."""
        return low + int(self.random() * (high - low))

    def uniform(self, low: float, high: float) -> float:
        """A float in ``[low, high)``."""
        return low + (high - low) * self.random()

    def chance(self, probability: float) -> bool:
        """True with the given probability."""
        return self.random() < probability

    def sample(self, count: int, k: int) -> list[int]:
        """``k`` distinct integers from ``range(count)``."""
        return self.rng.sample(range(count), k)

    def guid(self) -> str:
        """A version-4 GUID as Dataverse writes it: lower case, with dashes."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def moment(self) -> str:
        """A modified-on stamp in the ~300 days after :data:`BASE_TIME`.

        Returned as SQLite stores a SQLAlchemy ``DateTime`` (``2026-03-14 09:26:53.000000``),
        because the loader hands rows straight to the driver.
        """
        seconds = _START + int(self.random() * _SPAN_SECONDS)
        day, seconds = divmod(seconds, 86400)
        minute, second = divmod(seconds, 60)
        return _DAYS[day] + _CLOCK[minute] + _SECONDS[second]

    # -- whole columns ----------------------------------------------------------------------

    def picks(self, options: Sequence[T], k: int) -> list[T]:
        """``k`` draws from ``options``."""
        rnd, size = self.random, len(options)
        return [options[int(rnd() * size)] for _ in repeat(None, k)]

    def integers(self, low: int, high: int, k: int) -> list[int]:
        """``k`` integers in ``[low, high)``."""
        rnd, size = self.random, high - low
        return [low + int(rnd() * size) for _ in repeat(None, k)]

    def uniforms(self, low: float, high: float, k: int) -> list[float]:
        """``k`` floats in ``[low, high)``."""
        rnd, size = self.random, high - low
        return [low + size * rnd() for _ in repeat(None, k)]

    def flags(self, probability: float, k: int) -> list[bool]:
        """``k`` booleans, each true with the given probability."""
        rnd = self.random
        return [rnd() < probability for _ in repeat(None, k)]

    def some(self, values: Sequence[T], probability: float, blank: T) -> list[T]:
        """``values`` with each one kept with the given probability and ``blank`` otherwise."""
        rnd = self.random
        return [value if rnd() < probability else blank for value in values]

    def guids(self, k: int) -> list[str]:
        """``k`` GUIDs, the same as ``k`` calls of :meth:`guid` but without building UUIDs."""
        bits = self.rng.getrandbits
        out = []
        for _ in repeat(None, k):
            # what uuid.UUID(int=..., version=4) does: set the version and variant bits
            text = f"{bits(128) & _CLEAR_VERSION | _VERSION_4:032x}"
            out.append(f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}")
        return out

    def moments(self, k: int) -> list[str]:
        """``k`` modified-on stamps (see :meth:`moment`)."""
        rnd, out = self.random, []
        for _ in repeat(None, k):
            seconds = _START + int(rnd() * _SPAN_SECONDS)
            day, seconds = divmod(seconds, 86400)
            minute, second = divmod(seconds, 60)
            out.append(_DAYS[day] + _CLOCK[minute] + _SECONDS[second])
        return out
