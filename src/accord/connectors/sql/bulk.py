"""executemany without SQLAlchemy's per-row parameter machinery.

``conn.execute(stmt, rows)`` rebuilds every row's parameters through the compiler (about ten
microseconds a row), which dominates a bulk write. Here the statement is compiled once, each
bind parameter's type processor is looked up once, and the driver gets plain tuples (or
dicts for drivers with named parameters). Anything unusual falls back to ``conn.execute``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql.dml import UpdateBase


def execute_many(
    conn: sa.Connection, stmt: UpdateBase, rows: Sequence[Mapping[str, Any]]
) -> sa.CursorResult[Any]:
    """Run ``stmt`` once per row of ``rows`` (all rows have the same keys)."""
    if len(rows) < 2:
        return conn.execute(stmt, list(rows))
    return execute_columns(conn, stmt, {name: [row[name] for row in rows] for name in rows[0]})


def execute_columns(
    conn: sa.Connection, stmt: UpdateBase, columns: Mapping[str, Sequence[Any]]
) -> sa.CursorResult[Any]:
    """:func:`execute_many` for parameters given by column: name → one value per row."""
    keys = list(columns)
    count = len(columns[keys[0]]) if keys else 0
    if count < 2:
        return conn.execute(stmt, [{k: columns[k][i] for k in keys} for i in range(count)])
    compiled = stmt.compile(dialect=conn.dialect, column_keys=keys)
    names = list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
    if set(names) != set(keys) or compiled.literal_execute_params or compiled.post_compile_params:
        return conn.execute(stmt, [{k: columns[k][i] for k in keys} for i in range(count)])
    values = _bound_columns(conn, compiled, names, columns)
    params: list[Any] = list(zip(*values, strict=True))
    if not compiled.positional:
        params = [dict(zip(names, row, strict=True)) for row in params]
    return conn.exec_driver_sql(compiled.string, params)


COPY_FROM = 64
"""Rows from which a PostgreSQL insert goes as ``COPY`` (below, pipelined executemany)."""


def insert_columns(
    conn: sa.Connection, table: sa.Table, columns: Mapping[str, Sequence[Any]]
) -> int:
    """Insert rows given by column into ``table``; returns how many.

    On PostgreSQL (psycopg 3) a bulk insert is one ``COPY … FROM STDIN`` in the connection's
    transaction: one round trip for the batch where even a pipelined ``executemany`` sends a
    statement per row. The values go through the same SQLAlchemy bind processors as an
    ``INSERT`` would (JSON, enums, type decorators), and a row the server refuses fails the
    whole ``COPY`` with the same error class (an ``IntegrityError`` for a duplicate key), so
    callers fall back exactly as they would after a failed ``executemany``. Other databases
    (and small batches) use :func:`execute_columns`.
    """
    keys = list(columns)
    count = len(columns[keys[0]]) if keys else 0
    if count == 0:
        return 0
    if count < COPY_FROM or conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        execute_columns(conn, table.insert(), columns)
        return count
    stmt = table.insert()
    compiled = stmt.compile(dialect=conn.dialect, column_keys=keys)
    names = list(compiled.positiontup or []) if compiled.positional else list(compiled.binds)
    if set(names) != set(keys) or compiled.literal_execute_params or compiled.post_compile_params:
        execute_columns(conn, stmt, columns)
        return count
    values = _bound_columns(conn, compiled, names, columns)
    quote = conn.dialect.identifier_preparer
    sql = (
        f"COPY {quote.format_table(table)} ({', '.join(quote.quote(n) for n in names)}) FROM STDIN"
    )
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        with cursor.copy(sql) as copy:
            write = copy.write_row
            for row in zip(*values, strict=True):
                write(row)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(
            sql, None, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from None
    finally:
        cursor.close()
    return count


def _bound_columns(
    conn: sa.Connection, compiled: Any, names: Sequence[str], columns: Mapping[str, Sequence[Any]]
) -> list[Sequence[Any]]:
    """Each column's values through its bind processor, in the order of ``names``."""
    # NOTE: _bind_processors is SQLAlchemy's own per-bind lookup (stable since 1.4): the
    # same conversions conn.execute would apply, computed once for the statement.
    processors: Mapping[str, Any] = compiled._bind_processors
    values = []
    for name in names:
        column = columns[name]
        process = processors.get(name)
        if process is not None:
            bind = compiled.binds.get(name)
            if bind is not None:
                process = _faster(process, bind.type, conn.dialect)
        values.append(column if process is None else _processed(column, process))
    return values


_SQLITE_DATETIME = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)


def _faster(process: Any, type_: Any, dialect: sa.Dialect) -> Any:
    """The same conversion, quicker where one is known: SQLite's default text form of a
    naive datetime is exactly its ``isoformat(" ", "microseconds")`` (versions are
    mostly distinct, so a cache does not help them)."""
    if dialect.name != "sqlite":
        return process
    impl = type_.dialect_impl(dialect)
    if not isinstance(impl, sqlite.DATETIME) or impl._storage_format != _SQLITE_DATETIME:
        return process

    def datetime_text(value: Any) -> Any:
        if value.__class__ is datetime and value.tzinfo is None:
            return value.isoformat(" ", "microseconds")
        return process(value)

    return datetime_text


def _processed(values: Sequence[Any], process: Any) -> list[Any]:
    """Apply a type processor, once per distinct value (batch stamps repeat a lot).

    A column whose first values are mostly distinct (record versions) is converted value by
    value: there a cache costs more than it saves.
    """
    done: dict[Any, Any] = {}
    out: list[Any] = []
    rest = values
    try:
        for value in values[:_SAMPLE]:
            try:
                out.append(done[value])
            except KeyError:
                done[value] = converted = process(value)
                out.append(converted)
        rest = values[_SAMPLE:]
        if len(done) > _SAMPLE * 3 // 4:
            out.extend([process(value) for value in rest])
            return out
        for value in rest:
            try:
                out.append(done[value])
            except KeyError:
                done[value] = converted = process(value)
                out.append(converted)
    except TypeError:  # unhashable: convert the rest as it is
        out.extend([process(value) for value in values[len(out) :]])
    return out


_SAMPLE = 64


class Prepared:
    """A statement compiled once for one dialect and run on the DBAPI cursor.

    ``conn.execute(select)`` costs, per execution, the statement's cache lookup and parameter
    construction, and per row a ``Row`` with its type processors. A batch loop runs the same
    statement again and again with other values for a few parameters: here it is compiled
    once, each parameter's bind processor and each column's result processor is looked up
    once, and rows come back as plain tuples. Parameters not given at execution keep the
    values bound when the statement was built (a filter's values, a limit).

    Result processors run once per distinct raw value of a column (batch stamps repeat a
    lot). Statements this cannot run as is (``supported`` false) go through ``conn.execute``.
    """

    def __init__(self, stmt: Any, dialect: sa.Dialect) -> None:
        self.stmt = stmt
        self.dialect = dialect
        compiled = stmt.compile(dialect=dialect)
        self.string = compiled.string
        self.positional = compiled.positional
        self.supported = not (
            compiled.literal_execute_params
            or compiled.post_compile_params
            or getattr(compiled, "escaped_bind_names", None)
        )
        self.defaults: dict[str, Any] = dict(compiled.construct_params(_check=False))
        self.names = list(compiled.positiontup or []) if self.positional else list(self.defaults)
        # NOTE: SQLAlchemy's own per-bind lookup, as in execute_columns.
        self.processors: Mapping[str, Any] = compiled._bind_processors
        self.types = [c.type for c in getattr(stmt, "selected_columns", ())]
        self._results: tuple[Any, list[Any]] | None = None
        # What runs through conn.execute when the statement cannot run as is: the same
        # statement with its columns untyped, so that rows still come back raw (the result
        # processors then run here, as on the fast path, and raw positions stay raw).
        self._raw_stmt = (
            stmt.with_only_columns(
                *[sa.type_coerce(c, sa.types.NullType()) for c in stmt.selected_columns],
                maintain_column_froms=True,
            )
            if self.types and not self.supported
            else stmt
        )

    def params(self, values: Mapping[str, Any]) -> Any:
        merged = {**self.defaults, **values}
        processors = self.processors
        out = [merged[n] if (p := processors.get(n)) is None else p(merged[n]) for n in self.names]
        return tuple(out) if self.positional else dict(zip(self.names, out, strict=True))

    def all(self, conn: sa.Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of the statement run with ``values``, through the result processors."""
        rows, processed = self.fetch(conn, values)
        if not processed:
            return rows
        columns: list[Any] = list(zip(*rows, strict=True))
        for position, column in processed:
            columns[position] = column
        return list(zip(*columns, strict=True))

    def fetch(
        self, conn: sa.Connection, values: Mapping[str, Any]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[int, list[Any]]]]:
        """The raw rows, and the processed values of each column that has a result processor
        (position, one value per row): for a caller that builds its own rows anyway."""
        if not self.supported:
            result = conn.execute(self._raw_stmt, dict(values))
        else:
            result = conn.exec_driver_sql(self.string, self.params(values))
        try:
            description = result.cursor.description
            rows: list[tuple[Any, ...]] = list(result.cursor.fetchall())
        finally:
            result.close()
        if not rows:
            return rows, []
        return rows, [
            (position, _processed([row[position] for row in rows], process))
            for position, process in self._result_processors(description)
        ]

    def execute(self, conn: sa.Connection, values: Mapping[str, Any]) -> int:
        """Run a statement that returns no rows; returns the row count."""
        if not self.supported:
            return int(conn.execute(self.stmt, dict(values)).rowcount)
        result = conn.exec_driver_sql(self.string, self.params(values))
        return int(result.rowcount)

    def _result_processors(self, description: Any) -> list[tuple[int, Any]]:
        codes = tuple(d[1] for d in description or ())
        cached = self._results
        if cached is None or cached[0] != codes:
            # NOTE: the processors SQLAlchemy's result metadata would use for these columns.
            found = [
                (i, t._cached_result_processor(self.dialect, code))
                for i, (t, code) in enumerate(zip(self.types, codes, strict=False))
            ]
            cached = self._results = (codes, [(i, p) for i, p in found if p is not None])
        return cached[1]


def padded(keys: Sequence[Any]) -> list[Any]:
    """``keys`` padded with its last key to the next power of two (IN ignores repeats), so
    statements with one parameter per key come in a few sizes only."""
    size = 1
    while size < len(keys):
        size *= 2
    return [*keys, *[keys[-1]] * (size - len(keys))] if keys else []
