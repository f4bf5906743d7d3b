"""``accord sync`` end to end: an ERP in SQLite, a CRM behind the local Dataverse over HTTPS."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import pytest

from accord.connectors.dataverse.connector import DataverseConnector
from accord.filters import parse_filter
from accord.services.common.faults import FaultConfig
from accord.services.dataverse import LocalDataverse
from tests.cli.support import Demo, accord, explain, utc_now_text

CUSTOMERS = 120

CONFIG = """\
[state]
url = "sqlite:///state.db"

[systems.erp]
connector = "sql"
url = "sqlite:///erp.db"

[systems.crm]
connector = "dataverse"
url = "{url}"

[systems.crm.options]
tenant = "{tenant}"
client_id = "{client_id}"
client_secret = "${{DATAVERSE_SECRET}}"
authority = "{authority}"
ca_bundle = "{ca}"

[tables."erp.customer"]
key = "no"
modified = "last_modified"

[[mappings]]
name = "CUSTOMER"
table = "erp.customer"
integration_table = "crm.account"
direction = "to-integration"
fields = [
  {{ field = "no", integration_field = "accountnumber" }},
  {{ field = "name", integration_field = "name" }},
  {{ field = "credit_limit", integration_field = "creditlimit" }},
]
"""


@pytest.fixture
def dv(tmp_path: Path) -> Iterator[LocalDataverse]:
    with LocalDataverse.start(data_dir=tmp_path / "dataverse") as service:
        yield service


@pytest.fixture
def project(tmp_path: Path, dv: LocalDataverse) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    with closing(sqlite3.connect(folder / "erp.db")) as conn, conn:
        conn.execute(
            "CREATE TABLE customer (no TEXT PRIMARY KEY, name TEXT, credit_limit NUMERIC, "
            "last_modified DATETIME)"
        )
        conn.executemany(
            "INSERT INTO customer VALUES (?, ?, ?, ?)",
            [(f"C{i:05d}", f"Customer {i}", f"{i}.50", utc_now_text()) for i in range(CUSTOMERS)],
        )
    config = folder / "accord.toml"
    config.write_text(
        CONFIG.format(
            url=dv.url,
            tenant=dv.tenant,
            client_id=dv.client_id,
            authority=dv.authority,
            ca=dv.ca_file,
        ),
        encoding="utf-8",
    )
    return config


def accounts(dv: LocalDataverse) -> dict[str, tuple[str, Decimal]]:
    connector = DataverseConnector(
        "check", url=dv.url, tables={}, options={"token": dv.token, "ca_bundle": str(dv.ca_file)}
    )
    found = {
        r.values["accountnumber"]: (r.values["name"], r.values["creditlimit"])
        for batch in connector.read(
            "account",
            filter=parse_filter("startswith(accountnumber, 'C')"),
            fields=["accountnumber", "name", "creditlimit"],
        )
        for r in batch
    }
    connector.close()
    return found


def test_full_sync_creates_the_erp_customers_in_dataverse(
    dv: LocalDataverse, project: Path
) -> None:
    env = {"DATAVERSE_SECRET": dv.client_secret}
    result = accord("sync", "--full", "-c", project, "--json", env=env)
    assert result.exit_code == 0, explain(result)
    assert dv.client_secret not in result.stdout + result.stderr
    out = json.loads(result.stdout)
    assert out["ok"] is True and out["totals"]["failed"] == 0
    assert dv.count("account") == CUSTOMERS
    assert accounts(dv) == {
        f"C{i:05d}": (f"Customer {i}", Decimal(f"{i}.50")) for i in range(CUSTOMERS)
    }

    # an ERP change reaches Dataverse; the next run writes nothing
    with closing(sqlite3.connect(project.parent / "erp.db")) as conn, conn:
        conn.execute(
            "UPDATE customer SET name = 'Renamed', last_modified = ? WHERE no = 'C00007'",
            (utc_now_text(),),
        )
    again = accord("sync", "-c", project, "--json", env=env)
    assert again.exit_code == 0, explain(again)
    assert accounts(dv)["C00007"][0] == "Renamed"
    assert dv.count("account") == CUSTOMERS


def test_a_wrong_secret_stops_the_run_with_one_sentence(dv: LocalDataverse, project: Path) -> None:
    secret = "not-the-secret-Xr42"
    result = accord("sync", "--full", "-c", project, env={"DATAVERSE_SECRET": secret})
    output = result.stdout + result.stderr
    assert result.exit_code == 2, explain(result)
    assert "were refused" in output
    assert secret not in output
    assert dv.count("account") == 0


def test_the_demo_mappings_synchronize_into_dataverse(demo: Demo, tmp_path: Path) -> None:
    """Every standard mapping (lookups, a customer lookup and its type, option sets, filters)
    runs against the local Dataverse, and ``verify`` finds both sides agreeing."""
    shutil.rmtree(demo.directory / ".accord")  # a new state store for a new, empty CRM
    with LocalDataverse.start(data_dir=tmp_path / "dataverse") as dv:
        demo.replace_in_config(
            'connector = "sql"\nurl = "sqlite:///crm.db"',
            f'connector = "dataverse"\nurl = "{dv.url}"\n'
            f'options = {{ token = "{dv.token}", ca_bundle = "{dv.ca_file}" }}',
        )
        result = accord("sync", "--full", "-c", demo.config, "--json")
        assert result.exit_code == 0, explain(result)
        out = json.loads(result.stdout)
        assert out["totals"]["failed"] == 0
        erp_customers = demo.scalar("erp", "SELECT COUNT(*) FROM customer WHERE blocked = ''")
        assert dv.count("account") == out["mappings"]["CUSTOMER"]["coupled"] > 0
        assert dv.count("account") <= erp_customers
        assert dv.count("contact") > 0 and dv.count("transactioncurrency") > 0
        again = accord("sync", "-c", demo.config, "--json")
        assert again.exit_code == 0, explain(again)
        totals = json.loads(again.stdout)["totals"]
        assert totals["inserted"] == totals["modified"] == totals["failed"] == 0
        checked = accord("verify", "-c", demo.config, "--json")
        assert checked.exit_code == 0, explain(checked)
        assert json.loads(checked.stdout)["disagreeing"] == 0


def test_a_throttled_pass_says_how_long_it_waited(dv: LocalDataverse, project: Path) -> None:
    """Service protection: the run waits as Dataverse asks, goes on, and its job log says how
    long each throttled pass waited."""
    dv.faults = FaultConfig(throttle_rate=0.2, retry_after=1, seed=7)
    env = {"DATAVERSE_SECRET": dv.client_secret}
    result = accord("sync", "--full", "-c", project, "--json", env=env)
    assert result.exit_code == 0, explain(result)
    assert json.loads(result.stdout)["totals"]["failed"] == 0
    assert dv.count("account") == CUSTOMERS
    assert dv.stats.by_status.get(429, 0) > 0  # the service did refuse requests
    jobs = accord("jobs", "-c", project, "--json", env=env)
    assert jobs.exit_code == 0, explain(jobs)
    messages = [j["message"] for j in json.loads(jobs.stdout)]
    waited = [m for m in messages if "because the service asked to" in m]
    assert waited, messages
    assert re.search(r"waited \d+\.\d s", waited[0]), waited
