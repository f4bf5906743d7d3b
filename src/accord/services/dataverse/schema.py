"""Tables the local Dataverse serves: attributes, option sets, lookups, entity set names.

A schema is data in the shape of a schema file (TOML or JSON)::

    [tables.account]
    entity_set = "accounts"          # default: logical name + "s"
    primary_name = "name"
    change_tracking = true           # default true
    keys = { accountnumber_key = ["accountnumber"] }   # alternate keys (optional)
    [tables.account.columns]
    name = { type = "String", max_length = 160 }
    creditlimit = { type = "Money" }
    statecode = { type = "State", options = { 0 = "Active", 1 = "Inactive" } }
    statuscode = { type = "Status", options = { 1 = [0, "Active"], 2 = [1, "Inactive"] } }
    parentcustomerid = { type = "Customer", targets = ["account", "contact"] }
    accountnumber = { type = "String", max_length = 20, required = true }  # business required

Every table also gets its primary id ``<logical>id`` and the system columns ``createdon``,
``modifiedon`` and ``versionnumber``. A lookup with several targets (Customer, Owner) gets an
EntityName column ``<name>type`` that records the target, as Dataverse's does.
"""

from __future__ import annotations

import functools
import json
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_SCHEMA", "Attribute", "Option", "Schema", "Table", "load_schema"]

TEXT_TYPES = frozenset({"String", "Memo", "EntityName", "Uniqueidentifier"})
INTEGER_TYPES = frozenset({"Integer", "BigInt", "Picklist", "State", "Status"})
NUMBER_TYPES = frozenset({"Decimal", "Money", "Double"})
LOOKUP_TYPES = frozenset({"Lookup", "Customer", "Owner"})
OPTION_TYPES = frozenset({"Picklist", "State", "Status"})
ALL_TYPES = TEXT_TYPES | INTEGER_TYPES | NUMBER_TYPES | LOOKUP_TYPES | {"Boolean", "DateTime"}
SYSTEM_COLUMNS = ("createdon", "modifiedon", "versionnumber")
NAMESPACE_UUID = uuid.UUID("6f1c2f0e-3b8a-4c47-9a55-0d9c1d1f2a10")
"""Seed of the stable MetadataId GUIDs (the same table gets the same id on every start)."""

EDM_TYPES = {
    "String": "Edm.String",
    "Memo": "Edm.String",
    "EntityName": "Edm.String",
    "Uniqueidentifier": "Edm.Guid",
    "Lookup": "Edm.Guid",
    "Customer": "Edm.Guid",
    "Owner": "Edm.Guid",
    "Integer": "Edm.Int32",
    "Picklist": "Edm.Int32",
    "State": "Edm.Int32",
    "Status": "Edm.Int32",
    "BigInt": "Edm.Int64",
    "Decimal": "Edm.Decimal",
    "Money": "Edm.Decimal",
    "Double": "Edm.Double",
    "Boolean": "Edm.Boolean",
    "DateTime": "Edm.DateTimeOffset",
}
"""OData type of each AttributeType, for $metadata and $filter type checks."""


class SchemaError(ValueError):
    """A schema file or definition is invalid (one sentence naming the table and column)."""


@dataclass(frozen=True)
class Option:
    """One choice of an option set; ``state`` is the statecode a statuscode belongs to."""

    value: int
    label: str
    state: int | None = None


@dataclass(frozen=True)
class Attribute:
    """One column. ``targets`` are the tables a lookup may point to."""

    name: str
    type: str
    max_length: int | None = None
    targets: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    read_only: bool = False
    default: int | bool | None = None
    required: bool = False
    """Business required (``ApplicationRequired``): shown in metadata, not enforced by the Web
    API, as in Dataverse (clients and forms enforce it)."""

    @functools.cached_property
    def edm_type(self) -> str:
        return EDM_TYPES[self.type]

    @functools.cached_property
    def is_lookup(self) -> bool:
        return self.type in LOOKUP_TYPES

    @functools.cached_property
    def web_name(self) -> str:
        """The property name in the Web API: ``_x_value`` for a lookup."""
        return f"_{self.name}_value" if self.is_lookup else self.name

    @functools.cached_property
    def option_values(self) -> frozenset[int]:
        return frozenset(o.value for o in self.options)


@dataclass(frozen=True)
class Navigation:
    """A single-valued navigation property: writing ``name@odata.bind`` sets ``attribute``."""

    name: str
    attribute: Attribute
    target: str


@dataclass(frozen=True)
class Collection:
    """A collection-valued navigation property: rows of ``source`` whose ``navigation``
    points here (named ``<source>_<navigation>``, the many-to-one's referenced name)."""

    name: str
    source: Table
    navigation: Navigation


@dataclass
class Table:
    """One Dataverse table (entity)."""

    logical_name: str
    entity_set: str
    primary_id: str
    primary_name: str | None
    attributes: dict[str, Attribute]
    change_tracking: bool = True
    navigations: dict[str, Navigation] = field(default_factory=dict)
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Alternate keys by name: the attributes whose values together are unique."""
    collections: dict[str, Collection] = field(default_factory=dict)
    """Collection-valued navigation properties: the rows of other tables that look this up."""

    @property
    def type_name(self) -> str:
        return f"Microsoft.Dynamics.CRM.{self.logical_name}"

    @property
    def metadata_id(self) -> str:
        return str(uuid.uuid5(NAMESPACE_UUID, self.logical_name))

    def by_web_name(self, name: str) -> Attribute | None:
        """The attribute a Web API property name (``name``, ``_x_value``) stands for."""
        if name.startswith("_") and name.endswith("_value"):
            attribute = self.attributes.get(name[1:-6])
            return attribute if attribute is not None and attribute.is_lookup else None
        attribute = self.attributes.get(name)
        return None if attribute is None or attribute.is_lookup else attribute


@dataclass
class Schema:
    """The tables by logical name and by entity set name."""

    tables: dict[str, Table]

    def __post_init__(self) -> None:
        self.by_set = {t.entity_set: t for t in self.tables.values()}
        for table in self.tables.values():
            table.navigations = _navigations(table, self)
        for table in self.tables.values():
            for navigation in table.navigations.values():
                target = self.tables[navigation.target]
                name = f"{table.logical_name}_{navigation.name}"
                target.collections[name] = Collection(name, table, navigation)


def _navigations(table: Table, schema: Schema) -> dict[str, Navigation]:
    """Single-valued navigation properties: one per lookup, or one per target if several.

    Owner lookups keep one property (``ownerid``) that binds to any of their targets, as in
    Dataverse, where it points to the ``principal`` base type.
    """
    result: dict[str, Navigation] = {}
    for attribute in table.attributes.values():
        if not attribute.is_lookup:
            continue
        targets = [t for t in attribute.targets if t in schema.tables]
        if len(targets) == 1 or attribute.type == "Owner":
            for target in targets:
                result.setdefault(attribute.name, Navigation(attribute.name, attribute, target))
        else:
            for target in targets:
                name = f"{attribute.name}_{target}"
                result[name] = Navigation(name, attribute, target)
    return result


def load_schema(source: Path | Mapping[str, Any] | None) -> Schema:
    """The schema from a TOML/JSON file, a mapping in that shape, or the demo's CRM (None)."""
    if source is None:
        return _parse(DEFAULT_SCHEMA, "the default schema")
    if isinstance(source, Path):
        try:
            text = source.read_text(encoding="utf-8")
            data = json.loads(text) if source.suffix == ".json" else tomllib.loads(text)
        except (OSError, ValueError) as exc:
            raise SchemaError(f"cannot read the schema file {source}: {exc}") from None
        return _parse(data, str(source))
    return _parse(source, "the schema")


def _parse(data: Mapping[str, Any], where: str) -> Schema:
    tables_data = data.get("tables")
    if not isinstance(tables_data, Mapping) or not tables_data:
        raise SchemaError(f"{where} defines no [tables.<logical name>]")
    tables: dict[str, Table] = {}
    for logical, spec in tables_data.items():
        tables[logical] = _table(str(logical), spec, where)
    schema = Schema(tables)
    for table in tables.values():
        for attribute in table.attributes.values():
            missing = [t for t in attribute.targets if t not in tables]
            if missing and attribute.type != "Owner":
                raise SchemaError(
                    f"{where}: {table.logical_name}.{attribute.name} looks up "
                    f"{', '.join(missing)}, which the schema does not define"
                )
    return schema


def _table(logical: str, spec: Mapping[str, Any], where: str) -> Table:
    if not logical.isidentifier() or logical.lower() != logical:
        raise SchemaError(f"{where}: table name {logical!r} is not a lower-case logical name")
    primary_id = f"{logical}id"
    attributes: dict[str, Attribute] = {primary_id: Attribute(primary_id, "Uniqueidentifier")}
    columns = spec.get("columns", {})
    for name, column in columns.items():
        attributes[name] = _attribute(logical, str(name), column, where)
        attribute = attributes[name]
        if attribute.is_lookup and len(attribute.targets) > 1:
            type_name = f"{name}type"
            attributes.setdefault(type_name, Attribute(type_name, "EntityName", max_length=64))
    attributes["createdon"] = Attribute("createdon", "DateTime", read_only=True)
    attributes["modifiedon"] = Attribute("modifiedon", "DateTime", read_only=True)
    attributes["versionnumber"] = Attribute("versionnumber", "BigInt", read_only=True)
    keys: dict[str, tuple[str, ...]] = {}
    for key_name, key_columns in dict(spec.get("keys", {})).items():
        names = tuple(key_columns)
        bad = [n for n in names if n not in attributes or attributes[n].is_lookup]
        if not names or bad:
            raise SchemaError(
                f"{where}: {logical}.keys.{key_name} names no column or unknown columns "
                f"({', '.join(bad)})"
            )
        keys[str(key_name)] = names
    primary_name = spec.get("primary_name")
    if primary_name is not None and primary_name not in attributes:
        raise SchemaError(f"{where}: {logical}.primary_name {primary_name!r} is not a column")
    return Table(
        logical_name=logical,
        entity_set=str(spec.get("entity_set", f"{logical}s")),
        primary_id=primary_id,
        primary_name=primary_name,
        attributes=attributes,
        change_tracking=bool(spec.get("change_tracking", True)),
        keys=keys,
    )


def _attribute(table: str, name: str, column: Mapping[str, Any], where: str) -> Attribute:
    kind = column.get("type")
    if kind not in ALL_TYPES:
        raise SchemaError(
            f"{where}: {table}.{name} has type {kind!r}; one of {', '.join(sorted(ALL_TYPES))}"
        )
    if name in SYSTEM_COLUMNS or name == f"{table}id":
        raise SchemaError(f"{where}: {table}.{name} is a system column and cannot be defined")
    options: list[Option] = []
    for value, label in dict(column.get("options", {})).items():
        if isinstance(label, list | tuple):
            options.append(Option(int(value), str(label[1]), int(label[0])))
        else:
            options.append(Option(int(value), str(label)))
    if kind in OPTION_TYPES and not options:
        raise SchemaError(f"{where}: {table}.{name} is a {kind} without options")
    targets = tuple(column.get("targets", ()))
    if kind in LOOKUP_TYPES and not targets:
        raise SchemaError(f"{where}: {table}.{name} is a {kind} without targets")
    default = column.get("default")
    if default is None and kind == "Boolean":
        default = False
    return Attribute(
        name=name,
        type=str(kind),
        max_length=column.get("max_length", 100 if kind == "String" else None),
        targets=targets,
        options=tuple(options),
        default=default,
        required=bool(column.get("required", False)),
    )


def _text(length: int) -> dict[str, Any]:
    return {"type": "String", "max_length": length}


_ACTIVE = {"0": "Active", "1": "Inactive"}
_ACTIVE_STATUS = {"1": [0, "Active"], "2": [1, "Inactive"]}


def _state(default: int = 0) -> dict[str, Any]:
    return {"type": "State", "options": _ACTIVE, "default": default}


def _status() -> dict[str, Any]:
    return {"type": "Status", "options": _ACTIVE_STATUS, "default": 1}


DEFAULT_SCHEMA: dict[str, Any] = {
    "tables": {
        "transactioncurrency": {
            "entity_set": "transactioncurrencies",
            "primary_name": "currencyname",
            "columns": {
                "isocurrencycode": _text(5),
                "currencyname": _text(100),
                "currencysymbol": _text(10),
                "exchangerate": {"type": "Decimal"},
                "statecode": _state(),
                "statuscode": _status(),
            },
        },
        "systemuser": {
            "primary_name": "fullname",
            "columns": {
                "fullname": _text(200),
                "internalemailaddress": _text(100),
                "mobilephone": _text(64),
                "isdisabled": {"type": "Boolean", "default": False},
                "islicensed": {"type": "Boolean", "default": True},
                "isintegrationuser": {"type": "Boolean", "default": False},
            },
        },
        "bcbi_company": {
            "entity_set": "bcbi_companies",
            "primary_name": "bcbi_name",
            "columns": {
                "bcbi_name": _text(100),
            },
        },
        "uomschedule": {
            "primary_name": "name",
            "columns": {
                "name": _text(200),
                "baseuomname": _text(100),
                "statecode": _state(),
                "statuscode": _status(),
            },
        },
        "account": {
            "primary_name": "name",
            "columns": {
                "name": _text(160),
                "accountnumber": _text(20),
                "address1_primarycontactname": _text(100),
                "address1_line1": _text(250),
                "address1_line2": _text(250),
                "address1_postalcode": _text(20),
                "address1_city": _text(80),
                "address1_country": _text(80),
                "address1_stateorprovince": _text(50),
                "emailaddress1": _text(100),
                "telephone1": _text(50),
                "fax": _text(50),
                "websiteurl": _text(200),
                "creditlimit": {"type": "Money"},
                "transactioncurrencyid": {"type": "Lookup", "targets": ["transactioncurrency"]},
                "ownerid": {"type": "Owner", "targets": ["systemuser", "team"]},
                "primarycontactid": {"type": "Lookup", "targets": ["contact"]},
                "bcbi_companyid": {"type": "Lookup", "targets": ["bcbi_company"]},
                "statecode": _state(),
                "statuscode": _status(),
                "customertypecode": {
                    "type": "Picklist",
                    "default": 3,
                    "options": {
                        "1": "Competitor",
                        "2": "Consultant",
                        "3": "Customer",
                        "4": "Investor",
                        "5": "Partner",
                        "6": "Influencer",
                        "7": "Press",
                        "8": "Prospect",
                        "9": "Reseller",
                        "10": "Supplier",
                        "11": "Vendor",
                        "12": "Other",
                    },
                },
            },
        },
        "contact": {
            "primary_name": "lastname",
            "columns": {
                "firstname": _text(50),
                "middlename": _text(50),
                "lastname": _text(50),
                "emailaddress1": _text(100),
                "telephone1": _text(50),
                "mobilephone": _text(50),
                "address1_line1": _text(250),
                "address1_city": _text(80),
                "address1_postalcode": _text(20),
                "address1_country": _text(80),
                "parentcustomerid": {"type": "Customer", "targets": ["account", "contact"]},
                "bcbi_companyid": {"type": "Lookup", "targets": ["bcbi_company"]},
                "transactioncurrencyid": {"type": "Lookup", "targets": ["transactioncurrency"]},
                "ownerid": {"type": "Owner", "targets": ["systemuser", "team"]},
                "statecode": _state(),
                "statuscode": _status(),
            },
        },
        "product": {
            "primary_name": "name",
            "columns": {
                "name": _text(100),
                "productnumber": _text(100),
                "price": {"type": "Money"},
                "standardcost": {"type": "Money"},
                "currentcost": {"type": "Money"},
                "stockweight": {"type": "Decimal"},
                "vendorpartnumber": _text(100),
                "quantityonhand": {"type": "Decimal"},
                "defaultuomscheduleid": {"type": "Lookup", "targets": ["uomschedule"]},
                "bcbi_companyid": {"type": "Lookup", "targets": ["bcbi_company"]},
                "transactioncurrencyid": {"type": "Lookup", "targets": ["transactioncurrency"]},
                "producttypecode": {
                    "type": "Picklist",
                    "default": 1,
                    "options": {
                        "1": "Sales Inventory",
                        "2": "Miscellaneous Charges",
                        "3": "Services",
                        "4": "Flat Fees",
                    },
                },
                "statecode": {
                    "type": "State",
                    "default": 0,
                    "options": {"0": "Active", "1": "Retired", "2": "Draft", "3": "Under Revision"},
                },
                "statuscode": {
                    "type": "Status",
                    "default": 1,
                    "options": {
                        "1": [0, "Active"],
                        "2": [1, "Retired"],
                        "0": [2, "Draft"],
                        "3": [3, "Under Revision"],
                    },
                },
            },
        },
    }
}
"""The demo's CRM tables (:mod:`accord.demo.schema`) with their Dataverse types."""
