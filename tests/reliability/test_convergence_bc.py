"""Convergence over HTTP: the SQL convergence machine with the ERP behind the local Business
Central service.

:class:`~tests.reliability.test_convergence_sql.ConvergenceMachine` as it is (users, syncs,
matches, uncouplings, crashes at a connector call, the same checks at teardown), except that
the ERP's customers are one BC company's ``customers`` (key ``number``; ``displayName`` for
the name), reached by the Business Central connector over HTTPS: Accord reads them and
creates (numbers from the ``C`` series, in ``$batch``), updates (``If-Match``) and deletes
them. Users edit customers through the API with a client of their own. The service's clock
never repeats a millisecond, so a user's edit is never stamped with the instant of a read
that missed it. A rule turns the service's faults on for one sync.

One service for the module; each example gets a company of its own (an empty table).
Business Central holds no nulls: a user's null name or city is held as ``''``, which the
machine's checks treat as the same blank.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
from hypothesis import HealthCheck, settings

from accord.services.businesscentral import LocalBusinessCentral
from tests.property.world import as_test
from tests.reliability.convergence_http import QUICK_ENGINE, ServiceConvergence
from tests.reliability.test_convergence_sql import CONFIG, MODIFIED, Row

SQL_ERP = """[systems.erp]
connector = "sql"
url = "sqlite:///erp.db"
"""
SQL_CUSTOMER = """[tables."erp.customer"]
key = "no"
modified = "last_modified"
"""
FIELDS = {"no": "number", "name": "displayName", "city": "city"}
"""The machine's ERP columns -> the customer's fields."""
assert SQL_ERP in CONFIG and SQL_CUSTOMER in CONFIG


class UniqueMillis:
    """The service's clock: now, but never the same millisecond twice."""

    def __init__(self) -> None:
        self.last = 0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.last = max(int(time.time() * 1000), self.last + 1)
            return (self.last + 0.5) / 1000


@pytest.fixture(scope="module", autouse=True)
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBusinessCentral]:
    """The service, and the users' API client, for every machine of the module."""
    bc = LocalBusinessCentral.start(data_dir=tmp_path_factory.mktemp("bc"), clock=UniqueMillis())
    client = httpx.Client(
        base_url=bc.url + "/",
        verify=bc.ssl_context(),
        headers={"Authorization": f"Bearer {bc.token}"},
        timeout=30,
    )
    with bc, client:
        BusinessCentralConvergence.bc = bc
        BusinessCentralConvergence.service = bc
        BusinessCentralConvergence.client = client
        yield bc


class BusinessCentralConvergence(ServiceConvergence):
    SERVED = "erp"
    bc: ClassVar[LocalBusinessCentral]
    client: ClassVar[httpx.Client]

    def __init__(self) -> None:
        self.company = f"Convergence {uuid.uuid4().hex[:8]}"
        self.company_id = self.bc.add_company(self.company)
        super().__init__()

    def config_text(self) -> str:
        erp = (
            '[systems.erp]\nconnector = "businesscentral"\n'
            f'url = "{self.bc.url}"\n'
            f'options = {{ token = "{self.bc.token}", ca_bundle = "{self.bc.ca_file}", '
            f'company = "{self.company}" }}\n' + QUICK_ENGINE
        )
        text = CONFIG.format(policy=self.POLICY).replace(SQL_ERP, erp)
        text = text.replace(SQL_CUSTOMER, '[tables."erp.customers"]\n')
        text = text.replace('table = "erp.customer"\n', 'table = "erp.customers"\n')
        for column, field in FIELDS.items():
            text = text.replace(f'{{ field = "{column}",', f'{{ field = "{field}",')
        return text

    @property
    def customers(self) -> str:
        return f"companies({self.company_id})/customers"

    def customer_id(self, number: str) -> str | None:
        found = self.client.get(self.customers, params={"$filter": f"number eq '{number}'"})
        assert found.status_code == 200, found.text
        rows = found.json()["value"]
        return str(rows[0]["id"]) if rows else None

    # -- the ERP, through the API ---------------------------------------------------------
    def rows(self, side: str) -> dict[str, Row]:
        if side == "crm":
            return super().rows(side)
        found: dict[str, Row] = {}
        select = ",".join([*FIELDS.values(), "lastModifiedDateTime"])
        url: str | None = f"{self.customers}?$select={select}&$orderby=number"
        while url:
            response = self.client.get(url)
            assert response.status_code == 200, response.text
            document = response.json()
            for row in document["value"]:
                values = {column: row[field] for column, field in FIELDS.items()}
                found[row["number"]] = {**values, MODIFIED["erp"]: row["lastModifiedDateTime"]}
            url = document.get("@odata.nextLink")
        return found

    def insert_row(self, side: str, key: str, name: Any, city: Any, active: bool) -> None:
        if side == "crm":
            super().insert_row(side, key, name, city, active)
            return
        body = {"number": key, "displayName": name or "", "city": city or ""}
        response = self.client.post(self.customers, json=body)
        assert response.status_code == 201, response.text

    def update_row(self, side: str, key: str, values: Row) -> None:
        if side == "crm":
            super().update_row(side, key, values)
            return
        body = {FIELDS[column]: value or "" for column, value in values.items()}
        response = self.client.patch(
            f"{self.customers}({self.customer_id(key)})", json=body, headers={"If-Match": "*"}
        )
        assert response.status_code == 200, response.text

    def delete_row(self, side: str, key: str) -> None:
        if side == "crm":
            super().delete_row(side, key)
            return
        found = self.customer_id(key)
        if found is not None:
            response = self.client.delete(f"{self.customers}({found})", headers={"If-Match": "*"})
            assert response.status_code == 204, response.text


SETTINGS = settings(
    max_examples=4,
    stateful_step_count=10,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class LocalWinsOverBusinessCentral(BusinessCentralConvergence):
    POLICY = "send"


class FieldsMergeOverBusinessCentral(BusinessCentralConvergence):
    POLICY = "merge"


TestConvergenceOverBusinessCentralLocalWins = as_test(LocalWinsOverBusinessCentral, SETTINGS)
TestConvergenceOverBusinessCentralFieldsMerge = as_test(FieldsMergeOverBusinessCentral, SETTINGS)
