"""Records in and out: JSON bodies to stored values (validated as Dataverse does) and back.

Writes check what Dataverse checks before it stores a row: known properties, JSON types,
text lengths, option values, lookups bound with ``nav@odata.bind`` to rows that exist,
duplicate ids (412), ETags. Bulk writes are all or nothing: the first bad record fails the
request, with the error Dataverse gives for it.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from accord.services.dataverse import errors as codes
from accord.services.dataverse.errors import DataverseError, does_not_exist
from accord.services.dataverse.filter import parse_datetime
from accord.services.dataverse.schema import (
    INTEGER_TYPES,
    NUMBER_TYPES,
    OPTION_TYPES,
    TEXT_TYPES,
    Attribute,
    Schema,
    Table,
)
from accord.services.dataverse.store import Store

__all__ = ["Records", "etag", "format_datetime", "parse_guid"]

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_BIND = re.compile(r"^(?:.*/)?(?P<set>[A-Za-z_]\w*)\((?P<id>.*)\)$")
_KEY_PART = re.compile(r"\s*(\w+)\s*=\s*('(?:[^']|'')*'|[^,]+)\s*(?:,|$)")
FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOOKUP_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"
DUPLICATE_MESSAGE = "A record with matching key values already exists."


def etag(row: Mapping[str, Any]) -> str:
    return f'W/"{row["versionnumber"]}"'


def format_datetime(seconds: int | float) -> str:
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_guid(text: str) -> str | None:
    """A GUID in Dataverse's lower-case form, or None if ``text`` is not one."""
    if _GUID.fullmatch(text):  # the common form, without building a UUID
        return text.lower()
    try:
        return str(uuid.UUID(text.strip("{}")))
    except ValueError:
        return None


def _payload_error(table: Table, message: str) -> DataverseError:
    return DataverseError(
        400,
        codes.PAYLOAD_ERROR,
        f"Error identified in Payload provided by the user for Entity :'{table.entity_set}', "
        f"For more information on this error please follow this help link "
        f"https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : "
        f"Microsoft.OData.ODataException: {message}",
    )


class Records:
    """Validating reads and writes of rows for one schema."""

    def __init__(self, schema: Schema, store: Store, clock: Callable[[], float] = time.time):
        self.schema = schema
        self.store = store
        self.clock = clock

    # ---- JSON -> stored values -------------------------------------------------------

    def values(self, table: Table, body: Mapping[str, Any]) -> dict[str, Any]:
        """Stored values of the properties in ``body`` (only those given)."""
        if not isinstance(body, Mapping):
            raise _payload_error(table, "The request body must be a JSON object.")
        result: dict[str, Any] = {}
        attributes = table.attributes
        for key, value in body.items():
            attribute = attributes.get(key)
            if attribute is not None and not attribute.is_lookup and not attribute.read_only:
                result[key] = self._convert(table, attribute, value)  # the common case first
                continue
            if key.startswith("@odata."):
                if key == "@odata.type" and value not in (table.type_name, f"#{table.type_name}"):
                    raise _payload_error(
                        table,
                        f"A resource with type '{value}' was found, but it is not assignable "
                        f"to the expected type '{table.type_name}'.",
                    )
                continue
            if key.endswith("@odata.bind"):
                self._bind(table, key[: -len("@odata.bind")], value, result)
                continue
            if "@" in key:
                continue  # other instance annotations (FormattedValue, ...) are ignored
            if attribute is None or attribute.is_lookup:
                raise _payload_error(
                    table,
                    f"The property '{key}' does not exist on type '{table.type_name}'. Make sure "
                    f"to only use property names that are defined by the type or mark the type "
                    f"as open type.",
                )
            # what remains is a read-only system column: Dataverse ignores it in a payload
        return result

    def _convert(self, table: Table, attribute: Attribute, value: Any) -> Any:
        if value is None:
            return None
        kind = attribute.type

        def wrong(edm: str | None = None) -> DataverseError:
            return _payload_error(
                table,
                f"Cannot convert the literal '{value}' to the expected type "
                f"'{edm or attribute.edm_type}'.",
            )

        if kind == "Uniqueidentifier":
            guid = parse_guid(value) if isinstance(value, str) else None
            if guid is None:
                raise wrong()
            return guid
        if kind in TEXT_TYPES:
            if not isinstance(value, str):
                raise wrong()
            if attribute.max_length is not None and len(value) > attribute.max_length:
                raise DataverseError(
                    400,
                    codes.VALIDATION,
                    f"A validation error occurred. The length of the '{attribute.name}' "
                    f"attribute of the '{table.logical_name}' entity exceeded the maximum "
                    f"allowed length of '{attribute.max_length}'.",
                )
            return value
        if kind == "Boolean":
            if not isinstance(value, bool):
                raise wrong()
            return int(value)
        if kind in INTEGER_TYPES:
            if isinstance(value, bool) or not isinstance(value, int):
                raise wrong()
            if kind in OPTION_TYPES and value not in attribute.option_values:
                allowed = ",".join(str(o.value) for o in attribute.options)
                raise DataverseError(
                    400,
                    codes.VALIDATION,
                    f"A validation error occurred. The value {value} of '{attribute.name}' on "
                    f"record of type '{table.logical_name}' is outside the valid range. "
                    f"Accepted Values: {allowed}",
                )
            return value
        if kind in NUMBER_TYPES:
            if isinstance(value, str):  # IEEE754Compatible clients send decimals as strings
                try:
                    return float(value)
                except ValueError:
                    raise wrong() from None
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise wrong()
            return float(value)
        if kind == "DateTime":
            if not isinstance(value, str):
                raise wrong()
            try:
                return int(parse_datetime(value))
            except ValueError:
                raise wrong() from None
        raise wrong()  # pragma: no cover (every type is handled above)

    def _bind(self, table: Table, nav_name: str, value: Any, result: dict[str, Any]) -> None:
        navigation = table.navigations.get(nav_name)
        if navigation is None:
            raise _payload_error(
                table,
                f"An undeclared property '{nav_name}' which only has property annotations in "
                f"the payload but no property value was found in the payload. In OData, only "
                f"declared navigation properties and declared named streams can be "
                f"represented as properties without values.",
            )
        attribute = navigation.attribute
        multi = f"{attribute.name}type" in table.attributes
        if value is None:
            result[attribute.name] = None
            if multi:
                result[f"{attribute.name}type"] = None
            return
        match = _BIND.match(value) if isinstance(value, str) else None
        target = self.schema.by_set.get(match.group("set")) if match else None
        guid = None
        if match is not None and target is not None:
            guid, key_values = self.resolve(target, match.group("id"))
            if guid is None and key_values:
                raise does_not_exist(target.logical_name, _key_text(key_values))
        if match is None or target is None or guid is None:
            raise _payload_error(
                table, f"The value '{value}' of '{nav_name}@odata.bind' is not an entity URL."
            )
        allowed = set(attribute.targets) if attribute.type == "Owner" else {navigation.target}
        if target.logical_name not in allowed:
            raise _payload_error(
                table,
                f"The entity set '{target.entity_set}' is not a valid target of the "
                f"navigation property '{nav_name}'.",
            )
        result[attribute.name] = guid
        result.setdefault("__binds", []).append((target, guid))
        if multi:
            result[f"{attribute.name}type"] = target.logical_name

    def resolve(self, table: Table, key: str) -> tuple[str | None, dict[str, Any]]:
        """The id a record key names: a GUID, or alternate key values (``k='v',n=5``).

        Returns (id or None if no row has those key values, the key values); raises 400 for
        text that is neither.
        """
        guid = parse_guid(key.strip().strip("'"))
        if guid is not None:
            return guid, {}
        values: dict[str, Any] = {}
        stored: dict[str, Any] = {}
        position = 0
        text = key.strip()
        while position < len(text):
            part = _KEY_PART.match(text, position)
            if part is None:
                break
            name, literal = part.group(1), part.group(2).strip()
            attribute = table.attributes.get(name)
            if attribute is None:
                break
            if literal.startswith("'"):
                raw: Any = literal[1:-1].replace("''", "'")
            else:
                try:
                    raw = int(literal) if re.fullmatch(r"-?\d+", literal) else float(literal)
                except ValueError:
                    break
            values[name] = raw
            stored[name] = self._convert(table, attribute, raw)
            position = part.end()
        else:
            if values and tuple(sorted(values)) in {tuple(sorted(k)) for k in table.keys.values()}:
                return self.store.find(table, stored), values
        raise DataverseError(
            400,
            codes.QUERY_ERROR,
            f"The key '{key}' is neither a Guid nor an alternate key of '{table.logical_name}'.",
        )

    def _check_binds(self, rows: Sequence[dict[str, Any]], pending: Mapping[str, set[str]]) -> None:
        """Every bound row exists (or is created by the same request: ``pending`` by table)."""
        wanted: dict[str, tuple[Table, set[str]]] = {}
        for row in rows:
            for target, guid in row.pop("__binds", []):
                wanted.setdefault(target.logical_name, (target, set()))[1].add(guid)
        for target, ids in wanted.values():
            missing = (
                ids
                - pending.get(target.logical_name, set())
                - self.store.existing(target, sorted(ids))
            )
            if missing:
                raise does_not_exist(target.logical_name, min(missing))

    # ---- stored values -> JSON -----------------------------------------------------------

    def to_json(
        self,
        table: Table,
        row: Mapping[str, Any],
        attributes: Sequence[Attribute],
        *,
        annotations: str | None = None,
    ) -> dict[str, Any]:
        """A row as the Web API shows it; ``annotations`` is the include-annotations
        preference (``*``, or a list of terms that may end in ``*``)."""
        out: dict[str, Any] = {"@odata.etag": etag(row)}
        formatted = _wants(annotations, FORMATTED)
        lookup_name = _wants(annotations, LOOKUP_NAME)
        navigation = _wants(annotations, NAVIGATION)
        for attribute in attributes:
            value = row.get(attribute.name)
            name = attribute.web_name
            if value is not None:
                if attribute.type == "Boolean":
                    value = bool(value)
                elif attribute.type == "DateTime":
                    value = format_datetime(value)
            if annotations is not None and value is not None:
                if attribute.options and formatted:
                    label = next((o.label for o in attribute.options if o.value == value), None)
                    out[f"{name}@{FORMATTED}"] = label
                elif attribute.type == "Boolean" and formatted:
                    out[f"{name}@{FORMATTED}"] = "Yes" if value else "No"
                elif attribute.is_lookup:
                    kind = row.get(f"{attribute.name}type") or attribute.targets[0]
                    if lookup_name:
                        out[f"{name}@{LOOKUP_NAME}"] = kind
                    nav = attribute.name
                    if f"{attribute.name}type" in table.attributes and attribute.type != "Owner":
                        nav = f"{attribute.name}_{kind}"
                    if navigation:
                        out[f"{name}@{NAVIGATION}"] = nav
            out[name] = value
        return out

    # ---- writes ------------------------------------------------------------------------------

    def _defaults(self, table: Table) -> dict[str, Any]:
        row: dict[str, Any] = {name: None for name in table.attributes}
        for attribute in table.attributes.values():
            if attribute.default is not None:
                row[attribute.name] = int(attribute.default)
        return row

    def _status_for_state(self, table: Table, values: dict[str, Any]) -> None:
        """A new statecode without a statuscode gets that state's default status."""
        status = table.attributes.get("statuscode")
        if status is None or "statecode" not in values or "statuscode" in values:
            return
        for option in status.options:
            if option.state == values["statecode"]:
                values["statuscode"] = option.value
                return

    def create_many(
        self,
        table: Table,
        bodies: Sequence[Mapping[str, Any]],
        *,
        record_ids: Sequence[str | None] = (),
    ) -> list[dict[str, Any]]:
        """Insert rows (all or nothing); returns the stored rows in order."""
        now = int(self.clock())
        defaults = self._defaults(table)
        rows: list[dict[str, Any]] = []
        seen: set[str] = set()
        for index, body in enumerate(bodies):
            values = self.values(table, body)
            given = record_ids[index] if index < len(record_ids) else None
            body_id = values.pop(table.primary_id, None)
            if given and body_id and body_id != given:
                raise DataverseError(
                    400, codes.BAD_REQUEST, "The primary key in the body does not match the URL."
                )
            record_id = given or body_id or str(uuid.uuid4())
            if record_id in seen:
                raise DataverseError(
                    412, codes.DUPLICATE, "A record with matching key values already exists."
                )
            seen.add(record_id)
            self._status_for_state(table, values)
            row = {**defaults, **values}
            row[table.primary_id] = record_id
            row["createdon"] = row["modifiedon"] = now
            rows.append(row)
        with self.store.transaction():
            if self.store.existing(table, [r[table.primary_id] for r in rows]):
                raise DataverseError(
                    412, codes.DUPLICATE, "A record with matching key values already exists."
                )
            self._check_binds(rows, {table.logical_name: seen})
            for row, version in zip(rows, self.store.next_versions(len(rows)), strict=True):
                row["versionnumber"] = version
            try:
                self.store.insert(table, rows)
            except sqlite3.IntegrityError:  # an alternate key's unique index
                raise DataverseError(412, codes.DUPLICATE, DUPLICATE_MESSAGE) from None
        return rows

    def update_many(
        self,
        table: Table,
        changes: Sequence[tuple[str, Mapping[str, Any]]],
        *,
        if_match: str | None = None,
    ) -> list[dict[str, Any]]:
        """Update existing rows (all or nothing); ``if_match`` is an ETag or ``*``."""
        now = int(self.clock())
        prepared: list[tuple[str, dict[str, Any]]] = []
        for record_id, body in changes:
            values = self.values(table, body)
            body_id = values.pop(table.primary_id, record_id)
            if body_id != record_id:
                raise DataverseError(
                    400, codes.BAD_REQUEST, "The primary key in the body does not match the URL."
                )
            self._status_for_state(table, values)
            prepared.append((record_id, values))
        results: list[dict[str, Any]] = []
        with self.store.transaction():
            self._check_binds([v for _, v in prepared], {})
            versions = iter(self.store.next_versions(len(prepared)))
            for record_id, values in prepared:
                current = self.store.get(table, record_id)
                if current is None:
                    raise does_not_exist(table.logical_name, record_id)
                check_etag(current, if_match)
                values["modifiedon"] = now
                values["versionnumber"] = next(versions)
                try:
                    self.store.update(table, [(record_id, values)])
                except sqlite3.IntegrityError:  # an alternate key's unique index
                    raise DataverseError(412, codes.DUPLICATE, DUPLICATE_MESSAGE) from None
                current.update(values)
                results.append(current)
        return results

    def upsert_many(
        self, table: Table, items: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> list[tuple[bool, dict[str, Any]]]:
        """Create missing rows and update existing ones; (created?, row) per item."""
        with self.store.transaction():
            existing = self.store.existing(table, [i for i, _ in items])
            creates = [(i, b) for i, b in items if i not in existing]
            updates = [(i, b) for i, b in items if i in existing]
            created = self.create_many(
                table, [b for _, b in creates], record_ids=[i for i, _ in creates]
            )
            updated = self.update_many(table, updates)
        by_id = {r[table.primary_id]: (True, r) for r in created}
        by_id.update({r[table.primary_id]: (False, r) for r in updated})
        return [by_id[i] for i, _ in items]

    def delete(self, table: Table, record_id: str, *, if_match: str | None = None) -> None:
        with self.store.transaction():
            current = self.store.get(table, record_id)
            if current is None:
                raise does_not_exist(table.logical_name, record_id)
            check_etag(current, if_match)
            self.store.delete(table, record_id, self.store.next_versions(1)[0])


def _wants(preference: str | None, term: str) -> bool:
    """Whether an include-annotations preference asks for ``term``."""
    if preference is None:
        return False
    for item in (p.strip() for p in preference.split(",")):
        if item == "*" or item == term or (item.endswith("*") and term.startswith(item[:-1])):
            return True
    return False


def _key_text(values: Mapping[str, Any]) -> str:
    return ",".join(f"{k}:{v}" for k, v in values.items())


def missing_by_key(table: Table, values: Mapping[str, Any]) -> DataverseError:
    return does_not_exist(table.logical_name, _key_text(values))


def check_etag(row: Mapping[str, Any], if_match: str | None) -> None:
    """412 unless ``if_match`` (None, ``*`` or a list of ETags) matches the row's version."""
    if if_match is None or if_match.strip() == "*":
        return
    tags = {t.strip() for t in if_match.split(",")}
    if etag(row) not in tags and etag(row)[2:] not in tags:
        raise DataverseError(
            412,
            codes.VERSION_MISMATCH,
            "The version of the existing record doesn't match the RowVersion property provided.",
        )
