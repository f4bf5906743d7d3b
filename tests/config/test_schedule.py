"""Schedule settings: ``every``, ``cron``, ``idle_backoff`` per mapping and ``[schedule]``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from accord.config import load_config
from tests.config.test_strict import load_error
from tests.reliability.configs import VALID, line_of

CURRENCY = 'name = "CURRENCY"\n'
CUSTOMER = 'name = "CUSTOMER"\n'


def with_lines(after: str, lines: str, text: str = VALID) -> str:
    assert after in text
    return text.replace(after, after + lines, 1)


def load(tmp_path: Path, text: str):
    path = tmp_path / "accord.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def test_mappings_without_a_schedule_are_not_scheduled(tmp_path):
    assert load(tmp_path, VALID).schedules == {}


def test_own_settings_and_defaults_from_the_schedule_section(tmp_path):
    text = with_lines(CURRENCY, 'every = "5m"\nidle_backoff = "off"\n')
    text = with_lines(CUSTOMER, 'cron = "*/15 * * * *"\n', text)
    text = text.replace("[state]", '[schedule]\nevery = "30m"\nidle_backoff = "1d"\n\n[state]')
    schedules = load(tmp_path, text).schedules
    assert schedules["CURRENCY"].every == timedelta(minutes=5)
    assert schedules["CURRENCY"].idle_backoff is None
    assert schedules["SALESPEOPLE"].every == timedelta(minutes=30)
    assert schedules["SALESPEOPLE"].idle_backoff == timedelta(days=1)
    assert schedules["CUSTOMER"].cron == "*/15 * * * *"
    assert schedules["CUSTOMER"].every is None


def test_the_backoff_defaults_to_the_reference_inactivity_timeout(tmp_path):
    schedules = load(tmp_path, with_lines(CURRENCY, 'every = "30m"\n')).schedules
    assert list(schedules) == ["CURRENCY"]
    assert schedules["CURRENCY"].idle_backoff == timedelta(hours=12)


@pytest.mark.parametrize(
    ("lines", "bad", "words"),
    [
        ('every = "30 minutes"\n', 'every = "30 minutes"', "every: '30 minutes' is not a duration"),
        ('every = "0s"\n', 'every = "0s"', "longer than zero"),
        ("every = 30\n", "every = 30", "string"),
        ('cron = "*/15 * * *"\n', 'cron = "*/15 * * *"', "five fields"),
        ('cron = "75 * * * *"\n', 'cron = "75 * * * *"', "not a cron expression"),
        ('every = "5m"\ncron = "* * * * *"\n', 'cron = "* * * * *"', "every or cron, not both"),
        ('every = "5m"\nidle_backoff = "never"\n', "idle_backoff", 'or "off"'),
        ('idle_backoff = "1h"\n', "idle_backoff", "idle_backoff without a schedule"),
        ('evry = "5m"\n', "evry", "evry"),
    ],
)
def test_a_bad_schedule_is_refused_at_its_line(tmp_path, lines, bad, words):
    text = with_lines(CUSTOMER, lines)
    error = load_error(tmp_path, text)
    assert words in error.message, error.message
    assert error.line == line_of(bad, text), (error.line, str(error))


@pytest.mark.parametrize(
    ("lines", "bad", "words"),
    [
        ('every = "2x"\n', 'every = "2x"', "schedule: every:"),
        ('every = "5m"\nidle_backoff = "5"\n', 'idle_backoff = "5"', "schedule: idle_backoff:"),
        ('every = "5m"\ncron = "* * * * *"\n', 'cron = "* * * * *"', "every or cron, not both"),
        ('every = "5m"\nextra = 1\n', "extra = 1", "extra"),
    ],
)
def test_a_bad_schedule_section_is_refused_at_its_line(tmp_path, lines, bad, words):
    text = VALID.replace("[state]", f"[schedule]\n{lines}\n[state]")
    error = load_error(tmp_path, text)
    assert words in error.message, error.message
    assert error.line == line_of(bad, text), (error.line, str(error))
