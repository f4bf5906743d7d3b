"""Hypothesis strategies: token soup, arbitrary syntax trees, and filters over a fixed schema."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from hypothesis import strategies as st

from accord.filters import (
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
)
from accord.filters.ast import RESERVED_WORDS

OPERATORS = list(ComparisonOperator)
EQUALITY = [ComparisonOperator.EQ, ComparisonOperator.NE]

# -- token soup for the "never crashes" property ---------------------------------------------

TOKENS = [
    "(",
    ")",
    ",",
    "'",
    "''",
    "'abc'",
    "'O''Bryan'",
    "'unterminated",
    "eq",
    "NE",
    "gt",
    "Ge",
    "lt",
    "le",
    "like",
    "in",
    "IN",
    "and",
    "AND",
    "or",
    "Or",
    "not",
    "NOT",
    "true",
    "False",
    "null",
    "NULL",
    "name",
    "Name",
    "_x1",
    "contains",
    "startswith(",
    "endswith",
    "foo(",
    "0",
    "-3",
    "12.50",
    "-0.001",
    "1e5",
    "1.",
    ".5",
    "-",
    "+5",
    "9" * 5000,
    "2024-01-01",
    "2024-13-45",
    "2024-02-30",
    "2024-01-01T10:00:00Z",
    "2024-01-01T10:00",
    "2024-01-01t10:00z",
    "2024-01-01T10:00:00.1234567Z",
    "2024-01-01T25:00:00+01:00",
    "2024-01-01T10:00:00+24:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "0000-01-01",
    "01234567-89ab-cdef-0123-456789abcdef",
    "01234567-89AB-CDEF-0123-456789ABCDEF",
    "01234567-89ab",
    "$",
    "\x00",
    "é",
    "٣",
    "\n",
    "((((((((((((((((((((((((((((((((((",
    "not not not not not not not not not not not not not not not not not not not not not not "
    "not not not not not not not not not not not not not not not not",
]

token_soup = st.builds(
    str.join,
    st.sampled_from([" ", ""]),
    st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=3)), max_size=12),
)

# -- arbitrary trees for the round-trip property ----------------------------------------------

identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda name: name.lower() not in RESERVED_WORDS
)
fields = identifiers.map(Field)
decimals = st.integers(0, 6).flatmap(
    lambda places: st.decimals(
        min_value=-(10**12), max_value=10**12, places=places, allow_nan=False, allow_infinity=False
    )
)
non_null_values: st.SearchStrategy[Any] = st.one_of(
    st.booleans(),
    st.integers(),
    decimals,
    st.text(),
    st.uuids().map(lambda value: Guid(str(value))),
    st.datetimes(),
    st.dates(),
)


def trees(leaves: st.SearchStrategy[Node], max_leaves: int = 10) -> st.SearchStrategy[Node]:
    """Trees of not/and/or over ``leaves``, shallow enough for the parser's nesting limit."""

    def extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        operands = st.lists(children, min_size=2, max_size=4).map(tuple)
        return st.one_of(children.map(Not), operands.map(And), operands.map(Or))

    return st.recursive(leaves, extend, max_leaves=max_leaves).filter(
        lambda node: depth(node) <= 12
    )


def depth(node: Node) -> int:
    if isinstance(node, Not):
        return 1 + depth(node.operand)
    if isinstance(node, And | Or):
        return 1 + max(depth(operand) for operand in node.operands)
    return 0


any_leaves: st.SearchStrategy[Node] = st.one_of(
    st.builds(Comparison, fields, st.sampled_from(OPERATORS), non_null_values.map(Literal)),
    st.builds(Comparison, fields, st.sampled_from(EQUALITY), st.just(Literal(None))),
    st.builds(
        In, fields, st.lists(non_null_values.map(Literal), min_size=1, max_size=4).map(tuple)
    ),
    st.builds(Call, st.sampled_from(list(Function)), fields, st.text().map(Literal)),
)
any_trees = trees(any_leaves)

# -- a fixed schema, its rows, and filters that fit it -----------------------------------------

TEXT_ALPHABET = "aAbB%_;-'/* \\é"
# Mostly a tiny alphabet, so that values collide and case differences show; sometimes more.
texts = st.one_of(st.text(alphabet="aA%_", max_size=3), st.text(alphabet=TEXT_ALPHABET, max_size=4))
STAMPS = [
    dt.datetime(2024, 1, 1),
    dt.datetime(2024, 1, 1, 10),
    dt.datetime(2024, 1, 1, 10, 0, 0, 500000),
    dt.datetime(2024, 1, 2, 23, 59, 59),
]
stamps = st.one_of(
    st.sampled_from(STAMPS),
    st.datetimes(min_value=dt.datetime(2023, 12, 31), max_value=dt.datetime(2024, 1, 3)),
)
days = st.dates(min_value=dt.date(2023, 12, 30), max_value=dt.date(2024, 1, 3))
amounts = st.integers(0, 3).flatmap(
    lambda places: st.decimals(min_value=-5, max_value=5, places=places)
)


def schema_columns(text_collation: str | None = None) -> list[sa.Column[Any]]:
    """Every column nullable; ``text_collation`` lets PostgreSQL use a non-byte order."""
    return [
        sa.Column("name", sa.String(40, collation=text_collation)),
        sa.Column("qty", sa.Integer),
        sa.Column("amount", sa.Numeric(12, 3)),
        sa.Column("flag", sa.Boolean),
        sa.Column("at", sa.DateTime),
        sa.Column("day", sa.Date),
    ]


COLUMN_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": texts,
    "qty": st.integers(-3, 3),
    "amount": amounts,
    "flag": st.booleans(),
    "at": stamps,
    "day": days,
}
LITERALS: dict[str, st.SearchStrategy[Any]] = {
    "name": texts,
    "qty": st.one_of(st.integers(-4, 4), st.decimals(min_value=-4, max_value=4, places=1)),
    "amount": st.one_of(st.integers(-5, 5), amounts),
    "flag": st.booleans(),
    "at": st.one_of(stamps, days),
    "day": days,
}

rows = st.lists(
    st.fixed_dictionaries(
        {name: st.one_of(st.none(), values) for name, values in COLUMN_VALUES.items()}
    ),
    min_size=1,
    max_size=8,
).map(lambda items: [{"key": index, **item} for index, item in enumerate(items)])


def _fragments(text: str) -> list[str]:
    """Pieces of a stored value, as written and with case swapped, to use as literals."""
    pieces = {text[start:end] for start in range(len(text)) for end in range(start, len(text) + 1)}
    return sorted(pieces | {piece.swapcase() for piece in pieces})


def _leaves(literals: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Node]:
    @st.composite
    def leaf(draw: st.DrawFn) -> Node:
        # Text is where databases and Python differ most (case, collation, LIKE): favour it.
        name = draw(st.sampled_from(["name", "name", "name", *sorted(literals)]))
        field = Field(name)
        literal = literals[name].map(Literal)
        shape = draw(st.sampled_from(["compare", "compare", "null", "in", "call", "call"]))
        if shape == "null":
            return Comparison(field, draw(st.sampled_from(EQUALITY)), Literal(None))
        if shape == "in":
            return In(field, tuple(draw(st.lists(literal, min_size=1, max_size=3))))
        if shape == "call" and name == "name":
            return Call(draw(st.sampled_from(list(Function))), field, draw(literal))
        return Comparison(field, draw(st.sampled_from(OPERATORS)), draw(literal))

    return leaf()


@st.composite
def schema_cases(draw: st.DrawFn, *, text_only: bool = False) -> tuple[Node, list[dict[str, Any]]]:
    """Rows, and a filter whose literals are often taken from (or near) those rows' values.

    With ``text_only`` the filter uses only the text column, where dialects differ most.
    """
    table = draw(rows)
    literals = {"name": LITERALS["name"]} if text_only else dict(LITERALS)
    for name in literals:
        stored = sorted({row[name] for row in table if row[name] is not None}, key=repr)
        if name == "name":
            stored = sorted({piece for text in stored for piece in _fragments(text)})
        if stored:
            literals[name] = st.one_of(LITERALS[name], st.sampled_from(stored))
    return draw(trees(_leaves(literals), max_leaves=6)), table
