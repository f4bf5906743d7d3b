"""The demo's ERP as Business Central API v2.0 entities: rows, keys and standard mappings.

``erp.db`` has BC's tables with the Customer card's column names; the API v2.0 pages expose
fewer and differently named fields. This module renames the demo's ERP columns to the API's
field names, so that ``accord demo --erp businesscentral`` loads the same customers, contacts,
items, currencies, salespeople and units of measure into the local BC service, and adapts the
standard mappings to them. Columns the API pages do not have (fax, the customer's contact
name, an item's weight, resources) are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from accord.demo.loader import Row, TableRows
from accord.demo.mappings import STANDARD_MAPPINGS, Entry
from accord.demo.schema import ERP_METADATA

__all__ = ["BC_COMPANY", "BC_ENTITIES", "BC_KEYS", "BC_MAPPINGS", "bc_entities"]

BC_COMPANY = "CRONUS USA, Inc."
"""The company of the local BC the demo's ERP rows go into."""

BC_ENTITIES: dict[str, tuple[str, dict[str, str]]] = {
    "currency": (
        "currencies",
        {"code": "code", "description": "displayName", "symbol": "symbol"},
    ),
    "salesperson": (
        "salespeoplePurchasers",
        {"code": "code", "name": "displayName", "email": "email", "phone_no": "phoneNo"},
    ),
    "unit_of_measure": ("unitsOfMeasure", {"code": "code", "description": "displayName"}),
    "customer": (
        "customers",
        {
            "no": "number",
            "name": "displayName",
            "address": "addressLine1",
            "address_2": "addressLine2",
            "post_code": "postalCode",
            "city": "city",
            "country_code": "country",
            "county": "state",
            "email": "email",
            "phone_no": "phoneNumber",
            "home_page": "website",
            "currency_code": "currencyCode",
            "salesperson_code": "salespersonCode",
            "credit_limit": "creditLimit",
            "blocked": "blocked",
        },
    ),
    "contact": (
        "contacts",
        {
            "no": "number",
            "type": "type",
            # the API page has one name; the surname is what CONTACT matches on
            "surname": "displayName",
            "email": "email",
            "phone_no": "phoneNumber",
            "mobile_phone_no": "mobilePhoneNumber",
            "address": "addressLine1",
            "city": "city",
            "post_code": "postalCode",
            "country_code": "country",
            # NOTE: in BC a contact's company is a company contact; the demo keeps the
            # customer number there, which is what the CONTACT mapping's lookup needs.
            "customer_no": "companyNumber",
        },
    ),
    "item": (
        "items",
        {
            "no": "number",
            "description": "displayName",
            "base_unit_of_measure": "baseUnitOfMeasureCode",
            "unit_price": "unitPrice",
            "unit_cost": "unitCost",
            "inventory": "inventory",
            "blocked": "blocked",
        },
    ),
}
"""Demo ERP table → (API v2.0 entity set, demo column → API field). Resources have no page."""

BC_KEYS = {"currency": "code", "salesperson": "code", "unit_of_measure": "code"}
"""Key field per demo table where it is ``code``; the others are keyed on ``number``."""

_ENUMS: dict[tuple[str, str], dict[Any, str]] = {
    ("customer", "blocked"): {
        "": " ",
        None: " ",
        "ship": "Ship",
        "invoice": "Invoice",
        "all": "All",
    },
    ("contact", "type"): {"person": "Person", "company": "Company"},
}
_FILTERS: dict[str, dict[str, str]] = {
    "CUSTOMER": {"table_filter": "blocked eq ' '"},
    "CONTACT": {"table_filter": "type eq 'Person' and companyNumber ne ''"},
}


def _timestamp(text: str) -> datetime:
    """The loader's DATETIME text (naive UTC) as an aware datetime for BC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def bc_entities(chunks: Iterable[TableRows]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The demo's ERP rows as (entity set, API records) for ``LocalBusinessCentral.insert_rows``."""
    for table, rows in chunks:
        if table not in BC_ENTITIES or not rows:
            continue
        entity_set, fields = BC_ENTITIES[table]
        columns = list(ERP_METADATA.tables[table].columns.keys())
        yield entity_set, [_entity(table, columns, fields, row) for row in rows]


def _entity(table: str, columns: list[str], fields: Mapping[str, str], row: Row) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for column, value in zip(columns, row, strict=True):
        if column == "last_modified":
            record["lastModifiedDateTime"] = _timestamp(value)
        elif column in fields:
            enum = _ENUMS.get((table, column))
            record[fields[column]] = enum.get(value, value) if enum else value
    return record


def _bc_mapping(mapping: Entry) -> Entry | None:
    table = str(mapping["table"]).removeprefix("erp.")
    if table not in BC_ENTITIES:
        return None
    entity_set, names = BC_ENTITIES[table]
    fields = []
    for row in mapping["fields"]:
        if "field" in row:
            if row["field"] not in names:
                continue
            field = names[row["field"]]
            value = row.get("constant")
            enum = _ENUMS.get((table, row["field"]))
            row = {**row, "field": field}
            if "constant" in row and enum:
                row["constant"] = enum.get(value, value)
        fields.append(row)
    adapted = {**mapping, "table": f"erp.{entity_set}", "fields": fields}
    adapted.update(_FILTERS.get(str(mapping["name"]), {}))
    return adapted


BC_MAPPINGS: tuple[Entry, ...] = tuple(
    m for m in (_bc_mapping(mapping) for mapping in STANDARD_MAPPINGS) if m is not None
)
"""The standard mappings with BC's entity sets and field names (no RESOURCE-PRODUCT)."""
