"""Faults over HTTP: the fault fuzzer with the CRM behind the local Dataverse service (HTTPS).

The world of :mod:`tests.reliability.test_faults` (ERP currencies and customers in memory,
CRM currencies and accounts) with the CRM tables served by :class:`LocalDataverse`. The
service injects its own faults while a full synchronization runs: 429 storms, 5xx answers,
connections dropped before a request is handled and answers lost after a write committed.
The connector's retries and the engine's must absorb them; then a clean full synchronization
must leave the state the same two runs leave without any fault: couplings 1:1, mapped fields
equal, no duplicate account (a create whose answer was lost is not made twice). The
connector-level faults of :func:`accord.testing.inject` run over HTTP too.

One service for the module; each example empties its CRM tables and starts a fresh ERP and
state store. Few examples: each sync is a few dozen HTTPS requests.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings

import accord
from accord.connectors.dataverse.connector import DataverseConnector
from accord.connectors.retry import RetryingConnector, RetryPolicy
from accord.services.dataverse import FaultConfig, LocalDataverse
from accord.testing import FaultPlan, database, drop_database, inject
from tests.engine.conftest import CONFIG as MEMORY_CONFIG
from tests.reliability.service_faults import FAULTS, LOST_ANSWER, fault_events
from tests.reliability.test_faults import ALL, Snapshot, assert_consistent, lost, originals
from tests.reliability.test_faults import snapshot as memory_snapshot

CRM_TABLES = ("account", "transactioncurrency")
SYSTEM_COLUMNS = frozenset({"createdon", "versionnumber"})
"""Stamped by the service: they differ from run to run, so snapshots leave them out."""

ACCOUNTS = [(f"{i:08x}-0000-4000-8000-00000000acc0", f"Remote {i}", "Rome") for i in range(1, 6)]
"""The CRM's own accounts, with fixed ids so that runs read them in the same order."""


@pytest.fixture(scope="module")
def dv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDataverse]:
    with LocalDataverse.start(data_dir=tmp_path_factory.mktemp("dataverse")) as service:
        yield service


class HttpWorld:
    """A memory ERP, the service's CRM tables emptied and seeded, a config for both."""

    def __init__(self, dv: LocalDataverse) -> None:
        self.dv = dv
        self.folder = Path(tempfile.mkdtemp(prefix="accord-faults-dv-"))
        self.erp_url = f"memory://erp-{uuid.uuid4().hex[:8]}"
        erp = database(self.erp_url)
        erp.create_table("currency", ["code", "description"], key="code")
        erp.create_table(
            "customer",
            {
                "no": "text",
                "name": "text",
                "city": "text",
                "credit_limit": "decimal",
                "currency_code": "text",
                "blocked": "text",
            },
            key="no",
            lengths={"name": 50},
        )
        for code, text in (("EUR", "Euro"), ("USD", "US Dollar"), ("NOK", "Krone")):
            erp.put("currency", code, {"description": text})
        for i in range(1, 9):
            erp.put(
                "customer",
                f"C{i:05d}",
                {
                    "name": f"Local {i}",
                    "city": ("Oslo", "Bergen", "Wien")[i % 3],
                    "credit_limit": 100 * i,
                    "currency_code": ("EUR", "USD", "NOK", "")[i % 4],
                },
            )
        empty_tables(dv)
        dv.insert_rows(
            "account",
            ["accountid", "name", "address1_city", "statecode"],
            [(key, name, city, 0) for key, name, city in ACCOUNTS],
        )
        text = MEMORY_CONFIG.format(
            erp=self.erp_url,
            crm="memory://unused",
            state_url="sqlite:///state.db",
            direction="bidirectional",
            table_filter="",
            update_conflict="none",
            deletion_conflict="none",
        )
        crm = (
            '[systems.crm]\nconnector = "dataverse"\n'
            f'url = "{dv.url}"\n'
            f'options = {{ token = "{dv.token}", ca_bundle = "{dv.ca_file}" }}\n'
            # the engine's retries, quick: the examples wait for no real outage
            "retry = { attempts = 6, backoff = 0.05, max_backoff = 0.2 }\n"
        )
        text = text.replace('[systems.crm]\nconnector = "memory"\nurl = "memory://unused"\n', crm)
        self.path = self.folder / "accord.toml"
        self.path.write_text(text)
        self.injected: list[object] = []
        """The connector faults that hit (with a plan)."""

    def project(self) -> accord.Project:
        """The project, its connector's own HTTP retries quick (the default backoff of half
        a second and more would make the examples wait for no real outage)."""
        project = accord.Project.load(self.path, batch_size=3)
        retrying = project.connector("crm")
        assert isinstance(retrying, RetryingConnector)
        assert isinstance(retrying.inner, DataverseConnector)
        retrying.inner.http.policy = RetryPolicy(attempts=3, backoff=0.02, max_backoff=0.1)
        return project

    def close(self) -> None:
        self.dv.faults = None
        drop_database(self.erp_url)
        shutil.rmtree(self.folder, ignore_errors=True)


def empty_tables(dv: LocalDataverse) -> None:
    """Delete every row of the CRM tables, without HTTP (between examples)."""
    store = dv.store
    with store.transaction():
        for name in CRM_TABLES:
            table = dv.schema.tables[name]
            ids = store.select(f'SELECT "{table.primary_id}" AS id FROM "{name}"', ())
            for version, row in zip(store.next_versions(len(ids)), ids, strict=True):
                store.delete(table, row["id"], version)


def snapshot(p: accord.Project, before: dict[str, set[str]]) -> Snapshot:
    """The canonical state (see :func:`tests.reliability.test_faults.snapshot`), without the
    columns the service stamps."""
    return {
        ref: {
            key: {f: v for f, v in values.items() if f not in SYSTEM_COLUMNS}
            for key, values in records.items()
        }
        for ref, records in memory_snapshot(p, before).items()
    }


def synchronized(world: HttpWorld, faults: FaultConfig | None, plan: FaultPlan | None) -> Snapshot:
    """A full sync under ``faults`` (service) or ``plan`` (connector), a clean full sync;
    the state after them, checked consistent."""
    with world.project() as p:
        before = originals(p)
        if plan is not None:
            _, faulty = inject(p, "crm", plan, sleep=lambda _: None)
            world.injected = faulty.injected
        world.dv.faults = faults
        try:
            p.sync(full=True)
        finally:
            world.dv.faults = None
    with world.project() as p:
        rerun = p.sync(full=True)
        assert rerun.ok, [(j.mapping, j.direction, j.status, j.message) for j in rerun.jobs]
        assert_consistent(p)
        return snapshot(p, before)


_REFERENCE: dict[str, Snapshot] = {}


def reference(dv: LocalDataverse) -> Snapshot:
    """The state after a full sync and a clean rerun without any fault (once per module)."""
    if "dataverse" not in _REFERENCE:
        world = HttpWorld(dv)
        try:
            _REFERENCE["dataverse"] = synchronized(world, None, None)
        finally:
            world.close()
    return _REFERENCE["dataverse"]


@settings(
    max_examples=5,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(faults=FAULTS)
def test_service_faults_then_a_clean_rerun_end_in_the_fault_free_state(
    dv: LocalDataverse, faults: FaultConfig
) -> None:
    expected = reference(dv)
    world = HttpWorld(dv)
    dv.stats.reset()
    try:
        assert synchronized(world, faults, None) == expected
        fault_events(dv.stats, event)
    finally:
        world.close()


def test_answers_lost_after_every_create_make_no_duplicate(
    dv: LocalDataverse, caplog: pytest.LogCaptureFixture
) -> None:
    """Many answers lost after the service committed (creates among them): the connector
    reads the ids back instead of creating the records again."""
    expected = reference(dv)
    world = HttpWorld(dv)
    caplog.set_level(logging.INFO, logger="accord")
    try:
        faults = FaultConfig(drop_after_rate=0.25, seed=7)
        assert synchronized(world, faults, None) == expected
        assert dv.count("account") == len(ACCOUNTS) + 8
        assert LOST_ANSWER in caplog.text, "no answer was lost: the test tests nothing"
    finally:
        world.close()


CONNECTOR_CASES: dict[str, FaultPlan] = {
    "read stream drops": FaultPlan((lost("read", 2),)),
    "write lost before commit": FaultPlan((lost("write", 2),)),
    "write committed, answer lost": FaultPlan((lost("write", 2, committed=ALL),)),
    "write half committed": FaultPlan((lost("write", 3, committed=1),)),
}


@pytest.mark.parametrize("case", list(CONNECTOR_CASES))
def test_connector_faults_over_http_end_in_the_fault_free_state(
    dv: LocalDataverse, case: str
) -> None:
    expected = reference(dv)
    world = HttpWorld(dv)
    try:
        assert synchronized(world, None, CONNECTOR_CASES[case]) == expected
        assert world.injected, "the fault never hit: the case tests nothing"
    finally:
        world.close()
