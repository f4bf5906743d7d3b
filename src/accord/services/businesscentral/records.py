"""Entities as stored rows and as JSON: validation of bodies, ETags, number series, writes.

BC has no NULL: a blank text is ``""``, a blank GUID is all zeros, a blank date is
``0001-01-01``. ``lastModifiedDateTime`` is kept as epoch milliseconds and written as
``2020-08-21T07:38:44.293Z``. Every write takes a new row version, and the ETag encodes it,
so an ETag changes on every write (its value has no ordering meaning for clients).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from accord.services.businesscentral import errors as codes
from accord.services.businesscentral.errors import BcError, bad_request, record_not_found
from accord.services.businesscentral.filter import iso_ms, parse_instant
from accord.services.businesscentral.schema import EntitySet, Field
from accord.services.businesscentral.store import Store

__all__ = ["Records", "etag", "ms_to_iso"]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def etag(version: int) -> str:
    """A weak ETag in BC's shape: ``W/"JzE5OzE…Jw=="`` (base64 of ``'len;digits;00;'``)."""
    digits = f"{version:019d}"
    inner = f"'{len(digits)};{digits};00;'".encode()
    return f'W/"{base64.b64encode(inner).decode()}"'


def ms_to_iso(ms: int) -> str:
    return iso_ms(dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC))


def _parse_guid(text: Any, what: str) -> str:
    try:
        return str(uuid.UUID(str(text)))
    except ValueError:
        raise bad_request(f"'{text}' is not a valid GUID for {what}.") from None


class Records:
    """Reads and writes entities of one company at a time."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        self._defaults: dict[tuple[str, str], dict[str, Any]] = {}

    def defaults(self, entity_set: EntitySet) -> dict[str, Any]:
        """The stored blank of every field (computed once per set: creates are hot)."""
        key = (entity_set.api, entity_set.name)
        if key not in self._defaults:
            self._defaults[key] = {
                f.name: _stored(entity_set, f, f.default) for f in entity_set.data_fields
            }
        return self._defaults[key]

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # JSON ---------------------------------------------------------------------------------

    def to_json(
        self, entity_set: EntitySet, row: Mapping[str, Any], select: list[str] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"@odata.etag": etag(row["version"])}
        names = select or list(entity_set.fields)
        for name in names:
            if name == "id":
                body["id"] = row["id"]
            elif name == "lastModifiedDateTime":
                body[name] = ms_to_iso(row["modified"])
            else:
                body[name] = _out(entity_set.fields[name], row[name])
        return body

    # validation ---------------------------------------------------------------------------

    def values(
        self, entity_set: EntitySet, body: Any, *, creating: bool, trusted: bool = False
    ) -> dict[str, Any]:
        """Stored values of the fields a POST or PATCH body sets (annotations ignored).

        ``trusted`` (bulk loads) may set read-only fields such as ``inventory``."""
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        values: dict[str, Any] = {}
        for name, value in body.items():
            if name.startswith("@") or "@odata." in name:
                continue
            field = entity_set.fields.get(name)
            if field is None:
                raise bad_request(
                    f"The property '{name}' does not exist on type "
                    f"'Microsoft.NAV.{entity_set.entity}'. Make sure to only use property "
                    f"names that are defined by the type."
                )
            if name == "id" and creating:
                values["id"] = _parse_guid(value, "id")
                continue
            if field.read_only and not trusted:
                raise BcError(
                    400,
                    codes.BAD_REQUEST,
                    f"The property '{name}' of '{entity_set.entity}' is read-only.",
                )
            values[name] = _stored(entity_set, field, value)
        return values

    # writes -------------------------------------------------------------------------------

    def next_number(self, entity_set: EntitySet, company: str) -> str:
        """The series' next number not in use (and remember it as the last one taken)."""
        series = entity_set.series
        assert series is not None
        last = self.store.series_last(company, entity_set)
        n = series.first() if last is None else last + series.step
        while self.store.key_taken(entity_set, company, series.format(n)):
            n += series.step
        self.store.set_series_last(company, entity_set, n)
        return series.format(n)

    def create(self, entity_set: EntitySet, company: str, body: Any) -> dict[str, Any]:
        values = self.values(entity_set, body, creating=True)
        key = entity_set.key
        numbered = False
        if key and not values.get(key):
            if entity_set.series is None:
                raise bad_request(
                    f"The field {key} of table {entity_set.caption} must have a value."
                )
            values[key] = self.next_number(entity_set, company)
            numbered = True  # next_number chose one not in use
        row = {**self.defaults(entity_set), **values}
        row["id"] = values.get("id") or str(uuid.uuid4())
        row["company"] = company
        row["version"] = self.store.next_versions(1)[0]
        row["modified"] = self.now_ms()
        if "id" in values:  # a fresh uuid4 is unique without asking
            self._check_id(entity_set, row["id"])
        if not numbered:
            self._check_unique(entity_set, company, row, None)
        self.store.insert(entity_set, [row])
        return row

    def update(
        self, entity_set: EntitySet, company: str, row_id: str, body: Any, if_match: str | None
    ) -> dict[str, Any]:
        row = self.existing(entity_set, company, row_id, if_match)
        values = self.values(entity_set, body, creating=False)
        if "id" in values:
            values.pop("id")
        key = entity_set.key
        if key and key in values and not values[key]:
            raise bad_request(f"The field {key} of table {entity_set.caption} must have a value.")
        changed = {**row, **values}
        self._check_unique(entity_set, company, changed, row)
        values["version"] = self.store.next_versions(1)[0]
        values["modified"] = self.now_ms()
        self.store.update(entity_set, row["id"], values)
        return {**row, **values}

    def delete(
        self, entity_set: EntitySet, company: str, row_id: str, if_match: str | None
    ) -> None:
        row = self.existing(entity_set, company, row_id, if_match)
        self.store.delete(entity_set, row["id"])

    def existing(
        self, entity_set: EntitySet, company: str, row_id: str, if_match: str | None
    ) -> dict[str, Any]:
        """The row a PATCH or DELETE targets, after BC's If-Match rules."""
        if not if_match:
            raise BcError(
                400,
                codes.INVALID_TOKEN,
                "Could not validate the client concurrency token required by the service. "
                "Please provide a valid token in the client request.",
            )
        row = self.get(entity_set, company, row_id)
        if if_match.strip() != "*" and not _etag_matches(if_match, etag(row["version"])):
            raise BcError(409, codes.ENTITY_CHANGED, "Another user has already changed the record.")
        return row

    def get(self, entity_set: EntitySet, company: str, row_id: str) -> dict[str, Any]:
        guid = _parse_guid(row_id, entity_set.entity)
        row = self.store.get(entity_set, company, guid)
        if row is None:
            raise record_not_found(entity_set.caption, guid)
        return row

    def _check_id(self, entity_set: EntitySet, row_id: str) -> None:
        if self.store.scalar(f'SELECT 1 FROM "{entity_set.table}" WHERE id = ?', (row_id,)):
            raise BcError(
                400,
                codes.SAME_KEY_EXISTS,
                f"The record already exists. Identification fields and values: Id='{row_id}'",
            )

    def _check_unique(
        self,
        entity_set: EntitySet,
        company: str,
        row: Mapping[str, Any],
        before: Mapping[str, Any] | None,
    ) -> None:
        key = entity_set.key
        if not key or (before is not None and str(before[key]) == str(row[key])):
            return
        if self.store.key_taken(entity_set, company, row[key]):
            label = "Code" if key == "code" else "No."
            raise BcError(
                400,
                codes.SAME_KEY_EXISTS,
                f"The record in table {entity_set.caption} already exists. Identification "
                f"fields and values: {label}='{row[key]}'",
            )


def _etag_matches(header: str, current: str) -> bool:
    """Whether any ETag of an ``If-Match`` list is ``current`` (weak or strong form)."""

    def opaque(tag: str) -> str:
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        return tag.strip('"')

    return any(opaque(t) == opaque(current) for t in header.split(",") if t.strip())


def _out(field: Field, value: Any) -> Any:
    if value is None:
        return field.default
    if field.type == "Boolean":
        return bool(value)
    if field.type == "Decimal" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _stored(entity_set: EntitySet, field: Field, value: Any) -> Any:
    """A JSON value as stored for ``field``; 400 in BC's words when it does not fit."""
    kind = field.type

    def wrong() -> BcError:
        return bad_request(
            f"Cannot convert the literal '{value}' to the expected type '{field.edm_type}' "
            f"of the property '{field.name}'."
        )

    if value is None:
        if kind in ("String", "Code"):
            return ""
        raise wrong()
    if kind in ("String", "Code"):
        if not isinstance(value, str):
            raise wrong()
        if field.max_length is not None and len(value) > field.max_length:
            raise BcError(
                400,
                codes.STRING_TOO_LONG,
                f"The length of the string is {len(value)}, but it must be less than or "
                f"equal to {field.max_length} characters. Value: {value}",
            )
        return value.upper() if kind == "Code" else value
    if kind == "Enum":
        if not isinstance(value, str) or value not in field.options:
            options = ", ".join(f"'{o}'" for o in field.options)
            raise BcError(
                400,
                codes.INVALID_VALUE,
                f"The value '{value}' is not one of the options of {field.name} "
                f"({options}) on {entity_set.entity}.",
            )
        return value
    if kind == "Integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        return value
    if kind == "Decimal":
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, str):  # IEEE754Compatible clients send decimals as text
                try:
                    return float(value)
                except ValueError:
                    raise wrong() from None
            raise wrong()
        return float(value)
    if kind == "Boolean":
        if not isinstance(value, bool):
            raise wrong()
        return int(value)
    if kind == "Guid":
        return _parse_guid(value, field.name)
    if kind == "Date":
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise wrong()
        try:
            dt.date.fromisoformat(value) if value != "0001-01-01" else None
        except ValueError:
            raise wrong() from None
        return value
    if kind == "DateTime":
        if not isinstance(value, str):
            raise wrong()
        try:
            return iso_ms(parse_instant(value))
        except ValueError:
            raise wrong() from None
    raise wrong()  # pragma: no cover (schema types are checked on load)
