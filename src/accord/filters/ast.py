"""The filter syntax tree: frozen nodes shared by the parser, compiler, evaluator and renderer.

A filter is parsed once and then used three ways (SQL, Python, OData text), so the tree is the
contract between them. Nodes validate their own invariants so that a tree built by hand can
always be rendered and parsed back. Source positions are kept for error messages but left out
of equality: two trees parsed from differently spaced text compare equal.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import TypeAlias

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""What a field name looks like; field names are case-sensitive."""

RESERVED_WORDS = frozenset(
    {"and", "or", "not", "in", "eq", "ne", "gt", "ge", "lt", "le", "true", "false", "null"}
)
"""Words that cannot name a field, in any letter case, because the parser reads them as keywords."""

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class ComparisonOperator(StrEnum):
    """The binary comparison operators of OData ``$filter``."""

    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"


class Function(StrEnum):
    """The string functions usable as boolean terms, e.g. ``contains(name, 'x')``."""

    CONTAINS = "contains"
    STARTSWITH = "startswith"
    ENDSWITH = "endswith"


class Guid(str):
    """A GUID written without quotes: a lower-case ``str`` that remembers how to be rendered.

    It compares equal to the plain string, so evaluation and SQL treat it as text, while the
    renderer writes it unquoted as OData (and Dataverse) expects.
    """

    __slots__ = ()

    def __new__(cls, value: str) -> Guid:
        lowered = value.lower()
        if not _GUID.fullmatch(lowered):
            raise ValueError(f"not a GUID: {value!r}")
        return super().__new__(cls, lowered)

    def __repr__(self) -> str:
        return f"Guid({str.__repr__(self)})"


Value: TypeAlias = bool | int | Decimal | str | dt.datetime | dt.date | None
"""A literal's Python value; datetimes are naive UTC."""


def value_kind(value: object) -> str:
    """Name the literal type of ``value`` (``bool`` before ``int``, ``datetime`` before ``date``).

    Raises:
        TypeError: ``value`` is not a type a filter literal can hold.
        ValueError: ``value`` is a NaN or infinite decimal, which OData cannot write.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"a filter literal must be a finite number, not {value}")
        return "decimal"
    if isinstance(value, Guid):
        return "guid"
    if isinstance(value, str):
        return "str"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    raise TypeError(f"a filter literal cannot hold a {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Field:
    """A reference to a record field (a column in SQL)."""

    name: str
    position: int = field(default=0, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not IDENTIFIER.fullmatch(self.name) or self.name.lower() in RESERVED_WORDS:
            raise ValueError(f"not a valid field name: {self.name!r}")


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant; ``kind`` takes part in equality so ``true`` never equals ``1``."""

    value: Value
    position: int = field(default=0, compare=False, repr=False)
    kind: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        value = self.value
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
            object.__setattr__(self, "value", value)
        object.__setattr__(self, "kind", value_kind(value))


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field op value``; only ``eq`` and ``ne`` accept ``null`` (they become IS [NOT] NULL)."""

    field: Field
    op: ComparisonOperator
    value: Literal

    def __post_init__(self) -> None:
        if self.value.value is None and self.op not in (
            ComparisonOperator.EQ,
            ComparisonOperator.NE,
        ):
            raise ValueError(f"null can only be compared with eq or ne, not {self.op}")


@dataclass(frozen=True, slots=True)
class In:
    """``field in (v1, v2, ...)``: true when the field equals one of the values."""

    field: Field
    values: tuple[Literal, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("an 'in' list needs at least one value")
        if any(value.value is None for value in self.values):
            raise ValueError("null is not allowed in an 'in' list")


@dataclass(frozen=True, slots=True)
class Call:
    """``function(field, 'text')``: a case-sensitive substring test."""

    function: Function
    field: Field
    value: Literal

    def __post_init__(self) -> None:
        if self.value.kind != "str":
            raise ValueError(f"{self.function}() needs a quoted string, not {self.value.value!r}")


@dataclass(frozen=True, slots=True)
class Not:
    """Logical negation; under three-valued logic ``not unknown`` stays unknown."""

    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    """Conjunction of two or more operands (a chain ``a and b and c`` is one node)."""

    operands: tuple[Node, ...]

    def __post_init__(self) -> None:
        if len(self.operands) < 2:
            raise ValueError("'and' needs at least two operands")


@dataclass(frozen=True, slots=True)
class Or:
    """Disjunction of two or more operands (a chain ``a or b or c`` is one node)."""

    operands: tuple[Node, ...]

    def __post_init__(self) -> None:
        if len(self.operands) < 2:
            raise ValueError("'or' needs at least two operands")


Node: TypeAlias = Comparison | In | Call | Not | And | Or
"""Any boolean term of a filter."""


def iter_fields(node: Node) -> Iterator[Field]:
    """Yield every field reference in source order, so errors name the first offender."""
    if isinstance(node, Comparison | In | Call):
        yield node.field
    elif isinstance(node, Not):
        yield from iter_fields(node.operand)
    else:
        for operand in node.operands:
            yield from iter_fields(operand)
