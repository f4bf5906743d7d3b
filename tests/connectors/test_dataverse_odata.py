"""The Dataverse connector's pure parts: metadata, filter rendering, values, options."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from accord.connectors.dataverse.metadata import parse_entity
from accord.connectors.dataverse.odata import (
    key_chunks,
    key_literal,
    modified_condition,
    record_path,
    server_filter,
)
from accord.connectors.dataverse.values import dumps, from_wire, loads, parse_datetime
from accord.connectors.options import option_problem
from accord.errors import FilterError
from accord.filters import parse_filter

GUID = "6f1c2f0e-3b8a-4c47-9a55-0d9c1d1f2a10"

DEFINITION: dict[str, Any] = {
    "LogicalName": "contact",
    "EntitySetName": "contacts",
    "PrimaryIdAttribute": "contactid",
    "ChangeTrackingEnabled": True,
    "Attributes": [
        {"LogicalName": "contactid", "AttributeType": "Uniqueidentifier", "IsPrimaryId": True},
        {
            "LogicalName": "lastname",
            "AttributeType": "String",
            "MaxLength": 50,
            "RequiredLevel": {"Value": "ApplicationRequired"},
        },
        {"LogicalName": "description", "AttributeType": "Memo", "MaxLength": 2000},
        {"LogicalName": "numberofchildren", "AttributeType": "Integer"},
        {"LogicalName": "creditlimit", "AttributeType": "Money"},
        {"LogicalName": "statecode", "AttributeType": "State"},
        {"LogicalName": "donotemail", "AttributeType": "Boolean"},
        {"LogicalName": "birthdate", "AttributeType": "DateTime", "Format": "DateOnly"},
        {"LogicalName": "modifiedon", "AttributeType": "DateTime", "IsValidForCreate": False},
        {
            "LogicalName": "parentcustomerid",
            "AttributeType": "Customer",
            "Targets": ["account", "contact"],
        },
        {"LogicalName": "parentcustomeridname", "AttributeType": "String", "AttributeOf": "x"},
        {"LogicalName": "parentcustomeridtype", "AttributeType": "EntityName"},
        {"LogicalName": "transactioncurrencyid", "AttributeType": "Lookup", "Targets": ["tc"]},
        {"LogicalName": "hidden", "AttributeType": "String", "IsValidForRead": False},
    ],
    "ManyToOneRelationships": [
        {
            "ReferencingAttribute": "transactioncurrencyid",
            "ReferencedEntity": "tc",
            "ReferencingEntityNavigationPropertyName": "TransactionCurrencyId",
        }
    ],
}
ENTITY = parse_entity(DEFINITION)


def render(text: str) -> tuple[str | None, bool]:
    rendered = server_filter(parse_filter(text).root, ENTITY, text)
    return rendered.text, rendered.exact


def test_metadata_names_kinds_and_lookups() -> None:
    attributes = ENTITY.attributes
    assert ENTITY.entity_set == "contacts" and ENTITY.primary_id == "contactid"
    assert list(attributes) == [
        "contactid",
        "lastname",
        "description",
        "numberofchildren",
        "creditlimit",
        "statecode",
        "donotemail",
        "birthdate",
        "modifiedon",
        "parentcustomerid",
        "parentcustomeridtype",
        "transactioncurrencyid",
    ]
    kinds = {name: a.info().kind for name, a in attributes.items()}
    assert kinds["creditlimit"] == "decimal" and kinds["statecode"] == "integer"
    assert kinds["birthdate"] == "date" and kinds["modifiedon"] == "datetime"
    assert attributes["lastname"].info().length == 50 and not attributes["lastname"].nullable
    assert attributes["modifiedon"].creatable is False
    customer = attributes["parentcustomerid"]
    assert customer.wire_name == "_parentcustomerid_value"
    assert customer.navigation == {
        "account": "parentcustomerid_account",
        "contact": "parentcustomerid_contact",
    }
    assert attributes["transactioncurrencyid"].navigation == {"tc": "TransactionCurrencyId"}


@pytest.mark.parametrize(
    ("text", "sent", "exact"),
    [
        (
            "numberofchildren ge 3 and numberofchildren lt 6",
            "(numberofchildren ge 3) and (numberofchildren lt 6)",
            True,
        ),
        ("lastname eq 'O''Brien'", "lastname eq 'O''Brien'", False),
        ("lastname ne 'abc'", None, False),
        ("lastname gt 'abc'", None, False),
        ("lastname eq null", "lastname eq null", True),
        ("contains(lastname, '50%')", "contains(lastname,'50%')", False),
        ("contains(lastname, '[a]')", None, False),
        ("not (numberofchildren gt 2)", "not (numberofchildren gt 2)", False),
        ("not (lastname eq 'x')", None, False),
        ("numberofchildren gt 2 or lastname ne 'x'", None, False),
        ("numberofchildren in (1, 2)", "(numberofchildren eq 1 or numberofchildren eq 2)", True),
        (
            "numberofchildren in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)",
            "Microsoft.Dynamics.CRM.In(PropertyName='numberofchildren',"
            "PropertyValues=['1','2','3','4','5','6','7','8','9','10','11'])",
            True,
        ),
        (f"parentcustomerid eq {GUID.upper()}", f"_parentcustomerid_value eq {GUID}", True),
        (f"parentcustomerid eq '{GUID}'", f"_parentcustomerid_value eq {GUID}", True),
        (
            "creditlimit gt 2.5 and donotemail eq true",
            "(creditlimit gt 2.5) and (donotemail eq true)",
            True,
        ),
        ("modifiedon gt 2024-01-02T03:04:05Z", "modifiedon gt 2024-01-02T03:04:05Z", True),
        ("birthdate eq 2000-01-31", "birthdate eq 2000-01-31", True),
        ("numberofchildren ne 2", "numberofchildren ne 2", False),
        (
            "lastname eq 'x' and numberofchildren eq 1",
            "(lastname eq 'x') and (numberofchildren eq 1)",
            False,
        ),
    ],
)
def test_filter_sends_a_superset_and_says_if_exact(
    text: str, sent: str | None, exact: bool
) -> None:
    """Text compares without case on the server: only what keeps every match is sent."""
    assert render(text) == (sent, exact)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope eq 1", "unknown field 'nope'"),
        ("numberofchildren eq 'x'", "holds numbers"),
        ("parentcustomerid eq 'not a guid'", "holds GUIDs"),
        ("contains(numberofchildren, 'x')", "needs a text field"),
        ("donotemail eq 1", "holds booleans"),
    ],
)
def test_filter_refuses_what_cannot_match(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        render(text)


def test_modified_condition_rereads_a_whole_second() -> None:
    assert modified_condition("modifiedon", datetime(2024, 1, 1, 12)) == (
        "modifiedon ge 2024-01-01T12:00:00Z"
    )
    assert modified_condition("modifiedon", datetime(2024, 1, 1, 12, 0, 0, 5)) == (
        "modifiedon gt 2024-01-01T12:00:00.000005Z"
    )


def test_key_chunks_stay_under_the_budget_and_skip_non_guids() -> None:
    keys = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(300)] + ["K0001"]
    chunks = list(key_chunks(ENTITY, keys, 2000))
    assert sum(len(c) for c, _ in chunks) == 300
    assert all(len(condition) < 2000 for _, condition in chunks)
    assert len(chunks) > 5
    first, condition = chunks[0]
    assert condition.startswith(
        f"Microsoft.Dynamics.CRM.In(PropertyName='contactid',PropertyValues=['{first[0]}','"
    )
    assert record_path(ENTITY, GUID.upper()) == f"contacts({GUID})"


def test_values_keep_decimals_exact() -> None:
    body = {"price": Decimal("98765432109.1234"), "neg": Decimal("-0.01"), "name": 'a"b'}
    text = dumps(body)
    assert text == b'{"price":98765432109.1234,"neg":-0.01,"name":"a\\"b"}'
    assert loads(text)["price"] == Decimal("98765432109.1234")
    attributes = ENTITY.attributes
    assert from_wire(Decimal("1.50"), attributes["creditlimit"]) == Decimal("1.5")
    assert from_wire(0, attributes["creditlimit"]) == Decimal(0)
    assert from_wire("2024-01-02T03:04:05Z", attributes["modifiedon"]) == datetime(
        2024, 1, 2, 3, 4, 5
    )
    assert from_wire(GUID.upper(), attributes["parentcustomerid"]) == GUID


def test_options_are_checked_strictly() -> None:
    assert option_problem("dataverse", {"token": "t", "page_size": 5000}) is None
    assert option_problem("dataverse", {"tenent": "x"}) == (
        "tenent",
        "unknown option (the dataverse connector takes: tenant, client_id, client_secret, "
        "authority, token, ca_bundle, timeout, max_wait, max_concurrency, page_size, "
        "batch_size, change_tracking)",
    )
    problem = option_problem("dataverse", {"page_size": 10000})
    assert problem is not None and "1 to 5000" in problem[1]
    problem = option_problem("dataverse", {"max_concurrency": 60})
    assert problem is not None and "1 to 52" in problem[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T12:00:00Z", datetime(2024, 1, 1, 12, 0, 0)),
        ("2024-01-01T12:00:00.250Z", datetime(2024, 1, 1, 12, 0, 0, 250000)),
        ("2024-01-01T12:00:00z", datetime(2024, 1, 1, 12, 0, 0)),
        ("2024-01-01T14:00:00+02:00", datetime(2024, 1, 1, 12, 0, 0)),
        ("2024-01-01T12:00:00", datetime(2024, 1, 1, 12, 0, 0)),
    ],
)
def test_stamps_read_as_naive_utc(text: str, expected: datetime) -> None:
    assert parse_datetime(text) == expected
    assert parse_datetime(text).tzinfo is None


def test_a_bad_stamp_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_datetime("2024-13-01T12:00:00Z")


@pytest.mark.parametrize(
    ("key", "literal"),
    [
        (GUID, GUID),
        (GUID.upper(), GUID),
        (GUID[:-1], None),
        (GUID + "0", None),
        (GUID.replace("-", ""), None),
        (GUID[:-1] + "g", None),
        (f"{GUID}\n", None),
    ],
)
def test_only_guids_are_keys(key: str, literal: str | None) -> None:
    assert key_literal(ENTITY, key) == literal
