"""Tables from a schema file, and the checks a schema file gets."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from accord.services.dataverse import LocalDataverse, load_schema
from accord.services.dataverse.schema import SchemaError

SCHEMA = """
[tables.cr_project]
entity_set = "cr_projects"
primary_name = "cr_name"
change_tracking = false
keys = { cr_code_key = ["cr_code"] }

[tables.cr_project.columns]
cr_name = { type = "String", max_length = 20 }
cr_code = { type = "String", max_length = 10 }
cr_budget = { type = "Money" }
cr_phase = { type = "Picklist", options = { 1 = "Plan", 2 = "Build" }, default = 1 }
cr_done = { type = "Boolean" }
cr_due = { type = "DateTime" }
cr_parent = { type = "Lookup", targets = ["cr_project"] }
"""


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDataverse]:
    folder = tmp_path_factory.mktemp("custom")
    (folder / "schema.toml").write_text(SCHEMA)
    with LocalDataverse.start(data_dir=folder, schema=folder / "schema.toml") as service:
        yield service


@pytest.fixture(scope="module")
def client(custom: LocalDataverse) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=custom.api_url,
        verify=custom.ssl_context(),
        headers={"Authorization": f"Bearer {custom.token}"},
    ) as c:
        yield c


def test_a_schema_file_defines_the_tables(client: httpx.Client):
    definition = client.get(
        "EntityDefinitions(LogicalName='cr_project')",
        params={"$select": "EntitySetName,PrimaryNameAttribute,ChangeTrackingEnabled"},
    ).json()
    assert definition["EntitySetName"] == "cr_projects"
    assert definition["ChangeTrackingEnabled"] is False
    assert client.get("accounts").status_code == 404  # only the schema's tables
    parent = client.post(
        "cr_projects",
        json={"cr_name": "Root", "cr_due": "2025-05-01T12:30:45.900+02:00", "cr_done": True},
        headers={"Prefer": "return=representation"},
    ).json()
    assert parent["cr_due"] == "2025-05-01T10:30:45Z"  # UTC, whole seconds
    assert parent["cr_phase"] == 1 and parent["cr_done"] is True
    child = client.post(
        "cr_projects",
        json={"cr_name": "Leaf", "cr_parent@odata.bind": f"/cr_projects({parent['cr_projectid']})"},
    )
    assert child.status_code == 204
    rows = client.get(
        "cr_projects",
        params={"$filter": f"_cr_parent_value eq {parent['cr_projectid']}", "$select": "cr_name"},
    ).json()["value"]
    assert [r["cr_name"] for r in rows] == ["Leaf"]
    # change tracking off: the preference is not applied and no delta link comes back
    tracked = client.get("cr_projects", headers={"Prefer": "odata.track-changes"})
    assert "@odata.deltaLink" not in tracked.json()
    assert "Preference-Applied" not in tracked.headers
    assert client.get("cr_projects?$deltatoken=1001!01/01/2026").status_code == 400


def test_alternate_keys_address_records(client: httpx.Client, custom: LocalDataverse):
    keys = client.get("EntityDefinitions(LogicalName='cr_project')/Keys").json()["value"]
    assert [(k["LogicalName"], k["KeyAttributes"]) for k in keys] == [("cr_code_key", ["cr_code"])]
    created = client.patch("cr_projects(cr_code='P''1')", json={"cr_name": "By key"})
    assert created.status_code == 204  # upsert by key: created with the key value
    record = client.get("cr_projects(cr_code='P''1')").json()
    assert record["cr_code"] == "P'1" and record["cr_name"] == "By key"
    assert created.headers["OData-EntityId"].endswith(f"cr_projects({record['cr_projectid']})")
    client.patch("cr_projects(cr_code='P''1')", json={"cr_name": "Updated"})
    assert client.get(f"cr_projects({record['cr_projectid']})").json()["cr_name"] == "Updated"
    duplicate = client.post("cr_projects", json={"cr_code": "P'1", "cr_name": "Twice"})
    assert duplicate.status_code == 412
    assert duplicate.json()["error"]["code"] == "0x80040237"
    upserted = client.post(
        "cr_projects/Microsoft.Dynamics.CRM.UpsertMultiple",
        json={
            "Targets": [
                {"@odata.id": "cr_projects(cr_code='P''1')", "cr_name": "Bulk"},
                {"@odata.id": "cr_projects(cr_code='P2')", "cr_name": "New"},
            ]
        },
    )
    assert upserted.status_code == 204
    assert client.get("cr_projects(cr_code='P2')").json()["cr_name"] == "New"
    assert client.get("cr_projects(cr_code='P''1')").json()["cr_name"] == "Bulk"
    child = client.post(
        "cr_projects",
        json={"cr_name": "Child", "cr_parent@odata.bind": "/cr_projects(cr_code='P2')"},
    )
    assert child.status_code == 204
    missing = client.get("cr_projects(cr_code='nope')")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "0x80040217"
    assert client.delete("cr_projects(cr_code='P2')").status_code == 204
    not_a_key = client.get("cr_projects(cr_name='x')")
    assert not_a_key.status_code == 400


def test_schema_errors_name_table_and_column(tmp_path: Path):
    with pytest.raises(SchemaError, match=r"thing\.size has type 'Huge'"):
        load_schema({"tables": {"thing": {"columns": {"size": {"type": "Huge"}}}}})
    with pytest.raises(SchemaError, match="looks up nowhere"):
        load_schema(
            {"tables": {"a": {"columns": {"b": {"type": "Lookup", "targets": ["nowhere"]}}}}}
        )
    with pytest.raises(SchemaError, match="without options"):
        load_schema({"tables": {"a": {"columns": {"b": {"type": "Picklist"}}}}})
    path = tmp_path / "schema.json"
    path.write_text(json.dumps({"tables": {"a": {"columns": {"b": {"type": "String"}}}}}))
    assert load_schema(path).tables["a"].entity_set == "as"
    (tmp_path / "broken.toml").write_text("[tables")
    with pytest.raises(SchemaError, match="cannot read the schema file"):
        load_schema(tmp_path / "broken.toml")


def test_token_endpoint_accepts_client_secret_basic(custom: LocalDataverse):
    pair = base64.b64encode(f"{custom.client_id}:{custom.client_secret}".encode()).decode()
    with httpx.Client(verify=custom.ssl_context()) as c:
        response = c.post(
            f"{custom.authority}/oauth2/v2.0/token",
            data={"grant_type": "client_credentials", "scope": f"{custom.url}/.default"},
            headers={"Authorization": f"Basic {pair}"},
        )
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        who = c.get(f"{custom.api_url}WhoAmI", headers={"Authorization": f"Bearer {token}"})
        assert who.status_code == 200


def test_insert_rows_loads_the_demo_crm_as_generated(tmp_path: Path):
    """The demo's generated CRM rows (its SQLite column order) load as they are."""
    from accord.demo import build_demo
    from accord.demo.schema import CRM_METADATA

    build_demo(tmp_path / "demo", records=20, seed=1)
    crm = sqlite3.connect(tmp_path / "demo" / "crm.db")
    with LocalDataverse.start() as service, closing(crm):
        for name, table in CRM_METADATA.tables.items():
            columns = list(table.columns.keys())
            rows = crm.execute(f"SELECT {', '.join(columns)} FROM {name}").fetchall()
            assert service.insert_rows(name, columns, rows) == len(rows)
            assert service.count(name) == len(rows)
        with httpx.Client(verify=service.ssl_context()) as client:
            contacts = client.get(
                f"{service.api_url}contacts",
                params={
                    "$select": "_parentcustomerid_value,modifiedon",
                    "$top": "1",
                    "$filter": "_parentcustomerid_value ne null",
                },
                headers={"Authorization": f"Bearer {service.token}"},
            ).json()["value"]
        assert contacts and contacts[0]["modifiedon"].endswith("Z")
