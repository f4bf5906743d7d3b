"""The SQL connector: SQLite, PostgreSQL and MariaDB tables through SQLAlchemy Core.

Reads use keyset pagination (no cursor stays open between batches, so reading one system
never blocks writes to another). Writes go in one transaction per batch with executemany; if
the batch fails, each change is retried alone so that only the bad record fails. Updates
the engine makes conditional (``Change.expected``) write only rows still as it read them
(:mod:`accord.connectors.sql.conditional`); the others are reported stale.
Plain tables have no server that stamps "modified on": the connector stamps the modified
column on every write it makes and reports that value as the record's new version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from accord.connectors.base import Capabilities, redact_url
from accord.connectors.options import option_problem
from accord.connectors.sql.bulk import Prepared, execute_many, insert_columns, padded
from accord.connectors.sql.conditional import (
    bind_expected,
    checked_fields,
    condition,
    settle_short_group,
)
from accord.connectors.sql.dialects import dialect_hint
from accord.connectors.sql.schema import (
    Unreadable,
    key_is_unique,
    modified_storage,
    reflect_table,
    table_schema,
)
from accord.connectors.sql.versions import SUPPORTED, TextForm, VersionFormat, shown
from accord.errors import (
    ConfigError,
    ConnectorError,
    FatalConnectorError,
    RetriableConnectorError,
)
from accord.model import Change, ChangeKind, Record, TableSchema, TableSettings, WriteResult

if TYPE_CHECKING:
    from accord.filters import Filter

KEYS_PER_QUERY = 500
BATCH_SIZE = 5000
"""Records per batch by default: SQLite is in-process, and a server's cost is round trips
(a batch's inserts go as one COPY on PostgreSQL, one multi-row INSERT on MariaDB)."""


class _Raw(sa.types.TypeDecorator[Any]):
    """A parameter bound as given, with no conversion (a plain NullType would take the type
    of the column it is compared with, and convert the value again)."""

    impl = sa.types.NullType
    cache_ok = True


class SqlConnector:
    """A system whose tables live in one SQL database reachable by a SQLAlchemy URL."""

    def __init__(
        self,
        name: str,
        *,
        url: str,
        tables: Mapping[str, TableSettings],
        options: Mapping[str, Any],
    ) -> None:
        self.name = name
        self.url = url
        self._settings = dict(tables)
        problem = option_problem("sql", options)
        if problem is not None:
            raise ConfigError(f"system '{name}': options.{problem[0]}: {problem[1]}")
        # Bigger batches mean fewer commits and queries (server round trips) per record.
        default_batch = BATCH_SIZE
        # Updates can be conditional: on the modified column where the table has one, and
        # always on the values read of the columns written.
        self.capabilities = Capabilities(
            batch_size=int(options.get("batch_size", default_batch)), optimistic_concurrency=True
        )
        connect_args: dict[str, Any] = {}
        if url.startswith("sqlite"):
            connect_args["timeout"] = float(options.get("busy_timeout", 30))
        try:
            self.engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
            raise FatalConnectorError(
                f"system '{name}': cannot use URL {redact_url(url)}: {exc}{dialect_hint(url)}"
            ) from None
        if self.engine.dialect.name == "sqlite":
            _require_sqlite_file(name, self.engine.url)
            sa.event.listen(self.engine, "connect", _sqlite_durability)
        self._tables: dict[str, tuple[sa.Table, TableSchema]] = {}
        self._versions: dict[str, VersionFormat | None] = {}

    # -- schema ---------------------------------------------------------------------------
    def describe(self, table: str) -> TableSchema:
        return self._table(table)[1]

    def _table(self, table: str) -> tuple[sa.Table, TableSchema]:
        cached = self._tables.get(table)
        if cached is None:
            settings = self._settings.get(table)
            try:
                sa_table = reflect_table(self.engine, table, settings)
            except sa.exc.DBAPIError as exc:
                raise self._connection_error(exc) from None
            schema = table_schema(self.name, sa_table, settings)
            try:
                self._versions[table] = self._version_format(sa_table, schema, settings)
                if not key_is_unique(sa_table, schema.key):
                    self._refuse_duplicate_keys(sa_table, schema.key, settings)
            except sa.exc.DBAPIError as exc:
                raise self._connection_error(exc) from None
            cached = (sa_table, schema)
            self._tables[table] = cached
        return cached

    def _version_format(
        self, t: sa.Table, schema: TableSchema, settings: TableSettings | None
    ) -> VersionFormat | None:
        """How the modified-on column holds versions; refuses a type that cannot hold one."""
        if schema.modified is None:
            return None
        column = t.c[schema.modified]
        storage = modified_storage(self.engine.dialect.name, column.type)
        if storage is None:
            configured = settings is not None and settings.modified == schema.modified
            raise ConfigError(
                f"table '{self.name}.{t.name}': modified-on column '{schema.modified}' is "
                f"{column.type.compile(self.engine.dialect)}, which cannot hold a version "
                f"(supported: {SUPPORTED})",
                setting="modified" if configured else "",
            )
        if storage == "native":
            return VersionFormat(storage, schema.modified)
        # The newest values tell the form stamps are written in (the column's own).
        query = sa.select(column).where(column.is_not(None)).order_by(column.desc()).limit(20)
        with self.engine.connect() as conn:
            sample = [row[0] for row in conn.execute(query)]
        if storage == "epoch":
            numbers = [v for v in sample if isinstance(v, (int, float)) and not isinstance(v, bool)]
            millis = bool(numbers) and abs(numbers[0]) >= 100_000_000_000
            return VersionFormat(storage, schema.modified, milliseconds=millis)
        if not isinstance(column.type, sa.String) or isinstance(column.type, sa.DateTime):
            return VersionFormat(storage, schema.modified)  # SQLite DATETIME: SQLAlchemy's form
        forms = [f for f in (TextForm.of(v) for v in sample if isinstance(v, str)) if f]
        return VersionFormat(storage, schema.modified, text=forms[0] if forms else TextForm())

    def _refuse_duplicate_keys(self, t: sa.Table, key: str, settings: TableSettings | None) -> None:
        """A key column the database does not keep unique: one query for a repeated value."""
        column = t.c[key]
        query = (
            sa.select(column, sa.func.count())
            .where(column.is_not(None))
            .group_by(column)
            .having(sa.func.count() > 1)
            .limit(1)
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).first()
        if found is None:
            return
        configured = settings is not None and settings.key == key
        raise ConfigError(
            f"table '{self.name}.{t.name}': key column '{key}' is not unique: "
            f"{shown(found[0])} is the key of {found[1]} records (a key must name one record; "
            "make the column unique, or set key to a column that is)",
            setting="key" if configured else "",
        )

    def _connection_error(self, exc: sa.exc.DBAPIError) -> ConnectorError:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        message = f"system '{self.name}' ({redact_url(self.url)}): {reason}"
        if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
            return RetriableConnectorError(message)
        return FatalConnectorError(message)

    # -- reading --------------------------------------------------------------------------
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
        return self._read(table, filter, modified_after, keys, fields, batch_size)

    def _read(
        self,
        table: str,
        filter: Filter | None,
        modified_after: datetime | None,
        keys: Sequence[str] | None,
        fields: Sequence[str] | None,
        batch_size: int,
        *,
        zone: bool = False,
    ) -> Iterator[list[Record]]:
        """:meth:`read`; with ``zone``, only the records the database cannot tell are
        modified after ``modified_after`` or not (see :meth:`count`)."""
        t, schema = self._table(table)
        versions = self._versions.get(table)
        names = list(fields) if fields is not None else list(schema.fields)
        for extra in (schema.key, schema.modified):
            if extra is not None and extra not in names:
                names.append(extra)
        columns = [t.c[n] for n in names]
        key_col = t.c[schema.key]
        mod_col = t.c[schema.modified] if schema.modified else None
        conditions = self._conditions(t, filter, modified_after, zone=zone)
        key_pos = names.index(schema.key)
        mod_pos = names.index(schema.modified) if schema.modified else None
        convert_key = self._key_converter(schema)
        bound = modified_after if schema.modified else None
        storage = versions or VersionFormat("native", "")  # (no modified-on column: unused)
        version_of, keep = storage.version, storage.keep
        filtering = bound is not None and not storage.exact

        def to_records(
            rows: Sequence[Sequence[Any]], processed: Sequence[tuple[int, list[Any]]], seen: int
        ) -> list[Record]:
            """Records from raw rows and the processed values of some of their columns.

            The version comes from the raw modified-on value; a value no column type could
            convert (an :class:`Unreadable` marker, made since ``seen`` counted them) makes
            its record fail alone.
            """
            dicts = [dict(zip(names, row, strict=True)) for row in rows]
            for position, column in processed:
                name = names[position]
                for values, value in zip(dicts, column, strict=True):
                    values[name] = value
            unreadable = Unreadable.made != seen
            key_name = names[key_pos]
            out: list[Record] = []
            append = out.append
            for row, values in zip(rows, dicts, strict=True):
                version, error = None, ""
                if mod_pos is not None:
                    raw = row[mod_pos]
                    # the common case first: a naive datetime the driver already made
                    if raw.__class__ is datetime and raw.tzinfo is None:
                        version = raw
                    else:
                        version, error = version_of(raw)
                if unreadable and not error:
                    error = _unreadable(values)
                if filtering and not keep(version, error, bound):
                    continue
                append(Record(str(values[key_name]), values, version, error))
            return out

        if keys is not None:
            wanted = sorted({convert_key(k) for k in keys} - {None})
            per_query = max(1, min(KEYS_PER_QUERY, batch_size))
            by_size: dict[int, Prepared] = {}
            for start in range(0, len(wanted), per_query):
                chunk = padded(wanted[start : start + per_query])
                query = by_size.get(len(chunk))
                if query is None:
                    binds = [sa.bindparam(f"k_{i}", type_=key_col.type) for i in range(len(chunk))]
                    select = sa.select(*columns).where(key_col.in_(binds), *conditions)
                    query = by_size[len(chunk)] = self._prepared(select.order_by(key_col))
                seen = Unreadable.made
                rows, processed = self._fetch_prepared(
                    query, {f"k_{i}": k for i, k in enumerate(chunk)}
                )
                records = to_records(rows, processed, seen) if rows else []
                if records:
                    yield records
            return

        by_modified = modified_after is not None and mod_col is not None
        order = (mod_col, key_col) if by_modified else (key_col,)
        # Two statements, each compiled once for the whole read: the first page, and the
        # pages after a (modified, key) or key; only that position changes between pages.
        # The position is bound raw, as the database returned it: a value converted and
        # rendered again (another text form of a time) would sort elsewhere.
        untyped = _Raw()
        after_key = key_col > sa.bindparam("b_last_key", type_=untyped)
        if by_modified:
            assert mod_col is not None
            after_mod = sa.bindparam("b_last_mod", type_=untyped)
            after_key = sa.or_(mod_col > after_mod, sa.and_(mod_col == after_mod, after_key))
        first = sa.select(*columns).where(*conditions).order_by(*order).limit(batch_size)
        pages = (
            self._prepared(first),
            self._prepared(first.where(after_key)),
        )
        last: dict[str, Any] | None = None
        while True:
            seen = Unreadable.made
            page, processed = self._fetch_prepared(pages[last is not None], last or {})
            if not page:
                return
            tail = page[-1]
            last = {"b_last_key": tail[key_pos]}
            if by_modified and mod_pos is not None:
                last["b_last_mod"] = tail[mod_pos]
            records = to_records(page, processed, seen)
            if records:
                yield records
            if len(page) < batch_size:
                return

    def count(
        self, table: str, *, filter: Filter | None = None, modified_after: datetime | None = None
    ) -> int:
        t, _ = self._table(table)
        versions = self._versions.get(table)
        exact = modified_after is None or versions is None or versions.exact
        query = sa.select(sa.func.count()).select_from(t)
        query = query.where(*self._conditions(t, filter, modified_after, sure=not exact))
        try:
            with self.engine.connect() as conn:
                counted = int(conn.execute(query).scalar_one())
        except sa.exc.DBAPIError as exc:
            raise self._connection_error(exc) from None
        if not exact:  # the few the database cannot tell: read and checked here
            zone = self._read(table, filter, modified_after, None, [], 1000, zone=True)
            counted += sum(len(batch) for batch in zone)
        return counted

    def max_key(self, table: str, prefix: str) -> str | None:
        t, schema = self._table(table)
        key_col = t.c[schema.key]
        dialect = self.engine.dialect.name
        conditions = [key_col.startswith(prefix, autoescape=True)]
        greatest: sa.ColumnElement[Any] = key_col
        # LIKE ignores case on SQLite and under MariaDB's usual collations, and MariaDB's max
        # does too: check the prefix exactly, and order MariaDB's keys by their bytes.
        if dialect == "sqlite":
            conditions.append(sa.func.substr(key_col, 1, len(prefix)) == prefix)
        elif dialect == "mysql":
            greatest = sa.type_coerce(sa.cast(key_col, sa.LargeBinary), sa.String())
            conditions.append(greatest.startswith(prefix, autoescape=True))
        query = sa.select(key_col).where(*conditions).order_by(greatest.desc()).limit(1)
        try:
            with self.engine.connect() as conn:
                value = conn.execute(query).scalar_one_or_none()
        except sa.exc.DBAPIError as exc:
            raise self._connection_error(exc) from None
        return None if value is None else str(value)

    def _conditions(
        self,
        t: sa.Table,
        filter: Filter | None,
        modified_after: datetime | None,
        *,
        sure: bool = False,
        zone: bool = False,
    ) -> list[sa.ColumnElement[bool]]:
        """The conditions of a read: its filter, and a modified-on condition that holds
        for every record modified after ``modified_after`` (and, for storages the database
        cannot compare exactly, a few others, dropped as they are read). ``sure``: only
        records surely modified after; ``zone``: only those neither surely in nor out."""
        _, schema = self._table(t.name)
        conditions: list[sa.ColumnElement[bool]] = []
        if filter is not None:
            conditions.append(filter.to_sql({c.name: c for c in t.columns}))
        versions = self._versions.get(t.name)
        if modified_after is not None and schema.modified and versions is not None:
            column, dialect = t.c[schema.modified], self.engine.dialect.name
            maybe = versions.after(column, modified_after, dialect)
            surely = versions.after(column, modified_after, dialect, surely=True)
            if zone:
                conditions += [maybe, sa.not_(surely)]
            else:
                conditions.append(surely if sure else maybe)
        return conditions

    def _prepared(self, query: sa.Select[Any]) -> Prepared:
        return Prepared(query, self.engine.dialect)

    def _fetch_prepared(
        self, query: Prepared, values: Mapping[str, Any]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[int, list[Any]]]]:
        try:
            with self.engine.connect() as conn:
                return query.fetch(conn, values)
        except sa.exc.DBAPIError as exc:
            raise self._connection_error(exc) from None

    @staticmethod
    def _key_converter(schema: TableSchema) -> Any:
        if schema.fields[schema.key].kind == "integer":
            return _whole_number
        return str

    # -- writing --------------------------------------------------------------------------
    def write(self, table: str, changes: Sequence[Change]) -> list[WriteResult]:
        if not changes:
            return []
        t, schema = self._table(table)
        # Refuse what the database would refuse (or, like SQLite with lengths, silently
        # accept) before writing, so the reason is the same on every database.
        lengths = {
            name: info.length
            for name, info in schema.fields.items()
            if info.kind == "text" and info.length is not None
        }
        required = frozenset(name for name, info in schema.fields.items() if not info.nullable)
        refused: dict[int, WriteResult] = {}
        for position, change in enumerate(changes):
            if change.checked and schema.fields[schema.key].kind != "integer":
                continue
            reason = _refusal(change, schema, lengths, required)
            if reason is not None:
                refused[position] = WriteResult(change.key, False, error=reason)
        if refused:
            accepted = [c for i, c in enumerate(changes) if i not in refused]
            written = iter(self.write(table, accepted))
            return [refused[i] if i in refused else next(written) for i in range(len(changes))]
        settings = self._settings.get(table)
        stamp = None
        stored: Any = None
        versions = self._versions.get(table)
        if schema.modified and versions and (settings is None or settings.stamp_modified):
            # Cut to what the column keeps, or the version we report is not the one stored;
            # written in the column's own form (text, Unix time).
            now = datetime.now(UTC).replace(tzinfo=None)
            digits = _fractional_digits(t.c[schema.modified].type)
            stamp, stored = versions.stamp(now, digits)
        try:
            with self.engine.begin() as conn:
                outcomes = self._apply(conn, t, schema, changes, stored)
            results = [
                outcomes.get(i) or WriteResult(c.key, True, stamp) for i, c in enumerate(changes)
            ]
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            if _may_not_write(exc):
                raise self._refused(table, exc) from None
            if exc.connection_invalidated or not _is_data_error(exc):
                raise self._connection_error(exc) from None
            results = self._write_one_by_one(t, schema, changes, stamp, stored)
        except (sa.exc.DBAPIError, sa.exc.StatementError) as exc:
            if isinstance(exc, sa.exc.DBAPIError) and _may_not_write(exc):
                raise self._refused(table, exc) from None
            results = self._write_one_by_one(t, schema, changes, stamp, stored)
        if schema.modified and stamp is None:
            self._read_back_versions(table, results)
        return results

    def _refused(self, table: str, exc: sa.exc.DBAPIError) -> FatalConnectorError:
        """A read-only user or connection: one error for the pass, not one per record.

        Failing every record alone would quarantine couplings whose records are fine; the
        pass stops instead, and the next run after the permission is fixed goes on as usual.
        """
        return FatalConnectorError(
            f"system '{self.name}' ({redact_url(self.url)}): may not write to table "
            f"'{table}': {_reason(exc)} (the database user or connection is read-only)"
        )

    def _write_one_by_one(
        self,
        t: sa.Table,
        schema: TableSchema,
        changes: Sequence[Change],
        stamp: datetime | None,
        stored: Any,
    ) -> list[WriteResult]:
        results = []
        for change in changes:
            try:
                with self.engine.begin() as conn:
                    outcome = self._apply(conn, t, schema, [change], stored).get(0)
                results.append(outcome or WriteResult(change.key, True, stamp))
            except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
                if exc.connection_invalidated or not _is_data_error(exc):
                    raise self._connection_error(exc) from None
                results.append(WriteResult(change.key, False, error=_reason(exc)))
            except (sa.exc.DBAPIError, sa.exc.StatementError) as exc:
                results.append(WriteResult(change.key, False, error=_reason(exc)))
        return results

    def _apply(
        self,
        conn: sa.Connection,
        t: sa.Table,
        schema: TableSchema,
        changes: Sequence[Change],
        stored: Any,
    ) -> dict[int, WriteResult]:
        """Apply ``changes`` in ``conn``'s transaction; ``stored`` is the modified-on value to
        store (None: none). Returns, by position, the results of updates that wrote nothing
        (record gone, or changed since read): the rest succeeded."""
        key_name = schema.key
        convert_key = self._key_converter(schema)
        stamped = schema.modified if stored is not None else None
        versions = self._versions.get(t.name)
        inserts: dict[tuple[str, ...], list[Change]] = defaultdict(list)
        # Updates grouped by the columns they write and those their condition checks (None:
        # unconditional), each row with its (position, change).
        Group = tuple[tuple[str, ...], tuple[str, ...] | None]
        updates: dict[Group, list[dict[str, Any]]] = defaultdict(list)
        updated: dict[Group, list[tuple[int, Change]]] = defaultdict(list)
        deletes: list[Any] = []
        for position, change in enumerate(changes):
            if change.kind is ChangeKind.DELETE:
                key = convert_key(change.key)
                if key is not None:  # else no record can have it
                    deletes.append(key)
                continue
            if change.kind is ChangeKind.INSERT:
                # grouped by field names as given: changes of one plan share their order
                inserts[tuple(change.values)].append(change)
                continue
            values = dict(change.values)
            if stamped:
                values[stamped] = stored
            row = {f"v_{k}": v for k, v in values.items()}
            row["k_"] = convert_key(change.key)
            checked = None
            if change.expected is not None:
                checked = checked_fields(schema, change.expected)
                bind_expected(row, versions, change.expected, checked)
            shape = (tuple(sorted(values)), checked)
            updates[shape].append(row)
            updated[shape].append((position, change))
        for names, group in inserts.items():
            # By column, without a dict per row: the fields, then the stamp and the key.
            fields = [n for n in names if n not in (stamped, key_name)]
            columns: dict[str, Sequence[Any]] = {}
            if len(fields) > 1:  # rows picked in C, then turned into columns in C
                picked = map(itemgetter(*fields), [c.values for c in group])
                columns = dict(zip(fields, zip(*picked, strict=True), strict=True))
            elif fields:
                columns = {fields[0]: [c.values[fields[0]] for c in group]}
            if stamped:
                columns[stamped] = [stored] * len(group)
            columns[key_name] = [convert_key(c.key) for c in group]
            insert_columns(conn, t, columns)
        key_col = t.c[key_name]
        outcomes: dict[int, WriteResult] = {}
        for (cols, checked), rows in updates.items():
            stmt = t.update().where(key_col == sa.bindparam("k_"))
            if checked is not None:
                stmt = stmt.where(*condition(t, schema, versions, checked, conn.dialect.name))
            stmt = stmt.values({c: sa.bindparam(f"v_{c}") for c in cols})
            result = execute_many(conn, stmt, rows)
            if result.rowcount != len(rows):
                # Some rows are gone or changed since read: find which, with one SELECT.
                outcomes.update(
                    settle_short_group(
                        conn,
                        t,
                        schema,
                        rows,
                        updated[(cols, checked)],
                        cols,
                        versions,
                        checked is not None,
                    )
                )
        for start in range(0, len(deletes), KEYS_PER_QUERY):
            conn.execute(t.delete().where(key_col.in_(deletes[start : start + KEYS_PER_QUERY])))
        return outcomes

    def _read_back_versions(self, table: str, results: list[WriteResult]) -> None:
        """Without our own stamp, the version is whatever a trigger or default wrote."""
        ok = {r.key: r for r in results if r.ok}
        for batch in self.read(table, keys=list(ok), fields=[]):
            for record in batch:
                ok[record.key].version = record.version

    def close(self) -> None:
        self.engine.dispose()


def _refusal(
    change: Change,
    schema: TableSchema,
    lengths: Mapping[str, int],
    required: frozenset[str],
) -> str | None:
    """Why ``change`` cannot be written, found without asking the database; None if it can."""
    if change.kind is ChangeKind.DELETE:
        return None
    fields = schema.fields
    if fields[schema.key].kind == "integer" and _whole_number(change.key) is None:
        return f"key {change.key!r} is not a whole number"
    for name, value in change.values.items():
        if name not in fields:
            return f"unknown field '{name}'"
        if value is None:
            if name in required:
                return f"field '{name}' may not be empty"
        elif value.__class__ is str and name in lengths and len(value) > lengths[name]:
            return _too_long(name, len(value), lengths[name])
    # an insert writes the change's key, whatever the values say
    key_length = lengths.get(schema.key)
    if change.kind is ChangeKind.INSERT and key_length and len(change.key) > key_length:
        return _too_long(schema.key, len(change.key), key_length)
    return None


def _require_sqlite_file(system: str, url: sa.URL) -> None:
    """A system's SQLite file must exist: connecting would silently create an empty one,
    and a mistyped path would then look like a system without records. (Accord creates
    only files of its own: the state store and the demo's systems.)"""
    database = url.database
    if not database or database == ":memory:" or url.query.get("uri") or database[:5] == "file:":
        return
    if not Path(database).exists():
        raise ConfigError(
            f"system '{system}': the SQLite database file {database} does not exist "
            "(check the url: Accord does not create a system's database)",
            setting="url",
        )


def _sqlite_durability(dbapi_connection: Any, _record: Any) -> None:
    """In WAL mode, commit without fsync: still safe when the process is killed.

    Only a power loss could drop the last commits; with the default (FULL) every batch
    commit waits for the disk.
    """
    cursor = dbapi_connection.cursor()
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _too_long(name: str, size: int, length: int) -> str:
    return f"value too long for field '{name}' ({size} characters, at most {length})"


def _whole_number(key: str) -> int | None:
    """The value of a key of an integer column; None when no record can have that key."""
    try:
        return int(key)
    except ValueError:
        return None


def _fractional_digits(type_: sa.types.TypeEngine[Any]) -> int:
    """Digits of a second a timestamp column keeps (PostgreSQL rounds, MariaDB truncates)."""
    if isinstance(type_, (mysql.DATETIME, mysql.TIMESTAMP)):
        return min(type_.fsp or 0, 6)
    if isinstance(type_, postgresql.TIMESTAMP) and type_.precision is not None:
        return min(type_.precision, 6)
    return 6


def _reason(exc: Exception) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_READ_ONLY_SQLSTATES = frozenset({"42501", "25006"})
"""PostgreSQL: insufficient_privilege, read_only_sql_transaction."""
_READ_ONLY_MYSQL_ERRORS = frozenset({1142, 1290, 1792})
"""MariaDB/MySQL: command denied to user, running with --read-only, read-only transaction."""


def _may_not_write(exc: sa.exc.DBAPIError) -> bool:
    """The database refuses this user or connection every write to the table."""
    orig = exc.orig
    if getattr(orig, "sqlite_errorname", None) == "SQLITE_READONLY":
        return True
    if getattr(orig, "sqlstate", None) in _READ_ONLY_SQLSTATES:
        return True
    args: tuple[object, ...] = getattr(orig, "args", ())
    return bool(args) and args[0] in _READ_ONLY_MYSQL_ERRORS


def _is_data_error(exc: sa.exc.DBAPIError) -> bool:
    """SQLite reports some per-row problems as OperationalError; they are not outages."""
    text = _reason(exc).lower()
    return not any(
        word in text
        for word in ("locked", "unable to open", "connection", "server closed", "timeout", "disk")
    )


def _unreadable(values: dict[str, Any]) -> str:
    """The error of a record holding a value its column's type could not convert."""
    for name, value in values.items():
        if isinstance(value, Unreadable):
            return f"column '{name}': cannot read the value {shown(value.raw)} ({value.reason})"
    return ""
