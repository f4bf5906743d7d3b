"""Compile a syntax tree to a SQLAlchemy Core boolean expression.

Every literal becomes a bound parameter; no user text is ever spliced into SQL. The result
must select exactly the rows that :func:`accord.filters.evaluate.matches` accepts, which
takes some care where databases differ from Python:

* SQLite's ``LIKE`` ignores ASCII case, so on SQLite the string functions use ``instr`` and
  ``substr``; elsewhere they use ``LIKE`` with ``autoescape`` so ``%`` and ``_`` are literal.
* Text columns may declare a collation that ignores case or orders ``'a' < 'B'``, so text
  comparisons add ``COLLATE BINARY`` on SQLite and, for ordering, ``COLLATE "C"`` on
  PostgreSQL, to compare by code point as Python does. Other dialects get the portable
  form, and their collation decides (MySQL's default ``*_ci`` collations ignore case).
* A literal whose type cannot match the column (``statecode eq '0'`` on an integer column)
  is refused with a :class:`FilterError`, because databases disagree on what it would mean.

The dialect-specific parts are one construct (:class:`_PerDialect`) that holds each variant
and renders the one for the dialect at hand, so the expression stays dialect-neutral and
cacheable until it is executed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.operators import OperatorType
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType

from accord.errors import FilterError
from accord.filters.ast import (
    And,
    Call,
    Comparison,
    ComparisonOperator,
    Field,
    Function,
    In,
    Literal,
    Node,
    Not,
)
from accord.filters.render import render_literal

_Condition = ColumnElement[bool]

_COMPARE: dict[ComparisonOperator, Callable[[ColumnElement[Any], Any], _Condition]] = {
    ComparisonOperator.EQ: lambda column, value: column == value,
    ComparisonOperator.NE: lambda column, value: column != value,
    ComparisonOperator.GT: lambda column, value: column > value,
    ComparisonOperator.GE: lambda column, value: column >= value,
    ComparisonOperator.LT: lambda column, value: column < value,
    ComparisonOperator.LE: lambda column, value: column <= value,
}

_DESCRIPTIONS = {
    "bool": "booleans",
    "number": "numbers",
    "text": "text",
    "uuid": "GUIDs",
    "datetime": "datetimes",
    "date": "dates",
}


class _PerDialect(ColumnElement[bool]):
    """A condition written one way for SQLite, one way for PostgreSQL, one way elsewhere."""

    __visit_name__ = "accord_filter_per_dialect"
    inherit_cache = True
    # SQLAlchemy reads this per class for cache keys; the base declares it as an instance
    # attribute, so it cannot be a ClassVar here.
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012
        ("default", InternalTraversal.dp_clauseelement),
        ("sqlite", InternalTraversal.dp_clauseelement),
        ("postgresql", InternalTraversal.dp_clauseelement),
        ("mysql", InternalTraversal.dp_clauseelement),
    ]
    type = sa.Boolean()

    def __init__(
        self,
        default: _Condition,
        *,
        sqlite: _Condition | None = None,
        postgresql: _Condition | None = None,
        mysql: _Condition | None = None,
    ) -> None:
        self.default = default
        self.sqlite = default if sqlite is None else sqlite
        self.postgresql = default if postgresql is None else postgresql
        self.mysql = default if mysql is None else mysql

    def self_group(self, against: OperatorType | None = None) -> ColumnElement[Any]:
        # Always rendered in parentheses, and already a condition: no "= 1" on SQLite.
        return self

    def _negate(self) -> ColumnElement[Any]:
        return _PerDialect(
            sa.not_(self.default),
            sqlite=sa.not_(self.sqlite),
            postgresql=sa.not_(self.postgresql),
            mysql=sa.not_(self.mysql),
        )


@compiles(_PerDialect)
def _compile_default(element: _PerDialect, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.default, **kw)})"


@compiles(_PerDialect, "sqlite")
def _compile_sqlite(element: _PerDialect, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.sqlite, **kw)})"


@compiles(_PerDialect, "postgresql")
def _compile_postgresql(element: _PerDialect, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.postgresql, **kw)})"


@compiles(_PerDialect, "mysql")
def _compile_mysql(element: _PerDialect, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.mysql, **kw)})"


def _binary(value: ColumnElement[Any] | str) -> ColumnElement[Any]:
    """MariaDB/MySQL text as bytes: its usual collations ignore case and trailing spaces."""
    expression = value if not isinstance(value, str) else sa.literal(value, sa.String())
    # Typed as text again so that values compared with it are bound as text, not bytes.
    return sa.type_coerce(sa.cast(expression, sa.LargeBinary), sa.String())


def compile_filter(
    node: Node, columns: Mapping[str, ColumnElement[Any]], *, text: str = ""
) -> _Condition:
    """Build the WHERE condition for ``node``, looking fields up in ``columns``.

    Args:
        node: the root of a parsed filter.
        columns: field name to column (``{c.key: c for c in table.c}``).
        text: the filter's source text, quoted in error messages.

    Raises:
        FilterError: a field is not in ``columns``, or a literal cannot be compared with its
            column's type; ``position`` points at the field or the literal.
    """
    return _Compiler(columns, text).compile(node)


class _Compiler:
    def __init__(self, columns: Mapping[str, ColumnElement[Any]], text: str) -> None:
        self._columns = columns
        self._text = text

    def compile(self, node: Node) -> _Condition:
        if isinstance(node, Comparison):
            return self._comparison(node)
        if isinstance(node, In):
            column = self._column(node.field)
            kind = _column_kind(column)
            values = [self._bind(node.field, column, kind, value) for value in node.values]
            if kind == "text":
                return _exact_text(column, lambda target: target.in_(values), ordering=False)
            return column.in_(values)
        if isinstance(node, Call):
            return self._call(node)
        if isinstance(node, Not):
            return sa.not_(self.compile(node.operand))
        parts = [self.compile(operand) for operand in node.operands]
        return sa.and_(*parts) if isinstance(node, And) else sa.or_(*parts)

    def _column(self, field: Field) -> ColumnElement[Any]:
        if field.name not in self._columns:
            raise FilterError(
                f"unknown field '{field.name}'", text=self._text, position=field.position
            )
        return self._columns[field.name]

    def _comparison(self, node: Comparison) -> _Condition:
        column = self._column(node.field)
        if node.value.value is None:
            return column.is_(None) if node.op is ComparisonOperator.EQ else column.is_not(None)
        kind = _column_kind(column)
        value = self._bind(node.field, column, kind, node.value)
        compare = _COMPARE[node.op]
        if kind == "text":
            ordering = node.op not in (ComparisonOperator.EQ, ComparisonOperator.NE)
            return _exact_text(column, lambda target: compare(target, value), ordering=ordering)
        return compare(column, value)

    def _call(self, node: Call) -> _Condition:
        column = self._column(node.field)
        kind = _column_kind(column)
        if kind not in ("text", None):
            raise FilterError(
                f"{node.function}() needs a text field, but '{node.field.name}' holds "
                f"{_DESCRIPTIONS[kind]}",
                text=self._text,
                position=node.field.position,
            )
        part = str(node.value.value)
        raw, raw_part = _binary(column), _binary(part)
        if node.function is Function.CONTAINS:
            return _PerDialect(
                column.contains(part, autoescape=True),
                sqlite=sa.func.instr(column, part) > 0,
                mysql=sa.func.instr(raw, raw_part) > 0,
            )
        size, nbytes = len(part), len(part.encode())
        if node.function is Function.STARTSWITH:
            return _PerDialect(
                column.startswith(part, autoescape=True),
                sqlite=sa.func.substr(column, 1, size) == part,
                mysql=sa.func.left(raw, nbytes) == raw_part,
            )
        length = sa.func.length(column)
        return _PerDialect(
            column.endswith(part, autoescape=True),
            sqlite=sa.and_(length >= size, sa.func.substr(column, length - size + 1) == part),
            mysql=sa.func.right(raw, nbytes) == raw_part,
        )

    def _bind(
        self, field: Field, column: ColumnElement[Any], kind: str | None, literal: Literal
    ) -> Any:
        """Convert ``literal`` to what the column's type binds, or refuse an impossible pair."""
        value = literal.value
        if isinstance(value, str):
            value = str(value)  # a plain str: drivers need not know the Guid subclass
        if isinstance(value, bool) and kind in ("bool", None):
            # A bare True/False would make SQLAlchemy refuse 'gt' and 'lt'; bind it instead.
            return sa.literal(value, column.type if kind else sa.Boolean())
        if kind is None:
            return value
        column_type = _base_type(column)
        if kind == "number" and isinstance(value, int | Decimal) and not isinstance(value, bool):
            if isinstance(value, Decimal):
                # An integer column would bind (and PostgreSQL cast) 1.5 as an integer.
                return sa.literal(value, sa.Numeric())
            return value
        if kind == "text" and isinstance(value, str):
            return value
        if kind == "uuid" and isinstance(value, str):
            try:
                parsed = uuid.UUID(value)
            except ValueError:
                pass
            else:
                as_uuid = getattr(column_type, "as_uuid", True)
                return parsed if as_uuid else str(parsed)
        if kind == "datetime" and isinstance(value, dt.date):
            if not isinstance(value, dt.datetime):
                value = dt.datetime.combine(value, dt.time())
            if getattr(column_type, "timezone", False):
                value = value.replace(tzinfo=dt.UTC)
            return value
        if kind == "date" and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        raise FilterError(
            f"field '{field.name}' holds {_DESCRIPTIONS[kind]}, so it cannot be compared "
            f"with {render_literal(literal)}",
            text=self._text,
            position=literal.position,
        )


def _exact_text(
    column: ColumnElement[Any],
    condition: Callable[[ColumnElement[Any]], _Condition],
    *,
    ordering: bool,
) -> _Condition:
    """Compare text by code point, as Python does, whatever collation the column declares.

    SQLite gets ``COLLATE BINARY`` (a NOCASE column would otherwise ignore case). PostgreSQL
    gets ``COLLATE "C"`` for ordering only: its deterministic collations already compare
    equality exactly, and leaving ``=`` alone keeps the column's indexes usable.
    """
    return _PerDialect(
        condition(column),
        sqlite=condition(column.collate("BINARY")),
        postgresql=condition(column.collate("C")) if ordering else condition(column),
        mysql=condition(_binary(column)),
    )


def _base_type(column: ColumnElement[Any]) -> sa.types.TypeEngine[Any]:
    """The column's type, looking through a TypeDecorator to the type it stores as."""
    column_type = column.type
    if isinstance(column_type, sa.types.TypeDecorator):
        return column_type.impl_instance
    return column_type


def _column_kind(column: ColumnElement[Any]) -> str | None:
    """Group a column's type by the literals it accepts; None when the type is unknown."""
    column_type = _base_type(column)
    if isinstance(column_type, sa.Boolean):
        return "bool"
    if isinstance(column_type, sa.Integer | sa.Numeric):
        return "number"
    if isinstance(column_type, sa.Uuid):
        return "uuid"
    if isinstance(column_type, sa.String):
        return "text"
    if isinstance(column_type, sa.DateTime):
        return "datetime"
    if isinstance(column_type, sa.Date):
        return "date"
    return None
