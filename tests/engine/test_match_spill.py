"""The temporary database of match-based coupling compares values as Python does."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from accord.engine.criteria import UNMATCHABLE, normal
from accord.engine.match import _Spill

raw_values = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.integers(min_value=-3, max_value=3),
    st.integers(min_value=2**62, max_value=2**64),
    st.decimals(min_value=-3, max_value=3, places=2, allow_nan=False),
    st.decimals(min_value=2**63 - 2, max_value=2**63 + 2, places=1, allow_nan=False),
    st.floats(min_value=-3, max_value=3, allow_nan=False),
    st.booleans(),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2020, 1, 2)),
    st.just(UNMATCHABLE),
)


def _sqlite_equal(spill: _Spill, a: Any, b: Any) -> bool:
    row = spill.db.execute("SELECT ? = ?", (spill.encode(a), spill.encode(b))).fetchone()
    return bool(row[0]) if row[0] is not None else False


@settings(max_examples=300, deadline=None)
@given(st.lists(raw_values, min_size=2, max_size=6), st.booleans())
def test_encoded_values_are_equal_in_sqlite_exactly_when_equal_in_python(values, exact):
    spill = _Spill(1)
    try:
        normals = [v if v is UNMATCHABLE else normal(v, exact) for v in values]
        for a in normals:
            for b in normals:
                python = a is not None and b is not None and a == b
                assert _sqlite_equal(spill, a, b) is python, (a, b)
    finally:
        spill.close()


def test_equal_numbers_of_different_types_share_one_encoding():
    spill = _Spill(1)
    try:
        assert spill.encode(normal(7, False)) == spill.encode(normal(Decimal("7.000"), False))
        assert spill.encode(normal(Decimal("0.10"), False)) == spill.encode(normal(0.1, False))
        assert spill.encode(normal("7", False)) != spill.encode(normal(7, False))
        assert spill.encode(normal(True, False)) != spill.encode(normal(1, False))
    finally:
        spill.close()
