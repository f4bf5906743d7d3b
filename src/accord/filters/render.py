"""Render a syntax tree back to canonical OData ``$filter`` text.

The output is meant for HTTP connectors (Dataverse, Business Central) and for messages, so it
uses the forms those services accept: lower-case keywords, single spaces, unquoted GUIDs,
``Z``-suffixed UTC datetimes. Parentheses are added only where needed to keep the tree's
shape, so that parsing the output yields the same tree again.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from accord.filters.ast import And, Call, Comparison, Guid, In, Literal, Node, Not, Or


def render(node: Node) -> str:
    """Return canonical OData text for ``node``; ``parse(render(node)) == node``."""
    if isinstance(node, Comparison):
        return f"{node.field.name} {node.op.value} {render_literal(node.value)}"
    if isinstance(node, In):
        values = ", ".join(render_literal(value) for value in node.values)
        return f"{node.field.name} in ({values})"
    if isinstance(node, Call):
        return f"{node.function.value}({node.field.name}, {render_literal(node.value)})"
    if isinstance(node, Not):
        # Real OData gives 'not' a higher precedence than 'eq', so 'not a eq 1' would mean
        # '(not a) eq 1' there: wrap everything except terms that are already atomic.
        operand = render(node.operand)
        if isinstance(node.operand, Call | Not):
            return f"not {operand}"
        return f"not ({operand})"
    if isinstance(node, And):
        # An 'and' inside an 'and' only exists when the source had parentheses; keep them.
        return " and ".join(_operand(operand, inside_and=True) for operand in node.operands)
    return " or ".join(_operand(operand, inside_and=False) for operand in node.operands)


def _operand(node: Node, *, inside_and: bool) -> str:
    """Render an operand of and/or, in parentheses if it is an or, or an and inside an and."""
    text = render(node)
    if isinstance(node, Or) or (inside_and and isinstance(node, And)):
        return f"({text})"
    return text


def render_literal(literal: Literal) -> str:
    """Write one literal the way the parser reads it back with the same value and kind."""
    value = literal.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, Guid):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.datetime):
        return value.isoformat() + "Z"
    return value.isoformat()


def _decimal(value: Decimal) -> str:
    """Fixed-point text that always has a '.', so it is read back as a decimal, not an int."""
    text = format(value, "f")
    return text if "." in text else text + ".0"
