"""Parser and tokenizer: every construct, precedence, literals, and errors with positions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.filters import (
    And,
    Call,
    Comparison,
    ComparisonOperator,
    Field,
    Filter,
    FilterError,
    Function,
    Guid,
    In,
    Literal,
    Not,
    Or,
    parse_filter,
)

from .strategies import token_soup

EQ, NE, GT, GE, LT, LE = (
    ComparisonOperator.EQ,
    ComparisonOperator.NE,
    ComparisonOperator.GT,
    ComparisonOperator.GE,
    ComparisonOperator.LT,
    ComparisonOperator.LE,
)


def cmp(name: str, op: ComparisonOperator, value: object) -> Comparison:
    return Comparison(Field(name), op, Literal(value))  # type: ignore[arg-type]


def root(text: str) -> object:
    return parse_filter(text).root


def value_of(literal_text: str) -> object:
    node = root(f"x eq {literal_text}")
    assert isinstance(node, Comparison)
    return node.value.value


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("a eq 1", EQ),
        ("a ne 1", NE),
        ("a gt 1", GT),
        ("a ge 1", GE),
        ("a lt 1", LT),
        ("a le 1", LE),
    ],
)
def test_comparison_operators(text, op):
    assert root(text) == cmp("a", op, 1)


def test_in_list():
    assert root("code in ('A', 'B', 3)") == In(
        Field("code"), (Literal("A"), Literal("B"), Literal(3))
    )
    assert root("code in ('A')") == In(Field("code"), (Literal("A"),))


@pytest.mark.parametrize("function", list(Function))
def test_functions(function):
    assert root(f"{function.value}(name, 'x')") == Call(function, Field("name"), Literal("x"))


def test_not_and_or_and_parentheses():
    a, b, c = cmp("a", EQ, 1), cmp("b", EQ, 2), cmp("c", EQ, 3)
    assert root("not a eq 1") == Not(a)
    assert root("not (a eq 1)") == Not(a)
    assert root("not not a eq 1") == Not(Not(a))
    assert root("a eq 1 and b eq 2 and c eq 3") == And((a, b, c))
    assert root("a eq 1 or b eq 2 or c eq 3") == Or((a, b, c))
    assert root("(a eq 1 or b eq 2) and c eq 3") == And((Or((a, b)), c))
    assert root("(a eq 1 and b eq 2) and c eq 3") == And((And((a, b)), c))
    assert root("((a eq 1))") == a


def test_precedence_not_binds_tighter_than_and_which_binds_tighter_than_or():
    a, b, c = cmp("a", EQ, 1), cmp("b", EQ, 2), cmp("c", EQ, 3)
    assert root("a eq 1 or b eq 2 and c eq 3") == Or((a, And((b, c))))
    assert root("a eq 1 and b eq 2 or c eq 3") == Or((And((a, b)), c))
    assert root("not a eq 1 and b eq 2") == And((Not(a), b))
    assert root("not a eq 1 or b eq 2") == Or((Not(a), b))


def test_keywords_in_any_case_fields_case_sensitive():
    node = root("NOT Name EQ 'x' AnD code In (TRUE) oR CONTAINS(Name, 'y')")
    assert node == Or(
        (
            And((Not(cmp("Name", EQ, "x")), In(Field("code"), (Literal(True),)))),
            Call(Function.CONTAINS, Field("Name"), Literal("y")),
        )
    )
    assert root("a Eq NULL") == cmp("a", EQ, None)
    assert root("Name eq 1") != root("name eq 1")


def test_whitespace_is_free():
    assert root("  (a eq 1)and(b eq'x')  ") == And((cmp("a", EQ, 1), cmp("b", EQ, "x")))
    assert root("a\teq\n1") == cmp("a", EQ, 1)


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("'plain'", "plain"),
        ("''", ""),
        ("'O''Bryan'", "O'Bryan"),
        ("''''", "'"),
        ("'a''''b'", "a''b"),
        ("'and or not eq ( ) ,'", "and or not eq ( ) ,"),
        ("'日本'", "日本"),
        ("0", 0),
        ("-42", -42),
        ("007", 7),
        ("12.50", Decimal("12.50")),
        ("-0.001", Decimal("-0.001")),
        ("true", True),
        ("FALSE", False),
        ("null", None),
        ("2024-01-31", dt.date(2024, 1, 31)),
        ("2024-01-01T10:00:00Z", dt.datetime(2024, 1, 1, 10)),
        ("2024-01-01T10:00Z", dt.datetime(2024, 1, 1, 10)),
        ("2024-01-01T10:00:00", dt.datetime(2024, 1, 1, 10)),
        ("2024-01-01T10:00:00.5Z", dt.datetime(2024, 1, 1, 10, 0, 0, 500000)),
        ("2024-01-01T10:00:00.123456Z", dt.datetime(2024, 1, 1, 10, 0, 0, 123456)),
        ("2024-01-01T10:00:00+01:00", dt.datetime(2024, 1, 1, 9)),
        ("2024-01-01T00:30:00-02:30", dt.datetime(2024, 1, 1, 3)),
        ("2024-01-01T00:30:00+01:00", dt.datetime(2023, 12, 31, 23, 30)),
    ],
)
def test_literal_values(literal, expected):
    value = value_of(literal)
    assert value == expected
    assert type(value) is type(expected)


def test_guid_is_lower_cased_text_that_keeps_its_kind():
    value = value_of("01234567-89AB-cdef-0123-456789ABCDEF")
    assert isinstance(value, Guid)
    assert value == "01234567-89ab-cdef-0123-456789abcdef"
    assert root("a eq 01234567-89ab-cdef-0123-456789abcdef") != root(
        "a eq '01234567-89ab-cdef-0123-456789abcdef'"
    )


def test_guid_starting_with_letters_is_not_a_field():
    assert (
        value_of("abcdef01-0000-0000-0000-000000000000") == "abcdef01-0000-0000-0000-000000000000"
    )


def test_function_names_are_fields_when_not_called():
    assert root("contains eq 1") == cmp("contains", EQ, 1)


def test_positions_point_into_the_source():
    flt = parse_filter("  alpha eq 1 and contains(beta, 'x')")
    node = flt.root
    assert isinstance(node, And)
    first, second = node.operands
    assert isinstance(first, Comparison)
    assert isinstance(second, Call)
    assert (first.field.position, first.value.position) == (2, 11)
    assert (second.field.position, second.value.position) == (26, 32)


def test_parse_filter_keeps_the_text():
    flt = parse_filter(" a eq 1 ")
    assert isinstance(flt, Filter)
    assert flt.text == " a eq 1 "


BAD_FILTERS = [
    # (text, position, message fragment)
    ("", 0, "empty filter"),
    ("   \t", 0, "empty filter"),
    ("name eq 'abc", 8, "unterminated string"),
    ("name eq 'it''s", 8, "unterminated string"),
    ("name eq", 5, "expected a value after 'eq'"),
    ("name eq and x eq 1", 8, "expected a value after 'eq', found 'and'"),
    ("name eq )", 8, "expected a value after 'eq', found ')'"),
    ("name eq other", 8, "found field 'other'"),
    ("name", 0, "expected an operator (eq, ne, gt, ge, lt, le or in) after 'name'"),
    ("name 'x'", 5, "expected an operator (eq, ne, gt, ge, lt, le or in) after 'name', found 'x'"),
    ("name like 'x'", 5, "unknown operator 'like'"),
    ("name == 'x'", 5, "unexpected character '='"),
    (
        "name eq 'x' and",
        12,
        "expected a condition (a comparison, a function call, 'not' or '(') after 'and'",
    ),
    ("name eq 'x' or or", 15, "after 'or', found 'or'"),
    ("not", 0, "after 'not'"),
    (
        "and a eq 1",
        0,
        "expected a condition (a comparison, a function call, 'not' or '('), found 'and'",
    ),
    ("(a eq 1", 0, "missing ')' to close this '('"),
    ("((a eq 1)", 0, "missing ')' to close this '('"),
    ("a eq 1)", 6, "unexpected ')' without a matching '('"),
    (")", 0, "found ')'"),
    ("()", 1, "after '(', found ')'"),
    ("(a eq 1 b eq 2)", 8, "expected ')', 'and' or 'or', found 'b'"),
    ("a eq 1 b eq 2", 7, "expected 'and', 'or' or the end of the filter, found 'b'"),
    ("a eq 1 2", 7, "expected 'and', 'or' or the end of the filter, found '2'"),
    ("a eq 1 'junk'", 7, "found 'junk'"),
    ("a in ()", 6, "expected at least one value in the list after 'in'"),
    ("a in 1", 5, "expected '(' starting a list of values after 'in', found '1'"),
    ("a in", 2, "expected '(' starting a list of values after 'in'"),
    ("a in (1,)", 8, "expected a value after ',', found ')'"),
    ("a in (1 2)", 8, "expected ',' or ')' in the list of values, found '2'"),
    ("a in (1, 2", 5, "missing ')' to close this '('"),
    ("a in (1, null)", 9, "null is not allowed in an 'in' list"),
    ("a gt null", 5, "null can only be compared with eq or ne"),
    ("foo(a, 'x')", 0, "unknown function 'foo'"),
    ("contains(a 'x')", 11, "expected ',' and a quoted string in contains() after 'a'"),
    ("contains(a, 1)", 12, "expected a quoted string as the second argument of contains()"),
    ("contains('x', a)", 9, "expected a field name as the first argument of contains()"),
    ("contains(a, 'x'", 8, "missing ')' to close this '('"),
    ("contains(a, 'x' b)", 16, "expected ')' to end contains(), found 'b'"),
    ("a eq 2024-13-01", 5, "invalid value '2024-13-01': month must be in 1..12"),
    ("a eq 2024-02-30", 5, "invalid value '2024-02-30'"),
    ("a eq 2024-01-01T24:00:00Z", 5, "invalid value"),
    ("a eq 2024-01-01T10:00:00+24:00", 5, "invalid value"),
    ("a eq 2024-01-01T10:00:00.1234567Z", 5, "at most 6 fractional digits"),
    ("a eq 0001-01-01T00:00:00+01:00", 5, "invalid value"),
    ("a eq 12abc", 5, "invalid value '12abc'"),
    ("a eq 1.", 5, "invalid value '1.'"),
    ("a eq -", 5, "invalid value '-'"),
    ("a eq " + "9" * 5000, 5, "invalid value"),
    ("a eq .5", 5, "unexpected character '.'"),
    ("a eq 'x' $", 9, "unexpected character '$'"),
    ("a eq 1 and (" * 40 + "a eq 1" + ")" * 40, 11 + 12 * 32, "nested too deeply"),
    ("not " * 40 + "a eq 1", 4 * 32, "nested too deeply"),
]


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


@pytest.mark.parametrize(("text", "position", "fragment"), BAD_FILTERS, ids=_short)
def test_malformed_filters_name_the_position_and_what_was_expected(text, position, fragment):
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    error = caught.value
    assert fragment in error.message
    assert error.position == position
    assert error.text == text
    assert f"at position {position + 1}" in str(error)


def _check_outcome(text: str) -> None:
    try:
        flt = parse_filter(text)
    except FilterError as error:
        assert error.text == text
        assert 0 <= error.position < max(len(text), 1)
    else:
        assert parse_filter(flt.to_odata()) == flt


@settings(max_examples=2000, deadline=None, database=None)
@given(st.text())
def test_any_text_parses_or_raises_filter_error(text):
    _check_outcome(text)


@settings(max_examples=1000, deadline=None, database=None)
@given(token_soup)
def test_token_soup_parses_or_raises_filter_error(text):
    _check_outcome(text)
