"""Schedules: durations, cron, and the reference's idle backoff (on hold after an idle run)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from accord.schedule.spec import Schedule, describe, parse_cron, parse_duration

NOW = datetime(2026, 12, 3, 10, 7, 30)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("1h", 3600), ("1d", 86400), (" 12h ", 43200)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["30", "5 minutes", "1.5h", "0s", "-1m", "m", "400d"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match=r"duration|longer than a year"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["*/15 * * *", "61 * * * *", "* * * * * *", "x * * * *"])
def test_bad_cron(text):
    with pytest.raises(ValueError, match="cron expression"):
        parse_cron(text)


def test_activity_keeps_the_interval_and_idleness_holds_for_the_backoff():
    s = Schedule(every=timedelta(minutes=30), idle_backoff=timedelta(hours=12))
    assert s.next_run(NOW, idle=False) == (NOW + timedelta(minutes=30), 1800.0)
    held_at, held = s.next_run(NOW, idle=True)
    assert (held_at, held) == (NOW + timedelta(hours=12), 43200.0)
    # still idle after the hold: held again; a run that finds work: back to every 30 minutes
    assert s.next_run(held_at, idle=True)[1] == 43200.0
    assert s.next_run(held_at, idle=False)[1] == 1800.0


def test_no_backoff_and_a_backoff_shorter_than_the_interval_change_nothing():
    assert Schedule(every=timedelta(hours=1), idle_backoff=None).next_run(NOW, idle=True)[1] == 3600
    short = Schedule(every=timedelta(hours=1), idle_backoff=timedelta(minutes=5))
    assert short.next_run(NOW, idle=True)[1] == 3600


def test_cron_fires_on_its_marks_and_holds_to_the_first_mark_after_the_backoff():
    s = Schedule(cron="*/15 * * * *", idle_backoff=timedelta(hours=1))
    assert s.next_run(NOW, idle=False)[0] == datetime(2026, 12, 3, 10, 15)
    assert s.next_run(NOW, idle=True)[0] == datetime(2026, 12, 3, 11, 15)
    on_mark = datetime(2026, 12, 3, 10, 15)
    assert s.next_run(on_mark, idle=False)[0] == datetime(2026, 12, 3, 10, 30)


def test_describe():
    assert [describe(x) for x in (5, 90, 1800, 43200, 86400 + 3600)] == [
        "5s",
        "1m 30s",
        "30m",
        "12h",
        "25h",
    ]
