"""The conformance suite against the Dataverse connector, over HTTPS to the local service.

The service serves one items table, ``accord_item``, besides the demo's CRM tables; each test
empties it and seeds its rows without HTTP (:meth:`LocalDataverse.insert_rows`), so seeded
``modifiedon`` values are the suite's own. Keys are GUIDs that sort in number order; edits
"behind the connector's back" are PATCHes from a client of their own. The service stamps
``modifiedon`` in whole seconds from a test clock that stands still until a test ticks it,
so writes within a test share a second, as fast writes do in Dataverse.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from accord.connectors.dataverse.connector import DataverseConnector
from accord.connectors.dataverse.values import dumps
from accord.services.dataverse import LocalDataverse
from accord.services.dataverse.schema import DEFAULT_SCHEMA
from accord.testing.suite import ConnectorSuite, SuiteHarness
from tests.connectors.dataverse_support import connect

TABLE = "accord_item"

SUITE_SCHEMA: dict[str, Any] = {
    "tables": {
        **DEFAULT_SCHEMA["tables"],
        TABLE: {
            "primary_name": "label",
            "columns": {
                "name": {"type": "String", "max_length": 10},
                "label": {"type": "String", "max_length": 40, "required": True},
                "note": {"type": "Memo", "max_length": None},
                "qty": {"type": "Integer"},
                "price": {"type": "Decimal"},
                "active": {"type": "Boolean"},
                "due": {"type": "DateTime"},
            },
        },
    }
}
"""The demo's CRM and the suite's items table with Dataverse types."""


class TestClock:
    """Seconds since the epoch for the service's stamps: still until moved on."""

    __test__ = False

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float = 1) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def clock() -> TestClock:
    return TestClock()


@pytest.fixture(scope="module")
def suite_dv(
    tmp_path_factory: pytest.TempPathFactory, clock: TestClock
) -> Iterator[LocalDataverse]:
    with LocalDataverse.start(
        data_dir=tmp_path_factory.mktemp("dataverse"), schema=SUITE_SCHEMA, clock=clock
    ) as service:
        yield service


@pytest.fixture(scope="module")
def other_writer(suite_dv: LocalDataverse) -> Iterator[httpx.Client]:
    """Another Dataverse client: edits behind the connector's back."""
    with httpx.Client(
        base_url=suite_dv.api_url,
        verify=suite_dv.ssl_context(),
        headers={"Authorization": f"Bearer {suite_dv.token}", "OData-Version": "4.0"},
        timeout=30,
    ) as client:
        yield client


class DataverseHarness(SuiteHarness):
    """One items table with GUID keys, server-stamped whole-second versions."""

    key_field = f"{TABLE}id"
    modified_field = "modifiedon"
    extra_fields = frozenset({"createdon", "versionnumber"})
    resolution = timedelta(seconds=1)
    text_keys = False
    invalid_key = "K0050"
    versions_may_be_missing = False

    def __init__(self, dv: LocalDataverse, clock: TestClock, writer: httpx.Client) -> None:
        self.dv = dv
        self.clock = clock
        self.writer = writer
        self.salt = uuid.uuid4().hex
        self._connector = connect(dv, "suite")

    @property
    def connector(self) -> DataverseConnector:
        return self._connector

    def key(self, number: int) -> str:
        """A GUID whose first group is the number: text order is number order (and, since the
        rest is this test's own, SQL Server's GUID order would be too)."""
        s = self.salt
        return f"{number:08x}-{s[:4]}-4{s[4:7]}-8{s[7:10]}-{s[10:22]}"

    def items_table(self, rows: Sequence[Mapping[str, Any]]) -> str:
        table = self.dv.schema.tables[TABLE]
        store = self.dv.store
        with store.transaction():
            ids = store.select(f'SELECT "{table.primary_id}" AS id FROM "{TABLE}"', ())
            for version, found in zip(store.next_versions(len(ids)), ids, strict=True):
                store.delete(table, found["id"], version)
        if rows:
            columns = list(rows[0])
            stored = [[_stored(row[c]) for c in columns] for row in rows]
            self.dv.insert_rows(TABLE, columns, stored)
        return TABLE

    def edit(self, table: str, key: str, values: Mapping[str, Any]) -> None:
        self.clock.advance()  # another writer, a moment later
        response = self.writer.patch(
            f"{table}s({key})",
            content=dumps(dict(values)),
            headers={"Content-Type": "application/json", "If-Match": "*"},
        )
        assert response.status_code == 204, response.text

    def tick(self) -> None:
        self.clock.advance()


def _stored(value: Any) -> Any:
    """A value as the service stores it (its Decimal columns are SQLite REALs)."""
    return float(value) if isinstance(value, Decimal) else value


class TestDataverseConnector(ConnectorSuite):
    @pytest.fixture
    def harness(
        self, suite_dv: LocalDataverse, clock: TestClock, other_writer: httpx.Client
    ) -> Iterator[DataverseHarness]:
        harness = DataverseHarness(suite_dv, clock, other_writer)
        yield harness
        harness.connector.close()
