"""Shared helpers: uniquely named tables, and running a filter in SQL and in Python."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from accord.filters import Filter


@contextmanager
def unique_table(engine: sa.Engine, *columns: sa.Column[Any]) -> Iterator[sa.Table]:
    """Create a table with a name unique to this run, with an integer ``key``, then drop it."""
    name = f"accord_filters_{uuid.uuid4().hex[:12]}"
    table = sa.Table(name, sa.MetaData(), sa.Column("key", sa.Integer, primary_key=True), *columns)
    table.create(engine)
    try:
        yield table
    finally:
        table.drop(engine)


def replace_rows(
    connection: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Make ``rows`` the table's only content."""
    connection.execute(table.delete())
    if rows:
        connection.execute(table.insert(), [dict(row) for row in rows])


def sql_keys(connection: sa.Connection, table: sa.Table, flt: Filter) -> set[int]:
    """Keys of the rows the database selects with ``flt``."""
    columns = {column.key: column for column in table.c}
    query = sa.select(table.c.key).where(flt.to_sql(columns))
    return set(connection.execute(query).scalars())


def python_keys(rows: Sequence[Mapping[str, Any]], flt: Filter) -> set[int]:
    """Keys of the rows :meth:`Filter.matches` selects."""
    return {row["key"] for row in rows if flt.matches(row)}


def table_exists(engine: sa.Engine, table: sa.Table) -> bool:
    return sa.inspect(engine).has_table(table.name)
