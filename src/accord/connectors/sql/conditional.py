"""Conditional updates: write a row only if it is still as the engine read it.

An update that carries ``Change.expected`` becomes ``UPDATE … WHERE key = ? AND modified IS
NOT DISTINCT FROM ? AND <each written column> IS NOT DISTINCT FROM <its value read>``: the
version catches an edit made since the read, the values catch one a coarse clock stamped with
the same version. Updates are still sent with executemany, one statement per group of changes
that write and check the same columns; only when a group's row count falls short are its rows
read back (one SELECT by key, locking them) to tell which ones did not match and why:

* gone: "record not found", as for any update;
* changed since read: *stale*, nothing written (the engine reads it again and decides);
* still as read, but the database compared differently from Python (a value stored in
  another text form, a collation): written now, by key, under the row lock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from accord.connectors.sql.versions import VersionFormat
from accord.model import STALE, Change, Expected, TableSchema, WriteResult
from accord.model.values import naive_utc, same

COMPARABLE = frozenset({"text", "integer", "decimal", "float", "boolean", "datetime", "date"})
"""Field kinds a condition compares; others (JSON, binary) are left to the version."""

VERSION = "w_"
"""The bind parameter of the expected version (values: ``x_<column>``)."""

KEYS_PER_QUERY = 500


def checked_fields(schema: TableSchema, expected: Expected) -> tuple[str, ...]:
    """The fields of ``expected.values`` a condition can compare, in a fixed order."""
    fields = schema.fields
    return tuple(
        sorted(
            f
            for f in expected.values
            if f in fields and fields[f].kind in COMPARABLE and f != schema.modified
        )
    )


def bind_expected(
    row: dict[str, Any],
    versions: VersionFormat | None,
    expected: Expected,
    checked: Sequence[str],
) -> None:
    """Add the condition's parameters to one executemany row.

    The version is bound in the column's own form (text, Unix time), as Accord stamps it: a
    row stored in another spelling of the same moment falls short of the fast path and is
    settled by :func:`settle_short_group`, which compares parsed versions.
    """
    if versions is not None:
        row[VERSION] = None if expected.version is None else versions.stored(expected.version)
    for name in checked:
        row[f"x_{name}"] = expected.values[name]


def condition(
    t: sa.Table,
    schema: TableSchema,
    versions: VersionFormat | None,
    checked: Sequence[str],
    dialect: str,
) -> list[sa.ColumnElement[bool]]:
    """The WHERE terms of a conditional update beyond the key, for one dialect."""
    terms: list[sa.ColumnElement[bool]] = []
    if versions is not None and schema.modified:
        column = t.c[schema.modified]
        terms.append(column.is_not_distinct_from(sa.bindparam(VERSION, type_=column.type)))
    for name in checked:
        column = t.c[name]
        value: sa.ColumnElement[Any] = sa.bindparam(f"x_{name}", type_=column.type)
        left: sa.ColumnElement[Any] = column
        if dialect == "mysql" and schema.fields[name].kind == "text":
            # MariaDB compares text by collation ('a' = 'A', trailing spaces ignored): compare
            # the bytes there. Elsewhere text comparison is exact already.
            left = sa.cast(column, sa.LargeBinary)
            value = sa.cast(value, sa.LargeBinary)
        terms.append(left.is_not_distinct_from(value))
    return terms


def settle_short_group(
    conn: sa.Connection,
    t: sa.Table,
    schema: TableSchema,
    rows: Sequence[Mapping[str, Any]],
    changes: Sequence[tuple[int, Change]],
    columns: Sequence[str],
    versions: VersionFormat | None,
    conditional: bool,
) -> dict[int, WriteResult]:
    """An update group matched fewer rows than it holds: the outcome of each row not written.

    ``rows`` are the group's executemany parameters, ``changes`` the (position, change) of
    each, ``columns`` the columns it writes (the stamp included). Returns, by position, the
    results of rows not (or not yet) written; rows written are absent.
    """
    key_col = t.c[schema.key]
    names = list(dict.fromkeys([*columns, *([schema.modified] if schema.modified else [])]))
    current = _read_locked(conn, t, key_col, names, [row["k_"] for row in rows])
    outcomes: dict[int, WriteResult] = {}
    for row, (position, change) in zip(rows, changes, strict=True):
        found = current.get(row["k_"])
        if found is None:
            outcomes[position] = WriteResult(change.key, False, error="record not found")
            continue
        if not conditional or change.expected is None:
            continue  # there, so written
        if _written(found, row, columns, schema):
            continue
        if _still(found, schema, versions, change.expected):
            # As read, but the database compared otherwise (a text form, a collation): the
            # row is locked, so writing it by key now overwrites nothing unseen.
            values = {c: row[f"v_{c}"] for c in columns}
            conn.execute(t.update().where(key_col == row["k_"]).values(values))
            continue
        outcomes[position] = WriteResult(change.key, False, error=STALE, stale=True)
    return outcomes


def _read_locked(
    conn: sa.Connection, t: sa.Table, key_col: sa.Column[Any], names: list[str], keys: list[Any]
) -> dict[Any, dict[str, Any]]:
    found: dict[Any, dict[str, Any]] = {}
    for start in range(0, len(keys), KEYS_PER_QUERY):
        query = sa.select(key_col, *[t.c[n] for n in names]).where(
            key_col.in_(keys[start : start + KEYS_PER_QUERY])
        )
        if conn.dialect.name != "sqlite":  # SQLite: the transaction holds the write lock
            query = query.with_for_update()
        for row in conn.execute(query):
            found[row[0]] = dict(zip(names, row[1:], strict=True))
    return found


def _written(
    found: Mapping[str, Any], row: Mapping[str, Any], columns: Sequence[str], schema: TableSchema
) -> bool:
    """The row holds what this update wrote (its stamp and values): the statement wrote it."""
    for c in columns:
        value, wrote = found[c], row[f"v_{c}"]
        if c == schema.modified and isinstance(value, datetime) and isinstance(wrote, datetime):
            value, wrote = naive_utc(value), naive_utc(wrote)
        if not same(value, wrote):
            return False
    return True


def _still(
    found: Mapping[str, Any],
    schema: TableSchema,
    versions: VersionFormat | None,
    expected: Expected,
) -> bool:
    """The row holds what the engine read: its version and the values of the fields written."""
    if versions is not None and schema.modified:
        version, _ = versions.version(found[schema.modified])
        if version != expected.version:
            return False
    return all(same(found.get(f), v) for f, v in expected.values.items() if f in found)
