"""Entity sets the local Business Central serves: the standard API v2.0 ones and custom APIs.

The standard entities carry the fields of BC's API v2.0 pages (customers, contacts, items,
currencies, salespeoplePurchasers, unitsOfMeasure, vendors). A schema file (TOML or JSON)
adds custom APIs, or replaces a standard entity set::

    [apis."contoso/sync/v1.0".entities.loyaltyCards]
    entity = "loyaltyCard"           # the EntityType name (default: the set name less "s")
    caption = "Loyalty Card"         # named in "The Loyalty Card does not exist." errors
    key = "number"                   # the user key (unique per company); omit for none
    series = "LC0001"                # number series of the key (optional); step = 1
    [apis."contoso/sync/v1.0".entities.loyaltyCards.fields]
    number = { type = "Code", max_length = 20 }
    description = { type = "String", max_length = 100 }
    customerId = { type = "Guid" }
    points = { type = "Integer" }
    tier = { type = "Enum", options = [" ", "Silver", "Gold"] }

    [entities.customers]             # the standard API v2.0 (api/v2.0)
    ...

Every entity also gets ``id`` (its SystemId GUID) and the read-only ``lastModifiedDateTime``.
Field types: String, Code (upper-cased as BC does), Integer, Decimal, Boolean, Guid, Date,
DateTime, Enum.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "STANDARD_API",
    "EntitySet",
    "Field",
    "Navigation",
    "Schema",
    "SchemaError",
    "Series",
    "load_schema",
]

STANDARD_API = "v2.0"
"""The route key of the standard API (``api/v2.0``); custom ones are ``publisher/group/version``."""
EDM_TYPES = {
    "String": "Edm.String",
    "Code": "Edm.String",
    "Enum": "Edm.String",
    "Integer": "Edm.Int32",
    "Decimal": "Edm.Decimal",
    "Boolean": "Edm.Boolean",
    "Guid": "Edm.Guid",
    "Date": "Edm.Date",
    "DateTime": "Edm.DateTimeOffset",
}
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
DEFAULTS: dict[str, Any] = {
    "String": "",
    "Code": "",
    "Enum": "",
    "Integer": 0,
    "Decimal": 0,
    "Boolean": False,
    "Guid": EMPTY_GUID,
    "Date": "0001-01-01",
    "DateTime": "0001-01-01T00:00:00Z",
}
"""What BC answers for a blank field: it has no NULL."""
SYSTEM_FIELDS = ("id", "lastModifiedDateTime")


class SchemaError(ValueError):
    """A schema file or definition is invalid (one sentence naming the entity and field)."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    max_length: int | None = None
    options: tuple[str, ...] = ()
    read_only: bool = False

    @property
    def edm_type(self) -> str:
        return EDM_TYPES[self.type]

    @property
    def default(self) -> Any:
        return self.options[0] if self.type == "Enum" and self.options else DEFAULTS[self.type]


@dataclass(frozen=True)
class Series:
    """A number series: ``C00010`` stepping by 10 gives C00010, C00020, …"""

    start: str
    step: int = 1

    def format(self, n: int) -> str:
        prefix, digits = _split_number(self.start)
        return f"{prefix}{n:0{len(digits)}d}"

    def first(self) -> int:
        return int(_split_number(self.start)[1])

    def position(self, number: str) -> int | None:
        """The counter of ``number`` if it belongs to this series (same prefix and width)."""
        prefix, digits = _split_number(self.start)
        match = re.fullmatch(rf"{re.escape(prefix)}(\d{{{len(digits)}}})", number)
        return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Navigation:
    """A single-valued navigation (``$expand=currency``): ``field`` holds the target's id."""

    name: str
    field: str
    target: str


@dataclass
class EntitySet:
    name: str
    entity: str
    caption: str
    api: str
    fields: dict[str, Field]
    key: str | None = None
    series: Series | None = None
    navigations: dict[str, Navigation] = field(default_factory=dict)

    @functools.cached_property
    def table(self) -> str:
        """The SQLite table holding this set's rows."""
        api = re.sub(r"\W", "_", self.api)
        return f"e_{api}_{self.name}"

    @property
    def writable(self) -> dict[str, Field]:
        return {n: f for n, f in self.fields.items() if not f.read_only}

    @property
    def data_fields(self) -> list[Field]:
        """Fields stored in their own column (all but id and lastModifiedDateTime)."""
        return [f for f in self.fields.values() if f.name not in SYSTEM_FIELDS]


@dataclass
class Schema:
    apis: dict[str, dict[str, EntitySet]]
    """Route key (``v2.0`` or ``publisher/group/version``) -> entity set name -> set."""

    def all_sets(self) -> list[EntitySet]:
        return [s for sets in self.apis.values() for s in sets.values()]


def _split_number(number: str) -> tuple[str, str]:
    match = re.fullmatch(r"(.*?)(\d+)", number)
    if not match:
        raise SchemaError(f"number series start {number!r} does not end in digits")
    return match.group(1), match.group(2)


def _s(n: int) -> dict[str, Any]:
    return {"type": "String", "max_length": n}


def _c(n: int) -> dict[str, Any]:
    return {"type": "Code", "max_length": n}


_ADDRESS = {
    "addressLine1": _s(100),
    "addressLine2": _s(50),
    "city": _s(30),
    "state": _s(30),
    "country": _c(10),
    "postalCode": _c(20),
}
_GUID = {"type": "Guid"}
_RO_DECIMAL = {"type": "Decimal", "read_only": True}

STANDARD: dict[str, dict[str, Any]] = {
    "customers": {
        "entity": "customer",
        "caption": "Customer",
        "key": "number",
        "series": ["C00010", 10],
        "navigations": {"currency": ["currencyId", "currencies"]},
        "fields": {
            "number": _c(20),
            "displayName": _s(100),
            "type": {"type": "Enum", "options": ["Company", "Person"]},
            **_ADDRESS,
            "phoneNumber": _s(30),
            "email": _s(80),
            "website": _s(80),
            "salespersonCode": _c(20),
            "balanceDue": _RO_DECIMAL,
            "creditLimit": {"type": "Decimal"},
            "taxLiable": {"type": "Boolean"},
            "taxAreaId": _GUID,
            "taxAreaDisplayName": {"type": "String", "max_length": 100, "read_only": True},
            "taxRegistrationNumber": _s(20),
            "currencyId": _GUID,
            "currencyCode": _c(10),
            "paymentTermsId": _GUID,
            "shipmentMethodId": _GUID,
            "paymentMethodId": _GUID,
            "blocked": {"type": "Enum", "options": [" ", "Ship", "Invoice", "All"]},
        },
    },
    "vendors": {
        "entity": "vendor",
        "caption": "Vendor",
        "key": "number",
        "series": ["V00010", 10],
        "navigations": {"currency": ["currencyId", "currencies"]},
        "fields": {
            "number": _c(20),
            "displayName": _s(100),
            **_ADDRESS,
            "phoneNumber": _s(30),
            "email": _s(80),
            "website": _s(80),
            "taxRegistrationNumber": _s(20),
            "currencyId": _GUID,
            "currencyCode": _c(10),
            "irs1099Code": _c(10),
            "paymentTermsId": _GUID,
            "paymentMethodId": _GUID,
            "taxLiable": {"type": "Boolean"},
            "blocked": {"type": "Enum", "options": [" ", "Payment", "All"]},
            "balance": _RO_DECIMAL,
        },
    },
    "contacts": {
        "entity": "contact",
        "caption": "Contact",
        "key": "number",
        "series": ["CT000010", 10],
        "fields": {
            "number": _c(20),
            "type": {"type": "Enum", "options": ["Company", "Person"]},
            "displayName": _s(100),
            "companyNumber": _c(20),
            "companyName": _s(100),
            "contactBusinessRelation": {
                "type": "Enum",
                "options": [
                    " ",
                    "None",
                    "Customer",
                    "Vendor",
                    "Bank Account",
                    "Employee",
                    "Multiple",
                    "Other",
                ],
            },
            **_ADDRESS,
            "phoneNumber": _s(30),
            "mobilePhoneNumber": _s(30),
            "email": _s(80),
            "website": _s(80),
            "searchName": _c(100),
            "privacyBlocked": {"type": "Boolean"},
            "taxRegistrationNumber": _s(20),
            "lastInteractionDate": {"type": "Date", "read_only": True},
        },
    },
    "items": {
        "entity": "item",
        "caption": "Item",
        "key": "number",
        "series": ["1000", 1],
        "navigations": {"unitOfMeasure": ["baseUnitOfMeasureId", "unitsOfMeasure"]},
        "fields": {
            "number": _c(20),
            "displayName": _s(100),
            "displayName2": _s(50),
            "type": {"type": "Enum", "options": ["Inventory", "Service", "Non-Inventory"]},
            "itemCategoryId": _GUID,
            "itemCategoryCode": _c(20),
            "blocked": {"type": "Boolean"},
            "gtin": _c(14),
            "inventory": _RO_DECIMAL,
            "unitPrice": {"type": "Decimal"},
            "priceIncludesTax": {"type": "Boolean"},
            "unitCost": {"type": "Decimal"},
            "taxGroupId": _GUID,
            "taxGroupCode": _c(20),
            "baseUnitOfMeasureId": _GUID,
            "baseUnitOfMeasureCode": _c(10),
            "generalProductPostingGroupId": _GUID,
            "generalProductPostingGroupCode": _c(20),
            "inventoryPostingGroupId": _GUID,
            "inventoryPostingGroupCode": _c(20),
        },
    },
    "currencies": {
        "entity": "currency",
        "caption": "Currency",
        "key": "code",
        "fields": {
            "code": _c(10),
            "displayName": _s(30),
            "symbol": _s(10),
            "amountDecimalPlaces": _s(5),
            "amountRoundingPrecision": {"type": "Decimal"},
        },
    },
    "salespeoplePurchasers": {
        "entity": "salespersonPurchaser",
        "caption": "Salesperson/Purchaser",
        "key": "code",
        "fields": {
            "code": _c(20),
            "displayName": _s(50),
            "email": _s(80),
            "email2": _s(80),
            "phoneNo": _s(30),
            "jobTitle": _s(30),
            "commisionPercent": {"type": "Decimal"},
            "privacyBlocked": {"type": "Boolean"},
            "blocked": {"type": "Boolean"},
        },
    },
    "unitsOfMeasure": {
        "entity": "unitOfMeasure",
        "caption": "Unit of Measure",
        "key": "code",
        "fields": {
            "code": _c(10),
            "displayName": _s(50),
            "internationalStandardCode": _c(10),
            "symbol": _s(10),
        },
    },
}


def load_schema(source: Path | Mapping[str, Any] | None) -> Schema:
    """The standard entities plus a schema file's (TOML/JSON), a mapping's, or none (None)."""
    data: Mapping[str, Any] = {}
    where = "the schema"
    if isinstance(source, Path):
        where = str(source)
        try:
            text = source.read_text(encoding="utf-8")
            data = json.loads(text) if source.suffix == ".json" else tomllib.loads(text)
        except (OSError, ValueError) as exc:
            raise SchemaError(f"cannot read the schema file {source}: {exc}") from None
    elif source is not None:
        data = source
    standard = {**STANDARD, **dict(data.get("entities", {}))}
    apis: dict[str, dict[str, EntitySet]] = {
        STANDARD_API: {n: _entity_set(n, s, STANDARD_API, where) for n, s in standard.items()}
    }
    for route, spec in dict(data.get("apis", {})).items():
        if not re.fullmatch(r"[A-Za-z]\w*/[A-Za-z]\w*/v\d+\.\d+", str(route)):
            raise SchemaError(f"{where}: API {route!r} is not 'publisher/group/vX.Y'")
        entities = dict(spec.get("entities", {})) if isinstance(spec, Mapping) else {}
        if not entities:
            raise SchemaError(f"{where}: API {route!r} defines no entities")
        apis[str(route)] = {n: _entity_set(n, s, str(route), where) for n, s in entities.items()}
    for sets in apis.values():
        for entity_set in sets.values():
            for nav in entity_set.navigations.values():
                if nav.target not in sets:
                    raise SchemaError(
                        f"{where}: {entity_set.name}.{nav.name} points to {nav.target}, "
                        f"which the API does not define"
                    )
    return Schema(apis)


def _entity_set(name: str, spec: Any, api: str, where: str) -> EntitySet:
    if not re.fullmatch(r"[a-z]\w*", name):
        raise SchemaError(f"{where}: entity set name {name!r} is not a camelCase identifier")
    if not isinstance(spec, Mapping):
        raise SchemaError(f"{where}: entity set {name} is not a table of settings")
    fields: dict[str, Field] = {"id": Field("id", "Guid", read_only=True)}
    for field_name, field_spec in dict(spec.get("fields", {})).items():
        fields[field_name] = _field(name, str(field_name), field_spec, where)
    fields["lastModifiedDateTime"] = Field("lastModifiedDateTime", "DateTime", read_only=True)
    key = spec.get("key")
    if key is not None and (key not in fields or fields[key].type not in ("Code", "String")):
        raise SchemaError(f"{where}: the key {key!r} of {name} is not one of its text fields")
    series = None
    if spec.get("series") is not None:
        if key is None:
            raise SchemaError(f"{where}: {name} has a number series but no key")
        raw = spec["series"]
        start, step = (raw, 1) if isinstance(raw, str) else (str(raw[0]), int(raw[1]))
        series = Series(start, step)
        series.first()  # validates the start
    navigations = {}
    for nav_name, nav_spec in dict(spec.get("navigations", {})).items():
        nav_field, target = (
            (nav_spec[0], nav_spec[1])
            if isinstance(nav_spec, list | tuple)
            else (nav_spec["field"], nav_spec["target"])
        )
        if nav_field not in fields or fields[nav_field].type != "Guid":
            raise SchemaError(f"{where}: navigation {name}.{nav_name} needs a Guid field")
        navigations[nav_name] = Navigation(nav_name, nav_field, target)
    default_entity = name[:-1] if name.endswith("s") else name
    entity = str(spec.get("entity", default_entity))
    return EntitySet(
        name=name,
        entity=entity,
        caption=str(spec.get("caption", entity[:1].upper() + entity[1:])),
        api=api,
        fields=fields,
        key=key,
        series=series,
        navigations=navigations,
    )


def _field(entity_set: str, name: str, spec: Any, where: str) -> Field:
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping) or spec.get("type") not in EDM_TYPES:
        raise SchemaError(
            f"{where}: {entity_set}.{name} needs a type, one of {', '.join(EDM_TYPES)}"
        )
    if name in SYSTEM_FIELDS or not re.fullmatch(r"[a-z]\w*", name):
        raise SchemaError(f"{where}: {entity_set}.{name} is not an allowed field name")
    options = tuple(str(o) for o in spec.get("options", ()))
    if spec["type"] == "Enum" and not options:
        raise SchemaError(f"{where}: the Enum {entity_set}.{name} needs options")
    max_length = spec.get("max_length")
    return Field(
        name=name,
        type=str(spec["type"]),
        max_length=int(max_length) if max_length is not None else None,
        options=options,
        read_only=bool(spec.get("read_only", False)),
    )
