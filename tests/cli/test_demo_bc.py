"""``accord demo --erp businesscentral --crm dataverse``: the demo's ERP in the local Business
Central (API v2.0), its CRM in the local Dataverse, one full synchronization between them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.bc_demo_support import COMPANY, ServedBcDemo, served_bc_demo
from tests.cli.conftest import RECORDS
from tests.cli.support import accord, explain


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedBcDemo]:
    with served_bc_demo(tmp_path_factory.mktemp("bc-demo") / "accord-demo", RECORDS) as served:
        yield served


def test_the_full_sync_couples_every_open_customer_on_both_sides(demo: ServedBcDemo) -> None:
    out = demo.output
    assert out["ok"] is True and out["totals"]["failed"] == 0
    assert out["totals"]["inserted"] > 0
    customers = demo.bc.rows(COMPANY, "customers")
    open_customers = [c for c in customers if c["blocked"] == " "]
    accounts = demo.dataverse_get(
        "accounts?$select=accountnumber&$filter=statecode eq 0 and customertypecode eq 3"
    )["value"]
    coupled = out["mappings"]["CUSTOMER"]["coupled"]
    assert coupled == len(open_customers) == len(accounts)
    # every open BC customer's number reached its account
    assert {a["accountnumber"] for a in accounts} == {c["number"] for c in open_customers}
    # the currencies went to the CRM, the CRM users came to BC as salespeople
    assert out["mappings"]["CURRENCY"]["coupled"] == demo.bc.count(COMPANY, "currencies")
    assert out["mappings"]["SALESPEOPLE"]["coupled"] == demo.bc.count(
        COMPANY, "salespeoplePurchasers"
    )
    assert not (demo.directory / "erp.db").exists()
    assert not (demo.directory / "crm.db").exists()


def test_the_config_takes_both_secrets_from_the_environment(demo: ServedBcDemo) -> None:
    text = demo.config.read_text(encoding="utf-8")
    assert 'client_secret = "${BC_SECRET}"' in text
    assert 'client_secret = "${DATAVERSE_SECRET}"' in text
    assert demo.bc.client_secret not in text and demo.dataverse.client_secret not in text
    assert '[tables."erp.customers"]' in text and 'key = "number"' in text


def test_a_second_sync_writes_nothing_and_verify_agrees(demo: ServedBcDemo) -> None:
    totals = demo.run_json("sync")["totals"]
    assert totals["inserted"] == totals["modified"] == totals["deleted"] == 0, totals
    assert totals["failed"] == 0
    assert "every compared pair agrees" in demo.run("verify")


def test_without_the_bc_secret_the_sync_names_the_option(demo: ServedBcDemo) -> None:
    secret = demo.dataverse.client_secret
    result = accord("sync", "-c", demo.config, env={"DATAVERSE_SECRET": secret, "BC_SECRET": ""})
    assert result.exit_code == 2
    assert "systems.erp.options.client_secret" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr and secret not in result.stderr


def test_erp_port_needs_the_bc_erp(tmp_path: Path) -> None:
    result = accord("demo", "--dir", tmp_path / "d", "--erp-port", "1234")
    assert result.exit_code == 2
    assert "--erp-port needs --erp businesscentral" in result.stderr


def test_a_bc_erp_syncs_with_the_sqlite_crm(tmp_path: Path) -> None:
    """``--erp businesscentral`` alone: the CRM stays ``crm.db``; the services are stopped."""
    directory = tmp_path / "mixed"
    result = accord(
        "demo", "--dir", directory, "--records", "20", "--erp", "businesscentral", "--json"
    )
    assert result.exit_code == 0, explain(result)
    out = json.loads(result.stdout)
    assert out["ok"] is True and out["totals"]["failed"] == 0
    assert out["mappings"]["CUSTOMER"]["coupled"] > 0
    assert (directory / "crm.db").exists() and not (directory / "erp.db").exists()
    text = (directory / "accord.toml").read_text(encoding="utf-8")
    assert 'connector = "businesscentral"' in text and 'url = "sqlite:///crm.db"' in text
