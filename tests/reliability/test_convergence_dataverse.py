"""Convergence over HTTP: the SQL convergence machine with the CRM behind the local Dataverse.

:class:`~tests.reliability.test_convergence_sql.ConvergenceMachine` as it is (users, syncs,
matches, uncouplings, crashes at a connector call, the same checks at teardown), except that
the CRM's ``account`` table is the local Dataverse service's, reached by the Dataverse
connector over HTTPS. Users edit accounts through the Web API with a client of their own
(the service stamps ``modifiedon`` in whole seconds, so edits and syncs share seconds); the
engine's accounts get uuid keys. A rule turns the service's faults on for one sync: a 429
storm, 5xx answers, dropped connections and answers lost after a commit.

One service for the module; each example empties its ``account`` table. Few examples and
short runs: every step is a handful of HTTPS requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
from hypothesis import HealthCheck, settings

from accord.services.dataverse import LocalDataverse
from tests.property.world import as_test
from tests.reliability.convergence_http import QUICK_ENGINE, ServiceConvergence
from tests.reliability.test_convergence_sql import CONFIG, Row

SQL_CRM = """[systems.crm]
connector = "sql"
url = "sqlite:///crm.db"
"""
SQL_ACCOUNT = """[tables."crm.account"]
key = "accountid"
modified = "modifiedon"
new_keys = { series = "A", digits = 5 }
"""
assert SQL_CRM in CONFIG.format(policy="send") and SQL_ACCOUNT in CONFIG.format(policy="send")
COLUMNS = ("accountid", "name", "address1_city", "accountnumber", "statecode", "modifiedon")
USER_KEY = "{serial:08x}-acc0-4acc-8acc-acc0acc0acc0"
"""A user's account id: no uuid4 the engine draws ends like this."""


@pytest.fixture(scope="module", autouse=True)
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDataverse]:
    """The service, and the users' Web API client, for every machine of the module."""
    dv = LocalDataverse.start(data_dir=tmp_path_factory.mktemp("dataverse"))
    client = httpx.Client(
        base_url=dv.api_url,
        verify=dv.ssl_context(),
        headers={"Authorization": f"Bearer {dv.token}", "OData-Version": "4.0"},
        timeout=30,
    )
    with dv, client:
        DataverseConvergence.dv = dv
        DataverseConvergence.service = dv
        DataverseConvergence.client = client
        yield dv


class DataverseConvergence(ServiceConvergence):
    SERVED = "crm"
    dv: ClassVar[LocalDataverse]
    client: ClassVar[httpx.Client]

    def __init__(self) -> None:
        self.empty_accounts()
        super().__init__()

    def config_text(self) -> str:
        crm = (
            '[systems.crm]\nconnector = "dataverse"\n'
            f'url = "{self.dv.url}"\n'
            f'options = {{ token = "{self.dv.token}", ca_bundle = "{self.dv.ca_file}" }}\n'
            + QUICK_ENGINE
        )
        text = CONFIG.format(policy=self.POLICY)
        return text.replace(SQL_CRM, crm).replace(SQL_ACCOUNT, "")

    def empty_accounts(self) -> None:
        store, table = self.dv.store, self.dv.schema.tables["account"]
        with store.transaction():
            ids = store.select('SELECT "accountid" AS id FROM "account"', ())
            for version, row in zip(store.next_versions(len(ids)), ids, strict=True):
                store.delete(table, row["id"], version)

    # -- the CRM, through the Web API -----------------------------------------------------
    def rows(self, side: str) -> dict[str, Row]:
        if side == "erp":
            return super().rows(side)
        found: dict[str, Row] = {}
        url: str | None = f"accounts?$select={','.join(COLUMNS[1:])}&$orderby=accountid"
        while url:
            response = self.client.get(url)
            assert response.status_code == 200, response.text
            document = response.json()
            for row in document["value"]:
                found[row["accountid"]] = {c: row.get(c) for c in COLUMNS}
            url = document.get("@odata.nextLink")
        return found

    def new_key(self, side: str) -> str:
        if side == "erp":
            return super().new_key(side)
        self.serial += 1
        return USER_KEY.format(serial=self.serial)

    def user_made(self, side: str, key: str) -> bool:
        if side == "erp":
            return super().user_made(side, key)
        return key.endswith(USER_KEY.format(serial=0)[8:])

    def insert_row(self, side: str, key: str, name: Any, city: Any, active: bool) -> None:
        if side == "erp":
            super().insert_row(side, key, name, city, active)
            return
        body = {"accountid": key, "name": name, "address1_city": city}
        body["statecode"] = 0 if active else 1
        response = self.client.post("accounts", json=body)
        assert response.status_code == 204, response.text

    def update_row(self, side: str, key: str, values: Row) -> None:
        if side == "erp":
            super().update_row(side, key, values)
            return
        response = self.client.patch(f"accounts({key})", json=values, headers={"If-Match": "*"})
        assert response.status_code == 204, response.text

    def delete_row(self, side: str, key: str) -> None:
        if side == "erp":
            super().delete_row(side, key)
            return
        response = self.client.delete(f"accounts({key})")
        assert response.status_code in (204, 404), response.text


SETTINGS = settings(
    max_examples=4,
    stateful_step_count=10,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class LocalWinsOverHttp(DataverseConvergence):
    POLICY = "send"


class FieldsMergeOverHttp(DataverseConvergence):
    POLICY = "merge"


TestConvergenceOverHttpLocalWins = as_test(LocalWinsOverHttp, SETTINGS)
TestConvergenceOverHttpFieldsMerge = as_test(FieldsMergeOverHttp, SETTINGS)
