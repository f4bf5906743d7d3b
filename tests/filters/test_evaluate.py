"""Python evaluation: SQL's three-valued logic, type mismatches, dates, GUIDs, functions."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from accord.filters import parse_filter
from accord.filters.evaluate import evaluate


def selects(text: str, record: dict[str, object]) -> bool:
    return parse_filter(text).matches(record)


@pytest.mark.parametrize(
    ("text", "record", "expected"),
    [
        ("a eq 'x'", {"a": "x"}, True),
        ("a eq 'x'", {"a": "X"}, False),
        ("a eq 'x'", {"a": "x "}, False),
        ("a ne 'x'", {"a": "y"}, True),
        ("a lt 'b'", {"a": "B"}, True),  # code-point order: 'B' < 'a' < 'b'
        ("a lt 'b'", {"a": "a"}, True),
        ("a gt 'a'", {"a": "B"}, False),
        ("n gt 2", {"n": 3}, True),
        ("n ge 3", {"n": 3}, True),
        ("n lt 3", {"n": 3}, False),
        ("n le 2.5", {"n": 2}, True),
        ("n eq 2.50", {"n": Decimal("2.5")}, True),
        ("n eq 2", {"n": 2.0}, True),
        ("n gt 2.25", {"n": 2.5}, True),
        ("b eq true", {"b": True}, True),
        ("b eq false", {"b": True}, False),
        ("b gt false", {"b": True}, True),
        ("a in ('x', 'y')", {"a": "y"}, True),
        ("a in ('x', 'y')", {"a": "z"}, False),
        ("n in (1, 2.5)", {"n": Decimal("2.5")}, True),
    ],
)
def test_comparisons(text, record, expected):
    assert selects(text, record) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # x is null, y is 1: unknown never selects, not even when negated (as in SQL).
        ("x eq 'a'", False),
        ("x ne 'a'", False),
        ("not (x eq 'a')", False),
        ("not (x ne 'a')", False),
        ("x gt 0", False),
        ("not (x gt 0)", False),
        ("x in ('a', 'b')", False),
        ("not (x in ('a', 'b'))", False),
        ("contains(x, '')", False),
        ("not contains(x, 'a')", False),
        ("x eq null", True),
        ("x ne null", False),
        ("not (x eq null)", False),
        ("y ne null", True),
        ("missing eq null", True),
        ("missing eq 1", False),
        # Kleene logic: a known operand can decide an and/or with an unknown one.
        ("x eq 'a' or y eq 1", True),
        ("x eq 'a' or y eq 2", False),
        ("not (x eq 'a' or y eq 2)", False),
        ("x eq 'a' and y eq 2", False),
        ("x eq 'a' and y eq 1", False),
        ("not (x eq 'a' and y eq 2)", True),
        ("not (x eq 'a' and y eq 1)", False),
        ("not not (y eq 1)", True),
    ],
)
def test_null_follows_three_valued_logic(text, expected):
    assert selects(text, {"x": None, "y": 1}) is expected


def test_evaluate_reports_unknown_as_none():
    record = {"x": None, "y": 1}
    assert evaluate(parse_filter("x eq 'a'").root, record) is None
    assert evaluate(parse_filter("x eq 'a' and y eq 1").root, record) is None
    assert evaluate(parse_filter("x eq 'a' and y eq 2").root, record) is False
    assert evaluate(parse_filter("x eq null").root, record) is True


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("v eq '1'", 1),
        ("v eq 1", "1"),
        ("v lt 'a'", 1),
        ("v gt 0", "1"),
        ("v eq 1", True),
        ("v eq true", 1),
        ("v gt 2024-01-01", "2024-06-01"),
        ("v eq 2024-01-01T00:00:00Z", dt.date(2024, 1, 1)),
        ("v lt 5", dt.date(2024, 1, 1)),
        ("v eq 'x'", b"x"),
        ("v eq 1", [1]),
        ("v in (1, 'a')", "1"),
        ("contains(v, '1')", 1),
        ("startswith(v, 'a')", b"abc"),
    ],
)
def test_values_of_another_type_never_match_and_never_crash(text, value):
    assert selects(text, {"v": value}) is False
    assert selects(f"not ({text})", {"v": value}) is False


def test_an_unknown_element_does_not_hide_a_match_in_an_in_list():
    assert selects("v in ('1', 1)", {"v": 1}) is True


def test_incomparable_values_of_one_kind_are_unknown():
    assert selects("v gt 1.5", {"v": Decimal("sNaN")}) is False
    assert selects("not (v gt 1.5)", {"v": Decimal("sNaN")}) is False


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("t eq 2024-01-01T10:00:00Z", dt.datetime(2024, 1, 1, 10), True),
        ("t eq 2024-01-01T11:00:00+01:00", dt.datetime(2024, 1, 1, 10), True),
        (
            "t eq 2024-01-01T10:00:00Z",
            dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            True,
        ),
        ("t gt 2024-01-01T10:00:00Z", dt.datetime(2024, 1, 1, 10, 0, 0, 1), True),
        ("t ge 2024-01-01", dt.datetime(2024, 1, 1), True),
        ("t eq 2024-01-01", dt.datetime(2024, 1, 1, 0, 0, 1), False),
        ("t lt 2024-01-02", dt.datetime(2024, 1, 1, 23, 59), True),
        ("d eq 2024-01-01", dt.date(2024, 1, 1), True),
        ("d lt 2024-01-01", dt.date(2023, 12, 31), True),
    ],
)
def test_dates_and_datetimes_compare_as_naive_utc(text, value, expected):
    assert selects(text, {"t": value, "d": value}) is expected


def test_guid_literal_matches_uuid_values_and_lower_case_text():
    guid = uuid.UUID("01234567-89ab-cdef-0123-456789abcdef")
    text = "id eq 01234567-89AB-CDEF-0123-456789ABCDEF"
    assert selects(text, {"id": guid}) is True
    assert selects(text, {"id": str(guid)}) is True
    assert selects(text, {"id": str(guid).upper()}) is False
    assert selects(text, {"id": uuid.uuid4()}) is False


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("contains(s, 'ell')", "Hello", True),
        ("contains(s, 'ELL')", "Hello", False),
        ("contains(s, '')", "", True),
        ("contains(s, '%')", "Hello", False),
        ("contains(s, '%')", "50%", True),
        ("contains(s, '_')", "a", False),
        ("startswith(s, 'He')", "Hello", True),
        ("startswith(s, 'he')", "Hello", False),
        ("startswith(s, 'Hello!')", "Hello", False),
        ("endswith(s, 'lo')", "Hello", True),
        ("endswith(s, 'LO')", "Hello", False),
        ("endswith(s, '')", "Hello", True),
        ("not endswith(s, 'lo')", "Hello", False),
    ],
)
def test_string_functions_are_case_sensitive_and_literal(text, value, expected):
    assert selects(text, {"s": value}) is expected
