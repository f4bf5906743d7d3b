"""Syntax-tree nodes: invariants, equality that ignores positions but not literal types."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accord.filters import (
    And,
    Call,
    Comparison,
    ComparisonOperator,
    Field,
    Function,
    Guid,
    In,
    Literal,
    Not,
    Or,
)
from accord.filters.ast import iter_fields

EQ, GT = ComparisonOperator.EQ, ComparisonOperator.GT


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b", "and", "NULL", "In", "é"])
def test_field_rejects_names_the_parser_could_not_read_back(name):
    with pytest.raises(ValueError, match="not a valid field name"):
        Field(name)


def test_field_names_may_look_like_function_names():
    assert Field("contains").name == "contains"


def test_positions_do_not_take_part_in_equality_or_hashing():
    first = Comparison(Field("a", 0), EQ, Literal(1, 5))
    second = Comparison(Field("a", 9), EQ, Literal(1, 20))
    assert first == second
    assert len({first, second}) == 1


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (True, 1),
        (False, 0),
        (1, Decimal(1)),
        (Guid("01234567-89ab-cdef-0123-456789abcdef"), "01234567-89ab-cdef-0123-456789abcdef"),
        (dt.date(2024, 1, 1), dt.datetime(2024, 1, 1)),
    ],
)
def test_literals_of_different_kinds_are_not_equal(left, right):
    assert Literal(left) != Literal(right)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "null"),
        (True, "bool"),
        (3, "int"),
        (Decimal("1.5"), "decimal"),
        ("x", "str"),
        (Guid("01234567-89ab-cdef-0123-456789abcdef"), "guid"),
        (dt.datetime(2024, 1, 1), "datetime"),
        (dt.date(2024, 1, 1), "date"),
    ],
)
def test_literal_kind(value, kind):
    assert Literal(value).kind == kind


@pytest.mark.parametrize("value", [1.5, b"x", [1], dt.time(10)])
def test_literal_rejects_types_odata_cannot_write(value):
    with pytest.raises(TypeError):
        Literal(value)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_literal_rejects_non_finite_decimals(value):
    with pytest.raises(ValueError, match="finite"):
        Literal(value)


def test_literal_stores_aware_datetimes_as_naive_utc():
    zone = dt.timezone(dt.timedelta(hours=2))
    assert Literal(dt.datetime(2024, 1, 1, 10, tzinfo=zone)).value == dt.datetime(2024, 1, 1, 8)


def test_guid_is_lower_case_text():
    guid = Guid("01234567-89AB-CDEF-0123-456789ABCDEF")
    assert guid == "01234567-89ab-cdef-0123-456789abcdef"
    assert type(str(guid)) is str
    with pytest.raises(ValueError, match="not a GUID"):
        Guid("01234567-89ab")


def test_node_invariants():
    with pytest.raises(ValueError, match="null can only be compared with eq or ne"):
        Comparison(Field("a"), GT, Literal(None))
    with pytest.raises(ValueError, match="at least one value"):
        In(Field("a"), ())
    with pytest.raises(ValueError, match="null is not allowed"):
        In(Field("a"), (Literal(1), Literal(None)))
    with pytest.raises(ValueError, match="needs a quoted string"):
        Call(Function.CONTAINS, Field("a"), Literal(1))
    with pytest.raises(ValueError, match="needs a quoted string"):
        Call(Function.CONTAINS, Field("a"), Literal(Guid("01234567-89ab-cdef-0123-456789abcdef")))
    leaf = Comparison(Field("a"), EQ, Literal(1))
    with pytest.raises(ValueError, match="at least two operands"):
        And((leaf,))
    with pytest.raises(ValueError, match="at least two operands"):
        Or(())


def test_nodes_are_immutable():
    node = Comparison(Field("a"), EQ, Literal(1))
    with pytest.raises(AttributeError):
        node.op = GT  # type: ignore[misc]


def test_iter_fields_in_source_order_with_repeats():
    def leaf(name: str) -> Comparison:
        return Comparison(Field(name), EQ, Literal(1))

    tree = Or(
        (
            And((leaf("b"), Not(leaf("a")))),
            In(Field("c"), (Literal(1),)),
            Call(Function.ENDSWITH, Field("b"), Literal("x")),
        )
    )
    assert [item.name for item in iter_fields(tree)] == ["b", "a", "c", "b"]
