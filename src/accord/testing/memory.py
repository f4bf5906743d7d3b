"""An in-memory connector: the reference implementation of the connector interface.

Engine tests run against it; its databases live in a process-wide registry keyed by URL
(``memory://erp``), so a test can fill a system, load a project whose config names that URL,
and inspect the result. Edits made through :meth:`MemoryDatabase.put` stamp a new version
like a user's edit in a real system would.

Updates are conditional when the engine says what it read (``Change.expected``): the connector
declares optimistic concurrency, like the SQL connector. For tests of timing the real systems
have, a database can keep a coarse clock (``MemoryDatabase.clock.resolution``: whole seconds,
like MariaDB ``DATETIME``), a user's edit can be stamped with a clock behind
(``put(..., version=...)``), and ``before_write`` lets a test edit records between the
engine's read and its write.

With ``options = { change_tracking = true }`` the connector tracks changes as Dataverse does
(:class:`accord.connectors.base.ChangeTracking`): a token is the database's change sequence,
a feed returns the records written since and the keys deleted since, and
:meth:`MemoryDatabase.forget_changes` makes every token given out so far expire.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from accord.connectors.base import Capabilities, ChangeBatch, ChangeFeed
from accord.errors import ChangeTokenExpired, ConfigError, RecordError
from accord.model import (
    STALE,
    Change,
    ChangeKind,
    Expected,
    FieldInfo,
    Record,
    TableSchema,
    TableSettings,
    WriteResult,
)
from accord.model.values import coerce

if TYPE_CHECKING:
    from accord.filters import Filter

_DATABASES: dict[str, MemoryDatabase] = {}
_LOCK = threading.Lock()


class Clock:
    """Strictly increasing naive-UTC timestamps, close to the wall clock.

    With a ``resolution`` (e.g. one second) the clock is coarse: stamps are cut to it and
    stamps within one tick are equal, as in a system that keeps whole seconds.
    """

    def __init__(self, resolution: timedelta | None = None) -> None:
        self._last = datetime(2000, 1, 1)
        self.resolution = resolution

    def now(self) -> datetime:
        now = datetime.now(UTC).replace(tzinfo=None)
        if self.resolution is not None:
            tick = self.resolution
            now = datetime.min + (now - datetime.min) // tick * tick
            self._last = max(now, self._last)
            return self._last
        self._last = now if now > self._last else self._last + timedelta(microseconds=1)
        return self._last


@dataclass
class MemoryTable:
    schema: TableSchema
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    """Key → the change sequence of its last write or deletion (change tracking)."""


class MemoryDatabase:
    """The tables of one in-memory system."""

    def __init__(self) -> None:
        self.tables: dict[str, MemoryTable] = {}
        self.clock = Clock()
        self.writes = 0  # changes applied through the connector
        self.sequence = 0  # counts every write and deletion (change tracking's tokens)
        self.oldest_token = 0  # tokens below this one have expired
        self.before_write: Callable[[str, Sequence[Change]], None] | None = None
        """Called with each batch of changes before the connector applies it: a test's way
        to make a user's edit between the engine's read and its write."""

    def create_table(
        self,
        name: str,
        fields: Mapping[str, str] | Sequence[str],
        *,
        key: str,
        modified: str = "modified",
        lengths: Mapping[str, int] | None = None,
        required: Sequence[str] = (),
    ) -> None:
        kinds = dict(fields) if isinstance(fields, Mapping) else {f: "text" for f in fields}
        kinds.setdefault(key, "text")
        kinds.setdefault(modified, "datetime")
        infos = {
            f: FieldInfo(f, kind, f not in required and f != key, (lengths or {}).get(f))
            for f, kind in kinds.items()
        }
        self.tables[name] = MemoryTable(TableSchema(name, key, modified, infos))

    def put(
        self,
        table: str,
        key: str,
        values: Mapping[str, Any],
        *,
        version: datetime | None = None,
    ) -> None:
        """Insert or update a record as a user would: stamps a new version, or ``version``
        (another writer's clock, possibly behind this one's)."""
        t = self.tables[table]
        row = t.rows.setdefault(key, {f: None for f in t.schema.fields})
        row.update(values)
        row[t.schema.key] = key
        if t.schema.modified:
            row[t.schema.modified] = self.clock.now() if version is None else version
        self.touch(table, key)

    def delete(self, table: str, key: str) -> None:
        if self.tables[table].rows.pop(key, None) is not None:
            self.touch(table, key)

    def touch(self, table: str, key: str) -> None:
        """Note a write or deletion of ``key`` for change tracking."""
        self.sequence += 1
        self.tables[table].changed[key] = self.sequence

    def forget_changes(self) -> None:
        """Expire every change-tracking token given out so far."""
        self.sequence += 1
        self.oldest_token = self.sequence

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        row = self.tables[table].rows.get(key)
        return None if row is None else dict(row)

    def rows(self, table: str) -> dict[str, dict[str, Any]]:
        return {k: dict(v) for k, v in self.tables[table].rows.items()}


def database(url: str) -> MemoryDatabase:
    """The shared database behind ``url`` (created empty on first use)."""
    with _LOCK:
        return _DATABASES.setdefault(url, MemoryDatabase())


def drop_database(url: str) -> None:
    with _LOCK:
        _DATABASES.pop(url, None)


class MemoryConnector:
    """Connector over a :class:`MemoryDatabase`; filters are evaluated in Python."""

    def __init__(
        self,
        name: str,
        *,
        url: str,
        tables: Mapping[str, TableSettings] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.db = database(url)
        self.capabilities = Capabilities(
            batch_size=int((options or {}).get("batch_size", 1000)),
            server_filter=False,
            optimistic_concurrency=True,
            change_tracking=bool((options or {}).get("change_tracking", False)),
        )

    def _table(self, table: str) -> MemoryTable:
        if table not in self.db.tables:
            raise ConfigError(f"table '{table}' does not exist")
        return self.db.tables[table]

    def describe(self, table: str) -> TableSchema:
        return self._table(table).schema

    def read(
        self,
        table: str,
        *,
        filter: Filter | None = None,
        modified_after: datetime | None = None,
        keys: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
        batch_size: int = 1000,
    ) -> Iterator[list[Record]]:
        t = self._table(table)
        schema = t.schema
        rows = self._select(t, filter, modified_after, keys)
        names = list(fields) if fields is not None else list(schema.fields)
        for extra in (schema.key, schema.modified):
            if extra and extra not in names:
                names.append(extra)
        for start in range(0, len(rows), batch_size):
            yield [
                Record(
                    str(row[schema.key]),
                    {n: row.get(n) for n in names},
                    row.get(schema.modified) if schema.modified else None,
                )
                for row in rows[start : start + batch_size]
            ]

    def _select(
        self,
        t: MemoryTable,
        filter: Filter | None,
        modified_after: datetime | None,
        keys: Sequence[str] | None,
    ) -> list[dict[str, Any]]:
        schema = t.schema
        if keys is not None:
            rows = [t.rows[k] for k in sorted(set(keys)) if k in t.rows]
        else:
            rows = list(t.rows.values())
        if filter is not None:
            rows = [r for r in rows if filter.matches(r)]
        if modified_after is not None and schema.modified:
            modified = schema.modified
            rows = [r for r in rows if r[modified] is not None and r[modified] > modified_after]
            rows.sort(key=lambda r: (r[modified], str(r[schema.key])))
        elif keys is None:
            rows.sort(key=lambda r: str(r[schema.key]))
        return [dict(r) for r in rows]

    def count(
        self, table: str, *, filter: Filter | None = None, modified_after: datetime | None = None
    ) -> int:
        return len(self._select(self._table(table), filter, modified_after, None))

    def write(self, table: str, changes: Sequence[Change]) -> list[WriteResult]:
        t = self._table(table)
        schema = t.schema
        if self.db.before_write is not None:
            self.db.before_write(table, changes)
        stamp = self.db.clock.now()
        results = []
        for change in changes:
            try:
                # None is stored as None (or refused), like NULL in SQL, not coerced to blank.
                values = {
                    f: _store(v, schema.fields[f]) if f in schema.fields else _unknown(f)
                    for f, v in change.values.items()
                }
                for f, info in schema.fields.items():
                    if not info.nullable and f != schema.key and values.get(f, 0) is None:
                        raise RecordError(f"field '{f}' may not be empty")
                if change.kind is ChangeKind.INSERT:
                    coerce(change.key, schema.fields[schema.key])  # e.g. too long for the key
            except RecordError as exc:
                results.append(WriteResult(change.key, False, error=str(exc)))
                continue
            if change.kind is ChangeKind.DELETE:
                if t.rows.pop(change.key, None) is not None:
                    self.db.touch(table, change.key)
                results.append(WriteResult(change.key, True))
                continue
            if change.kind is ChangeKind.INSERT:
                if change.key in t.rows:
                    results.append(WriteResult(change.key, False, error="duplicate key"))
                    continue
                t.rows[change.key] = {f: None for f in schema.fields}
                t.rows[change.key][schema.key] = change.key
            elif change.key not in t.rows:
                results.append(WriteResult(change.key, False, error="record not found"))
                continue
            elif change.expected is not None and not _still(
                t.rows[change.key], schema, change.expected
            ):
                results.append(WriteResult(change.key, False, error=STALE, stale=True))
                continue
            t.rows[change.key].update(values)
            if schema.modified:
                t.rows[change.key][schema.modified] = stamp
            self.db.touch(table, change.key)
            self.db.writes += 1
            results.append(WriteResult(change.key, True, stamp if schema.modified else None))
        return results

    # -- change tracking (with options.change_tracking) ------------------------------------
    def tracks(self, table: str) -> bool:
        return self.capabilities.change_tracking and table in self.db.tables

    def track(self, table: str) -> str:
        self._table(table)
        return str(self.db.sequence)

    def read_changes(
        self,
        table: str,
        token: str | None,
        *,
        filter: Filter | None = None,
        fields: Sequence[str] | None = None,
        batch_size: int = 1000,
    ) -> ChangeFeed:
        t = self._table(table)
        if token is None:  # every record, and a token of now (nothing runs in between here)
            now = str(self.db.sequence)
            full = self.read(table, filter=filter, fields=fields, batch_size=batch_size)
            return _MemoryFeed([ChangeBatch(b, []) for b in full], now)
        if not token.isdigit() or int(token) < self.db.oldest_token:
            raise ChangeTokenExpired(
                f"system '{self.name}': the change-tracking token of table '{table}' has expired"
            )
        since, upto = int(token), self.db.sequence
        touched = sorted(k for k, n in t.changed.items() if since < n <= upto)
        present = [k for k in touched if k in t.rows]
        deleted = [k for k in touched if k not in t.rows]
        batches = [
            ChangeBatch(b, [])
            for b in self.read(
                table, filter=filter, keys=present, fields=fields, batch_size=batch_size
            )
        ]
        if deleted:
            batches.append(ChangeBatch([], deleted))
        return _MemoryFeed(batches, str(upto))

    def max_key(self, table: str, prefix: str) -> str | None:
        keys = [k for k in self._table(table).rows if k.startswith(prefix)]
        return max(keys) if keys else None

    def close(self) -> None:
        pass


class _MemoryFeed:
    def __init__(self, batches: list[ChangeBatch], token: str) -> None:
        self._batches = batches
        self._next = token
        self.token: str | None = None

    def __iter__(self) -> Iterator[ChangeBatch]:
        yield from self._batches
        self.token = self._next


def _still(row: Mapping[str, Any], schema: TableSchema, expected: Expected) -> bool:
    """The row holds what the engine read: its version and the values of the fields written."""
    if schema.modified and row.get(schema.modified) != expected.version:
        return False
    return all(row.get(f) == v for f, v in expected.values.items())


def _store(value: Any, info: FieldInfo) -> Any:
    return None if value is None else coerce(value, info)


def _unknown(name: str) -> Any:
    raise RecordError(f"unknown field '{name}'")
