"""Faults over HTTP with the ERP behind the local Business Central service (HTTPS).

A bidirectional CUSTOMER mapping between one BC company's ``customers`` (key ``number``) and
a SQLite ``account`` table, so Accord both reads Business Central and writes it: the CRM's
accounts become customers numbered by the engine from the ``C`` series before each create
(in JSON ``$batch`` requests), BC's customers become accounts. The service injects its
faults while a full synchronization runs: 429 storms with ``Retry-After``, 5xx answers,
connections dropped before a request is handled and answers lost after a ``$batch``
committed. Then a clean full synchronization must leave the state two fault-free runs
leave: couplings 1:1, mapped fields equal, no duplicate customer (a create whose answer was
lost is found by its number, not made twice).

One service for the module; each example gets a company of its own (empty tables), a fresh
CRM database and state store.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings

import accord
from accord.connectors.businesscentral.connector import BusinessCentralConnector
from accord.connectors.retry import RetryingConnector, RetryPolicy
from accord.services.businesscentral import LocalBusinessCentral
from accord.services.common.faults import FaultConfig
from tests.cli.support import utc_now_text
from tests.reliability.service_faults import (
    FAULTS,
    LOST_ANSWER,
    fault_events,
    record_lost_answers,
)

Snapshot = dict[str, object]

CUSTOMERS = [(f"C{i * 10:05d}", f"ERP {i}", 100 * i) for i in range(1, 9)]
ACCOUNTS = [(f"{i:08x}-0000-4000-8000-00000000acc0", f"CRM {i}", 50 * i) for i in range(1, 6)]
"""The CRM's own accounts, with fixed ids so that runs read them (and number them) alike."""
FIXED_IDS = frozenset(key for key, _, _ in ACCOUNTS)

CONFIG = """\
[state]
url = "sqlite:///state.db"

[systems.erp]
connector = "businesscentral"
url = "{url}"
options = {{ token = "{token}", ca_bundle = "{ca}", company = "{company}" }}
# the engine's retries, quick: the examples wait for no real outage
retry = {{ attempts = 6, backoff = 0.05, max_backoff = 0.2 }}

[systems.crm]
connector = "sql"
url = "sqlite:///crm.db"

[tables."erp.customers"]
new_keys = {{ series = "C", digits = 5 }}

[tables."crm.account"]
key = "id"
modified = "modifiedon"
new_keys = "uuid"

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


@pytest.fixture(scope="module")
def bc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBusinessCentral]:
    with LocalBusinessCentral.start(data_dir=tmp_path_factory.mktemp("bc")) as service:
        yield service


class BcWorld:
    """A company of its own in the service, seeded; a SQLite CRM; a config for both."""

    def __init__(self, bc: LocalBusinessCentral) -> None:
        self.bc = bc
        self.company = f"Faults {uuid.uuid4().hex[:8]}"
        bc.add_company(self.company)
        bc.insert_rows(
            self.company,
            "customers",
            [{"number": n, "displayName": name, "creditLimit": c} for n, name, c in CUSTOMERS],
        )
        self.folder = Path(tempfile.mkdtemp(prefix="accord-faults-bc-"))
        with closing(sqlite3.connect(self.folder / "crm.db")) as conn, conn:
            conn.execute(
                "CREATE TABLE account (id TEXT PRIMARY KEY, accountnumber TEXT, name TEXT, "
                "creditlimit NUMERIC, modifiedon DATETIME)"
            )
            conn.executemany(
                "INSERT INTO account VALUES (?, NULL, ?, ?, ?)",
                [(key, name, limit, utc_now_text()) for key, name, limit in ACCOUNTS],
            )
        self.path = self.folder / "accord.toml"
        self.path.write_text(
            CONFIG.format(url=bc.url, token=bc.token, ca=bc.ca_file, company=self.company),
            encoding="utf-8",
        )

    def project(self) -> accord.Project:
        """The project, its connector's own HTTP retries quick (the default backoff would
        make the examples wait for no real outage)."""
        project = accord.Project.load(self.path, batch_size=3)
        retrying = project.connector("erp")
        assert isinstance(retrying, RetryingConnector)
        assert isinstance(retrying.inner, BusinessCentralConnector)
        retrying.inner.http.policy = RetryPolicy(attempts=3, backoff=0.02, max_backoff=0.1)
        return project

    def close(self) -> None:
        self.bc.faults = None
        shutil.rmtree(self.folder, ignore_errors=True)


def snapshot(world: BcWorld, p: accord.Project) -> Snapshot:
    """The canonical state, checked consistent: customers by number, accounts by the number
    they hold, each coupling as the pair of numbers it joins (ids differ run to run)."""
    customers = {r["number"]: r for r in world.bc.rows(world.company, "customers")}
    with closing(sqlite3.connect(world.folder / "crm.db")) as conn:
        accounts = {
            str(key): (number, name, float(limit))
            for key, number, name, limit in conn.execute(
                "SELECT id, accountnumber, name, creditlimit FROM account"
            )
        }
    ids = {r["id"]: number for number, r in customers.items()}
    pairs = [(c.local_key, c.integration_key) for c in p.couplings("CUSTOMER", limit=1000)]
    assert len({a for a, _ in pairs}) == len({b for _, b in pairs}) == len(pairs), pairs
    assert {a for a, _ in pairs} == set(customers), "a customer is uncoupled or missing"
    assert {b for _, b in pairs} == set(accounts), "an account is uncoupled or missing"
    for number, account in pairs:
        customer = customers[number]
        assert accounts[account] == (number, customer["displayName"], customer["creditLimit"])
    assert len(ids) == len(customers)
    return {
        "customers": sorted((n, r["displayName"], r["creditLimit"]) for n, r in customers.items()),
        "accounts": sorted(accounts.values()),
        "the CRM's accounts coupled to": sorted(
            (account, number) for number, account in pairs if account in FIXED_IDS
        ),
    }


def synchronized(world: BcWorld, faults: FaultConfig | None) -> Snapshot:
    """A full sync under the service's ``faults``, a clean full sync; the state after them."""
    with world.project() as p:
        world.bc.faults = faults
        try:
            p.sync(full=True)
        finally:
            world.bc.faults = None
    with world.project() as p:
        rerun = p.sync(full=True)
        assert rerun.ok, [(j.mapping, j.direction, j.status, j.message) for j in rerun.jobs]
        return snapshot(world, p)


_REFERENCE: list[Snapshot] = []


def reference(bc: LocalBusinessCentral) -> Snapshot:
    """The state after a full sync and a clean rerun without any fault (once per module)."""
    if not _REFERENCE:
        world = BcWorld(bc)
        try:
            _REFERENCE.append(synchronized(world, None))
        finally:
            world.close()
    return _REFERENCE[0]


@settings(
    max_examples=6,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(faults=FAULTS)
def test_service_faults_then_a_clean_rerun_end_in_the_fault_free_state(
    bc: LocalBusinessCentral, faults: FaultConfig
) -> None:
    expected = reference(bc)
    world = BcWorld(bc)
    bc.stats.reset()
    try:
        assert synchronized(world, faults) == expected
        fault_events(bc.stats, event)
    finally:
        world.close()


def test_the_fault_free_state_numbers_every_account_from_the_series(
    bc: LocalBusinessCentral,
) -> None:
    """The reference itself: 8 + 5 customers, the CRM's accounts numbered after C00080."""
    state = reference(bc)
    customers = state["customers"]
    assert isinstance(customers, list) and len(customers) == len(CUSTOMERS) + len(ACCOUNTS)
    numbers = sorted(n for n, _, _ in customers)
    assert numbers[: len(CUSTOMERS)] == [n for n, _, _ in CUSTOMERS]
    assert all(n.startswith("C") and len(n) == 6 for n in numbers)


def test_lost_batch_answers_after_the_creates_committed_make_no_duplicate(
    bc: LocalBusinessCentral, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many answers lost after the service committed, ``$batch`` creates among them: the
    connector reads the numbers back instead of creating the customers again."""
    lost_batches = record_lost_answers(monkeypatch, b'"status":201')
    expected = reference(bc)
    world = BcWorld(bc)
    caplog.set_level(logging.INFO, logger="accord")
    try:
        assert synchronized(world, FaultConfig(drop_after_rate=0.4, seed=11)) == expected
        assert bc.count(world.company, "customers") == len(CUSTOMERS) + len(ACCOUNTS)
        assert LOST_ANSWER in caplog.text, "no answer was lost: the test tests nothing"
        assert lost_batches, "no $batch of creates lost its answer: the test tests nothing"
    finally:
        world.close()
