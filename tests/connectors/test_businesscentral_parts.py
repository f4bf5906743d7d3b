"""The Business Central connector's pure parts: table names, CSDL, filters, keys, $batch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import quote

import pytest

from accord.connectors.businesscentral import batch
from accord.connectors.businesscentral.batch import Request
from accord.connectors.businesscentral.connector import BusinessCentralConnector
from accord.connectors.businesscentral.metadata import parse_metadata
from accord.connectors.businesscentral.odata import (
    format_millis,
    key_chunks,
    modified_condition,
)
from accord.connectors.businesscentral.tables import TableName, api_base, base_of, parse_table
from accord.connectors.dataverse.odata import server_filter
from accord.errors import ConfigError, FatalConnectorError
from accord.filters import parse_filter
from accord.model import FieldInfo

CSDL = b"""<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
<edmx:DataServices>
<Schema Namespace="Microsoft.NAV" Alias="NAV" xmlns="http://docs.oasis-open.org/odata/ns/edm">
  <EnumType Name="contactType"><Member Name="Company" Value="0"/></EnumType>
  <ComplexType Name="postalAddressType"><Property Name="city" Type="Edm.String"/></ComplexType>
  <EntityType Name="customer">
    <Key><PropertyRef Name="id"/></Key>
    <Property Name="id" Type="Edm.Guid" Nullable="false"/>
    <Property Name="number" Type="Edm.String" MaxLength="20"/>
    <Property Name="displayName" Type="Edm.String" MaxLength="100"/>
    <Property Name="type" Type="Microsoft.NAV.contactType"/>
    <Property Name="creditLimit" Type="Edm.Decimal" Scale="Variable"/>
    <Property Name="taxLiable" Type="Edm.Boolean"/>
    <Property Name="balanceDue" Type="Edm.Decimal">
      <Annotation Term="Org.OData.Core.V1.Computed" Bool="true"/>
    </Property>
    <Property Name="address" Type="Microsoft.NAV.postalAddressType"/>
    <Property Name="lastModifiedDateTime" Type="Edm.DateTimeOffset"/>
    <NavigationProperty Name="currency" Type="Microsoft.NAV.currency"/>
  </EntityType>
  <EntityType Name="currency">
    <Key><PropertyRef Name="id"/></Key>
    <Property Name="id" Type="Edm.Guid" Nullable="false"/>
    <Property Name="code" Type="Edm.String" MaxLength="10"/>
    <Property Name="validFrom" Type="Edm.Date"/>
    <Property Name="rounding" Type="Edm.Double"/>
    <Property Name="picture" Type="Edm.Stream"/>
  </EntityType>
  <EntityContainer Name="NAV">
    <EntitySet Name="customers" EntityType="Microsoft.NAV.customer"/>
    <EntitySet Name="currencies" EntityType="NAV.currency"/>
  </EntityContainer>
</Schema>
</edmx:DataServices>
</edmx:Edmx>"""


# -- table names and URLs ---------------------------------------------------------------
def test_table_names_standard_and_custom() -> None:
    assert parse_table("erp", "customers") == TableName("v2.0", "customers")
    custom = parse_table("erp", "contoso/sales/v1.0/loyaltyCards")
    assert custom == TableName("contoso/sales/v1.0", "loyaltyCards") and custom.custom
    for bad in ("customers(1)", "contoso/sales/loyaltyCards", "a/b/v1.0/x/y", ""):
        with pytest.raises(ConfigError, match="is not a Business Central table name"):
            parse_table("erp", bad)


def test_api_base_from_the_url_and_custom_apis_next_to_it() -> None:
    online = "https://api.businesscentral.dynamics.com/v2.0/t1/production/api/v2.0"
    assert api_base(online + "/") == online
    assert api_base(online[: -len("/api/v2.0")]) == online
    assert api_base("https://bc:7048/BC/api") == "https://bc:7048/BC/api/v2.0"
    assert base_of(online, "v2.0") == online
    assert base_of(online, "contoso/sales/v1.0") == (
        "https://api.businesscentral.dynamics.com/v2.0/t1/production/api/contoso/sales/v1.0"
    )


# -- $metadata --------------------------------------------------------------------------
def test_metadata_gives_fields_kinds_and_read_only() -> None:
    entities = parse_metadata(CSDL, "erp")
    assert set(entities) == {"customers", "currencies"}
    customer = entities["customers"].attributes
    assert list(customer) == [
        "id",
        "number",
        "displayName",
        "type",
        "creditLimit",
        "taxLiable",
        "balanceDue",
        "lastModifiedDateTime",
    ]  # the complex address and the navigation are left out
    assert customer["number"].info() == FieldInfo("number", "text", length=20)
    assert customer["id"].info() == FieldInfo("id", "text", nullable=False)
    assert customer["type"].kind == "text"  # an enum, by its names
    assert customer["creditLimit"].kind == "decimal"
    assert customer["taxLiable"].kind == "boolean"
    assert customer["lastModifiedDateTime"].kind == "datetime"
    read_only = {n for n, a in customer.items() if not (a.creatable or a.updatable)}
    assert read_only == {"id", "balanceDue", "lastModifiedDateTime"}
    currency = entities["currencies"].attributes  # its type named through the alias
    assert (currency["validFrom"].kind, currency["rounding"].kind) == ("date", "float")
    assert "picture" not in currency


def test_metadata_that_is_not_xml_is_one_sentence() -> None:
    with pytest.raises(FatalConnectorError, match="the \\$metadata document is not XML"):
        parse_metadata(b"<html", "erp")
    with pytest.raises(FatalConnectorError, match="is not CSDL"):
        parse_metadata(b"<html><body/></html>", "erp")


# -- filters, keys, watermarks ----------------------------------------------------------
def test_filters_render_without_dataverse_functions() -> None:
    entity = parse_metadata(CSDL, "erp")["customers"]
    numbers = ", ".join(f"'C{i:05d}'" for i in range(12))
    long_in = server_filter(parse_filter(f"number in ({numbers})").root, entity, long_in=None)
    assert long_in.text is not None and "Microsoft.Dynamics" not in long_in.text
    assert long_in.text.count(" or ") == 11 and not long_in.exact  # case: checked here too
    exact = server_filter(parse_filter("creditLimit ge 100 and taxLiable eq true").root, entity)
    assert exact.text == "(creditLimit ge 100) and (taxLiable eq true)" and exact.exact
    # text 'ne' would drop other-case matches on a case-blind server: checked here only
    unequal = server_filter(parse_filter("displayName ne 'x'").root, entity)
    assert unequal.text is None and not unequal.exact
    guid = "5D115C9C-44E3-EA11-BB43-000D3A2FECA1"
    by_id = server_filter(parse_filter(f"id eq '{guid}'").root, entity)
    assert by_id.text == f"id eq {guid.lower()}"


def test_key_chunks_cover_every_key_within_the_budget() -> None:
    number = parse_metadata(CSDL, "erp")["customers"].attributes["number"]
    keys = [f"C{i:05d}" for i in range(300)] + ["O'Brien"]
    chunks = list(key_chunks(number, keys, 1000))
    assert len(chunks) > 1
    assert [k for chunk, _ in chunks for k in chunk] == keys
    for chunk, condition in chunks:
        assert len(quote(condition, safe="")) <= 1000
        assert condition.split(" or ")[0] == f"number eq '{chunk[0]}'"
    assert chunks[-1][1].endswith("number eq 'O''Brien'")
    ident = parse_metadata(CSDL, "erp")["customers"].attributes["id"]
    [(_, by_id)] = key_chunks(ident, ["ABCDEF01-0000-0000-0000-000000000000"], 1000)
    assert by_id == "id eq abcdef01-0000-0000-0000-000000000000"


def test_watermark_is_read_again_from_its_millisecond() -> None:
    at = datetime(2024, 5, 1, 10, 0, 0, 293_999)
    assert format_millis(at) == "2024-05-01T10:00:00.293Z"
    assert modified_condition("lastModifiedDateTime", at) == (
        "lastModifiedDateTime ge 2024-05-01T10:00:00.293Z"
    )
    aware = datetime(2024, 5, 1, 12, 0, 0, 5000, tzinfo=timezone(timedelta(hours=2)))
    assert format_millis(aware) == "2024-05-01T10:00:00.005Z"
    assert format_millis(aware.astimezone(UTC)) == "2024-05-01T10:00:00.005Z"


# -- $batch -----------------------------------------------------------------------------
def test_batch_encodes_requests_and_matches_answers_by_id() -> None:
    requests = [
        Request(
            "POST", "companies(c1)/customers", {"number": "C1", "creditLimit": Decimal("1.10")}
        ),
        Request("PATCH", "companies(c1)/customers(x)", {"displayName": "A"}, {"If-Match": 'W/"1"'}),
        Request("DELETE", "companies(c1)/customers(y)", headers={"If-Match": "*"}),
    ]
    body = batch.encode(requests)
    assert b'"creditLimit":1.10' in body  # exact, not a float
    sent = json.loads(body)["requests"]
    assert [(r["id"], r["method"]) for r in sent] == [
        ("1", "POST"),
        ("2", "PATCH"),
        ("3", "DELETE"),
    ]
    assert sent[0]["headers"] == {"Content-Type": "application/json"}
    assert sent[1]["headers"] == {"If-Match": 'W/"1"', "Content-Type": "application/json"}
    assert "body" not in sent[2]
    answer = {
        "responses": [
            {"id": "3", "status": 204, "headers": {}},
            {
                "id": "2",
                "status": 409,
                "body": {"error": {"code": "Request_EntityChanged", "message": "Another user"}},
            },
            {"id": "1", "status": 201, "headers": {"ETag": 'W/"2"'}, "body": '{"number":"C1"}'},
        ]
    }
    answers = batch.decode(json.dumps(answer).encode(), 3)
    assert [a.status for a in answers] == [201, 409, 204]
    assert answers[0].body == {"number": "C1"} and answers[0].headers == {"etag": 'W/"2"'}
    error = answers[1].error()
    assert (error.code, error.message) == ("Request_EntityChanged", "Another user")
    with pytest.raises(ValueError, match="2 answers to a batch of 3"):
        batch.decode(json.dumps({"responses": answer["responses"][:2]}).encode(), 3)
    with pytest.raises(ValueError, match="no 'responses'"):
        batch.decode(b"{}", 1)


# -- configuration ----------------------------------------------------------------------
URL = "https://api.businesscentral.dynamics.com/v2.0/t1/production/api/v2.0"


def test_options_are_checked_when_the_connector_opens() -> None:
    with pytest.raises(ConfigError, match=r"options.compnay: unknown option"):
        BusinessCentralConnector("erp", url=URL, tables={}, options={"compnay": "X"})
    with pytest.raises(ConfigError, match=r"options.batch_size: must be a whole number from 1"):
        BusinessCentralConnector("erp", url=URL, tables={}, options={"batch_size": 500})
    with pytest.raises(ConfigError, match=r"options.tenant is not set"):
        BusinessCentralConnector("erp", url=URL, tables={}, options={"client_id": "a"})
    with pytest.raises(ConfigError, match="url must be the API's address"):
        BusinessCentralConnector("erp", url="bc.example", tables={}, options={"token": "t"})
    connector = BusinessCentralConnector("erp", url=URL, tables={}, options={"token": "t"})
    caps = connector.capabilities
    assert (caps.batch_size, caps.optimistic_concurrency, caps.client_keys) == (100, True, True)
    connector.close()
