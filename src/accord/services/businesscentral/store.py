"""SQLite storage: one table per entity set (rows carry their company), companies, series.

One connection, used under ``lock`` by one request at a time (the service serialises
requests as a single BC session would). Writes run inside :meth:`Store.transaction`; a
``$batch`` opens one transaction and gives each request a savepoint, so a snapshot batch
rolls back as a whole and an ordinary one commits once.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from accord.services.businesscentral.schema import EntitySet, Schema

__all__ = ["Company", "Store"]

SQL_TYPES = {
    "String": "TEXT COLLATE NOCASE",
    "Code": "TEXT COLLATE NOCASE",
    "Enum": "TEXT COLLATE NOCASE",
    "Guid": "TEXT",
    "Date": "TEXT",
    "DateTime": "TEXT",
    "Integer": "INTEGER",
    "Decimal": "REAL",
    "Boolean": "INTEGER",
}


class Company:
    """One company of the environment (``GET …/companies``)."""

    def __init__(self, id: str, name: str, display_name: str, created: int, modified: int):
        self.id = id
        self.name = name
        self.display_name = display_name
        self.created = created
        self.modified = modified


class Store:
    def __init__(self, schema: Schema, path: Path | None) -> None:
        self.schema = schema
        self.lock = threading.RLock()
        self.db = sqlite3.connect(
            str(path) if path else ":memory:", check_same_thread=False, isolation_level=None
        )
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self._depth = 0
        self._savepoints = 0
        self._columns: dict[str, list[str]] = {}
        self._known_companies: dict[str, Company] = {}
        self._create_tables()
        self._version = self._max_version()

    def _create_tables(self) -> None:
        db = self.db
        db.execute(
            "CREATE TABLE IF NOT EXISTS companies (id TEXT PRIMARY KEY, name TEXT UNIQUE "
            'COLLATE NOCASE, "displayName" TEXT, created INTEGER, modified INTEGER)'
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS series (company TEXT, entity_set TEXT, last INTEGER, "
            "PRIMARY KEY (company, entity_set))"
        )
        for entity_set in self.schema.all_sets():
            table = entity_set.table
            columns = ", ".join(f'"{f.name}" {SQL_TYPES[f.type]}' for f in entity_set.data_fields)
            db.execute(
                f'CREATE TABLE IF NOT EXISTS "{table}" (id TEXT PRIMARY KEY, company TEXT NOT '
                f"NULL, version INTEGER NOT NULL, modified INTEGER NOT NULL, {columns})"
            )
            existing = {r[1] for r in db.execute(f'PRAGMA table_info("{table}")')}
            for f in entity_set.data_fields:  # a schema file that grew a field
                if f.name not in existing:
                    db.execute(f'ALTER TABLE "{table}" ADD COLUMN "{f.name}" {SQL_TYPES[f.type]}')
            db.execute(
                f'CREATE INDEX IF NOT EXISTS "{table}_modified" ON "{table}" (company, modified)'
            )
            if entity_set.key:
                db.execute(
                    f'CREATE UNIQUE INDEX IF NOT EXISTS "{table}_key" ON "{table}" '
                    f'(company, "{entity_set.key}")'
                )

    def _max_version(self) -> int:
        highest = 0
        for entity_set in self.schema.all_sets():
            row = self.db.execute(f'SELECT MAX(version) FROM "{entity_set.table}"').fetchone()
            highest = max(highest, row[0] or 0)
        return highest

    # transactions ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A transaction (nested calls join the outer one)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        version = self._version
        self.db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            self._version = version
            raise
        else:
            self.db.execute("COMMIT")
        finally:
            self._depth = 0

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: undo just this block's writes if it raises."""
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        self.db.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.db.execute(f"ROLLBACK TO {name}")
            self.db.execute(f"RELEASE {name}")
            raise
        else:
            self.db.execute(f"RELEASE {name}")

    def next_versions(self, count: int) -> range:
        """Fresh row versions (every write gets a new one: it is what the ETag encodes)."""
        first = self._version + 1
        self._version += count
        return range(first, first + count)

    # companies ------------------------------------------------------------------------------

    def companies(self, where: str = "1 = 1", params: Sequence[Any] = ()) -> list[Company]:
        rows = self.db.execute(
            'SELECT id, name, "displayName", created, modified FROM companies '
            f"WHERE {where} ORDER BY name",
            tuple(params),
        )
        return [Company(*r) for r in rows]

    def company(self, company_id: str) -> Company | None:
        """The company with this id (companies are never deleted: found ones are kept)."""
        known = self._known_companies.get(company_id)
        if known is not None:
            return known
        row = self.db.execute(
            'SELECT id, name, "displayName", created, modified FROM companies WHERE id = ?',
            (company_id.lower(),),
        ).fetchone()
        if row is None:
            return None
        self._known_companies[company_id] = Company(*row)
        return self._known_companies[company_id]

    def add_company(self, name: str, now_ms: int) -> Company:
        """The company named ``name``, created if new (its id stays across restarts)."""
        row = self.db.execute(
            'SELECT id, name, "displayName", created, modified FROM companies WHERE name = ?',
            (name,),
        ).fetchone()
        if row:
            return Company(*row)
        company = Company(str(uuid.uuid4()), name, name, now_ms, now_ms)
        self.db.execute(
            "INSERT INTO companies VALUES (?, ?, ?, ?, ?)",
            (company.id, company.name, company.display_name, now_ms, now_ms),
        )
        return company

    # number series ----------------------------------------------------------------------------

    def series_last(self, company: str, entity_set: EntitySet) -> int | None:
        row = self.db.execute(
            "SELECT last FROM series WHERE company = ? AND entity_set = ?",
            (company, f"{entity_set.api}/{entity_set.name}"),
        ).fetchone()
        return None if row is None else int(row[0])

    def set_series_last(self, company: str, entity_set: EntitySet, last: int) -> None:
        self.db.execute(
            "INSERT INTO series VALUES (?, ?, ?) ON CONFLICT (company, entity_set) "
            "DO UPDATE SET last = excluded.last",
            (company, f"{entity_set.api}/{entity_set.name}", last),
        )

    # rows -----------------------------------------------------------------------------------

    def columns(self, entity_set: EntitySet) -> list[str]:
        table = entity_set.table
        if table not in self._columns:
            names = (f.name for f in entity_set.data_fields)
            self._columns[table] = ["id", "company", "version", "modified", *names]
        return self._columns[table]

    def insert(self, entity_set: EntitySet, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert stored rows (all columns present); executemany, for bulk loads too."""
        columns = self.columns(entity_set)
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        self.db.executemany(
            f'INSERT INTO "{entity_set.table}" ({names}) VALUES ({marks})',
            [tuple(row[c] for c in columns) for row in rows],
        )

    def update(self, entity_set: EntitySet, row_id: str, values: Mapping[str, Any]) -> None:
        assignments = ", ".join(f'"{c}" = ?' for c in values)
        self.db.execute(
            f'UPDATE "{entity_set.table}" SET {assignments} WHERE id = ?',
            (*values.values(), row_id),
        )

    def delete(self, entity_set: EntitySet, row_id: str) -> None:
        self.db.execute(f'DELETE FROM "{entity_set.table}" WHERE id = ?', (row_id,))

    def get(self, entity_set: EntitySet, company: str, row_id: str) -> dict[str, Any] | None:
        rows = self.select(entity_set, "company = ? AND id = ?", (company, row_id))
        return rows[0] if rows else None

    def key_taken(self, entity_set: EntitySet, company: str, key: str) -> bool:
        row = self.db.execute(
            f'SELECT 1 FROM "{entity_set.table}" WHERE company = ? AND "{entity_set.key}" = ?',
            (company, key),
        ).fetchone()
        return row is not None

    def select(
        self,
        entity_set: EntitySet,
        where: str,
        params: Sequence[Any],
        order: str = "",
        limit: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        columns = self.columns(entity_set)
        names = ", ".join(f'"{c}"' for c in columns)
        sql = f'SELECT {names} FROM "{entity_set.table}" WHERE {where}'
        if order:
            sql += f" ORDER BY {order}"
        if limit is not None or offset:
            sql += f" LIMIT {-1 if limit is None else int(limit)} OFFSET {int(offset)}"
        return [dict(zip(columns, r, strict=True)) for r in self.db.execute(sql, tuple(params))]

    def scalar(self, sql: str, params: Sequence[Any]) -> Any:
        row = self.db.execute(sql, tuple(params)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        with self.lock:
            self.db.close()
