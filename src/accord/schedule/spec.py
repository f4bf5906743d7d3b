"""When a mapping runs: its interval or cron expression, and the idle backoff (reference §4).

The reference gives every mapping a recurring job-queue entry (every 30 minutes). After a run
in which nothing was inserted, modified, deleted or failed, the entry goes "On Hold with
Inactivity Timeout": it waits the inactivity period (720 minutes) before it runs again; a run
that finds work puts it back on its normal interval. :func:`next_run` is that rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_SECONDS = 366 * 86400


def parse_duration(text: str) -> timedelta:
    """``"30s"``, ``"5m"``, ``"1h"``, ``"1d"`` → a timedelta; ValueError says what is wrong."""
    found = _DURATION.match(text)
    if not found:
        raise ValueError(
            f"'{text}' is not a duration: a whole number and a unit s, m, h or d (30s, 5m, 1h, 1d)"
        )
    seconds = int(found.group(1)) * _UNIT[found.group(2)]
    if seconds <= 0:
        raise ValueError(f"'{text}' is not a duration: it must be longer than zero")
    if seconds > MAX_SECONDS:
        raise ValueError(f"'{text}' is longer than a year")
    return timedelta(seconds=seconds)


def parse_cron(text: str) -> CronTrigger:
    """A five-field crontab expression (UTC); ValueError names what is wrong."""
    if len(text.split()) != 5:
        raise ValueError(
            f"'{text}' is not a cron expression: five fields (minute hour day month weekday)"
        )
    from apscheduler.triggers.cron import CronTrigger  # imported when used: a quick CLI start

    try:
        return CronTrigger.from_crontab(text, timezone=UTC)
    except ValueError as exc:
        raise ValueError(f"'{text}' is not a cron expression: {exc}") from None


def describe(seconds: float) -> str:
    """An interval as a person writes it: 30s, 5m, 12h, 1d 6h."""
    total = round(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if total >= size and total % size == 0:
            return f"{total // size}{unit}"
    if total >= 3600:
        return f"{total // 3600}h {total % 3600 // 60}m"
    if total >= 60:
        return f"{total // 60}m {total % 60}s"
    return f"{total}s"


@dataclass(frozen=True)
class Schedule:
    """One mapping's schedule: ``every`` or ``cron`` (one of the two), and the idle backoff.

    ``idle_backoff`` None: no backoff, an idle run is followed by the normal interval.
    """

    every: timedelta | None = None
    cron: str | None = None
    idle_backoff: timedelta | None = timedelta(hours=12)

    def text(self) -> str:
        if self.every is not None:
            return f"every {describe(self.every.total_seconds())}"
        return f"cron {self.cron}"

    def normal_after(self, now: datetime) -> datetime:
        """The next run after ``now`` when the last one found work (naive UTC in, out)."""
        if self.every is not None:
            return now + self.every
        assert self.cron is not None
        trigger = parse_cron(self.cron)
        fire: datetime | None = trigger.get_next_fire_time(
            None, now.replace(tzinfo=UTC) + timedelta(seconds=1)
        )
        assert fire is not None  # a valid five-field expression always fires again
        return fire.astimezone(UTC).replace(tzinfo=None)

    def next_run(self, now: datetime, *, idle: bool) -> tuple[datetime, float]:
        """(next run, interval now in seconds) after a run that ended at ``now``.

        Idle (nothing inserted, modified, deleted or failed) and a backoff set: on hold for
        the backoff, as the reference's inactivity timeout — for a cron schedule, the first
        firing at or after that. Otherwise: the normal interval (activity resets the hold).
        """
        normal = self.normal_after(now)
        if not idle or self.idle_backoff is None or self.idle_backoff <= normal - now:
            return normal, (normal - now).total_seconds()
        held = now + self.idle_backoff
        if self.cron is not None:
            held = self.normal_after(held - timedelta(seconds=1))
        return held, (held - now).total_seconds()
