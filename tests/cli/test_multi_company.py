"""Multi-company end to end: two companies of one local Business Central, one local Dataverse.

Each company is a system; ``crm.account`` keeps its rows per company in ``bcbi_companyid``
(a lookup to ``bcbi_company``, as the integration solution's). Both companies hold customers
with the same numbers and one name in common, so any leak from one company to the other
shows: a wrong match, a wrong stamp, an account read or written by the other company.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accord import Project
from accord.connectors.businesscentral.connector import BusinessCentralConnector
from accord.errors import AccordError, ConfigError
from accord.model import Change, ChangeKind, Side
from accord.model.keys import new_uuids
from accord.services.businesscentral import LocalBusinessCentral
from accord.services.dataverse import LocalDataverse
from tests.connectors.dataverse_support import connect, read_all

USA = "CRONUS USA, Inc."
CANADA = "CRONUS Canada, Inc."
SHARED = "Shared Name Ltd"

CONFIG = """\
[state]
url = "sqlite:///state.db"

[systems.usa]
connector = "businesscentral"
url = "{bc_url}"
options = {{ token = "{bc_token}", ca_bundle = "{bc_ca}", company = "{usa}" }}

[systems.canada]
connector = "businesscentral"
url = "{bc_url}"
options = {{ token = "{bc_token}", ca_bundle = "{bc_ca}", company = "{canada}" }}

[systems.crm]
connector = "dataverse"
url = "{dv_url}"
options = {{ token = "{dv_token}", ca_bundle = "{dv_ca}" }}

[tables."usa.customers"]
new_keys = {{ series = "C", digits = 5 }}

[tables."canada.customers"]
new_keys = {{ series = "C", digits = 5 }}

[tables."crm.account"]
company_field = "bcbi_companyid"
{mappings}"""

MAPPING = """
[[mappings]]
name = "CUSTOMER_{name}"
table = "{system}.customers"
integration_table = "crm.account"
direction = "bidirectional"
sync_only_coupled = false
fields = [
  {{ field = "number", integration_field = "accountnumber", direction = "to-integration" }},
  {{ field = "displayName", integration_field = "name", match = {{ priority = 0 }} }},
  {{ field = "city", integration_field = "address1_city" }},
]
"""


@pytest.fixture
def bc(tmp_path: Path) -> Iterator[LocalBusinessCentral]:
    with LocalBusinessCentral.start(data_dir=tmp_path / "bc", companies=(USA, CANADA)) as bc:
        bc.insert_rows(
            USA,
            "customers",
            [{"number": f"C{i:05d}", "displayName": f"USA {i}"} for i in range(10, 60, 10)]
            + [{"number": "C00060", "displayName": SHARED, "city": "Atlanta"}],
        )
        bc.insert_rows(
            CANADA,
            "customers",
            [{"number": f"C{i:05d}", "displayName": f"Canada {i}"} for i in range(10, 40, 10)]
            + [{"number": "C00040", "displayName": SHARED, "city": "Toronto"}],
        )
        yield bc


@pytest.fixture
def dv(tmp_path: Path, bc: LocalBusinessCentral) -> Iterator[LocalDataverse]:
    with LocalDataverse.start(data_dir=tmp_path / "dv") as dv:
        # The integration solution keeps one bcbi_company row per BC company, by its id.
        dv.load(
            "bcbi_company",
            [{"bcbi_companyid": cid, "bcbi_name": name} for name, cid in bc.company_ids.items()],
        )
        yield dv


def write_config(tmp_path: Path, bc: LocalBusinessCentral, dv: LocalDataverse) -> Path:
    folder = tmp_path / "project"
    folder.mkdir(exist_ok=True)
    mappings = MAPPING.format(name="USA", system="usa") + MAPPING.format(
        name="CANADA", system="canada"
    )
    path = folder / "accord.toml"
    path.write_text(
        CONFIG.format(
            bc_url=bc.url,
            bc_token=bc.token,
            bc_ca=bc.ca_file,
            usa=USA,
            canada=CANADA,
            dv_url=dv.url,
            dv_token=dv.token,
            dv_ca=dv.ca_file,
            mappings=mappings,
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def config(tmp_path: Path, bc: LocalBusinessCentral, dv: LocalDataverse) -> Path:
    return write_config(tmp_path, bc, dv)


def accounts(dv: LocalDataverse) -> list[dict[str, Any]]:
    """Every account: name, number, city, company id."""
    connector = connect(dv)
    try:
        fields = ["name", "accountnumber", "address1_city", "bcbi_companyid"]
        return [{"key": r.key, **r.values} for r in read_all(connector, "account", fields=fields)]
    finally:
        connector.close()


def customers(bc: LocalBusinessCentral, company: str) -> dict[str, tuple[str, str]]:
    """Customer number → (name, city) of one company."""
    connector = BusinessCentralConnector(
        "check",
        url=bc.url,
        tables={},
        options={"token": bc.token, "ca_bundle": str(bc.ca_file), "company": company},
    )
    try:
        return {
            r.key: (r.values["displayName"], r.values["city"])
            for batch in connector.read("customers", fields=["displayName", "city"])
            for r in batch
        }
    finally:
        connector.close()


def create_account(dv: LocalDataverse, values: dict[str, Any]) -> str:
    connector = connect(dv)
    try:
        [key] = new_uuids(1)
        [result] = connector.write("account", [Change(ChangeKind.INSERT, key, values)])
        assert result.ok, result.error
        return key
    finally:
        connector.close()


def update_account(dv: LocalDataverse, key: str, values: dict[str, Any]) -> None:
    connector = connect(dv)
    try:
        [result] = connector.write("account", [Change(ChangeKind.UPDATE, key, values)])
        assert result.ok, result.error
    finally:
        connector.close()


def by_name(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["name"], []).append(row)
    return out


def test_each_company_syncs_only_its_own_accounts(
    bc: LocalBusinessCentral, dv: LocalDataverse, config: Path
) -> None:
    usa_id, canada_id = bc.company_ids[USA], bc.company_ids[CANADA]
    # Canada already has an account for its SHARED customer, and one only Dataverse holds.
    canada_shared = create_account(
        dv, {"name": SHARED, "address1_city": "Toronto", "bcbi_companyid": canada_id}
    )
    canada_only = create_account(
        dv, {"name": "Canada CRM only", "address1_city": "Ottawa", "bcbi_companyid": canada_id}
    )
    unstamped = create_account(dv, {"name": "Nobody's", "address1_city": "Nowhere"})

    # 1. A full sync of USA: USA's customers reach Dataverse stamped with USA. Its SHARED
    # customer does not match (or overwrite) Canada's SHARED account; Canada's accounts do
    # not become USA customers.
    with Project.load(config) as project:
        run = project.sync(["CUSTOMER_USA"], full=True)
    assert run.totals().failed == 0, run
    rows = accounts(dv)
    names = by_name(rows)
    usa_rows = [r for r in rows if r["bcbi_companyid"] == usa_id]
    assert sorted(r["name"] for r in usa_rows) == sorted(
        [f"USA {i}" for i in range(10, 60, 10)] + [SHARED]
    )
    assert {r["accountnumber"] for r in usa_rows} == {f"C{i:05d}" for i in range(10, 70, 10)}
    assert len(names[SHARED]) == 2
    [theirs] = [r for r in names[SHARED] if r["key"] == canada_shared]
    assert theirs["bcbi_companyid"] == canada_id and theirs["address1_city"] == "Toronto"
    assert theirs["accountnumber"] is None  # never written by USA
    usa_customers = customers(bc, USA)
    assert len(usa_customers) == 6  # nothing came from Canada's accounts or the unstamped one
    assert "Canada CRM only" not in {name for name, _ in usa_customers.values()}

    # 2. A full sync of Canada: its SHARED customer matches its own SHARED account (exactly
    # one candidate: USA's is not one), its Dataverse-only account becomes a customer, and
    # USA's accounts stay as they are.
    with Project.load(config) as project:
        run = project.sync(["CUSTOMER_CANADA"], full=True)
    assert run.totals().failed == 0, run
    after = accounts(dv)
    canada_rows = [r for r in after if r["bcbi_companyid"] == canada_id]
    assert sorted(r["name"] for r in canada_rows) == sorted(
        [f"Canada {i}" for i in range(10, 40, 10)] + [SHARED, "Canada CRM only"]
    )
    [matched] = [r for r in canada_rows if r["name"] == SHARED]
    assert matched["key"] == canada_shared and matched["accountnumber"] == "C00040"
    assert [r for r in after if r["bcbi_companyid"] == usa_id] == usa_rows
    canada_customers = customers(bc, CANADA)
    assert ("Canada CRM only", "Ottawa") in canada_customers.values()
    assert len(canada_customers) == 5
    assert len(customers(bc, USA)) == 6
    # the unstamped account belongs to no company: neither read it
    [nobody] = [r for r in after if r["key"] == unstamped]
    assert nobody["bcbi_companyid"] is None and nobody["accountnumber"] is None
    assert canada_only in {r["key"] for r in canada_rows}


def test_changes_reach_only_the_company_of_the_account(
    bc: LocalBusinessCentral, dv: LocalDataverse, config: Path
) -> None:
    canada_id = bc.company_ids[CANADA]
    with Project.load(config) as project:
        project.sync(full=True)
        # Change-tracking reads from here on (each mapping took its delta token).
        new = create_account(
            dv, {"name": "New in Canada", "address1_city": "Halifax", "bcbi_companyid": canada_id}
        )
        [canada_shared] = [
            r for r in accounts(dv) if r["name"] == SHARED and r["bcbi_companyid"] == canada_id
        ]
        update_account(dv, canada_shared["key"], {"address1_city": "Montreal"})
        run = project.sync()
    assert run.totals().failed == 0, run
    jobs = {(j.mapping, j.direction.value): j for j in run.jobs}
    assert jobs[("CUSTOMER_CANADA", "from-integration")].message == (
        "changes read with change tracking"
    )
    canada_customers = customers(bc, CANADA)
    usa_customers = customers(bc, USA)
    assert ("New in Canada", "Halifax") in canada_customers.values()
    assert ("New in Canada", "Halifax") not in usa_customers.values()
    assert canada_customers["C00040"] == (SHARED, "Montreal")
    assert usa_customers["C00060"] == (SHARED, "Atlanta")
    [created] = [r for r in accounts(dv) if r["key"] == new]
    assert created["bcbi_companyid"] == canada_id and created["accountnumber"] == "C00041"


def test_an_unknown_company_field_is_named_at_its_line(
    tmp_path: Path, bc: LocalBusinessCentral, dv: LocalDataverse
) -> None:
    path = write_config(tmp_path, bc, dv)
    text = path.read_text(encoding="utf-8").replace('"bcbi_companyid"', '"bcbi_company"')
    path.write_text(text, encoding="utf-8")
    with Project.load(path) as project, pytest.raises(ConfigError) as caught:
        project.check()
    assert "company_field 'bcbi_company' is not a field of it" in str(caught.value)
    assert caught.value.line == text.split("\n").index('company_field = "bcbi_company"') + 1


def test_match_and_couple_keep_to_the_company(
    bc: LocalBusinessCentral, dv: LocalDataverse, config: Path
) -> None:
    canada_id = bc.company_ids[CANADA]
    canada_shared = create_account(
        dv, {"name": SHARED, "address1_city": "Toronto", "bcbi_companyid": canada_id}
    )
    with Project.load(config) as project:
        # USA's SHARED customer has no candidate: the only account of that name is Canada's
        matched = project.match("CUSTOMER_USA", create_new=False, sync=False)
        assert matched.coupled == [], matched
        assert project.store.couplings_by("CUSTOMER_USA", Side.INTEGRATION, [canada_shared]) == {}
        # Canada's does
        matched = project.match("CUSTOMER_CANADA", create_new=False, sync=False)
        assert len(matched.coupled) == 1, matched
        # coupling USA's customer to Canada's account by hand is refused
        with pytest.raises(AccordError) as caught:
            project.couple("CUSTOMER_USA", "C00060", canada_shared)
    assert "belongs to another company than mapping CUSTOMER_USA" in str(caught.value)
    [theirs] = [r for r in accounts(dv) if r["key"] == canada_shared]
    assert theirs["bcbi_companyid"] == canada_id and theirs["address1_city"] == "Toronto"
