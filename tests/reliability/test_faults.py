"""Faults from the systems: lost connections, timeouts, refused records, read-only systems.

Every fault kind runs a full synchronization with the fault injected under the retries
(:func:`accord.testing.inject`), then a clean full synchronization, and the final state must be
the state of the same two runs without any fault: the same rows on both sides, couplings 1:1,
every mapped field equal, no duplicate and nothing lost. Records created under different keys
in two runs (uuids, series numbers) are compared through their counterpart's key.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import accord
from accord.connectors.base import Connector
from accord.connectors.retry import RetryingConnector, RetryPolicy
from accord.connectors.sql.connector import SqlConnector
from accord.demo import build_demo
from accord.errors import FatalConnectorError, RetriableConnectorError
from accord.model import Change, ChangeKind, Direction, JobStatus, Record
from accord.model.values import same
from accord.testing import (
    Fault,
    FaultKind,
    FaultPlan,
    FaultyConnector,
    MemoryConnector,
    drop_database,
    inject,
)
from tests.engine.conftest import World, make_world

BATCH = 3
"""Records per pass batch: small, so that a pass makes several reads and writes to hit."""

Snapshot = dict[str, dict[str, dict[str, Any]]]


# -- the world -----------------------------------------------------------------------------
def seed(world: World) -> None:
    for code, text in (("EUR", "Euro"), ("USD", "US Dollar"), ("NOK", "Krone")):
        world.erp.put("currency", code, {"description": text})
    for i in range(1, 9):
        world.erp.put(
            "customer",
            f"C{i:05d}",
            {
                "name": f"Local {i}",
                "city": ("Oslo", "Bergen", "Wien")[i % 3],
                "credit_limit": Decimal(100 * i),
                "currency_code": ("EUR", "USD", "NOK", "")[i % 4],
            },
        )
    for i in range(1, 6):
        world.crm.put(
            "account", f"acc-{i}", {"name": f"Remote {i}", "address1_city": "Rome", "statecode": 0}
        )


def project(world: World | Path) -> accord.Project:
    return accord.Project.load(world if isinstance(world, Path) else world.path, batch_size=BATCH)


@pytest.fixture
def worlds(tmp_path: Path) -> Iterator[Any]:
    """Seeded memory worlds, each with its state store on SQLite in its own folder."""
    made: list[World] = []

    def factory(retry: str = "") -> World:
        w = make_world(tmp_path / f"w{len(made)}")
        if retry:
            text = w.path.read_text().replace(
                f'url = "{w.urls[1]}"', f'url = "{w.urls[1]}"\nretry = {retry}', 1
            )
            w.path.write_text(text)
        seed(w)
        made.append(w)
        return w

    yield factory
    for w in made:
        for url in w.urls:
            drop_database(url)


def table_rows(p: accord.Project, ref: str) -> dict[str, Record]:
    system, table = ref.split(".", 1)
    return {r.key: r for batch in p.connector(system).read(table) for r in batch}


def originals(p: accord.Project) -> dict[str, set[str]]:
    """The keys every mapped table holds before any synchronization."""
    refs = {str(r) for m in p.config.mappings for r in (m.table, m.integration_table)}
    return {ref: set(table_rows(p, ref)) for ref in refs}


def snapshot(p: accord.Project, before: dict[str, set[str]]) -> Snapshot:
    """Every mapped table, with created records (and values holding their keys) canonical.

    A record Accord created is named after its coupled counterpart, which existed before the
    first run; so two runs that gave the same records different keys compare equal.
    """
    canon: dict[str, str] = {}
    for m in p.config.mappings:
        for c in p.couplings(m.name, limit=100_000):
            if c.local_key not in before[str(m.table)]:
                canon[c.local_key] = f"≈{m.integration_table}:{c.integration_key}"
            if c.integration_key not in before[str(m.integration_table)]:
                canon[c.integration_key] = f"≈{m.table}:{c.local_key}"
    out: Snapshot = {}
    for ref in before:
        system, table = ref.split(".", 1)
        schema = p.connector(system).describe(table)
        out[ref] = {
            canon.get(key, key): {
                f: canon.get(v, v) if isinstance(v, str) else v
                for f, v in r.values.items()
                if f not in (schema.key, schema.modified)
            }
            for key, r in table_rows(p, ref).items()
        }
    return out


def assert_consistent(p: accord.Project) -> None:
    """Couplings 1:1 between existing records, everything coupled, mapped fields equal."""
    currencies = {c.local_key: c.integration_key for c in p.couplings("CURRENCY", limit=1000)}
    erp_cur, crm_cur = table_rows(p, "erp.currency"), table_rows(p, "crm.transactioncurrency")
    assert set(currencies) == set(erp_cur) and set(currencies.values()) == set(crm_cur)
    for code, key in currencies.items():
        assert crm_cur[key].values["isocurrencycode"] == code
        assert crm_cur[key].values["currencyname"] == erp_cur[code].values["description"]
    pairs = [(c.local_key, c.integration_key) for c in p.couplings("CUSTOMER", limit=1000)]
    customers, accounts = table_rows(p, "erp.customer"), table_rows(p, "crm.account")
    assert len({a for a, _ in pairs}) == len({b for _, b in pairs}) == len(pairs)
    assert {a for a, _ in pairs} == set(customers)
    assert {b for _, b in pairs} == set(accounts)
    for local, integration in pairs:
        erp, crm = customers[local].values, accounts[integration].values
        assert same(erp["name"], crm["name"]) and same(erp["city"], crm["address1_city"])
        assert crm["accountnumber"] == local
        code = erp["currency_code"]
        assert same(crm["transactioncurrencyid"], currencies[code] if code else None)


_REFERENCE: dict[str, Snapshot] = {}


def reference(tmp_path: Path) -> Snapshot:
    """The state after a full synchronization and a clean rerun, without any fault."""
    if "memory" not in _REFERENCE:
        w = make_world(tmp_path / "reference")
        try:
            seed(w)
            with project(w) as p:
                before = originals(p)
                assert p.sync(full=True).ok
                assert p.sync(full=True).ok
                assert_consistent(p)
                _REFERENCE["memory"] = snapshot(p, before)
        finally:
            for url in w.urls:
                drop_database(url)
    return _REFERENCE["memory"]


def run_with_faults(
    w: World, plans: dict[str, FaultPlan]
) -> tuple[accord.RunResult, dict[str, RetryingConnector], dict[str, FaultyConnector]]:
    """A full synchronization with faults, then a clean one; the clean rerun must be ok."""
    retrying, faulty = {}, {}
    waits: list[float] = []
    with project(w) as p:
        for system, plan in plans.items():
            retrying[system], faulty[system] = inject(p, system, plan, sleep=waits.append)
        run = p.sync(full=True)
    with project(w) as p:
        rerun = p.sync(full=True)
        assert rerun.ok, [(j.mapping, j.direction, j.status, j.message) for j in rerun.jobs]
    return run, retrying, faulty


def final_state(w: World, before: dict[str, set[str]]) -> Snapshot:
    with project(w) as p:
        assert_consistent(p)
        return snapshot(p, before)


def lost(operation: str, at: int, **kw: Any) -> Fault:
    return Fault(FaultKind.DISCONNECT, operation, at=at, **kw)  # type: ignore[arg-type]


# -- every fault kind, then a clean rerun --------------------------------------------------
ALL = 10**6
"""``committed`` larger than any batch: the whole batch was applied, the answer lost."""

CASES = {
    "crm read stream drops": ("crm", FaultPlan((lost("read", 2),)), True),
    "erp read stream drops twice": ("erp", FaultPlan((lost("read", 3, times=2),)), True),
    "erp keys read drops": ("erp", FaultPlan((lost("read", 5),)), True),  # the settle pass
    "crm write lost before commit": ("crm", FaultPlan((lost("write", 2),)), True),
    "crm write committed, answer lost": (
        "crm",
        FaultPlan((lost("write", 2, committed=ALL),)),
        True,
    ),
    "crm write half committed": ("crm", FaultPlan((lost("write", 3, committed=1),)), True),
    "erp write committed, answer lost": (
        "erp",
        FaultPlan((lost("write", 1, committed=ALL),)),
        True,
    ),
    "crm write timeout": (
        "crm",
        FaultPlan((Fault(FaultKind.TIMEOUT, "write", at=4, committed=2, delay=0.001),)),
        True,
    ),
    "crm read timeout": (
        "crm",
        FaultPlan((Fault(FaultKind.TIMEOUT, "read", at=3, times=2, delay=0.001),)),
        True,
    ),
    # each attempt applies one insert more and loses the answer: the last attempt gives up
    "crm retries run out": ("crm", FaultPlan((lost("write", 3, times=3, committed=1),)), False),
    "erp read retries run out": ("erp", FaultPlan((lost("read", 2, times=None),)), False),
    "crm constraint violation": (
        "crm",
        FaultPlan((Fault(FaultKind.CONSTRAINT, "write", at=2, record=1),)),
        False,
    ),
    "crm read-only": ("crm", FaultPlan.read_only(), False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_fault_then_a_clean_rerun_ends_in_the_fault_free_state(worlds: Any, case: str) -> None:
    system, plan, transparent = CASES[case]
    w = worlds()
    with project(w) as p:
        before = originals(p)
    run, _, faulty = run_with_faults(w, {system: plan})
    assert faulty[system].injected, "the fault never hit: the case tests nothing"
    # retried faults are invisible; the others show in the first run's jobs
    assert run.ok is transparent, [(j.mapping, j.status, j.message) for j in run.jobs]
    assert final_state(w, before) == reference(w.path.parent)


def test_retries_are_counted_and_the_backoff_is_bounded(worlds: Any) -> None:
    w = worlds(retry="{ attempts = 5, backoff = 1, max_backoff = 2.5 }")
    with project(w) as p:
        retrying, faulty = inject(p, "crm", FaultPlan((lost("write", 2, times=4),)))
        waits: list[float] = []
        retrying.sleep, retrying.jitter = waits.append, lambda: 0.999999
        assert retrying.policy == RetryPolicy(5, 1.0, 2.5)
        run = p.sync(full=True)
    assert run.ok
    assert retrying.retries == 4 and len(faulty.injected) == 4
    # 1, 2, then capped at 2.5 (times a jitter between 1/2 and 1)
    assert waits == pytest.approx([1, 2, 2.5, 2.5], rel=1e-5)
    assert retrying.waited == pytest.approx(sum(waits))


@settings(max_examples=200, deadline=None, database=None)
@given(
    backoff=st.floats(0, 3600),
    cap=st.floats(0, 3600),
    failures=st.integers(1, 2000),
    jitter=st.floats(0, 1, exclude_max=True),
)
def test_waits_grow_and_never_pass_max_backoff(
    backoff: float, cap: float, failures: int, jitter: float
) -> None:
    policy = RetryPolicy(3, backoff, max(cap, backoff))
    delay = policy.delay(failures, jitter)
    assert min(policy.max_backoff, backoff) / 2 <= delay <= policy.max_backoff
    assert policy.delay(failures + 1, jitter) >= delay


def test_retries_that_run_out_fail_the_pass_with_a_clear_message(worlds: Any) -> None:
    w = worlds()
    with project(w) as p:
        waits: list[float] = []
        retrying, _ = inject(
            p, "crm", FaultPlan((lost("write", 1, times=None),)), sleep=waits.append
        )
        run = p.sync(full=True)
    (job,) = [j for j in run.jobs if j.mapping == "CURRENCY"]
    assert job.status is JobStatus.ERROR
    assert "system 'crm': writing table 'transactioncurrency': connection lost" in job.message
    assert "gave up writing table 'transactioncurrency' after 3 attempts" in job.message
    assert "[systems.crm] retry" in job.message
    assert len(waits) == 2 and retrying.retries == 2
    assert run.not_run == {"CUSTOMER": "depends on CURRENCY, which failed"}
    assert not w.crm.rows("transactioncurrency")
    assert set(w.crm.rows("account")) == {f"acc-{i}" for i in range(1, 6)}  # as seeded


def test_a_constraint_violation_fails_only_its_record(worlds: Any) -> None:
    w = worlds()
    plan = FaultPlan((Fault(FaultKind.CONSTRAINT, "write", at=1, record=1, table="account"),))
    with project(w) as p:
        retrying, _ = inject(p, "crm", plan)
        run = p.sync(full=True)
        job = next(
            j
            for j in run.jobs
            if j.direction is Direction.TO_INTEGRATION and j.mapping == "CUSTOMER"
        )
        detail = p.job(job.id)
    assert retrying.retries == 0  # a refused record is not an outage
    assert job.status is JobStatus.FAILED and job.counters.failed == 1
    assert job.counters.inserted == 8 - 1
    (error,) = detail.errors
    assert error.source_key == "C00002"  # the second record of the first batch
    assert "UNIQUE constraint failed: account.name" in error.message
    assert len(w.crm.rows("account")) == 5 + 7


def test_a_read_only_destination_stops_the_pass_with_a_clear_message(worlds: Any) -> None:
    w = worlds()
    with project(w) as p:
        retrying, _ = inject(p, "crm", FaultPlan.read_only())
        run = p.sync(full=True)
        # nothing failed or quarantined: the pending couplings only wait for the rerun
        assert not p.errors("CURRENCY") and all(c.pending for c in p.couplings("CURRENCY"))
    (job,) = [j for j in run.jobs if j.mapping == "CURRENCY"]
    assert job.status is JobStatus.ERROR and retrying.retries == 0
    assert "may not write to table 'transactioncurrency'" in job.message
    assert "read-only" in job.message
    assert not w.crm.rows("transactioncurrency")


# -- read resumption, record by record -----------------------------------------------------
def _memory(world: World) -> MemoryConnector:
    return MemoryConnector("erp", url=world.urls[0])


def sql_customers(folder: Path) -> SqlConnector:
    """An SQLite copy of the ERP customers of :func:`seed`, four of them sharing a version."""
    url = f"sqlite:///{folder / 'erp.db'}"
    db = sqlite3.connect(folder / "erp.db")
    db.execute(
        "create table customer (no varchar(10) primary key, name text, last_modified datetime)"
    )
    db.commit()
    db.close()
    connector = SqlConnector("erp", url=url, tables={}, options={})
    inserts = [Change(ChangeKind.INSERT, f"C{i:05d}", {"name": f"Local {i}"}) for i in range(1, 9)]
    connector.write("customer", inserts[:2])
    connector.write("customer", inserts[2:6])  # one batch, one stamp: a version spans batches
    connector.write("customer", inserts[6:])
    return connector


@pytest.mark.parametrize("system", ["memory", "sqlite"])
@pytest.mark.parametrize("ordered_by", ["key", "version", "keys"])
@pytest.mark.parametrize("at", [1, 2, 3, 4])
def test_a_read_resumes_after_the_last_record_delivered(
    worlds: Any, tmp_path: Path, system: str, ordered_by: str, at: int
) -> None:
    """Whichever batch the stream dies at, the engine sees each record once, in order."""
    if system == "memory":
        w = worlds()
        table = w.erp.tables["customer"]
        for key in ("C00003", "C00004", "C00005", "C00006"):  # one version spans batches
            table.rows[key]["modified"] = datetime(2020, 1, 1)
        clean_connector: Connector = _memory(w)
        inner: Connector = _memory(w)
    else:
        clean_connector = inner = sql_customers(tmp_path)
    kwargs: dict[str, Any] = {"batch_size": 2}
    if ordered_by == "version":
        kwargs["modified_after"] = datetime(2000, 1, 1)
    elif ordered_by == "keys":
        kwargs["keys"] = ["C00007", "C00001", "nope", "C00004", "C00002", "C00008"]
    clean = [(r.key, r.version) for b in clean_connector.read("customer", **kwargs) for r in b]
    if ordered_by == "version":
        versions = [v for _, v in clean if v is not None]
        assert versions == sorted(versions) and len(set(versions)) < len(clean)
    faulty = FaultyConnector(inner, FaultPlan((lost("read", at),)))
    retrying = RetryingConnector(faulty, sleep=lambda _: None)
    got = [(r.key, r.version) for b in retrying.read("customer", **kwargs) for r in b]
    assert got == clean
    batches = -(-len(clean) // 2)
    assert retrying.retries == (1 if at <= batches else 0)


def test_a_key_ordered_read_whose_last_record_went_away_says_so(worlds: Any) -> None:
    w = worlds()
    inner = _memory(w)

    class Vanishing(FaultyConnector):
        def read(self, table: str, **kwargs: Any) -> Iterator[list[Record]]:
            for batch in super().read(table, **kwargs):
                yield batch
                if batch[-1].key == "C00002":
                    w.erp.delete("customer", "C00002")

    retrying = RetryingConnector(
        Vanishing(inner, FaultPlan((lost("read", 2),))), sleep=lambda _: None
    )
    with pytest.raises(RetriableConnectorError, match=r"the last record read \('C00002'\) is gone"):
        list(retrying.read("customer", batch_size=2))


def test_a_retried_insert_that_was_applied_is_confirmed_not_repeated(worlds: Any) -> None:
    w = worlds()
    inner = MemoryConnector("crm", url=w.urls[1])
    faulty = FaultyConnector(inner, FaultPlan((lost("write", 1, committed=2),)))
    retrying = RetryingConnector(faulty, sleep=lambda _: None)
    w.crm.put("account", "taken", {"name": "Someone else"})
    changes = [
        Change(ChangeKind.INSERT, "new-1", {"name": "One"}),
        Change(ChangeKind.UPDATE, "acc-1", {"name": "Renamed"}),
        Change(ChangeKind.INSERT, "new-2", {"name": "Two"}),
        Change(ChangeKind.INSERT, "taken", {"name": "Mine"}),
    ]
    results = retrying.write("account", changes)
    assert [r.ok for r in results] == [True, True, True, False]
    assert "already exists with other values (name: 'Someone else', not 'Mine')" in (
        results[3].error
    )
    rows = w.crm.rows("account")
    assert rows["new-1"]["name"] == "One" and rows["new-2"]["name"] == "Two"
    assert rows["taken"]["name"] == "Someone else" and rows["acc-1"]["name"] == "Renamed"
    assert results[0].version == rows["new-1"]["modified"]  # the version read back


def test_a_fatal_error_is_not_retried(worlds: Any) -> None:
    w = worlds()
    faulty = FaultyConnector(MemoryConnector("crm", url=w.urls[1]), FaultPlan.read_only())
    retrying = RetryingConnector(faulty, sleep=lambda _: None)
    with pytest.raises(FatalConnectorError):
        retrying.write("account", [Change(ChangeKind.INSERT, "x", {"name": "X"})])
    assert retrying.retries == 0 and len(faulty.injected) == 1


# -- random plans ---------------------------------------------------------------------------
KINDS = (FaultKind.DISCONNECT, FaultKind.TIMEOUT, FaultKind.CONSTRAINT)


@st.composite
def faults(draw: st.DrawFn) -> Fault:
    kind = draw(st.sampled_from(KINDS))
    operation = (
        "write" if kind is FaultKind.CONSTRAINT else draw(st.sampled_from(["read", "write"]))
    )
    return Fault(
        kind,
        operation,  # type: ignore[arg-type]
        at=draw(st.integers(1, 12)),
        times=draw(st.integers(1, 4)),
        committed=draw(st.integers(0, 4)),
        record=draw(st.integers(0, 3)),
    )


@settings(
    max_examples=25 * int(os.environ.get("ACCORD_FUZZ_SCALE", "1")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    erp=st.lists(faults(), max_size=2).map(lambda f: FaultPlan(tuple(f))),
    crm=st.lists(faults(), max_size=3).map(lambda f: FaultPlan(tuple(f))),
)
def test_random_fault_plans_then_a_clean_rerun_end_in_the_fault_free_state(
    tmp_path: Path, erp: FaultPlan, crm: FaultPlan
) -> None:
    expected = reference(tmp_path)
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    w = make_world(folder)
    try:
        seed(w)
        with project(w) as p:
            before = originals(p)
        run_with_faults(w, {"erp": erp, "crm": crm})
        assert final_state(w, before) == expected
    finally:
        for url in w.urls:
            drop_database(url)
        shutil.rmtree(folder, ignore_errors=True)


# -- through the SQL connector on SQLite ----------------------------------------------------
DEMO_RECORDS = 40


def demo(folder: Path) -> Path:
    return build_demo(folder, records=DEMO_RECORDS, seed=7).config_path


def demo_state(config: Path, before: dict[str, set[str]]) -> Snapshot:
    with project(config) as p:
        for m in p.config.mappings:
            pairs = [(c.local_key, c.integration_key) for c in p.couplings(m.name, limit=10**5)]
            assert len({a for a, _ in pairs}) == len({b for _, b in pairs}) == len(pairs)
        return snapshot(p, before)


@pytest.fixture(scope="module")
def demo_reference(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, set[str]], Snapshot]:
    config = demo(tmp_path_factory.mktemp("reference") / "demo")
    with project(config) as p:
        before = originals(p)
        assert p.sync(full=True).ok
        assert p.sync(full=True).ok
    return before, demo_state(config, before)


def test_sql_lost_answers_and_dropped_streams_heal(
    tmp_path: Path, demo_reference: tuple[dict[str, set[str]], Snapshot]
) -> None:
    before, expected = demo_reference
    config = demo(tmp_path / "demo")
    plan = FaultPlan(
        (
            lost("read", 2),
            lost("write", 2, committed=ALL),
            Fault(FaultKind.TIMEOUT, "read", at=9, times=2),
            lost("write", 5, committed=1, times=3),  # runs out: a pass ends in error
        )
    )
    with project(config) as p:
        assert originals(p) == before
        retrying, faulty = inject(p, "crm", plan, sleep=lambda _: None)
        assert isinstance(faulty.inner, SqlConnector)
        run = p.sync(full=True)
    # every fault that hit was retried, but the one that ran out of attempts
    assert len(faulty.injected) >= 7 and retrying.retries == len(faulty.injected) - 1
    assert [j.status for j in run.jobs].count(JobStatus.ERROR) == 1
    with project(config) as p:
        rerun = p.sync(full=True)
    assert rerun.ok, [(j.mapping, j.status, j.message) for j in rerun.jobs]
    assert demo_state(config, before) == expected


def test_sql_read_only_database_user(
    tmp_path: Path, demo_reference: tuple[dict[str, set[str]], Snapshot]
) -> None:
    before, expected = demo_reference
    config = demo(tmp_path / "demo")
    crm_file = config.parent / "crm.db"
    rows_before = sqlite3.connect(crm_file).execute("select count(*) from account").fetchone()
    with project(config) as p:
        retrying = p.connector("crm")
        assert isinstance(retrying, RetryingConnector)
        # the same database, opened read-only: what a user without write permission meets
        tables = {r.split(".", 1)[1]: s for r, s in p.config.tables.items() if r[:4] == "crm."}
        retrying.inner = SqlConnector(
            "crm", url=f"sqlite:///file:{crm_file}?mode=ro&uri=true", tables=tables, options={}
        )
        run = p.sync(full=True)
    errors = [j for j in run.jobs if j.status is JobStatus.ERROR]
    assert errors and retrying.retries == 0
    assert "may not write to table" in errors[0].message
    assert "attempt to write a readonly database" in errors[0].message
    rows_after = sqlite3.connect(crm_file).execute("select count(*) from account").fetchone()
    assert rows_after == rows_before
    with project(config) as p:
        assert p.sync(full=True).ok
    assert demo_state(config, before) == expected
