"""Fast loading of generated rows into a new SQLite file.

A 100,000-customer demo is ~300,000 rows. Two things keep that to a second or two: rows go
to the driver's ``executemany`` without SQLAlchemy's per-value type processing, and the new
file is filled without a rollback journal and indexed at the end rather than row by row.
The finished file is switched to WAL, which is how the engine then uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import repeat
from typing import Any

import sqlalchemy as sa

__all__ = [
    "CHUNK_SIZE",
    "Row",
    "TableRows",
    "load_database",
    "rows_from_records",
    "table_rows",
]

Row = tuple[Any, ...]
"""One record: its values in the table's column order, in the form the SQLite driver stores
them (text, integers, floats for amounts, booleans, None, timestamps as SQLAlchemy's
DATETIME text). Build rows with :func:`table_rows`, which checks the columns by name."""

TableRows = tuple[str, list[Row]]
"""A chunk of rows for one table."""

CHUNK_SIZE = 5000
"""Rows generated and inserted at a time: large enough for executemany, small in memory."""


def table_rows(table: sa.Table, count: int, **columns: Any) -> list[Row]:
    """Zip whole columns into ``count`` rows in ``table``'s column order.

    Each keyword names a column and gives either a list with one value per row or a single
    value for every row (a constant such as ``type="person"``). Every column of the table
    must be given, and no other, so a generator cannot silently shift its values.

    Raises:
        ValueError: a column is missing, unknown, or has the wrong number of values.
    """
    names = table.columns.keys()
    if set(columns) != set(names):
        missing, unknown = set(names) - set(columns), set(columns) - set(names)
        raise ValueError(f"{table.name}: missing columns {missing}, unknown columns {unknown}")
    values: list[Iterable[Any]] = []
    for name in names:
        column = columns[name]
        if isinstance(column, list):
            if len(column) != count:
                raise ValueError(f"{table.name}.{name}: {len(column)} values for {count} rows")
            values.append(column)
        else:
            values.append(repeat(column, count))
    return list(zip(*values, strict=True))


def rows_from_records(table: sa.Table, records: Iterable[Mapping[str, Any]]) -> list[Row]:
    """Turn records (column name → value) into rows, for small tables written record by record.

    Raises:
        ValueError: a record lacks a column of ``table`` or has one it does not know.
    """
    names = table.columns.keys()
    rows = []
    for record in records:
        if set(record) != set(names):
            raise ValueError(f"{table.name}: record has columns {sorted(record)}")
        rows.append(tuple(record[name] for name in names))
    return rows


def load_database(url: str, metadata: sa.MetaData, chunks: Iterable[TableRows]) -> dict[str, int]:
    """Create the tables of ``metadata`` in a new SQLite file and insert ``chunks`` into them.

    All inserts are one transaction. Chunks are consumed as they come, so only one chunk
    of rows is in memory at a time.

    Returns:
        Rows inserted per table name, 0 for the tables that stay empty.
    """
    counts = dict.fromkeys(metadata.tables, 0)
    loader = _Loader(url, metadata)
    try:
        for table, rows in chunks:
            counts[table] += len(rows)
            loader.insert(table, rows)
        loader.finish()
    finally:
        loader.close()
    return counts


class _Loader:
    """One connection to the new file, with an INSERT ready for each table."""

    def __init__(self, url: str, metadata: sa.MetaData) -> None:
        self._metadata = metadata
        self._engine = sa.create_engine(url)
        self._conn = self._engine.connect()
        # NOTE: the file is new and nobody else uses it yet; a build that fails half-way
        # leaves a file the next build deletes, so a rollback journal and fsyncs would
        # only cost time.
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-65536"):
            self._conn.exec_driver_sql(f"PRAGMA {pragma}")
        for table in metadata.sorted_tables:
            self._conn.execute(sa.schema.CreateTable(table))
        self._inserts = {
            name: _bulk_insert(self._conn, table) for name, table in metadata.tables.items()
        }

    def insert(self, table: str, rows: list[Row]) -> None:
        """Insert one chunk of rows into ``table``."""
        if rows:
            self._inserts[table](rows)

    def finish(self) -> None:
        """Index the filled tables, commit, and switch the file to WAL for the engine."""
        for table in self._metadata.sorted_tables:
            for index in sorted(table.indexes, key=lambda index: str(index.name)):
                self._conn.execute(sa.schema.CreateIndex(index))
        self._conn.commit()
        # WAL lets the engine read a system while another process writes to it.
        self._conn.exec_driver_sql("PRAGMA journal_mode=WAL")

    def close(self) -> None:
        """Release the file (on success and on failure alike)."""
        self._conn.close()
        self._engine.dispose()


def _bulk_insert(conn: sa.Connection, table: sa.Table) -> Callable[[list[Row]], None]:
    """An executemany of the table's INSERT that hands the rows straight to the driver.

    ``conn.execute(table.insert(), rows)`` would run every value through SQLAlchemy's type
    processing, which costs more than SQLite's own work; the generator already produces
    values in their stored form (see ``Row``), so that step is skipped.
    """
    sql = str(table.insert().compile(dialect=conn.dialect))

    def insert(rows: list[Row]) -> None:
        conn.exec_driver_sql(sql, rows)

    return insert
