"""Value conversion and comparison between two systems' field types.

Both systems follow the "blank" convention of the reference: an ERP stores an empty code as
``''`` while a CRM stores ``NULL``. Empty text and ``None`` are therefore the same value, and a
value is converted into the destination's own form of blank.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from accord.errors import RecordError
from accord.model.records import FieldInfo

_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n", ""}


def is_blank(value: Any) -> bool:
    return value is None or value == ""


def blank(info: FieldInfo) -> Any:
    """The blank value of a field: ``None`` where it may be null, otherwise the type's zero."""
    if info.nullable:
        return None
    return {"text": "", "integer": 0, "decimal": Decimal(0), "float": 0.0, "boolean": False}.get(
        info.kind
    )


def coerce(value: Any, info: FieldInfo) -> Any:
    """Convert ``value`` into the Python form ``info`` stores; RecordError if it cannot."""
    if is_blank(value) and info.kind != "boolean":
        return blank(info)
    try:
        converted = _CONVERTERS.get(info.kind, _identity)(value)
    except (ValueError, TypeError, InvalidOperation, ArithmeticError):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:56] + "...'"
        raise RecordError(f"field '{info.name}': cannot convert {shown} to {info.kind}") from None
    if info.length is not None and isinstance(converted, str) and len(converted) > info.length:
        raise RecordError(
            f"value too long for field '{info.name}' "
            f"({len(converted)} characters, at most {info.length}): {converted[:40]!r}"
        )
    return converted


def same(a: Any, b: Any) -> bool:
    """Whether two values are equal for synchronization purposes (blank equals blank)."""
    if a is b or a == b:
        return True
    if is_blank(a) and is_blank(b):
        return True
    if isinstance(a, datetime) and isinstance(b, datetime):
        return naive_utc(a) == naive_utc(b)
    if isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)):
        if isinstance(a, bool) or isinstance(b, bool):
            return bool(a) == bool(b)
        return Decimal(str(a)) == Decimal(str(b))
    return False


def fingerprint(value: Any) -> Any:
    """A JSON-able canonical form: values ``same`` calls equal get equal fingerprints.

    Couplings keep the fingerprints of the values both sides agreed on at the last sync (the
    base of a three-way merge), so they must survive a JSON round trip unchanged.
    """
    kind = type(value)
    if kind is str:
        return value or None
    if value is None:
        return None
    if kind is bool:
        return value
    if isinstance(value, (int, float, Decimal)):
        return str(Decimal(str(value)).normalize())
    if isinstance(value, datetime):
        return naive_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def naive_utc(value: datetime) -> datetime:
    """Datetimes are compared and stored as naive UTC."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _identity(value: Any) -> Any:
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return naive_utc(value).isoformat()
    return value if isinstance(value, str) else str(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, (float, Decimal)):
        if value != int(value):
            raise ValueError(value)
        return int(value)
    return int(str(value).strip())


def _decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        return Decimal(int(value))
    return Decimal(str(value).strip())


def _float(value: Any) -> float:
    return float(value)


def _boolean(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return value != 0
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(value)


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return naive_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return naive_utc(datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")))


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip()[:10])


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "text": _text,
    "integer": _integer,
    "decimal": _decimal,
    "float": _float,
    "boolean": _boolean,
    "datetime": _datetime,
    "date": _date,
}
