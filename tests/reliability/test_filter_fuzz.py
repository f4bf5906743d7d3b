"""Fuzzing the ``$filter`` language with grammar-guided texts and their mutations.

``tests/filters`` already feeds the parser random text and token soup, and checks that trees
rendered canonically select the same rows in SQL and in Python. This adds what users write:
filters spelled with free spacing and keyword case, then mutated (spans dropped, doubled,
swapped, stray tokens inserted). Every result parses or raises a FilterError inside the text;
every filter that parses compiles for SQLite (or is refused with a FilterError at a field or a
literal), and SQLite then selects exactly the rows the Python evaluator accepts.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accord.filters import Filter, FilterError, parse_filter
from tests.filters.strategies import TOKENS, schema_columns
from tests.filters.support import python_keys, sql_keys, unique_table

SCALE = int(os.environ.get("ACCORD_FUZZ_SCALE", "1"))
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- grammar-guided texts ---------------------------------------------------------------------

spaces = st.sampled_from([" ", " ", " ", "  ", "\t", "\n", " \r\n "])
optional_spaces = st.sampled_from(["", "", " ", "\t"])


def keyword(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.upper(), word.capitalize()])


def quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


text_values = st.one_of(
    st.text(alphabet="aAbB%_", max_size=3),
    st.text(alphabet="aA'\\;-/* é\U0001f600", max_size=5),
    st.sampled_from(["x'; DROP TABLE t; --", "' OR 1=1 --", "/* */", "O'Bryan"]),
)
LITERAL_TEXT: dict[str, st.SearchStrategy[str]] = {
    "name": text_values.map(quote),
    "qty": st.integers(-4, 4).map(str),
    "amount": st.decimals(min_value=-5, max_value=5, places=2).map(lambda d: format(d, "f")),
    "flag": st.sampled_from(["true", "false", "TRUE", "False"]),
    "at": st.one_of(
        st.datetimes(min_value=dt.datetime(2023, 12, 31), max_value=dt.datetime(2024, 1, 3)).map(
            lambda d: d.strftime("%Y-%m-%dT%H:%M:%S") + "Z"
        ),
        st.sampled_from(
            ["2024-01-01T10:00Z", "2024-01-01T11:00:00+01:00", "2024-01-01t10:00:00.5z"]
        ),
        st.dates(min_value=dt.date(2023, 12, 31), max_value=dt.date(2024, 1, 3)).map(str),
    ),
    "day": st.dates(min_value=dt.date(2023, 12, 30), max_value=dt.date(2024, 1, 3)).map(str),
}
FIELDS = sorted(LITERAL_TEXT)


@st.composite
def leaf_texts(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from([*FIELDS, "name", "name", "nmae"]))
    literal = LITERAL_TEXT.get(name, LITERAL_TEXT["name"])
    shape = draw(st.sampled_from(["compare", "compare", "null", "in", "call"]))
    gap = draw(spaces)
    if shape == "null":
        op = draw(st.sampled_from(["eq", "ne"]))
        return f"{name}{gap}{draw(keyword(op))}{gap}{draw(keyword('null'))}"
    if shape == "in":
        sep = draw(optional_spaces) + "," + draw(optional_spaces)
        values = sep.join(draw(st.lists(literal, min_size=1, max_size=3)))
        return f"{name}{gap}{draw(keyword('in'))}{gap}({values})"
    if shape == "call" and name == "name":
        function = draw(st.sampled_from(["contains", "startswith", "endswith"]))
        return f"{draw(keyword(function))}({name},{gap}{draw(literal)})"
    op = draw(st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]))
    return f"{name}{gap}{draw(keyword(op))}{gap}{draw(literal)}"


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    @st.composite
    def combined(draw: st.DrawFn) -> str:
        how = draw(st.sampled_from(["and", "or", "not", "parens"]))
        if how == "not":
            inner = draw(children)
            return f"{draw(keyword('not'))}{draw(spaces)}({inner})"
        if how == "parens":
            return f"({draw(optional_spaces)}{draw(children)}{draw(optional_spaces)})"
        parts = draw(st.lists(children, min_size=2, max_size=3))
        joiner = draw(spaces) + draw(keyword(how)) + draw(spaces)
        return joiner.join(parts)

    return combined()


filter_texts = st.recursive(leaf_texts(), _combine, max_leaves=6)


@st.composite
def mutated_texts(draw: st.DrawFn) -> str:
    """A grammatical filter with one or two edits that may or may not break it."""
    text = draw(filter_texts)
    for _ in range(draw(st.integers(1, 2))):
        size = len(text)
        start = draw(st.integers(0, size))
        end = draw(st.integers(start, min(size, start + 8)))
        edit = draw(st.sampled_from(["drop", "double", "insert", "replace", "truncate", "swap"]))
        if edit == "drop":
            text = text[:start] + text[end:]
        elif edit == "double":
            text = text[:end] + text[start:end] + text[end:]
        elif edit == "insert":
            token = draw(st.one_of(st.sampled_from(TOKENS[:-3]), st.text(max_size=2)))
            text = text[:start] + f" {token} " + text[start:]
        elif edit == "replace":
            text = text[:start] + draw(st.sampled_from(list("()',-.:Zt 09aé\\"))) + text[end:]
        elif edit == "truncate":
            text = text[:start]
        else:
            other = draw(st.integers(0, size))
            low, high = sorted((start, other))
            text = text[:low] + text[high:end] + text[low:high] + text[end:] if end > high else text
    return text


# -- the properties ---------------------------------------------------------------------------

_STAMP = dt.datetime(2024, 1, 1, 10)
FIXED_ROWS: list[dict[str, Any]] = [
    {"key": 0},  # every column null
    {"key": 1, "name": "a", "qty": 0, "amount": Decimal("0"), "flag": False},
    {"key": 2, "name": "A", "qty": 1, "amount": Decimal("1.5"), "flag": True, "at": _STAMP},
    {"key": 3, "name": "", "qty": -1, "amount": Decimal("-0.25"), "day": dt.date(2024, 1, 1)},
    {"key": 4, "name": "a%b_", "qty": 4, "at": dt.datetime(2024, 1, 1), "day": dt.date(2024, 1, 2)},
    {"key": 5, "name": "O'Bryan", "qty": -4, "amount": Decimal("-5"), "at": _STAMP},
    {"key": 6, "name": "x'; DROP TABLE t; --", "flag": True, "day": dt.date(2023, 12, 31)},
    {"key": 7, "name": "é\U0001f600", "at": dt.datetime(2024, 1, 2, 23, 59, 59)},
    {"key": 8, "name": "back\\slash", "amount": Decimal("5"), "at": _STAMP.replace(microsecond=5)},
    {"key": 9, "name": "aA", "qty": 2, "flag": False, "day": dt.date(2024, 1, 3)},
]
"""A table with nulls, case variants, wildcards, quotes and boundary values, loaded once."""


@pytest.fixture(scope="module")
def table() -> Iterator[tuple[sa.Engine, sa.Table]]:
    engine = sa.create_engine("sqlite://")
    with unique_table(engine, *schema_columns()) as created:
        with engine.begin() as connection:
            columns = [column.key for column in created.c]
            connection.execute(
                created.insert(), [{c: row.get(c) for c in columns} for row in FIXED_ROWS]
            )
        yield engine, created
    engine.dispose()


def parse_or_locate(text: str) -> Filter | None:
    """Parse ``text``; a FilterError must name a position inside it."""
    try:
        return parse_filter(text)
    except FilterError as error:
        assert error.text == text
        assert 0 <= error.position < max(len(text), 1), (error.position, len(text))
        assert f"at position {error.position + 1} in filter" in str(error)
        return None


def compile_or_locate(flt: Filter, table: sa.Table) -> sa.ColumnElement[bool] | None:
    """Compile for the table; a refusal must point at a field or a literal of the text."""
    columns = {column.key: column for column in table.c}
    try:
        return flt.to_sql(columns)
    except FilterError as error:
        assert error.text == flt.text
        assert 0 <= error.position < len(flt.text)
        named = re.search(r"'([A-Za-z_][A-Za-z0-9_]*)'", error.message)
        if error.message.startswith("unknown field") or "needs a text field" in error.message:
            assert named is not None
            assert flt.text.startswith(named.group(1), error.position), error
            assert named.group(1) not in FIELDS or "needs a text field" in error.message
        else:
            assert "so it cannot be compared with" in error.message, error
            assert flt.text[error.position] not in " ()", error
        return None


def agree(engine: sa.Engine, table: sa.Table, flt: Filter) -> None:
    """SQLite selects from the fixed rows exactly what the Python evaluator accepts."""
    with engine.connect() as connection:
        assert sql_keys(connection, table, flt) == python_keys(FIXED_ROWS, flt), flt.text


@settings(FUZZ, max_examples=300 * SCALE)
@given(text=filter_texts)
@example(text="name eq 'x''; DROP TABLE t; --' OR qty eq 1")
@example(text="NOT\t(amount ge -0.50)\nAnd day le 2024-01-02")
def test_grammatical_filters_parse_and_select_the_same_rows_in_sqlite_and_python(
    table: tuple[sa.Engine, sa.Table], text: str
) -> None:
    engine, created = table
    flt = parse_filter(text)  # a grammatical text always parses
    if compile_or_locate(flt, created) is not None:
        agree(engine, created, flt)


@settings(FUZZ, max_examples=500 * SCALE)
@given(text=mutated_texts())
def test_mutated_filters_fail_inside_the_text_or_select_the_same_rows(
    table: tuple[sa.Engine, sa.Table], text: str
) -> None:
    engine, created = table
    flt = parse_or_locate(text)
    if flt is not None and compile_or_locate(flt, created) is not None:
        agree(engine, created, flt)


@settings(FUZZ, max_examples=1000 * SCALE)
@given(text=st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=60))
def test_any_text_fails_inside_the_text_or_selects_the_same_rows(
    table: tuple[sa.Engine, sa.Table], text: str
) -> None:
    engine, created = table
    flt = parse_or_locate(text)
    if flt is not None and compile_or_locate(flt, created) is not None:
        agree(engine, created, flt)
