"""End to end through both local services and the command line: couple one BC customer to
its Dataverse account, synchronize that one record now, match the rest back after an
uncouple of all, run a full sync, and uncouple one record again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.cli.bc_demo_support import COMPANY, ServedBcDemo, served_bc_demo

RECORDS = 40


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedBcDemo]:
    with served_bc_demo(tmp_path_factory.mktemp("bc-e2e") / "accord-demo", RECORDS) as served:
        yield served


def account_of(demo: ServedBcDemo, number: str) -> dict[str, Any]:
    found = demo.dataverse_get(
        f"accounts?$select=accountid,name,telephone1&$filter=accountnumber eq '{number}'"
    )["value"]
    assert len(found) == 1, found
    account: dict[str, Any] = found[0]
    return account


def dataverse_patch(demo: ServedBcDemo, path: str, values: dict[str, Any]) -> None:
    response = httpx.patch(
        f"{demo.dataverse.api_url}{path}",
        json=values,
        headers={"Authorization": f"Bearer {demo.dataverse.token}"},
        verify=demo.dataverse.ssl_context(),
    )
    response.raise_for_status()


def customer(demo: ServedBcDemo, number: str) -> dict[str, Any]:
    (found,) = [c for c in demo.bc.rows(COMPANY, "customers") if c["number"] == number]
    return found


def coupled_count(demo: ServedBcDemo) -> int:
    (row,) = demo.run_json("verify", "CUSTOMER")["mappings"]
    compared: int = row["compared"]
    return compared


def test_couple_sync_match_full_sync_uncouple(demo: ServedBcDemo) -> None:
    open_customers = [c for c in demo.bc.rows(COMPANY, "customers") if c["blocked"] == " "]
    first = open_customers[0]
    number = first["number"]
    account = account_of(demo, number)

    # couple: after an uncouple, the pair is coupled again by hand
    out = demo.run("uncouple", "CUSTOMER", number)
    assert "uncoupled 1 coupling(s) of CUSTOMER; the records stay" in out
    out = demo.run("couple", "CUSTOMER", number, "--to", account["accountid"])
    assert f"coupled {number} ↔ {account['accountid']} (CUSTOMER)" in out

    # sync now, one record: a BC rename reaches the account, nothing else is written
    demo.bc_patch("customers", first["id"], {"displayName": "Renamed Bakery Ltd"})
    run = demo.run_json("sync", "CUSTOMER", "--records", number, "--direction", "to-integration")
    assert run["mappings"]["CUSTOMER"]["modified"] == 1
    assert run["totals"]["inserted"] == 0 and run["totals"]["failed"] == 0
    assert account_of(demo, number)["name"] == "Renamed Bakery Ltd"

    # match: every coupling removed, then found again by name
    out = demo.run("uncouple", "CUSTOMER", "--all")
    assert f"uncoupled {len(open_customers)} coupling(s) of CUSTOMER" in out
    matched = demo.run_json("match", "CUSTOMER")
    assert matched["counts"]["coupled"] == len(open_customers), matched["counts"]
    assert matched["counts"]["created"] == 0 and matched["counts"]["ambiguous"] == 0
    assert {"local_key": number, "integration_key": account["accountid"]} in matched["coupled"]

    # full sync: a Dataverse change comes to BC; nothing is created on either side
    customers_before = demo.bc.count(COMPANY, "customers")
    dataverse_patch(demo, f"accounts({account['accountid']})", {"telephone1": "+1 555 0100"})
    full = demo.run_json("sync", "--full")
    assert full["totals"]["inserted"] == 0 and full["totals"]["failed"] == 0
    assert full["mappings"]["CUSTOMER"]["modified"] == 1
    assert customer(demo, number)["phoneNumber"] == "+1 555 0100"
    assert demo.bc.count(COMPANY, "customers") == customers_before
    assert "every compared pair agrees" in demo.run("verify")

    # uncouple one: the link goes, both records stay
    out = demo.run("uncouple", "CUSTOMER", number)
    assert "uncoupled 1 coupling(s) of CUSTOMER; the records stay" in out
    assert coupled_count(demo) == len(open_customers) - 1
    assert customer(demo, number)["displayName"] == "Renamed Bakery Ltd"
    assert account_of(demo, number)["telephone1"] == "+1 555 0100"
