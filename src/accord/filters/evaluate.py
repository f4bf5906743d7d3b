"""Evaluate a syntax tree against one record in Python, with SQL's three-valued logic.

The in-memory connector filters with this and the SQL connector with the compiled
expression, and a record must be selected by both or by neither. So this module copies SQL's
rules instead of Python's: a comparison with a missing (``None``) value is *unknown*, ``not
unknown`` is unknown, ``and``/``or`` follow Kleene logic, and only a definite true selects the
record. A value whose type does not fit the literal (a number field compared with ``'0'``) is
also unknown: the SQL compiler rejects such a filter outright, and here it must not crash.
"""

from __future__ import annotations

import datetime as dt
import operator
import uuid
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from accord.filters.ast import And, Call, Comparison, ComparisonOperator, Function, In, Node, Not

Truth = bool | None
"""True, False, or None for SQL's unknown."""

_COMPARE: dict[ComparisonOperator, Callable[[Any, Any], bool]] = {
    ComparisonOperator.EQ: operator.eq,
    ComparisonOperator.NE: operator.ne,
    ComparisonOperator.GT: operator.gt,
    ComparisonOperator.GE: operator.ge,
    ComparisonOperator.LT: operator.lt,
    ComparisonOperator.LE: operator.le,
}

_FUNCTIONS: dict[Function, Callable[[str, str], bool]] = {
    Function.CONTAINS: lambda value, part: part in value,
    Function.STARTSWITH: str.startswith,
    Function.ENDSWITH: str.endswith,
}


def matches(node: Node, record: Mapping[str, Any]) -> bool:
    """Tell whether ``record`` is selected: the filter is definitely true for it.

    A field missing from ``record`` counts as null, as an absent column value would.
    """
    return evaluate(node, record) is True


def evaluate(node: Node, record: Mapping[str, Any]) -> Truth:
    """Return the three-valued truth of ``node`` for ``record``."""
    if isinstance(node, Comparison):
        actual = record.get(node.field.name)
        expected = node.value.value
        if expected is None:
            is_null = actual is None
            return is_null if node.op is ComparisonOperator.EQ else not is_null
        return _compare(node.op, actual, expected)
    if isinstance(node, In):
        actual = record.get(node.field.name)
        return _any(_compare(ComparisonOperator.EQ, actual, value.value) for value in node.values)
    if isinstance(node, Call):
        actual = _normalize(record.get(node.field.name))
        if not isinstance(actual, str):
            return None
        return _FUNCTIONS[node.function](actual, str(node.value.value))
    if isinstance(node, Not):
        truth = evaluate(node.operand, record)
        return None if truth is None else not truth
    if isinstance(node, And):
        # Kleene 'and' is the negation of 'or' over the negated operands (De Morgan).
        return _negate(_any(_negate(evaluate(operand, record)) for operand in node.operands))
    return _any(evaluate(operand, record) for operand in node.operands)


def _any(truths: Iterable[Truth]) -> Truth:
    """Kleene 'or': true if any is true, else unknown if any is unknown, else false."""
    unknown = False
    for truth in truths:
        if truth is True:
            return True
        unknown = unknown or truth is None
    return None if unknown else False


def _negate(truth: Truth) -> Truth:
    return None if truth is None else not truth


def _compare(op: ComparisonOperator, actual: Any, expected: Any) -> Truth:
    """Compare a record value with a non-null literal; unknown for null or unlike types."""
    if isinstance(actual, uuid.UUID):
        # A GUID column compares GUIDs, however the literal's hex digits are cased.
        if not isinstance(expected, str):
            return None
        try:
            expected = str(uuid.UUID(expected))
        except ValueError:
            return None
    actual = _normalize(actual)
    if actual is None:
        return None
    if isinstance(actual, dt.datetime) and type(expected) is dt.date:
        # A date literal against a timestamp means midnight, as SQL casts it.
        expected = dt.datetime.combine(expected, dt.time())
    kind = _kind(actual)
    if kind is None or kind != _kind(expected):
        return None
    try:
        return _COMPARE[op](actual, expected)
    except (TypeError, ArithmeticError):
        return None


def _normalize(value: Any) -> Any:
    """Bring a stored value to the literal's terms: naive UTC datetimes, GUIDs as text."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _kind(value: Any) -> str | None:
    """Group values that SQL compares with each other; None for types filters do not know."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | Decimal | float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dt.datetime):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    return None
