"""How a table's modified-on column holds its versions, and how to read, select and stamp them.

Three storages are supported (anything else is refused when the table is described):

* ``native``: a DATETIME/TIMESTAMP column the driver returns as ``datetime`` (PostgreSQL,
  MariaDB). Compared and paged as the database's own type.
* ``iso``: text holding ISO-8601 (``2024-05-01 10:00:00``, ``2024-05-01T10:00:00.123Z``,
  ``…+02:00``, with or without fractions): TEXT/VARCHAR columns on every database, and
  DATETIME/TIMESTAMP columns on SQLite, which stores those as text too. Every form may be
  mixed in one column: the database compares a *normalised* value (SQLite) or a date prefix
  (elsewhere) to select a superset of the records modified after a point, and the connector
  keeps exactly those whose parsed version is later.
* ``epoch``: an INTEGER column of Unix time, in seconds or milliseconds. A value of at least
  ``MILLISECONDS_FROM`` is milliseconds (1973 in milliseconds, the year 5138 in seconds), so
  the two units may be mixed too.

Whatever the storage, :attr:`Record.version` is a naive-UTC ``datetime``. Pages always go on
from the raw value the database returned (never one rendered again in another format, which
the database would order elsewhere). A value that cannot be read as a version makes its record
fail alone, with the column and the value (see :func:`VersionFormat.version`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

_EPOCH = datetime(1970, 1, 1)
MILLISECONDS_FROM = 100_000_000_000
"""Epoch values from here on are milliseconds; below, seconds."""

_ISO_SHAPE = re.compile(
    r"^\d{4}-\d\d-\d\d(?P<sep>[T ])\d\d:\d\d(?::\d\d(?:\.(?P<frac>\d+))?)?"
    r"(?P<zone>Z|[+-]\d\d:?\d\d)?$"
)
_SQLITE_NORMAL = "%Y-%m-%d %H:%M:%f"
"""SQLite's strftime form of a time value in UTC, to the millisecond (offsets applied)."""


def shown(value: Any, limit: int = 40) -> str:
    """A value for a message: its repr, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


@dataclass(frozen=True, slots=True)
class TextForm:
    """The ISO-8601 spelling a text column uses, for the stamps Accord writes into it."""

    separator: str = " "
    digits: int = 6
    zone: str = ""  # "", "Z", or an offset such as "+02:00" / "+0200"

    @classmethod
    def of(cls, sample: str) -> TextForm | None:
        match = _ISO_SHAPE.match(sample.strip())
        if match is None:
            return None
        digits = min(len(match.group("frac") or ""), 6)
        return cls(match.group("sep"), digits, match.group("zone") or "")

    def offset(self) -> timedelta:
        if self.zone in ("", "Z"):
            return timedelta(0)
        sign = -1 if self.zone[0] == "-" else 1
        digits = self.zone[1:].replace(":", "")
        return sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))

    def render(self, stamp: datetime) -> str:
        local = stamp + self.offset()
        text = local.strftime(f"%Y-%m-%d{self.separator}%H:%M:%S")
        if self.digits:
            text += "." + f"{local.microsecond:06d}"[: self.digits]
        return text + self.zone


@dataclass(frozen=True, slots=True)
class VersionFormat:
    """The storage of one modified-on column (see the module docstring)."""

    storage: str  # "native", "iso" or "epoch"
    column: str
    text: TextForm | None = None  # iso: the form stamps are written in (None: SQLAlchemy's)
    milliseconds: bool = False  # epoch: stamps are written in milliseconds

    @property
    def exact(self) -> bool:
        """Whether the database's condition selects exactly (else the connector filters)."""
        return self.storage == "native"

    def version(self, raw: Any) -> tuple[datetime | None, str]:
        """The naive-UTC version of a raw value, or None and why it cannot be read."""
        if raw is None:
            return None, ""
        try:
            if self.storage == "epoch":
                if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                    raise ValueError("not a number")
                seconds = raw / 1000 if abs(raw) >= MILLISECONDS_FROM else raw
                moment = _EPOCH + timedelta(seconds=seconds)
                return moment, ""
            if isinstance(raw, datetime):
                return _naive_utc(raw), ""
            if self.storage == "iso" and isinstance(raw, str) and raw.strip():
                return _naive_utc(datetime.fromisoformat(raw.strip())), ""
        except (ValueError, OverflowError, OSError):
            pass
        return None, (
            f"column '{self.column}': cannot read the modified-on value {shown(raw)} as a "
            f"{'Unix time' if self.storage == 'epoch' else 'date and time'}"
        )

    def after(
        self,
        column: sa.ColumnElement[Any],
        bound: datetime,
        dialect: str,
        *,
        surely: bool = False,
    ) -> Any:
        """A condition that holds for every value later than ``bound``, and for values that
        cannot be read but sort after it (text that does not start like a date), so that
        their records fail rather than go unseen. For storages that are not :attr:`exact`
        it also holds for some values just before; ``surely`` gives the condition that holds
        only for values later (and those unreadable ones)."""
        if self.storage == "native":
            return column > bound
        if self.storage == "epoch":
            since = bound - _EPOCH
            seconds, millis = since // timedelta(seconds=1), since // timedelta(milliseconds=1)
            step = 1 if surely else 0
            return sa.or_(
                sa.and_(column >= seconds + step, column < MILLISECONDS_FROM),
                column >= millis + step,
            )
        # A raw lower bound first, which an index on the column serves: from 12 hours
        # before (the most a time zone lags UTC) in the smallest form ('T' sorts after ' ').
        text: sa.ColumnElement[Any] = sa.type_coerce(column, sa.String())
        if dialect == "sqlite":
            # then the value normalised by SQLite (offsets applied), which keeps a time to the
            # millisecond, rounded: a margin of one either way.
            normal = sa.func.strftime(_SQLITE_NORMAL, column)
            at = bound.replace(microsecond=bound.microsecond // 1000 * 1000)
            at += timedelta(milliseconds=2 if surely else -1)
            lower = (bound - timedelta(hours=12)).strftime("%Y-%m-%d %H:%M:%S")
            return sa.and_(
                text >= lower,
                sa.or_(
                    normal >= at.strftime("%Y-%m-%d %H:%M:%S.") + f"{at.microsecond // 1000:03d}",
                    normal.is_(None),  # not a time: read, to fail
                ),
            )
        # Elsewhere by the date alone: from the day before on; surely from two days after.
        if dialect == "postgresql":
            text = text.collate("C")
        day = (bound + timedelta(days=2 if surely else -1)).date().isoformat()
        return text >= day

    def keep(self, version: datetime | None, error: str, bound: datetime | None) -> bool:
        """Whether a record read with ``after(bound)`` belongs to the read."""
        if bound is None or self.exact or error:
            return True
        return version is not None and version > bound

    def stamp(self, now: datetime, fractional_digits: int) -> tuple[datetime, Any]:
        """The version a write records and the value it stores, cut to what the column keeps."""
        if self.storage == "epoch":
            unit = 1000 if self.milliseconds else 1_000_000
        elif self.storage == "iso" and self.text is not None:
            unit = 10 ** (6 - self.text.digits)
        else:
            unit = 10 ** (6 - fractional_digits)
        stamp = now.replace(microsecond=now.microsecond // unit * unit)
        return stamp, self.stored(stamp)

    def stored(self, version: datetime) -> Any:
        """``version`` in the column's own form, as Accord writes it."""
        if self.storage == "epoch":
            delta = version - _EPOCH
            return int(delta // timedelta(milliseconds=1 if self.milliseconds else 1000))
        if self.storage == "iso" and self.text is not None:
            return self.text.render(version)
        return version


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


SUPPORTED = (
    "DATETIME/TIMESTAMP, text (TEXT/VARCHAR) holding ISO-8601, or INTEGER Unix time in "
    "seconds or milliseconds"
)
