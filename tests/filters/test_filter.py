"""The public Filter API: fields, check_fields, and_filters, equality, the three outputs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import accord.filters
from accord.errors import FilterError
from accord.filters import Filter, and_filters, parse_filter


def test_public_names():
    for name in accord.filters.__all__:
        assert hasattr(accord.filters, name), name
    assert accord.filters.FilterError is FilterError


def test_fields_are_every_name_referred_to():
    flt = parse_filter("a eq 1 and (not contains(b, 'x') or c in (1, 2)) and a ne null")
    assert flt.fields == frozenset({"a", "b", "c"})


def test_check_fields_accepts_known_fields():
    parse_filter("blocked eq '' and No ne null").check_fields({"blocked", "No", "Name"})


def test_check_fields_names_the_first_unknown_field_and_suggests_a_close_one():
    flt = parse_filter("No ne null and blokced eq '' and other eq 1")
    with pytest.raises(FilterError) as caught:
        flt.check_fields(["blocked", "No"])
    assert caught.value.message == "unknown field 'blokced' (did you mean 'blocked'?)"
    assert caught.value.position == 15
    assert caught.value.text == flt.text


def test_check_fields_without_a_close_name_just_names_the_field():
    with pytest.raises(FilterError) as caught:
        parse_filter("a eq 1 and zzz eq 2").check_fields(["a", "b"])
    assert caught.value.message == "unknown field 'zzz'"
    assert caught.value.position == 11


def test_field_names_are_case_sensitive_when_checked():
    with pytest.raises(FilterError, match="unknown field 'name'"):
        parse_filter("name eq 'x'").check_fields({"Name"})


def test_equality_and_hash_compare_the_tree_not_the_text():
    first = parse_filter("a eq 1 and b eq 'x'")
    assert parse_filter("  a EQ 1  And b eq 'x'") == first
    assert hash(parse_filter("  a EQ 1  And b eq 'x'")) == hash(first)
    assert parse_filter("a eq 1 and b eq 'y'") != first
    assert Filter(text="whatever", root=first.root) == first


def test_to_odata_round_trips():
    flt = parse_filter("NOT (a eq 1 or B gt 2.50) and startswith(c, 'it''s')")
    assert flt.to_odata() == "not (a eq 1 or B gt 2.50) and startswith(c, 'it''s')"
    assert parse_filter(flt.to_odata()) == flt


def test_matches_and_to_sql_agree_on_a_simple_table(sqlite_engine):
    table = sa.Table(
        "customers",
        sa.MetaData(),
        sa.Column("key", sa.Integer, primary_key=True),
        sa.Column("blocked", sa.String),
    )
    rows = [{"key": 1, "blocked": ""}, {"key": 2, "blocked": "All"}, {"key": 3, "blocked": None}]
    flt = parse_filter("blocked eq ''")
    assert [row["key"] for row in rows if flt.matches(row)] == [1]
    with sqlite_engine.connect() as connection:
        table.create(connection)
        connection.execute(table.insert(), rows)
        query = sa.select(table.c.key).where(flt.to_sql({"blocked": table.c.blocked}))
        assert connection.execute(query).scalars().all() == [1]
        connection.rollback()


def test_to_sql_reports_unknown_fields_at_their_position():
    with pytest.raises(FilterError) as caught:
        parse_filter("a eq 1 or b eq 2").to_sql({"a": sa.column("a")})
    assert caught.value.message == "unknown field 'b'"
    assert caught.value.position == 10


def test_and_filters_ignores_none():
    flt = parse_filter("a eq 1")
    assert and_filters() is None
    assert and_filters(None, None) is None
    assert and_filters(None, flt, None) is flt


def test_and_filters_combines_and_keeps_positions_in_its_own_text():
    first = parse_filter("a eq 1 or b eq 2")
    second = parse_filter("c eq 3")
    combined = and_filters(first, None, second)
    assert combined is not None
    assert combined == parse_filter("(a eq 1 or b eq 2) and c eq 3")
    assert combined.text == "(a eq 1 or b eq 2) and (c eq 3)"
    with pytest.raises(FilterError) as caught:
        combined.check_fields({"a", "b"})
    assert combined.text[caught.value.position :].startswith("c eq 3")
    assert combined.matches({"a": 1, "c": 3})
    assert not combined.matches({"a": 1, "c": 4})


def test_and_filters_of_three_keeps_each_part_grouped():
    parts = [parse_filter("a eq 1 or b eq 2"), parse_filter("c eq 3"), parse_filter("d eq 4")]
    combined = and_filters(*parts)
    assert combined is not None
    assert combined.to_odata() == "(a eq 1 or b eq 2) and c eq 3 and d eq 4"
