"""The :class:`Filter` value users hold, and the functions that make one.

A filter is parsed once, when the configuration is loaded, and then applied many times in
three forms: SQL for database connectors, Python for the in-memory connector, and OData text
for HTTP connectors. Keeping the source text next to the tree lets every later error (an
unknown field found only when the mapping is checked) point into what the user wrote.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.sql.elements import ColumnElement

from accord.errors import FilterError
from accord.filters.ast import Node, iter_fields
from accord.filters.evaluate import matches
from accord.filters.parser import parse
from accord.filters.render import render
from accord.filters.sql import compile_filter


def parse_filter(text: str) -> Filter:
    """Parse OData ``$filter`` text such as ``"statecode eq 0 and name ne ''"``.

    Callers treat an empty setting as "no filter" themselves; here it is an error, so a
    filter object always filters something.

    Raises:
        FilterError: the text is empty or malformed; ``position`` is the 0-based offset of
            the offending token and the message says what was expected there.
    """
    return Filter(text=text, root=parse(text))


def and_filters(*filters: Filter | None) -> Filter | None:
    """Combine filters with 'and', ignoring ``None``; None when nothing is left.

    The result is parsed from the parenthesized source texts joined by ``and``, so its field
    positions point into its own text.
    """
    present = [item for item in filters if item is not None]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return parse_filter(" and ".join(f"({item.text})" for item in present))


@dataclass(frozen=True, slots=True)
class Filter:
    """A parsed filter: the source ``text`` and the syntax tree ``root``.

    Equality and hashing compare the tree only, so ``parse_filter(f.to_odata()) == f``.
    """

    text: str = field(compare=False)
    root: Node

    @property
    def fields(self) -> frozenset[str]:
        """The names of all fields the filter refers to."""
        return frozenset(item.name for item in iter_fields(self.root))

    def check_fields(self, known: Collection[str]) -> None:
        """Verify that every field referred to is in ``known``, so typos fail at load time.

        Raises:
            FilterError: at the position of the first unknown field, with a suggestion when
                a known name is close.
        """
        for item in iter_fields(self.root):
            if item.name not in known:
                message = f"unknown field '{item.name}'"
                close = difflib.get_close_matches(item.name, [str(name) for name in known], n=1)
                if close:
                    message += f" (did you mean '{close[0]}'?)"
                raise FilterError(message, text=self.text, position=item.position)

    def to_sql(self, columns: Mapping[str, ColumnElement[Any]]) -> ColumnElement[bool]:
        """Compile to a SQLAlchemy boolean expression with bound parameters.

        Args:
            columns: field name to column, e.g. ``{c.key: c for c in table.c}``.

        Raises:
            FilterError: a field is missing from ``columns`` or a literal does not fit its
                column's type; ``position`` points at it.
        """
        return compile_filter(self.root, columns, text=self.text)

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Tell whether ``record`` is selected, with the same answer the SQL would give.

        Comparisons with a null (or missing) field, or with a value of another type, are
        unknown, and unknown does not select: ``not (x eq 'a')`` is false when ``x`` is null.
        """
        return matches(self.root, record)

    def to_odata(self) -> str:
        """Render canonical OData text, e.g. for an HTTP connector's ``$filter`` parameter."""
        return render(self.root)
