"""SQL compilation: the database selects exactly what ``matches`` selects, on SQLite and
PostgreSQL; values are always bound parameters; impossible comparisons are refused."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.default import CACHE_HIT

from accord.filters import FilterError, Literal, parse_filter
from accord.filters.render import render, render_literal

from .strategies import schema_cases, schema_columns
from .support import python_keys, replace_rows, sql_keys, table_exists, unique_table


def icu_collation(engine: sa.Engine) -> str | None:
    """A PostgreSQL collation that does not order by code point, to prove COLLATE "C" works."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as connection:
        query = sa.text("SELECT collname FROM pg_collation WHERE collname = 'und-x-icu'")
        found: str | None = connection.execute(query).scalar()
    return found


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def schema_table(request: pytest.FixtureRequest) -> Iterator[tuple[sa.Engine, sa.Table]]:
    engine: sa.Engine = request.getfixturevalue(f"{request.param}_engine")
    with unique_table(engine, *schema_columns(icu_collation(engine))) as table:
        yield engine, table


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=schema_cases())
def test_database_selects_exactly_the_rows_matches_accepts(schema_table, case):
    engine, table = schema_table
    tree, rows = case
    flt = parse_filter(render(tree))
    with engine.connect() as connection:
        replace_rows(connection, table, rows)
        assert sql_keys(connection, table, flt) == python_keys(rows, flt)
        connection.rollback()


@settings(max_examples=100, deadline=None, database=None)
@given(case=schema_cases(text_only=True))
def test_database_and_matches_agree_on_text_case_and_wildcards(schema_table, case):
    engine, table = schema_table
    tree, rows = case
    flt = parse_filter(render(tree))
    with engine.connect() as connection:
        replace_rows(connection, table, rows)
        assert sql_keys(connection, table, flt) == python_keys(rows, flt)
        connection.rollback()


NASTY = {
    1: "x'; DROP TABLE {table}; --",
    2: "/* */",
    3: "%",
    4: "_",
    5: "a%b",
    6: "a_b",
    7: "axb",
    8: "O'Bryan",
    9: "back\\slash",
    10: "--",
    11: "; SELECT 1",
    12: "AXB",
    13: "a/b",
}


def quoted(value: str) -> str:
    return render_literal(Literal(value))


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("name eq {v1}", {1}),
        ("name eq {v2}", {2}),
        ("name eq {v11}", {11}),
        ("name in ({v3}, {v4})", {3, 4}),
        ("contains(name, '%')", {3, 5}),
        ("contains(name, '_')", {1, 4, 6}),  # 1 holds the table's name
        ("startswith(name, 'a%')", {5}),
        ("endswith(name, '_b')", {6}),
        ("contains(name, 'x')", {1, 7}),
        ("startswith(name, 'AX')", {12}),
        ("contains(name, '\\')", {9}),
        ("contains(name, '/')", {2, 13}),
        ("contains(name, '--')", {1, 10}),
        ("contains(name, '''')", {1, 8}),
        ("endswith(name, '*/')", {2}),
        ("startswith(name, {v1})", {1}),
        ("not contains(name, '%')", set(NASTY) - {3, 5}),
        ("name gt 'a%' and name lt 'a_'", {5, 13}),
    ],
)
def test_injection_looking_values_are_plain_values(engine, template, expected):
    with unique_table(engine, sa.Column("name", sa.String(60))) as table:
        values = {key: value.format(table=table.name) for key, value in NASTY.items()}
        text = template.format(**{f"v{key}": quoted(value) for key, value in values.items()})
        flt = parse_filter(text)
        records = [{"key": key, "name": value} for key, value in values.items()]
        with engine.begin() as connection:
            replace_rows(connection, table, records)
        with engine.connect() as connection:
            assert sql_keys(connection, table, flt) == expected
        assert python_keys(records, flt) == expected
        assert table_exists(engine, table)
        with engine.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 13


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "pg"])
@pytest.mark.parametrize(
    "text",
    [
        "name eq 'x''; DROP TABLE t; --'",
        "name in ('/* evil */', 'x')",
        "contains(name, 'DROP TABLE')",
        "startswith(name, 'DROP TABLE')",
        "endswith(name, 'DROP TABLE')",
        "name lt 'DROP TABLE'",
    ],
)
def test_values_never_appear_in_the_sql_text(dialect, text):
    table = sa.Table("t", sa.MetaData(), sa.Column("name", sa.String))
    statement = sa.select(table).where(parse_filter(text).to_sql({"name": table.c.name}))
    compiled = statement.compile(dialect=dialect)
    assert "DROP" not in str(compiled)
    assert "evil" not in str(compiled)
    assert any("DROP" in str(value) or "evil" in str(value) for value in compiled.params.values())


def test_ordering_on_text_is_by_code_point_whatever_the_collation(engine):
    column = sa.Column("name", sa.String(10, collation=icu_collation(engine)))
    records = [{"key": 1, "name": "a"}, {"key": 2, "name": "B"}, {"key": 3, "name": "b"}]
    with unique_table(engine, column) as table, engine.connect() as connection:
        replace_rows(connection, table, records)
        for text in ["name lt 'b'", "name ge 'a'", "not (name gt 'B')", "name le 'Z'"]:
            flt = parse_filter(text)
            assert sql_keys(connection, table, flt) == python_keys(records, flt), text
        assert sql_keys(connection, table, parse_filter("name lt 'b'")) == {1, 2}


def test_case_insensitive_sqlite_columns_still_compare_exactly(sqlite_engine):
    column = sa.Column("name", sa.String(10, collation="NOCASE"))
    records = [{"key": 1, "name": "a"}, {"key": 2, "name": "A"}, {"key": 3, "name": "b"}]
    with unique_table(sqlite_engine, column) as table, sqlite_engine.connect() as connection:
        replace_rows(connection, table, records)
        for text, expected in [
            ("name eq 'a'", {1}),
            ("name ne 'a'", {2, 3}),
            ("name in ('A', 'x')", {2}),
            ("name lt 'a'", {2}),
            ("name gt 'B'", {1, 3}),
            ("contains(name, 'A')", {2}),
            ("startswith(name, 'a')", {1}),
            ("endswith(name, 'B')", set()),
        ]:
            flt = parse_filter(text)
            assert sql_keys(connection, table, flt) == expected, text
            assert python_keys(records, flt) == expected, text


def test_uuid_columns_compare_with_guid_literals(engine):
    ids = [uuid.UUID(int=n * 0x1111) for n in range(1, 5)]
    records: list[dict[str, Any]] = [{"key": n, "ref": value} for n, value in enumerate(ids)]
    records.append({"key": 9, "ref": None})
    with unique_table(engine, sa.Column("ref", sa.Uuid)) as table, engine.connect() as connection:
        replace_rows(connection, table, records)
        for text in [
            f"ref eq {str(ids[1]).upper()}",
            f"ref ne {ids[1]}",
            f"ref in ({ids[0]}, {ids[3]})",
            f"ref eq '{ids[2]}'",
            f"ref gt {ids[1]}",
            "ref eq null",
        ]:
            flt = parse_filter(text)
            assert sql_keys(connection, table, flt) == python_keys(records, flt), text
        assert sql_keys(connection, table, parse_filter(f"ref eq {ids[1]}")) == {1}


@pytest.mark.postgresql
def test_timezone_aware_columns_compare_in_utc(postgresql_engine):
    plus_two = dt.timezone(dt.timedelta(hours=2))
    records = [
        {"key": 1, "at": dt.datetime(2024, 1, 1, 10, tzinfo=plus_two)},
        {"key": 2, "at": dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC)},
    ]
    column = sa.Column("at", sa.DateTime(timezone=True))
    with (
        unique_table(postgresql_engine, column) as table,
        postgresql_engine.connect() as connection,
    ):
        connection.execute(sa.text("SET TIME ZONE 'America/New_York'"))
        replace_rows(connection, table, records)
        for text, expected in [
            ("at eq 2024-01-01T08:00:00Z", {1}),
            ("at eq 2024-01-01T11:00:00+01:00", {2}),
            ("at gt 2024-01-01T09:00:00Z", {2}),
            ("at ge 2024-01-01", {1, 2}),
        ]:
            flt = parse_filter(text)
            assert sql_keys(connection, table, flt) == expected, text
            assert python_keys(records, flt) == expected, text


def test_cached_statements_take_the_new_values(sqlite_engine):
    records = [{"key": 1, "name": "apple"}, {"key": 2, "name": "Banana"}, {"key": 3, "name": None}]
    with unique_table(sqlite_engine, sa.Column("name", sa.String)) as table:
        with sqlite_engine.begin() as connection:
            replace_rows(connection, table, records)
        cases = [
            ("contains(name, 'pp') or name lt 'B'", {1}),
            ("contains(name, 'an') or name lt 'C'", {2}),
            ("not endswith(name, 'e')", {2}),
            ("not endswith(name, 'a')", {1}),
        ]
        with sqlite_engine.connect() as connection:
            for index, (text, expected) in enumerate(cases):
                where = parse_filter(text).to_sql({"name": table.c.name})
                result = connection.execute(sa.select(table.c.key).where(where))
                assert set(result.scalars()) == expected, text
                if index % 2:
                    assert result.context.cache_hit is CACHE_HIT, text


def typed_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("name", sa.String),
        sa.Column("qty", sa.Integer),
        sa.Column("flag", sa.Boolean),
        sa.Column("at", sa.DateTime),
        sa.Column("day", sa.Date),
        sa.Column("ref", sa.Uuid),
        sa.Column("wrapped", sa.Integer().with_variant(sa.BigInteger(), "postgresql")),
    ]


TYPED = sa.Table("typed", sa.MetaData(), *typed_columns())
TYPED_COLUMNS = {column.key: column for column in TYPED.c}


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("qty eq '0'", 7, "field 'qty' holds numbers, so it cannot be compared with '0'"),
        ("qty in (1, true)", 11, "field 'qty' holds numbers, so it cannot be compared with true"),
        ("name eq 1", 8, "field 'name' holds text, so it cannot be compared with 1"),
        ("flag eq 1", 8, "field 'flag' holds booleans"),
        ("at gt 'yesterday'", 6, "field 'at' holds datetimes"),
        ("day eq 2024-01-01T00:00:00Z", 7, "field 'day' holds dates"),
        ("ref eq 'not a guid'", 7, "field 'ref' holds GUIDs"),
        ("ref eq 5", 7, "field 'ref' holds GUIDs"),
        ("contains(qty, '1')", 9, "contains() needs a text field, but 'qty' holds numbers"),
        ("nmae eq 'x'", 0, "unknown field 'nmae'"),
        ("name eq 'x' and (qty eq 1 or not contains(nmae, 'x'))", 42, "unknown field 'nmae'"),
    ],
)
def test_to_sql_refuses_what_it_cannot_compile_with_a_position(text, position, message):
    with pytest.raises(FilterError) as caught:
        parse_filter(text).to_sql(TYPED_COLUMNS)
    assert message in caught.value.message
    assert caught.value.position == position
    assert caught.value.text == text


TYPED_ROW = {
    "key": 1,
    "name": "n",
    "qty": 2,
    "flag": True,
    "at": dt.datetime(2024, 1, 1, 10),
    "day": dt.date(2024, 1, 1),
    "ref": uuid.UUID("01234567-89ab-cdef-0123-456789abcdef"),
    "wrapped": 5,
}


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        ("qty eq 1.5", False),  # not rounded to the column's type
        ("qty in (1, 1.5)", False),
        ("qty lt 2.5", True),
        ("at ge 2024-01-01", True),
        ("at eq 2024-01-01", False),
        ("at lt 2024-01-01T10:00:00Z", False),
        ("at eq 2024-01-01T11:00:00+01:00", True),
        ("day eq 2024-01-01", True),
        ("ref eq 01234567-89ab-cdef-0123-456789abcdef", True),
        ("ref eq '01234567-89AB-CDEF-0123-456789ABCDEF'", True),
        ("ref ne 01234567-89ab-cdef-0123-456789abcdee", True),
        ("flag ne false", True),
        ("flag gt false", True),
        ("wrapped gt 3", True),
        ("name eq null or qty ne null", True),
    ],
)
def test_literals_that_fit_are_converted_to_the_column_type(engine, text, selected):
    flt = parse_filter(text)
    expected = {1} if selected else set()
    assert python_keys([TYPED_ROW], flt) == expected
    with unique_table(engine, *typed_columns()) as table, engine.connect() as connection:
        replace_rows(connection, table, [TYPED_ROW])
        assert sql_keys(connection, table, flt) == expected


def test_type_decorators_are_checked_by_the_type_they_store():
    class Cents(sa.TypeDecorator[int]):
        impl = sa.Integer
        cache_ok = True

    column = sa.Column("price", Cents())
    parse_filter("price gt 100").to_sql({"price": column})
    with pytest.raises(FilterError, match="holds numbers"):
        parse_filter("price gt '100'").to_sql({"price": column})


def test_untyped_columns_accept_any_literal_as_a_bound_parameter():
    flt = parse_filter("x eq 'a' or x eq 1 or x eq 2.5 or x eq 2024-01-01 or contains(x, 'b')")
    compiled = sa.select(sa.column("k")).where(flt.to_sql({"x": sa.column("x")})).compile()
    assert "'a'" not in str(compiled)
    assert sorted(map(str, compiled.params.values())) == ["1", "2.5", "2024-01-01", "a", "b"]
