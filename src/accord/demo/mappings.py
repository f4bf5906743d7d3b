"""The standard table and field mappings, adapted to the demo schemas.

They follow the mappings "Use Default Synchronization Setup" creates in Business Central
(reference §3.1/§3.2), restricted to the columns the demo tables have. They are plain data in
the shape of ``accord.toml`` (DESIGN §6); :mod:`accord.demo.config` writes them out.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ERP_KEYS", "ERP_SERIES", "MAPPING_NOTES", "STANDARD_MAPPINGS"]

Entry = dict[str, Any]

ERP_KEYS: dict[str, str] = {
    "currency": "code",
    "salesperson": "code",
    "unit_of_measure": "code",
    "customer": "no",
    "contact": "no",
    "item": "no",
    "resource": "no",
}
"""Key column of every ERP table (CRM keys are always ``<table>id``)."""

ERP_SERIES: dict[str, str] = {
    "salesperson": "SP",
    "customer": "C",
    "contact": "CT",
    "item": "I",
    "resource": "R",
}
"""Number series for the ERP tables the engine creates records in. Currencies and units of
measure are only ever sent to the CRM, so they have none."""

TO, FROM, BOTH = "to-integration", "from-integration", "bidirectional"


def _pair(field: str, integration_field: str, **options: Any) -> Entry:
    """A field row coupling one column on each side."""
    return {"field": field, "integration_field": integration_field, **options}


def _to_crm(value: object, integration_field: str) -> Entry:
    """A constant the engine writes into the CRM column."""
    return {"constant": value, "integration_field": integration_field, "direction": TO}


def _to_erp(value: object, field: str) -> Entry:
    """A constant the engine writes into the ERP column."""
    return {"constant": value, "field": field, "direction": FROM}


def _match(priority: int, **options: Any) -> dict[str, Any]:
    return {"priority": priority, **options}


STANDARD_MAPPINGS: tuple[Entry, ...] = (
    {
        "name": "CURRENCY",
        "table": "erp.currency",
        "integration_table": "crm.transactioncurrency",
        "direction": TO,
        "create_new_if_no_match": True,
        "fields": [
            _pair("code", "isocurrencycode", match=_match(0)),
            _pair("symbol", "currencysymbol"),
            _pair("description", "currencyname"),
            _to_crm(0, "statecode"),
        ],
    },
    {
        "name": "SALESPEOPLE",
        "table": "erp.salesperson",
        "integration_table": "crm.systemuser",
        "direction": FROM,
        "integration_table_filter": (
            "isdisabled eq false and islicensed eq true and isintegrationuser eq false"
        ),
        "sync_only_coupled": True,
        "fields": [
            _pair("email", "internalemailaddress", match=_match(0, case_sensitive=False)),
            _pair("name", "fullname"),
            _pair("phone_no", "mobilephone"),
        ],
    },
    {
        "name": "UNITOFMEASURE",
        "table": "erp.unit_of_measure",
        "integration_table": "crm.uomschedule",
        "direction": TO,
        "fields": [
            _pair("code", "name", match=_match(0)),
            _pair("code", "baseuomname"),
            _to_crm(0, "statecode"),
        ],
    },
    {
        "name": "CUSTOMER",
        "table": "erp.customer",
        "integration_table": "crm.account",
        "direction": BOTH,
        "table_filter": "blocked eq ''",
        "integration_table_filter": "statecode eq 0 and customertypecode eq 3",
        "update_conflict": "none",
        "deletion_conflict": "none",
        # City narrows customers of the same name, but never couples on its own: many
        # companies share a city (a group of priority 2 > min_priority only narrows).
        "min_priority": 1,
        "fields": [
            _pair("name", "name", match=_match(0)),
            _pair("contact", "address1_primarycontactname"),
            _pair("address", "address1_line1"),
            _pair("address_2", "address1_line2"),
            _pair("post_code", "address1_postalcode"),
            _pair("city", "address1_city", match=_match(2)),
            _pair("country_code", "address1_country"),
            _pair("county", "address1_stateorprovince"),
            _pair("email", "emailaddress1", match=_match(1)),
            _pair("phone_no", "telephone1"),
            _pair("fax_no", "fax"),
            _pair("home_page", "websiteurl"),
            _pair("credit_limit", "creditlimit", direction=TO),
            _pair("no", "accountnumber", direction=TO),
            _pair("currency_code", "transactioncurrencyid", lookup="CURRENCY"),
            _pair("salesperson_code", "ownerid", lookup="SALESPEOPLE", clear_on_missing=True),
            _to_crm(3, "customertypecode"),
            _to_crm(0, "statecode"),
        ],
    },
    {
        "name": "CONTACT",
        "table": "erp.contact",
        "integration_table": "crm.contact",
        "direction": BOTH,
        "table_filter": "type eq 'person' and customer_no ne ''",
        "integration_table_filter": "statecode eq 0 and parentcustomerid ne null",
        "fields": [
            _pair("first_name", "firstname"),
            _pair("middle_name", "middlename"),
            _pair("surname", "lastname", match=_match(0)),
            _pair("email", "emailaddress1", match=_match(0)),
            _pair("phone_no", "telephone1"),
            _pair("mobile_phone_no", "mobilephone"),
            _pair("address", "address1_line1"),
            _pair("city", "address1_city"),
            _pair("post_code", "address1_postalcode"),
            _pair("country_code", "address1_country"),
            _pair("currency_code", "transactioncurrencyid", lookup="CURRENCY"),
            _pair("customer_no", "parentcustomerid", lookup="CUSTOMER"),
            _to_crm("account", "parentcustomeridtype"),
            _to_crm(0, "statecode"),
            _to_erp("person", "type"),
        ],
    },
    {
        "name": "ITEM-PRODUCT",
        "table": "erp.item",
        "integration_table": "crm.product",
        "direction": BOTH,
        "table_filter": "blocked eq false",
        "integration_table_filter": "producttypecode eq 1 and statecode eq 0",
        "fields": [
            _pair("no", "productnumber", direction=TO, match=_match(0)),
            _pair("description", "name"),
            _pair("unit_price", "price", direction=TO),
            _pair("unit_cost", "standardcost", direction=TO),
            _pair("unit_cost", "currentcost", direction=TO),
            _pair("gross_weight", "stockweight", direction=TO),
            _pair("vendor_item_no", "vendorpartnumber", direction=TO),
            _pair("inventory", "quantityonhand", direction=TO),
            _pair("base_unit_of_measure", "defaultuomscheduleid", lookup="UNITOFMEASURE"),
            _to_crm(1, "producttypecode"),
            _to_crm(0, "statecode"),
        ],
    },
    {
        "name": "RESOURCE-PRODUCT",
        "table": "erp.resource",
        "integration_table": "crm.product",
        "direction": BOTH,
        "table_filter": "blocked eq false",
        "integration_table_filter": "producttypecode eq 2 and statecode eq 0",
        "fields": [
            _pair("no", "productnumber", direction=TO),
            _pair("name", "name"),
            _pair("unit_price", "price", direction=TO),
            _pair("unit_cost", "standardcost", direction=TO),
            _pair("base_unit_of_measure", "defaultuomscheduleid", lookup="UNITOFMEASURE"),
            _to_crm(2, "producttypecode"),
            _to_crm(0, "statecode"),
        ],
    },
)
"""The mappings in the order ``accord.toml`` lists them (the engine orders runs by lookups)."""

MAPPING_NOTES: dict[str, str] = {
    "CURRENCY": "Currencies are kept in the ERP and sent to the CRM, matched on the ISO code.",
    "SALESPEOPLE": (
        "Salespeople are CRM users brought to the ERP; disabled, unlicensed and integration\n"
        "users are left out."
    ),
    "UNITOFMEASURE": "Each ERP unit of measure becomes a CRM unit group of the same name.",
    "CUSTOMER": (
        "Customers and accounts, both ways. Blocked customers and inactive or vendor accounts\n"
        "are left out. The primary contact is not mapped: CONTACT looks up CUSTOMER, and a\n"
        "lookup back would make the two depend on each other."
    ),
    "CONTACT": "Contact persons of customers, both ways; the company comes through CUSTOMER.",
    "ITEM-PRODUCT": "Items and sales-inventory products (type 1); prices go ERP → CRM only.",
    "RESOURCE-PRODUCT": "Resources and service products (type 2); prices go ERP → CRM only.",
}
"""A short comment written above each mapping in ``accord.toml``."""
