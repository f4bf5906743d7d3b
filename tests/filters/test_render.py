"""Rendering back to OData: canonical text, and parse(render(tree)) == tree for any tree."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings

from accord.filters import (
    And,
    Comparison,
    ComparisonOperator,
    Field,
    Literal,
    Not,
    Or,
    parse_filter,
)
from accord.filters.ast import iter_fields
from accord.filters.render import render, render_literal

from .strategies import any_trees


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("blocked   EQ ''", "blocked eq ''"),
        ("Name eq 'O''Bryan'", "Name eq 'O''Bryan'"),
        ("a In (1,2 ,  3)", "a in (1, 2, 3)"),
        ("CONTAINS(name,'50%_off')", "contains(name, '50%_off')"),
        ("a eq NULL", "a eq null"),
        ("a ne True", "a ne true"),
        ("a eq 12.50", "a eq 12.50"),
        ("a eq -7", "a eq -7"),
        ("a eq 2024-01-01", "a eq 2024-01-01"),
        ("a eq 2024-01-01T10:00+01:00", "a eq 2024-01-01T09:00:00Z"),
        ("a eq 2024-01-01T10:00:00.25Z", "a eq 2024-01-01T10:00:00.250000Z"),
        ("a eq 0001-01-01T00:00:00Z", "a eq 0001-01-01T00:00:00Z"),
        ("a eq 01234567-89AB-CDEF-0123-456789ABCDEF", "a eq 01234567-89ab-cdef-0123-456789abcdef"),
        (
            "a eq '01234567-89AB-CDEF-0123-456789ABCDEF'",
            "a eq '01234567-89AB-CDEF-0123-456789ABCDEF'",
        ),
        ("not a eq 1", "not (a eq 1)"),
        ("not a in (1)", "not (a in (1))"),
        ("not contains(a, 'x')", "not contains(a, 'x')"),
        ("not not a eq 1", "not not (a eq 1)"),
        ("not (a eq 1 and b eq 2)", "not (a eq 1 and b eq 2)"),
        ("((a eq 1))", "a eq 1"),
        ("(a eq 1) and (b eq 2)", "a eq 1 and b eq 2"),
        ("a eq 1 or b eq 2 and c eq 3", "a eq 1 or b eq 2 and c eq 3"),
        ("(a eq 1 or b eq 2) and c eq 3", "(a eq 1 or b eq 2) and c eq 3"),
        ("(a eq 1 and b eq 2) and c eq 3", "(a eq 1 and b eq 2) and c eq 3"),
        ("a eq 1 or (b eq 2 or c eq 3)", "a eq 1 or (b eq 2 or c eq 3)"),
        ("(a eq 1 and b eq 2) or c eq 3", "a eq 1 and b eq 2 or c eq 3"),
    ],
)
def test_canonical_text(text, canonical):
    assert render(parse_filter(text).root) == canonical


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal(5), "5.0"),
        (Decimal("1E+3"), "1000.0"),
        (Decimal("1E-7"), "0.0000001"),
        (Decimal("-0"), "-0.0"),
        (dt.datetime(2024, 1, 1, 10, 0, 0, 1), "2024-01-01T10:00:00.000001Z"),
        ("tab\there", "'tab\there'"),
    ],
)
def test_literals_render_so_they_read_back_as_the_same_kind(value, text):
    literal = Literal(value)
    assert render_literal(literal) == text
    parsed = parse_filter(f"x eq {text}").root
    assert isinstance(parsed, Comparison)
    assert parsed.value == literal


def test_nested_same_operator_keeps_its_shape():
    leaf = Comparison(Field("a"), ComparisonOperator.EQ, Literal(1))
    tree = And((leaf, And((leaf, Or((leaf, Or((leaf, leaf)))))), Not(Not(leaf))))
    assert parse_filter(render(tree)).root == tree


@settings(max_examples=150, deadline=None, database=None)
@given(any_trees)
def test_any_tree_round_trips_through_odata_text(tree):
    text = render(tree)
    parsed = parse_filter(text)
    assert parsed.root == tree
    assert [f.name for f in iter_fields(parsed.root)] == [f.name for f in iter_fields(tree)]
    assert parsed.to_odata() == text
