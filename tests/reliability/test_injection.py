"""Filter values that look like SQL are plain values, on SQLite and on PostgreSQL.

Each value goes into a real table, then ``name eq '<value>'`` (OData quoting: a quote is
doubled) must select exactly that row, through the compiled filter and through the SQL
connector's ``read(filter=...)``, and the table must still hold every row afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from accord.connectors.sql.connector import SqlConnector
from accord.filters import Literal, parse_filter
from accord.filters.render import render_literal
from tests.services import postgresql_schema

TABLE = "victim"
VALUES = [
    "plain",
    "O'Brien",
    "''",
    "'",
    "it''s doubled",
    "x'; DROP TABLE victim; --",
    "'; DROP TABLE victim; --",
    "' OR 1=1 --",
    "' OR '1'='1",
    "1 OR 1=1",
    "a; DELETE FROM victim",
    "-- just a comment",
    "/* block */ comment",
    "*/ closes nothing /*",
    "back\\slash",
    "trailing backslash\\",
    "\\'; DROP TABLE victim; --",
    "E'\\x41'",
    "$$dollar quoted$$",
    "$1 and ? and %s and %(name)s and :name",
    "%",
    "_",
    "a%b_c",
    '"double" "quotes"',
    "`backticks`",
    "tab\tnew\nline\rreturn",
    "unicode é ß 名前 \U0001f600 \u202e",
    "ＳＥＬＥＣＴ ＊",  # fullwidth
    "  surrounding spaces  ",
    "UPPER",
    "upper",
]


def quoted(value: str) -> str:
    """The OData literal for ``value``: in quotes, with each quote doubled."""
    text = "'" + value.replace("'", "''") + "'"
    assert text == render_literal(Literal(value))
    return text


def rows() -> list[dict[str, object]]:
    return [{"id": f"K{n:03d}", "name": value} for n, value in enumerate(VALUES)]


def victim_table() -> sa.Table:
    return sa.Table(
        TABLE,
        sa.MetaData(),
        sa.Column("id", sa.String(10), primary_key=True),
        sa.Column("name", sa.String(200)),
    )


def create_table(url: str) -> None:
    table = victim_table()
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        table.create(engine)
        with engine.begin() as connection:
            connection.execute(table.insert(), rows())
    finally:
        engine.dispose()


def assert_table_intact(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        assert sa.inspect(engine).has_table(TABLE)
        with engine.connect() as connection:
            names = connection.execute(sa.text(f"SELECT name FROM {TABLE}")).scalars().all()
        assert sorted(names) == sorted(VALUES)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a database holding the victim table with one row per value."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'victim.db'}"
        create_table(url)
        yield url
    else:
        with postgresql_schema() as url:
            create_table(url)
            yield url


def test_every_value_selects_exactly_its_own_row(database: str) -> None:
    table = victim_table()
    engine = sa.create_engine(database, poolclass=sa.pool.NullPool)
    columns = {column.key: column for column in table.c}
    try:
        with engine.connect() as connection:
            for expected in rows():
                flt = parse_filter(f"name eq {quoted(str(expected['name']))}")
                assert flt.matches(expected)
                query = sa.select(table.c.id).where(flt.to_sql(columns))
                assert connection.execute(query).scalars().all() == [expected["id"]], flt.text
                ne = parse_filter(f"not (name eq {quoted(str(expected['name']))})")
                query = sa.select(sa.func.count()).select_from(table).where(ne.to_sql(columns))
                assert connection.execute(query).scalar_one() == len(VALUES) - 1, ne.text
    finally:
        engine.dispose()
    assert_table_intact(database)


def test_the_sql_connector_reads_exactly_the_matching_record(database: str) -> None:
    connector = SqlConnector("victims", url=database, tables={}, options={})
    try:
        for expected in rows():
            value = str(expected["name"])
            for text in (
                f"name eq {quoted(value)}",
                f"name in ({quoted(value)}, 'no such value')",
                f"name ge {quoted(value)} and name le {quoted(value)}",
            ):
                flt = parse_filter(text)
                batches = list(connector.read(TABLE, filter=flt))
                found = [(r.key, r.values["name"]) for batch in batches for r in batch]
                assert found == [(expected["id"], value)], text
                assert connector.count(TABLE, filter=flt) == 1, text
            contains = parse_filter(f"contains(name, {quoted(value)})")
            found_keys = {r.key for batch in connector.read(TABLE, filter=contains) for r in batch}
            assert expected["id"] in found_keys
            assert found_keys == {str(r["id"]) for r in rows() if value in str(r["name"])}
    finally:
        connector.close()
    assert_table_intact(database)
