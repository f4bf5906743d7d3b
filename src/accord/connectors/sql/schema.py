"""Reflection of SQL tables into Accord's :class:`TableSchema`, one dialect-neutral view."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

from accord.errors import ConfigError
from accord.model import FieldInfo, TableSchema, TableSettings


class Unreadable:
    """A stored value its column's type cannot convert: SQLite lets any value into any
    column ('abc' in a NUMERIC one, 'not a date' in a TIMESTAMP one). The record holding it
    fails alone (the connector turns the marker into :attr:`Record.error`).

    ``made`` counts the markers ever made, so that a read looks for them only in the
    batches that hold some.
    """

    __slots__ = ("raw", "reason")
    made = 0

    def __init__(self, raw: Any, reason: str) -> None:
        self.raw = raw
        self.reason = reason
        Unreadable.made += 1

    def __repr__(self) -> str:
        return f"Unreadable({self.raw!r})"


def _tolerant(process: Callable[[Any], Any] | None, kind: str) -> Callable[[Any], Any] | None:
    """``process``, returning an :class:`Unreadable` marker for a value it cannot convert."""
    if process is None:
        return None

    def tolerant(value: Any) -> Any:
        try:
            return process(value)
        except (ValueError, TypeError, ArithmeticError):
            return Unreadable(value, f"not a {kind}")

    return tolerant


class SqliteDateTime(sa.TypeDecorator[datetime]):
    """DATETIME/TIMESTAMP on SQLite (text underneath): a value that is no datetime comes
    back as :class:`Unreadable` instead of failing the whole query."""

    impl = sa.DateTime
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        return _tolerant(super().result_processor(dialect, coltype), "date and time")


class SqliteDate(sa.TypeDecorator[date]):
    """DATE on SQLite, read like :class:`SqliteDateTime`."""

    impl = sa.Date
    cache_ok = True

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        return _tolerant(super().result_processor(dialect, coltype), "date")


class ExactDecimal(sa.TypeDecorator[Decimal]):
    """NUMERIC for SQLite, which has no decimal type: bind as text, read back as Decimal.

    SQLAlchemy's own Numeric on SQLite goes through float and warns about it; binding the
    decimal's text keeps the value exact for the precisions business data uses.
    """

    impl = sa.Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        return dialect.type_descriptor(sa.Numeric(asdecimal=False))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return float(value) if isinstance(value, Decimal) else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        try:
            return Decimal(str(value))
        except (InvalidOperation, ValueError):
            return Unreadable(value, "not a number")


def field_kind(type_: sa.types.TypeEngine[Any]) -> tuple[str, int | None]:
    """Map a SQL type to one of Accord's field kinds, with its length for text."""
    if isinstance(type_, (SqliteDateTime, SqliteDate)):
        type_ = type_.impl_instance
    if isinstance(type_, sa.Boolean):
        return "boolean", None
    if isinstance(type_, sa.DateTime):
        return "datetime", None
    if isinstance(type_, sa.Date):
        return "date", None
    if isinstance(type_, sa.Integer):
        return "integer", None
    if isinstance(type_, sa.Float):
        return "float", None
    if isinstance(type_, (sa.Numeric, ExactDecimal)):
        return "decimal", None
    if isinstance(type_, sa.String):
        return "text", type_.length
    if isinstance(type_, sa.Uuid):
        return "text", 36
    return "other", None


def reflect_table(engine: sa.Engine, name: str, settings: TableSettings | None) -> sa.Table:
    """Load a table's definition from the database, fixing what its dialect reads poorly."""
    metadata = sa.MetaData()
    try:
        table = sa.Table(name, metadata, autoload_with=engine)
    except sa.exc.NoSuchTableError:
        raise ConfigError(f"table '{name}' does not exist") from None
    if engine.dialect.name == "sqlite":
        for column in table.columns:
            if isinstance(column.type, sa.Numeric) and not isinstance(column.type, sa.Float):
                column.type = ExactDecimal()
            elif isinstance(column.type, sa.DateTime):
                column.type = SqliteDateTime()
            elif isinstance(column.type, sa.Date):
                column.type = SqliteDate()
    if engine.dialect.name == "mysql":
        # MariaDB and MySQL store BOOLEAN as TINYINT(1), and reflect it as an integer.
        for column in table.columns:
            if isinstance(column.type, mysql.TINYINT) and column.type.display_width == 1:
                column.type = sa.Boolean()
    return table


def table_schema(system: str, table: sa.Table, settings: TableSettings | None) -> TableSchema:
    """Describe a reflected table; the key and modified-on column come from config or the DB."""
    key = settings.key if settings and settings.key else None
    if key is None:
        pk = list(table.primary_key.columns)
        if len(pk) != 1:
            raise ConfigError(
                f"table '{system}.{table.name}' has no single-column primary key; "
                f'set key = "..." under [tables."{system}.{table.name}"]'
            )
        key = pk[0].name
    modified = settings.modified if settings and settings.modified else None
    if modified is None:
        for guess in (
            "modifiedon",
            "last_modified",
            "modified_at",
            "updated_at",
            "systemmodifiedat",
        ):
            if guess in table.c:
                modified = guess
                break
    fields = {}
    for column in table.columns:
        kind, length = field_kind(column.type)
        fields[column.name] = FieldInfo(column.name, kind, bool(column.nullable), length)
    for role, col in (("key", key), ("modified", modified)):
        if col is not None and col not in fields:
            configured = settings is not None and getattr(settings, role) == col
            raise ConfigError(
                f"table '{system}.{table.name}' has no column '{col}' (its {role})",
                setting=role if configured else "",
            )
    return TableSchema(name=table.name, key=key, modified=modified, fields=fields)


def key_is_unique(table: sa.Table, key: str) -> bool:
    """Whether the database itself keeps ``key`` unique (primary key, unique index or
    constraint on that column alone)."""
    if [c.name for c in table.primary_key.columns] == [key]:
        return True
    for index in table.indexes:
        if index.unique and [c.name for c in index.columns] == [key]:
            return True
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint) and [c.name for c in constraint.columns] == [
            key
        ]:
            return True
    return False


def modified_storage(dialect: str, type_: sa.types.TypeEngine[Any]) -> str | None:
    """How a modified-on column of this type holds versions (see ``versions``); None when
    its type cannot hold one."""
    if isinstance(type_, SqliteDateTime):
        return "iso"  # SQLite stores DATETIME as text
    if isinstance(type_, sa.DateTime):
        return "native"
    if isinstance(type_, sa.Boolean):
        return None
    if isinstance(type_, sa.Integer):
        return "epoch"
    if isinstance(type_, (sa.String, sa.Text)) and not isinstance(type_, sa.Enum):
        return "iso"
    return None
