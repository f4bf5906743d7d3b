"""Values between Dataverse JSON and Accord's Python types.

JSON numbers are parsed as :class:`~decimal.Decimal` so that money and decimal columns keep
every digit (a float would turn ``98765432109.1234`` into something else), and written back
as bare JSON numbers for the same reason. Times travel as ISO 8601 UTC (``...Z``); Accord
holds them as naive UTC datetimes.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from accord.connectors.dataverse.metadata import Attribute


class Unconvertible(ValueError):
    """A value Dataverse returned that the attribute's kind cannot hold."""


def loads(content: bytes | str) -> Any:
    """Parse a JSON body, numbers with a fraction as Decimal."""
    return json.loads(content, parse_float=Decimal)


_MARK = f"dec{secrets.token_hex(6)}:"
_MARKED = re.compile(f'"{_MARK}(-?[0-9]+(?:\\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"')


def dumps(body: Any) -> bytes:
    """JSON text with Decimals as exact numbers (``json`` would refuse or round them)."""

    def default(value: Any) -> Any:
        if isinstance(value, Decimal):
            return _MARK + format(value, "f")
        if isinstance(value, datetime):
            return format_datetime(value)
        if isinstance(value, date):
            return value.isoformat()
        raise TypeError(f"cannot send a {type(value).__name__} to Dataverse")

    text = json.dumps(body, default=default, ensure_ascii=False, separators=(",", ":"))
    return _MARKED.sub(lambda m: m.group(1), text).encode()


def format_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; a naive datetime is UTC already."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def parse_datetime(text: str) -> datetime:
    """``2024-01-01T12:00:00Z`` (or with an offset, or fractions) as naive UTC."""
    if text.endswith("Z") and "T" in text and "+" not in text:
        try:  # what Dataverse sends: UTC already, parsed without time zone arithmetic
            return datetime.fromisoformat(text[:-1])
        except ValueError:
            pass  # the general way below says what is wrong
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def from_wire(value: Any, attribute: Attribute) -> Any:
    """The Python value of one property of a row, as the attribute's kind holds it."""
    if value is None:
        return None
    kind = attribute.kind
    try:
        if kind == "text":
            if not isinstance(value, str):
                raise Unconvertible(value)
            return value.lower() if attribute.type in ("Uniqueidentifier", *_LOOKUP) else value
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int | Decimal):
                raise Unconvertible(value)
            if isinstance(value, Decimal) and value != value.to_integral_value():
                raise Unconvertible(value)
            return int(value)
        if kind == "decimal":
            if isinstance(value, bool) or not isinstance(value, int | Decimal):
                raise Unconvertible(value)
            return Decimal(value)
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | Decimal):
                raise Unconvertible(value)
            return float(value)
        if kind == "boolean":
            if not isinstance(value, bool):
                raise Unconvertible(value)
            return value
        if kind == "datetime":
            return parse_datetime(str(value))
        if kind == "date":
            return date.fromisoformat(str(value)[:10])
    except (ValueError, TypeError) as exc:
        shown = repr(value)[:60]
        raise Unconvertible(f"field '{attribute.name}': cannot read {shown} as {kind}") from exc
    return value


_LOOKUP = ("Lookup", "Customer", "Owner")


def to_wire(value: Any, attribute: Attribute) -> Any:
    """The JSON value to send for one attribute (lookups are bound separately)."""
    if value is None:
        return None
    kind = attribute.kind
    if kind == "datetime" and isinstance(value, datetime):
        return format_datetime(value)
    if kind == "date" and isinstance(value, date):
        return (value.date() if isinstance(value, datetime) else value).isoformat()
    if kind == "decimal" and isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    if kind == "float" and isinstance(value, Decimal):
        return float(value)
    return value
