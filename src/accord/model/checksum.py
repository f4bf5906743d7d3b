"""Checksums of a record's mapped values: change detection that does not trust the clock alone.

A modified-on column with a coarse clock (MariaDB ``DATETIME`` keeps whole seconds, many APIs
too) gives an edit made in the same tick as Accord's own write the version Accord stored; a
writer whose clock is behind gives an *earlier* one. Neither looks "later than the version
stored". So a coupling also keeps, per side, a 64-bit checksum of the values that side
supplies when it is the source of a pass, and a record whose checksum differs from the stored
one has changed, whatever its version says.

Values :func:`accord.model.values.same` calls equal get equal checksums (blank text and
``None``, ``1`` and ``Decimal("1.00")``, ``True`` and ``1``, aware and naive-UTC datetimes), so
reading back what was written does not look like a change. The checksum is stable across
processes and Python versions (blake2b, not ``hash()``), and fits a signed 64-bit column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from hashlib import blake2b
from typing import Any

from accord.model.values import naive_utc

__all__ = ["Checksum", "canonical"]

_SEPARATOR = "\x1f"  # ASCII unit separator: between two fields' texts


def canonical(value: Any) -> str:
    """The text a value contributes to a checksum (text is its own, fast-pathed by callers)."""
    if value is None:
        return ""
    kind = value.__class__
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return "1" if value else "0"
    if kind is int:
        return str(value)
    if isinstance(value, (Decimal, float, int)):
        return _number(value)
    if isinstance(value, datetime):
        return naive_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _number(value: Decimal | float | int) -> str:
    """Equal numbers, equal texts: ``12.50`` and ``12.5`` and ``Decimal('12.5000')``."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        if number == number.to_integral_value():
            return str(int(number))
        return str(number.normalize())
    except (InvalidOperation, ValueError, OverflowError):  # NaN, infinity
        return str(value)


def _digest(text: str) -> int:
    data = text.encode("utf-8", "surrogatepass")
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "big", signed=True)


class Checksum:
    """The checksum of one side's records: a fixed list of fields, compiled once.

    ``Checksum(fields)(values)`` reads ``values`` (a missing field counts as blank). The
    function is generated per field list, like a transfer plan, so that a record costs one
    call: text values (the common case) go in as they are, others through :func:`canonical`.
    """

    def __init__(self, fields: Sequence[str]) -> None:
        self.fields = tuple(fields)
        self._function = _compile(self.fields)

    def __call__(self, values: Mapping[str, Any]) -> int:
        return self._function(values)

    def __repr__(self) -> str:
        return f"Checksum({list(self.fields)!r})"


def _compile(fields: Sequence[str]) -> Callable[[Mapping[str, Any]], int]:
    """``lambda values: digest(sep.join(text of each field))``, written out per field as one
    f-string (no tuple, no join: about half the cost). Field names are passed as variables,
    never written into the generated text."""
    if not fields:
        empty = _digest("")
        return lambda values: empty
    env: dict[str, Any] = {"canonical": canonical, "blake2b": blake2b, "from_bytes": int.from_bytes}
    parts = []
    for i, name in enumerate(fields):
        env[f"n{i}"] = name
        parts.append(f"{{(v if (v := get(n{i})).__class__ is str else canonical(v))}}")
    text = _SEPARATOR_ESCAPED.join(parts)
    source = (
        "def checksum(values):\n"
        "    get = values.get\n"
        f'    data = f"{text}".encode("utf-8", "surrogatepass")\n'
        '    return from_bytes(blake2b(data, digest_size=8).digest(), "big", signed=True)\n'
    )
    exec(compile(source, "<accord checksum>", "exec"), env)  # our own text, see the docstring
    function: Callable[[Mapping[str, Any]], int] = env["checksum"]
    return function


_SEPARATOR_ESCAPED = "\\x1f"  # the separator as written inside the generated f-string
