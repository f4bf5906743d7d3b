"""Reflection of SQL tables into Accord's :class:`TableSchema`, one dialect-neutral view."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

from accord.errors import ConfigError
from accord.model import FieldInfo, TableSchema, TableSettings


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

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value))


def field_kind(type_: sa.types.TypeEngine[Any]) -> tuple[str, int | None]:
    """Map a SQL type to one of Accord's field kinds, with its length for text."""
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
            raise ConfigError(f"table '{system}.{table.name}' has no column '{col}' (its {role})")
    return TableSchema(name=table.name, key=key, modified=modified, fields=fields)
