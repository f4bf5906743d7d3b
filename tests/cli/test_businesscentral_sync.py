"""``accord sync`` end to end: a CRM in SQLite, an ERP behind the local Business Central."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import pytest

from accord.connectors.businesscentral.connector import BusinessCentralConnector
from accord.model import Change, ChangeKind
from accord.services.businesscentral import LocalBusinessCentral
from tests.cli.support import accord, explain, utc_now_text

USA = "CRONUS USA, Inc."
ERP_CUSTOMERS = 40
CRM_ACCOUNTS = 15

CONFIG = """\
[state]
url = "sqlite:///state.db"

[systems.erp]
connector = "businesscentral"
url = "{url}"

[systems.erp.options]
tenant = "{tenant}"
client_id = "{client_id}"
client_secret = "${{BC_SECRET}}"
authority = "{authority}"
ca_bundle = "{ca}"
company = "{company}"

[systems.crm]
connector = "sql"
url = "sqlite:///crm.db"

[tables."erp.customers"]
new_keys = {{ series = "C", digits = 5 }}

[tables."crm.account"]
key = "id"
modified = "modifiedon"

[[mappings]]
name = "CUSTOMER"
table = "erp.customers"
integration_table = "crm.account"
direction = "bidirectional"
fields = [
  {{ field = "number", integration_field = "accountnumber", direction = "to-integration" }},
  {{ field = "displayName", integration_field = "name" }},
  {{ field = "creditLimit", integration_field = "creditlimit" }},
]
"""


@pytest.fixture
def bc(tmp_path: Path) -> Iterator[LocalBusinessCentral]:
    with LocalBusinessCentral.start(data_dir=tmp_path / "bc", companies=(USA,)) as service:
        rows = [
            {"number": f"C{i * 10:05d}", "displayName": f"ERP {i}", "creditLimit": i * 100}
            for i in range(1, ERP_CUSTOMERS + 1)
        ]
        service.insert_rows(USA, "customers", rows)
        yield service


@pytest.fixture
def project(tmp_path: Path, bc: LocalBusinessCentral) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    with closing(sqlite3.connect(folder / "crm.db")) as conn, conn:
        conn.execute(
            "CREATE TABLE account (id TEXT PRIMARY KEY, accountnumber TEXT, name TEXT, "
            "creditlimit NUMERIC, modifiedon DATETIME)"
        )
        conn.executemany(
            "INSERT INTO account VALUES (?, NULL, ?, ?, ?)",
            [
                (str(uuid.uuid4()), f"CRM {i}", f"{i}.5", utc_now_text())
                for i in range(CRM_ACCOUNTS)
            ],
        )
    config = folder / "accord.toml"
    config.write_text(
        CONFIG.format(
            url=bc.url,
            tenant=bc.tenant,
            client_id=bc.client_id,
            authority=bc.authority,
            ca=bc.ca_file,
            company=USA,
        ),
        encoding="utf-8",
    )
    return config


def customers(bc: LocalBusinessCentral) -> dict[str, tuple[str, Decimal]]:
    connector = BusinessCentralConnector(
        "check",
        url=bc.url,
        tables={},
        options={"token": bc.token, "ca_bundle": str(bc.ca_file), "company": USA},
    )
    found = {
        r.key: (r.values["displayName"], r.values["creditLimit"])
        for batch in connector.read("customers", fields=["displayName", "creditLimit"])
        for r in batch
    }
    connector.close()
    return found


def accounts(project: Path) -> dict[str, tuple[str | None, str]]:
    with closing(sqlite3.connect(project.parent / "crm.db")) as conn:
        return {
            name: (number, str(limit))
            for number, name, limit in conn.execute(
                "SELECT accountnumber, name, creditlimit FROM account"
            )
        }


def test_full_sync_couples_both_ways_numbering_new_customers(
    bc: LocalBusinessCentral, project: Path
) -> None:
    env = {"BC_SECRET": bc.client_secret}
    result = accord("sync", "--full", "-c", project, "--json", env=env)
    assert result.exit_code == 0, explain(result)
    assert bc.client_secret not in result.stdout + result.stderr
    out = json.loads(result.stdout)
    assert out["ok"] is True and out["totals"]["failed"] == 0, out

    erp = customers(bc)
    assert len(erp) == ERP_CUSTOMERS + CRM_ACCOUNTS
    # the CRM's accounts became customers numbered on from the greatest number there
    created = sorted(n for n, (name, _) in erp.items() if name.startswith("CRM "))
    last = ERP_CUSTOMERS * 10
    assert created == [f"C{n:05d}" for n in range(last + 1, last + 1 + CRM_ACCOUNTS)]
    crm = accounts(project)
    assert len(crm) == ERP_CUSTOMERS + CRM_ACCOUNTS
    assert crm["ERP 7"] == ("C00070", "700")
    assert all(crm[name][0] == number for number, (name, _) in erp.items())

    # a Business Central change reaches the CRM; the next run creates nothing more
    connector = BusinessCentralConnector(
        "edit",
        url=bc.url,
        tables={},
        options={"token": bc.token, "ca_bundle": str(bc.ca_file), "company": USA},
    )
    [edit] = connector.write(
        "customers", [Change(ChangeKind.UPDATE, "C00070", {"displayName": "Renamed"})]
    )
    assert edit.ok, edit.error
    connector.close()
    again = accord("sync", "-c", project, "--json", env=env)
    assert again.exit_code == 0, explain(again)
    assert accounts(project)["Renamed"][0] == "C00070"
    assert len(customers(bc)) == ERP_CUSTOMERS + CRM_ACCOUNTS


def test_a_wrong_secret_stops_the_run_with_one_sentence(
    bc: LocalBusinessCentral, project: Path
) -> None:
    secret = "not-the-secret-Qw73"
    result = accord("sync", "--full", "-c", project, env={"BC_SECRET": secret})
    output = result.stdout + result.stderr
    assert result.exit_code == 2, explain(result)
    assert "were refused" in output
    assert secret not in output
    assert len(customers(bc)) == ERP_CUSTOMERS


def test_an_unknown_company_stops_the_run_with_one_sentence(
    bc: LocalBusinessCentral, project: Path
) -> None:
    project.write_text(project.read_text().replace(USA, "CRONUS Atlantis"), encoding="utf-8")
    result = accord("sync", "--full", "-c", project, env={"BC_SECRET": bc.client_secret})
    output = result.stdout + result.stderr
    assert result.exit_code == 2, explain(result)
    assert "has no company 'CRONUS Atlantis'" in output and "Traceback" not in output


def test_customers_created_in_bc_are_not_read_back(bc: LocalBusinessCentral, project: Path) -> None:
    """The number BC's new customers got goes back to the CRM from the answers to their
    creation (the 201 bodies): no request reads them again."""
    bc.stats.reset()
    result = accord("sync", "--full", "-c", project, "--json", env={"BC_SECRET": bc.client_secret})
    assert result.exit_code == 0, explain(result)
    assert bc.stats.batch_parts == {"POST customers": CRM_ACCOUNTS}, bc.stats.batch_parts
    assert bc.stats.batch_sizes == {CRM_ACCOUNTS: 1}
    numbers = sorted(n for n, _ in accounts(project).values() if n)
    assert len(numbers) == ERP_CUSTOMERS + CRM_ACCOUNTS  # every account got its number
    # the customers are read in pages, by number; the only filtered read is the one that
    # finds the greatest number of the series (max_key): none looks created numbers up
    filtered = {r: n for r, n in bc.stats.by_route.items() if r.endswith("$filter")}
    assert filtered == {"GET customers $filter": 1}, bc.stats.by_route
