"""OData-style ``$filter`` expressions for table mappings.

Parse a filter once with :func:`parse_filter`, then compile it to SQL
(:meth:`Filter.to_sql`), evaluate it in Python (:meth:`Filter.matches`) or render it back to
OData text (:meth:`Filter.to_odata`). The syntax-tree classes are exported for connectors
that translate filters themselves.
"""

from __future__ import annotations

from accord.errors import FilterError
from accord.filters.ast import (
    And,
    Call,
    Comparison,
    ComparisonOperator,
    Field,
    Function,
    Guid,
    In,
    Literal,
    Node,
    Not,
    Or,
    Value,
)
from accord.filters.filter import Filter, and_filters, parse_filter

__all__ = [
    "And",
    "Call",
    "Comparison",
    "ComparisonOperator",
    "Field",
    "Filter",
    "FilterError",
    "Function",
    "Guid",
    "In",
    "Literal",
    "Node",
    "Not",
    "Or",
    "Value",
    "and_filters",
    "parse_filter",
]
