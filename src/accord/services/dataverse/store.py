"""SQLite storage of the local Dataverse: one table per entity, a version counter, tombstones.

One connection guarded by a lock: the ASGI app calls in from its event loop and a test or
bench loader from its own thread, and SQLite serialises writers anyway. Values are stored
as the Web API means them: text (compared case- and accent-insensitively, as Dataverse's
``Latin1_General_CI_AI`` collation does: ``COLLATE DATAVERSE``; ids and entity names,
which are ASCII, use the faster ``NOCASE``), integers, floats, datetimes as whole epoch
seconds, booleans as 0/1. ``versionnumber`` comes from one counter for the whole
organization, like SQL Server's rowversion; a deleted row leaves a tombstone with the
version of its deletion, which is what change tracking reports as ``$deletedEntity``.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from accord.services.dataverse.schema import INTEGER_TYPES, NUMBER_TYPES, Schema, Table

__all__ = ["Store"]

MAX_PARAMS = 30_000
"""Parameters per statement, under SQLite's default limit of 32,766."""


def _sql_type(kind: str) -> str:
    if kind in INTEGER_TYPES or kind in ("Boolean", "DateTime"):
        return "INTEGER"
    if kind in NUMBER_TYPES:
        return "REAL"
    if kind in ("String", "Memo"):
        return "TEXT COLLATE DATAVERSE"
    return "TEXT COLLATE NOCASE"


@functools.lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """``text`` as Dataverse's collation compares it: case and accents ignored."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _collate(left: str, right: str) -> int:
    a, b = fold(left), fold(right)
    return (a > b) - (a < b)


def _like(pattern: str | None, value: str | None, escape: str | None = None) -> int | None:
    """SQLite's LIKE with Dataverse's collation (SQLite's own folds ASCII case only)."""
    if pattern is None or value is None:
        return None
    regex = _like_regex(fold(pattern), escape or "")
    return 1 if regex.fullmatch(fold(value)) else 0


@functools.lru_cache(maxsize=256)
def _like_regex(pattern: str, escape: str) -> re.Pattern[str]:
    parts: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if escape and char == escape:
            parts.append(re.escape(next(chars, "")))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


class Store:
    """The tables of one schema in one SQLite database (a file, or memory if ``path`` is None)."""

    def __init__(self, schema: Schema, path: Path | None) -> None:
        self.schema = schema
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(
            str(path) if path else ":memory:", check_same_thread=False, isolation_level=None
        )
        self._depth = 0
        self._conn.create_collation("DATAVERSE", _collate)
        self._conn.create_function("like", 2, _like, deterministic=True)
        self._conn.create_function("like", 3, _like, deterministic=True)
        with self.lock:
            if path:
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._create()
            row = self._conn.execute("SELECT value FROM _meta WHERE key='version'").fetchone()
            self.version = int(row[0]) if row else 1000

    def _create(self) -> None:
        run = self._conn.execute
        run("CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT)")
        run(
            "CREATE TABLE IF NOT EXISTS _tombstones (entity TEXT NOT NULL, id TEXT NOT NULL, "
            "version INTEGER NOT NULL, PRIMARY KEY (entity, id))"
        )
        run("CREATE INDEX IF NOT EXISTS _tombstones_version ON _tombstones (entity, version)")
        for table in self.schema.tables.values():
            name = table.logical_name
            have = {r[1] for r in run(f'PRAGMA table_info("{name}")')}
            if not have:
                columns = ", ".join(
                    f'"{a.name}" {_sql_type(a.type)}'
                    + (" PRIMARY KEY" if a.name == table.primary_id else "")
                    for a in table.attributes.values()
                )
                run(f'CREATE TABLE "{name}" ({columns})')
            else:
                for attribute in table.attributes.values():
                    if attribute.name not in have:
                        run(
                            f'ALTER TABLE "{name}" ADD COLUMN "{attribute.name}" '
                            f"{_sql_type(attribute.type)}"
                        )
            run(f'CREATE INDEX IF NOT EXISTS "{name}_versionnumber" ON "{name}" (versionnumber)')
            run(f'CREATE INDEX IF NOT EXISTS "{name}_modifiedon" ON "{name}" (modifiedon)')
            for key_name, key_columns in table.keys.items():
                columns = ", ".join(f'"{c}"' for c in key_columns)
                present = " AND ".join(f'"{c}" IS NOT NULL' for c in key_columns)
                run(
                    f'CREATE UNIQUE INDEX IF NOT EXISTS "{name}_key_{key_name}" '
                    f'ON "{name}" ({columns}) WHERE {present}'
                )

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing; nests (a change set inside a batch) through savepoints."""
        with self.lock:
            depth = self._depth
            version = self.version
            self._conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT s{depth}")
            self._depth += 1
            try:
                yield
            except BaseException:
                if depth == 0:
                    self._conn.execute("ROLLBACK")
                else:
                    self._conn.execute(f"ROLLBACK TO s{depth}")
                    self._conn.execute(f"RELEASE s{depth}")
                self.version = max(self.version, version)  # versions are never reused
                raise
            else:
                if depth == 0:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO _meta (key, value) VALUES ('version', ?)",
                        (str(self.version),),
                    )
                    self._conn.execute("COMMIT")
                else:
                    self._conn.execute(f"RELEASE s{depth}")
            finally:
                self._depth -= 1

    def next_versions(self, count: int) -> range:
        """``count`` fresh version numbers (call inside a transaction)."""
        start = self.version + 1
        self.version += count
        return range(start, self.version + 1)

    def get(self, table: Table, record_id: str) -> dict[str, Any] | None:
        with self.lock:
            cursor = self._conn.execute(
                f'SELECT * FROM "{table.logical_name}" WHERE "{table.primary_id}" = ?',
                (record_id,),
            )
            row = cursor.fetchone()
            if row is None:
                return None
            return dict(zip([d[0] for d in cursor.description], row, strict=True))

    def existing(self, table: Table, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are rows of ``table`` (lower-case GUIDs)."""
        found: set[str] = set()
        with self.lock:
            for start in range(0, len(ids), MAX_PARAMS):
                chunk = ids[start : start + MAX_PARAMS]
                marks = ",".join("?" * len(chunk))
                sql = (
                    f'SELECT "{table.primary_id}" FROM "{table.logical_name}" '
                    f'WHERE "{table.primary_id}" IN ({marks})'
                )
                found.update(r[0] for r in self._conn.execute(sql, chunk))
        return found

    def find(self, table: Table, values: dict[str, Any]) -> str | None:
        """The id of the row with these alternate key values, if any."""
        where = " AND ".join(f'"{c}" = ?' for c in values)
        found = self.scalar(
            f'SELECT "{table.primary_id}" FROM "{table.logical_name}" WHERE {where}',
            tuple(values.values()),
        )
        return str(found) if found is not None else None

    def insert(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert full rows (every column present), forgetting tombstones of reused ids."""
        if not rows:
            return
        columns = list(table.attributes)
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        with self.lock:
            self._conn.executemany(
                f'INSERT INTO "{table.logical_name}" ({names}) VALUES ({marks})',
                [tuple(row.get(c) for c in columns) for row in rows],
            )
            tombstones = self._conn.execute(
                "SELECT EXISTS (SELECT 1 FROM _tombstones WHERE entity = ?)", (table.logical_name,)
            ).fetchone()[0]
            if tombstones:
                self._conn.executemany(
                    "DELETE FROM _tombstones WHERE entity = ? AND id = ?",
                    [(table.logical_name, row[table.primary_id]) for row in rows],
                )

    def update(self, table: Table, rows: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Set the given columns of rows by id (each row its own set of columns)."""
        with self.lock:
            for record_id, values in rows:
                assignments = ", ".join(f'"{c}" = ?' for c in values)
                self._conn.execute(
                    f'UPDATE "{table.logical_name}" SET {assignments} '
                    f'WHERE "{table.primary_id}" = ?',
                    (*values.values(), record_id),
                )

    def delete(self, table: Table, record_id: str, version: int) -> None:
        with self.lock:
            self._conn.execute(
                f'DELETE FROM "{table.logical_name}" WHERE "{table.primary_id}" = ?',
                (record_id,),
            )
            self._conn.execute(
                "INSERT OR REPLACE INTO _tombstones (entity, id, version) VALUES (?, ?, ?)",
                (table.logical_name, record_id, version),
            )

    def select(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        """Rows of a SELECT as dicts by column name."""
        with self.lock:
            cursor = self._conn.execute(sql, tuple(params))
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def scalar(self, sql: str, params: Sequence[Any]) -> Any:
        with self.lock:
            row = self._conn.execute(sql, tuple(params)).fetchone()
            return row[0] if row else None

    def tombstones(
        self, table: Table, after: int, upto: int, from_id: str, limit: int
    ) -> list[str]:
        """Ids of rows deleted with a version in (after, upto], by id after ``from_id``."""
        with self.lock:
            rows = self._conn.execute(
                "SELECT id FROM _tombstones WHERE entity = ? AND version > ? AND version <= ? "
                "AND id > ? ORDER BY id LIMIT ?",
                (table.logical_name, after, upto, from_id, limit),
            ).fetchall()
        return [r[0] for r in rows]
