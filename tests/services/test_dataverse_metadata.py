"""EntityDefinitions and $metadata: what a client reads to learn the tables."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"


def test_entity_definitions_select_and_filter(api: httpx.Client):
    response = api.get(
        "EntityDefinitions",
        params={
            "$select": "LogicalName,EntitySetName,PrimaryIdAttribute,ChangeTrackingEnabled",
            "$filter": "LogicalName eq 'account' or LogicalName eq 'transactioncurrency'",
        },
    )
    assert response.status_code == 200
    rows = sorted(response.json()["value"], key=lambda r: r["LogicalName"])
    assert rows == [
        {
            "LogicalName": "account",
            "EntitySetName": "accounts",
            "PrimaryIdAttribute": "accountid",
            "ChangeTrackingEnabled": True,
        },
        {
            "LogicalName": "transactioncurrency",
            "EntitySetName": "transactioncurrencies",
            "PrimaryIdAttribute": "transactioncurrencyid",
            "ChangeTrackingEnabled": True,
        },
    ]


def test_entity_definition_by_logical_name_with_attributes(api: httpx.Client):
    response = api.get(
        "EntityDefinitions(LogicalName='contact')",
        params={"$select": "LogicalName,EntitySetName", "$expand": "Attributes"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["EntitySetName"] == "contacts"
    types = {a["LogicalName"]: a["AttributeType"] for a in body["Attributes"]}
    assert types["contactid"] == "Uniqueidentifier"
    assert types["parentcustomerid"] == "Customer"
    assert types["parentcustomeridtype"] == "EntityName"
    assert types["statecode"] == "State"
    assert types["modifiedon"] == "DateTime"
    assert api.get("EntityDefinitions(LogicalName='nosuch')").status_code == 404


def test_attributes_segment_with_lookup_targets_and_lengths(api: httpx.Client):
    response = api.get(
        "EntityDefinitions(LogicalName='contact')/Attributes",
        params={"$select": "LogicalName,AttributeType,MaxLength,Targets,IsValidForCreate"},
    )
    rows = {a["LogicalName"]: a for a in response.json()["value"]}
    assert rows["lastname"]["MaxLength"] == 50
    assert rows["parentcustomerid"]["Targets"] == ["account", "contact"]
    assert rows["modifiedon"]["IsValidForCreate"] is False
    one = api.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='name')")
    assert one.json()["AttributeType"] == "String"
    picklists = api.get(
        "EntityDefinitions(LogicalName='account')/Attributes",
        params={"$filter": "AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'"},
    ).json()["value"]
    assert [a["LogicalName"] for a in picklists] == ["customertypecode"]


def test_option_sets_through_the_cast_segment(api: httpx.Client):
    response = api.get(
        "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='statuscode')"
        "/Microsoft.Dynamics.CRM.StatusAttributeMetadata",
        params={"$select": "LogicalName", "$expand": "OptionSet"},
    )
    assert response.status_code == 200
    options = response.json()["OptionSet"]["Options"]
    assert [
        (o["Value"], o["State"], o["Label"]["UserLocalizedLabel"]["Label"]) for o in options
    ] == [
        (1, 0, "Active"),
        (2, 1, "Inactive"),
    ]
    picklists = api.get(
        "EntityDefinitions(LogicalName='account')/Attributes"
        "/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        params={"$select": "LogicalName", "$expand": "OptionSet($select=Options)"},
    ).json()["value"]
    assert picklists[0]["LogicalName"] == "customertypecode"
    values = {
        o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"]
        for o in picklists[0]["OptionSet"]["Options"]
    }
    assert values[3] == "Customer"
    wrong = api.get(
        "EntityDefinitions(LogicalName='account')/Attributes(LogicalName='name')"
        "/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
    )
    assert wrong.status_code == 404


def test_many_to_one_relationships_name_the_navigation_properties(api: httpx.Client):
    rows = api.get(
        "EntityDefinitions(LogicalName='contact')/ManyToOneRelationships",
        params={
            "$select": "ReferencingAttribute,ReferencedEntity,"
            "ReferencingEntityNavigationPropertyName"
        },
    ).json()["value"]
    pairs = {
        (r["ReferencingAttribute"], r["ReferencedEntity"]): r[
            "ReferencingEntityNavigationPropertyName"
        ]
        for r in rows
    }
    assert pairs[("parentcustomerid", "account")] == "parentcustomerid_account"
    assert pairs[("parentcustomerid", "contact")] == "parentcustomerid_contact"
    assert pairs[("transactioncurrencyid", "transactioncurrency")] == "transactioncurrencyid"


def test_metadata_is_csdl_xml(api: httpx.Client):
    response = api.get("$metadata", headers={"Accept": "application/xml"})
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    types = {e.get("Name"): e for e in root.iter(f"{EDM}EntityType")}
    account = types["account"]
    assert account.find(f"{EDM}Key/{EDM}PropertyRef").get("Name") == "accountid"
    properties = {p.get("Name"): p.get("Type") for p in account.iter(f"{EDM}Property")}
    assert properties["_transactioncurrencyid_value"] == "Edm.Guid"
    assert properties["creditlimit"] == "Edm.Decimal"
    sets = {e.get("Name") for e in root.iter(f"{EDM}EntitySet")}
    assert {"accounts", "contacts", "transactioncurrencies"} <= sets
    annotated = api.get("$metadata?annotations=true").text
    assert "Org.OData.Capabilities.V1.ChangeTracking" in annotated


def test_service_document_and_who_am_i(api: httpx.Client):
    names = {s["name"] for s in api.get("").json()["value"]}
    assert "accounts" in names
    who = api.get("WhoAmI").json()
    assert set(who) >= {"UserId", "BusinessUnitId", "OrganizationId"}


def test_expand_of_attributes_takes_a_select(api: httpx.Client):
    body = api.get(
        "EntityDefinitions",
        params={
            "$select": "LogicalName",
            "$filter": "LogicalName eq 'product'",
            "$expand": "Attributes($select=LogicalName,AttributeType),Keys",
        },
    ).json()["value"][0]
    assert body["Keys"] == []
    assert all(
        set(a) <= {"@odata.type", "LogicalName", "AttributeType"} for a in body["Attributes"]
    )
    assert {"LogicalName": "price", "AttributeType": "Money"} in [
        {k: v for k, v in a.items() if not k.startswith("@")} for a in body["Attributes"]
    ]
    assert api.get("EntityDefinitions", params={"$expand": "Nothing"}).status_code == 400
